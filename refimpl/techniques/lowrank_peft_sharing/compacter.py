r"""Compacter: adapters whose projections are sums of Kronecker products with shared "slow" matrices and
rank-one "fast" matrices.

Paper: *Compacter: Efficient Low-Rank Hypercomplex Adapter Layers* — Rabeeh Karimi Mahabadi, James
Henderson, Sebastian Ruder, NeurIPS 2021.
arXiv: 2106.04647
Official code: github.com/rabeehk/compacter (`seq2seq/hypercomplex/layers.py`, `kronecker.py`,
`seq2seq/adapters/adapter_modeling.py`, `adapter_controller.py`, `configs/compacter.json`).

The idea
--------
An adapter (Houlsby et al. 2019) is a small bottleneck inserted into a frozen network,

$$A^l(x) = U^l\,\mathrm{GeLU}(D^l x) + x, \qquad D^l\in\mathbb R^{k\times d},\ U^l\in\mathbb R^{d\times k}
\quad (2k d \text{ weights}).$$

A parameterized hypercomplex multiplication (PHM) layer $y = Wx + b$ builds its weight as a sum of $n$
Kronecker products

$$W = \sum_{i=1}^{n} A_i \otimes B_i,\qquad A_i\in\mathbb R^{n\times n},\
  B_i\in\mathbb R^{\frac{k}{n}\times\frac{d}{n}},$$

which needs $n^3 + kd/n$ numbers instead of $kd$ (the "1/n" of PHM layers, Zhang et al. 2021).  Compacter
replaces $D^l, U^l$ by PHM layers in which

* the $A_i$ ("slow weights", the learned multiplication rule) are **shared by every adapter layer**, and
* each $B_i^l = s_i^l\, t_i^{l\top}$ is **rank one** ("fast weights", per layer) — the LPHM layer,

$$W^l = \sum_{i=1}^{n} A_i \otimes \big(s_i^l\, t_i^{l\top}\big),\qquad
  s_i^l\in\mathbb R^{k/n},\ t_i^l\in\mathbb R^{d/n},$$

so one projection costs $k+d$ numbers, an adapter $2(k+d)$ plus its biases $k+d$, and the whole model
$L\cdot(3(k+d)) + n^3$ — versus $L\cdot(2kd + k + d)$ for plain adapters.

Equation numbers: the paper's background defines the adapter (its Eq. 2) and the PHM layer
(Eqs. 3–4: $y=Wx+b$, $W=\sum_i A_i\otimes B_i$); Compacter is $A^l(x)=\mathrm{LPHM}^{U^l}(\mathrm{GeLU}(
\mathrm{LPHM}^{D^l}(x)))+x$ with $B_i=s_it_i^\top$ (Eqs. 5–6).  These numbers were read from memory of the
paper and could not be re-checked against its text here; every formula was checked against the official code.

Layout: refimpl's `Linear` stores W as (out, in) and computes x Wᵀ; the official code stores H as (in, out)
and computes x H.  Our W is the transpose of theirs: W = Σ A_iᵀ ⊗ B_iᵀ in their symbols — the same family.

What is simplified / deviations
-------------------------------
* T5 on GLUE becomes an MLP on the digits (pretrain on 0–4, adapt to 5–9 with a fresh head); adapters sit
  after each hidden activation (the paper: after the feed-forward block of each transformer layer).
* Initialisation follows the official config (`compacter.json`): fast weights glorot-uniform with gain √2,
  the shared rule $A$ normal(0, 0.01), biases zero — except that by default the up-projection's $t$ are zero
  (`zero_init=True`) so that the adapter starts as the exact identity (the family contract).  The official
  init starts near, not at, the identity.
* `PHMDelta` is an extension, not in the paper: the same Kronecker-structured matrix used as a
  *weight delta* W = θ + Σ A_i ⊗ (s_i t_iᵀ), so it is a parametrization that can be merged and stacked.

Verified: official-code — Kronecker product (`kronecker_product_einsum_batched`), PHM weight
Σ_i kron(phm_rule[i], W[i]), factorized W = W_left @ W_right with rank 1, shared phm_rule across adapter
layers, adapter residual `outputs + inputs`, inits, reduction factor and n = 4 from `compacter.json`.

Notebook: notebooks/lowrank-peft-sharing/compacter.ipynb
"""

