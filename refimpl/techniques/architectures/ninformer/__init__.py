r"""NiNformer: the attention sub-layer of a transformer block is replaced by a *network in network* unit — an
inner MLP-Mixer block, whose token mixing looks across all tokens, **generates an element-wise gate** that
multiplies a linear projection of the same input.  The gate depends on the input (dynamic, like attention),
but costs only MLPs along the token and channel axes (linear in the number of tokens, like the MLP-Mixer).

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.

The method
----------
Let :math:`X\in\mathbb{R}^{n\times d}` be n tokens of width d, LN a layer norm over the channels and
:math:`\mathrm{FF}_{a\to h\to a}(z) = W_2\,\mathrm{GELU}(W_1 z + b_1) + b_2` a two-layer MLP.

**Inner network: an MLP-Mixer block (Sec. 3, the "sub-unit"; ``MixerBlock`` in the official
``ninformer.py``).**  Token mixing applies one MLP along the *token* axis, shared by all channels; channel
mixing applies one MLP along the channel axis, shared by all tokens:

.. math::

    U = X + \bigl(\mathrm{FF}_{n\to h\to n}(\mathrm{LN}(X)^\top)\bigr)^\top ,\qquad
    G = U + \mathrm{FF}_{d\to h\to d}(\mathrm{LN}(U)) .

Column c of :math:`\mathrm{LN}(X)` (channel c over the n tokens) goes through the token MLP, so output token
i is a function of every input token — the only place where tokens meet.

**Gating unit (``MixerGatingUnit``).**  The Mixer output is used as a gate on a linear projection of the
same input, element by element:

.. math::

    \mathrm{MGU}(X) = (X W_p^\top + b_p)\,\odot\,G(X).

In the MLP-Mixer G itself is the block's output and its token weights are fixed after training (static
mixing); here G multiplies a second path, so every output element is a product of a per-token linear
function and a token-mixed, input-dependent coefficient — the "dynamic gating" of the title.

**Outer network (``NiNBlock``).**  A pre-norm transformer block with the attention replaced by the MGU:

.. math::

    Y = X + \mathrm{MGU}(\mathrm{LN}(X)),\qquad Z = Y + \mathrm{FF}_{d\to h\to d}(\mathrm{LN}(Y)).

The official code applies *one* LayerNorm module (one γ, β) before both sub-layers; `NiNBlock` does the same
(``shared_norm=True``), ``shared_norm=False`` gives the usual two.  The official code passes the same hidden
width h (``d_ffn``) to the token MLP, the Mixer's channel MLP and the outer MLP; so do we.

What is read and what is ours
-----------------------------
Checked against the authors' code (github.com/Abdullah-88/NiNformer, ``ninformer.py``: ``FeedForward``,
``MixerBlock``, ``MixerGatingUnit``, ``NiNBlock``).  The paper's full text was not readable here (only its
abstract and summaries), so formulas are cited by section and code class, not by equation number.  Ours:
the classifier around the blocks (a linear patch embedding, a learned position embedding, a final layer
norm, mean pooling over tokens, a linear head — the official ``train.py`` was not read), the
initialisation (PyTorch's defaults, position embedding N(0, 0.02²)), no dropout, and the baselines' exact
layout (a pre-norm ViT block with one head; an MLP-Mixer of the same `MixerBlock`).

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.  All layers
here are plain compositions of `refimpl.nn` primitives (no custom backward); `MixerBlock` and `ViTBlock` are
general and could move to `refimpl.nn`.

Notebook: notebooks/architectures/ninformer.ipynb
"""

from __future__ import annotations

import numpy as np

from .... import nn
from ....autograd import ops
from ....autograd.tensor import Tensor

