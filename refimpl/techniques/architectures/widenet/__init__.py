r"""WideNet: share one transformer block across depth (fewer parameters), make its feed-forward layer a
mixture of experts (more width, the capacity sharing took away), and keep a separate pair of layer norms at
every depth so the one shared block can act differently at each layer.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.

The method
----------
**Mixture of experts (paper, "Mixture-of-Experts" paragraph: MoE(x) = Σᵢ g(x)ᵢ eᵢ(x)).**  E expert FFNs
:math:`e_i` and a router :math:`f(x) = x W_r` (no bias, ``layers.Dense(use_bias=False)`` in the official
``widenet/model_configs.py``, class ``Router``):

.. math::

    \mathrm{MoE}(x) = \sum_{i=1}^{E} g(x)_i\, e_i(x),\qquad
    g(x) = \mathrm{TopK}\bigl(\mathrm{softmax}(f(x) + \epsilon)\bigr),

where TopK keeps the k largest probabilities and zeroes the rest.  The kept gates are the router
probabilities themselves, *not* renormalised over the k (official ``tf.math.top_k(router_probs)``), so the
router learns through the gate values.  ε is exploration noise, N(0, 1/E) in the official code, training only.

**Balanced loading (paper, "Balanced loading"; official ``load_balanced_loss``).**  With T tokens, the
fraction of routing slots sent to expert i, :math:`m_i = \frac{1}{kT}\sum_t \mathbb{1}[i \in \mathrm{TopK}(x_t)]`,
and the mean router probability :math:`P_i = \frac1T \sum_t \mathrm{softmax}(f(x_t))_i`:

.. math::

    \ell_{\mathrm{balance}} = E \sum_{i=1}^{E} m_i\, P_i
    \quad(\text{the code: } E^2 \cdot \mathrm{mean}_i(m_i P_i)),

which is 1 for a perfectly uniform router and grows to E when every token goes to one expert.  m is a count
(no gradient); the gradient reaches the router through P.

**WideNet (paper, "WideNet" section; official ``create_vit_moe_classifier`` with ``share_att``,
``share_ffn`` and ``switch_deepth`` = depth).**  One attention :math:`\mathrm{MHA}` and one MoE are reused at
every layer :math:`\ell = 1..L`; only the layer norms are indexed by ℓ:

.. math::

    x' = \mathrm{MHA}\bigl(\mathrm{LN}^{(\ell)}_{\mathrm{att}}(x)\bigr) + x,\qquad
    x \leftarrow \mathrm{MoE}\bigl(\mathrm{LN}^{(\ell)}_{\mathrm{moe}}(x')\bigr) + x',

and the training loss is :math:`\mathcal{L} = \mathcal{L}_{\mathrm{main}} + \lambda \sum_{\ell}
\ell^{(\ell)}_{\mathrm{balance}}` (one balance term per *application* of the shared router, λ = 0.01).
A LayerNorm has 2d parameters, an attention about 4d², so L private norms cost almost nothing.

Parameter count (`count_parameters`, checked by hand in the tests): attention 4d² + 4d, an FFN of hidden h
2dh + h + d, a MoE E(2dh + h + d) + dE (router), a LayerNorm 2d.  A ViT of depth L holds L attentions, L FFNs
and 2L norms; WideNet one attention, one MoE and 2L norms.

What is read and what is ours
-----------------------------
Checked against the official code (XueFuzhao/WideNet_Code, ``widenet/modeling.py``: shared attention and
shared Switch layer created once when ``i % switch_deepth == 0``, a fresh ``LayerNormalization`` at every
layer; ``widenet/model_configs.py``: ``Router``, ``load_balanced_loss``).  The paper's full text was not
available here, only its abstract and introduction, so equations are cited by section name and code
function, not by number.  Ours: no expert capacity / token dropping (every token reaches its k experts; the
toy is far below any buffer), the router noise off by default (`noise_std`) and off in the experiment (the
routing then depends only on the input, so a step can be checked and replayed), every expert evaluated on
every token and weighted by its (possibly zero) gate — the same output as sparse dispatch, simpler in NumPy —,
the GeLU FFN without the official second GeLU, the toy sizes, a learned positional embedding and mean pooling.

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/architectures/widenet.ipynb
"""

from __future__ import annotations

import math

import numpy as np

from .... import nn
from ....autograd import ops
from ....autograd.tensor import Tensor

