r"""LOST: a low-rank component from the top singular directions plus a complementary channel-wise sparse one.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.
Official code: github.com/JiaxiLi1/LOST-Low-rank-and-Sparse-Training-for-Large-Language-Models (not in
the stores reachable from here).

The idea
--------
Train a network from scratch with every weight matrix replaced by a low-rank factorisation plus a sparse
matrix, so that memory and compute fall while expressiveness is kept.  Instead of combining the two
parts ad hoc (e.g. a random sparse support, as in SLTrain), LOST *initialises* them from one SVD of the
(randomly initialised) dense weight: the dominant singular directions form the low-rank factors, and the
remaining spectrum — what the low-rank part cannot represent — is turned into a **channel-wise** sparse
component, so that the two parts are complementary.  With $W_0 \in \mathbb R^{m\times n}$ (out, in):

$$W_0 = U\Sigma V^\top,\qquad A = U_r\Sigma_r^{1/2},\quad B = \Sigma_r^{1/2}V_r^\top$$

$$E = W_0 - AB = U_{>r}\Sigma_{>r}V_{>r}^\top,\qquad
  \mathcal C = \operatorname{top-}c_j\ \lVert E_{:,j}\rVert_2,\qquad S = E_{:,\mathcal C}$$

$$y = x\,(AB)^\top + x_{:,\mathcal C}\,S^\top + b,\qquad \#\text{params} = r(m+n) + mc$$

A, B and the c kept columns S are trained; the support $\mathcal C$ is fixed.

Status: **reconstructed** — what is and is not verified
-------------------------------------------------------
The paper's body (its method section and equations) could not be read here: only the abstract and
third-party summaries; the official repository is not in the stores.  The equations above therefore
carry no equation numbers.  Three levels of evidence:

* **From the abstract (read):** SVD of the weight matrices; the dominant low-rank components are kept as
  the low-rank part; the remaining singular values build a *channel-wise* sparse part; both are trained
  from scratch (LLM pre-training, 60M–7B).
* **From the first author's public development repository (read, but it is neither the paper nor the
  official LOST code):** `JiaxiLi1/Lora-init`, `run_c4.py`, class `HybridSparseLinear` ("LoST" mode).
  It agrees with this reconstruction on: the balanced √Σ split of the top-r SVD between the two factors;
  "channel" = input channel (a column of the (out, in) weight); channels ranked by the L2 norm of the
  column of the part of W spanned by the singular components after the first r (components r … r+k,
  k ≤ 256, which is all of the residual spectrum at our sizes); a fixed support.  It differs on: the
  sparse values start from the *weight's* columns W₀[:, C], not the residual's E[:, C]; the two outputs
  are blended as γ·x(AB)ᵀ + (1−γ)·x_C Sᵀ with a fixed γ = 0.5 (default); the number of channels is
  int(ρ·n) with ρ = 0.05.  Both variants are implemented (`values="weight"`, `gamma=0.5`) and the
  experiment runs that variant beside ours, without a claim.
* **Assumed, unverified:** which of the two variants the paper's equations state (if either); whether the
  paper rescales the sparse part or the learning rate per component; that the SVD is taken of a standard
  random (kaiming-uniform) initialisation; the toy-scale rank and channel budget.

What is implemented, and deviations
-----------------------------------
* `lost_decompose` (the pure decomposition), `lost_params`, then `LOSTLinear` (low-rank + fixed-support
  channel-sparse, optionally γ-blended) and `LowRankLinear` (the low-rank-only baseline from the same
  truncated SVD).  `select="random"` picks the channels uniformly at random instead (the ablation without
  the SVD-guided, complementary choice).
* Toy scale: an MLP whose two hidden layers are LOST layers, trained from scratch on the 8×8 digits; the
  experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.
* Exactness at init (A B + E = W₀; with all channels kept the layer reproduces the dense layer exactly),
  parameter counts and the complementarity of the parts (E ⟂ the kept singular vectors) are checked in
  the tests.

Notebook: notebooks/sparsity-pruning/lost-lowrank-sparse.ipynb
"""

from __future__ import annotations

import math

import numpy as np

from ....nn import init
from ....nn.module import Module, Parameter

