"""The family's minifloat codecs (fp_formats): every code decoded and re-encoded (exhaustive), hand
values of E4M3FN / E5M2 / E2M1, ties to even, overflow in both modes, underflow, E2M1 packing, and the
round-to-format quantizer against brute-force enumeration (kernel == twin)."""

import math

import numpy as np
import pytest

from refimpl.techniques.quantization import fp_formats as F
from refimpl.techniques.quantization import quantizers as Q

OCP = [F.E4M3FN, F.E5M2, F.E2M1]
FORMATS = [
    F.E2M1,
    F.FPFormat(3, 0),  # FP4 without mantissa: powers of two and 0
    F.E4M3FN,
    F.E5M2,
    F.FPFormat(3, 2),
    F.FPFormat(2, 2, bias=3),
    F.FPFormat(4, 2, special="ieee"),
]


# ---- the codec ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", OCP, ids=lambda f: f.name)
@pytest.mark.parametrize("saturate", [False, True])
def test_every_code_round_trips(fmt, saturate):
    codes = np.arange(2**fmt.bits)
    vals = F.decode(codes, fmt)
    num = ~np.isnan(vals)
    if saturate:  # ±inf clamps to ±max under saturation: every other number round-trips
        num &= np.isfinite(vals)
    np.testing.assert_array_equal(F.encode(vals[num], fmt, saturate=saturate), codes[num])  # ±0 kept apart
    # NaN codes re-encode to the canonical NaN (all ones) with the sign bit kept
    half = 2 ** (fmt.bits - 1)
    if fmt.special != "none":
        assert np.isnan(vals).sum() == (2 if fmt.special == "fn" else 6)
        nans = np.array([np.nan, np.copysign(np.nan, -1.0)])
        np.testing.assert_array_equal(F.encode(nans, fmt), [half - 1, 2 * half - 1])


def test_hand_values():
    assert F.decode(np.array([0x7E]), F.E4M3FN)[0] == 448.0
    assert math.isnan(F.decode(np.array([0x7F]), F.E4M3FN)[0]) and math.isnan(
        F.decode(np.array([0xFF]), F.E4M3FN)[0]
    )
    assert F.decode(np.array([0x01, 0x08, 0x38, 0xB8]), F.E4M3FN).tolist() == [2.0**-9, 2.0**-6, 1.0, -1.0]
    assert F.decode(np.array([0x7B, 0x7C, 0xFC, 0x01, 0x3C]), F.E5M2).tolist() == [
        57344.0,
        math.inf,
        -math.inf,
        2.0**-16,
        1.0,
    ]
    assert all(math.isnan(v) for v in F.decode(np.array([0x7D, 0x7E, 0x7F]), F.E5M2))
    assert F.decode(np.arange(8), F.E2M1).tolist() == [0, 0.5, 1, 1.5, 2, 3, 4, 6]
    assert F.decode(np.arange(8, 16), F.E2M1).tolist() == [-0.0, -0.5, -1, -1.5, -2, -3, -4, -6]
    assert (F.E4M3FN.max_value, F.E5M2.max_value, F.E2M1.max_value) == (448.0, 57344.0, 6.0)
    assert len(F.E4M3FN.values()) == 253  # 126 positive finite each side, ±0 merged
    np.testing.assert_array_equal(F.encode(np.array([-0.0, 0.0, -1e-9]), F.E4M3FN), [0x80, 0x00, 0x80])


def test_ties_round_to_even():
    # E4M3FN near 1 (step 1/8): 1 + 1/16 → 1 (mantissa 000), 1 + 3/16 → 1.25 (010), 1 + 5/16 → 1.25 (010)
    x = np.array([1 + 1 / 16, 1 + 3 / 16, 1 + 5 / 16])
    np.testing.assert_array_equal(F.decode(F.encode(x, F.E4M3FN), F.E4M3FN), [1.0, 1.25, 1.25])
    # E2M1: 0.25 → 0, 0.75 → 1, 1.25 → 1, 1.75 → 2, 2.5 → 2, 3.5 → 4, 5 → 4 (even mantissa each time)
    x = np.array([0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0, -5.0])
    np.testing.assert_array_equal(F.decode(F.encode(x, F.E2M1), F.E2M1), [0, 1, 1, 2, 2, 4, 4, -4])
    # subnormal ties: half the smallest E4M3FN subnormal → 0; a hair above → 2^−9
    np.testing.assert_array_equal(F.encode(np.array([2.0**-10, 2.0**-10 * (1 + 1e-6)]), F.E4M3FN), [0, 1])
    # E5M2 near 1 (step 1/4): 1.125 → 1, 1.375 → 1.5
    np.testing.assert_array_equal(F.decode(F.encode(np.array([1.125, 1.375]), F.E5M2), F.E5M2), [1.0, 1.5])


def test_overflow_in_both_modes():
    x = np.array([61439.99, 61440.0, 1e9, np.inf, -np.inf])
    np.testing.assert_array_equal(F.encode(x, F.E5M2), [0x7B, 0x7C, 0x7C, 0x7C, 0xFC])  # → ±inf
    np.testing.assert_array_equal(F.encode(x, F.E5M2, saturate=True), [0x7B, 0x7B, 0x7B, 0x7B, 0xFB])
    x = np.array([464.0, 464.01, 1e9, np.inf, -1e9])  # 464 is the tie 448 | 480: even → 448
    np.testing.assert_array_equal(F.encode(x, F.E4M3FN), [0x7E, 0x7F, 0x7F, 0x7F, 0xFF])  # → NaN
    np.testing.assert_array_equal(F.encode(x, F.E4M3FN, saturate=True), [0x7E, 0x7E, 0x7E, 0x7E, 0xFE])
    x = np.array([6.5, 7.0, 100.0, -np.inf])  # E2M1 has nothing to overflow to: clamps either way
    for sat in (False, True):
        np.testing.assert_array_equal(F.encode(x, F.E2M1, saturate=sat), [0x7, 0x7, 0x7, 0xF])
    with pytest.raises(ValueError, match="NaN"):
        F.encode(np.array([np.nan]), F.E2M1)


