r"""The quantization family's shared base: quantizers, gradients, observers, fake-quant modules, GPTQ.

Everything a quantization technique in this package builds on, smallest first:

1. **Integer grids** (uniform affine / symmetric; per tensor, per channel, per group)::

       s = (hi − lo) / (2^b − 1),  z = round(−lo / s)           (affine, codes in [0, 2^b − 1])
       s = max|x| / (2^{b−1} − 1),  z = 0                       (symmetric, codes in [−2^{b−1}, 2^{b−1} − 1])
       code = clip(round(x / s) + z, q_min, q_max),   x̂ = s · (code − z)

   `round` is round-half-to-even (`np.rint`), as `torch.round`.  `lo = min(min x, 0)`, `hi = max(max x, 0)`
   so that 0 is always exactly representable; `clip_ratio` shrinks the range (clipping).

2. **Floating-point formats** E\ *x*\ M\ *y* (`FPFormat`): sign, E exponent bits with bias b, M mantissa
   bits, subnormals at exponent field 0, and a choice of which codes are special:
   ``"none"`` (every code finite: FP4 E2M1, the LLM-FP4 formats), ``"fn"`` (only S.1…1.1…1 is NaN: OCP
   FP8 E4M3, max 448), ``"ieee"`` (exponent field all-ones reserved: E5M2, max 57344).  `fp_quantize`
   rounds to the nearest representable value (ties to an even integer multiple of the local step — i.e.
   an even mantissa when M ≥ 1) and *saturates* at ±max.  `FPFormat.values()` enumerates every bit
   pattern, the brute-force oracle the tests compare against bit-exactly.

3. **Power-of-two (log2) grids**: x̂ = sign(x) · 2^{clip(round(log₂|x|), k_min, k_max)}, 0 below the
   grid.

4. **Gradients**: the straight-through estimator (STE, Bengio et al. 2013), the *clipped* STE that
   passes the gradient only where the input is inside the clipping range, and LSQ's step-size gradient
   (Esser et al. 2020, Eq. 3)::

       ∂x̂/∂s = −v + round(v)  if q_min < v < q_max;   q_min if v ≤ q_min;   q_max if v ≥ q_max;   v = x/s
       (times the gradient scale g = 1/√(N · q_max)).

5. **Observers** (calibration): min–max, percentile, MSE-optimal clipping search (grid over the clipping
   ratio, the one minimising ‖x − q(x)‖²).

6. **Fake-quant modules**: `FakeQuantWeight` is a weight *parametrization* (stacks with any other
   parametrization on the same layer); `FakeQuantAct` quantizes activations after a calibration pass.

7. **GPTQ** (Frantar et al. 2023, Alg. 1 — Optimal Brain Quantization with a Cholesky-factored inverse
   Hessian): quantize the columns of W one at a time and spread each column's error over the
   not-yet-quantized columns with the inverse of H = 2 XᵀX / N (the Hessian of ‖WX − ŴX‖²)::

       q_j = quant(w_j),   e = (w_j − q_j) / [H⁻¹_F]_{jj},   w_F ← w_F − e · [H⁻¹_F]_{j,F}

   `obq_reference` is the same algorithm with H⁻¹ of the remaining columns re-inverted at every step
   (the tests' oracle); `least_squares_update` the brute-force closed form of one step.

The hot loops (integer quantize–dequantize per row, FP quantize, MSE clipping search per row) have a
Numba kernel in `_kernels.py` beside the NumPy twin here (`*_numpy`); the public functions dispatch to
Numba on first use unless `REFIMPL_DISABLE_NUMBA=1` (the project-wide switch).  The Numba module is
imported lazily, so `import refimpl` never imports numba.

The family contract (tested for every quantizer here): q(q(x)) = q(x) for fixed quantization parameters;
|x − q(x)| ≤ s/2 inside the range; codes within [q_min, q_max]; the clipped STE passes the gradient
inside the clipping range only; dequantized values are exactly representable in the format.
"""

from __future__ import annotations

import dataclasses
import math
from functools import cache

import numpy as np

from ...autograd.function import Function, straight_through
from ...autograd.tensor import Tensor
from ...kernels import NumbaTwin
from ...nn.module import Module

__all__ = [
    "int_range",
    "QParams",
    "quant_params",
    "quantize",
    "dequantize",
    "fake_quant",
    "fake_quant_numpy",
    "FPFormat",
    "E2M1",
    "E3M0",
    "E4M3",
    "E5M2",
    "fp_quantize",
    "fp_quantize_numpy",
    "fp_format_from_bits",
    "log2_quantize",
    "round_ste",
    "fake_quant_ste",
    "lsq_quantize",
    "lsq_grad_scale",
    "MinMaxObserver",
    "PercentileObserver",
    "MSEObserver",
    "mse_clip_search",
    "mse_clip_search_numpy",
    "FakeQuantWeight",
    "FakeQuantAct",
    "hessian",
    "gptq",
    "obq_reference",
    "least_squares_update",
    "rtn_quantize_weight",
    "kernel_backend",
]


