r"""SLAB: progressive re-parameterized BatchNorm (PRepBN) and simplified linear attention (SLA).

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.
Official code: github.com/xinghaochen/SLAB — `classification/models/prepbn.py` (`RepBN`, `LinearNorm`),
`classification/models/slab_deit.py` (the simplified linear `Attention`, the DeiT models with
`LinearNorm(step=60000)`), `classification/models/swin_transformer.py` (`merge_bn`: the fold at inference).
The paper's body was not available to us: formula lines cite the official code by file and line.

The idea
--------
LayerNorm computes statistics at inference time; BatchNorm does not — its statistics are frozen, so in
eval mode it is an affine map that folds into the adjacent linear layer — but swapping LN for BN in a
transformer "often leads to inferior performance and collapse in training" (the abstract).  SLAB
(1) re-parameterizes BN with a learnable skip, and (2) moves from LN to it progressively:

$$ \mathrm{RepBN}(x) = \mathrm{BN}(x) + \alpha\,x, \qquad \alpha \text{ learnable, initialised to } 1
   \qquad\text{(prepbn.py L9, L14)} $$
$$ \mathrm{PRepBN}(x) = \lambda\,\mathrm{LN}(x) + (1-\lambda)\,\mathrm{RepBN}(x), \qquad
   \lambda = r_0\,\frac{T - s}{T}\ \ (s = 0, 1, \dots;\ \lambda = 0 \text{ from } s = T \text{ on})
   \qquad\text{(prepbn.py L35–40)} $$

with $s$ counting the layer's training forward calls after an optional LN-only warm-up; at inference only
RepBN is used (L42), so the trained network must have reached λ = 0 for train and test to agree.  The
gradient of a PRepBN layer splits the same way: $\partial y/\partial\theta_{LN} = \lambda\,\partial
\mathrm{LN}/\partial\theta_{LN}$ and $\partial y/\partial\theta_{Rep} = (1-\lambda)\,\partial
\mathrm{RepBN}/\partial\theta_{Rep}$, so LN's parameters learn early and stop learning as λ → 0, while
RepBN's are switched on gradually.

**The fold.**  In eval mode BN uses its running statistics, so RepBN is a per-channel affine map:

$$ \mathrm{RepBN}(x) = \gamma\frac{x-\mu}{\sqrt{\sigma^2+\epsilon}} + \beta + \alpha x = a\odot x + c,
   \qquad a = \frac{\gamma}{\sqrt{\sigma^2+\epsilon}} + \alpha,\quad c = \beta - \frac{\gamma\mu}{\sqrt{\sigma^2+\epsilon}} $$

and it folds into the next linear layer: $W(a\odot x + c) + b = (W\,\mathrm{diag}(a))\,x + (Wc + b)$
(swin_transformer.py L245–251).  In a pre-norm block the next layers are the attention's qkv projection
and the MLP's first layer; the final norm folds through the (linear) mean over tokens into the head.

**The simplified linear attention** replaces softmax by a ReLU kernel and adds a depthwise conv on V:

$$ \mathrm{SLA}(Q, K, V) = \frac{\mathrm{ReLU}(Q)\,\big(\mathrm{ReLU}(K)^\top V\big)}
   {\mathrm{ReLU}(Q)\,\sum_j \mathrm{ReLU}(K)_j^\top + 10^{-6}} + \mathrm{DWC}(V)
   \qquad\text{(slab_deit.py L80–81, L91, L93–94, L100–102)} $$

with a learnable positional encoding added to K before the ReLU (L77).  By associativity
$(\mathrm{ReLU}(Q)\mathrm{ReLU}(K)^\top)V = \mathrm{ReLU}(Q)(\mathrm{ReLU}(K)^\top V)$: the right-hand side costs
$O(N d^2)$ instead of $O(N^2 d)$ for N tokens of width d, linear in N.

What is implemented, and deviations
-----------------------------------
* `RepBN`, `LinearNorm` (the PRepBN schedule), the SLA, and the fold of every RepBN (or plain BN) into
  the next Linear (`fold_model`), as in the official code.  The λ counter counts training forward calls, as
  `LinearNorm`'s `iter` buffer does.
* `TinyViT`, a DeiT-like model on 8×8 digits cut into 16 patches of 2×2 (no class token, mean over
  tokens, as the official SLAB DeiT), with a 3×3 DWC on the 4×4 token grid instead of 5×5 on 14×14, no
  dropout.  Linear layers of the blocks and the head start as in the official DeiT (`_init_vit_weights`:
  N(0, 0.02²) weights, zero biases; the patch embedding keeps its default initialisation, as the
  official convolutional patch embedding does).  See `experiment.py` for the training recipe.

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/regularization-normalization/slab-prepbn.ipynb
"""

