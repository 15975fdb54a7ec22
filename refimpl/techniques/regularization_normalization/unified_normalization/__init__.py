r"""Unified Normalization (UN): a BatchNorm-like, foldable normalization for transformers, stabilised by
fluctuation smoothing (forward and backward) and adaptive outlier filtration.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.
Official code: github.com/hikvision-research/Unified-Normalization —
`neural_machine_translation/fairseq/modules/unified_normalization/unified_normalization.py` (`UN2dFunction`:
the forward and the hand-written backward; `UN1d`: the module, its buffers and the eval path).  The
paper's body (its equation numbers) was not available to us: every formula line cites that file by the
official name of the quantity and the line (L) of the file as stored at commit 6e8497f.

The idea
--------
LayerNorm computes its statistics per token at inference, so it cannot be folded into a neighbouring
linear layer; an offline norm (statistics frozen after training) can, but swapping LN for BN in a
transformer trains worse or collapses, which the paper traces to large fluctuations of the batch statistics
over iterations and to extreme outliers.  UN normalises each channel by a second moment taken over the batch
and the tokens (no mean is subtracted, as in PowerNorm), and smooths it.  For a training batch
$x \in \mathbb{R}^{n\times C}$ ($n$ = batch × tokens), at iteration $t = 1, 2, \dots$:

$$ \sigma^2_t = \tfrac1n \textstyle\sum_i x_i^2 \qquad\text{(x2, L38)} $$

**Fluctuation smoothing, forward** — a window of the last $M$ second moments, combined by the geometric mean:
$$ \hat\sigma^2_t = \Big(\prod_{k=0}^{M-1}\sigma^2_{t-k}\Big)^{1/M}
   = \exp\Big(\tfrac1M\textstyle\sum_k \log\sigma^2_{t-k}\Big) \qquad\text{(L56)} $$
used from $t > M$ and after a warm-up of $T_w$ iterations; before that $\hat\sigma^2_t = \sigma^2_t$ (L53–54).
$$ z = x/\sqrt{\hat\sigma^2_t+\epsilon},\qquad y = \gamma\odot z + \beta \qquad\text{(L65, L72)} $$
$$ \sigma^2_{run} \leftarrow m\,\sigma^2_{run} + (1-m)\,\hat\sigma^2_t \qquad\text{(L70)} $$

**Adaptive outlier filtration** — before writing $\sigma^2_t$ into the window, record
$v = \mathrm{Var}(\{\sqrt{\sigma^2}\}_{\text{window}})$ (the unbiased variance over all $M\times C$ entries,
L41); after writing it, the batch is an outlier when for some channel the arithmetic mean exceeds the
geometric mean of the window by more than $M v$ (L43–47, after the warm-up).  An outlier's window slot is
overwritten by $\sigma^2_{run}$ (so it does not pollute the next $M$ iterations), the current batch is
normalised by its own $\sigma^2_t$, and its backward is the exact one below (L49–54, L93–99, L104–105).

**Fluctuation smoothing, backward** — with $g = r\,\gamma\odot\bar y$ and the per-channel statistic
$\psi_t = \tfrac1n\sum_i g_i\odot z_i$ (L89–91):
$$ \bar x = \frac{1}{\sqrt{\hat\sigma^2_t+\epsilon}}\,\big(g - \tilde\psi\odot z\big) \qquad\text{(L104–109)} $$
where $\tilde\psi$ is an EMA (momentum $m$) of the mean of $\psi$ over the last $M$ iterations (L93–103); an
outlier batch uses its own $\psi_t$.  With $\tilde\psi = \psi_t$ and $r = 1$ (a window of one, or an outlier) this is the exact gradient
of $y = \gamma x/\sqrt{\sigma^2_t+\epsilon} + \beta$ (derivation: $\partial\sigma^2/\partial x_i = 2x_i/n$).
The gradient compensation factor (L59–63)
$$ r = \mathrm{clip}\Big(\sqrt{\tfrac{\hat\sigma^2_t+\epsilon}{\sigma^2_{run}+\epsilon}},\ \tfrac15,\ 5\Big)
   \quad (r = 1 \text{ for } t \le \max(T_r, T_w) \text{ or an outlier}) $$
scales $\bar y$ and the gradient of $\gamma$: $\bar\gamma = \sum_i \bar y_i\odot r z_i$, $\bar\beta = \sum_i \bar y_i$.

**Eval and the fold.**  At inference $y = \gamma\odot x/\sqrt{\sigma^2_{run}+\epsilon} + \beta = a\odot x + c$
(L192–194), a per-channel affine map; in a pre-norm transformer it folds into the next linear layer,
$W(a\odot x + c) + b = (W\,\mathrm{diag}\,a)\,x + (Wc + b)$ (`fold_affine_into_next_linear`, `fold_char_lm`).

What is implemented, and deviations
-----------------------------------
* `UnifiedNorm` keeps the official buffers (running_var, ema_gz, the two windows, the iteration and skip
  counters) and calls `unified_norm` — a `Function` with the official hand-written backward — in training,
  the affine map in eval.  Window buffers start at zero, as the official ones do.  A window of 1 makes every batch a 'skip' (L35): the exact
  gradient of the batch's own normalization, no compensation — the ablation of the experiment.
* The official code never compensates with $r \ne 1$ before iteration max(1000, T_w) (L60); at toy scale the
  threshold `r_after` is a constructor argument (default 1000, as the code); `compensate=False` turns it off.
* The official module accepts a padding mask; the toy has no padding.
* The brief's "fall back to the moving statistics on an outlier" is, in the code, "keep the outlier out of
  the window (replace its slot by the running statistic) and normalise it by its own statistic": we follow
  the code.
* `replace_norms` swaps a `CharTransformerLM`'s LayerNorms (both per block and the final one) for any norm;
  `fold_char_lm` folds an eval-mode UN model into its qkv projections, first FF layers and head.

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/regularization-normalization/unified-normalization.ipynb
"""

