"""Shared base of the low-rank / PEFT / sharing family: the adapter protocol, LoRA, and a pretrain → adapt
pipeline on the digits that reports accuracy on the old and the new task.

The adapter protocol
--------------------
A *weight adapter* is a parametrization (`refimpl.nn.parametrize`) of a layer's weight,

    W = θ + Δ(θ; φ)          θ frozen (requires_grad False), φ the adapter's own parameters,

so it stacks with masks, quantizers or companders registered on the same weight by other families.

    adapters = attach(model, lambda name, layer: LoRA.for_layer(layer, r=4))   # chosen Linear layers
    freeze_base(model, keep=head.parameters())     # only adapter parameters (and `keep`) train
    count_trainable(model)                         # = Σ over adapters of adapter.num_trainable() (+ keep)
    merge(model)   # θ ← θ + Δ(θ), adapter becomes the identity: same outputs, no extra cost at inference
    unmerge(model) # θ restored bit-for-bit (a copy is kept while merged)

`WeightAdapter` subclasses implement `delta(w)` and `num_trainable()` (the method's closed-form count).
The family contract (tests/techniques/lowrank_peft_sharing/test_lowrank_peft_sharing_contract.py) checks
every adapter a technique lists in its `ADAPTER_FACTORIES`: a zero-initialised adapter leaves the output
unchanged, merged = unmerged, only adapter parameters get gradients, frozen weights are bit-identical after
optimizer steps, and the trainable count equals the method's formula.

Adapters that act on activations (bottleneck adapters, Compacter) are not weight parametrizations — they
have a nonlinearity, so they cannot be merged; they are inserted as modules (`insert_after`).

LoRA (Hu et al., 2021, arXiv 2106.09685) is the baseline every technique compares with; it is not one of
the family's papers.  As in its paper and in HF PEFT: ΔW = (α/r)·B A, A ∈ R^{r×in} random
(kaiming-uniform, a = √5), B ∈ R^{out×r} zero, so Δ = 0 at the start.

The pretrain → adapt pipeline
-----------------------------
`digit_tasks` builds task A (digits 0–4) and task B (digits 5–9, optionally with the image mirrored), both
labelled 0..4.  `pretrain` trains an MLP backbone with head A on task A.  `adapt` copies the backbone, lets
a technique prepare it (attach adapters, freeze, …), trains it with a fresh head B on task B, and reports
accuracy on B (new task) and on A through the untouched head A (old task: forgetting is visible).
"""

from __future__ import annotations

import copy
import dataclasses
import math

import numpy as np

from ...autograd import ops
from ...autograd.tensor import Tensor, no_grad
from ...nn import init
from ...nn.module import Module, Parameter
from ...nn.parametrize import is_parametrized, register_parametrization
from ...threads import blas_single_thread  # noqa: F401  (re-exported for the family's demos)

__all__ = [
    "WeightAdapter",
    "LoRA",
    "attach",
    "adapters_of",
    "freeze_base",
    "count_trainable",
    "trainable_parameters",
    "merge",
    "unmerge",
    "insert_after",
    "BottleneckAdapter",
    "blas_single_thread",
    "TaskPair",
    "digit_tasks",
    "make_backbone",
    "Pretrained",
    "pretrain",
    "adapt",
    "train_classifier",
]


# --- the adapter protocol ----------------------------------------------------------------------------
class WeightAdapter(Module):
    """A parametrization W = θ + Δ(θ) (or θ itself once merged).  Subclasses define `delta` and
    `num_trainable`; `forward` is the transform that `register_parametrization` calls."""

    def __init__(self):
        super().__init__()
        object.__setattr__(self, "merged", False)
        object.__setattr__(self, "_saved", None)

    def delta(self, w):  # pragma: no cover - abstract
        raise NotImplementedError

    def num_trainable(self) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, w):
        return w if self.merged else w + self.delta(w)


