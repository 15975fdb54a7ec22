r"""ARM-Net: cross features of arbitrary order, chosen per instance.  Each *exponential neuron* multiplies a few
field embeddings raised to learned powers; which fields enter, and with which powers, is decided for every input
row by a sparse (sparsemax) attention, so a neuron can be a pairwise product for one row and a third-order one
for another, with noisy fields given exactly zero weight.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.

The method
----------
**Preprocessing (Sec. 3.1).**  Field :math:`j` of a row (m fields) becomes an embedding
:math:`e_j\in\mathbb{R}^{n_e}`.  A numerical field is its value times a learned vector; we add a learned
offset and a softplus, :math:`e_j = \mathrm{softplus}(x_j v_j + b_j) > 0` (ours: the logarithm below then never
meets its pole.  A first version used :math:`|x_j v_j + b_j|`; negative powers of embeddings near 0 made the
network blow up on held-out rows, seen while trying the toy before any record).

**Exponential neurons (Sec. 3.2).**  Neuron :math:`i` forms, coordinate-wise over the embedding,

.. math::

    y_i \;=\; \exp\Bigl(\sum_{j=1}^{m} w_{ij}\,\ln e_j\Bigr) \;=\; \prod_{j=1}^{m} e_j^{\,w_{ij}},

a cross feature whose *order* is the set of fields with :math:`w_{ij}\neq 0` and whose powers are the
:math:`w_{ij}` themselves.  We take :math:`\ln(|e_j|+\varepsilon)` with :math:`\varepsilon = 10^{-6}` (ours, against softplus underflow; the
official ``models/armnet.py`` instead exponentiates the weighted sum of the embeddings directly, i.e. treats
its learned categorical embeddings as already being :math:`\ln e_j` — for a numerical field that would make
the neuron :math:`\exp(\text{linear in }x)`, never a product of values, so we keep the paper's logarithm).

**Gated multi-head attention for the interaction weights (Sec. 3.2).**  The powers are generated per row: a
bilinear score between a learned query :math:`q_i\in\mathbb{R}^{d_k}` of neuron i and each field's embedding,
sparsified over the fields, then gating a learned value :math:`v^{w}_{ij}`:

.. math::

    s_{ij} = \frac{q_i^\top W_{\mathrm{att}}^\top e_j}{\sqrt{d_k}},\qquad
    z_i = \mathrm{sparsemax}(s_i),\qquad w_{ij} = z_{ij}\, v^{w}_{ij},

(``SparseAttLayer`` in the official ``models/armnet.py``: ``einsum('bfx,kxy,koy->bkof')``, scale
:math:`d_k^{-1/2}`, entmax over the field axis, times ``values``).  The official default is 1.5-entmax
(``EntmaxBisect(alpha=1.5)``); we use sparsemax (α = 2, Martins & Astudillo 2016), which has a closed form:
:math:`\mathrm{sparsemax}(s) = [s-\tau]_+` with τ chosen so the result sums to 1; its VJP on the support
:math:`S` is :math:`\bar s = \bar z - \tfrac{1}{|S|}\sum_{k\in S}\bar z_k` (0 off the support).  α = 1 (the
dense softmax, also in the official code as ``alpha == 1``) is the ablation.

**Prediction (Sec. 3.3).**  The o neurons' outputs (o × n_e) are batch-normalised per neuron (``arm_bn``) and
flattened into an MLP.  One head (``nhead = 1``) here; more heads only add neurons with their own
:math:`W_{\mathrm{att}}`.  The official optional DNN ensemble is left out.

What is read and what is ours
-----------------------------
Read: the official code, ``nusdbsystem/ARM-Net`` ``models/armnet.py`` (``SparseAttLayer``, ``ARMNetModel``); the
abstract.  The paper's full text was not available here, so formulas are cited by section, not equation
number.  Ours: the offset :math:`b_j`, the softplus and the :math:`\ln(|e|+\varepsilon)`, sparsemax for 1.5-entmax, one
head, the initialisation, the toy.

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/architectures/arm-net.ipynb
"""

from __future__ import annotations

import math

import numpy as np

from .... import nn
from ....autograd import ops
from ....autograd.function import Function
from ....autograd.tensor import Tensor

