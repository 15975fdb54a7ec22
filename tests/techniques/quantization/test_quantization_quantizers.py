"""The quantization family's shared base: grids, FP formats (bit-exact against brute-force enumeration),
gradients, observers, GPTQ against OBQ / least squares, kernels against their NumPy twins."""

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import refimpl
from refimpl import Tensor
from refimpl.nn import Linear
from refimpl.nn.parametrize import register_parametrization
from refimpl.techniques.quantization import _base as B
from refimpl.techniques.quantization import _ptq as P

FORMATS = [
    B.E2M1,
    B.E3M0,
    B.E4M3,
    B.E5M2,
    B.FPFormat(3, 2),
    B.FPFormat(2, 2, bias=3),
    B.FPFormat(4, 2, special="ieee"),
]


# ---- integer grids -----------------------------------------------------------------------------------
def test_int_range_hand_values():
    assert B.int_range(4) == (-8, 7)
    assert B.int_range(4, signed=False) == (0, 15)
    assert B.int_range(2) == (-2, 1)


def test_symmetric_per_tensor_hand_case():
    # max|x| = 0.7, 3 bits → qmax = 3, s = 0.7/3; x/s = [3, −1.2857, 0.4286, −3] → codes [3, −1, 0, −3]
    x = np.array([0.7, -0.3, 0.1, -0.7])
    qp = B.quant_params(x, 3)
    assert np.isclose(qp.scale.item(), 0.7 / 3)
    np.testing.assert_array_equal(B.quantize(x, qp), [3, -1, 0, -3])
    np.testing.assert_allclose(B.fake_quant(x, qp), np.array([3, -1, 0, -3]) * 0.7 / 3)


def test_affine_hand_case():
    # lo = −0.4, hi = 0.8, 2 bits: s = 1.2/3 = 0.4, z = round(0.4/0.4) = 1 →
    # x/s = [−1, 0.25, 2, 1.25] → round [−1, 0, 2, 1] + 1 → codes [0, 1, 3, 2]
    x = np.array([-0.4, 0.1, 0.8, 0.5])
    qp = B.quant_params(x, 2, symmetric=False)
    assert np.isclose(qp.scale.item(), 0.4) and qp.zero_point.item() == 1
    np.testing.assert_array_equal(B.quantize(x, qp), [0, 1, 3, 2])
    np.testing.assert_allclose(B.fake_quant(x, qp), [-0.4, 0.0, 0.8, 0.4])


def test_per_channel_and_per_group_scales():
    w = np.array([[1.0, -2.0, 0.5, 0.25], [0.1, 0.2, -0.4, 0.3]])
    qp = B.quant_params(w, 4, granularity="channel")
    np.testing.assert_allclose(qp.scale[:, 0], [2.0 / 7, 0.4 / 7])
    qg = B.quant_params(w, 4, granularity="group", group_size=2)
    np.testing.assert_allclose(
        qg.scale, [[2 / 7, 2 / 7, 0.5 / 7, 0.5 / 7], [0.2 / 7, 0.2 / 7, 0.4 / 7, 0.4 / 7]]
    )


arrays = hnp.arrays(
    np.float64,
    hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=9),
    elements=st.floats(-10, 10, allow_nan=False, width=64),
)


@settings(deadline=None, max_examples=40)
@given(arrays, st.integers(2, 8), st.booleans(), st.sampled_from(["tensor", "channel"]), st.floats(0.3, 1.0))
def test_family_contract_integer(x, bits, symmetric, granularity, ratio):
    qp = B.quant_params(x, bits, symmetric=symmetric, granularity=granularity, clip_ratio=ratio)
    q = B.fake_quant(x, qp)
    codes = B.quantize(x, qp)
    assert codes.min() >= qp.qmin and codes.max() <= qp.qmax  # codes in range
    np.testing.assert_array_equal(B.fake_quant(q, qp), q)  # idempotent
    v = x / qp.scale + qp.zero_point
    inside = (v >= qp.qmin - 0.5) & (v <= qp.qmax + 0.5)
    s = np.broadcast_to(qp.scale, x.shape)
    assert np.all(np.abs(x - q)[inside] <= s[inside] / 2 * (1 + 1e-9) + 1e-12)  # error ≤ s/2 in range
    k = np.rint((q / qp.scale) + qp.zero_point)  # on the grid
    np.testing.assert_allclose((k - qp.zero_point) * qp.scale, q, rtol=0, atol=1e-12)