from __future__ import annotations

import copy

import numpy as np

from ....autograd import ops
from ....autograd.tensor import Tensor
from ....nn import functional as F
from ....nn.module import Module, Parameter

CATALOG_ENTRY = {
    "slug": "slab-prepbn",
    "title": "SLAB: Efficient Transformers with Simplified Linear Attention and Progressive Re-parameterized "
    "Batch Normalization",
    "authors": "Jialong Guo, Xinghao Chen, Yehui Tang, Yunhe Wang",
    "year": 2024,
    "arxiv": "2405.11582",
    "family": "regularization-normalization",
    "notebook": "notebooks/regularization-normalization/slab-prepbn.ipynb",
    "verified": "official-code",
    "verification_note": (
        "Read in xinghaochen/SLAB: RepBN = BN over tokens + α·x with α init 1 and LinearNorm's warm-up, "
        "λ = r0·iter/total_step decremented per training call, eval = RepBN only (classification/models/"
        "prepbn.py L6-43); the simplified linear attention — K + positional encoding, ReLU kernel, "
        "z = 1/(q·Σk + 1e-6), DWC on V shared by the heads (slab_deit.py L68-106) — and the DeiT models' "
        "LinearNorm(step=60000) (L385); the fold a = γ/√(σ²+ε) + α, c = β − γμ/√(σ²+ε), W' = W diag(a), "
        "b' = W c + b (swin_transformer.py merge_bn, L233-275). Checked to 1e-10 in float64. The paper's "
        "body (equation numbers, ablation tables) was not available."
    ),
    "summary": (
        "Replace LayerNorm in transformers by RepBN(x) = BN(x) + αx, reached progressively from LN "
        "(λ·LN + (1−λ)·RepBN, λ decaying linearly to 0); at inference RepBN is an affine map folded into "
        "the next linear layer. Attention is a ReLU-kernel linear attention plus a depthwise conv on V."
    ),
    "equations": [
        "RepBN(x) = BN(x) + α x,  α init 1   (prepbn.py L9, L14)",
        "PRepBN(x) = λ LN(x) + (1 − λ) RepBN(x),  λ = r0 (T − s)/T after warm-up; eval: RepBN only   (L35-42)",
        "eval RepBN(x) = a ⊙ x + c,  a = γ/√(σ²+ε) + α,  c = β − γ μ/√(σ²+ε)   (merge_bn)",
        "W (a ⊙ x + c) + b = (W diag a) x + (W c + b)   (merge_bn)",
        "SLA = ReLU(Q)(ReLU(K)ᵀV) / (ReLU(Q) Σ_j ReLU(K)_j + 1e-6) + DWC(V)   (slab_deit.py L77-102)",
    ],
}

__all__ = [
    "progressive_lambda",
    "repbn_affine",
    "RepBN",
    "TokenBN",
    "LinearNorm",
    "simplified_linear_attention",
    "SLAttention",
    "Block",
    "TinyViT",
    "NORMS",
    "fold_affine_into_next_linear",
    "fold_model",
    "contract_examples",
]


# --- RepBN, PRepBN and the fold --------------------------------------------------------------------------
def progressive_lambda(t: int, total: int, warm: int = 0, r0: float = 1.0):
    """λ at training call t (0-based) as in LinearNorm: None during the warm-up (LN only), then
    r0·(total − s)/total for the s-th post-warm-up call (s = t − warm), 0 from s = total on."""
    if total < 1 or warm < 0:
        raise ValueError(
            f"progressive_lambda: `total` must be ≥ 1 and `warm` ≥ 0, got total={total}, warm={warm}"
        )
    if t < warm:  # prepbn.py L31-33: LN only while warm > 0
        return None
    s = t - warm
    return r0 * max(total - s, 0) / total  # L35-37: λ = r0·iter/total_step, iter counts down to 0