CATALOG_ENTRY = {
    "slug": "arm-net",
    "title": "ARM-Net: Adaptive Relation Modeling Network for Structured Data",
    "authors": "Shaofeng Cai, Kaiping Zheng, Gang Chen, H. V. Jagadish, Beng Chin Ooi, Meihui Zhang",
    "year": 2021,
    "arxiv": "2107.01830",
    "family": "architectures",
    "notebook": "notebooks/architectures/arm-net.ipynb",
    "verified": "official-code",
    "verification_note": (
        "Checked against the official code (nusdbsystem/ARM-Net, models/armnet.py): bilinear gate "
        "q_iᵀW_attᵀe_j/√d_k, entmax over fields times learned values, exp of the weighted sum over fields, "
        "BatchNorm per neuron, MLP head.  The abstract was read; the paper's full text was not available, so "
        "formulas are cited by section.  Ours: sparsemax instead of the default 1.5-entmax; ln(|e|+ε) of a "
        "softplus-affine numerical embedding (the code exponentiates the embedding itself); one head; no DNN ensemble."
    ),
    "summary": (
        "Exponential neurons exp(Σ_j w_ij ln e_j) = Π_j e_j^{w_ij} form cross features of arbitrary order; "
        "the powers w_ij are produced per instance by a sparse gated attention (sparsemax of a bilinear "
        "score between the neuron's query and each field embedding, times a learned value), so each "
        "neuron selects a few fields for each row; an MLP predicts from the neurons."
    ),
    "equations": [
        "e_j = softplus(x_j v_j + b_j) > 0  (numerical field embedding; offset and softplus ours)",
        "s_ij = q_iᵀ W_attᵀ e_j / √d_k,  z_i = sparsemax(s_i),  w_ij = z_ij v^w_ij",
        "y_i = exp(Σ_j w_ij ln(|e_j| + ε)) = Π_j (|e_j| + ε)^{w_ij}",
        "sparsemax(s) = [s − τ]₊, Σ = 1;  s̄ = (z̄ − mean_S z̄)·1_S",
        "ŷ = MLP(flatten(BN(y)))",
    ],
}

EPS = 1e-6  # inside ln(|e| + ε) (ours)


def _as_tensor(x):
    return x if isinstance(x, Tensor) else Tensor(np.asarray(x, dtype=np.float64))


def sparsemax_numpy(s: np.ndarray, axis: int = -1) -> np.ndarray:
    """sparsemax(s) = [s − τ]₊ along `axis`, τ from the sorted values (Martins & Astudillo 2016, Alg. 1)."""
    s = np.moveaxis(np.asarray(s), axis, -1)
    z = np.sort(s, axis=-1)[..., ::-1]
    k = np.arange(1, s.shape[-1] + 1, dtype=s.dtype)
    cs = np.cumsum(z, axis=-1)
    support = 1 + k * z > cs  # k is in the support while 1 + k z_(k) > Σ_{l≤k} z_(l)
    kz = support.sum(axis=-1, keepdims=True)
    tau = (np.take_along_axis(cs, kz - 1, axis=-1) - 1) / kz
    return np.moveaxis(np.maximum(s - tau, 0), -1, axis)


class Sparsemax(Function):
    """z = sparsemax(s) on the last axis;  s̄ = (z̄ − mean_{S} z̄) on the support S = {z > 0}, 0 elsewhere."""

    def forward(ctx, s):
        z = sparsemax_numpy(s, -1)
        ctx.mask = z > 0
        return z

    def backward(ctx, g):
        m = ctx.mask
        mean = (g * m).sum(-1, keepdims=True) / m.sum(-1, keepdims=True)
        return ((g - mean) * m,)


def sparsemax(s):
    """Sparsemax over the last axis (a Tensor op with the closed-form VJP; no backward_graph: first order only)."""
    s = _as_tensor(s)
    if s.ndim < 1 or s.shape[-1] < 1:
        raise ValueError(f"sparsemax: `s` must have a non-empty last axis, got shape {s.shape}")
    return Sparsemax.apply(s)


ATTENTIONS = ("sparsemax", "softmax")


