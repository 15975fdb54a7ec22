r"""LLM-FP4: 4-bit floating-point post-training quantization of weights *and* activations, with a searched
format and clipping range, and per-channel activation exponent biases folded into the weights.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.
Official code: github.com/nbasyl/LLM-FP4 (`quant_layers/fp_linear.py`, `configs/FPQ_config_llama.py`).

The idea
--------
A (1 + e + m)-bit float with a *real-valued* exponent bias b̃ represents

$$X = (-1)^s\, 2^{p-\tilde b}\Big(1+\tfrac{d_1}{2}+\dots+\tfrac{d_m}{2^m}\Big),\quad p\in\{0,\dots,2^e-1\}
\quad(\text{subnormal at } p=0)\qquad (1)$$

with largest magnitude $\mathrm{maxval} = (2-2^{-m})\,2^{2^e-\tilde b-1}$, so choosing the clipping range *is*
choosing the bias:

$$\tilde b = 2^e - \log_2 \mathrm{maxval} + \log_2(2-2^{-m}) - 1 \qquad (4)$$

Quantization clips to ±maxval and rounds on the local grid
$X_{\text{fp}} = 2^{\,p - m - \tilde b}\,\big\lfloor X_c / 2^{\,p-m-\tilde b}\big\rceil$ with
$p = \max(\lfloor \log_2|X_c| + \tilde b\rfloor, 1)$ (the code's `get_log_scale`; p = 1 is the subnormal range).
For an integer b̃ this is exactly the all-finite minifloat E{e}M{m} with that bias (the family's
`fp_formats`); a real b̃ = b₀ + δ is that format scaled by the power-free factor 2^{−δ}, which is how
`fpq` computes it.

**FP-PTQ baseline (Sec. 4.1): the search.**  For every Linear, search the weight format and clipping
range (per output channel) and the activation format and clipping range (per tensor) to minimise the
layer-output error on calibration inputs, ‖XWᵀ − X̂Ŵᵀ‖².  Following the official code
(`calibration_step2` of the FP-PTQ baseline class), each round (a) searches every weight format's clipping range with the current
activation quantizer, (b) keeps the weight format with the least *layer-output* error, (c)–(d) does the
same for the activations given the quantized weights.  Formats: e ∈ {1, …, bits − 1}, m = bits − 1 − e.

**Pre-shifted exponent bias (Sec. 4.2).**  Transformer activations vary far more *between* channels than
within one.  Give input channel j its own bias b̃_j (Eq. 4 with the channel's max), split as a real
tensor-wise ρ plus an integer offset

$$k_j = \mathrm{clip}\big(\mathrm{round}(\tilde b_j) - \mathrm{round}(\rho),\,0,\,2^e-1\big),\qquad
\text{channel } j \text{ quantized with bias } \rho + k_j .$$

ρ (initially $\min_j \tilde b_j$, i.e. maxval = max|X|) is what the search tunes.  A bias shift by an
integer k is an exact power-of-two rescaling, $Q_{\rho+k}(x) = 2^{-k}\,Q_\rho(2^{k}x)$, so

$$\hat X\,\hat W^\top = \sum_j Q_{\rho+k_j}(x_j)\,Q(W)_{:,j}
= Q_\rho\!\big(X\,\mathrm{diag}(2^{k})\big)\,\big(Q(W)\,\mathrm{diag}(2^{-k})\big)^\top :$$

the weights are quantized as they are, Q(W), and the factors 2^{−k_j} are absorbed afterwards —
losslessly, since Q(W)_{ij}·2^{−k_j} is the same FP number with its exponent bias raised by k_j ("the
scaling factors are re-parameterised as exponent biases of the weights").  At inference the
activations keep one tensor-wise bias ρ.  `search_layer` returns both the quantized weights Q(W)
(`W_q`, on W's grid) and the deployed Ŵ = Q(W)·2^{−k} (`W_hat`).

What is simplified
------------------
LLaMA/BERT/ViT become small Linear layers: those of a trained MLP with a LayerNorm before every hidden
Linear (inputs signed and channel-scaled, as a transformer's projections see them), and synthetic layers
from the shared weight generators (experiment.py).  Bias correction and the QKV / matmul-specific paths
of the code are omitted.

Deviations
----------
- Candidate clipping ranges are maxval = r · max|x| with r on `grid` points in [alpha, beta] (the config's
  eq_alpha = 0.01, eq_beta = 1.2, eq_n = 100).  The code multiplies the *bias* by that grid instead, which
  depends on the absolute scale of the tensor (and on the bias's sign); multiplying maxval is scale-free.
- The INT baseline (same search, symmetric INT grid per output channel / per tensor) is ours: the paper
  compares with published INT methods.

Notebook: notebooks/quantization/llm-fp4.ipynb
"""

