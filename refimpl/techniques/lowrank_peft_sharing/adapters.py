"""The adapter protocol of the low-rank / PEFT / sharing family, and LoRA.

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
have a nonlinearity, so they cannot be merged; they are inserted as modules (see `compacter.py`).

LoRA (Hu et al., 2021, arXiv 2106.09685) is the baseline every technique compares with; it is not one of
the family's papers.  As in its paper and in HF PEFT: ΔW = (α/r)·B A, A ∈ R^{r×in} random
(kaiming-uniform, a = √5), B ∈ R^{out×r} zero, so Δ = 0 at the start.  Two variants PEFT users meet:
rsLoRA's scaling α/√r (`LoRA(..., use_rslora=True)`) and DoRA (`DoRA`), checked against PEFT in
tests/xcheck/test_xcheck_peft.py.

The pretrain → adapt pipeline the techniques' demos share is `transfer.py`.
"""

from __future__ import annotations

import math

import numpy as np

from ...autograd import ops
from ...autograd.tensor import Tensor, no_grad
from ...nn import init
from ...nn.module import Module, Parameter
from ...nn.parametrize import is_parametrized, register_parametrization

__all__ = [
    "WeightAdapter",
    "LoRA",
    "DoRA",
    "attach",
    "adapters_of",
    "freeze_base",
    "count_trainable",
    "trainable_parameters",
    "merge",
    "unmerge",
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
    """ΔW = s B A with A (r, in) kaiming-uniform and B (out, r) zero  (LoRA, Hu et al. 2021, Eq. 3), and
    s = α/r — or s = α/√r with ``use_rslora=True`` (rank-stabilised LoRA, Kalajdzievski 2023, arXiv
    2312.03732, Theorem 3.2: the scaling that keeps learning stable as r grows; PEFT's `use_rslora`)."""

    def __init__(
        self,
        out_features: int,
        in_features: int,
        r: int,
        alpha: float | None = None,
        dtype=np.float32,
        rng=None,
        use_rslora: bool = False,
    ):
        super().__init__()
        if not isinstance(r, (int, np.integer)) or r < 1:
            raise ValueError(f"{type(self).__name__}: rank `r` must be an int ≥ 1, got {r!r}")
        self.out_features, self.in_features, self.r = int(out_features), int(in_features), int(r)
        self.alpha = float(r if alpha is None else alpha)
        self.use_rslora = bool(use_rslora)
        self.scaling = self.alpha / (math.sqrt(self.r) if self.use_rslora else self.r)
        self.A = Parameter(np.empty((self.r, self.in_features), dtype=dtype))
        init.kaiming_uniform_(self.A, a=math.sqrt(5), rng=rng)
        self.B = Parameter(np.zeros((self.out_features, self.r), dtype=dtype))

    @classmethod
    def for_layer(cls, layer, r: int, alpha: float | None = None, rng=None, use_rslora: bool = False):
        out_f, in_f = layer.weight.shape
        return cls(out_f, in_f, r, alpha, dtype=layer.weight.dtype, rng=rng, use_rslora=use_rslora)

    def delta(self, w):
        return ops.matmul(self.B, self.A) * self.scaling  # ΔW = s·B A

    def num_trainable(self) -> int:
        return self.r * (self.in_features + self.out_features)  # r(d_in + d_out)

    def extra_repr(self):
        rs = ", rslora" if self.use_rslora else ""
        return f"out={self.out_features}, in={self.in_features}, r={self.r}, alpha={self.alpha}{rs}"


class DoRA(LoRA):
    """Weight-decomposed LoRA (Liu et al. 2024, arXiv 2402.09353, Eq. 5):

        W' = m ⊙ (θ + s B A) / ‖θ + s B A‖_c,   m ∈ R^out initialised as ‖θ‖_c,

    ‖·‖_c the norm of each output row (PyTorch's (out, in) layout; PEFT's ``linalg.norm(weight, dim=1)``),
    so W' = θ at the start.  ``detach_norm=True`` (the paper's Sec. 4.3 and PEFT's only mode) treats the
    norm as a constant in the backward pass: the forward value is exact, the gradient of A and B skips the
    norm's dependence on them; ``detach_norm=False`` differentiates the true function.  Merging stores W'.
    Trainable: r(d_in + d_out) + d_out (the magnitude)."""

    def __init__(
        self, weight, r: int, alpha: float | None = None, rng=None, use_rslora=False, detach_norm=True
    ):
        theta = np.asarray(getattr(weight, "data", weight))
        if theta.ndim != 2:
            raise ValueError(f"DoRA: `weight` must be a 2-d (out, in) matrix, got shape {theta.shape}")
        super().__init__(*theta.shape, r, alpha, dtype=theta.dtype, rng=rng, use_rslora=use_rslora)
        self.detach_norm = bool(detach_norm)
        self.magnitude = Parameter(np.linalg.norm(theta, axis=1).astype(theta.dtype))

    @classmethod
    def for_layer(
        cls, layer, r: int, alpha: float | None = None, rng=None, use_rslora=False, detach_norm=True
    ):
        return cls(layer.weight.data, r, alpha, rng=rng, use_rslora=use_rslora, detach_norm=detach_norm)

    def dora_weight(self, w):
        v = w + ops.matmul(self.B, self.A) * self.scaling  # V + ΔV
        if self.detach_norm:
            norm = Tensor(np.linalg.norm(v.data, axis=1, keepdims=True))  # ‖V + ΔV‖_c as a constant
        else:
            norm = ops.sqrt(ops.sum(v * v, 1, True))
        return v * (ops.reshape(self.magnitude, (-1, 1)) / norm)  # m ⊙ (V + ΔV)/‖V + ΔV‖_c   (Eq. 5)

    def forward(self, w):
        return w if self.merged else self.dora_weight(w)

    def delta(self, w):
        return self.dora_weight(w) - w

    def num_trainable(self) -> int:
        return self.r * (self.in_features + self.out_features) + self.out_features


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