def interaction_weights(e, W_att, query, values, attention: str = "sparsemax"):
    """w (B, o, m) from field embeddings e (B, m, n_e):  s = q W_attᵀ eᵀ/√d_k, z = sparsemax(s), w = z ⊙ v^w."""
    if attention not in ATTENTIONS:
        raise ValueError(f"interaction_weights: `attention` must be one of {ATTENTIONS}, got {attention!r}")
    e, W_att, query, values = (_as_tensor(t) for t in (e, W_att, query, values))
    d_k = W_att.shape[1]
    keys = e @ W_att  # (B, m, d_k)
    s = (query @ keys.transpose(1, 2)) * (1.0 / math.sqrt(d_k))  # (B, o, m)  bilinear gate, Sec. 3.2
    z = sparsemax(s) if attention == "sparsemax" else ops.softmax(s, dim=-1)
    return z * values  # w_ij = z_ij v^w_ij


def exponential_neurons(e, w, eps: float = EPS):
    """y (B, o, n_e) = exp(w @ ln(|e| + ε)) = Π_j (|e_j| + ε)^{w_ij}, coordinate-wise over the embedding (Sec. 3.2)."""
    e, w = _as_tensor(e), _as_tensor(w)
    if e.ndim != 3 or w.ndim != 3 or w.shape[-1] != e.shape[1] or w.shape[0] != e.shape[0]:
        raise ValueError(
            f"exponential_neurons: need `e` (B, m, n_e) and `w` (B, o, m) with matching B and m, got "
            f"{e.shape} and {w.shape}"
        )
    return ops.exp(w @ ops.log(ops.abs(e) + eps))


class ARMNet(nn.Module):
    """ARM-Net for m numerical fields: softplus-affine field embeddings → o exponential neurons with per-row sparse
    interaction weights → BatchNorm per neuron → MLP (hidden width `hidden`) → `d_out` outputs."""

    def __init__(
        self,
        m: int,
        *,
        n_e: int = 4,
        o: int = 8,
        d_k: int | None = None,
        hidden: int = 32,
        d_out: int = 1,
        attention: str = "sparsemax",
        rng=None,
        dtype=np.float32,
    ):
        super().__init__()
        for name, v in (("m", m), ("n_e", n_e), ("o", o), ("hidden", hidden), ("d_out", d_out)):
            if not (isinstance(v, (int, np.integer)) and v >= 1):
                raise ValueError(f"ARMNet: `{name}` must be an integer ≥ 1, got {v!r}")
        if attention not in ATTENTIONS:
            raise ValueError(f"ARMNet: `attention` must be one of {ATTENTIONS}, got {attention!r}")
        d_k = n_e if d_k is None else d_k  # the official code uses d_k = n_e
        g = np.random.default_rng(rng)
        self.m, self.attention, self.d_out = m, attention, d_out

        def p(*shape, scale):
            return nn.Parameter((g.standard_normal(shape) * scale).astype(dtype))

        self.emb_v = p(m, n_e, scale=0.5)  # e_j = softplus(x_j v_j + b_j) > 0
        self.emb_b = nn.Parameter((1.0 + 0.1 * g.standard_normal((m, n_e))).astype(dtype))
        self.W_att = p(n_e, d_k, scale=1.0 / math.sqrt(n_e))
        self.query = p(o, d_k, scale=1.0)
        self.values = p(o, m, scale=1.0)
        self.bn = nn.BatchNorm1d(o, dtype=dtype)
        self.W1 = p(o * n_e, hidden, scale=1.0 / math.sqrt(o * n_e))
        self.b1 = nn.Parameter(np.zeros(hidden, dtype))
        self.W2 = p(hidden, d_out, scale=1.0 / math.sqrt(hidden))
        self.b2 = nn.Parameter(np.zeros(d_out, dtype))

    def embed(self, x):
        x = _as_tensor(x)
        if x.ndim != 2 or x.shape[1] != self.m:
            raise ValueError(f"ARMNet: `x` must be (B, m = {self.m}), got shape {x.shape}")
        return ops.softplus(
            x.reshape(x.shape[0], self.m, 1) * self.emb_v + self.emb_b
        )  # (B, m, n_e)  Sec. 3.1

    def weights(self, x):
        """The per-row interaction weights w (B, o, m)."""
        return interaction_weights(self.embed(x), self.W_att, self.query, self.values, self.attention)

    def forward(self, x):
        e = self.embed(x)
        w = interaction_weights(e, self.W_att, self.query, self.values, self.attention)
        y = self.bn(exponential_neurons(e, w))  # (B, o, n_e), BN per neuron (arm_bn)
        h = ops.gelu(y.reshape(y.shape[0], -1) @ self.W1 + self.b1)
        out = h @ self.W2 + self.b2
        return out.reshape(out.shape[0]) if self.d_out == 1 else out