from __future__ import annotations

import numpy as np

from ..fp_formats import FPFormat, fp_quantize
from ..quantizers import QParams, fake_quant

CATALOG_ENTRY = {
    "slug": "llm-fp4",
    "title": "LLM-FP4: 4-Bit Floating-Point Quantized Transformers",
    "authors": "Shih-yang Liu, Zechun Liu, Xijie Huang, Pingcheng Dong, Kwang-Ting Cheng",
    "year": 2023,
    "arxiv": "2310.16836",
    "family": "quantization",
    "notebook": "notebooks/quantization/llm-fp4.ipynb",
    "verified": "official-code",
    "verification_note": (
        "Read in nbasyl/LLM-FP4 quant_layers/fp_linear.py (commit 0598c95): the quantizer with a real "
        "exponent bias (get_log_scale L58–76, get_scale L78–88: clip to (2 − 2^−m)·2^(2^e − 1 − b), p = "
        "max(⌊log₂|x| + b⌋, 1), step 2^(p − m − b)); the initial bias from the max, Eq. 4 (L147, L151); "
        "per-output-channel weight biases (n_V = out_features, L894); the search of the FPQ class "
        "(calibration_step2 L1344–1392: per round, each format's clipping range, then the format with the "
        "least layer-output L2 error, _search_best_w_format L1166, _search_best_a_format L1281; mantissa "
        "candidates 0…bits−2; the baseline class orders it w-range, w-format, a-range, a-format, L799–840, "
        "as here); the pre-shifted activation bias (L926–930: per-channel b_j, ρ = min_j b_j, zero point "
        "round(ρ); L1007 and L1045: bias ρ + clamp(round(b_j) − round(ρ), 0, 2^e − 1)), with the weights "
        "quantized unshifted by their own biases (get_w_scale L1026–1038), so the deployed weight is "
        "Q(W)·2^−k; the grid of configs/FPQ_config_llama.py (eq_alpha 0.01, eq_beta 1.2, eq_n 100, "
        "search_round 3).  Only Eq. 4's number was confirmed from the paper; the clipping grid here "
        "multiplies maxval (scale-free) where the code multiplies the bias."
    ),
    "summary": (
        "Post-training FP4 quantization of weights and activations: search each layer's FP format (exponent "
        "bits) and clipping range (= exponent bias) to minimise the layer-output error, and give activations "
        "per-channel exponent biases whose integer parts are absorbed into the quantized weights, so "
        "inference keeps one tensor-wise activation bias."
    ),
    "equations": [
        "X = (−1)^s 2^(p−b) (1 + d₁/2 + … + d_m/2^m), subnormal at p = 0                (Eq. 1)",
        "b̃ = 2^e − log₂ maxval + log₂(2 − 2^−m) − 1                                    (Eq. 4)",
        "X_fp = 2^(p−m−b̃)·⌊X_c / 2^(p−m−b̃)⌉,  p = max(⌊log₂|X_c| + b̃⌋, 1)",
        "b̃_j = ρ + k_j,  k_j = clip(round(b̃_j) − round(ρ), 0, 2^e − 1)                  (Sec. 4.2)",
        "Q_{ρ+k}(x) = 2^−k Q_ρ(2^k x)  ⇒  X̂Ŵᵀ = Q_ρ(X·diag(2^k)) (Q(W)·diag(2^−k))ᵀ       (Sec. 4.2)",
    ],
}

__all__ = [
    "maxval_from_bias",
    "bias_from_maxval",
    "fpq",
    "int_quantize",
    "preshift_offsets",
    "quantize_activations",
    "search_layer",
]


# --- the quantizer with a real-valued exponent bias ------------------------------------------------------
def maxval_from_bias(bias, exp_bits: int, man_bits: int):
    """(2 − 2^−m) · 2^(2^e − 1 − b): the largest magnitude for bias b."""
    return (2.0 - 2.0 ** (-man_bits)) * 2.0 ** (2**exp_bits - 1 - np.asarray(bias, dtype=np.float64))


def bias_from_maxval(maxval, exp_bits: int, man_bits: int):
    """b̃ = 2^e − log₂ maxval + log₂(2 − 2^−m) − 1."""
    maxval = np.asarray(maxval, dtype=np.float64)
    if np.any(maxval <= 0):
        raise ValueError("bias_from_maxval: `maxval` must be > 0")
    return 2.0**exp_bits - np.log2(maxval) + np.log2(2.0 - 2.0 ** (-man_bits)) - 1.0  # Eq. 4