def test_bad_inputs_name_the_argument():
    with pytest.raises(ValueError, match="bits"):
        B.quant_params(np.ones(3), 0)
    with pytest.raises(ValueError, match="granularity"):
        B.quant_params(np.ones(3), 4, granularity="row")
    with pytest.raises(ValueError, match="group_size"):
        B.quant_params(np.ones((2, 6)), 4, granularity="group", group_size=4)
    with pytest.raises(ValueError, match="clip_ratio"):
        B.quant_params(np.ones(3), 4, clip_ratio=1.5)
    with pytest.raises(TypeError, match="x"):
        B.quant_params(np.array(["a"]), 4)
    with pytest.raises(ValueError, match="finite"):
        B.quant_params(np.array([np.nan]), 4)


# ---- floating-point formats ----------------------------------------------------------------------------
def test_fp_format_constants_by_hand():
    assert B.E2M1.max_value == 6.0 and B.E4M3.max_value == 448.0 and B.E5M2.max_value == 57344.0
    np.testing.assert_array_equal(B.E2M1.values()[B.E2M1.values() >= 0], [0, 0.5, 1, 1.5, 2, 3, 4, 6])
    assert B.E4M3.min_subnormal == 2.0**-9 and B.E5M2.min_subnormal == 2.0**-16
    assert len(B.E4M3.values()) == 2 * (256 // 2 - 2) + 1  # 126 positive finite, ±0 merged → 253
    assert math.isnan(B.E4M3.decode(0b0_1111_111)) and B.E4M3.decode(0b0_1111_110) == 448.0
    assert B.E5M2.decode(0b0_11111_00) == math.inf


def test_fp4_hand_rounding():
    # catalogue case: [0.7, 2.4, 5.1, −0.2] → [0.5, 2, 6, 0]; 0.75 is a tie between 0.5 and 1 → even mantissa 1.0
    np.testing.assert_array_equal(
        B.fp_quantize(np.array([0.7, 2.4, 5.1, -0.2]), B.E2M1), [0.5, 2.0, 6.0, 0.0]
    )
    np.testing.assert_array_equal(
        B.fp_quantize(np.array([0.75, 2.5, 5.0, 100.0]), B.E2M1), [1.0, 2.0, 4.0, 6.0]
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
    got = B.fp_quantize_numpy(x, fmt)
    np.testing.assert_array_equal(got, _brute_round(x, fmt))
    np.testing.assert_array_equal(B.fp_quantize(x, fmt), got)  # kernel == twin
    assert np.all(np.isin(got, vals))  # representable
    np.testing.assert_array_equal(B.fp_quantize(got, fmt), got)  # idempotent


def test_fp_scale_is_a_power_of_two_shift():
    x = np.random.default_rng(1).normal(size=100)
    np.testing.assert_array_equal(B.fp_quantize(x, B.E2M1, scale=0.25), B.fp_quantize(x * 4, B.E2M1) / 4)


def test_log2_quantizer():
    # 3 bits: 3 magnitudes 2^0, 2^-1, 2^-2 (max_exp 0) and 0
    got = B.log2_quantize(np.array([0.9, -0.3, 0.1, 0.2, 1.7]), 3, max_exp=0)
    np.testing.assert_array_equal(got, [1.0, -0.25, 0.0, 0.25, 1.0])
    np.testing.assert_array_equal(B.log2_quantize(got, 3, max_exp=0), got)


# ---- gradients ------------------------------------------------------------------------------------------
def test_clipped_ste_passes_gradient_inside_only():
    x = Tensor(np.array([0.1, 0.5, 2.0, -3.0]), requires_grad=True)
    qp = B.QParams(np.array([0.25]), np.array([0.0]), -4, 3)  # range [−1, 0.75]
    y = B.fake_quant_ste(x, qp)
    y.backward(np.array([1.0, 2.0, 3.0, 4.0]))
    np.testing.assert_array_equal(x.grad, [1.0, 2.0, 0.0, 0.0])
    x2 = Tensor(x.data.copy(), requires_grad=True)
    B.fake_quant_ste(x2, qp, clipped=False).backward(np.array([1.0, 2.0, 3.0, 4.0]))
    np.testing.assert_array_equal(x2.grad, [1.0, 2.0, 3.0, 4.0])


def test_lsq_gradients_by_hand():
    # s = 0.5, qmin = −2, qmax = 1: v = x/s = [0.3, −6, 4, −0.9]
    # ds per element: [round(.3) − .3, qmin, qmax, round(−.9) + .9] = [−0.3, −2, 1, −0.1]
    x = Tensor(np.array([0.15, -3.0, 2.0, -0.45]), requires_grad=True)
    s = Tensor(np.array(0.5), requires_grad=True)
    y = B.lsq_quantize(x, s, -2, 1, grad_scale=0.5)
    np.testing.assert_allclose(y.data, [0.0, -1.0, 0.5, -0.5])
    y.backward(np.ones(4))
    np.testing.assert_allclose(x.grad, [1, 0, 0, 1])
    np.testing.assert_allclose(s.grad, 0.5 * (-0.3 - 2 + 1 - 0.1))


def test_lsq_gradients_equal_the_engine_composition():
    # independent: autograd of s · round_STE(clip(x/s, qmin, qmax)) built from the engine's own ops (the
    # usual LSQ code: clamp v, round with the STE, rescale)
    from refimpl.autograd import ops

    rng = np.random.default_rng(0)
    xv, sv, g = rng.uniform(-1.5, 1.5, 30), np.array(0.13), rng.normal(size=30)
    x1, s1 = Tensor(xv, requires_grad=True), Tensor(sv, requires_grad=True)
    B.lsq_quantize(x1, s1, -8, 7).backward(g)
    x2, s2 = Tensor(xv, requires_grad=True), Tensor(sv, requires_grad=True)
    y2 = B.round_ste(ops.clip(x2 / s2, -8, 7)) * s2
    y2.backward(g)
    np.testing.assert_allclose(x1.grad, x2.grad, atol=1e-12)
    np.testing.assert_allclose(s1.grad, s2.grad, atol=1e-12)


def test_gradcheck_where_the_ste_is_exact():
    # where the forward value equals the input (value = x), the STE is the true gradient: gradcheck it,
    # float64, through a downstream nonlinearity; a wrong VJP (a mask) fails the checker
    x = Tensor(np.random.default_rng(0).normal(size=6))
    mask = np.array([1, 1, 0, 1, 0, 1], bool)
    refimpl.gradcheck(lambda t: (refimpl.straight_through(t, t.data) * 2.0).tanh(), x)
    with pytest.raises(refimpl.GradcheckError):
        refimpl.gradcheck(lambda t: refimpl.straight_through(t, t.data, pass_mask=mask), x)


def test_fake_quant_weight_parametrization():
    layer = Linear(4, 3, dtype=np.float64, rng=0)
    register_parametrization(layer, "weight", B.FakeQuantWeight(3))
    w = layer.weight.data
    qp = B.quant_params(layer.parametrizations.weight.original.data, 3, granularity="channel")
    np.testing.assert_array_equal(w, B.fake_quant(layer.parametrizations.weight.original.data, qp))
    out = layer(Tensor(np.ones((2, 4))))
    out.sum().backward()
    np.testing.assert_allclose(layer.parametrizations.weight.original.grad, np.full((3, 4), 2.0))


def test_fake_quant_act_calibrates_then_quantizes():
    act = B.FakeQuantAct(4, symmetric=False)
    x = np.linspace(-1, 3, 12).reshape(3, 4)
    np.testing.assert_array_equal(act(Tensor(x)).data, x)
    act.freeze()
    y = act(Tensor(x)).data
    qp = B.quant_params(x, 4, symmetric=False)
    np.testing.assert_allclose(y, B.fake_quant_numpy(x, qp))


# ---- observers --------------------------------------------------------------------------------------------
def test_observers():
    data = [np.array([[0.0, 1.0], [2.0, -1.0]]), np.array([[5.0, -3.0]])]
    mm = B.MinMaxObserver()
    for d in data:
        mm.update(d)
    assert mm.lo.item() == -3.0 and mm.hi.item() == 5.0
    ch = B.MinMaxObserver(granularity="channel", axis=-1)
    for d in data:
        ch.update(d)
    np.testing.assert_array_equal(ch.hi, [5.0, 1.0])
    p = B.PercentileObserver(percentile=100.0)
    for d in data:
        p.update(d)
    qp = p.qparams(8, symmetric=True)
    assert np.isclose(qp.scale.item(), 5.0 / 127)
    with pytest.raises(ValueError, match="no data"):
        B.MinMaxObserver().qparams(4)


def test_mse_clip_search_is_the_grid_argmin():
    rng = np.random.default_rng(0)
    x = rng.standard_t(3, size=2000)  # heavy tails: clipping pays
    qp, ratio = B.mse_clip_search(x, 3, grid=50)
    errs = [
        np.sum((x - B.fake_quant_numpy(x, B.quant_params(x, 3, clip_ratio=r))) ** 2)
        for r in np.linspace(0.2, 1, 50)
    ]
    assert np.isclose(ratio, np.linspace(0.2, 1, 50)[int(np.argmin(errs))])
    assert ratio < 1.0
    assert np.sum((x - B.fake_quant(x, qp)) ** 2) <= min(errs) * (1 + 1e-12)


# ---- kernels == twins --------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernels_equal_numpy_twins(dtype):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(7, 13)).astype(dtype)
    xt = np.asfortranarray(x)  # non-contiguous input
    for qp in [B.quant_params(x, 4, granularity="channel"), B.quant_params(x, 3, symmetric=False)]:
        B.kernel_backend("numba")
        a = B.fake_quant(xt, qp)
        B.kernel_backend("numpy")
        b = B.fake_quant(xt, qp)
        assert a.dtype == b.dtype == dtype
        np.testing.assert_array_equal(a, b)
    B.kernel_backend("numba")
    f1 = B.fp_quantize(x * 3, B.E2M1, 0.5)
    r1 = B.mse_clip_search(x, 3, granularity="channel")[1]
    B.kernel_backend("numpy")
    np.testing.assert_array_equal(f1, B.fp_quantize(x * 3, B.E2M1, 0.5))
    np.testing.assert_allclose(r1, B.mse_clip_search(x, 3, granularity="channel")[1])
    B.kernel_backend("auto")


def test_env_switch_selects_twin(monkeypatch):
    monkeypatch.setenv("REFIMPL_DISABLE_NUMBA", "1")
    assert B.kernel_backend("auto") == "numpy"
    monkeypatch.delenv("REFIMPL_DISABLE_NUMBA")
    assert B.kernel_backend("auto") in ("numba", "numpy")


# ---- GPTQ --------------------------------------------------------------------------------------------------
def _grid_quantizer(step=0.5):
    return lambda col, j: np.rint(col / step) * step


def test_gptq_first_step_hand_case():
    # catalogue case: H = [[2,1],[1,2]], H⁻¹ = (1/3)[[2,−1],[−1,2]]; w = [0.3, 0.2], grid step 0.5:
    # q1 = 0.5 (0.3/0.5 = 0.6 → 1), w2 ← w2 − (w1 − q1)·H⁻¹₁₂/H⁻¹₁₁ = 0.2 + 0.5·(0.3 − 0.5) = 0.1 → q2 = 0.0
    H = np.array([[2.0, 1.0], [1.0, 2.0]])
    seen = []

    def quant(col, j):
        seen.append(col.copy())
        return np.rint(col / 0.5) * 0.5

    Q = B.gptq(np.array([[0.3, 0.2]]), H, quant, percdamp=0.0)
    np.testing.assert_allclose(seen[1], [0.1])
    np.testing.assert_allclose(Q, [[0.5, 0.0]])


def test_gptq_equals_obq_with_explicit_inverses_and_least_squares():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 6)) @ rng.normal(size=(6, 6))
    W = rng.normal(size=(4, 6))
    H = B.hessian(X)
    q = _grid_quantizer(0.7)
    np.testing.assert_allclose(B.gptq(W, H, q), B.obq_reference(W, H, q), atol=1e-10)
    # one OBQ step is the least-squares optimum of the free columns (brute-force closed form)
    Hd = H + 0.01 * np.mean(np.diag(H)) * np.eye(6)
    Hinv = np.linalg.inv(Hd)
    w = W[0]
    q0 = np.rint(w[0] / 0.7) * 0.7
    upd = w - (w[0] - q0) / Hinv[0, 0] * Hinv[0]
    np.testing.assert_allclose(upd, B.least_squares_update(w, Hd, 0, q0), atol=1e-10)