CATALOG_ENTRY = {
    "slug": "widenet",
    "title": "Go Wider Instead of Deeper",
    "authors": "Fuzhao Xue, Ziji Shi, Futao Wei, Yuxuan Lou, Yong Liu, Yang You",
    "year": 2022,
    "arxiv": "2107.11817",
    "family": "architectures",
    "notebook": "notebooks/architectures/widenet.ipynb",
    "verified": "official-code",
    "verification_note": (
        "Checked against the official code (XueFuzhao/WideNet_Code, widenet/modeling.py "
        "create_vit_moe_classifier with share_att/share_ffn: one attention and one Switch/MoE layer reused "
        "at every depth, a new LayerNormalization per layer; widenet/model_configs.py Router and "
        "load_balanced_loss: bias-free router, softmax, top-k gates not renormalised, loss E²·mean(m⊙P)).  "
        "The abstract and introduction were read (AAAI 2022; arXiv 2107.11817); the full text was not "
        "available, so equations are cited by section and code function.  Ours: no expert capacity or token "
        "dropping, router noise off, dense evaluation of all experts, toy sizes."
    ),
    "summary": (
        "Share one transformer block (attention and FFN) across all layers to save parameters, replace its "
        "FFN by a mixture of experts (top-k routing with a load-balancing loss) to go wider instead of "
        "deeper, and keep individual LayerNorms per layer so the shared block can transform each layer's "
        "representation differently."
    ),
    "equations": [
        "MoE(x) = Σᵢ g(x)ᵢ eᵢ(x),  g(x) = TopK(softmax(x W_r + ε))  (kept gates not renormalised)",
        "ℓ_balance = E Σᵢ mᵢ Pᵢ,  mᵢ = share of routing slots to expert i,  Pᵢ = mean router probability",
        "x' = MHA(LN_att⁽ˡ⁾(x)) + x,  x ← MoE(LN_moe⁽ˡ⁾(x')) + x'  (MHA, MoE shared; LNs per layer ℓ)",
        "L = L_main + λ Σ_ℓ ℓ_balance⁽ˡ⁾,  λ = 0.01",
    ],
}

LAMBDA = 0.01  # the balance-loss weight λ (paper; official aux_loss_alpha for load_balanced_loss)


def _as_tensor(x):
    return x if isinstance(x, Tensor) else Tensor(np.asarray(x, dtype=np.float64))


def _check_int(name, v, fn, low=1):
    if not (isinstance(v, (int, np.integer)) and v >= low):
        raise ValueError(f"{fn}: `{name}` must be an integer ≥ {low}, got {v!r}")


def top_k_mask(probs, k: int) -> np.ndarray:
    """0/1 array marking each row's k largest entries (ties to the lower index, as a stable sort)."""
    p = np.asarray(getattr(probs, "data", probs))
    _check_int("k", k, "top_k_mask")
    if k > p.shape[-1]:
        raise ValueError(f"top_k_mask: `k` must be ≤ the number of experts {p.shape[-1]}, got {k}")
    idx = np.argsort(-p, axis=-1, kind="stable")[..., :k]
    mask = np.zeros_like(p)
    np.put_along_axis(mask, idx, 1.0, axis=-1)
    return mask


def route(x, W_r, k: int, noise=None):
    """The router on tokens x (T, d) with W_r (d, E): returns (gates (T, E) Tensor, probs (T, E) Tensor,
    mask (T, E) array).  probs = softmax(x W_r + ε); gates = probs on the top-k, 0 elsewhere (TopK)."""
    x, W_r = _as_tensor(x), _as_tensor(W_r)
    if x.ndim != 2 or W_r.ndim != 2 or x.shape[1] != W_r.shape[0]:
        raise ValueError(f"route: `x` must be (T, d) and `W_r` (d, E), got {x.shape} and {W_r.shape}")
    logits = x @ W_r  # f(x)
    if noise is not None:
        logits = logits + Tensor(np.asarray(noise, dtype=logits.dtype))  # + ε (exploration)
    probs = ops.softmax(logits, dim=-1)
    mask = top_k_mask(probs, k)  # TopK: which k experts each token uses
    return probs * Tensor(mask.astype(probs.dtype)), probs, mask


def balance_loss(probs, mask, k: int):
    """ℓ_balance = E Σᵢ mᵢ Pᵢ with mᵢ = mean_t mask[t, i] / k (no gradient) and Pᵢ = mean_t probs[t, i]."""
    probs = _as_tensor(probs)
    mask = np.asarray(mask, dtype=probs.dtype)
    if mask.shape != probs.shape:
        raise ValueError(
            f"balance_loss: `mask` must have the shape of `probs` {probs.shape}, got {mask.shape}"
        )
    E = probs.shape[-1]
    m = mask.mean(axis=0) / k  # share of routing slots per expert (sums to 1)
    P = probs.mean(axis=0)  # mean router probability per expert
    return (P * Tensor(m)).sum() * E


