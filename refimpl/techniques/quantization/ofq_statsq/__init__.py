r"""Oscillation-free quantization: StatsQ (a statistics-based, non-learned weight scale),
confidence-guided annealing (CGA) and query–key reparameterisation (QKR), against LSQ, with weight
oscillations counted during low-bit QAT.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.
Official code: github.com/nbasyl/OFQ (`src/quantization/quantizer/statsq.py`, `lsq.py`, `cga.py`,
`src/quantization/modules/attention.py`, `configs/ours_imagenet_recipe.attn_q.yml`, `train_scripts/`).

The idea
--------
In quantization-aware training a latent weight near a rounding boundary flips back and forth between two
integer levels ("oscillation"); the paper finds learnable scales (LSQ) make it worse, because every update
of the scale moves all boundaries of a channel at once.  **StatsQ** replaces the learned scale by a
statistic of the weights, recomputed every step without gradient — s = 2·mean|W| per output channel — and
uses a zero-free symmetric grid of 2^b levels (k + ½)/n, n = 2^{b−1}:

$$s = 2\,\overline{|W_{i,:}|},\qquad \hat W = s\cdot\frac{\big\lfloor n\,\mathrm{clip}(W/s,\,-1,\,1-\epsilon) - \tfrac12\big\rceil + \tfrac12}{n}$$

with the straight-through estimator (gradient identity to W, no clipping mask, as the code).  **CGA** ends
training by freezing the weights that are confidently on one side of a rounding boundary: after each
backward pass, the gradient of every weight whose pre-rounding value $u = n\,\mathrm{clip}(W/s) - \tfrac12$
is farther than δ from a boundary $i + \tfrac12$ is zeroed and its value restored after the optimizer step;
only the undecided weights train (`CGACallback`).

**Oscillation counting** (the code's `TrackOscillation`): for the integer level x_t of each weight,
Δ_t = x_{t−1} − x_t; a step is an oscillation when sign(Δ_t) is opposite to the sign of the last non-zero
Δ; the EMA of oscillations with momentum 0.01 is the code's per-weight frequency (`OscillationCallback`).

**The LSQ baseline, as the official code runs it** (`LsqQuantizerWeight`, src/quantization/quantizer/lsq.py):
*per output channel* steps $s_i$ initialised at $2\,\overline{|W_{i,:}|}/\sqrt{Q_p}$, integer grid
$[-2^{b-1}, 2^{b-1}-1]$, the STE for W inside the clip, LSQ's step gradient scaled by
$g = 1/\sqrt{Q_p C_\text{in}}$, and the step clamped at 1e-5.  Both quantizers are trained with the official
recipe's optimiser: AdamW with a cosine learning-rate schedule after a linear warm-up
(configs/ours_imagenet_recipe.attn_q.yml: `opt: adamw`, `sched: cosine`, `weight_decay: 5e-2`,
`warmup_epochs`), weight decay on the weight matrices only (timm's default leaves 1-D parameters — biases,
LSQ steps — undecayed).

**Query–key reparameterisation (QKR)** — the third component, for the *coupled* oscillation of the
query and key weights.  With W_q and W_k quantized separately, the STE gradient reaching W_q is computed
through the quantized Ŵ_k (and vice versa), so a flip of one key code changes the query weights'
gradients and the two oscillate together.  QKR quantizes their product instead; per head h, with
W_q^h, W_k^h ∈ R^{d×C} the head's rows of the query/key weights (nn.Linear layout),

$$W_{qk}^h = (W_q^h)^\top W_k^h \in \mathbb{R}^{C\times C},\qquad
\mathrm{scores}_h = d^{-1/2}\; x\,\mathrm{StatsQ}\big(W_{qk}^h\big)\,x^\top ,$$

which in full precision equals $d^{-1/2}(xW_q^{h\top})(xW_k^{h\top})^\top$ exactly.  The latent
parameters stay W_q and W_k; StatsQ acts on the (H·C, C) stack of the W_qk^h (one scale per row)
with the plain STE, so the gradient of W_q is $W_k^h\,\bar W_{qk}^{h\top}$ — through the *latent*
W_k, not a quantized one.  The formula is the official code's `QAttention_qkreparam` in
`src/quantization/modules/attention.py` (the QKR model drops the q/k biases; it also quantizes the
activations x and W_qk xᵀ with LSQ, which we leave out).  The reparameterised matrix has H·C² entries
instead of 2·H·d·C = 2C² (equal when H = 2).

What is simplified
------------------
DeiT/Swin on ImageNet become a digits MLP and one tiny attention layer (experiment.py); weights only,
activations stay in full precision; no knowledge distillation (the scripts use a teacher).  CGA is, as in
the scripts, a separate stage after QAT: cga.py resumes the trained model, steps the scheduler past its
end (so the rate is the config's `min_lr`) and trains `--freeze_for_n_epochs` more epochs with the freezing
rule and the scripts' fixed boundary range δ = 0.005; the experiment's stage lasts a quarter of the QAT
epochs (the scripts: 30 after 300), and the LSQ / StatsQ baselines continue for the same stage without
freezing.  The harness's cosine decays to zero, not to `min_lr`.  The paper's equation numbers could not
be checked (its text was not read; the code was): formula lines are tagged with the names used in this
docstring.

Notebook: notebooks/quantization/ofq-statsq.ipynb
"""

