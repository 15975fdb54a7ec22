r"""Residual depth scaling: the residual expansion over block subsets, and the branch multiplier λ.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.
Official code: none published.

What was read, and what is reconstructed
----------------------------------------
Only the abstract and third-party summaries of arXiv 2510.03470 could be read here, not the full text,
so the paper's equation numbers and the exact form of its theorem for *nonlinear* blocks are unknown.
Formula lines below therefore cite the derivation in this docstring ("(D1)" …), not the paper.  The
catalogue also records that the ICLR-2026 submission was withdrawn after uniformly weak reviews, and it
should be said plainly: **the mechanism is standard.**  That a residual network is a sum over the 2^L
paths through its blocks is the "unraveled view" of Veit et al. (2016); that variance-preserving
branches make the forward signal grow like 2^L, and that down-weighting each branch fixes it without
normalisation, is the point of SkipInit (De & Smith 2020), Fixup (Zhang et al. 2019) and of the
1/√L-scaled ResNets of the depth-scaling literature (Hayou et al. 2021; depth-μP, Yang et al. 2023).
What is implemented is that standard content, made executable and checked against simulation.

The expansion (linear blocks, exact)
------------------------------------
A residual stream with branch multiplier λ,

$$x_{l} = x_{l-1} + \lambda F_l(x_{l-1}),\qquad l = 1,\dots,L, \tag{D1}$$

with *linear* blocks $F_l(x) = A_l x$ is $x_L = (I+\lambda A_L)\cdots(I+\lambda A_1)\,x_0$.  Multiplying the
L binomials out picks, from every factor, either I or λA_l:

$$x_L \;=\; \sum_{S\subseteq\{1..L\}} \lambda^{|S|} A_S\, x_0,\qquad
  A_S = A_{s_k}\cdots A_{s_1}\ \ (s_1<\dots<s_k),\ A_\varnothing = I. \tag{D2}$$

Every subset S is one *path* (the blocks it passes through, in network order); there are $2^L$ paths
and $\binom Lk$ of length k.  The paths of one length form one "order" $T_k = \sum_{|S|=k}\lambda^kA_S$
of the hierarchical ensemble (D3).  For scalar blocks $A_l = a$ every path of length k is $a^k$ and
(D2) is the binomial theorem: $x_L = (1+\lambda a)^L x_0 = \sum_k \binom Lk (\lambda a)^k x_0$.

For nonlinear blocks, (D1) still unrolls into nested sums ($x_2 = x_0 + \lambda F_1(x_0) +
\lambda F_2(x_0 + \lambda F_1(x_0))$); the paper's theorem expands these further (its "hierarchical"
form), which we could not read and do not implement.  Only the linear case (D2) is executable here.

The norm at initialisation
--------------------------
Let the blocks be random with mean-zero entries, independent across blocks, and *variance preserving
up to a gain σ²*: $\mathbb E\,\|F_l(x)\|^2 = \sigma^2\|x\|^2$ for every fixed x.  For a linear block
$A_l$ with i.i.d. $\mathcal N(0, \sigma^2/n)$ entries (n×n),
$\mathbb E\|A_lx\|^2 = \sum_i\sum_j \tfrac{\sigma^2}{n}x_j^2 = \sigma^2\|x\|^2$.
Because $x_{l-1}$ is independent of block l and the cross term $2\lambda\,x^\top F_l(x)$ has mean zero,

$$\mathbb E\big[\|x_l\|^2\,\big|\,x_{l-1}\big] = (1+\lambda^2\sigma^2)\,\|x_{l-1}\|^2
\quad\Longrightarrow\quad \mathbb E\|x_L\|^2 = (1+\lambda^2\sigma^2)^L\,\|x_0\|^2. \tag{D4}$$

The same number falls out of the expansion: two different paths share no factor in one of their
blocks, whose mean-zero matrix makes them orthogonal in expectation, and a path of length k has
$\mathbb E\|\lambda^kA_Sx_0\|^2 = (\lambda^2\sigma^2)^k\|x_0\|^2$, so

$$\mathbb E\|T_k\|^2 = \binom Lk(\lambda^2\sigma^2)^k\|x_0\|^2,\qquad
  \sum_{k=0}^L \binom Lk(\lambda^2\sigma^2)^k = (1+\lambda^2\sigma^2)^L. \tag{D5}$$

(D4) is exact in expectation at every width n (no large-width limit), and it also holds for the
two-layer ReLU block used in the experiment, $F(x) = W_2\,\mathrm{relu}(W_1x)$ with
$W_1\sim\mathcal N(0, 2/n)$ (He) and $W_2\sim\mathcal N(0,\sigma^2/m)$ (m hidden units):
$\mathbb E\|\mathrm{relu}(W_1x)\|^2 = m\cdot\tfrac12\cdot\tfrac2n\|x\|^2$, then
$\mathbb E\|W_2h\|^2 = n\tfrac{\sigma^2}{m}\|h\|^2$, so $\mathbb E\|F(x)\|^2 = \sigma^2\|x\|^2$.  (D5)'s
path orthogonality needs linear blocks; (D4) does not.

Reading off the three multipliers (σ² = 1, He-initialised branches): λ = 1 gives $2^L$ — the
combinatorial explosion, each of the 2^L paths adding as much as the identity path; λ = 1/√L gives
$(1+1/L)^L \to e$ — bounded, with the orders weighted like a Poisson(1) law; λ = 1/L gives
$(1+1/L^2)^L \to 1$ — the branches' total share of the signal vanishes like 1/L, the network
starts as (nearly) the identity: the "capacity control" of the abstract, read at initialisation.
That this is the paper's statement is an assumption: the abstract and the summaries say "λ = 1/n or
1/√n tames the combinatorial explosion", which (D4) confirms in both cases for Gaussian blocks.

What is implemented
-------------------
* `branch_multiplier(rule, L)`: λ for "1", "1/sqrt(L)", "1/L".
* `residual_expansion(mats, lam)`: (D2) by brute force over all 2^L subsets (order by order, (D3)),
  for small L — the oracle a test compares with the product form `residual_product` and with the
  network's forward pass.
* `n_paths(L)`, `predicted_order_sq_norms`, `predicted_sq_norm_ratio`: (D5) and (D4).
* `block_init`: the branch initialisation that makes E‖F(x)‖² = σ²‖x‖² (shared by the network and
  the experiment's many-network simulation).
* `ResidualMLP`: an unnormalised residual MLP (embed → L scaled two-layer blocks → head), branches
  initialised as above, biases zero; `stream(x)` returns every $x_l$, `block_matrices()` the $A_l$ of
  a linear (activation "identity") network.

Deviations and toy scale: no normalisation anywhere and no SkipInit/Fixup-style zero init (λ alone
tames the stream); an MLP on the 8×8 digits with Adam instead of ResNets on images; the paper's own
experiments could not be read.

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/growth-init-scaling/residual-depth-scaling.ipynb
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from ....nn import Linear, Module, ModuleList, Parameter
from ....nn.layers.activation import get_activation
from ....random import as_generator

CATALOG_ENTRY = {
    "slug": "residual-depth-scaling",
    "title": "On residual network depth",
    "authors": "Benoit Dherin, Michael Munn",
    "year": 2025,
    "arxiv": "2510.03470",
    "family": "growth-init-scaling",
    "notebook": "notebooks/growth-init-scaling/residual-depth-scaling.ipynb",
    "verified": "reconstructed",
    "verification_note": (
        "Only the abstract and third-party summaries were readable (no full text, no official code): the "
        "theorem's statement for linear blocks (sum over the 2^L block subsets) and the norm recursion "
        "E‖x_L‖² = (1 + λ²σ²)^L ‖x_0‖² are derived here, not transcribed; the nonlinear (hierarchical) "
        "form of the theorem is not implemented. The mechanism is standard (Veit et al. 2016 unraveled "
        "view; SkipInit, Fixup, 1/√L ResNet scaling); the submission was withdrawn with weak reviews."
    ),
    "summary": (
        "A residual stream x_l = x_{l-1} + λ F_l(x_{l-1}) unrolls into a sum over all 2^L subsets of "
        "blocks (C(L,k) paths of length k). With variance-preserving branches and λ = 1 every path "
        "contributes as much as the identity, so the output norm at init grows like 2^L; scaling each "
        "branch by λ = 1/√L keeps it bounded (→ e) and λ = 1/L keeps it near the input (→ 1), without "
        "normalisation layers."
    ),
    "equations": [
        "x_l = x_{l-1} + λ F_l(x_{l-1}),  l = 1..L                                         (D1)",
        "linear F_l = A_l:  x_L = Σ_{S⊆{1..L}} λ^|S| A_S x_0,  A_S = A_{s_k}···A_{s_1}      (D2)",
        "E‖x_L‖² = (1 + λ²σ²)^L ‖x_0‖² = Σ_k C(L,k) (λ²σ²)^k ‖x_0‖²   (E‖F(x)‖² = σ²‖x‖²)  (D4, D5)",
        "λ = 1 → 2^L;  λ = 1/√L → (1+1/L)^L → e;  λ = 1/L → (1+1/L²)^L → 1   (σ² = 1)",
    ],
}

__all__ = [
    "RULES",
    "branch_multiplier",
    "residual_product",
    "residual_expansion",
    "n_paths",
    "predicted_order_sq_norms",
    "predicted_sq_norm_ratio",
    "block_init",
    "ResidualMLP",
]

RULES = ("1", "1/sqrt(L)", "1/L")
MAX_BRUTE_FORCE_DEPTH = 16  # 2^16 subsets: the brute force is an oracle for small L, not a method


def _check_depth(L, what: str) -> int:
    if isinstance(L, bool) or not isinstance(L, (int, np.integer)) or L < 0:
        raise ValueError(f"{what}: `L` must be an integer ≥ 0, got {L!r}")
    return int(L)


def _check_real(v, name: str, what: str, positive: bool = False) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        raise ValueError(f"{what}: `{name}` must be a real number, got {v!r}") from None
    if not math.isfinite(f) or (positive and f <= 0) or f < 0:
        need = "> 0" if positive else "≥ 0"
        raise ValueError(f"{what}: `{name}` must be finite and {need}, got {v!r}")
    return f


def branch_multiplier(rule: str, L: int) -> float:
    """λ of a depth-L network under `rule`: "1" (plain residual), "1/sqrt(L)" or "1/L"."""
    L = _check_depth(L, "branch_multiplier")
    if L < 1:
        raise ValueError(f"branch_multiplier: `L` must be ≥ 1, got {L}")
    if rule == "1":
        return 1.0
    if rule == "1/sqrt(L)":
        return 1.0 / math.sqrt(L)
    if rule == "1/L":
        return 1.0 / L
    raise ValueError(f"branch_multiplier: `rule` must be one of {RULES}, got {rule!r}")


def _check_mats(mats, what: str) -> list:
    mats = [np.asarray(a, dtype=np.float64) for a in mats]
    if mats:
        n = mats[0].shape[0] if mats[0].ndim == 2 else -1
        for i, a in enumerate(mats):
            if a.ndim != 2 or a.shape != (n, n):
                raise ValueError(
                    f"{what}: `mats` must be square matrices of one size, got shape {a.shape} at index {i} "
                    f"(first: {mats[0].shape})"
                )
    return mats


def residual_product(mats, lam: float) -> np.ndarray:
    """(I + λA_L)···(I + λA_1): the linear residual stream (D1) as one matrix (`mats` = [A_1, …, A_L])."""
    mats = _check_mats(mats, "residual_product")
    lam = float(lam)
    if not mats:
        raise ValueError("residual_product: `mats` is empty; the size of I is unknown")
    n = mats[0].shape[0]
    out = np.eye(n)
    for a in mats:  # block l acts after blocks 1..l-1
        out = (np.eye(n) + lam * a) @ out
    return out


def residual_expansion(mats, lam: float) -> np.ndarray:
    """The residual expansion (D2) by brute force: T[k] = Σ_{|S|=k} λ^k A_{s_k}···A_{s_1} for k = 0..L,
    enumerating all 2^L subsets S of the blocks.  Σ_k T[k] = (I+λA_L)···(I+λA_1) (`residual_product`).
    Returns an array (L+1, n, n) in float64.  Exponential in L: refused above L = 16."""
    mats = _check_mats(mats, "residual_expansion")
    lam = float(lam)
    if not mats:
        raise ValueError("residual_expansion: `mats` is empty; the size of I is unknown")
    L, n = len(mats), mats[0].shape[0]
    if L > MAX_BRUTE_FORCE_DEPTH:
        raise ValueError(
            f"residual_expansion: brute force over 2^L subsets is limited to L ≤ {MAX_BRUTE_FORCE_DEPTH}, "
            f"got L = {L}"
        )
    T = np.zeros((L + 1, n, n))
    for k in range(L + 1):
        for S in itertools.combinations(range(L), k):  # S in increasing block order: one path  (D2)
            path = np.eye(n)
            for s in S:
                path = mats[s] @ path  # A_{s_k} ··· A_{s_1}: the later block on the left
            T[k] += lam**k * path  # (D3): order k collects the paths of length k
    return T


def n_paths(L: int) -> np.ndarray:
    """C(L, k) for k = 0..L: the number of paths of length k among the 2^L (D2)."""
    L = _check_depth(L, "n_paths")
    return np.array([math.comb(L, k) for k in range(L + 1)], dtype=np.float64)


def predicted_order_sq_norms(L: int, lam: float, sigma2: float = 1.0) -> np.ndarray:
    """E‖T_k x_0‖² / ‖x_0‖² = C(L,k) (λ²σ²)^k for k = 0..L (D5), for mean-zero independent blocks with
    E‖F(x)‖² = σ²‖x‖² (linear blocks: path orthogonality in expectation)."""
    L = _check_depth(L, "predicted_order_sq_norms")
    lam = _check_real(lam, "lam", "predicted_order_sq_norms")
    sigma2 = _check_real(sigma2, "sigma2", "predicted_order_sq_norms")
    return n_paths(L) * (lam**2 * sigma2) ** np.arange(L + 1)


def predicted_sq_norm_ratio(L: int, lam: float, sigma2: float = 1.0) -> float:
    """E‖x_L‖² / ‖x_0‖² = (1 + λ²σ²)^L at initialisation (D4), for independent mean-zero blocks with
    E‖F(x)‖² = σ²‖x‖² (linear Gaussian blocks, or He-initialised ReLU blocks with output gain σ²)."""
    L = _check_depth(L, "predicted_sq_norm_ratio")
    lam = _check_real(lam, "lam", "predicted_sq_norm_ratio")
    sigma2 = _check_real(sigma2, "sigma2", "predicted_sq_norm_ratio")
    return float((1.0 + lam**2 * sigma2) ** L)  # (D4)


ACTIVATION_GAIN2 = {"relu": 2.0, "identity": 1.0}  # He: E relu(z)² = Var z / 2, so the first layer uses 2/n


def block_init(rng, width: int, hidden: int, activation: str = "relu", sigma2: float = 1.0, size=()):
    """The initial weights (W₁, W₂) of a branch F(x) = W₂ act(W₁x): W₁ ~ N(0, g/width) with g = 2 for
    ReLU (He) and 1 for identity, W₂ ~ N(0, σ²/hidden), so that E‖F(x)‖² = σ²‖x‖² for every x (D4).
    `size` prepends independent copies (the simulation draws many networks at once); float64."""
    if activation not in ACTIVATION_GAIN2:
        raise ValueError(
            f"block_init: `activation` must be one of {sorted(ACTIVATION_GAIN2)}, got {activation!r}"
        )
    sigma2 = _check_real(sigma2, "sigma2", "block_init")
    size = tuple(size)
    w1 = rng.standard_normal(size + (hidden, width)) * math.sqrt(ACTIVATION_GAIN2[activation] / width)
    w2 = rng.standard_normal(size + (width, hidden)) * math.sqrt(sigma2 / hidden)
    return w1, w2


class _Block(Module):
    """F(x) = W₂ act(W₁ x) with `block_init`'s weights and zero biases."""

    def __init__(self, width, hidden, activation, sigma2, dtype, rng):
        super().__init__()
        self.fc1 = Linear(width, hidden, dtype=dtype, rng=rng)  # default init, overwritten below
        self.act = get_activation(activation)
        self.fc2 = Linear(hidden, width, dtype=dtype, rng=rng)
        w1, w2 = block_init(rng, width, hidden, activation, sigma2)
        self.fc1.weight = Parameter(w1.astype(dtype))
        self.fc2.weight = Parameter(w2.astype(dtype))
        self.fc1.bias = Parameter(np.zeros(hidden, dtype=dtype))
        self.fc2.bias = Parameter(np.zeros(width, dtype=dtype))

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class ResidualMLP(Module):
    """An unnormalised residual MLP: x_0 = embed(input); x_l = x_{l-1} + λ F_l(x_{l-1}) (D1) for
    l = 1..depth; output = head(x_L).

    Each F_l is a two-layer block `width → hidden → width` initialised so that E‖F(x)‖² = σ²‖x‖²
    (`sigma2`, the branch gain; see `_Block`); `lam` is the branch multiplier λ, a fixed number (use
    `branch_multiplier` for the depth rules).  `activation` "relu" (He-initialised first layer) or
    "identity" (then every block is linear, A_l = W₂W₁, see `block_matrices`).  The embedding and head
    are ordinary `Linear` layers (PyTorch's default initialisation)."""

    def __init__(
        self,
        d_in: int,
        width: int,
        depth: int,
        d_out: int,
        lam: float,
        *,
        hidden: int | None = None,
        sigma2: float = 1.0,
        activation: str = "relu",
        dtype=np.float32,
        rng=None,
    ):
        super().__init__()
        depth = _check_depth(depth, "ResidualMLP")
        for name, v in (("d_in", d_in), ("width", width), ("d_out", d_out)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"ResidualMLP: `{name}` must be an integer ≥ 1, got {v!r}")
        hidden = width if hidden is None else hidden
        if isinstance(hidden, bool) or not isinstance(hidden, (int, np.integer)) or hidden < 1:
            raise ValueError(f"ResidualMLP: `hidden` must be an integer ≥ 1, got {hidden!r}")
        self.lam = _check_real(lam, "lam", "ResidualMLP")
        self.sigma2 = _check_real(sigma2, "sigma2", "ResidualMLP")
        if activation not in ACTIVATION_GAIN2:
            raise ValueError(
                f"ResidualMLP: `activation` must be one of {sorted(ACTIVATION_GAIN2)}, got {activation!r}"
            )
        self.activation, self.depth = activation, depth
        rng = as_generator(rng)
        self.embed = Linear(d_in, width, dtype=dtype, rng=rng)
        self.blocks = ModuleList(
            [_Block(width, hidden, activation, self.sigma2, dtype, rng) for _ in range(depth)]
        )
        self.head = Linear(width, d_out, dtype=dtype, rng=rng)

    def residual(self, x0):
        """x_L from x_0: the residual stream (D1) alone, without embedding or head."""
        x = x0
        for block in self.blocks:
            x = x + self.lam * block(x)  # (D1)
        return x

    def forward(self, x):
        return self.head(self.residual(self.embed(x)))

    def stream(self, x) -> list:
        """[x_0, x_1, …, x_L] as arrays (no graph), for a batch `x` of inputs."""
        from ....autograd.tensor import Tensor, no_grad

        with no_grad():
            h = self.embed(x if isinstance(x, Tensor) else Tensor(np.asarray(x)))
            out = [h.data]
            for block in self.blocks:
                h = h + self.lam * block(h)  # (D1)
                out.append(h.data)
        return out

    def block_matrices(self) -> list:
        """[A_1, …, A_L] with A_l = W₂W₁ (float64) of a linear network (activation "identity", zero biases)."""
        if self.activation != "identity":
            raise ValueError(
                f"ResidualMLP.block_matrices: blocks are linear only with activation 'identity', "
                f"this network has {self.activation!r}"
            )
        mats = []
        for b in self.blocks:
            if np.any(b.fc1.bias.data) or np.any(b.fc2.bias.data):
                raise ValueError(
                    "ResidualMLP.block_matrices: a block has a nonzero bias; it is affine, not linear"
                )
            mats.append(b.fc2.weight.data.astype(np.float64) @ b.fc1.weight.data.astype(np.float64))
        return mats

    def extra_repr(self):
        return f"depth={self.depth}, lam={self.lam:g}, sigma2={self.sigma2:g}, activation={self.activation!r}"