from __future__ import annotations

import copy

import numpy as np

from ....autograd import ops
from ....autograd.function import Function
from ....autograd.tensor import Tensor
from ....nn.module import Module, Parameter

CATALOG_ENTRY = {
    "slug": "unified-normalization",
    "title": "Unified Normalization for Accelerating and Stabilizing Transformers",
    "authors": "Qiming Yang, Kai Zhang, Chaoxiang Lan, Zhi Yang, Zheyang Li, Wenming Tan, Jun Xiao, "
    "Shiliang Pu",
    "year": 2022,
    "arxiv": "2208.01313",
    "family": "regularization-normalization",
    "notebook": "notebooks/regularization-normalization/unified-normalization.ipynb",
    "verified": "official-code",
    "verification_note": (
        "Forward, backward and buffers read in hikvision-research/Unified-Normalization, "
        "neural_machine_translation/fairseq/modules/unified_normalization/unified_normalization.py "
        "(UN2dFunction L24-110, UN1d L112-204): second moment over batch and tokens, geometric mean of the "
        "last M in the forward, window mean + EMA of mean(g·z) in the backward, outlier test AM − GM > "
        "M·Var(√window), gradient compensation r clipped to [1/5, 5]. The arXiv abstract was read; the "
        "paper's body (equation numbers) was not available, so formula lines cite the code's lines. The "
        "exact mode is checked by float64 finite differences; the smoothed backward against a hand oracle."
    ),
    "summary": (
        "Replace LayerNorm in a transformer by an offline, BatchNorm-like normalization (x divided by the "
        "root of a per-channel second moment over batch and tokens, no centring) that folds into the next "
        "linear layer at inference. Training is stabilised by fluctuation smoothing — the geometric mean "
        "of the last M second moments in the forward and a windowed, exponentially averaged gradient "
        "statistic in the backward — and by adaptive outlier filtration, which keeps a batch whose "
        "statistics jump out of the window."
    ),
    "equations": [
        "σ²_t = mean_i x_i²  (per channel, over batch × tokens; L38)",
        "σ̂²_t = (Π_{k<M} σ²_{t−k})^{1/M}  (geometric mean of the window; L56)",
        "y = γ ⊙ x/√(σ̂²_t + ε) + β;  σ²_run ← m σ²_run + (1 − m) σ̂²_t  (L65-72)",
        "outlier: max_c [AM − GM of the window] > M · Var(√window)  → slot ← σ²_run, use σ²_t  (L41-54)",
        "x̄ = (g − ψ̃ z)/√(σ̂²_t + ε),  g = r γ ȳ,  ψ̃ = EMA of window-mean of mean(g ⊙ z)  (L88-109)",
        "r = clip(√((σ̂²_t + ε)/(σ²_run + ε)), 1/5, 5)  (L59-63)",
        "eval: y = a ⊙ x + c, a = γ/√(σ²_run + ε), c = β;  W(a ⊙ x + c) + b = (W diag a) x + (W c + b)",
    ],
}