from __future__ import annotations

import math

import numpy as np

from ....autograd.function import Function, straight_through
from ....autograd.tensor import Tensor, no_grad
from ....nn.module import Module, Parameter

CATALOG_ENTRY = {
    "slug": "ofq-statsq",
    "title": "Oscillation-free Quantization for Low-bit Vision Transformers",
    "authors": "Shih-Yang Liu, Zechun Liu, Kwang-Ting Cheng",
    "year": 2023,
    "arxiv": "2302.02210",
    "family": "quantization",
    "notebook": "notebooks/quantization/ofq-statsq.ipynb",
    "verified": "official-code",
    "verification_note": (
        "Read in nbasyl/OFQ: StatsQ (s = 2·mean|W| per output channel, detached; clip to [−1, 1 − 1e−6]; "
        "levels (round(n·w − ½) + ½)/n; plain STE) in src/quantization/quantizer/statsq.py; the "
        "confidence-guided freezing rule in cga.py; the oscillation tracker (TrackOscillation) and the "
        "per-channel LSQ baseline (LsqQuantizerWeight: s_i = 2·mean|W_i|/√Q_p, grad scale 1/√(Q_p·C_in), "
        "step clamped at 1e−5) in src/quantization/quantizer/lsq.py; QKR (W_qk^h = W_q^hᵀW_k^h per head, "
        "StatsQ on the (H·C, C) stack, scores x·Q(W_qk)·xᵀ/√d, q/k biases dropped) in QAttention_qkreparam "
        "of src/quantization/modules/attention.py; the recipe (AdamW, cosine schedule with warm-up, weight "
        "decay 0.05, δ = 0.005) in configs/ours_imagenet_recipe.attn_q.yml and train_scripts/deit_s/"
        "w2a2_deit_s.sh. The paper's text (equation numbers) was not read. Weights only; no distillation; "
        "CGA as a separate stage at the minimal rate (cga.py resumes past the schedule's end)."
    ),
    "summary": (
        "Low-bit QAT oscillates: latent weights near a rounding boundary flip between two levels, worse with "
        "learnable scales (LSQ). StatsQ uses a statistic of the weights as the scale, and confidence-guided "
        "annealing freezes confidently-rounded weights at the end of training; query-key reparameterisation "
        "quantizes W_qᵀW_k as one matrix so the query and key codes no longer oscillate together."
    ),
    "equations": [
        "s = 2·mean_j |W_ij|   (per output channel, no gradient)",
        "Ŵ = s·(round(n·clip(W/s, −1, 1−ε) − ½) + ½)/n,  n = 2^(b−1)",
        "CGA: keep training only where |u − (i + ½)| ≤ δ,  u = n·clip(W/s) − ½",
        "oscillation at t: sign(x_{t−1} − x_t) = −sign(last non-zero change)",
        "QKR: W_qk^h = W_q^hᵀ W_k^h,  scores_h = x·StatsQ(W_qk^h)·xᵀ / √d",
    ],
}


# --- the pieces, smallest first ---------------------------------------------------------------------------
def statsq_scale(W) -> np.ndarray:
    """s = 2·mean|W| per output channel (rows), shape (out, 1)."""
    W = np.asarray(W)
    if W.ndim != 2:
        raise ValueError(f"statsq_scale: `W` must be 2-D (out, in), got shape {W.shape}")
    return 2.0 * np.mean(np.abs(W), axis=1, keepdims=True)  # StatsQ: s = 2·mean|W_i,:|


