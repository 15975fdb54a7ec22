r"""RSQ: rotate, scale by token importance, then quantize with GPTQ.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.
Official code: github.com/ylsung/rsq (`fake_quant/gptq_utils.py`, `fake_quant/input_weighting_module.py`).

The idea
--------
GPTQ minimises a layer's output error with every calibration token counted equally,
$\lVert (W-\hat W)X\rVert_F^2$, i.e. with the Hessian $H = \tfrac{2}{N}XX^\top$.  RSQ keeps GPTQ and changes
what it is fed:

1. **Rotate** (the QuaRot step the paper builds on).  For an orthogonal R (a randomised Hadamard matrix),
   $Wx = (WR)(R^\top x)$ exactly.  A channel with a large scale in x (an outlier channel) is spread by
   $R^\top$ over all channels, and the weight columns it multiplied are mixed likewise, so the rotated
   weights have no outlier columns and a per-row grid wastes less range on them.
2. **Scale** each token's contribution by its importance $r_t$ (the paper's contribution, Sec. 3):

$$\min_{\hat W}\;\sum_t r_t\,\lVert (W-\hat W)\,x_t\rVert^2
  \;=\;\operatorname{tr}\big((W-\hat W)\,X\,\mathrm{diag}(r)\,X^\top(W-\hat W)^\top\big),$$

   a quadratic in $\hat W$ whose Hessian (per output row) is $H = 2X\,\mathrm{diag}(r)\,X^\top$ — GPTQ's
   derivation goes through unchanged with this H.  In the rotated basis $x \mapsto R^\top x$ it becomes
   $R^\top H R$.  The code normalises the weights of every sequence to mean 1 before adding its tokens
   (`r ← r·T/Σr`, gptq_utils.py line 126), so each sequence weighs the same in H; `sequence_importance`
   does the same.
3. **Quantize** with GPTQ (Alg. 1 of Frantar et al.) on that H: column by column, round, then move the
   error onto the not-yet-quantized columns, $w_F \leftarrow w_F - \frac{w_j-q_j}{[H^{-1}]_{jj}}[H^{-1}]_{j,F}$.

The importance the paper finds best is *attention concentration* (AttnCon): the total attention a token
receives in the layer's self-attention, summed over heads and queries, min–max normalised to
[r_min, r_max] = [1, 3] within each sequence (input_weighting_module.py lines 25–40 and 179–194):

$$r_t = \mathrm{norm}_{[r_{\min}, r_{\max}]}\Big(\sum_{h}\sum_{q} A^{(h)}_{q,t}\Big).$$

What is simplified
------------------
The rotation is applied *online* to each quantized layer's input (Ŵ_eff = Q(WR)·Rᵀ) instead of being fused
into the neighbouring layers and norms (QuaRot's `rotate_model`) — the same quantization problem for the
layer, without the fusion bookkeeping.  Per-output-channel symmetric min–max grids (the code's default
`WeightQuantizer` without the MSE clip search).  LLaMA becomes a one-block character transformer and a
synthetic attention layer (experiment.py).

Notebook: notebooks/quantization/rsq.ipynb
"""

from __future__ import annotations

import numpy as np

from ....autograd.tensor import Tensor, no_grad
from ..quantizers import gptq, hessian