CATALOG_ENTRY = {
    "slug": "lost-lowrank-sparse",
    "title": "LOST: Low-rank and Sparse Pre-training for Large Language Models",
    "authors": "Jiaxi Li, Lu Yin, Li Shen, Jinjin Xu, Liwu Xu, Tianjin Huang, Wenwu Wang, Shiwei Liu, Xilu Wang",
    "year": 2025,
    "arxiv": "2508.02668",
    "family": "sparsity-pruning",
    "notebook": "notebooks/sparsity-pruning/lost-lowrank-sparse.ipynb",
    "verified": "reconstructed",
    "verification_note": (
        "Paper body and equations NOT read (abstract and summaries only; official repository not in the "
        "stores). Read instead: the first author's development repo JiaxiLi1/Lora-init (run_c4.py, "
        "HybridSparseLinear 'LoST'), which agrees on the √Σ split of the top-r SVD, input channels ranked "
        "by the column norm of the remaining spectrum and a fixed support, but starts the sparse values "
        "from W₀[:, C] and blends the outputs with γ = 0.5; both variants are implemented and run. "
        "Unverified: which variant the paper states, any per-part scaling, the toy budget."
    ),
    "summary": (
        "Replace each weight by low-rank factors taken from the dominant singular directions of its initial "
        "value plus a complementary channel-wise sparse matrix built from the remaining spectrum, and train "
        "both from scratch; more expressive than low-rank alone at the same parameter count."
    ),
    "equations": [
        "W₀ = U Σ Vᵀ;  A = U_r Σ_r^{1/2},  B = Σ_r^{1/2} V_rᵀ                      (reconstructed)",
        "E = W₀ − A B = U_{>r} Σ_{>r} V_{>r}ᵀ;  S = E_{:,C}, C = c columns of E with largest ‖E_{:,j}‖",
        "y = x (A B)ᵀ + x_C Sᵀ + b;  params = r(m + n) + m·c                            (per layer)",
    ],
}

__all__ = ["lost_decompose", "lost_params", "residual_capture", "LOSTLinear", "LowRankLinear"]

SELECT = ("residual", "random")
VALUES = ("residual", "weight")


def lost_decompose(
    W, rank: int, n_channels: int, *, select: str = "residual", values: str = "residual", rng=None
):
    """(A, B, channels, S) from W (out, in): A (out, r), B (r, in), the sorted indices of the kept input
    channels and S (out, c), the sparse part's kept columns.

    `select` "residual" keeps the c columns of E = W − AB of largest L2 norm (LOST); "random" keeps c
    columns drawn uniformly by `rng` (the ablation).  `values` "residual" starts S from E[:, C] (so that
    AB + S reproduces W on the kept channels); "weight" from W[:, C] (the author's development code)."""
    W = np.asarray(W, dtype=np.float64)
    if W.ndim != 2:
        raise ValueError(f"lost_decompose: `W` must be 2-D (out, in), got shape {W.shape}")
    m, n = W.shape
    if not 0 <= rank <= min(m, n):
        raise ValueError(f"lost_decompose: `rank` must be in [0, {min(m, n)}], got {rank}")
    if not 0 <= n_channels <= n:
        raise ValueError(f"lost_decompose: `n_channels` must be in [0, {n}], got {n_channels}")
    if select not in SELECT:
        raise ValueError(f"lost_decompose: `select` must be one of {SELECT}, got {select!r}")
    if values not in VALUES:
        raise ValueError(f"lost_decompose: `values` must be one of {VALUES}, got {values!r}")
    U, s, Vt = np.linalg.svd(W, full_matrices=False)  # W₀ = U Σ Vᵀ
    root = np.sqrt(s[:rank])
    A = U[:, :rank] * root  # A = U_r Σ_r^{1/2}
    B = root[:, None] * Vt[:rank]  # B = Σ_r^{1/2} V_rᵀ
    E = W - A @ B  # E = U_{>r} Σ_{>r} V_{>r}ᵀ, the remaining spectrum
    if select == "residual":
        norms = np.linalg.norm(E, axis=0)  # ‖E_{:,j}‖ per input channel j
        chosen = np.argsort(-norms, kind="stable")[:n_channels]  # C = top-c channels
    else:
        if rng is None:
            raise ValueError("lost_decompose: select='random' needs an `rng`")
        chosen = np.random.default_rng(rng).choice(n, size=n_channels, replace=False)
    channels = np.sort(chosen)
    S = (E if values == "residual" else W)[:, channels]  # S = E_{:,C}  (or W_{:,C})
    return A, B, channels, np.ascontiguousarray(S)


