r"""TokenFormer: every linear projection of a network becomes an attention from the input tokens (queries) to
n learnable *parameter tokens* (keys and values), so a layer is grown by appending parameter tokens instead of
widening a weight matrix and retraining from scratch.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.

The method
----------
**Pattention (Sec. 3.2, "token-parameter attention").**  A linear map :math:`X W` with
:math:`W\in\mathbb{R}^{d_1\times d_2}` is replaced by n key tokens :math:`K_P\in\mathbb{R}^{n\times d_1}` and n
value tokens :math:`V_P\in\mathbb{R}^{n\times d_2}`:

.. math::

    \mathrm{Pattention}(X, K_P, V_P) = \Theta\bigl(X K_P^\top\bigr)\, V_P ,

with the softmax of ordinary attention replaced by a normalised nonlinearity Θ applied to each row
:math:`A_i` of the scores :math:`A = X K_P^\top` (``nonlinear_norm_func`` in the official
``megatron/model/tokenformer.py``; the released default ``norm_activation_type = 'l2_norm_gelu'``):

.. math::

    \Theta(A)_{ij} = \mathrm{GeLU}\Bigl(\tau\,\frac{A_{ij}}{\|A_i\|_2}\Bigr),\qquad \tau = \sqrt{n}.

The code also holds ``'gelu_l2_norm'`` (GeLU first, then :math:`\tau\,G_i/\|G_i\|_2`) and ``'softmax'``
(:math:`n\,e^{A_{ij}}/\sum_k e^{A_{ik}}`, the exp/L1 form); all three are in `theta`.  A Pattention with n
tokens is a two-layer MLP of hidden width n with a normalisation in between — n *is* the layer's capacity.

**Progressive scaling (Sec. 3.4).**  To grow a trained layer, append :math:`m` new key/value tokens,
:math:`K_P \leftarrow [K_P;\,K_P^{\mathrm{new}}]`, :math:`V_P \leftarrow [V_P;\,V_P^{\mathrm{new}}]`, with the
new *keys* initialised to zero, and continue training.  A zero key gives the score 0 for every input, the
norm :math:`\|A_i\|` does not change, and :math:`\mathrm{GeLU}(0)=0`, so the new tokens add nothing to the
output — **except that τ = √n follows the token count** (the official code reads
``math.sqrt(inputs.shape[dim])``): every old score is multiplied by :math:`\sqrt{(n+m)/n}` inside the GeLU.
The grown layer is therefore *not* the old function unless τ is kept at its old value; `grow` does the
official thing by default and ``keep_tau=True`` gives the exactly function-preserving variant (our
addition, for comparison).  New value tokens are drawn like the originals: with both keys and values zero
the new tokens would sit at a saddle (no gradient reaches either), as with a LoRA whose two factors are zero.

What is read and what is ours
-----------------------------
Checked against the official code: the Pattention forward (``query @ key.T``, the three normalisations, the
√n / n scale from the last axis, ``attn_weight @ value``) in ``megatron/model/tokenformer.py``.  The paper's
full text was not available here, so formulas are cited by section and code file, not equation number.
Ours: a small ε inside the L2 norm (a zero row of scores would otherwise give 0/0), the initialisation of
the tokens (keys N(0, 1/d₁), values N(0, 1/n)), the optimiser state restarted at growth, and the toy
network (two Pattention layers with a parameter-free layer norm between, on the 8×8 digits).

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/architectures/tokenformer.ipynb
"""

from __future__ import annotations

import math

import numpy as np

from .... import nn
from ....autograd import ops
from ....autograd.tensor import Tensor
from ....nn import functional as F