# ------------------------------------------------------------------------------------------------------
# checks
def _check_bits(bits, fn, low=1, high=16):
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or not low <= bits <= high:
        raise ValueError(f"{fn}: `bits` must be an integer in [{low}, {high}], got {bits!r}")
    return int(bits)


def _as_array(x, fn, name="x"):
    arr = x.data if isinstance(x, Tensor) else np.asarray(x)
    if arr.dtype.kind not in "fiu":
        raise TypeError(f"{fn}: `{name}` must be a real array, got dtype {arr.dtype}")
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise ValueError(f"{fn}: `{name}` must be finite (found NaN or inf)")
    return arr


def _float(arr):
    return arr if arr.dtype.kind == "f" else arr.astype(np.float64)


# ------------------------------------------------------------------------------------------------------
# 1. integer grids
def int_range(bits: int, signed: bool = True) -> tuple:
    """(q_min, q_max): [−2^{b−1}, 2^{b−1} − 1] when signed, [0, 2^b − 1] otherwise."""
    bits = _check_bits(bits, "int_range")
    return (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)


@dataclasses.dataclass
class QParams:
    """Scale and zero point broadcastable to the tensor they were computed for, and the code range."""

    scale: np.ndarray
    zero_point: np.ndarray
    qmin: int
    qmax: int

    @property
    def bits(self) -> int:
        return int(round(math.log2(self.qmax - self.qmin + 1)))


_GRANULARITIES = ("tensor", "channel", "group")