def lost_params(out_features: int, in_features: int, rank: int, n_channels: int) -> int:
    """Trainable weights of one LOST layer (no bias): r(m + n) + m·c."""
    return rank * (out_features + in_features) + out_features * n_channels


def residual_capture(W, rank: int, channels) -> float:
    """‖E_{:,C}‖²_F / ‖E‖²_F: the share of the residual spectrum's energy the kept channels hold at init
    (LOST's selection maximises it for a given c; a random choice holds ≈ c/n of it)."""
    W = np.asarray(W, dtype=np.float64)
    U, s, Vt = np.linalg.svd(W, full_matrices=False)
    E = W - (U[:, :rank] * s[:rank]) @ Vt[:rank]
    total = float(np.sum(E * E))
    return float(np.sum(E[:, np.asarray(channels, dtype=np.int64)] ** 2) / total) if total > 0 else 1.0


class LOSTLinear(Module):
    """y = x Bᵀ Aᵀ + x[:, C] Sᵀ + b, initialised from the SVD of a kaiming-uniform dense weight.

    `gamma` (default None: a plain sum) blends the outputs as γ·low-rank + (1 − γ)·sparse, a fixed
    number (the author's development code uses 0.5).  `select`, `values` as in `lost_decompose`."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        rank: int,
        n_channels: int,
        bias: bool = True,
        dtype=np.float32,
        rng=None,
        init_weight=None,
        *,
        gamma: float | None = None,
        select: str = "residual",
        values: str = "residual",
    ):
        super().__init__()
        if gamma is not None and not 0.0 <= gamma <= 1.0:
            raise ValueError(f"LOSTLinear: `gamma` must be None or in [0, 1], got {gamma}")
        rng = np.random.default_rng(rng)
        if init_weight is None:
            w0 = Parameter(np.empty((out_features, in_features), dtype=dtype))
            init.kaiming_uniform_(w0, a=math.sqrt(5), rng=rng)
            init_weight = w0.data
        A, B, ch, S = lost_decompose(init_weight, rank, n_channels, select=select, values=values, rng=rng)
        self.in_features, self.out_features, self.rank, self.gamma = in_features, out_features, rank, gamma
        self.A, self.B = Parameter(A.astype(dtype)), Parameter(B.astype(dtype))
        self.S = Parameter(S.astype(dtype))
        self.register_buffer("channels", ch.astype(np.int64))
        if bias:
            bound = 1 / math.sqrt(in_features)
            self.bias = Parameter(init.uniform_array((out_features,), -bound, bound, dtype, rng))
        else:
            self.bias = None

    def _weights(self):
        g = self.gamma
        return (1.0, 1.0) if g is None else (g, 1.0 - g)

    def dense_weight(self) -> np.ndarray:
        """The (out, in) matrix the layer applies: g_low · AB + g_sparse · S scattered into the channels."""
        g_low, g_sp = self._weights()
        W = g_low * (self.A.data @ self.B.data)
        W[:, self.channels] += g_sp * self.S.data
        return W

    def forward(self, x):
        g_low, g_sp = self._weights()
        y = (x @ self.B.T) @ self.A.T  # x (AB)ᵀ, never forming AB
        if g_low != 1.0:
            y = y * g_low
        if self.channels.size:
            sp = x[:, self.channels] @ self.S.T  # x_C Sᵀ: a small dense matmul (structured sparsity)
            y = y + (sp * g_sp if g_sp != 1.0 else sp)
        return y + self.bias if self.bias is not None else y

    def extra_repr(self):
        g = "" if self.gamma is None else f", gamma={self.gamma:g}"
        return f"{self.in_features}, {self.out_features}, rank={self.rank}, channels={self.channels.size}{g}"


class LowRankLinear(LOSTLinear):
    """The low-rank-only baseline (no sparse channels), initialised from the same truncated SVD."""

    def __init__(
        self, in_features, out_features, rank, bias=True, dtype=np.float32, rng=None, init_weight=None
    ):
        super().__init__(in_features, out_features, rank, 0, bias, dtype, rng, init_weight)