from __future__ import annotations

import math

import numpy as np

from ...autograd import ops
from ...autograd.tensor import Tensor
from ...catalog import ReferenceCase
from ...nn import functional as F
from ...nn.module import Module, Parameter
from ...threads import blas_single_thread
from .adapters import LoRA, WeightAdapter, attach, freeze_base
from .transfer import adapt, pretrain

CATALOG_ENTRY = {
    "slug": "compacter",
    "title": "Compacter: Efficient Low-Rank Hypercomplex Adapter Layers",
    "authors": "Rabeeh Karimi Mahabadi, James Henderson, Sebastian Ruder",
    "year": 2021,
    "arxiv": "2106.04647",
    "family": "lowrank-peft-sharing",
    "notebook": "notebooks/lowrank-peft-sharing/compacter.ipynb",
    "verified": "official-code",
    "verification_note": (
        "PHM weight Σ_i kron(A_i, B_i), rank-1 factorised B_i = s_i t_iᵀ, A shared by all adapter layers, "
        "adapter residual, inits (glorot-uniform gain √2, rule normal std 0.01, zero biases), n = 4 and "
        "reduction factor checked against rabeehk/compacter (hypercomplex/layers.py, kronecker.py, "
        "adapters/adapter_modeling.py, adapter_controller.py, configs/compacter.json). Equation numbers from "
        "memory of the paper (text not re-checked). Deviation: up-projection t = 0 so the adapter starts at "
        "the identity."
    ),
    "summary": (
        "Adapters whose down/up projections are PHM layers W = Σ_i A_i ⊗ B_i: the n×n 'slow' matrices A_i "
        "are "
        "shared across all adapter layers and each B_i = s_i t_iᵀ is a per-layer rank-one 'fast' matrix, so "
        "an adapter costs O(k + d) parameters instead of O(kd)."
    ),
    "equations": [
        "A^l(x) = U^l GeLU(D^l x) + x                                    (adapter, Eq. 2)",
        "y = W x + b,  W = Σ_{i=1}^n A_i ⊗ B_i,  A_i ∈ R^{n×n}            (PHM, Eqs. 3–4)",
        "B_i^l = s_i^l t_i^{lᵀ},  A_i shared by all layers                 (Compacter/LPHM, Eqs. 5–6)",
        "#params: plain adapter 2kd + k + d; PHM adapter 2kd/n + k + d (+n³ shared); Compacter 2(k + d) + "
        "k + d (+n³ shared)",
    ],
}


# --- the pieces, smallest first ---------------------------------------------------------------------
def kron(a, b):
    """Kronecker product of the last two axes (leading axes broadcast):
    (..., m, n) ⊗ (..., p, q) → (..., mp, nq).

    (A ⊗ B)[i·p + k, j·q + l] = A[i, j] · B[k, l]   (the paper's §2 definition).
    """
    a = a if isinstance(a, Tensor) else Tensor(np.asarray(a))
    b = b if isinstance(b, Tensor) else Tensor(np.asarray(b))
    if a.ndim < 2 or b.ndim < 2:
        raise ValueError(
            f"kron: both operands need ≥ 2 dimensions, got shapes {tuple(a.shape)} and {tuple(b.shape)}"
        )
    m, n = a.shape[-2:]
    p, q = b.shape[-2:]
    a4 = ops.reshape(a, tuple(a.shape[:-2]) + (m, 1, n, 1))
    b4 = ops.reshape(b, tuple(b.shape[:-2]) + (1, p, 1, q))
    prod = a4 * b4
    return ops.reshape(prod, tuple(prod.shape[:-4]) + (m * p, n * q))


