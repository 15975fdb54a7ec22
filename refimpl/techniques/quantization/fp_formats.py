r"""Minifloat formats shared by the quantization family: FP8 (E4M3FN, E5M2) and FP4 (E2M1) codecs —
value → code encoder, code → value decoder, E2M1 two-per-byte packing — and the quantize–dequantize
"round to the format" that FP quantizers use.

A format E·M· has 1 sign bit, E exponent bits with bias b and M mantissa bits; a code
``s | e | m`` (sign in the top bit) has the value

    (−1)^s · 2^(e − b) · (1 + m / 2^M)     for e > 0                  (normal)
    (−1)^s · 2^(1 − b) · (m / 2^M)         for e = 0                  (subnormal; ±0 at m = 0)

The three formats and their special codes (OCP 8-bit Floating Point Specification (OFP8) v1.0 for FP8;
OCP Microscaling Formats (MX) v1.0, §5.3.3, for FP4):

* **E4M3FN** — bias 7; largest 448 (0x7E); no inf; NaN = S.1111.111 (0x7F, 0xFF); smallest
  positive 2^−9 (0x01).
* **E5M2** — bias 15; largest 57344 (0x7B); ±inf = S.11111.00 (0x7C, 0xFC); NaN = S.11111.{01, 10, 11};
  smallest positive 2^−16 (0x01).
* **E2M1** — bias 1; largest 6 (0x7); no inf, no NaN: all 16 codes are numbers, ±{0, 0.5, 1, 1.5, 2, 3,
  4, 6} (codes 0–7 and 8–15); smallest positive 0.5.

Conventions
-----------
* **Rounding**: round to nearest, ties to even (the even mantissa code), in every format — the IEEE
  754 default, and what `torch.Tensor.to(torch.float8_*)` does.  Values below half the smallest
  subnormal round to ±0 with the sign kept (−1e−9 → 0x80).
* **Overflow** (`encode(..., saturate=...)`): a value whose rounded magnitude exceeds the largest finite
  value (for E5M2 that is |x| ≥ 61440, the midpoint 57344 + 2^12 rounding to even upward; for E4M3FN
  |x| > 464, since 464 rounds to even 448), and ±inf:

  - ``saturate=False`` (the default: the format's own conversion) — E5M2 gives ±inf, as IEEE does;
    E4M3FN, which has no inf, gives NaN (S.1111.111), as the OFP8 spec defines for non-saturating
    conversion.
  - ``saturate=True`` — clamp to ±largest finite value (±inf too), the mode used for quantization
    (and what `fp_quantize` always does).

  PyTorch (2.13, checked in tests/xcheck/test_xcheck_fp8.py): the cast to float8_e5m2 overflows to ±inf
  (= saturate=False); the cast to float8_e4m3fn *saturates* to ±448 ("Finite overflow or inf → saturate
  to max finite value", torch/headeronly/util/Float8_e4m3fn.h) (= saturate=True).

  E2M1 has neither inf nor NaN, so there is nothing to overflow to: it clamps to ±6 in both modes (the
  MX spec's conversions to FP4 saturate).  NaN input encodes to the all-ones NaN code with its sign bit
  (E4M3FN, E5M2: 0x7F / 0xFF), and is an error for E2M1.
* **Packing** (`pack_fp4`): two E2M1 codes per byte, the **first element in the low nibble** (bits
  3..0) and the second in the high nibble (bits 7..4); an odd count is padded with a zero nibble.  This
  is PyTorch's `torch.float4_e2m1fn_x2` layout (read in `torch/headeronly/util/Float4_e2m1fn_x2.h`,
  lines 11–17 of the torch 2.x headers: "val1 : val0 / bit index 7654 : 3210"), which cites the OCP MX
  spec §5.3.3.
* `decode` returns float64; `encode` takes any real floating array (float32 values are encoded
  exactly, with one rounding).

`fp_quantize(x, fmt, scale)` rounds x/scale to the nearest finite value of the format (saturating) and
multiplies back; it has a Numba kernel (`_kernels.fp_qdq`) beside its NumPy twin `fp_quantize_numpy`,
selected through `quantizers.KERNELS`.  `FPFormat` also describes non-standard minifloats (any E, M,
integer bias, all codes finite) as LLM-FP4's format search needs.
"""

from __future__ import annotations

import dataclasses
import math
from functools import cache

import numpy as np

from .quantizers import KERNELS, as_float_array