def _reduce_minmax(x, granularity, axis, group_size, fn):
    """min and max of x over the granularity's blocks, returned broadcastable to x (groups expanded)."""
    if granularity not in _GRANULARITIES:
        raise ValueError(f"{fn}: `granularity` must be one of {_GRANULARITIES}, got {granularity!r}")
    if granularity == "tensor":
        return np.min(x, keepdims=True) if x.size else np.zeros((1,) * x.ndim), (
            np.max(x, keepdims=True) if x.size else np.zeros((1,) * x.ndim)
        )
    if x.ndim < 1:
        raise ValueError(f"{fn}: per-{granularity} quantization needs x.ndim ≥ 1, got a 0-d array")
    if granularity == "channel":
        if not -x.ndim <= axis < x.ndim:
            raise ValueError(
                f"{fn}: `axis` must be in [{-x.ndim}, {x.ndim - 1}] for shape {x.shape}, got {axis}"
            )
        other = tuple(i for i in range(x.ndim) if i != axis % x.ndim)
        return np.min(x, axis=other, keepdims=True), np.max(x, axis=other, keepdims=True)
    # group: contiguous groups of `group_size` along the last axis
    if isinstance(group_size, bool) or not isinstance(group_size, (int, np.integer)) or group_size < 1:
        raise ValueError(
            f"{fn}: `group_size` must be a positive integer for per-group quantization, got {group_size!r}"
        )
    n = x.shape[-1]
    if n % group_size:
        raise ValueError(f"{fn}: the last axis ({n}) must be a multiple of `group_size` ({group_size})")
    g = x.reshape(x.shape[:-1] + (n // group_size, group_size))
    lo = np.repeat(np.min(g, axis=-1), group_size, axis=-1)
    hi = np.repeat(np.max(g, axis=-1), group_size, axis=-1)
    return lo, hi


def _qparams_from_range(lo, hi, bits, symmetric, clip_ratio, dtype):
    lo = np.minimum(lo, 0.0).astype(np.float64) * clip_ratio
    hi = np.maximum(hi, 0.0).astype(np.float64) * clip_ratio
    if symmetric:
        qmin, qmax = int_range(bits, signed=True)
        amax = np.maximum(np.abs(lo), np.abs(hi))
        scale = np.where(amax > 0, amax / max(qmax, 1), 1.0)
        zp = np.zeros_like(scale)
    else:
        qmin, qmax = int_range(bits, signed=False)
        rng = hi - lo
        scale = np.where(rng > 0, rng / qmax, 1.0)
        zp = np.clip(np.rint(-lo / scale), qmin, qmax)
    return QParams(scale.astype(dtype), zp.astype(dtype), qmin, qmax)


def quant_params(
    x,
    bits: int,
    *,
    symmetric: bool = True,
    granularity: str = "tensor",
    axis: int = 0,
    group_size: int | None = None,
    clip_ratio=1.0,
) -> QParams:
    """Min–max quantization parameters of x (see the module docstring; `clip_ratio` ∈ (0, 1] shrinks the
    range, a scalar or an array broadcastable to the per-block statistics)."""
    fn = "quant_params"
    arr = _float(_as_array(x, fn))
    bits = _check_bits(bits, fn, low=2 if symmetric else 1)
    ratio = np.asarray(clip_ratio, dtype=np.float64)
    if np.any(ratio <= 0) or np.any(ratio > 1):
        raise ValueError(f"{fn}: `clip_ratio` must be in (0, 1], got {clip_ratio!r}")
    lo, hi = _reduce_minmax(arr, granularity, axis, group_size, fn)
    return _qparams_from_range(lo, hi, bits, symmetric, ratio, arr.dtype)


def _check_qparams(qp, fn):
    if not isinstance(qp, QParams):
        raise TypeError(f"{fn}: `qparams` must be a QParams, got {type(qp).__name__}")
    if np.any(qp.scale <= 0):
        raise ValueError(f"{fn}: every scale must be > 0")


def quantize(x, qp: QParams) -> np.ndarray:
    """Integer codes clip(round(x/s) + z, q_min, q_max) (int64)."""
    arr = _float(_as_array(x, "quantize"))
    _check_qparams(qp, "quantize")
    return np.clip(np.rint(arr / qp.scale) + qp.zero_point, qp.qmin, qp.qmax).astype(np.int64)


def dequantize(codes, qp: QParams) -> np.ndarray:
    """x̂ = s · (code − z)."""
    _check_qparams(qp, "dequantize")
    return (np.asarray(codes) - qp.zero_point) * qp.scale


def fake_quant_numpy(x, qp: QParams) -> np.ndarray:
    """The NumPy twin of the quantize–dequantize kernel: s · (clip(round(x/s) + z, q_min, q_max) − z)."""
    arr = _float(_as_array(x, "fake_quant_numpy"))
    _check_qparams(qp, "fake_quant_numpy")
    s, z = np.asarray(qp.scale, arr.dtype), np.asarray(qp.zero_point, arr.dtype)
    return ((np.clip(np.rint(arr / s) + z, qp.qmin, qp.qmax) - z) * s).astype(arr.dtype)


def _row_params(arr, qp):
    """(rows, s_row, z_row) if qp is per-row on a 2-D view of arr (last axis = columns), else None."""
    if arr.ndim != 2:
        return None
    s = np.broadcast_to(qp.scale, arr.shape)
    z = np.broadcast_to(qp.zero_point, arr.shape)
    if np.all(s == s[:, :1]) and np.all(z == z[:, :1]):
        return s[:, 0], z[:, 0]
    return None


def fake_quant(x, qp: QParams) -> np.ndarray:
    """Quantize–dequantize x (an array) with `qp`; Numba kernel for per-row/per-tensor parameters on 2-D
    inputs (unless REFIMPL_DISABLE_NUMBA=1), identical to `fake_quant_numpy`."""
    arr = _float(_as_array(x, "fake_quant"))
    _check_qparams(qp, "fake_quant")
    k = _kernels()
    rows = _row_params(arr, qp) if k else None
    if rows is None:
        return fake_quant_numpy(arr, qp)
    out = np.empty(arr.shape, dtype=arr.dtype)
    k.qdq_rows(
        np.ascontiguousarray(arr),
        np.ascontiguousarray(rows[0], dtype=arr.dtype),
        np.ascontiguousarray(rows[1], dtype=arr.dtype),
        float(qp.qmin),
        float(qp.qmax),
        out,
    )
    return out


def rtn_quantize_weight(
    w,
    bits: int,
    *,
    symmetric: bool = True,
    granularity: str = "channel",
    group_size: int | None = None,
    clip_ratio=1.0,
) -> np.ndarray:
    """Round-to-nearest weight quantization with min–max parameters (per output channel by default)."""
    arr = _float(_as_array(w, "rtn_quantize_weight", "w"))
    qp = quant_params(
        arr,
        bits,
        symmetric=symmetric,
        granularity=granularity,
        axis=0,
        group_size=group_size,
        clip_ratio=clip_ratio,
    )
    return fake_quant(arr, qp)


# ------------------------------------------------------------------------------------------------------
# 2. floating-point formats
_SPECIALS = ("none", "fn", "ieee")


@dataclasses.dataclass(frozen=True)
class FPFormat:
    """A minifloat: 1 sign bit, `exp_bits` exponent bits with `bias`, `man_bits` mantissa bits.

    special: "none" (all codes finite), "fn" (only the all-ones code is NaN; OCP E4M3), "ieee" (the
    all-ones exponent is inf/NaN; E5M2).  bias defaults to 2^{E−1} − 1."""

    exp_bits: int
    man_bits: int
    bias: int | None = None
    special: str = "none"

    def __post_init__(self):
        if not isinstance(self.exp_bits, (int, np.integer)) or not 1 <= self.exp_bits <= 8:
            raise ValueError(f"FPFormat: `exp_bits` must be an integer in [1, 8], got {self.exp_bits!r}")
        if not isinstance(self.man_bits, (int, np.integer)) or not 0 <= self.man_bits <= 10:
            raise ValueError(f"FPFormat: `man_bits` must be an integer in [0, 10], got {self.man_bits!r}")
        if self.special not in _SPECIALS:
            raise ValueError(f"FPFormat: `special` must be one of {_SPECIALS}, got {self.special!r}")
        if self.special == "fn" and self.man_bits == 0:
            raise ValueError(
                "FPFormat: special='fn' needs man_bits ≥ 1 (the NaN code would eat the whole binade)"
            )
        if self.special == "ieee" and self.exp_bits < 2:
            raise ValueError("FPFormat: special='ieee' needs exp_bits ≥ 2")
        if self.bias is None:
            object.__setattr__(self, "bias", 2 ** (self.exp_bits - 1) - 1)

    @property
    def name(self) -> str:
        return f"E{self.exp_bits}M{self.man_bits}"

    @property
    def bits(self) -> int:
        return 1 + self.exp_bits + self.man_bits

    @property
    def emin(self) -> int:
        """Exponent of the smallest normal number (and of the subnormal step): 1 − bias."""
        return 1 - self.bias

    @property
    def emax(self) -> int:
        top = 2**self.exp_bits - 1 - (1 if self.special == "ieee" else 0)
        return top - self.bias

    @property
    def max_value(self) -> float:
        m = self.man_bits
        frac = 2.0 - 2.0 ** (1 - m) if self.special == "fn" else 2.0 - 2.0 ** (-m)
        return math.ldexp(frac, self.emax)

    @property
    def min_subnormal(self) -> float:
        return math.ldexp(1.0, self.emin - self.man_bits)

    def decode(self, code: int) -> float:
        """The value of one bit pattern (sign | exponent | mantissa); NaN/inf for the special codes."""
        m_bits, e_bits = self.man_bits, self.exp_bits
        sign = -1.0 if (code >> (e_bits + m_bits)) & 1 else 1.0
        e = (code >> m_bits) & (2**e_bits - 1)
        m = code & (2**m_bits - 1)
        if self.special == "ieee" and e == 2**e_bits - 1:
            return sign * math.inf if m == 0 else math.nan
        if self.special == "fn" and e == 2**e_bits - 1 and m == 2**m_bits - 1:
            return math.nan
        if e == 0:
            return sign * math.ldexp(m / 2**m_bits, self.emin)
        return sign * math.ldexp(1.0 + m / 2**m_bits, e - self.bias)

    def values(self) -> np.ndarray:
        """Every finite value of the format, sorted, ±0 merged — by brute-force decoding of all 2^bits codes."""
        return _enumerate(self)


@cache
def _enumerate_cached(fmt):
    vals = {fmt.decode(c) for c in range(2**fmt.bits)}
    return np.array(sorted(v for v in vals if math.isfinite(v)), dtype=np.float64)


def _enumerate(fmt):
    return _enumerate_cached(fmt).copy()


E2M1 = FPFormat(2, 1)  # FP4: ±{0, 0.5, 1, 1.5, 2, 3, 4, 6}
E3M0 = FPFormat(3, 0)  # FP4 without mantissa: powers of two and 0
E4M3 = FPFormat(4, 3, special="fn")  # OCP FP8 E4M3 (max 448)
E5M2 = FPFormat(5, 2, special="ieee")  # OCP FP8 E5M2 (max 57344)


def fp_format_from_bits(bits: int, exp_bits: int, special: str = "none") -> FPFormat:
    """The (1 + E + M)-bit format with M = bits − 1 − E (LLM-FP4 searches E for a given bit width)."""
    bits = _check_bits(bits, "fp_format_from_bits", low=2)
    if not 1 <= exp_bits <= bits - 1:
        raise ValueError(
            f"fp_format_from_bits: `exp_bits` must be in [1, {bits - 1}] for {bits} bits, got {exp_bits}"
        )
    return FPFormat(exp_bits, bits - 1 - exp_bits, special=special)


def fp_quantize_numpy(x, fmt: FPFormat, scale=1.0) -> np.ndarray:
    """Round x/scale to the nearest value of `fmt` (saturating), times scale — the NumPy twin.

    For |y| = |x/scale| clipped to max: e = max(⌊log₂|y|⌋, 1 − bias) (from frexp, exact), step =
    2^{e − M}, ŷ = round(|y| / step) · step (ties to even)."""
    if not isinstance(fmt, FPFormat):
        raise TypeError(f"fp_quantize: `fmt` must be an FPFormat, got {type(fmt).__name__}")
    arr = _float(_as_array(x, "fp_quantize"))
    s = np.asarray(scale, dtype=np.float64)
    if np.any(s <= 0) or not np.all(np.isfinite(s)):
        raise ValueError("fp_quantize: `scale` must be finite and > 0")
    y = arr.astype(np.float64) / s
    a = np.minimum(np.abs(y), fmt.max_value)
    _, ex = np.frexp(a)  # a = f · 2^ex, f ∈ [0.5, 1) → ⌊log₂ a⌋ = ex − 1 (a = 0 gives ex = 0)
    e = np.maximum(ex - 1, fmt.emin)
    step = np.ldexp(1.0, e - fmt.man_bits)
    q = np.minimum(np.rint(a / step) * step, fmt.max_value)
    return (np.copysign(q, y) * s).astype(arr.dtype)


def fp_quantize(x, fmt: FPFormat, scale=1.0) -> np.ndarray:
    """As `fp_quantize_numpy` (Numba kernel for a scalar scale unless REFIMPL_DISABLE_NUMBA=1)."""
    if not isinstance(fmt, FPFormat):
        raise TypeError(f"fp_quantize: `fmt` must be an FPFormat, got {type(fmt).__name__}")
    k = _kernels()
    if not k or np.ndim(scale) != 0:
        return fp_quantize_numpy(x, fmt, scale)
    arr = _float(_as_array(x, "fp_quantize"))
    s = float(scale)
    if not s > 0 or not math.isfinite(s):
        raise ValueError("fp_quantize: `scale` must be finite and > 0")
    flat = np.ascontiguousarray(arr, dtype=np.float64).reshape(-1)
    out = np.empty_like(flat)
    k.fp_qdq(flat, s, float(fmt.max_value), int(fmt.emin), int(fmt.man_bits), out)
    return out.reshape(arr.shape).astype(arr.dtype)


# ------------------------------------------------------------------------------------------------------
# 3. power-of-two grid
def log2_quantize(x, bits: int, max_exp: int | None = None) -> np.ndarray:
    """sign(x) · 2^k with k = clip(round(log₂|x|), k_max − L + 1, k_max), L = 2^{b−1} − 1 magnitudes, and 0
    where round(log₂|x|) < k_min (one code of the 2^{b−1} unsigned ones is zero; 1 bit is the sign).
    k_max defaults to ⌈log₂ max|x|⌉ rounded (so the largest magnitude is on the grid)."""
    arr = _float(_as_array(x, "log2_quantize"))
    bits = _check_bits(bits, "log2_quantize", low=2)
    a = np.abs(arr.astype(np.float64))
    if max_exp is None:
        top = a.max() if a.size else 0.0
        max_exp = int(np.rint(np.log2(top))) if top > 0 else 0
    n_levels = 2 ** (bits - 1) - 1
    kmin = max_exp - n_levels + 1
    with np.errstate(divide="ignore"):
        k = np.rint(np.log2(a))
    mag = np.where(
        k < kmin,
        0.0,
        np.ldexp(1.0, np.clip(np.where(np.isfinite(k), k, kmin), kmin, max_exp).astype(np.int64)),
    )
    return (np.sign(arr) * mag + 0.0).astype(arr.dtype)  # + 0.0 turns −0 into 0


# ------------------------------------------------------------------------------------------------------
# 4. gradients
def round_ste(x: Tensor) -> Tensor:
    """round(x) forward, identity backward (STE)."""
    return straight_through(x, np.rint(x.data))


def _inside(arr, qp):
    v = np.rint(arr / qp.scale) + qp.zero_point  # the clipping test of the integer code, before clipping
    return (v >= qp.qmin) & (v <= qp.qmax)


def fake_quant_ste(x: Tensor, qp: QParams, clipped: bool = True) -> Tensor:
    """Fake-quantize a Tensor; the backward pass is the STE, restricted to the clipping range when
    `clipped` (gradient 0 where the code was clipped)."""
    if not isinstance(x, Tensor):
        raise TypeError(f"fake_quant_ste: `x` must be a Tensor, got {type(x).__name__}")
    value = fake_quant(x.data, qp)
    return straight_through(x, value, pass_mask=_inside(x.data, qp) if clipped else None)


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


# ------------------------------------------------------------------------------------------------------
# 5. observers and the MSE clipping search
def mse_clip_search_numpy(x2d, bits: int, symmetric: bool, ratios) -> tuple:
    """For each row of x2d: the clipping ratio α in `ratios` minimising Σ (x − q_α(x))² (NumPy twin).
    Returns (best ratio per row, its squared error per row)."""
    x2d = np.asarray(x2d, dtype=np.float64)
    best_r = np.ones(x2d.shape[0])
    best_e = np.full(x2d.shape[0], np.inf)
    for r in np.asarray(ratios, dtype=np.float64):
        qp = _qparams_from_range(
            x2d.min(1, keepdims=True), x2d.max(1, keepdims=True), bits, symmetric, r, np.float64
        )
        err = ((x2d - fake_quant_numpy(x2d, qp)) ** 2).sum(1)
        better = err < best_e
        best_r[better], best_e[better] = r, err[better]
    return best_r, best_e


def mse_clip_search(
    x,
    bits: int,
    *,
    symmetric: bool = True,
    granularity: str = "tensor",
    axis: int = 0,
    grid: int = 100,
    lowest: float = 0.2,
) -> tuple:
    """MSE-optimal clipping: α* = argmin_{α ∈ linspace(lowest, 1, grid)} ‖x − q_α(x)‖² per tensor or per
    channel.  Returns (QParams at α*, α* (scalar or per-channel array))."""
    fn = "mse_clip_search"
    arr = _float(_as_array(x, fn))
    bits = _check_bits(bits, fn, low=2 if symmetric else 1)
    if not 0 < lowest <= 1 or grid < 1:
        raise ValueError(f"{fn}: need 0 < lowest ≤ 1 and grid ≥ 1, got lowest={lowest}, grid={grid}")
    if granularity not in ("tensor", "channel"):
        raise ValueError(f"{fn}: `granularity` must be 'tensor' or 'channel', got {granularity!r}")
    ratios = np.linspace(lowest, 1.0, grid)
    if granularity == "tensor":
        x2d = arr.reshape(1, -1)
    else:
        x2d = np.moveaxis(arr, axis, 0).reshape(arr.shape[axis], -1)
    k = _kernels()
    if k:
        best_r = np.empty(x2d.shape[0])
        best_e = np.empty(x2d.shape[0])
        k.mse_clip_rows(
            np.ascontiguousarray(x2d, dtype=np.float64), int(bits), bool(symmetric), ratios, best_r, best_e
        )
    else:
        best_r, best_e = mse_clip_search_numpy(x2d, bits, symmetric, ratios)
    if granularity == "tensor":
        ratio = float(best_r[0])
        return quant_params(arr, bits, symmetric=symmetric, clip_ratio=ratio), ratio
    shape = [1] * arr.ndim
    shape[axis] = -1
    ratio = best_r.reshape(shape)
    return quant_params(
        arr, bits, symmetric=symmetric, granularity="channel", axis=axis, clip_ratio=ratio
    ), best_r


class _Observer:
    """Collects statistics of the tensors it sees (`update`) and turns them into QParams (`qparams`)."""

    def __init__(self, granularity: str = "tensor", axis: int = -1):
        if granularity not in ("tensor", "channel"):
            raise ValueError(
                f"{type(self).__name__}: `granularity` must be 'tensor' or 'channel', got {granularity!r}"
            )
        self.granularity, self.axis = granularity, axis
        self.count = 0

    def _rows(self, x):
        arr = np.asarray(x.data if isinstance(x, Tensor) else x, dtype=np.float64)
        if self.granularity == "tensor":
            return arr.reshape(1, -1)
        return np.moveaxis(arr, self.axis, 0).reshape(arr.shape[self.axis], -1)

    def _shape(self, n):
        return (1,) if self.granularity == "tensor" else (n,)


class MinMaxObserver(_Observer):
    """Running min and max (per tensor, or per channel along `axis`)."""

    def __init__(self, granularity="tensor", axis=-1):
        super().__init__(granularity, axis)
        self.lo = self.hi = None

    def update(self, x):
        r = self._rows(x)
        lo, hi = r.min(1), r.max(1)
        self.lo = lo if self.lo is None else np.minimum(self.lo, lo)
        self.hi = hi if self.hi is None else np.maximum(self.hi, hi)
        self.count += 1
        return self

    def qparams(self, bits, symmetric=True, ndim=2) -> QParams:
        if self.lo is None:
            raise ValueError(f"{type(self).__name__}.qparams: no data observed yet (call update first)")
        return _observer_qparams(self, self.lo, self.hi, bits, symmetric, ndim)


def _observer_qparams(obs, lo, hi, bits, symmetric, ndim):
    qp = _qparams_from_range(
        lo, hi, _check_bits(bits, "observer", low=2 if symmetric else 1), symmetric, 1.0, np.float64
    )
    if obs.granularity == "channel":
        shape = [1] * ndim
        shape[obs.axis] = -1
        qp.scale, qp.zero_point = qp.scale.reshape(shape), qp.zero_point.reshape(shape)
    else:
        qp.scale, qp.zero_point = qp.scale.reshape((1,) * ndim), qp.zero_point.reshape((1,) * ndim)
    return qp


class PercentileObserver(_Observer):
    """Keeps the samples; the range is the [100 − p, p] percentiles (p = 99.99 by default)."""

    def __init__(self, percentile: float = 99.99, granularity="tensor", axis=-1):
        super().__init__(granularity, axis)
        if not 50 < percentile <= 100:
            raise ValueError(f"PercentileObserver: `percentile` must be in (50, 100], got {percentile}")
        self.percentile = percentile
        self.rows = []

    def update(self, x):
        self.rows.append(self._rows(x))
        self.count += 1
        return self

    def qparams(self, bits, symmetric=True, ndim=2) -> QParams:
        if not self.rows:
            raise ValueError("PercentileObserver.qparams: no data observed yet (call update first)")
        r = np.concatenate(self.rows, axis=1)
        lo = np.percentile(r, 100 - self.percentile, axis=1)
        hi = np.percentile(r, self.percentile, axis=1)
        return _observer_qparams(self, lo, hi, bits, symmetric, ndim)


class MSEObserver(PercentileObserver):
    """Keeps the samples; the range is min–max shrunk by the MSE-optimal clipping ratio."""

    def __init__(self, granularity="tensor", axis=-1, grid: int = 100, lowest: float = 0.2):
        super().__init__(100.0, granularity, axis)
        self.grid, self.lowest = grid, lowest

    def qparams(self, bits, symmetric=True, ndim=2) -> QParams:
        if not self.rows:
            raise ValueError("MSEObserver.qparams: no data observed yet (call update first)")
        r = np.concatenate(self.rows, axis=1)
        _, ratio = mse_clip_search(
            r, bits, symmetric=symmetric, granularity="channel", axis=0, grid=self.grid, lowest=self.lowest
        )
        return _observer_qparams(self, r.min(1) * ratio, r.max(1) * ratio, bits, symmetric, ndim)


# ------------------------------------------------------------------------------------------------------
# 6. fake-quant modules
class FakeQuantWeight(Module):
    """A weight parametrization W ↦ Q(W) (min–max parameters recomputed from W on every call, no gradient
    through them) with the clipped STE; `register_parametrization(layer, "weight", FakeQuantWeight(4))`."""

    def __init__(
        self,
        bits: int,
        symmetric: bool = True,
        granularity: str = "channel",
        group_size: int | None = None,
        clip_ratio=1.0,
        clipped_ste: bool = True,
    ):
        super().__init__()
        self.bits = _check_bits(bits, "FakeQuantWeight", low=2 if symmetric else 1)
        self.symmetric, self.granularity, self.group_size = symmetric, granularity, group_size
        self.clip_ratio, self.clipped_ste = clip_ratio, clipped_ste

    def qparams(self, w) -> QParams:
        return quant_params(
            w,
            self.bits,
            symmetric=self.symmetric,
            granularity=self.granularity,
            axis=0,
            group_size=self.group_size,
            clip_ratio=self.clip_ratio,
        )

    def forward(self, w):
        return fake_quant_ste(w, self.qparams(w.data), clipped=self.clipped_ste)

    def extra_repr(self):
        return f"bits={self.bits}, symmetric={self.symmetric}, granularity={self.granularity}"


class FakeQuantAct(Module):
    """Activation fake quantizer: in `calibrating` mode it only feeds its observer and passes x through;
    `freeze(bits)` fixes the parameters; afterwards it quantizes with the clipped STE."""

    def __init__(self, bits: int, symmetric: bool = False, observer=None):
        super().__init__()
        self.bits = _check_bits(bits, "FakeQuantAct", low=2 if symmetric else 1)
        self.symmetric = symmetric
        self.observer = observer if observer is not None else MinMaxObserver()
        self.calibrating = True
        self._qp = {}

    def freeze(self):
        self.observer.qparams(self.bits, self.symmetric)  # fails early if nothing was observed
        self._qp = {}
        self.calibrating = False
        return self

    def qparams(self, ndim: int, dtype=np.float32) -> QParams:
        """The frozen parameters shaped for an input of rank `ndim` (channel axis = the observer's)."""
        if ndim not in self._qp:
            qp = self.observer.qparams(self.bits, self.symmetric, ndim=ndim)
            self._qp[ndim] = QParams(qp.scale.astype(dtype), qp.zero_point.astype(dtype), qp.qmin, qp.qmax)
        return self._qp[ndim]

    def forward(self, x):
        if self.calibrating:
            self.observer.update(x)
            return x
        return fake_quant_ste(x, self.qparams(x.ndim, x.data.dtype))


# ------------------------------------------------------------------------------------------------------
# 7. GPTQ / OBQ
def hessian(x, weights=None) -> np.ndarray:
    """H = 2 Xᵀ diag(r) X / Σr for layer inputs X (N, d) (r = 1: H = 2XᵀX/N, GPTQ's convention)."""
    X = np.asarray(x, dtype=np.float64).reshape(-1, np.shape(x)[-1])
    if weights is None:
        return 2.0 * X.T @ X / max(X.shape[0], 1)
    r = np.asarray(weights, dtype=np.float64).reshape(-1)
    if r.shape[0] != X.shape[0] or np.any(r < 0):
        raise ValueError(f"hessian: `weights` must be {X.shape[0]} non-negative numbers, got shape {r.shape}")
    return 2.0 * (X * r[:, None]).T @ X / max(r.sum(), 1e-300)


def _check_wh(W, H, fn):
    W = np.array(W, dtype=np.float64)
    H = np.array(H, dtype=np.float64)
    if W.ndim != 2 or H.shape != (W.shape[1], W.shape[1]):
        raise ValueError(f"{fn}: need W (out, in) and H (in, in), got W {W.shape}, H {H.shape}")
    if not np.allclose(H, H.T, atol=1e-8 * max(1.0, np.abs(H).max())):
        raise ValueError(f"{fn}: `H` must be symmetric")
    return W, H


def _damp(H, W, percdamp):
    H = H.copy()
    dead = np.diag(H) == 0
    H[dead, dead] = 1.0
    W[:, dead] = 0.0
    H[np.diag_indices_from(H)] += percdamp * np.mean(np.diag(H))
    return H


def gptq(W, H, quantizer, *, percdamp: float = 0.01, order=None) -> np.ndarray:
    """GPTQ (Frantar et al. 2023, Alg. 1, without lazy batching — same arithmetic, column by column).

    quantizer(column (out,), j) → quantized column; H is damped by `percdamp` · mean diag.  `order`: a
    permutation of the columns (e.g. act-order = descending diag H); default natural order.
    Returns Q (out, in) in the original column order."""
    W, H = _check_wh(W, H, "gptq")
    if percdamp < 0:
        raise ValueError(f"gptq: `percdamp` must be ≥ 0, got {percdamp}")
    d = W.shape[1]
    perm = np.arange(d) if order is None else np.asarray(order)
    if sorted(perm.tolist()) != list(range(d)):
        raise ValueError(f"gptq: `order` must be a permutation of range({d})")
    H = _damp(H, W, percdamp)
    W, H = W[:, perm], H[np.ix_(perm, perm)]
    Hinv = np.linalg.cholesky(np.linalg.inv(H)).T  # upper Cholesky factor of H⁻¹ (Alg. 1, line 2)
    Q = np.zeros_like(W)
    for j in range(d):
        w = W[:, j]
        q = np.asarray(quantizer(w.copy(), int(perm[j])), dtype=np.float64)
        Q[:, j] = q
        err = (w - q) / Hinv[j, j]  # Alg. 1, line 7
        W[:, j + 1 :] -= np.outer(err, Hinv[j, j + 1 :])  # Alg. 1, line 8
    out = np.empty_like(Q)
    out[:, perm] = Q
    return out


def obq_reference(W, H, quantizer, *, percdamp: float = 0.01) -> np.ndarray:
    """The oracle: OBQ in natural order with the inverse Hessian of the *remaining* columns re-inverted
    at every step (Frantar & Alistarh 2022, Eq. 2–3): δ_F = −(w_j − q_j)/[H_F⁻¹]_{jj} · [H_F⁻¹]_{j,:}."""
    W, H = _check_wh(W, H, "obq_reference")
    H = _damp(H, W, percdamp)
    d = W.shape[1]
    Q = np.zeros_like(W)
    for j in range(d):
        F = np.arange(j, d)
        Hinv = np.linalg.inv(H[np.ix_(F, F)])
        q = np.asarray(quantizer(W[:, j].copy(), j), dtype=np.float64)
        Q[:, j] = q
        W[:, F] -= np.outer((W[:, j] - q) / Hinv[0, 0], Hinv[0])
    return Q


def least_squares_update(w, H, j, q_j) -> np.ndarray:
    """Brute-force closed form of one OBQ step for one row w: fix w_j = q_j and choose the other free
    entries to minimise (w' − w) H (w' − w)ᵀ — the linear system H_RR δ_R = −H_Rj (q_j − w_j)."""
    w = np.asarray(w, dtype=np.float64)
    R = np.array([i for i in range(w.size) if i != j])
    delta = np.zeros_like(w)
    delta[j] = q_j - w[j]
    if R.size:
        delta[R] = np.linalg.solve(H[np.ix_(R, R)], -H[R, j] * delta[j])
    return w + delta


# ------------------------------------------------------------------------------------------------------
# Numba dispatch
_KERNELS = NumbaTwin("refimpl.techniques.quantization._kernels")


def _kernels():
    """The family's jitted kernels, or None for the NumPy twins (refimpl.kernels.NumbaTwin)."""
    return _KERNELS.get()


def kernel_backend(name: str | None = None) -> str:
    """Report ("numba"/"numpy") or force ("numba", "numpy", "auto" = re-resolve) the kernels' backend."""
    return _KERNELS.backend(name)