class LoRA(WeightAdapter):
    """ΔW = (α/r) B A with A (r, in) kaiming-uniform and B (out, r) zero  (LoRA, Hu et al. 2021, Eq. 3)."""

    def __init__(
        self,
        out_features: int,
        in_features: int,
        r: int,
        alpha: float | None = None,
        dtype=np.float32,
        rng=None,
    ):
        super().__init__()
        if not isinstance(r, (int, np.integer)) or r < 1:
            raise ValueError(f"LoRA: rank `r` must be an int ≥ 1, got {r!r}")
        self.out_features, self.in_features, self.r = int(out_features), int(in_features), int(r)
        self.alpha = float(r if alpha is None else alpha)
        self.scaling = self.alpha / self.r
        self.A = Parameter(np.empty((self.r, self.in_features), dtype=dtype))
        init.kaiming_uniform_(self.A, a=math.sqrt(5), rng=rng)
        self.B = Parameter(np.zeros((self.out_features, self.r), dtype=dtype))

    @classmethod
    def for_layer(cls, layer, r: int, alpha: float | None = None, rng=None):
        out_f, in_f = layer.weight.shape
        return cls(out_f, in_f, r, alpha, dtype=layer.weight.dtype, rng=rng)

    def delta(self, w):
        return ops.matmul(self.B, self.A) * self.scaling  # ΔW = (α/r)·B A

    def num_trainable(self) -> int:
        return self.r * (self.in_features + self.out_features)  # r(d_in + d_out)

    def extra_repr(self):
        return f"out={self.out_features}, in={self.in_features}, r={self.r}, alpha={self.alpha}"


def _linear_layers(model):
    from ...nn import Linear

    return [(name, m) for name, m in model.named_modules() if isinstance(m, Linear)]


def attach(model: Module, make, targets=None, name: str = "weight") -> dict:
    """Register `make(module_name, layer)` (a WeightAdapter) on `layer.<name>` of the chosen layers.

    `targets`: None → every Linear; a list of module names (as in `model.named_modules()`); or a
    predicate `f(module_name, layer) -> bool`.  Returns {module_name: adapter}.
    """
    layers = dict(model.named_modules())
    if targets is None:
        chosen = [n for n, _ in _linear_layers(model)]
    elif callable(targets):
        chosen = [n for n, m in model.named_modules() if n and targets(n, m)]
    else:
        chosen = list(targets)
        missing = [n for n in chosen if n not in layers]
        if missing:
            raise ValueError(
                f"attach: `targets` names {missing} are not modules of the model "
                f"(it has {[n for n in layers if n]})"
            )
    if not chosen:
        raise ValueError("attach: `targets` selected no layer")
    out = {}
    for n in chosen:
        adapter = make(n, layers[n])
        if not isinstance(adapter, WeightAdapter):
            raise TypeError(
                f"attach: `make` must return a WeightAdapter, got {type(adapter).__name__} for {n!r}"
            )
        register_parametrization(layers[n], name, adapter)
        out[n] = adapter
    return out


def adapters_of(model: Module, name: str = "weight") -> list:
    """[(layer, position, adapter)] for every WeightAdapter registered on `name` in the model."""
    found = []
    for _, m in model.named_modules():
        if is_parametrized(m, name):
            plist = m.parametrizations._modules[name]
            for i in range(len(plist)):
                if isinstance(plist[i], WeightAdapter):
                    found.append((m, i, plist[i]))
    return found


def freeze_base(model: Module, keep=()) -> list:
    """requires_grad False on every parameter except the adapters' own ones and those in `keep`.
    Returns the trainable parameters."""
    keep_ids = {id(p) for p in keep}
    adapter_ids = {id(p) for _, _, a in adapters_of(model) for p in a.parameters()}
    trainable = []
    for p in model.parameters():
        p.requires_grad = id(p) in adapter_ids or id(p) in keep_ids
        if p.requires_grad:
            trainable.append(p)
    for p in keep:  # `keep` may hold parameters outside `model` (a new head)
        p.requires_grad = True
        if all(p is not q for q in trainable):
            trainable.append(p)
    return trainable


def trainable_parameters(*modules) -> list:
    seen, out = set(), []
    for m in modules:
        for p in m.parameters():
            if p.requires_grad and id(p) not in seen:
                seen.add(id(p))
                out.append(p)
    return out


def count_trainable(*modules) -> int:
    """Number of trainable scalars (shared parameters counted once)."""
    return int(sum(p.data.size for p in trainable_parameters(*modules)))