CATALOG_ENTRY = {
    "slug": "ninformer",
    "title": "NiNformer: A Network in Network Transformer with Token Mixing Generated Gating Function",
    "authors": "Abdullah Nazhat Abdullah, Tarkan Aydin",
    "year": 2024,
    "arxiv": "2403.02411",
    "family": "architectures",
    "notebook": "notebooks/architectures/ninformer.ipynb",
    "verified": "official-code",
    "verification_note": (
        "Checked against the official code (Abdullah-88/NiNformer, ninformer.py): MixerGatingUnit = "
        "Linear(x) ⊙ MixerBlock(x), MixerBlock = token-mixing MLP (on the transposed, layer-normed input) "
        "then channel MLP, each with a residual; NiNBlock = x + MGU(LN(x)), then + FF(LN(·)) with one "
        "shared LayerNorm.  The paper's full text was not readable here (abstract and summaries only), so "
        "formulas cite sections and code classes.  Ours: the classifier head (patch embedding, position "
        "embedding, mean pooling), initialisation, no dropout."
    ),
    "summary": (
        "Replace the attention sub-layer of a transformer block by a network-in-network unit: an inner "
        "MLP-Mixer block (token mixing across patches, then channel mixing) generates an element-wise gate "
        "that multiplies a linear projection of the input.  The gate is input-dependent (dynamic), unlike "
        "the MLP-Mixer's static token weights, and costs O(n) in the number of tokens, unlike attention."
    ),
    "equations": [
        "token mixing: U = X + (FF_{n→h→n}(LN(X)ᵀ))ᵀ;  channel mixing: G = U + FF_{d→h→d}(LN(U))",
        "gating unit: MGU(X) = (X W_pᵀ + b_p) ⊙ G(X)",
        "NiN block: Y = X + MGU(LN(X)),  Z = Y + FF_{d→h→d}(LN(Y))  (one shared LN, official code)",
    ],
}

KINDS = ("ninformer", "mlp-mixer", "vit")


def _as_tensor(x):
    return x if isinstance(x, Tensor) else Tensor(np.asarray(x, dtype=np.float64))


def _check_int(name, v, fn, low=1):
    if not (isinstance(v, (int, np.integer)) and v >= low):
        raise ValueError(f"{fn}: `{name}` must be an integer ≥ {low}, got {v!r}")


def feed_forward(z, W1, b1, W2, b2):
    """FF(z) = W₂ GELU(W₁ z + b₁) + b₂ on the last axis (PyTorch layout: W of shape (out, in))."""
    return ops.linear(ops.gelu(ops.linear(z, W1, b1)), W2, b2)


def token_mixing(X, W1, b1, W2, b2):
    """The MLP along the *token* axis (Sec. 3, inner sub-unit): X (…, n, d) → (…, n, d); channel c of the
    output is FF_{n→h→n}(X[..., :, c]), one MLP shared by every channel."""
    X, W1, W2 = _as_tensor(X), _as_tensor(W1), _as_tensor(W2)
    if X.ndim < 2:
        raise ValueError(f"token_mixing: `X` must be (…, n, d), got shape {X.shape}")
    n = X.shape[-2]
    if W1.ndim != 2 or W1.shape[1] != n or W2.ndim != 2 or W2.shape != (n, W1.shape[0]):
        raise ValueError(
            f"token_mixing: `W1` must be (h, n={n}) and `W2` (n={n}, h), got {W1.shape} and {W2.shape}"
        )
    Xt = ops.transpose(X, -1, -2)  # (…, d, n): each row is one channel across the tokens
    return ops.transpose(feed_forward(Xt, W1, b1, W2, b2), -1, -2)


def gate(X, W_p, b_p, G):
    """MGU(X) = (X W_pᵀ + b_p) ⊙ G  (``MixerGatingUnit``): the projection gated element-wise by G."""
    X, G = _as_tensor(X), _as_tensor(G)
    U = ops.linear(X, _as_tensor(W_p), None if b_p is None else _as_tensor(b_p))
    if tuple(U.shape) != tuple(G.shape):
        raise ValueError(f"gate: `G` must have the projection's shape {U.shape}, got {G.shape}")
    return U * G


class FeedForward(nn.Module):
    """FF_{a→h→a}: Linear(a, h) → GELU → Linear(h, a)."""

    def __init__(self, a: int, h: int, *, rng=None, dtype=np.float32):
        super().__init__()
        g = np.random.default_rng(rng)
        self.fc1 = nn.Linear(a, h, dtype=dtype, rng=g)
        self.fc2 = nn.Linear(h, a, dtype=dtype, rng=g)

    def forward(self, z):
        return feed_forward(z, self.fc1.weight, self.fc1.bias, self.fc2.weight, self.fc2.bias)


class MixerBlock(nn.Module):
    """The MLP-Mixer block: U = X + token_mix(LN(X)), G = U + FF(LN(U)).  Input (…, n, d)."""

    def __init__(self, d: int, n: int, h: int, *, rng=None, dtype=np.float32):
        super().__init__()
        for name, v in (("d", d), ("n", n), ("h", h)):
            _check_int(name, v, "MixerBlock")
        g = np.random.default_rng(rng)
        self.n = n
        self.norm1 = nn.LayerNorm(d, dtype=dtype)
        self.token = FeedForward(n, h, rng=g, dtype=dtype)
        self.norm2 = nn.LayerNorm(d, dtype=dtype)
        self.channel = FeedForward(d, h, rng=g, dtype=dtype)

    def forward(self, X):
        t = self.token
        U = X + token_mixing(self.norm1(X), t.fc1.weight, t.fc1.bias, t.fc2.weight, t.fc2.bias)
        return U + self.channel(self.norm2(U))