def phm_weight(A, B):
    """W = Σ_i A_i ⊗ B_i  with A (n, n, n) and B (n, out/n, in/n)  (Eq. 4)."""
    if A.shape[0] != B.shape[0] or A.ndim != 3 or B.ndim != 3:
        raise ValueError(
            f"phm_weight: need A (n, n, n) and B (n, ·, ·) with the same n, got {tuple(A.shape)}, "
            f"{tuple(B.shape)}"
        )
    return kron(A, B).sum(axis=0)  # Eq. 4


def _glorot_slices(shape, rng, dtype):
    """Each 2-D slice glorot-uniform with gain √2 (official `glorot_uniform`)."""
    out = np.empty(shape, dtype=dtype)
    p, q = shape[-2:]
    bound = math.sqrt(2.0) * math.sqrt(6.0 / (p + q))
    for i in range(shape[0]):
        out[i] = rng.uniform(-bound, bound, size=(p, q))
    return out


class PHMRule(Module):
    """The n matrices A_i ∈ R^{n×n} (the learned 'multiplication rule'); one instance is shared by all
    Compacter layers.  Official init: normal(0, 0.01)."""

    def __init__(self, n: int, std: float = 0.01, dtype=np.float32, rng=None):
        super().__init__()
        if not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"PHMRule: `n` must be an int ≥ 1, got {n!r}")
        self.n = int(n)
        rng = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
        self.A = Parameter(rng.normal(0.0, std, size=(n, n, n)).astype(dtype))

    def forward(self):  # pragma: no cover - a container
        return self.A