def merge(model: Module, name: str = "weight") -> int:
    """Fold every (unmerged) adapter into θ: θ ← θ + Δ(θ); the adapter then acts as the identity.
    Only an adapter applied directly to θ (first in its parametrization list) can be merged."""
    n = 0
    for layer, pos, adapter in adapters_of(model, name):
        if adapter.merged:
            continue
        if pos != 0:
            raise ValueError(
                f"merge: the adapter on {type(layer).__name__}.{name} is transform #{pos}; only the "
                "first transform (acting on θ directly) can be folded into θ"
            )
        plist = layer.parametrizations._modules[name]
        theta = plist.original
        with no_grad():
            new = adapter(Tensor(theta.data)).data
        object.__setattr__(adapter, "_saved", theta.data.copy())
        theta.data[...] = new
        object.__setattr__(adapter, "merged", True)
        n += 1
    return n


def unmerge(model: Module, name: str = "weight") -> int:
    """Undo `merge`: θ gets its saved pre-merge value back exactly."""
    n = 0
    for layer, _, adapter in adapters_of(model, name):
        if not adapter.merged:
            continue
        layer.parametrizations._modules[name].original.data[...] = adapter._saved
        object.__setattr__(adapter, "_saved", None)
        object.__setattr__(adapter, "merged", False)
        n += 1
    return n


# --- activation-space adapters ------------------------------------------------------------------------
class BottleneckAdapter(Module):
    """Houlsby/Pfeiffer adapter h ← h + U σ(D h): D (k×d), U (d×k), biases; U zero ⇒ identity at start.
    Trainable parameters: 2kd + k + d."""

    def __init__(self, d: int, k: int, zero_init: bool = True, dtype=np.float32, rng=None):
        super().__init__()
        from ...nn import Linear

        if k < 1 or d < 1:
            raise ValueError(f"BottleneckAdapter: need d ≥ 1 and bottleneck k ≥ 1, got d={d}, k={k}")
        self.d, self.k = d, k
        self.down = Linear(d, k, dtype=dtype, rng=rng)
        self.up = Linear(k, d, dtype=dtype, rng=rng)
        if zero_init:
            self.up.weight.data[...] = 0
            self.up.bias.data[...] = 0

    def forward(self, h):
        from ...nn import functional as F

        return h + self.up(F.gelu(self.down(h)))

    def num_trainable(self) -> int:
        return 2 * self.k * self.d + self.k + self.d


def insert_after(seq, positions, make):
    """A new Sequential with `make(i, module)` inserted after seq[i] for i in `positions` (modules shared)."""
    from ...nn import Sequential

    positions = set(positions)
    bad = [i for i in positions if not 0 <= i < len(seq)]
    if bad:
        raise ValueError(f"insert_after: positions {bad} outside 0..{len(seq) - 1}")
    mods = []
    for i, m in enumerate(seq):
        mods.append(m)
        if i in positions:
            mods.append(make(i, m))
    return Sequential(*mods)


# --- the pretrain → adapt pipeline --------------------------------------------------------------------
@dataclasses.dataclass
class TaskPair:
    """Old task A and new task B, each (x_train, y_train, x_test, y_test), labels 0..4."""

    a: object
    b: object
    b_name: str


def _mirror(x):
    return x.reshape(-1, 8, 8)[:, :, ::-1].reshape(len(x), 64)


def digit_tasks(seed: int = 0, new_task: str = "5-9 mirrored") -> TaskPair:
    """Task A = digits 0–4; task B = digits 5–9 ("5-9") or digits 5–9 mirrored left–right ("5-9 mirrored")."""
    from ...data import digits_subset, load_digits

    split = load_digits(seed=seed)
    a = digits_subset(split, range(5))
    b = digits_subset(split, range(5, 10))
    if new_task == "5-9 mirrored":
        b = type(b)(
            np.ascontiguousarray(_mirror(b.x_train)),
            b.y_train,
            np.ascontiguousarray(_mirror(b.x_test)),
            b.y_test,
        )
    elif new_task != "5-9":
        raise ValueError(f"digit_tasks: `new_task` must be '5-9' or '5-9 mirrored', got {new_task!r}")
    return TaskPair(a, b, new_task)