class MixerGatingUnit(nn.Module):
    """MGU(X) = (X W_pᵀ + b_p) ⊙ MixerBlock(X): the token-mixing network generates the gate."""

    def __init__(self, d: int, n: int, h: int, *, rng=None, dtype=np.float32):
        super().__init__()
        g = np.random.default_rng(rng)
        self.mixer = MixerBlock(d, n, h, rng=g, dtype=dtype)
        self.proj = nn.Linear(d, d, dtype=dtype, rng=g)

    def forward(self, X):
        return gate(X, self.proj.weight, self.proj.bias, self.mixer(X))


class NiNBlock(nn.Module):
    """Y = X + MGU(LN(X)), Z = Y + FF(LN(Y)); one LayerNorm for both (official) unless shared_norm=False."""

    def __init__(self, d: int, n: int, h: int, *, shared_norm: bool = True, rng=None, dtype=np.float32):
        super().__init__()
        g = np.random.default_rng(rng)
        self.norm = nn.LayerNorm(d, dtype=dtype)
        self.norm2 = None if shared_norm else nn.LayerNorm(d, dtype=dtype)
        self.mgu = MixerGatingUnit(d, n, h, rng=g, dtype=dtype)
        self.ffn = FeedForward(d, h, rng=g, dtype=dtype)

    def forward(self, X):
        Y = X + self.mgu(self.norm(X))
        return Y + self.ffn((self.norm if self.norm2 is None else self.norm2)(Y))


class ViTBlock(nn.Module):
    """The block NiNformer replaces (baseline): Y = X + MSA(LN(X)), Z = Y + FF(LN(Y))."""

    def __init__(self, d: int, n: int, h: int, *, heads: int = 1, rng=None, dtype=np.float32):
        super().__init__()
        g = np.random.default_rng(rng)
        self.norm1 = nn.LayerNorm(d, dtype=dtype)
        self.attn = nn.MultiHeadAttention(d, heads, dtype=dtype, rng=g)
        self.norm2 = nn.LayerNorm(d, dtype=dtype)
        self.ffn = FeedForward(d, h, rng=g, dtype=dtype)

    def forward(self, X):
        Y = X + self.attn(self.norm1(X), self.norm1(X), self.norm1(X))
        return Y + self.ffn(self.norm2(Y))


_BLOCKS = {"ninformer": NiNBlock, "mlp-mixer": MixerBlock, "vit": ViTBlock}


class PatchClassifier(nn.Module):
    """Patches (B, n, p) → Linear(p, d) + position embedding → `depth` blocks of `kind` → LN → mean over
    tokens → Linear(d, classes).  `kind` is 'ninformer', 'mlp-mixer' or 'vit' (the head is ours)."""

    def __init__(
        self,
        patch_dim: int,
        n: int,
        d: int,
        h: int,
        classes: int,
        *,
        depth: int = 2,
        kind: str = "ninformer",
        rng=None,
        dtype=np.float32,
    ):
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"PatchClassifier: `kind` must be one of {KINDS}, got {kind!r}")
        for name, v in (("patch_dim", patch_dim), ("n", n), ("d", d), ("h", h), ("classes", classes)):
            _check_int(name, v, "PatchClassifier")
        _check_int("depth", depth, "PatchClassifier")
        g = np.random.default_rng(rng)
        self.kind, self.n, self.patch_dim = kind, n, patch_dim
        self.embed = nn.Linear(patch_dim, d, dtype=dtype, rng=g)
        self.pos = nn.Parameter((0.02 * g.standard_normal((n, d))).astype(dtype))
        self.blocks = nn.ModuleList([_BLOCKS[kind](d, n, h, rng=g, dtype=dtype) for _ in range(depth)])
        self.norm = nn.LayerNorm(d, dtype=dtype)
        self.head = nn.Linear(d, classes, dtype=dtype, rng=g)

    def forward(self, x):
        x = _as_tensor(x)
        if x.ndim != 3 or tuple(x.shape[1:]) != (self.n, self.patch_dim):
            raise ValueError(
                f"PatchClassifier: `x` must be (batch, n={self.n}, patch_dim={self.patch_dim}), got {x.shape}"
            )
        z = self.embed(x) + self.pos
        for b in self.blocks:
            z = b(z)
        return self.head(self.norm(z).mean(axis=1))


def num_params(model: nn.Module) -> int:
    """The number of scalar parameters of `model`."""
    return int(sum(p.data.size for p in model.parameters()))