class PHMLinear(Module):
    """y = x Wᵀ + b with W = Σ_i A_i ⊗ B_i  (Eqs. 3–4); `rank=None` → full B_i (PHM layer), `rank=r` →
    B_i = s_i t_iᵀ with s_i (out/n, r), t_i (r, in/n) (LPHM; Compacter uses r = 1).  `rule` (a PHMRule) is
    shared when given; otherwise the layer owns one."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        n: int,
        rank: int | None = 1,
        rule: PHMRule | None = None,
        bias: bool = True,
        zero_init: bool = False,
        dtype=np.float32,
        rng=None,
    ):
        super().__init__()
        if in_features % n or out_features % n:
            raise ValueError(
                f"PHMLinear: in_features={in_features} and out_features={out_features} must be divisible "
                f"by n={n}"
            )
        if rank is not None and (not isinstance(rank, (int, np.integer)) or rank < 1):
            raise ValueError(f"PHMLinear: `rank` must be None or an int ≥ 1, got {rank!r}")
        rng = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
        self.in_features, self.out_features, self.n, self.rank = in_features, out_features, n, rank
        if rule is None:
            rule = PHMRule(n, dtype=dtype, rng=rng)
        elif rule.n != n:
            raise ValueError(f"PHMLinear: shared `rule` has n={rule.n}, layer expects n={n}")
        self.rule = rule
        po, pi = out_features // n, in_features // n
        if rank is None:
            self.B = Parameter(_glorot_slices((n, po, pi), rng, dtype))
            if zero_init:
                self.B.data[...] = 0
        else:
            self.s = Parameter(_glorot_slices((n, po, rank), rng, dtype))
            self.t = Parameter(_glorot_slices((n, rank, pi), rng, dtype))
            if zero_init:
                self.t.data[...] = 0
        self.bias = Parameter(np.zeros(out_features, dtype=dtype)) if bias else None

    def fast_weights(self):
        """B_i (n, out/n, in/n): the full matrices or s_i t_iᵀ  (Eq. 6)."""
        return self.B if self.rank is None else ops.matmul(self.s, self.t)  # B_i = s_i t_iᵀ (Eq. 6)

    @property
    def weight(self):
        return phm_weight(self.rule.A, self.fast_weights())

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)  # y = W x + b (Eq. 3)

    def num_trainable(self, include_rule: bool = False) -> int:
        n, po, pi = self.n, self.out_features // self.n, self.in_features // self.n
        fast = n * po * pi if self.rank is None else self.rank * (self.out_features + self.in_features)
        return fast + (self.out_features if self.bias is not None else 0) + (n**3 if include_rule else 0)

    def extra_repr(self):
        return f"in={self.in_features}, out={self.out_features}, n={self.n}, rank={self.rank}"


# --- activation-space adapters: the bottleneck adapter (the baseline) and its insertion ---------------
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


class CompacterAdapter(Module):
    """h ← h + U(GeLU(D h)) with D, U PHM layers sharing `rule` (Compacter: rank=1; PHM-Adapter:
    rank=None)."""

    def __init__(
        self,
        d: int,
        k: int,
        rule: PHMRule,
        rank: int | None = 1,
        zero_init: bool = True,
        dtype=np.float32,
        rng=None,
    ):
        super().__init__()
        rng = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
        self.d, self.k = d, k
        self.down = PHMLinear(d, k, rule.n, rank, rule, dtype=dtype, rng=rng)
        self.up = PHMLinear(k, d, rule.n, rank, rule, zero_init=zero_init, dtype=dtype, rng=rng)

    def forward(self, h):
        return h + self.up(F.gelu(self.down(h)))  # A^l(x) = LPHM^U(GeLU(LPHM^D(x))) + x (Eq. 5)

    def num_trainable(self) -> int:
        """Without the shared rule: 2r(k + d) + k + d (Compacter) or 2kd/n + k + d (PHM adapter)."""
        return self.down.num_trainable() + self.up.num_trainable()


def adapter_param_count(kind: str, d: int, k: int, n: int = 4, layers: int = 1, rank: int = 1) -> int:
    """Closed-form trainable count of `layers` adapters of width d, bottleneck k (shared rule counted
    once)."""
    if kind == "adapter":
        return layers * (2 * k * d + k + d)
    if kind == "phm":
        return layers * (2 * k * d // n + k + d) + n**3
    if kind == "compacter":
        return layers * (2 * rank * (k + d) + k + d) + n**3
    raise ValueError(f"adapter_param_count: `kind` must be 'adapter', 'phm' or 'compacter', got {kind!r}")


class PHMDelta(WeightAdapter):
    """Extension (not in the paper): W = θ + Σ_i A_i ⊗ (s_i t_iᵀ) as a mergeable weight parametrization.
    t = 0 at the start, so Δ = 0.  Trainable: r(out + in) (+ n³ if it owns its rule)."""

    def __init__(
        self,
        out_features: int,
        in_features: int,
        n: int = 4,
        rank: int = 1,
        rule: PHMRule | None = None,
        dtype=np.float32,
        rng=None,
    ):
        super().__init__()
        self.owns_rule = rule is None
        self.phm = PHMLinear(
            in_features, out_features, n, rank, rule, bias=False, zero_init=True, dtype=dtype, rng=rng
        )

    @classmethod
    def for_layer(cls, layer, n: int = 4, rank: int = 1, rule=None, rng=None):
        out_f, in_f = layer.weight.shape
        return cls(out_f, in_f, n, rank, rule, dtype=layer.weight.dtype, rng=rng)

    def delta(self, w):
        return self.phm.weight

    def num_trainable(self) -> int:
        return self.phm.num_trainable(include_rule=self.owns_rule)


ADAPTER_FACTORIES = {
    # name → (layer, rng) → zero-initialised WeightAdapter; used by the family contract tests
    "phm-delta-n2-r1": lambda layer, rng: PHMDelta.for_layer(layer, n=2, rank=1, rng=rng),
    "phm-delta-n4-r2": lambda layer, rng: PHMDelta.for_layer(layer, n=4, rank=2, rng=rng),
}
ACTIVATION_ADAPTER_FACTORIES = {
    # name → (d, rng) → zero-initialised activation adapter (no merge)
    "compacter-n4": lambda d, rng: CompacterAdapter(d, d // 2, PHMRule(4, rng=rng), rank=1, rng=rng),
    "phm-adapter-n2": lambda d, rng: CompacterAdapter(d, d // 2, PHMRule(2, rng=rng), rank=None, rng=rng),
}


# --- the toy experiment ------------------------------------------------------------------------------------
def _adapter_method(kind: str, k: int, n: int, seed: int):
    """prepare(backbone) inserting an adapter after each hidden activation (shared rule for PHM kinds)."""

    def prepare(backbone):
        rng = np.random.default_rng(seed + 7)
        rule = PHMRule(n, rng=rng) if kind != "adapter" else None
        d = backbone[0].weight.shape[0]
        acts = [i for i, m in enumerate(backbone) if type(m).__name__ == "ReLU"]

        def make(i, m):
            if kind == "adapter":
                return BottleneckAdapter(d, k, rng=rng)
            return CompacterAdapter(d, k, rule, rank=1 if kind == "compacter" else None, rng=rng)

        trunk = insert_after(backbone, acts, make)
        backbone.requires_grad_(False)
        old = {id(m) for m in backbone}
        for m in trunk:
            if id(m) not in old:
                m.requires_grad_(True)
        return trunk

    return prepare


def _lora_method(r: int, seed: int):
    def prepare(backbone):
        rng = np.random.default_rng(seed + 7)
        attach(backbone, lambda name, layer: LoRA.for_layer(layer, r, rng=rng))
        freeze_base(backbone)

    return prepare


def demo(seed: int = 0, quick: bool = False, progress: bool = True) -> dict:
    """Pretrain an MLP (64-128-128) on digits 0–4, adapt to 5–9 with a fresh head: accuracy vs trainable
    parameters for head-only, full fine-tuning, LoRA, plain adapters, PHM adapters and Compacter (n = 4)."""
    with blas_single_thread():
        return _demo(seed, quick, progress)


def _demo(seed, quick, progress):
    from ...train import progress_bar

    epochs_pre, epochs = (12, 20) if quick else (30, 25)
    base = pretrain(seed, epochs=epochs_pre)
    k, n = 16, 4  # bottleneck k (d = 128, the hidden width), PHM n
    methods = [
        ("head only", lambda bb: bb.requires_grad_(False)),
        ("full fine-tuning", lambda bb: None),
        ("LoRA r=1", _lora_method(1, seed)),
        ("LoRA r=4", _lora_method(4, seed)),
        ("adapter k=16", _adapter_method("adapter", k, n, seed)),
        ("PHM adapter n=4", _adapter_method("phm", k, n, seed)),
        ("Compacter n=4", _adapter_method("compacter", k, n, seed)),
    ]
    rows = []
    for name, prep in progress_bar(methods, total=len(methods), desc="methods", enabled=progress):
        r = adapt(base, prep, epochs=epochs, lr=3e-3)
        rows.append(
            {
                "method": name,
                "trainable_trunk": r["trainable_trunk"],
                "acc_new": r["acc_new"],
                "acc_old": r["acc_old"],
            }
        )
    acc = {r["method"]: r["acc_new"] for r in rows}
    cnt = {r["method"]: r["trainable_trunk"] for r in rows}
    metrics = {
        "acc_pretrained_old": base.acc_a,
        "acc_head_only": acc["head only"],
        "acc_full": acc["full fine-tuning"],
        "acc_lora_r1": acc["LoRA r=1"],
        "acc_lora_r4": acc["LoRA r=4"],
        "acc_adapter": acc["adapter k=16"],
        "acc_phm_adapter": acc["PHM adapter n=4"],
        "acc_compacter": acc["Compacter n=4"],
        "params_adapter": float(cnt["adapter k=16"]),
        "params_phm_adapter": float(cnt["PHM adapter n=4"]),
        "params_compacter": float(cnt["Compacter n=4"]),
        "params_lora_r1": float(cnt["LoRA r=1"]),
    }
    ratio = cnt["adapter k=16"] / cnt["Compacter n=4"]
    gap = acc["adapter k=16"] - acc["Compacter n=4"]
    metrics["param_ratio_adapter_over_compacter"] = ratio
    metrics["acc_gap_adapter_minus_compacter"] = gap
    holds = bool(gap <= 0.03 and ratio >= 5 and acc["Compacter n=4"] > acc["head only"] + 0.05)
    return {
        "metrics": metrics,
        "table": rows,
        "params": np.array([r["trainable_trunk"] for r in rows], dtype=float),
        "acc_new": np.array([r["acc_new"] for r in rows]),
        "claim": {
            "statement": "Compacter reaches the accuracy of plain adapters (within 3 points) with ≥ 5× fewer "
            "trainable parameters, and clearly beats training the head alone.",
            "holds": holds,
        },
    }


def plot(result) -> dict:
    from ...plotting import pyplot

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.8))
    for row in result["table"]:
        x = max(row["trainable_trunk"], 1)
        ax.scatter(x, row["acc_new"], s=40)
        ax.annotate(row["method"], (x, row["acc_new"]), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel("trainable trunk parameters (head excluded; 'head only' drawn at 1)")
    ax.set_ylabel("accuracy on the new task (digits 5–9)")
    ax.set_title("accuracy vs trainable parameters")
    fig.tight_layout()
    return {"compacter": fig}


def reference_cases() -> list:
    def kron_case(A, B):
        return {"K": kron(Tensor(A), Tensor(B)).data}

    def lphm_case(A, s, t):
        n = A.shape[0]
        layer = PHMLinear(t.shape[-1] * n, s.shape[1] * n, n, rank=1, bias=False, dtype=np.float64)
        layer.rule.A.data[...] = A
        layer.s.data[...] = s
        layer.t.data[...] = t
        return {"W": layer.weight.data}

    def counts(d, k, n, layers):
        return {
            "adapter": adapter_param_count("adapter", d, k, n, layers),
            "phm": adapter_param_count("phm", d, k, n, layers),
            "compacter": adapter_param_count("compacter", d, k, n, layers),
        }

    A = np.diag([1.0, 2.0])
    B = np.array([[1.0, -1.0], [1.0, -1.0]])  # = s tᵀ with s = [1, 1], t = [1, −1]
    K = np.array([[1, -1, 0, 0], [1, -1, 0, 0], [0, 0, 2, -2], [0, 0, 2, -2]], dtype=float)
    # n = 2: A_1 = diag(1, 2), A_2 = [[0,1],[1,0]];  B_1 = s_1 t_1ᵀ = [1,1]ᵀ[1,−1],  B_2 = [1,0]ᵀ[0,1]
    A2 = np.stack([A, np.array([[0.0, 1.0], [1.0, 0.0]])])
    s2 = np.array([[[1.0], [1.0]], [[1.0], [0.0]]])
    t2 = np.array([[[1.0, -1.0]], [[0.0, 1.0]]])
    # A_2 ⊗ B_2 puts B_2 = [[0,1],[0,0]] in the off-diagonal blocks
    W2 = K + np.array([[0, 0, 0, 1], [0, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0]], dtype=float)
    return [
        ReferenceCase(
            "kron_catalogue_example",
            {"A": A, "B": B},
            {"K": K},
            kron_case,
            note="by hand: block (i, j) of A ⊗ B is A[i, j]·B; A = diag(1, 2)",
            atol=0,
        ),
        ReferenceCase(
            "lphm_weight_n2",
            {"A": A2, "s": s2, "t": t2},
            {"W": W2},
            lphm_case,
            note="by hand: Σ_i A_i ⊗ s_i t_iᵀ with the two terms written out block by block",
            atol=1e-12,
        ),
        ReferenceCase(
            "param_counts_d128_k16_n4_L2",
            {"d": 128, "k": 16, "n": 4, "layers": 2},
            {
                "adapter": np.array(2 * (2 * 16 * 128 + 16 + 128)),
                "phm": np.array(2 * (2 * 16 * 128 // 4 + 16 + 128) + 64),
                "compacter": np.array(2 * (2 * (16 + 128) + 16 + 128) + 64),
            },
            counts,
            note="arithmetic: 2·(4096+144) = 8480; 2·(1024+144)+64 = 2400; 2·(288+144)+64 = 928",
            atol=0,
        ),
    ]