def statsq_levels(W, bits: int) -> np.ndarray:
    """The integer level k ∈ {−n, …, n − 1} of each weight: round(n·clip(W/s, −1, 1 − 1e−6) − ½)."""
    n = 2.0 ** (bits - 1)
    s = np.maximum(statsq_scale(W), 1e-12)
    return np.rint(np.clip(np.asarray(W) / s, -1.0, 1.0 - 1e-6) * n - 0.5)  # StatsQ: k = ⌊n·clip(W/s) − ½⌉


def statsq_quantize(W, bits: int) -> np.ndarray:
    """Ŵ = s·(k + ½)/n (the StatsQ forward value)."""
    if bits < 2:  # at 1 bit the clip floor u = −1.5 rounds half-to-even to −2, outside the grid (code too)
        raise ValueError(f"statsq_quantize: `bits` must be ≥ 2, got {bits}")
    n = 2.0 ** (bits - 1)
    return (statsq_scale(W) * (statsq_levels(W, bits) + 0.5) / n).astype(
        np.asarray(W).dtype
    )  # StatsQ: s(k+½)/n


def cga_trainable_mask(W, bits: int, boundary_range: float) -> np.ndarray:
    """True where u = n·clip(W/s) − ½ lies within δ of an interior rounding boundary i + ½, i = −n … n − 2
    (these keep training; the rest are frozen)."""
    n = 2.0 ** (bits - 1)
    s = np.maximum(statsq_scale(W), 1e-12)
    u = np.clip(np.asarray(W) / s, -1.0, 1.0 - 1e-6) * n - 0.5
    keep = np.zeros(u.shape, dtype=bool)
    for i in range(-int(n), int(n) - 1):  # the interior boundaries i + ½ (as the code's loop)
        keep |= (u - i <= 0.5 + boundary_range) & (u - i >= 0.5 - boundary_range)  # CGA: |u − (i + ½)| ≤ δ
    return keep


class OscillationTracker:
    """The code's TrackOscillation: per-weight count and EMA (momentum 0.01) of oscillations of x_int."""

    def __init__(self, momentum: float = 0.01):
        self.momentum = momentum
        self.prev = None

    def update(self, x_int) -> int:
        x_int = np.asarray(x_int, dtype=np.float64)
        if self.prev is None:
            self.prev, self.prev_dir = x_int.copy(), np.zeros_like(x_int)
            self.ema, self.total = np.zeros_like(x_int), np.zeros_like(x_int)
            return 0
        delta = np.rint(self.prev - x_int)
        direction = np.sign(delta)
        switched = delta != 0
        osc = (self.prev_dir * direction) == -1  # oscillation: reversal of the last non-zero change
        self.ema = self.momentum * osc + (1 - self.momentum) * self.ema
        self.prev_dir[switched] = direction[switched]
        self.prev = x_int.copy()
        self.total += osc
        return int(osc.sum())


def count_oscillations(trajectory) -> int:
    """Total oscillations of an integer trajectory (a sequence of levels, or of arrays of levels)."""
    tr = OscillationTracker()
    return int(sum(tr.update(x) for x in trajectory))


# --- query–key reparameterisation (QKR) ---------------------------------------------------------------
# Official code: src/quantization/modules/attention.py, QAttention_qkreparam (vs QAttention for the baseline).
# Per head h, with W_q^h, W_k^h the (d, C) row blocks of the query/key weights (nn.Linear layout):
#   W_qk^h = (W_q^h)ᵀ W_k^h ∈ R^{C×C},  scores_h = x · Q(W_qk^h) · xᵀ · d^{−½}   (QKR; eq. number not seen)
# Q = StatsQ on the (H·C, C) stack (one scale per row), plain STE; the latent parameters stay W_q and W_k.
def _as_tensor(a):
    return a if isinstance(a, Tensor) else Tensor(np.asarray(a))


def _check_qk(Wq, Wk, num_heads, fn):
    sq, sk = tuple(np.shape(getattr(Wq, "data", Wq))), tuple(np.shape(getattr(Wk, "data", Wk)))
    if len(sq) != 2 or sq != sk:
        raise ValueError(f"{fn}: `Wq` and `Wk` must be 2-D of the same shape (H·d, C), got {sq} and {sk}")
    if not isinstance(num_heads, (int, np.integer)) or num_heads < 1 or sq[0] % num_heads:
        raise ValueError(f"{fn}: `num_heads` must be a positive divisor of {sq[0]}, got {num_heads!r}")