def moe(x, W_r, W1, b1, W2, b2, k: int, noise=None):
    """MoE(x) = Σᵢ g(x)ᵢ eᵢ(x) on tokens x (T, d); expert i is W2[i]ᵀ GeLU(W1[i]ᵀ x + b1[i]) + b2[i] with
    W1 (E, d, h), b1 (E, h), W2 (E, h, d), b2 (E, d).  Returns (output (T, d), ℓ_balance)."""
    x = _as_tensor(x)
    W1, b1, W2, b2 = (_as_tensor(a) for a in (W1, b1, W2, b2))
    E, d, h = W1.shape
    if x.ndim != 2 or x.shape[1] != d or W2.shape != (E, h, d) or b1.shape != (E, h) or b2.shape != (E, d):
        raise ValueError(
            f"moe: `x` (T, {d}) with W1 (E, d, h), b1 (E, h), W2 (E, h, d), b2 (E, d); got x {x.shape}, "
            f"W1 {W1.shape}, b1 {b1.shape}, W2 {W2.shape}, b2 {b2.shape}"
        )
    gates, probs, mask = route(x, W_r, k, noise)  # g(x)
    H = ops.gelu(ops.reshape(x @ ops.reshape(ops.permute(W1, (1, 0, 2)), (d, E * h)), (-1, E, h)) + b1)
    Y = ops.permute(ops.permute(H, (1, 0, 2)) @ W2, (1, 0, 2)) + b2  # (T, E, d): every eᵢ(x)
    out = (Y * ops.reshape(gates, (-1, E, 1))).sum(axis=1)  # Σᵢ g(x)ᵢ eᵢ(x)
    return out, balance_loss(probs, mask, k)


class MoE(nn.Module):
    """E GeLU expert FFNs d → h → d with a bias-free top-k router; `forward` returns the output and stores
    the balance loss of this call in `self.losses` (one entry per call: one per layer when shared)."""

    def __init__(self, d: int, h: int, E: int, k: int, *, noise_std: float = 0.0, rng=None, dtype=np.float32):
        super().__init__()
        for name, v in (("d", d), ("h", h), ("E", E), ("k", k)):
            _check_int(name, v, "MoE")
        if k > E:
            raise ValueError(f"MoE: `k` must be ≤ `E` = {E}, got {k}")
        g = np.random.default_rng(rng)
        self.k, self.noise_std, self.losses = k, float(noise_std), []
        self._noise_rng = np.random.default_rng(g.integers(2**32))
        self.W_r = nn.Parameter((g.standard_normal((d, E)) / math.sqrt(d)).astype(dtype))
        self.W1 = nn.Parameter((g.standard_normal((E, d, h)) / math.sqrt(d)).astype(dtype))
        self.b1 = nn.Parameter(np.zeros((E, h), dtype))
        self.W2 = nn.Parameter((g.standard_normal((E, h, d)) / math.sqrt(h)).astype(dtype))
        self.b2 = nn.Parameter(np.zeros((E, d), dtype))

    def forward(self, x):
        shape = x.shape
        flat = ops.reshape(x, (-1, shape[-1]))
        noise = None
        if self.training and self.noise_std > 0:
            noise = self._noise_rng.normal(0.0, self.noise_std, (flat.shape[0], self.W_r.shape[1]))
        out, loss = moe(flat, self.W_r, self.W1, self.b1, self.W2, self.b2, self.k, noise)
        self.losses.append(loss)
        return ops.reshape(out, shape)


class FFN(nn.Module):
    """The dense feed-forward layer d → h → d (GeLU) that a MoE replaces."""

    def __init__(self, d: int, h: int, *, rng=None, dtype=np.float32):
        super().__init__()
        g = np.random.default_rng(rng)
        self.W1 = nn.Parameter((g.standard_normal((d, h)) / math.sqrt(d)).astype(dtype))
        self.b1 = nn.Parameter(np.zeros(h, dtype))
        self.W2 = nn.Parameter((g.standard_normal((h, d)) / math.sqrt(h)).astype(dtype))
        self.b2 = nn.Parameter(np.zeros(d, dtype))

    def forward(self, x):
        return ops.gelu(x @ self.W1 + self.b1) @ self.W2 + self.b2