def make_backbone(sizes=(64, 128, 128), seed: int = 0):
    """Linear–ReLU stack (the shared trunk); heads are separate Linear layers."""
    from ...nn import Linear, ReLU, Sequential

    rng = np.random.default_rng(seed)
    mods = []
    for i in range(len(sizes) - 1):
        mods += [Linear(sizes[i], sizes[i + 1], rng=rng), ReLU()]
    return Sequential(*mods)


def train_classifier(
    model,
    params,
    x,
    y,
    *,
    epochs: int,
    lr: float,
    batch_size: int = 32,
    seed: int = 0,
    callbacks=(),
    weight_decay: float = 0.0,
):
    """Adam on `params` with cross-entropy (refimpl.train.fit)."""
    from ...nn import functional as F
    from ...optim import Adam
    from ...train import fit

    opt = Adam(params, lr=lr, weight_decay=weight_decay)
    return fit(
        model,
        F.cross_entropy,
        (x, y),
        opt,
        epochs=epochs,
        batch_size=batch_size,
        seed=seed,
        progress=False,
        callbacks=callbacks,
    )


@dataclasses.dataclass
class Pretrained:
    backbone: object
    head_a: object
    tasks: TaskPair
    acc_a: float
    seed: int


def pretrain(
    seed: int = 0, *, tasks: TaskPair | None = None, sizes=(64, 128, 128), epochs: int = 30, lr: float = 1e-3
) -> Pretrained:
    """Backbone + head A trained on task A (Adam)."""
    from ...nn import Linear, Sequential
    from ...train import evaluate

    tasks = tasks if tasks is not None else digit_tasks(seed)
    backbone = make_backbone(sizes, seed)
    head_a = Linear(sizes[-1], 5, rng=np.random.default_rng(seed + 1000))
    model = Sequential(backbone, head_a)
    train_classifier(
        model, list(model.parameters()), tasks.a.x_train, tasks.a.y_train, epochs=epochs, lr=lr, seed=seed
    )
    acc_a = evaluate(model, tasks.a.x_test, tasks.a.y_test)["accuracy"]
    return Pretrained(backbone, head_a, tasks, acc_a, seed)


def adapt(
    base: Pretrained,
    prepare,
    *,
    epochs: int = 20,
    lr: float = 3e-3,
    batch_size: int = 32,
    callbacks=(),
    train_head: bool = True,
) -> dict:
    """Copy the backbone, `prepare(backbone) -> model_trunk` (attach adapters / freeze / insert modules; may
    return a new trunk or None for the same one), train it with a fresh head B on task B.

    Returns {"acc_new", "acc_old", "trainable", "trainable_trunk", "trunk", "head_b"}: acc_old is task A
    through the frozen head A on the adapted trunk; trainable counts trunk + head B parameters that train.
    """
    from ...nn import Linear, Sequential
    from ...train import evaluate

    backbone = copy.deepcopy(base.backbone)
    trunk = prepare(backbone)
    trunk = backbone if trunk is None else trunk
    width = base.head_a.weight.shape[1]
    head_b = Linear(width, 5, rng=np.random.default_rng(base.seed + 2000))
    head_b.requires_grad_(train_head)
    model_b = Sequential(trunk, head_b)
    params = trainable_parameters(trunk, head_b)
    t = base.tasks
    hist = train_classifier(
        model_b,
        params,
        t.b.x_train,
        t.b.y_train,
        epochs=epochs,
        lr=lr,
        batch_size=batch_size,
        seed=base.seed,
        callbacks=callbacks,
    )
    head_a = copy.deepcopy(base.head_a)
    acc_new = evaluate(model_b, t.b.x_test, t.b.y_test)["accuracy"]
    acc_old = evaluate(Sequential(trunk, head_a), t.a.x_test, t.a.y_test)["accuracy"]
    return {
        "acc_new": acc_new,
        "acc_old": acc_old,
        "trainable": count_trainable(trunk, head_b),
        "trainable_trunk": count_trainable(trunk),
        "trunk": trunk,
        "head_b": head_b,
        "history": hist,
    }