def test_bad_codes_and_types():
    with pytest.raises(ValueError, match="codes"):
        F.decode(np.array([16]), F.E2M1)
    with pytest.raises(TypeError, match="codes"):
        F.decode(np.array([1.0]), F.E2M1)
    with pytest.raises(TypeError, match="fmt"):
        F.encode(np.ones(2), "e4m3")


@pytest.mark.parametrize("fmt", OCP, ids=lambda f: f.name)
def test_codec_equals_round_to_format(fmt):
    x = np.random.default_rng(0).normal(size=2000) * fmt.max_value / 3
    np.testing.assert_array_equal(
        F.decode(F.encode(x, fmt, saturate=True), fmt) + 0.0, F.fp_quantize_numpy(x, fmt) + 0.0
    )


# ---- E2M1 packing --------------------------------------------------------------------------------------------
def test_pack_fp4_first_element_in_the_low_nibble():
    np.testing.assert_array_equal(F.pack_fp4(np.array([0x1, 0x2, 0x3])), np.array([0x21, 0x03], np.uint8))
    codes = np.random.default_rng(0).integers(0, 16, size=(3, 10))
    np.testing.assert_array_equal(F.unpack_fp4(F.pack_fp4(codes)), codes)
    np.testing.assert_array_equal(F.unpack_fp4(F.pack_fp4(codes[:, :9]), 9), codes[:, :9])
    # values → codes → bytes → codes → values
    x = np.array([0.5, -6.0, 3.0])
    np.testing.assert_array_equal(F.decode(F.unpack_fp4(F.pack_fp4(F.encode(x, F.E2M1)), 3), F.E2M1), x)
    with pytest.raises(ValueError, match="codes"):
        F.pack_fp4(np.array([16]))


# ---- round to the format (quantize–dequantize) ------------------------------------------------------------------
def test_fp4_hand_rounding():
    np.testing.assert_array_equal(
        F.fp_quantize(np.array([0.7, 2.4, 5.1, -0.2]), F.E2M1), [0.5, 2.0, 6.0, 0.0]
    )
    np.testing.assert_array_equal(
        F.fp_quantize(np.array([0.75, 2.5, 5.0, 100.0]), F.E2M1), [1.0, 2.0, 4.0, 6.0]
    )


def _brute_round(x, fmt):
    """Nearest value of the enumerated format (saturating); at a tie, the one with the even mantissa code."""
    vals = fmt.values()
    table = F.code_table(fmt)
    out = np.empty_like(x)
    for i, xi in enumerate(x):
        xi = min(max(xi, vals[0]), vals[-1])
        d = np.abs(vals - xi)
        cand = vals[d == d.min()]
        if len(cand) == 1:
            out[i] = cand[0]
            continue
        even = [v for v in cand if any(table[c] == v and c % 2 == 0 for c in range(2**fmt.bits))]
        out[i] = even[0] if even else cand[-1]
    return out


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f"{f.name}b{f.bias}{f.special}")
def test_fp_quantize_bit_exact_against_enumeration(fmt):
    rng = np.random.default_rng(0)
    vals = fmt.values()
    mids = (vals[1:] + vals[:-1]) / 2  # every tie
    x = np.concatenate(
        [
            vals,
            mids,
            rng.uniform(-1.2, 1.2, 400) * fmt.max_value,
            rng.normal(size=200) * fmt.min_subnormal * 4,
        ]
    )
    if fmt.man_bits == 0:  # ties between consecutive powers of two have no even-mantissa rule
        x = np.concatenate([vals, rng.uniform(-1.2, 1.2, 400) * fmt.max_value])
    got = F.fp_quantize_numpy(x, fmt)
    np.testing.assert_array_equal(got, _brute_round(x, fmt))
    np.testing.assert_array_equal(F.fp_quantize(x, fmt), got)  # kernel == twin
    assert np.all(np.isin(got, vals))
    np.testing.assert_array_equal(F.fp_quantize(got, fmt), got)  # idempotent


def test_fp_scale_is_a_power_of_two_shift():
    x = np.random.default_rng(1).normal(size=100)
    np.testing.assert_array_equal(F.fp_quantize(x, F.E2M1, scale=0.25), F.fp_quantize(x * 4, F.E2M1) / 4)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fp_kernel_equals_numpy_twin(dtype):
    x = np.random.default_rng(0).normal(size=(7, 13)).astype(dtype)
    Q.kernel_backend("numba")
    f1 = F.fp_quantize(x * 3, F.E2M1, 0.5)
    Q.kernel_backend("numpy")
    np.testing.assert_array_equal(f1, F.fp_quantize(x * 3, F.E2M1, 0.5))
    Q.kernel_backend("auto")
    np.testing.assert_array_equal(f1, F.fp_quantize_numpy(x * 3, F.E2M1, 0.5))