class PatchTransformer(nn.Module):
    """A tiny pre-norm vision transformer on patch tokens (N, T, p) → logits (N, classes):
    linear patch embedding + learned positions, `depth` layers, final LayerNorm, mean pooling, linear head.

    * ``share`` — one attention and one FFN/MoE reused at every layer (WideNet, ALBERT-style) or one per
      layer (ViT);
    * ``experts`` — 0 for a dense FFN, else E experts with top-``k`` routing (MoE);
    * ``individual_norms`` — a private pair of LayerNorms per layer (WideNet) or one pair for all layers.

    WideNet is ``share=True, experts=E, individual_norms=True``.  `aux_loss()` is λ Σ ℓ_balance over the
    MoE calls of the last forward (0 without experts)."""

    def __init__(
        self,
        patch_dim: int,
        num_tokens: int,
        num_classes: int,
        *,
        d: int = 16,
        heads: int = 2,
        hidden: int = 32,
        depth: int = 4,
        share: bool = True,
        experts: int = 4,
        k: int = 2,
        individual_norms: bool = True,
        noise_std: float = 0.0,
        rng=None,
        dtype=np.float32,
    ):
        super().__init__()
        for name, v in (("patch_dim", patch_dim), ("num_tokens", num_tokens), ("num_classes", num_classes)):
            _check_int(name, v, "PatchTransformer")
        for name, v in (("d", d), ("heads", heads), ("hidden", hidden), ("depth", depth)):
            _check_int(name, v, "PatchTransformer")
        _check_int("experts", experts, "PatchTransformer", low=0)
        seed = 0 if rng is None else rng
        g = np.random.default_rng([seed, 0] if isinstance(seed, (int, np.integer)) else seed)
        self.depth, self.num_tokens, self.patch_dim = depth, num_tokens, patch_dim
        self.share, self.experts, self.individual_norms = bool(share), experts, bool(individual_norms)
        self.embed = nn.Linear(patch_dim, d, dtype=dtype, rng=g)
        self.pos = nn.Parameter((0.02 * g.standard_normal((num_tokens, d))).astype(dtype))

        def mixer():
            if experts:
                return MoE(d, hidden, experts, k, noise_std=noise_std, rng=g, dtype=dtype)
            return FFN(d, hidden, rng=g, dtype=dtype)

        n_blocks = 1 if share else depth
        self.attn = nn.ModuleList(
            [nn.MultiHeadAttention(d, heads, dtype=dtype, rng=g) for _ in range(n_blocks)]
        )
        self.ffn = nn.ModuleList([mixer() for _ in range(n_blocks)])
        n_norms = depth if individual_norms else 1
        self.norm_att = nn.ModuleList([nn.LayerNorm(d, dtype=dtype) for _ in range(n_norms)])
        self.norm_ffn = nn.ModuleList([nn.LayerNorm(d, dtype=dtype) for _ in range(n_norms)])
        self.norm_out = nn.LayerNorm(d, dtype=dtype)
        self.head = nn.Linear(d, num_classes, dtype=dtype, rng=g)

    def _moes(self):
        return [m for m in self.ffn if isinstance(m, MoE)]

    def forward(self, x):
        x = _as_tensor(x)
        if x.ndim != 3 or x.shape[1:] != (self.num_tokens, self.patch_dim):
            raise ValueError(
                f"PatchTransformer: `x` must be (N, {self.num_tokens}, {self.patch_dim}), got {tuple(x.shape)}"
            )
        for m in self._moes():
            m.losses = []
        h = self.embed(x) + self.pos
        for layer in range(self.depth):
            b = 0 if self.share else layer  # the shared block, or this layer's own
            n = layer if self.individual_norms else 0  # LN⁽ˡ⁾, or one norm for all layers
            h = h + self.attn[b](self.norm_att[n](h))  # x' = MHA(LN_att(x)) + x
            h = h + self.ffn[b](self.norm_ffn[n](h))  # x = MoE(LN_moe(x')) + x'
        return self.head(self.norm_out(h).mean(axis=1))

    def aux_loss(self, lam: float = LAMBDA):
        """λ Σ_ℓ ℓ_balance⁽ˡ⁾ over the MoE calls of the last forward (a 0 Tensor without experts)."""
        losses = [loss for m in self._moes() for loss in m.losses]
        if not losses:
            return Tensor(np.zeros((), dtype=np.float64))
        total = losses[0]
        for loss in losses[1:]:
            total = total + loss
        return total * lam


def count_parameters(module) -> int:
    """The number of scalar trainable parameters (each shared tensor counted once)."""
    return int(sum(p.data.size for p in module.parameters()))


def widenet(patch_dim, num_tokens, num_classes, **kw) -> PatchTransformer:
    """WideNet: shared attention and MoE, individual LayerNorms per layer."""
    return PatchTransformer(patch_dim, num_tokens, num_classes, share=True, individual_norms=True, **kw)