CATALOG_ENTRY = {
    "slug": "tokenformer",
    "title": "TokenFormer: Rethinking Transformer Scaling with Tokenized Model Parameters",
    "authors": "Haiyang Wang, Yue Fan, Muhammad Ferjad Naeem, Yongqin Xian, Jan Eric Lenssen, Liwei Wang, "
    "Federico Tombari, Bernt Schiele",
    "year": 2024,
    "arxiv": "2410.23168",
    "family": "architectures",
    "notebook": "notebooks/architectures/tokenformer.ipynb",
    "verified": "official-code",
    "verification_note": (
        "Checked against the official code (Haiyang-W/TokenFormer, megatron/model/tokenformer.py): Pattention = "
        "Θ(X K_Pᵀ) V_P with Θ one of 'l2_norm_gelu' (default: GeLU(√n·A/‖A‖₂) row-wise), 'gelu_l2_norm' "
        "(√n·GeLU(A)/‖GeLU(A)‖₂) or 'softmax' (n·exp(A)/‖exp(A)‖₁), the scale read from the token count.  The "
        "abstract was read; the paper's full text was not available, so formulas are cited by section and "
        "code file.  Ours: ε in the norm, token initialisation, Adam restarted at growth, a two-layer "
        "Pattention classifier on the 8×8 digits."
    ),
    "summary": (
        "Replace each linear projection by Pattention: the inputs attend to n learnable key/value parameter "
        "tokens through a normalised GeLU instead of a softmax.  Scale a trained model by appending new "
        "key/value tokens with zero keys and continuing training, instead of training the larger model from "
        "scratch.  Because τ = √n follows the token count, appended zero tokens change the function unless "
        "τ is frozen."
    ),
    "equations": [
        "Pattention(X, K_P, V_P) = Θ(X K_Pᵀ) V_P,  K_P ∈ ℝ^{n×d₁}, V_P ∈ ℝ^{n×d₂}",
        "Θ(A)_ij = GeLU(τ A_ij / ‖A_i‖₂),  τ = √n  ('l2_norm_gelu', official default)",
        "grow: K_P ← [K_P; 0_{m×d₁}],  V_P ← [V_P; V_new],  then continue training",
        "a zero key gives Θ = GeLU(0) = 0, but τ becomes √(n+m): old scores scale by √((n+m)/n)",
    ],
}

KINDS = ("l2_norm_gelu", "gelu_l2_norm", "softmax")
EPS = 1e-12  # inside the L2 norm: a zero row of scores gives 0 instead of 0/0 (ours)


def _as_tensor(x):
    return x if isinstance(x, Tensor) else Tensor(np.asarray(x, dtype=np.float64))


def _check_kind(kind, fn):
    if kind not in KINDS:
        raise ValueError(f"{fn}: `kind` must be one of {KINDS}, got {kind!r}")


def theta(A, kind: str = "l2_norm_gelu", tau: float | None = None):
    """The normalised nonlinearity Θ on the last axis of the scores A (n = A.shape[-1]); τ defaults to √n
    (n for 'softmax'), as the official code reads it from the token count."""
    _check_kind(kind, "theta")
    A = _as_tensor(A)
    n = A.shape[-1]
    if tau is not None and not tau > 0:
        raise ValueError(f"theta: `tau` must be > 0 or None, got {tau!r}")
    if kind == "softmax":  # exp / L1, scaled by n
        E = ops.exp(A - Tensor(A.data.max(axis=-1, keepdims=True)))
        return E / E.sum(axis=-1, keepdims=True) * (n if tau is None else tau)
    tau = math.sqrt(n) if tau is None else float(tau)
    if kind == "l2_norm_gelu":  # GeLU(τ A / ‖A‖₂)  (Sec. 3.2, official default)
        norm = ((A * A).sum(axis=-1, keepdims=True) + EPS).sqrt()
        return ops.gelu(A / norm * tau)
    G = ops.gelu(A)  # 'gelu_l2_norm': τ GeLU(A) / ‖GeLU(A)‖₂
    return G / ((G * G).sum(axis=-1, keepdims=True) + EPS).sqrt() * tau


def pattention(X, K_P, V_P, kind: str = "l2_norm_gelu", tau: float | None = None):
    """Θ(X K_Pᵀ) V_P  (Sec. 3.2): inputs (…, d₁) attend to n parameter tokens K_P (n, d₁), V_P (n, d₂)."""
    X, K_P, V_P = _as_tensor(X), _as_tensor(K_P), _as_tensor(V_P)
    if K_P.ndim != 2 or V_P.ndim != 2 or K_P.shape[0] != V_P.shape[0]:
        raise ValueError(
            f"pattention: `K_P` and `V_P` must be (n, d₁) and (n, d₂) with the same n, got {K_P.shape} "
            f"and {V_P.shape}"
        )
    if X.shape[-1] != K_P.shape[1]:
        raise ValueError(
            f"pattention: `X` must end in d₁ = {K_P.shape[1]} (K_P's width), got shape {X.shape}"
        )
    return theta(X @ K_P.T, kind, tau) @ V_P


