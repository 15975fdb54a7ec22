r"""Compacter: adapters whose projections are sums of Kronecker products with shared "slow" matrices and
rank-one "fast" matrices.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below.  Official code: github.com/rabeehk/compacter (`seq2seq/hypercomplex/layers.py`, `kronecker.py`,
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
* T5 on GLUE becomes the family's pretrain → adapt MLP (`experiment.py`); adapters sit after each hidden
  activation (the paper: after the feed-forward block of each transformer layer).
* Initialisation follows the official config (`configs/compacter.json`: `phm_c_init` normal,
  `phm_init_range` 0.0001, `hypercomplex_nonlinearity` glorot-uniform): fast weights glorot-uniform with gain
  √2, the shared rule $A$ normal(0, 10⁻⁴), biases zero — except that by default the up-projection's $t$ are
  zero (`zero_init=True`) so that the adapter starts as the exact identity (the family contract).  The
  official init starts near, not at, the identity.
* `PHMDelta` is an extension, not in the paper: the same Kronecker-structured matrix used as a
  *weight delta* W = θ + Σ A_i ⊗ (s_i t_iᵀ), so it is a parametrization that can be merged and stacked.

Verified: official-code — Kronecker product (`kronecker_product_einsum_batched`), PHM weight
Σ_i kron(phm_rule[i], W[i]), factorized W = W_left @ W_right with rank 1, shared phm_rule across adapter
layers, adapter residual `outputs + inputs`, inits, reduction factor and n = 4 from `compacter.json`.

"""

from __future__ import annotations

import math

import numpy as np

from ....autograd import ops
from ....autograd.tensor import Tensor
from ....nn import functional as F
from ....nn.module import Module, Parameter
from ..adapters import WeightAdapter

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
        "adapter residual, inits (glorot-uniform gain √2; rule normal with std phm_init_range = 0.0001; "
        "zero biases), n = 4, reduction factor 32 and learning rates (Compacter 3e-3, adapters 3e-4) checked "
        "against rabeehk/compacter (hypercomplex/layers.py, kronecker.py, adapters/adapter_modeling.py, "
        "adapter_controller.py, configs/compacter.json and adapters.json). Equation numbers from memory of "
        "the paper (text not re-checked). Deviation: up-projection t = 0 so the adapter starts at the "
        "identity."
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
    Compacter layers.  Official init: normal(0, phm_init_range = 10⁻⁴)."""

    def __init__(self, n: int, std: float = 1e-4, dtype=np.float32, rng=None):
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
        from ....nn import Linear

        if k < 1 or d < 1:
            raise ValueError(f"BottleneckAdapter: need d ≥ 1 and bottleneck k ≥ 1, got d={d}, k={k}")
        self.d, self.k = d, k
        self.down = Linear(d, k, dtype=dtype, rng=rng)
        self.up = Linear(k, d, dtype=dtype, rng=rng)
        if zero_init:
            self.up.weight.data[...] = 0
            self.up.bias.data[...] = 0

    def forward(self, h):
        from ....nn import functional as F

        return h + self.up(F.gelu(self.down(h)))

    def num_trainable(self) -> int:
        return 2 * self.k * self.d + self.k + self.d


def insert_after(seq, positions, make):
    """A new Sequential with `make(i, module)` inserted after seq[i] for i in `positions` (modules shared)."""
    from ....nn import Sequential

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
