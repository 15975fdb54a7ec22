r"""Hopular: a deep network for small tabular data whose every block holds continuous modern Hopfield
networks that store (a) the whole embedded *training set*, features and targets, and (b) the embedded
*original input sample*, so each block can look up similar training rows (like kNN) and feature-target
dependencies, and refine the prediction block by block like an iterative learner.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.

The method
----------
**The Hopfield update (Sec. 2, from Ramsauer et al. 2020).**  With stored patterns as the columns of
:math:`X=(x_1,\dots,x_N)` and a state (query) pattern :math:`\xi`,

.. math::

    \xi^{\mathrm{new}} = X\,\mathrm{softmax}\bigl(\beta X^\top \xi\bigr).

It is one step of minimising the energy :math:`E=-\beta^{-1}\log\sum_i e^{\beta x_i^\top\xi}+\tfrac12
\xi^\top\xi+\mathrm{const}`; as :math:`\beta\to\infty` the softmax becomes an arg-max and the update returns
the stored pattern most similar to :math:`\xi` — a 1-nearest-neighbour lookup; a finite β averages the
neighbours.  In a layer, queries, keys and values are learned maps of the state and stored patterns:
:math:`\mathrm{softmax}(\beta\,\xi W_Q (Y W_K)^\top)\,Y W_V` (row form, `hopfield_update`).

**A Hopular block (Sec. 3).**  Each of the F features and the target is embedded as a token of width e,
giving :math:`T\in\mathbb{R}^{(F+1)\times e}` per sample; the target token of the query sample is replaced
by a learned mask token.  A block applies, with residual connections,

1. the *sample-sample* Hopfield module: the flattened sample :math:`\mathrm{vec}(T)` is the state pattern
   and the stored patterns are the embedded training rows *with their targets*; the query's own row is
   masked out of the memory during training (otherwise it would retrieve its own label);
2. the *feature-feature* Hopfield module: each token of the sample is a state pattern and the stored
   patterns are the tokens of the embedded *original* input sample.

The prediction is a linear read-out of the target token after the last block.

What is read and what is ours
-----------------------------
The paper's abstract and the project page (ml-jku.github.io/hopular) were read; the full text and the
official code (ml-jku/hopular) were not available in this session, so formulas are cited by section and
the level is "reconstructed".  Assumed (ours): the per-feature linear embedding
:math:`t_j = x_j a_j + b_j`, the single-head modules with :math:`\beta = 1/\sqrt{h}`, memory = the
*embedding of the original training set* (not the current block's representation), the self-mask by exact
row equality, no layer norm, no auxiliary feature-masking (BERT-style) loss, full-batch Adam.

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/architectures/hopular.ipynb
"""

from __future__ import annotations

import math

import numpy as np

from .... import nn
from ....autograd import ops
from ....autograd.tensor import Tensor

CATALOG_ENTRY = {
    "slug": "hopular",
    "title": "Hopular: Modern Hopfield Networks for Tabular Data",
    "authors": "Bernhard Schäfl, Lukas Gruber, Angela Bitto-Nemling, Sepp Hochreiter",
    "year": 2022,
    "arxiv": "2206.00664",
    "family": "architectures",
    "notebook": "notebooks/architectures/hopular.ipynb",
    "verified": "reconstructed",
    "verification_note": (
        "Reconstructed from the abstract and the authors' project page: Hopfield update ξ' = X softmax(β Xᵀ ξ), "
        "blocks of a sample-sample Hopfield module (memory = the embedded training set with targets) and a "
        "feature-feature module (memory = the embedded original input), stacked with residuals.  The full text "
        "and ml-jku/hopular were not read.  Ours: per-feature linear embeddings, single-head modules with "
        "β = 1/√h, the self-mask by row equality, no auxiliary masking loss, full-batch Adam."
    ),
    "summary": (
        "Every block of the network retrieves from the stored, embedded training set (features and targets) "
        "with a modern Hopfield update, and from the embedded original input; the prediction is refined "
        "block by block, so the model can mimic kNN and go beyond it."
    ),
    "equations": [
        "ξ_new = X softmax(β Xᵀ ξ)  (Hopfield update; β → ∞ returns the most similar stored pattern)",
        "sample-sample: vec(T) ← vec(T) + softmax(β vec(T) W_Q (M W_K)ᵀ) M W_V,  M = embedded training rows",
        "feature-feature: T ← T + softmax(β T U_Q (T₀ U_K)ᵀ) T₀ U_V,  T₀ = embedded original input",
        "ŷ = w_outᵀ T_target + b_out",
    ],
}

NEG = -1e30  # additive score mask: the query's own training row is never retrieved


def _as_tensor(x):
    return x if isinstance(x, Tensor) else Tensor(np.asarray(x, dtype=np.float64))


def hopfield_update(Xi, X, beta: float):
    """Row form of ξ_new = X softmax(β Xᵀ ξ): states `Xi` (q, d), stored patterns `X` (N, d) → (q, d)."""
    Xi, X = _as_tensor(Xi), _as_tensor(X)
    if X.ndim != 2 or Xi.shape[-1] != X.shape[-1]:
        raise ValueError(
            f"hopfield_update: `X` must be (N, d) and `Xi` must end in d, got {X.shape} and {Xi.shape}"
        )
    if not beta > 0:
        raise ValueError(f"hopfield_update: `beta` must be > 0, got {beta!r}")
    return ops.softmax(Xi @ X.T * float(beta), dim=-1) @ X