__all__ = [
    "FPFormat",
    "E4M3FN",
    "E5M2",
    "E2M1",
    "code_table",
    "decode",
    "encode",
    "fp_quantize",
    "fp_quantize_numpy",
    "pack_fp4",
    "unpack_fp4",
]

_SPECIALS = ("none", "fn", "ieee")


@dataclasses.dataclass(frozen=True)
class FPFormat:
    """A minifloat: 1 sign bit, `exp_bits` exponent bits with `bias`, `man_bits` mantissa bits.

    special: "none" (every code is a number), "fn" (only the all-ones codes S.1…1.1…1 are NaN; no inf;
    OCP E4M3FN), "ieee" (the all-ones exponent is inf (mantissa 0) or NaN; E5M2).  bias defaults to
    2^(E−1) − 1."""

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
        return f"E{self.exp_bits}M{self.man_bits}" + ("FN" if self.special == "fn" else "")

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
        """Every finite value of the format, sorted, ±0 merged — by decoding all 2^bits codes."""
        t = code_table(self)
        return np.unique(t[np.isfinite(t)]) + 0.0  # + 0.0 turns −0 into +0


E4M3FN = FPFormat(4, 3, special="fn")  # OCP FP8 E4M3 (max 448, no inf)
E5M2 = FPFormat(5, 2, special="ieee")  # OCP FP8 E5M2 (max 57344, ±inf)
E2M1 = FPFormat(2, 1)  # OCP FP4: ±{0, 0.5, 1, 1.5, 2, 3, 4, 6}


def _check_format(fmt, fn):
    if not isinstance(fmt, FPFormat):
        raise TypeError(f"{fn}: `fmt` must be an FPFormat, got {type(fmt).__name__}")
    return fmt


@cache
def _table(fmt: FPFormat) -> np.ndarray:
    t = np.array([fmt.decode(c) for c in range(2**fmt.bits)], dtype=np.float64)
    t.flags.writeable = False
    return t


def code_table(fmt: FPFormat) -> np.ndarray:
    """The value of every code 0 … 2^bits − 1 (read-only float64; NaN and ±inf where the format has them)."""
    return _table(_check_format(fmt, "code_table"))


# --- the codec -------------------------------------------------------------------------------------------
def decode(codes, fmt: FPFormat) -> np.ndarray:
    """code → value (float64) for integer codes in [0, 2^bits): a lookup in the decoded table."""
    _check_format(fmt, "decode")
    c = np.asarray(codes)
    if c.dtype.kind not in "iu":
        raise TypeError(f"decode: `codes` must be integers, got dtype {c.dtype}")
    if c.size and (c.min() < 0 or c.max() >= 2**fmt.bits):
        raise ValueError(f"decode: codes of {fmt.name} must be in [0, {2**fmt.bits - 1}]")
    return code_table(fmt)[c.astype(np.int64)]


def _round_magnitude(a, fmt):
    """|x| rounded to nearest-even on the format's grid, *without* an upper clamp (may exceed max):
    e = max(⌊log₂ a⌋, emin) from frexp (exact), step = 2^(e − M), â = rint(a / step) · step."""
    _, ex = np.frexp(a)  # a = f · 2^ex, f ∈ [0.5, 1) → ⌊log₂ a⌋ = ex − 1 (a = 0 gives ex = 0)
    step = np.ldexp(1.0, np.maximum(ex - 1, fmt.emin) - fmt.man_bits)
    return np.rint(a / step) * step