CATALOG_ENTRY = {
    "slug": "rsq",
    "title": "RSQ: Learning from Important Tokens Leads to Better Quantized LLMs",
    "authors": "Yi-Lin Sung, Prateek Yadav, Jialu Li, Jaehong Yoon, Mohit Bansal",
    "year": 2025,
    "arxiv": "2503.01820",
    "family": "quantization",
    "notebook": "notebooks/quantization/rsq.ipynb",
    "verified": "official-code",
    "verification_note": (
        "Read in ylsung/rsq (commit 1a7cf31d): AttnCon = attention summed over heads then over queries, "
        "mean over the batch, min-max normalised to [1, 3] per sequence (fake_quant/input_weighting_module.py "
        "lines 25-40 normalize_weight, 160-194 OriginalAttentionWeighting.compute_weight); the weighted "
        "Hessian H += (2/n)·X diag(r) Xᵀ with r rescaled to mean 1 per sequence (fake_quant/gptq_utils.py "
        "lines 111-130 add_batch); GPTQ column loop with percdamp 0.01 and Cholesky of H⁻¹ (lines 132-229); "
        "sequential quantization q/k/v → o → up/gate → down with the weighting computed once per layer "
        "and applied to all its modules, lm_head kept in 16 bits (lines 480-676). The rotation is "
        "QuaRot's (fake_quant/main.py line 42-44, rotation_utils.rotate_model), applied online per layer "
        "here instead of fused."
    ),
    "summary": (
        "Rotate each layer's input space with a randomised Hadamard matrix to spread outliers, weight every "
        "calibration token by its importance (the attention it receives) in the layer-wise objective, and "
        "quantize with GPTQ on the resulting weighted Hessian."
    ),
    "equations": [
        "W x = (W R)(Rᵀ x),  R = H_d·diag(±1)/√d  (orthogonal)",
        "min_Ŵ Σ_t r_t ‖(W − Ŵ) x_t‖²  ⇔  H = 2 X diag(r) Xᵀ",
        "r_t = norm_[1,3]( Σ_h Σ_q A^(h)_{q,t} )   (AttnCon)",
        "GPTQ: q_j = quant(w_j);  w_F ← w_F − (w_j − q_j)/[H⁻¹]_jj · [H⁻¹]_{j,F}",
    ],
}


# --- the pieces, smallest first -----------------------------------------------------------------------------
def hadamard(d: int) -> np.ndarray:
    """The Sylvester Hadamard matrix of order d (a power of two), entries ±1."""
    if d < 1 or d & (d - 1):
        raise ValueError(f"hadamard: `d` must be a power of two, got {d}")
    H = np.ones((1, 1))
    while H.shape[0] < d:
        H = np.block([[H, H], [H, -H]])
    return H


def random_hadamard(d: int, seed: int = 0) -> np.ndarray:
    """R = H_d · diag(s) / √d with random signs s: orthogonal (RᵀR = I)."""
    s = np.random.default_rng(seed).choice([-1.0, 1.0], size=d)
    return hadamard(d) * s[None, :] / np.sqrt(d)


def normalize_importance(w, r_min: float = 1.0, r_max: float = 3.0) -> np.ndarray:
    """Min–max normalise to [r_min, r_max] (the code's normalize_weight without quantiles)."""
    w = np.asarray(w, dtype=np.float64)
    span = w.max() - w.min()
    if span <= 0:
        return np.full_like(w, r_min)
    return np.clip((w - w.min()) / span * (r_max - r_min) + r_min, r_min, r_max)


def attention_concentration(attn) -> np.ndarray:
    """AttnCon before normalisation: attention probabilities (N, heads, queries, keys) summed over heads and
    queries, averaged over the batch → (keys,)."""
    attn = np.asarray(attn, dtype=np.float64)
    if attn.ndim != 4:
        raise ValueError(
            f"attention_concentration: `attn` must be (N, heads, queries, keys), got shape {attn.shape}"
        )
    return attn.sum(axis=1).sum(axis=1).mean(axis=0)