__all__ = [
    "geometric_mean",
    "window_is_outlier",
    "compensation",
    "UNFunction",
    "unified_norm",
    "UnifiedNorm",
    "un_affine",
    "fold_affine_into_next_linear",
    "replace_norms",
    "fold_char_lm",
    "contract_examples",
]


# --- the statistics ----------------------------------------------------------------------------------
def geometric_mean(window: np.ndarray) -> np.ndarray:
    """Per-channel geometric mean over the rows of a window (M, C) of positive second moments."""
    with np.errstate(divide="ignore"):  # a zero entry (an unfilled slot) gives a geometric mean of 0
        return np.exp(np.mean(np.log(window), axis=0))  # σ̂² = exp(mean log σ²)  (L56)


def window_is_outlier(window: np.ndarray, recorded_var: float) -> bool:
    """The outlier test on the window (M, C) that already holds the current σ²_t: AM − GM > M · v for some
    channel, v = Var(√window) recorded *before* σ²_t was written (L41-47)."""
    m = window.shape[0]
    am = window.mean(axis=0)  # arithmetic mean (L44)
    gm = geometric_mean(window)  # geometric mean (L45)
    return bool(np.any(am - gm > recorded_var * m))  # L47


def compensation(var, running_var, eps: float, active: bool, clip: float = 5.0) -> np.ndarray:
    """r = clip(√(σ̂² + ε)/√(σ²_run + ε), 1/clip, clip), or 1 when not `active` (L59-63)."""
    if not active:
        return np.ones_like(var)
    r = np.sqrt(var + eps) / np.sqrt(running_var + eps)
    return np.clip(r, 1.0 / clip, clip)


# --- the op with its hand-written backward --------------------------------------------------------------
class UNFunction(Function):
    """y = γ ⊙ x/√(σ̂² + ε) + β on x (n, C) in training; `un` (a `UnifiedNorm`) supplies and updates the
    windows, the running statistics and the counters: forward as L27-73, backward as L76-110."""

    def forward(ctx, x, weight, bias, *, un):
        t = int(un.iters) + 1
        un.iters[...] = t  # the module counts the call before the op (L186)
        m_fp = un.fp_window
        x2 = np.mean(x * x, axis=0)  # σ²_t (L38)
        skip = m_fp <= 1  # a window of 1: never smoothed (L35)
        recorded_var = float(np.var(np.sqrt(un.buffer_x2), ddof=1)) if un.buffer_x2.size > 1 else 0.0  # L41
        un.buffer_x2[t % m_fp] = x2  # L42
        if t >= un.warmup and un.outlier_filtration and window_is_outlier(un.buffer_x2, recorded_var):
            un.buffer_x2[t % m_fp] = un.running_var  # keep the outlier out of the window (L49)
            skip = True
            un.skip_counter[...] = int(un.skip_counter) + 1  # L51
        if t <= m_fp or t < un.warmup or skip:
            var = x2  # L53-54: the batch's own statistic
        else:
            var = geometric_mean(un.buffer_x2)  # fluctuation smoothing, forward (L56)
        active = un.compensate and not (t <= max(un.r_after, un.warmup) or skip)
        r = compensation(var, un.running_var, un.eps, active)  # L59-63
        z = x / np.sqrt(var + un.eps)  # L65
        un.running_var[...] = un.momentum * un.running_var + (1 - un.momentum) * var  # L70
        ctx.z, ctx.var, ctx.r, ctx.weight, ctx.skip, ctx.t, ctx.un = z, var, r, weight, skip, t, un
        return weight * z + bias  # L72

    def backward(ctx, gy):
        un, z, r, t = ctx.un, ctx.z, ctx.r, ctx.t
        m_bp = un.bp_window
        g = gy * ctx.weight * r  # gradient compensation (L88-90)
        psi = np.mean(g * z, axis=0)  # ψ_t = mean(g ⊙ z) (L91)
        un.buffer_gz[t % m_bp] = un.ema_gz if ctx.skip else psi  # L93-96
        if t <= m_bp or t < un.warmup or ctx.skip:
            mean_psi = psi  # L98-99
        else:
            mean_psi = un.buffer_gz.mean(axis=0)  # fluctuation smoothing, backward: window mean (L101)
        un.ema_gz[...] = un.momentum * un.ema_gz + (1 - un.momentum) * mean_psi  # EMA (L103)
        psi_used = mean_psi if ctx.skip else un.ema_gz  # L104-107
        gx = (g - psi_used * z) / np.sqrt(ctx.var + un.eps)  # L109
        gw = np.sum(gy * r * z, axis=0)  # γ̄ = Σ ȳ ⊙ r z (L88, L110)
        gb = np.sum(gy, axis=0)  # β̄ = Σ ȳ (L110)
        return gx, gw, gb