def fpq(x, exp_bits: int, man_bits: int, bias) -> np.ndarray:
    """Quantize x to the (1 + e + m)-bit float with real-valued exponent bias `bias` (broadcastable).

    Implemented as the integer-bias format E{e}M{m} with bias b₀ = 2^(e−1) − 1 (all codes finite) and the
    scale 2^(b₀ − b): ⌊log₂|x·2^(b−b₀)|⌋ + b₀ = ⌊log₂|x| + b⌋, so the two agree (Eq. 1, 4)."""
    if exp_bits < 1 or man_bits < 0:
        raise ValueError(f"fpq: need exp_bits ≥ 1 and man_bits ≥ 0, got {exp_bits}, {man_bits}")
    fmt = FPFormat(exp_bits, man_bits, special="none")
    scale = 2.0 ** (fmt.bias - np.asarray(bias, dtype=np.float64))
    return fp_quantize(x, fmt, scale)


def int_quantize(x, maxval, bits: int) -> np.ndarray:
    """Symmetric INT quantizer with clipping range ±maxval (broadcastable): s = maxval / (2^(b−1) − 1)."""
    qmax = 2 ** (bits - 1) - 1
    x = np.asarray(x, dtype=np.float64)
    s = np.maximum(np.asarray(maxval, dtype=np.float64), 1e-12) / qmax
    return fake_quant(x, QParams(np.broadcast_to(s, x.shape) if s.ndim else s, np.zeros(1), -qmax - 1, qmax))


def preshift_offsets(channel_bias, rho, exp_bits: int) -> np.ndarray:
    """Integer per-channel offsets k_j = clip(round(b_j) − round(ρ), 0, 2^e − 1) (Sec. 4.2; code L1007)."""
    return np.clip(np.rint(np.asarray(channel_bias)) - np.rint(rho), 0, 2**exp_bits - 1)


def quantize_activations(X, maxval, exp_bits: int, man_bits: int, channel_bias=None):
    """(X̂, k): per-tensor FP quantization of X with clipping range `maxval`; with `channel_bias` (b_j of
    every input channel) the pre-shifted version: channel j gets bias ρ + k_j, computed as
    X̂ = Q_ρ(X·2^k)·2^−k (Sec. 4.2), k = 0 otherwise."""
    X = np.asarray(X, dtype=np.float64)
    rho = bias_from_maxval(maxval, exp_bits, man_bits)
    if channel_bias is None:
        return fpq(X, exp_bits, man_bits, rho), np.zeros(X.shape[-1])
    k = preshift_offsets(channel_bias, rho, exp_bits)
    return fpq(X * 2.0**k, exp_bits, man_bits, rho) * 2.0 ** (-k), k  # Q_{ρ+k}(x) = 2^−k Q_ρ(2^k x)


# --- per-layer search ---------------------------------------------------------------------------------------
def _formats(kind, bits):
    return [None] if kind == "int" else list(range(1, bits))  # exponent bits e; m = bits − 1 − e


def _wq(W, maxval, kind, bits, e):
    """Per-output-channel weight quantizer Q(W) with row clipping ranges `maxval` (out, 1)."""
    if kind == "int":
        return int_quantize(W, maxval, bits)
    m = bits - 1 - e
    return fpq(W, e, m, bias_from_maxval(np.maximum(maxval, 1e-12), e, m))


def _aq(X, maxval, kind, bits, e, preshift, chmax):
    """Activation quantizer (X̂ simulated in full precision, k)."""
    if kind == "int":
        return int_quantize(X, maxval, bits), np.zeros(X.shape[-1])
    m = bits - 1 - e
    cb = bias_from_maxval(chmax, e, m) if preshift else None  # Eq. 4 per channel
    return quantize_activations(X, max(maxval, 1e-12), e, m, cb)