def attention_scores(x, Wq, Wk, num_heads: int, scale=None):
    """The usual per-head scores (q_h k_hᵀ)·scale with q = x W_qᵀ, k = x W_kᵀ (no biases).
    x: (B, N, C); Wq, Wk: (H·d, C) as nn.Linear weights → (B, H, N, N); scale defaults to d^(−½)."""
    _check_qk(Wq, Wk, num_heads, "attention_scores")
    x, Wq, Wk = _as_tensor(x), _as_tensor(Wq), _as_tensor(Wk)
    B, N, C = x.shape
    d = Wq.shape[0] // num_heads
    scale = d**-0.5 if scale is None else scale
    q = (x @ Wq.T).reshape(B, N, num_heads, d).permute(0, 2, 1, 3)  # (B, H, N, d)
    k = (x @ Wk.T).reshape(B, N, num_heads, d).permute(0, 2, 1, 3)
    return (q @ k.transpose(-2, -1)) * scale


def qk_reparam_weight(Wq, Wk, num_heads: int):
    """W_qk^h = (W_q^h)ᵀ W_k^h for every head h (QKR): (H·d, C) × 2 → (H, C, C).  Tensors in → Tensor out
    (the gradient reaches W_q and W_k through the product); arrays in → array out."""
    _check_qk(Wq, Wk, num_heads, "qk_reparam_weight")
    tensor_in = isinstance(Wq, Tensor) or isinstance(Wk, Tensor)
    Wq_, Wk_ = _as_tensor(Wq), _as_tensor(Wk)
    HD, C = Wq_.shape
    d = HD // num_heads
    # (QKR) W_qk^h = W_q^hᵀ W_k^h
    out = Wq_.reshape(num_heads, d, C).transpose(-2, -1) @ Wk_.reshape(num_heads, d, C)
    return out if tensor_in else out.data


def qk_reparam_scores(x, Wqk, scale):
    """Scores from the reparameterised weight: x_n W_qk^h x_mᵀ·scale.
    x: (B, N, C), Wqk: (H, C, C) → (B, H, N, N)."""
    x, Wqk = _as_tensor(x), _as_tensor(Wqk)
    if Wqk.ndim != 3 or Wqk.shape[1:] != (x.shape[-1], x.shape[-1]):
        C = x.shape[-1]
        raise ValueError(f"qk_reparam_scores: `Wqk` must have shape (H, {C}, {C}), got {Wqk.shape}")
    xh = x.unsqueeze(1)  # (B, 1, N, C)
    return (xh @ Wqk) @ xh.transpose(-2, -1) * scale  # (QKR) scores_h = x W_qk^h xᵀ · scale


def statsq_quantize_qk(Wqk, bits: int):
    """StatsQ on the reparameterised weight as the code does it: the (H, C, C) stack viewed as
    (H·C, C), one scale 2·mean|·| per row, plain STE.  Tensor in → Tensor out; array in → array out."""
    arr = Wqk.data if isinstance(Wqk, Tensor) else np.asarray(Wqk)
    if arr.ndim != 3:
        raise ValueError(f"statsq_quantize_qk: `Wqk` must be 3-D (H, C, C), got shape {arr.shape}")
    value = statsq_quantize(arr.reshape(-1, arr.shape[-1]), bits).reshape(arr.shape)
    return straight_through(Wqk, value) if isinstance(Wqk, Tensor) else value


def qk_levels(Wq, Wk, num_heads: int, bits: int, reparam: bool) -> np.ndarray:
    """The integer codes behind the quantized scores: of W_qk (QKR), or of W_q and W_k stacked (separate)."""
    Wq, Wk = np.asarray(getattr(Wq, "data", Wq)), np.asarray(getattr(Wk, "data", Wk))
    if reparam:
        return statsq_levels(qk_reparam_weight(Wq, Wk, num_heads).reshape(-1, Wq.shape[1]), bits)
    return np.concatenate([statsq_levels(Wq, bits), statsq_levels(Wk, bits)])