def repbn_affine(bn, alpha=0.0):
    """(a, c) with eval-mode BN(x) + αx = a ⊙ x + c (α = 0: a plain BN)."""
    rstd = 1.0 / np.sqrt(bn.running_var.astype(np.float64) + bn.eps)
    g = bn.weight.data if bn.weight is not None else 1.0
    b = bn.bias.data if bn.bias is not None else 0.0
    alpha = float(np.asarray(getattr(alpha, "data", alpha)).reshape(-1)[0])
    a = g * rstd + alpha  # a = γ/√(σ²+ε) + α
    c = b - g * bn.running_mean * rstd  # c = β − γμ/√(σ²+ε)
    return a, c


class TokenBN(Module):
    """BatchNorm over the tokens of each channel, for x of shape (B, N, C) (the 'direct BN swap')."""

    def __init__(self, dim: int, dtype=np.float64):
        super().__init__()
        from ....nn.layers.norm import BatchNorm1d

        self.bn = BatchNorm1d(dim, dtype=dtype)

    def forward(self, x):
        return ops.transpose(self.bn(ops.transpose(x, 1, 2)), 1, 2)  # (B, C, N): per channel over B and N


class RepBN(TokenBN):
    """BN over the tokens of each channel plus α·x (prepbn.py L6-16)."""

    def __init__(self, dim: int, dtype=np.float64):
        super().__init__(dim, dtype)
        self.alpha = Parameter(np.ones(1, dtype=dtype))  # L9: α = 1

    def forward(self, x):
        return super().forward(x) + self.alpha * x  # L14: BN(x) + αx


class LinearNorm(Module):
    """PRepBN (prepbn.py L19-43): LN during `warm` training calls, then λ·LN + (1−λ)·RepBN with
    λ = r0·(total − s)/total; in eval mode RepBN only."""

    def __init__(self, dim, total, warm=0, r0=1.0, dtype=np.float64):
        super().__init__()
        from ....nn.layers.norm import LayerNorm

        self.total, self.warm, self.r0 = int(total), int(warm), float(r0)
        self.norm1 = LayerNorm(dim, eps=1e-6, dtype=dtype)
        self.norm2 = RepBN(dim, dtype)
        self.register_buffer("calls", np.array(0, dtype=np.int64))

    def forward(self, x):
        if not self.training:
            return self.norm2(x)  # L42: eval uses the second norm only
        lam = progressive_lambda(int(self.calls), self.total, self.warm, self.r0)
        self.calls += 1
        if lam is None:
            return self.norm1(x)
        return lam * self.norm1(x) + (1.0 - lam) * self.norm2(x)  # L40: λ LN + (1 − λ) RepBN