def search_layer(
    W,
    X,
    *,
    bits: int = 4,
    kind: str = "fp",
    per_channel_act: bool = False,
    grid: int = 100,
    rounds: int = 3,
    alpha: float = 0.01,
    beta: float = 1.2,
    init_exp_bits: int | None = None,
) -> dict:
    """Search one Linear's weight and activation formats and clipping ranges on calibration inputs X
    (N, in) to minimise the layer-output error ‖XWᵀ − X̂Ŵᵀ‖² (Sec. 4.1; code: calibration_step2).

    kind "fp" (formats e ∈ 1…bits−1) or "int" (symmetric INT, the ablation); per_channel_act=True adds the
    pre-shifted per-channel activation biases (Sec. 4.2, FP only).  Clipping candidates r·max|·| for r on
    `grid` points in [alpha, beta].  Returns {"loss" (mean squared output error on X), "exp_bits_w",
    "exp_bits_a" (None for INT), "w_maxval" (out,), "a_maxval", "k" (in,) integer pre-shifts, "W_q" = Q(W)
    (on W's own grid), "W_hat" = Q(W)·2^−k (the deployed weights), "quantize_input" (X → Q_ρ(X·2^k), the
    deployed activation quantizer; X̂Ŵᵀ = quantize_input(X) @ W_hatᵀ)}."""
    W = np.asarray(W, dtype=np.float64)
    X = np.asarray(X, dtype=np.float64)
    if W.ndim != 2 or X.ndim != 2 or X.shape[1] != W.shape[1]:
        raise ValueError(f"search_layer: need W (out, in) and X (N, in), got W {W.shape}, X {X.shape}")
    if kind not in ("fp", "int"):
        raise ValueError(f"search_layer: `kind` must be 'fp' or 'int', got {kind!r}")
    if per_channel_act and kind != "fp":
        raise ValueError("search_layer: pre-shifted per-channel activation biases need kind='fp'")
    if not 0 < alpha < beta:
        raise ValueError(f"search_layer: need 0 < alpha < beta, got {alpha}, {beta}")
    if not isinstance(bits, int) or bits < 3:
        raise ValueError(f"search_layer: `bits` must be an integer ≥ 3, got {bits!r}")
    ref = X @ W.T
    ratios = np.linspace(alpha, beta, grid)
    formats = _formats(kind, bits)
    w_base = np.maximum(np.abs(W).max(1, keepdims=True), 1e-12)  # (out, 1)
    chmax = np.maximum(np.abs(X).max(0), 1e-12)  # per input channel
    a_base = float(chmax.max())  # = maxval of ρ = min_j b_j (code L929)
    w_mv = {e: w_base.copy() for e in formats}
    a_mv = {e: a_base for e in formats}
    e_w = e_a = formats[len(formats) // 2] if init_exp_bits is None else init_exp_bits

    def aq(e, mv):
        return _aq(X, mv, kind, bits, e, per_channel_act, chmax)

    def out_err(Xh, Wq):
        return float(np.sum((ref - Xh @ Wq.T) ** 2))

    for _ in range(rounds):
        Xh = aq(e_a, a_mv[e_a])[0]
        for e in formats:  # weights: each output channel on its own (the loss separates over outputs)
            errs = np.stack([((ref - Xh @ _wq(W, r * w_base, kind, bits, e).T) ** 2).sum(0) for r in ratios])
            w_mv[e] = ratios[np.argmin(errs, axis=0)][:, None] * w_base
        e_w = min(formats, key=lambda e: out_err(Xh, _wq(W, w_mv[e], kind, bits, e)))  # format by output
        Wq = _wq(W, w_mv[e_w], kind, bits, e_w)
        for e in formats:  # activations: the tensor-wise range (ρ, and with it the integer pre-shifts)
            losses = [out_err(aq(e, r * a_base)[0], Wq) for r in ratios]
            a_mv[e] = float(ratios[int(np.argmin(losses))] * a_base)
        e_a = min(formats, key=lambda e: out_err(aq(e, a_mv[e])[0], Wq))
    Wq = _wq(W, w_mv[e_w], kind, bits, e_w)
    Xh, k = aq(e_a, a_mv[e_a])
    a_final, e_final = a_mv[e_a], e_a

    def quantize_input(x):
        """X → Q_ρ(X·2^k): the deployed activation quantizer (one tensor-wise bias ρ)."""
        x = np.asarray(x, dtype=np.float64) * 2.0**k
        if kind == "int":
            return int_quantize(x, a_final, bits)
        m = bits - 1 - e_final
        return fpq(x, e_final, m, bias_from_maxval(a_final, e_final, m))

    return {
        "loss": out_err(Xh, Wq) / ref.size,
        "exp_bits_w": e_w,
        "exp_bits_a": e_a,
        "w_maxval": w_mv[e_w][:, 0],
        "a_maxval": a_final,
        "k": k,
        "W_q": Wq,
        "W_hat": Wq * 2.0 ** (-k),  # Ŵ = Q(W)·2^−k: exact, an exponent-bias shift per column (Sec. 4.2)
        "quantize_input": quantize_input,
    }