def encode(x, fmt: FPFormat, *, saturate: bool = False) -> np.ndarray:
    """value → code (uint8 for ≤ 8 bits, wider above), round to nearest even; overflow per `saturate` (see the module
    docstring: False = the format's conversion, E5M2 → ±inf, E4M3FN → NaN; True = clamp to ±max; E2M1
    clamps in both)."""
    _check_format(fmt, "encode")
    arr = x.data if hasattr(x, "data") and not isinstance(x, np.ndarray) else np.asarray(x)
    if arr.dtype.kind not in "fiu":
        raise TypeError(f"encode: `x` must be a real array, got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    nan = np.isnan(arr)
    if fmt.special == "none" and np.any(nan):
        raise ValueError(f"encode: {fmt.name} has no NaN code, and `x` holds NaN")
    neg = np.signbit(arr)
    a = np.where(np.isfinite(arr), np.abs(arr), 0.0)
    q = _round_magnitude(a, fmt)
    over = (q > fmt.max_value) | np.isinf(arr)
    q = np.where(over, fmt.max_value, q)
    half = 2 ** (fmt.bits - 1)  # codes 0 … half − 1 are the non-negative ones, ascending in value
    finite_mags = code_table(fmt)[:half]
    n_finite = int(np.sum(np.isfinite(finite_mags)))
    mag = np.searchsorted(finite_mags[:n_finite], q)  # q is a value of the format: an exact hit
    nan_code = half - 1  # all-ones exponent and mantissa: NaN in both "fn" and "ieee"
    if not saturate and fmt.special == "ieee":
        mag = np.where(over, (2**fmt.exp_bits - 1) << fmt.man_bits, mag)  # ±inf
    elif not saturate and fmt.special == "fn":
        mag = np.where(over, nan_code, mag)  # no inf: overflow is NaN
    mag = np.where(nan, nan_code, mag)
    code = mag + neg.astype(np.int64) * half
    return code.astype(np.uint8 if fmt.bits <= 8 else np.uint16 if fmt.bits <= 16 else np.uint32)


# --- E2M1 packing ------------------------------------------------------------------------------------------
def pack_fp4(codes) -> np.ndarray:
    """Two 4-bit codes per byte along the last axis: byte i = codes[2i] | codes[2i+1] << 4 (the first
    element in the low nibble); an odd length is padded with a zero nibble."""
    c = np.asarray(codes)
    if c.dtype.kind not in "iu" or (c.size and (c.min() < 0 or c.max() > 15)):
        raise ValueError("pack_fp4: `codes` must be integers in [0, 15]")
    c = c.astype(np.uint8)
    if c.shape[-1] % 2:
        c = np.concatenate([c, np.zeros(c.shape[:-1] + (1,), np.uint8)], axis=-1)
    return (c[..., 0::2] | (c[..., 1::2] << 4)).astype(np.uint8)


def unpack_fp4(packed, n: int | None = None) -> np.ndarray:
    """Inverse of `pack_fp4`: (…, k) bytes → (…, 2k) codes (low nibble first), cut to `n` if given."""
    p = np.asarray(packed)
    if p.dtype != np.uint8:
        raise TypeError(f"unpack_fp4: `packed` must be uint8, got {p.dtype}")
    out = np.stack([p & 0xF, p >> 4], axis=-1).reshape(p.shape[:-1] + (2 * p.shape[-1],))
    if n is not None:
        if not 0 <= n <= out.shape[-1]:
            raise ValueError(f"unpack_fp4: `n` must be in [0, {out.shape[-1]}], got {n}")
        out = out[..., :n]
    return out


# --- round to the format (quantize–dequantize) ------------------------------------------------------------
def fp_quantize_numpy(x, fmt: FPFormat, scale=1.0) -> np.ndarray:
    """Round x/scale to the nearest finite value of `fmt` (ties to even, saturating), times scale — the
    NumPy twin of the kernel.  For |y| = |x/scale| clipped to max: e = max(⌊log₂|y|⌋, 1 − bias), step =
    2^(e − M), ŷ = rint(|y| / step) · step.  Equals decode(encode(x/scale, saturate=True)) · scale."""
    _check_format(fmt, "fp_quantize")
    arr = as_float_array(x, "fp_quantize")
    s = np.asarray(scale, dtype=np.float64)
    if np.any(s <= 0) or not np.all(np.isfinite(s)):
        raise ValueError("fp_quantize: `scale` must be finite and > 0")
    y = arr.astype(np.float64) / s
    q = np.minimum(_round_magnitude(np.minimum(np.abs(y), fmt.max_value), fmt), fmt.max_value)
    return (np.copysign(q, y) * s).astype(arr.dtype)


def fp_quantize(x, fmt: FPFormat, scale=1.0) -> np.ndarray:
    """As `fp_quantize_numpy` (Numba kernel for a scalar scale unless REFIMPL_DISABLE_NUMBA=1)."""
    _check_format(fmt, "fp_quantize")
    k = KERNELS.get()
    if not k or np.ndim(scale) != 0:
        return fp_quantize_numpy(x, fmt, scale)
    arr = as_float_array(x, "fp_quantize")
    s = float(scale)
    if not s > 0 or not math.isfinite(s):
        raise ValueError("fp_quantize: `scale` must be finite and > 0")
    flat = np.ascontiguousarray(arr, dtype=np.float64).reshape(-1)
    out = np.empty_like(flat)
    k.fp_qdq(flat, s, float(fmt.max_value), int(fmt.emin), int(fmt.man_bits), out)
    return out.reshape(arr.shape).astype(arr.dtype)