# --- simplified linear attention ------------------------------------------------------------------------
def simplified_linear_attention(q, k, v, dwc_weight, dwc_bias, grid: int, eps: float = 1e-6):
    """q, k, v (B, H, N, d) with N = grid²; ReLU kernel + depthwise conv of V (weight (d, 1, k, k))."""
    q, k = ops.relu(q), ops.relu(k)  # slab_deit.py L80-81
    kv = ops.matmul(ops.transpose(k, -1, -2), v)  # L93: ReLU(K)ᵀ V, (B, H, d, d)
    ksum = ops.sum(k, axis=2, keepdims=True)  # Σ_j ReLU(K)_j, (B, H, 1, d)
    z = 1.0 / (ops.sum(q * ksum, axis=-1, keepdims=True) + eps)  # L91: 1/(q · Σ_j k_j + 1e-6)
    out = ops.matmul(q, kv) * z  # L94
    b, h, n, d = v.shape
    vg = ops.reshape(ops.transpose(ops.reshape(v, (b * h, n, d)), 1, 2), (b * h, d, grid, grid))
    conv = F.conv2d(vg, dwc_weight, dwc_bias, padding=dwc_weight.shape[-1] // 2, groups=d)  # L100-101
    conv = ops.reshape(ops.transpose(ops.reshape(conv, (b * h, d, n)), 1, 2), (b, h, n, d))
    return out + conv  # L102: + DWC(V)


class SLAttention(Module):
    def __init__(self, dim, heads, grid, kernel=3, dtype=np.float64, rng=None):
        super().__init__()
        from ....nn.layers.conv import Conv2d
        from ....nn.layers.linear import Linear

        self.dim, self.heads, self.grid = dim, heads, grid
        self.head_dim = dim // heads
        self.qkv = Linear(dim, 3 * dim, dtype=dtype, rng=rng)
        self.proj = Linear(dim, dim, dtype=dtype, rng=rng)
        self.dwc = Conv2d(
            self.head_dim,
            self.head_dim,
            kernel,
            padding=kernel // 2,
            groups=self.head_dim,
            dtype=dtype,
            rng=rng,
        )
        self.pos = Parameter(np.zeros((1, grid * grid, dim), dtype=dtype))  # L66: zeros

    def _heads(self, t):
        b, n, _ = t.shape
        return ops.transpose(ops.reshape(t, (b, n, self.heads, self.head_dim)), 1, 2)

    def forward(self, x):
        b, n, c = x.shape
        qkv = self.qkv(x)
        q, k, v = qkv[:, :, :c], qkv[:, :, c : 2 * c], qkv[:, :, 2 * c :]
        k = k + self.pos  # L77: positional encoding on K
        o = simplified_linear_attention(
            self._heads(q), self._heads(k), self._heads(v), self.dwc.weight, self.dwc.bias, self.grid
        )
        o = ops.reshape(ops.transpose(o, 1, 2), (b, n, c))
        return self.proj(o)


class Block(Module):
    """Pre-norm block: x + SLA(norm1(x)), then x + MLP(norm2(x))."""

    def __init__(self, dim, heads, grid, norm, mlp_ratio=2, dtype=np.float64, rng=None):
        super().__init__()
        from ....nn.layers.linear import Linear

        self.norm1, self.norm2 = norm(), norm()
        self.attn = SLAttention(dim, heads, grid, dtype=dtype, rng=rng)
        self.fc1 = Linear(dim, mlp_ratio * dim, dtype=dtype, rng=rng)
        self.fc2 = Linear(mlp_ratio * dim, dim, dtype=dtype, rng=rng)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.fc2(F.gelu(self.fc1(self.norm2(x))))


class Identity(Module):
    def forward(self, x):
        return x


NORMS = ("ln", "bn", "repbn", "prepbn")


class TinyViT(Module):
    """8×8 digits → 16 patches of 2×2 → Linear embed + position → blocks → norm → mean over tokens → head.

    norm: "ln" (LayerNorm), "bn" (the direct BN swap), "repbn" (RepBN from the start), "prepbn" (the
    paper: LN → RepBN over `total` training calls after `warm`).
    Linear layers after the embedding start as in DeiT (N(0, 0.02²) weights, zero biases)."""

    def __init__(
        self, norm="prepbn", dim=32, heads=2, depth=2, total=100, warm=0, dtype=np.float64, rng=None
    ):
        super().__init__()
        from ....nn.layers.linear import Linear
        from ....nn.layers.norm import LayerNorm

        rng = np.random.default_rng(rng)
        makers = {
            "ln": lambda: LayerNorm(dim, eps=1e-6, dtype=dtype),
            "bn": lambda: TokenBN(dim, dtype),
            "repbn": lambda: RepBN(dim, dtype),
            "prepbn": lambda: LinearNorm(dim, total, warm, dtype=dtype),
        }
        if norm not in makers:
            raise ValueError(f"TinyViT: `norm` must be one of {NORMS}, got {norm!r}")
        self.norm_kind = norm
        self.embed = Linear(4, dim, dtype=dtype, rng=rng)
        self.pos = Parameter(rng.normal(0, 0.02, size=(1, 16, dim)).astype(dtype))
        self.blocks = [Block(dim, heads, 4, makers[norm], dtype=dtype, rng=rng) for _ in range(depth)]
        for i, b in enumerate(self.blocks):
            setattr(self, f"block{i}", b)
        self.norm = makers[norm]()
        self.head = Linear(dim, 10, dtype=dtype, rng=rng)
        for mod in self.modules():  # DeiT's _init_vit_weights: Linear weights N(0, 0.02²), biases 0
            if isinstance(mod, Linear) and mod is not self.embed:
                mod.weight.data[...] = rng.normal(0, 0.02, size=mod.weight.data.shape)
                mod.bias.data[...] = 0

    @staticmethod
    def patches(x):
        """(B, 64) or (B, 1, 8, 8) digits → (B, 16, 4) patches of 2×2, row-major."""
        x = np.asarray(x).reshape(-1, 4, 2, 4, 2).transpose(0, 1, 3, 2, 4)
        return x.reshape(len(x), 16, 4)

    def forward(self, x):
        if not (isinstance(x, Tensor) and x.ndim == 3):
            x = Tensor(self.patches(getattr(x, "data", x)).astype(self.pos.data.dtype))
        h = self.embed(x) + self.pos
        for b in self.blocks:
            h = b(h)
        h = self.norm(h)
        return self.head(ops.mean(h, axis=1))


def fold_affine_into_next_linear(scale, shift, weight, bias=None):
    """Linear(a ⊙ x + c) = W' x + b' with W' = W diag(a), b' = W c + b.  `weight` is (out, in)."""
    scale, shift, weight = np.asarray(scale), np.asarray(shift), np.asarray(weight)
    if weight.ndim != 2 or scale.shape != (weight.shape[1],) or shift.shape != (weight.shape[1],):
        raise ValueError(
            f"fold_affine_into_next_linear: expected weight (out, in) and scale/shift (in,), got "
            f"weight {weight.shape}, scale {scale.shape}, shift {shift.shape}"
        )
    w_new = weight * scale[None, :]  # W diag(a)
    b_new = weight @ shift + (0.0 if bias is None else np.asarray(bias))  # W c + b
    return w_new, b_new


def _norm_affine(norm):
    """(a, c) of an eval-mode norm that is affine per channel (RepBN, plain token BN, or PRepBN)."""
    if isinstance(norm, LinearNorm):
        norm = norm.norm2
    if isinstance(norm, RepBN):
        return repbn_affine(norm.bn, norm.alpha)
    if isinstance(norm, TokenBN):
        return repbn_affine(norm.bn, 0.0)
    raise TypeError(f"fold: only RepBN / BN / PRepBN norms fold into a Linear, got {type(norm).__name__}")


def _fold_into(linear, norm):
    a, c = _norm_affine(norm)
    w, b = fold_affine_into_next_linear(
        a, c, linear.weight.data, None if linear.bias is None else linear.bias.data
    )
    new = copy.deepcopy(linear)
    new.weight = Parameter(np.asarray(w, dtype=linear.weight.data.dtype))
    new.bias = Parameter(np.asarray(b, dtype=linear.weight.data.dtype))
    return new


def fold_model(model: TinyViT) -> TinyViT:
    """A copy of an eval-mode TinyViT with every norm folded into the next Linear (qkv, fc1, and — through
    the token mean, which is linear — the head); the norms become identities.  Raises TypeError for a
    model with LayerNorm, which has no fixed affine form."""
    m = copy.deepcopy(model)
    m.eval()
    for b in m.blocks:
        b.attn.qkv = _fold_into(b.attn.qkv, b.norm1)
        b.fc1 = _fold_into(b.fc1, b.norm2)
        b.norm1, b.norm2 = Identity(), Identity()
    m.head = _fold_into(m.head, m.norm)
    m.norm = Identity()
    return m


# --- family contract ---------------------------------------------------------------------------------------
def randomised_eval_model(seed: int, norm: str = "prepbn") -> TinyViT:
    """A small float64 TinyViT in eval mode whose RepBN/BN layers have random α and statistics."""
    rng = np.random.default_rng(seed)
    m = TinyViT(norm, dim=8, heads=2, depth=1, total=10, rng=seed)
    for mod in m.modules():
        if isinstance(mod, TokenBN):
            c = mod.bn.num_features
            if isinstance(mod, RepBN):
                mod.alpha.data[...] = rng.uniform(0.5, 1.5)
            mod.bn.weight.data[...] = rng.uniform(0.5, 2, c)
            mod.bn.bias.data[...] = rng.normal(size=c)
            mod.bn.running_mean[...] = rng.normal(size=c)
            mod.bn.running_var[...] = rng.uniform(0.3, 3, c)
    m.eval()
    return m


def contract_examples(seed: int = 0) -> list:
    m = randomised_eval_model(seed)
    x = TinyViT.patches(np.random.default_rng(seed + 1).uniform(0, 1, size=(3, 64)))
    return [
        {
            "kind": "reparam",
            "name": "PRepBN transformer eval vs folded",
            "train": m,
            "deploy": fold_model(m),
            "x": x,
        }
    ]