def quantized_attention_scores(x, Wq, Wk, num_heads: int, bits, reparam: bool, scale=None):
    """Scores with quantized weights: reparam=False quantizes W_q and W_k separately with StatsQ (the
    code's QAttention: qkv through a StatsQ QLinear); reparam=True quantizes W_qk = W_qᵀW_k with StatsQ
    (the code's QAttention_qkreparam).  bits=None: no quantization (both then equal the float scores)."""
    _check_qk(Wq, Wk, num_heads, "quantized_attention_scores")
    Wq, Wk = _as_tensor(Wq), _as_tensor(Wk)
    d = Wq.shape[0] // num_heads
    scale = d**-0.5 if scale is None else scale
    if reparam:
        Wqk = qk_reparam_weight(Wq, Wk, num_heads)
        if bits is not None:
            Wqk = statsq_quantize_qk(Wqk, bits)
        return qk_reparam_scores(x, Wqk, scale)
    if bits is not None:
        Wq = straight_through(Wq, statsq_quantize(Wq.data, bits))
        Wk = straight_through(Wk, statsq_quantize(Wk.data, bits))
    return attention_scores(x, Wq, Wk, num_heads, scale)


class StatsQWeight(Module):
    """Weight parametrization W ↦ StatsQ(W) with the plain STE (as the code)."""

    def __init__(self, bits: int):
        super().__init__()
        self.bits = bits

    def levels(self, w) -> np.ndarray:
        return statsq_levels(w, self.bits)

    def forward(self, w):
        return straight_through(w, statsq_quantize(w.data, self.bits))


# --- LSQ (Esser et al. 2020), the learned-step-size baseline -----------------------------------------
class LSQQuantize(Function):
    r"""x̂ = s · clip(round(x/s), q_min, q_max) with LSQ's gradients (Esser et al. 2020, Eq. 3):
    x̄ = ḡ · 1[q_min ≤ x/s ≤ q_max];  s̄ = ḡ · g_s · {round(v) − v inside; q_min below; q_max above}."""

    def forward(ctx, x, s, *, qmin, qmax, grad_scale):
        v = x / s
        ctx.v, ctx.qmin, ctx.qmax, ctx.gs = v, qmin, qmax, grad_scale
        return (np.clip(np.rint(v), qmin, qmax) * s).astype(x.dtype)

    def backward(ctx, g):
        v = ctx.v
        below, above = v <= ctx.qmin, v >= ctx.qmax
        inside = ~(below | above)
        dx = g * inside
        ds = g * np.where(below, ctx.qmin, np.where(above, ctx.qmax, np.rint(v) - v)) * ctx.gs  # Eq. 3
        return dx, ds


def lsq_grad_scale(n_weights: int, qmax: int) -> float:
    """g = 1/√(N · Q_p) (Esser et al. 2020, Sec. 2.2)."""
    return 1.0 / math.sqrt(max(n_weights, 1) * max(qmax, 1))


def lsq_quantize(x: Tensor, s: Tensor, qmin: int, qmax: int, grad_scale: float = 1.0) -> Tensor:
    """LSQ fake quantizer with a learnable step size `s` (a Tensor broadcastable to x, > 0)."""
    if not isinstance(x, Tensor) or not isinstance(s, Tensor):
        raise TypeError("lsq_quantize: `x` and `s` must be Tensors")
    if np.any(s.data <= 0):
        raise ValueError("lsq_quantize: the step size `s` must be > 0")
    return LSQQuantize.apply(x, s, qmin=qmin, qmax=qmax, grad_scale=grad_scale)


class LSQWeight(Module):
    """Weight parametrization with a learned step size (Esser et al. 2020, Eq. 1): Ŵ = s·clip(round(W/s),
    −2^(b−1), 2^(b−1) − 1).  As the official baseline (`LsqQuantizerWeight` in
    src/quantization/quantizer/lsq.py of nbasyl/OFQ): one step per output channel (`per_channel=True`, the
    training scripts' `--wq-per-channel`), initialised at s_i = 2·mean_j|W_ij|/√Q_p, gradient scale
    g = 1/√(Q_p·C_in) per channel (1/√(Q_p·N) per tensor), the step clamped at ≥ 1e-5 in the forward."""

    def __init__(self, bits: int, w_init, per_channel: bool = True):
        super().__init__()
        self.bits, self.per_channel = bits, per_channel
        self.qmin, self.qmax = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
        w_init = np.asarray(w_init)
        if per_channel and w_init.ndim != 2:
            raise ValueError(f"LSQWeight: per-channel steps need a 2-D weight, got shape {w_init.shape}")
        mean_abs = np.abs(w_init).mean(axis=1, keepdims=True) if per_channel else np.abs(w_init).mean()
        self.s = Parameter(
            np.asarray(2.0 * mean_abs / np.sqrt(max(self.qmax, 1)), dtype=w_init.dtype)
        )  # init
        fan = w_init.shape[1] if per_channel else w_init.size
        self.g = lsq_grad_scale(fan, self.qmax)  # Sec. 2.2: g = 1/√(N·Q_p), N per channel

    def _step(self):
        return np.maximum(self.s.data, 1e-5)

    def levels(self, w) -> np.ndarray:
        return np.clip(np.rint(np.asarray(w) / self._step()), self.qmin, self.qmax)

    def forward(self, w):
        self.s.data = np.maximum(self.s.data, 1e-5)  # the code clamps the step at 1e-5 (its `clip`)
        return lsq_quantize(w, self.s, self.qmin, self.qmax, grad_scale=self.g)