def unified_norm(x, weight, bias, un) -> Tensor:
    """Training-mode UN of x (n, C) with the state of `un`."""
    return UNFunction.apply(x, weight, bias, un=un)


class UnifiedNorm(Module):
    """UN over the batch and token axes of x (..., C) (UN1d, L112-204).

    window: M for the forward and the backward windows (an int, or a pair (M_fp, M_bp); L134-139);
    warmup: T_w iterations before smoothing and filtration (L43, L53); outlier_filtration (L43);
    momentum m of the running statistics and of the backward EMA (L70, L103);
    compensate and r_after: the gradient compensation, used after max(r_after, T_w) iterations (L60)."""

    def __init__(
        self,
        channels: int,
        window=4,
        warmup: int = 4000,
        outlier_filtration: bool = True,
        eps: float = 1e-5,
        momentum: float = 0.9,
        compensate: bool = True,
        r_after: int = 1000,
        dtype=np.float32,
    ):
        super().__init__()
        fp, bp = (window, window) if isinstance(window, int) else (int(window[0]), int(window[1]))
        if fp < 1 or bp < 1 or not 0.0 <= momentum < 1.0:
            raise ValueError(
                f"UnifiedNorm: windows must be ≥ 1 and momentum in [0, 1), got window={window}, "
                f"momentum={momentum}"
            )
        self.num_features, self.fp_window, self.bp_window = int(channels), fp, bp
        self.warmup, self.outlier_filtration = int(warmup), bool(outlier_filtration)
        self.eps, self.momentum = float(eps), float(momentum)
        self.compensate, self.r_after = bool(compensate), int(r_after)
        self.weight = Parameter(np.ones(channels, dtype=dtype))
        self.bias = Parameter(np.zeros(channels, dtype=dtype))
        self.register_buffer("running_var", np.ones(channels, dtype=dtype))
        self.register_buffer("ema_gz", np.zeros(channels, dtype=dtype))
        self.register_buffer("buffer_x2", np.zeros((fp, channels), dtype=dtype))
        self.register_buffer("buffer_gz", np.zeros((bp, channels), dtype=dtype))
        self.register_buffer("iters", np.array(0, dtype=np.int64))
        self.register_buffer("skip_counter", np.array(0, dtype=np.int64))

    def forward(self, x):
        shape = x.shape
        flat = ops.reshape(x, (-1, self.num_features))
        if self.training:
            y = unified_norm(flat, self.weight, self.bias, self)
        else:
            a = (1.0 / np.sqrt(self.running_var + self.eps)).astype(self.weight.data.dtype)
            y = flat * a * self.weight + self.bias  # eval: γ x/√(σ²_run + ε) + β (L192-194)
        return ops.reshape(y, shape)

    def extra_repr(self):
        return (
            f"{self.num_features}, window=({self.fp_window}, {self.bp_window}), warmup={self.warmup}, "
            f"outlier_filtration={self.outlier_filtration}, momentum={self.momentum}"
        )


# --- the fold -----------------------------------------------------------------------------------------------
def un_affine(norm: UnifiedNorm):
    """(a, c) with eval-mode UN(x) = a ⊙ x + c: a = γ/√(σ²_run + ε), c = β."""
    a = norm.weight.data.astype(np.float64) / np.sqrt(norm.running_var.astype(np.float64) + norm.eps)
    return a, norm.bias.data.astype(np.float64)