def test_gptq_beats_rtn_and_brute_force_bounds_it():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 4)) @ np.array([[1, 0.9, 0, 0], [0, 0.4, 0, 0], [0, 0, 1, 0.8], [0, 0, 0, 0.3]])
    W = rng.normal(size=(3, 4))
    H = B.hessian(X)
    q = _grid_quantizer(0.5)

    def loss(Q):
        return float(np.trace((W - Q) @ H @ (W - Q).T))

    l_rtn, l_gptq = loss(q(W, 0)), loss(B.gptq(W, H, q, percdamp=0.0))
    grid = np.arange(-6, 7) * 0.5
    l_best = sum(
        min(float((W[r] - np.array(c)) @ H @ (W[r] - np.array(c))) for c in itertools.product(grid, repeat=4))
        for r in range(3)
    )
    assert l_best <= l_gptq + 1e-12 < l_rtn


def test_hessian_weighted():
    X = np.array([[1.0, 0.0], [0.0, 2.0]])
    np.testing.assert_allclose(B.hessian(X), [[1.0, 0.0], [0.0, 4.0]])
    np.testing.assert_allclose(B.hessian(X, weights=[3.0, 1.0]), [[1.5, 0.0], [0.0, 2.0]])


# ---- PTQ pipeline ------------------------------------------------------------------------------------------
def test_ptq_pipeline_capture_and_substitution():
    model, split = P.trained_digits_mlp(0)
    assert P.accuracy(model, split.x_test, split.y_test) > 0.9
    X = P.calibration_split(split, 32)
    names = P.weight_sites(model)
    caps = P.capture_inputs(model, lambda: model(Tensor(X)), names)
    np.testing.assert_array_equal(caps[names[0]], X)
    h = np.maximum(X @ P.get_weight(model, names[0]).T + model.get_submodule(names[0]).bias.data, 0)
    np.testing.assert_allclose(caps[names[1]], h, rtol=1e-5, atol=1e-5)
    W0 = P.get_weight(model, names[0]).copy()
    with P.substituted(model, {names[0]: np.zeros_like(W0)}):
        assert np.all(P.get_weight(model, names[0]) == 0)
    np.testing.assert_array_equal(P.get_weight(model, names[0]), W0)
    assert P.reconstruction_error(W0, W0, X) == 0.0
    assert np.isclose(P.reconstruction_error(W0, 0 * W0, X), 1.0)


def test_numba_is_imported_lazily():
    import subprocess
    import sys

    code = (
        "import sys, refimpl; from refimpl.techniques.quantization import _base, _ptq, signround, llm_fp4, "
        "ofq_statsq, nupes, adaquant_calibtip, rsq, is_vit_sulq, layerwise_mixed_bits, qfx; "
        "print('numba' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