class QKReparamAttention(Module):
    """A minimal attention layer for the QKR toy: scores from the StatsQ-quantized W_qk^h = (W_q^h)ᵀW_k^h
    (reparam=True, the code's QAttention_qkreparam) or from separately StatsQ-quantized W_q, W_k
    (reparam=False, the code's QAttention); bits=None is full precision.  No q/k biases (the code's QKR
    drops them); the values are the inputs themselves (W_v = I, not trained, not quantized) so that only
    the query–key path is studied."""

    def __init__(self, dim: int, num_heads: int, bits, reparam: bool = True, rng=0, dtype=np.float64):
        super().__init__()
        g = np.random.default_rng(rng)
        self.num_heads, self.bits, self.reparam = num_heads, bits, reparam
        self.q_weight = Parameter(g.normal(size=(dim, dim)).astype(dtype) / np.sqrt(dim))
        self.k_weight = Parameter(g.normal(size=(dim, dim)).astype(dtype) / np.sqrt(dim))

    def levels(self) -> np.ndarray:
        return qk_levels(self.q_weight.data, self.k_weight.data, self.num_heads, self.bits, self.reparam)

    def forward(self, x):
        from ....autograd import ops

        s = quantized_attention_scores(
            x, self.q_weight, self.k_weight, self.num_heads, self.bits, self.reparam
        )
        B, N, C = x.shape
        d = C // self.num_heads
        v = x.reshape(B, N, self.num_heads, d).permute(0, 2, 1, 3)
        out = ops.softmax(s, -1) @ v  # (B, H, N, d): softmax(scores) · values
        return out.permute(0, 2, 1, 3).reshape(B, N, C)


# --- CGA and oscillation tracking as training callbacks (the paper's training rule) -------------------------
class OscillationCallback:
    """Counts the oscillations of every quantized weight's integer level after each optimizer step (the
    code's TrackOscillation): `per_step[t]` = number of weights that reversed their direction at step t."""

    def __init__(self, latents, quantizers):
        self.latents, self.quantizers = list(latents), list(quantizers)
        self.trackers = [OscillationTracker() for _ in self.latents]
        self.per_step = []
        for tr, lat, q in zip(self.trackers, self.latents, self.quantizers):
            tr.update(q.levels(lat.data))

    def on_step_end(self, state):
        with no_grad():
            self.per_step.append(
                sum(
                    tr.update(q.levels(lat.data))
                    for tr, lat, q in zip(self.trackers, self.latents, self.quantizers)
                )
            )

    @property
    def n_weights(self) -> int:
        return int(sum(lat.data.size for lat in self.latents))


class CGACallback:
    """Confidence-guided annealing (cga.py of nbasyl/OFQ): from step `start` on, after every backward pass
    the gradient of each latent weight outside the boundary range δ (`cga_trainable_mask` false) is zeroed,
    and its value is restored after the optimizer step (so neither Adam's update nor weight decay moves
    it); only the undecided weights train."""

    def __init__(self, latents, bits: int, boundary_range: float, start: int):
        self.latents, self.bits, self.delta, self.start = list(latents), bits, boundary_range, start
        self._frozen = []

    def after_backward(self, state):
        self._frozen = []
        if state.step < self.start:
            return
        for lat in self.latents:
            keep = cga_trainable_mask(lat.data, self.bits, self.delta)  # CGA: |u − (i + ½)| ≤ δ trains
            if lat.grad is not None:
                lat.grad = lat.grad * keep
            self._frozen.append((lat, ~keep, lat.data.copy()))

    def on_step_end(self, state):
        for lat, mask, old in self._frozen:  # CGA: confident weights keep their value
            lat.data[mask] = old[mask]
        self._frozen = []