def fold_affine_into_next_linear(scale, shift, weight, bias=None):
    """Linear(a ⊙ x + c) = W' x + b' with W' = W diag(a), b' = W c + b; `weight` is (out, in)."""
    scale, shift, weight = np.asarray(scale), np.asarray(shift), np.asarray(weight)
    if weight.ndim != 2 or scale.shape != (weight.shape[1],) or shift.shape != (weight.shape[1],):
        raise ValueError(
            f"fold_affine_into_next_linear: expected weight (out, in) and scale/shift (in,), got "
            f"weight {weight.shape}, scale {scale.shape}, shift {shift.shape}"
        )
    w_new = weight * scale[None, :]  # W diag(a)
    b_new = weight @ shift + (0.0 if bias is None else np.asarray(bias))  # W c + b
    return w_new, b_new


class Identity(Module):
    def forward(self, x):
        return x


def replace_norms(model, make_norm):
    """Swap every LayerNorm of a `CharTransformerLM` (norm1, norm2 of each block and ln_f) for
    `make_norm()`, in place; returns the model."""
    for block in model.blocks:
        block.norm1, block.norm2 = make_norm(), make_norm()
    model.ln_f = make_norm()
    return model


def _fold_block(block):
    """Fold a pre-norm TransformerBlock's eval-mode UNs into the qkv projection and the first FF layer."""
    a, c = un_affine(block.norm1)
    attn = block.self_attn
    dt = attn.in_proj_weight.data.dtype
    b0 = None if attn.in_proj_bias is None else attn.in_proj_bias.data
    w, b = fold_affine_into_next_linear(a, c, attn.in_proj_weight.data, b0)
    attn.in_proj_weight = Parameter(np.asarray(w, dtype=dt))
    attn.in_proj_bias = Parameter(np.asarray(b, dtype=dt))
    a, c = un_affine(block.norm2)
    lin = block.linear1
    w, b = fold_affine_into_next_linear(a, c, lin.weight.data, None if lin.bias is None else lin.bias.data)
    lin.weight, lin.bias = Parameter(np.asarray(w, dtype=dt)), Parameter(np.asarray(b, dtype=dt))
    block.norm1, block.norm2 = Identity(), Identity()


def fold_char_lm(model):
    """An eval-mode copy of a UN `CharTransformerLM` with every UN folded into the next linear layer
    (qkv in-projection, first FF layer, head); the norms become identities."""
    m = copy.deepcopy(model)
    m.eval()
    for block in m.blocks:
        _fold_block(block)
    a, c = un_affine(m.ln_f)
    dt = m.head.weight.data.dtype
    hb = None if m.head.bias is None else m.head.bias.data
    w, b = fold_affine_into_next_linear(a, c, m.head.weight.data, hb)
    m.head.weight, m.head.bias = Parameter(np.asarray(w, dtype=dt)), Parameter(np.asarray(b, dtype=dt))
    m.ln_f = Identity()
    return m


# --- family contract ---------------------------------------------------------------------------------------
class _FoldedBlock(Module):
    """A pre-norm TransformerBlock whose forward takes float x (B, T, C) (the contract feeds floats)."""

    def __init__(self, block):
        super().__init__()
        self.block = block

    def forward(self, x):
        return self.block(x, is_causal=True)


def contract_examples(seed: int = 0) -> list:
    from ....nn.layers.transformer import TransformerBlock

    rng = np.random.default_rng(seed)
    block = TransformerBlock(8, 2, 16, norm_first=True, activation="gelu", dtype=np.float64, rng=seed)
    for name in ("norm1", "norm2"):
        un = UnifiedNorm(8, dtype=np.float64)
        un.weight.data[...] = rng.uniform(0.5, 2, 8)
        un.bias.data[...] = rng.normal(size=8)
        un.running_var[...] = rng.uniform(0.3, 3, 8)
        setattr(block, name, un)
    train = _FoldedBlock(block)
    train.eval()
    deploy = copy.deepcopy(train)
    _fold_block(deploy.block)
    x = rng.normal(size=(3, 5, 8))
    return [
        {
            "kind": "reparam",
            "name": "UN transformer block eval vs folded",
            "train": train,
            "deploy": deploy,
            "x": x,
        }
    ]