class Pattention(nn.Module):
    """A token-parameter attention layer d_in → d_out with n key/value parameter tokens.  `tau=None`
    follows the official code (τ = √n of the current token count); a number freezes τ."""

    def __init__(
        self,
        d_in: int,
        d_out: int,
        n: int,
        *,
        kind: str = "l2_norm_gelu",
        tau=None,
        rng=None,
        dtype=np.float32,
    ):
        super().__init__()
        for name, v in (("d_in", d_in), ("d_out", d_out), ("n", n)):
            if not (isinstance(v, (int, np.integer)) and v >= 1):
                raise ValueError(f"Pattention: `{name}` must be an integer ≥ 1, got {v!r}")
        _check_kind(kind, "Pattention")
        g = np.random.default_rng(rng)
        self.kind, self.tau = kind, tau
        self.key_tokens = nn.Parameter((g.standard_normal((n, d_in)) / math.sqrt(d_in)).astype(dtype))
        self.value_tokens = nn.Parameter((g.standard_normal((n, d_out)) / math.sqrt(n)).astype(dtype))

    @property
    def n(self) -> int:
        return self.key_tokens.shape[0]

    def forward(self, x):
        return pattention(x, self.key_tokens, self.value_tokens, self.kind, self.tau)


def grow(layer: Pattention, m: int, *, rng=None, keep_tau: bool = False) -> Pattention:
    """A new Pattention with m tokens appended to `layer` (Sec. 3.4): zero keys, values drawn as at init
    (N(0, 1/n_old)).  `keep_tau=True` freezes τ at the old √n, so the grown layer computes exactly the old
    function; the default lets τ follow the new count, as the official code does."""
    if not isinstance(layer, Pattention):
        raise TypeError(f"grow: `layer` must be a Pattention, got {type(layer).__name__}")
    if not (isinstance(m, (int, np.integer)) and m >= 1):
        raise ValueError(f"grow: `m` must be an integer ≥ 1, got {m!r}")
    K, V = layer.key_tokens.data, layer.value_tokens.data
    n, d_in, d_out = K.shape[0], K.shape[1], V.shape[1]
    tau = layer.tau
    if keep_tau and tau is None:
        tau = math.sqrt(n) if layer.kind != "softmax" else float(n)
    new = Pattention(d_in, d_out, n + m, kind=layer.kind, tau=tau, rng=0, dtype=K.dtype)
    V_new = np.random.default_rng(rng).standard_normal((m, d_out)) / math.sqrt(n)
    new.key_tokens = nn.Parameter(np.concatenate([K, np.zeros((m, d_in), K.dtype)]))
    new.value_tokens = nn.Parameter(np.concatenate([V, V_new.astype(V.dtype)]))
    return new


class TokenMLP(nn.Module):
    """The toy network: Pattention(d_in → hidden, n) → parameter-free layer norm → Pattention(hidden → out, n).
    Every learned weight is a parameter token."""

    def __init__(self, d_in: int, hidden: int, d_out: int, n: int, *, rng=None, dtype=np.float32, **kw):
        super().__init__()
        self.p1 = Pattention(d_in, hidden, n, rng=[0 if rng is None else rng, 1], dtype=dtype, **kw)
        self.p2 = Pattention(hidden, d_out, n, rng=[0 if rng is None else rng, 2], dtype=dtype, **kw)

    def forward(self, x):
        h = self.p1(x)
        return self.p2(F.layer_norm(h, (h.shape[-1],)))


def grow_model(model: TokenMLP, m: int, *, seed: int = 0, keep_tau: bool = False) -> TokenMLP:
    """The same TokenMLP with m zero-key tokens appended to both Pattention layers (`grow`)."""
    out = TokenMLP.__new__(TokenMLP)
    nn.Module.__init__(out)
    out.p1 = grow(model.p1, m, rng=[seed, 11], keep_tau=keep_tau)
    out.p2 = grow(model.p2, m, rng=[seed, 12], keep_tau=keep_tau)
    return out