def sequence_importance(attn, r_min: float = 1.0, r_max: float = 3.0) -> np.ndarray:
    """Token weights for H from causal attention probabilities (N, heads, T, T): AttnCon of every sequence
    (Σ_h Σ_q A), min–max normalised to [r_min, r_max] within the sequence, then rescaled to mean 1 per
    sequence (gptq_utils.py line 126) → (N·T,) in the order of the flattened tokens."""
    attn = np.asarray(attn, dtype=np.float64)
    if attn.ndim != 4:
        raise ValueError(f"sequence_importance: `attn` must be (N, heads, T, T), got shape {attn.shape}")
    per_seq = attn.sum(axis=1).sum(axis=1)  # (N, T): Σ_h Σ_q A_{q,t}  (AttnCon)
    r = np.stack([normalize_importance(w, r_min, r_max) for w in per_seq])  # norm_[r_min, r_max]
    r = r / r.sum(axis=1, keepdims=True) * r.shape[1]  # mean 1 per sequence (code line 126)
    return r.reshape(-1)


def block_attention(block, x) -> np.ndarray:
    """Causal attention probabilities (N, H, T, T) of a pre-norm TransformerBlock on its input x (N, T, d)."""
    mha = block.self_attn
    with no_grad():
        h = block.norm1(x if isinstance(x, Tensor) else Tensor(np.asarray(x))).data.astype(np.float64)
    n, t, e = h.shape
    W = mha.in_proj_weight.data.astype(np.float64)
    b = np.zeros(3 * e) if mha.in_proj_bias is None else mha.in_proj_bias.data.astype(np.float64)
    qkv = h @ W.T + b
    q, k = qkv[..., :e], qkv[..., e : 2 * e]
    hd = mha.head_dim
    q = q.reshape(n, t, mha.num_heads, hd).transpose(0, 2, 1, 3)
    k = k.reshape(n, t, mha.num_heads, hd).transpose(0, 2, 1, 3)
    s = q @ k.transpose(0, 1, 3, 2) / np.sqrt(hd)
    s = np.where(np.tril(np.ones((t, t), bool)), s, -np.inf)
    s = s - s.max(-1, keepdims=True)
    p = np.exp(s)
    return p / p.sum(-1, keepdims=True)


def sym_grid_quantizer(W, bits: int):
    """The per-output-channel symmetric min–max grid of W as a column quantizer for GPTQ, and as RTN."""
    W = np.asarray(W, dtype=np.float64)
    qmax = 2 ** (bits - 1) - 1
    s = np.maximum(np.abs(W).max(axis=1), 1e-12) / qmax

    def q(col, j):
        return s * np.clip(np.rint(col / s), -qmax - 1, qmax)

    return q, (s[:, None] * np.clip(np.rint(W / s[:, None]), -qmax - 1, qmax))


def rsq_quantize(
    W, X, bits: int, *, importance=None, rotate: bool = True, seed: int = 0, percdamp: float = 0.01
):
    """Ŵ_eff for one layer: GPTQ of W·R with H = Rᵀ (2 X diag(r) Xᵀ) R, mapped back by Rᵀ (rotate=False: R = I;
    importance=None: r = 1 — plain GPTQ).  X is (N, d_in) with rows = tokens, importance (N,)."""
    W = np.asarray(W, dtype=np.float64)
    X = np.asarray(X, dtype=np.float64).reshape(-1, W.shape[1])
    R = random_hadamard(W.shape[1], seed) if rotate else np.eye(W.shape[1])
    Wr = W @ R
    H = hessian(X @ R, importance)  # H = 2 Rᵀ X diag(r) Xᵀ R / Σr  (Sec. 3, weighted objective)
    qfn, _ = sym_grid_quantizer(Wr, bits)
    return gptq(Wr, H, qfn, percdamp=percdamp) @ R.T  # GPTQ Alg. 1 on WR, back by Rᵀ


def weighted_error(W, W_hat, X, r) -> float:
    """Σ_t r_t ‖(W − Ŵ) x_t‖² / Σ_t r_t ‖W x_t‖²."""
    X = np.asarray(X, np.float64)
    r = np.asarray(r, np.float64)
    E = X @ (np.asarray(W, np.float64) - W_hat).T
    return float((r[:, None] * E**2).sum() / (r[:, None] * (X @ np.asarray(W, np.float64).T) ** 2).sum())
