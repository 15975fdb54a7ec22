"""LLM-FP4: the minifloat formats (bit-exact against brute-force enumeration, kernel against twin), the
real-bias FP quantizer against the integer-bias format and brute force, the pre-shift identity, the search,
the demo's claim."""

import math

import numpy as np
import pytest

from refimpl.techniques.quantization import llm_fp4 as L
from refimpl.techniques.quantization import quantizers as Q

E3M0 = L.FPFormat(3, 0)  # FP4 without mantissa: powers of two and 0
E4M3 = L.FPFormat(4, 3, special="fn")  # OCP FP8 E4M3 (max 448)
E5M2 = L.FPFormat(5, 2, special="ieee")  # OCP FP8 E5M2 (max 57344)
FORMATS = [
    L.E2M1,
    E3M0,
    E4M3,
    E5M2,
    L.FPFormat(3, 2),
    L.FPFormat(2, 2, bias=3),
    L.FPFormat(4, 2, special="ieee"),
]


def test_reference_cases():
    for case in L.reference_cases():
        case.check()


@pytest.mark.parametrize("e,m", [(1, 2), (2, 1), (3, 0), (4, 3)])
def test_integer_bias_equals_the_enumerated_format(e, m):
    # with an integer bias b the quantizer is the all-finite E{e}M{m} format of bias b: brute force
    fmt = L.FPFormat(e, m, bias=2, special="none")
    vals = fmt.values()
    x = np.random.default_rng(0).uniform(-1.3, 1.3, 500) * fmt.max_value
    got = L.fpq(x, e, m, 2.0)
    assert np.all(np.isin(got, vals))
    nearest = vals[np.argmin(np.abs(x[:, None] - vals[None]), axis=1)]
    np.testing.assert_array_equal(got, nearest)  # random x: no ties
    assert L.maxval_from_bias(2.0, e, m) == fmt.max_value


def test_bias_maxval_roundtrip():
    for e, m in [(2, 1), (3, 0), (1, 2)]:
        mv = np.array([0.1, 3.7, 250.0])
        np.testing.assert_allclose(L.maxval_from_bias(L.bias_from_maxval(mv, e, m), e, m), mv)


def test_preshift_reparameterisation_is_exact_for_a_layer():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(16, 8)) * 2.0 ** rng.integers(0, 5, 8)
    W = rng.normal(size=(4, 8))
    r = L.search_layer(W, X, per_channel_act=True, grid=10, rounds=1)
    k = r["k"]
    # Q_ρ(X 2^k) (W 2^−k)ᵀ equals the per-channel-bias quantization of X times the same weights
    mv = r["a_maxval"]
    e = r["exp_bits_a"]
    rho = L.bias_from_maxval(mv, e, 3 - e)
    per_channel = L.fpq(X, e, 3 - e, rho + k)
    np.testing.assert_allclose(
        r["quantize_input"](X) @ r["W_hat"].T, per_channel @ (r["W_hat"] * 2.0**k).T, rtol=1e-12, atol=1e-12
    )
    assert set(np.unique(k)) <= {0.0, 1.0, 2.0, 3.0}


def test_search_beats_minmax_and_bad_inputs():
    W, Xc, Xt = L.outlier_channel_layer(0, n=64)
    r = L.search_layer(W, Xc, grid=12, rounds=1)
    e = r["exp_bits_w"]
    naive = L.fpq(W, e, 3 - e, L.bias_from_maxval(np.abs(W).max(1, keepdims=True), e, 3 - e))
    naive_x = L.fpq(
        Xc,
        r["exp_bits_a"],
        3 - r["exp_bits_a"],
        L.bias_from_maxval(np.abs(Xc).max(), r["exp_bits_a"], 3 - r["exp_bits_a"]),
    )
    assert r["loss"] <= np.mean((Xc @ W.T - naive_x @ naive.T) ** 2)
    with pytest.raises(ValueError, match="kind"):
        L.search_layer(W, Xc, kind="nf4")
    with pytest.raises(ValueError, match="X"):
        L.search_layer(W, Xc[:, :3])