def self_mask(x_query: np.ndarray, x_memory: np.ndarray) -> np.ndarray:
    """(q, N) additive mask: NEG where a query row equals a stored row (its own training sample), else 0."""
    eq = np.all(np.asarray(x_query)[:, None, :] == np.asarray(x_memory)[None, :, :], axis=-1)
    return np.where(eq, NEG, 0.0)


def _check_int(name, v, lo=1):
    if not (isinstance(v, (int, np.integer)) and v >= lo):
        raise ValueError(f"Hopular: `{name}` must be an integer ≥ {lo}, got {v!r}")


class Hopular(nn.Module):
    """Hopular for regression (out = 1) on F features.  `memory_x` (N, F) and `memory_y` (N,) are the stored
    training set; `blocks` Hopular blocks of width `e` per token and Hopfield width `h`.  `memory=False` is
    the ablation: the same network with the sample-sample (training-set) modules removed."""

    def __init__(
        self,
        memory_x,
        memory_y,
        *,
        e: int = 4,
        h: int = 8,
        blocks: int = 2,
        memory: bool = True,
        rng=None,
        dtype=np.float32,
    ):
        super().__init__()
        mx, my = np.asarray(memory_x), np.asarray(memory_y)
        if mx.ndim != 2 or my.shape != (mx.shape[0],) or mx.shape[0] < 1:
            raise ValueError(
                f"Hopular: `memory_x` must be (N, F) and `memory_y` (N,), got {mx.shape} and {my.shape}"
            )
        for name, v in (("e", e), ("h", h), ("blocks", blocks)):
            _check_int(name, v)
        g = np.random.default_rng(rng)
        F_ = mx.shape[1]
        D = (F_ + 1) * e
        self.F, self.e, self.h, self.n_blocks, self.memory = F_, e, h, blocks, bool(memory)
        self.beta = 1.0 / math.sqrt(h)
        self.memory_x, self.memory_y = mx.astype(dtype), my.astype(dtype)

        def P(*shape, scale):
            return nn.Parameter((g.standard_normal(shape) * scale).astype(dtype))

        self.emb_a = P(F_ + 1, e, scale=1.0)  # t_j = x_j a_j + b_j; row F is the target's
        self.emb_b = P(F_ + 1, e, scale=0.1)
        self.mask_token = P(e, scale=1.0)
        for i in range(blocks):
            if memory:
                setattr(self, f"ss_q{i}", P(D, h, scale=1 / math.sqrt(D)))
                setattr(self, f"ss_k{i}", P(D, h, scale=1 / math.sqrt(D)))
                setattr(self, f"ss_v{i}", P(D, D, scale=0.5 / math.sqrt(D)))
            setattr(self, f"ff_q{i}", P(e, h, scale=1 / math.sqrt(e)))
            setattr(self, f"ff_k{i}", P(e, h, scale=1 / math.sqrt(e)))
            setattr(self, f"ff_v{i}", P(e, e, scale=0.5 / math.sqrt(e)))
        self.w_out = P(e, 1, scale=1 / math.sqrt(e))
        self.b_out = P(1, scale=0.0)

    def embed(self, x, y=None):
        """Tokens (B, F+1, e): features t_j = x_j a_j + b_j; the target token is y a_F + b_F when `y` is
        given (stored rows) and the learned mask token otherwise (queries)."""
        x = _as_tensor(x)
        a, b = self.emb_a, self.emb_b
        feats = x.reshape(x.shape[0], self.F, 1) * a[: self.F] + b[: self.F]
        if y is None:
            tgt = self.mask_token.reshape(1, 1, self.e) * Tensor(np.ones((x.shape[0], 1, 1), x.dtype))
        else:
            tgt = _as_tensor(y).reshape(-1, 1, 1) * a[self.F :] + b[self.F :]
        return ops.concatenate([feats, tgt], axis=1)

    def forward(self, x):
        x = _as_tensor(x)
        if x.ndim != 2 or x.shape[1] != self.F:
            raise ValueError(f"Hopular: input must be (B, {self.F}), got shape {x.shape}")
        B, D = x.shape[0], (self.F + 1) * self.e
        T0 = self.embed(x)  # the embedded original input (feature-feature memory)
        T = T0
        if self.memory:
            M = self.embed(self.memory_x, self.memory_y).reshape(-1, D)  # the embedded training set
            mask = Tensor(self_mask(x.data, self.memory_x).astype(x.dtype))
        for i in range(self.n_blocks):
            if self.memory:  # sample-sample: retrieve similar training rows (with their targets)
                Q = T.reshape(B, D) @ getattr(self, f"ss_q{i}")
                K = M @ getattr(self, f"ss_k{i}")
                A = ops.softmax(Q @ K.T * self.beta + mask, dim=-1)
                T = T + (A @ (M @ getattr(self, f"ss_v{i}"))).reshape(B, self.F + 1, self.e)
            q = T @ getattr(self, f"ff_q{i}")  # feature-feature: retrieve from the original input's tokens
            k = T0 @ getattr(self, f"ff_k{i}")
            A = ops.softmax(q @ k.transpose(1, 2) * self.beta, dim=-1)
            T = T + A @ (T0 @ getattr(self, f"ff_v{i}"))
        return (T[:, self.F, :] @ self.w_out).reshape(B) + self.b_out