@pytest.mark.parametrize("seed", [0, 1])
def test_demo_claim_holds(seed, demo_result):
    r = demo_result("llm-fp4", seed)
    m = r["metrics"]
    assert r["claim"]["holds"], r["table"]
    assert m["wmse_laplace_fp4"] < 0.85 * m["wmse_laplace_int4"]
    assert m["outlier_err_fp4_search"] < 0.9 * m["outlier_err_int4_search"]
    assert m["outlier_err_fp4_preshift"] < m["outlier_err_fp4_search"]


# ---- the minifloat formats --------------------------------------------------------------------------------
def test_fp_format_constants_by_hand():
    assert L.E2M1.max_value == 6.0 and E4M3.max_value == 448.0 and E5M2.max_value == 57344.0
    np.testing.assert_array_equal(L.E2M1.values()[L.E2M1.values() >= 0], [0, 0.5, 1, 1.5, 2, 3, 4, 6])
    assert E4M3.min_subnormal == 2.0**-9 and E5M2.min_subnormal == 2.0**-16
    assert len(E4M3.values()) == 2 * (256 // 2 - 2) + 1  # 126 positive finite, ±0 merged → 253
    assert math.isnan(E4M3.decode(0b0_1111_111)) and E4M3.decode(0b0_1111_110) == 448.0
    assert E5M2.decode(0b0_11111_00) == math.inf


def test_fp4_hand_rounding():
    # catalogue case: [0.7, 2.4, 5.1, −0.2] → [0.5, 2, 6, 0]; 0.75 is a tie between 0.5 and 1 → even mantissa 1.0
    np.testing.assert_array_equal(
        L.fp_quantize(np.array([0.7, 2.4, 5.1, -0.2]), L.E2M1), [0.5, 2.0, 6.0, 0.0]
    )
    np.testing.assert_array_equal(
        L.fp_quantize(np.array([0.75, 2.5, 5.0, 100.0]), L.E2M1), [1.0, 2.0, 4.0, 6.0]
    )


def _brute_round(x, fmt):
    """Nearest value of the enumerated format (saturating); ties → the value whose integer multiple of
    the local step is even, i.e. the even mantissa."""
    vals = fmt.values()
    out = np.empty_like(x)
    for i, xi in enumerate(x):
        xi = min(max(xi, vals[0]), vals[-1])
        d = np.abs(vals - xi)
        cand = vals[d == d.min()]
        if len(cand) == 1:
            out[i] = cand[0]
        else:  # a tie: pick the candidate with an even mantissa code
            codes = [
                c for c in range(2**fmt.bits) if fmt.decode(c) in cand and not (c >> (fmt.bits - 1)) & 1
            ] or [c for c in range(2**fmt.bits) if fmt.decode(c) in cand]
            even = [fmt.decode(c) for c in codes if (c & (2**fmt.man_bits - 1)) % 2 == 0]
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
    if fmt.man_bits == 0:  # ties between consecutive powers of two: no even-mantissa rule, we round up
        x = np.concatenate([vals, rng.uniform(-1.2, 1.2, 400) * fmt.max_value])
    got = L.fp_quantize_numpy(x, fmt)
    np.testing.assert_array_equal(got, _brute_round(x, fmt))
    np.testing.assert_array_equal(L.fp_quantize(x, fmt), got)  # kernel == twin
    assert np.all(np.isin(got, vals))  # representable
    np.testing.assert_array_equal(L.fp_quantize(got, fmt), got)  # idempotent


def test_fp_scale_is_a_power_of_two_shift():
    x = np.random.default_rng(1).normal(size=100)
    np.testing.assert_array_equal(L.fp_quantize(x, L.E2M1, scale=0.25), L.fp_quantize(x * 4, L.E2M1) / 4)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fp_kernel_equals_numpy_twin(dtype):
    x = np.random.default_rng(0).normal(size=(7, 13)).astype(dtype)
    Q.kernel_backend("numba")
    f1 = L.fp_quantize(x * 3, L.E2M1, 0.5)
    Q.kernel_backend("numpy")
    np.testing.assert_array_equal(f1, L.fp_quantize(x * 3, L.E2M1, 0.5))
    Q.kernel_backend("auto")
