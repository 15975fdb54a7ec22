"""The quantization family's shared quantizers: integer grids (hand cases and the grid contract), the STE,
GPTQ against OBQ / least squares / brute force (the oracles are written here), the kernel against its NumPy
twin."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import refimpl
from refimpl import Tensor
from refimpl.techniques.quantization import quantizers as Q


def _codes(q, qp):
    """The integer codes behind quantize–dequantized values: round(x̂/s) + z."""
    return np.rint(q / qp.scale) + qp.zero_point


# ---- integer grids -----------------------------------------------------------------------------------
def test_code_ranges_hand_values():
    x = np.array([-1.0, 0.5, 1.0])
    assert (Q.quant_params(x, 4).qmin, Q.quant_params(x, 4).qmax) == (-8, 7)
    qp = Q.quant_params(x, 4, symmetric=False)
    assert (qp.qmin, qp.qmax) == (0, 15)
    assert (Q.quant_params(x, 2).qmin, Q.quant_params(x, 2).qmax) == (-2, 1)


def test_symmetric_per_tensor_hand_case():
    # max|x| = 0.7, 3 bits → qmax = 3, s = 0.7/3; x/s = [3, −1.2857, 0.4286, −3] → codes [3, −1, 0, −3]
    x = np.array([0.7, -0.3, 0.1, -0.7])
    qp = Q.quant_params(x, 3)
    assert np.isclose(qp.scale.item(), 0.7 / 3)
    q = Q.fake_quant(x, qp)
    np.testing.assert_allclose(q, np.array([3, -1, 0, -3]) * 0.7 / 3)
    np.testing.assert_array_equal(_codes(q, qp), [3, -1, 0, -3])


def test_affine_hand_case():
    # lo = −0.4, hi = 0.8, 2 bits: s = 1.2/3 = 0.4, z = round(0.4/0.4) = 1 →
    # x/s = [−1, 0.25, 2, 1.25] → round [−1, 0, 2, 1] + 1 → codes [0, 1, 3, 2]
    x = np.array([-0.4, 0.1, 0.8, 0.5])
    qp = Q.quant_params(x, 2, symmetric=False)
    assert np.isclose(qp.scale.item(), 0.4) and qp.zero_point.item() == 1
    q = Q.fake_quant(x, qp)
    np.testing.assert_allclose(q, [-0.4, 0.0, 0.8, 0.4])
    np.testing.assert_array_equal(_codes(q, qp), [0, 1, 3, 2])


def test_per_channel_and_per_group_scales():
    w = np.array([[1.0, -2.0, 0.5, 0.25], [0.1, 0.2, -0.4, 0.3]])
    qp = Q.quant_params(w, 4, granularity="channel")
    np.testing.assert_allclose(qp.scale[:, 0], [2.0 / 7, 0.4 / 7])
    qg = Q.quant_params(w, 4, granularity="group", group_size=2)
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
    qp = Q.quant_params(x, bits, symmetric=symmetric, granularity=granularity, clip_ratio=ratio)
    q = Q.fake_quant(x, qp)
    codes = _codes(q, qp)
    assert codes.min() >= qp.qmin and codes.max() <= qp.qmax  # codes in range
    np.testing.assert_array_equal(Q.fake_quant(q, qp), q)  # idempotent
    v = x / qp.scale + qp.zero_point
    inside = (v >= qp.qmin - 0.5) & (v <= qp.qmax + 0.5)
    s = np.broadcast_to(qp.scale, x.shape)
    assert np.all(np.abs(x - q)[inside] <= s[inside] / 2 * (1 + 1e-9) + 1e-12)  # error ≤ s/2 in range
    np.testing.assert_allclose((codes - qp.zero_point) * qp.scale, q, rtol=0, atol=1e-12)  # on the grid


def test_bad_inputs_name_the_argument():
    with pytest.raises(ValueError, match="bits"):
        Q.quant_params(np.ones(3), 0)
    with pytest.raises(ValueError, match="granularity"):
        Q.quant_params(np.ones(3), 4, granularity="row")
    with pytest.raises(ValueError, match="group_size"):
        Q.quant_params(np.ones((2, 6)), 4, granularity="group", group_size=4)
    with pytest.raises(ValueError, match="clip_ratio"):
        Q.quant_params(np.ones(3), 4, clip_ratio=1.5)
    with pytest.raises(TypeError, match="x"):
        Q.quant_params(np.array(["a"]), 4)
    with pytest.raises(ValueError, match="finite"):
        Q.quant_params(np.array([np.nan]), 4)


# ---- rounding conventions ("divide", the default, and PyTorch's "torch") ------------------------------------
def test_rounding_rules_hand_case():
    # float32: s = 0.1f, x = 1.55f.  x / s = 15.499999 (correctly rounded) → code 15, while PyTorch's rule
    # x · float32(1/s) = 1.55f · 10.0f = 15.5 exactly in float32 → a tie → even → code 16.
    s, x = np.float32(0.1), np.array([[1.55]], np.float32)
    assert np.float32(1) / s == np.float32(10.0) and x[0, 0] * np.float32(10.0) == np.float32(15.5)
    qp = Q.QParams(np.array([[s]], np.float32), np.zeros((1, 1), np.float32), -128, 127)
    assert qp.rounding == "divide"
    for backend in ("numpy", "numba"):
        Q.kernel_backend(backend)
        assert Q.fake_quant(x, qp)[0, 0] == np.float32(15) * s
        assert Q.fake_quant(x, qp, rounding="torch")[0, 0] == np.float32(16) * s
    Q.kernel_backend("auto")
    assert Q.fake_quant_numpy(x, qp, rounding="torch")[0, 0] == np.float32(16) * s


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("rounding", ["divide", "torch"])
def test_kernel_equals_numpy_twin_for_each_rounding(dtype, rounding):
    rng = np.random.default_rng(3)
    x = (rng.normal(size=(9, 31)) * 3).astype(dtype)
    for qp in [
        Q.quant_params(x, 4, granularity="channel", rounding=rounding),
        Q.quant_params(x, 3, symmetric=False, rounding=rounding),
    ]:
        Q.kernel_backend("numba")
        a = Q.fake_quant(x, qp)
        Q.kernel_backend("numpy")
        b = Q.fake_quant(x, qp)
        assert a.dtype == b.dtype == dtype
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, Q.fake_quant_numpy(x, qp))
    Q.kernel_backend("auto")


def test_bad_rounding_names_the_argument():
    with pytest.raises(ValueError, match="rounding"):
        Q.quant_params(np.ones(3), 4, rounding="nearest")
    qp = Q.quant_params(np.ones(3), 4)
    with pytest.raises(ValueError, match="rounding"):
        Q.fake_quant(np.ones(3), qp, rounding="floor")
    with pytest.raises(ValueError, match="rounding"):
        Q.QParams(np.ones(1), np.zeros(1), -8, 7, rounding="up")


# ---- the STE --------------------------------------------------------------------------------------------
def test_round_ste_rounds_forward_and_passes_the_gradient():
    x = Tensor(np.array([0.4, 1.5, -2.6]), requires_grad=True)
    y = Q.round_ste(x)
    np.testing.assert_array_equal(y.data, [0.0, 2.0, -3.0])
    y.backward(np.array([1.0, 2.0, 3.0]))
    np.testing.assert_array_equal(x.grad, [1.0, 2.0, 3.0])


def test_gradcheck_where_the_ste_is_exact():
    # where the forward value equals the input (value = x), the STE is the true gradient: gradcheck it,
    # float64, through a downstream nonlinearity; a wrong VJP (a mask) fails the checker
    x = Tensor(np.random.default_rng(0).normal(size=6))
    mask = np.array([1, 1, 0, 1, 0, 1], bool)
    refimpl.gradcheck(lambda t: (refimpl.straight_through(t, t.data) * 2.0).tanh(), x)
    with pytest.raises(refimpl.GradcheckError):
        refimpl.gradcheck(lambda t: refimpl.straight_through(t, t.data, pass_mask=mask), x)


# ---- kernel == twin ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernel_equals_numpy_twin(dtype):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(7, 13)).astype(dtype)
    xt = np.asfortranarray(x)  # non-contiguous input
    for qp in [Q.quant_params(x, 4, granularity="channel"), Q.quant_params(x, 3, symmetric=False)]:
        Q.kernel_backend("numba")
        a = Q.fake_quant(xt, qp)
        Q.kernel_backend("numpy")
        b = Q.fake_quant(xt, qp)
        assert a.dtype == b.dtype == dtype
        np.testing.assert_array_equal(a, b)
    Q.kernel_backend("auto")


def test_env_switch_selects_twin(monkeypatch):
    monkeypatch.setenv("REFIMPL_DISABLE_NUMBA", "1")
    assert Q.kernel_backend("auto") == "numpy"
    monkeypatch.delenv("REFIMPL_DISABLE_NUMBA")
    assert Q.kernel_backend("auto") in ("numba", "numpy")


def test_numba_is_imported_lazily():
    import subprocess
    import sys

    code = (
        "import sys, refimpl; from refimpl.techniques.quantization import quantizers, ptq, signround, "
        "llm_fp4, fp_formats, ofq_statsq, nupes, adaquant_calibtip, rsq, is_vit_sulq, layerwise_mixed_bits, qfx; "
        "print('numba' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ---- GPTQ --------------------------------------------------------------------------------------------------
def obq_reference(W, H, quantizer, percdamp=0.01):
    """The oracle: OBQ in natural order with the inverse Hessian of the *remaining* columns re-inverted
    at every step (Frantar & Alistarh 2022, Eq. 2–3): δ_F = −(w_j − q_j)/[H_F⁻¹]_{jj} · [H_F⁻¹]_{j,:}.
    (H without dead columns; damped by percdamp · mean diag, as GPTQ.)"""
    W = np.array(W, dtype=np.float64)
    H = np.asarray(H, dtype=np.float64) + percdamp * np.mean(np.diag(H)) * np.eye(len(H))
    d = W.shape[1]
    Qm = np.zeros_like(W)
    for j in range(d):
        F = np.arange(j, d)
        Hinv = np.linalg.inv(H[np.ix_(F, F)])
        q = np.asarray(quantizer(W[:, j].copy(), j), dtype=np.float64)
        Qm[:, j] = q
        W[:, F] -= np.outer((W[:, j] - q) / Hinv[0, 0], Hinv[0])
    return Qm


def least_squares_update(w, H, j, q_j):
    """Brute-force closed form of one OBQ step for one row w: fix w_j = q_j and choose the other free
    entries to minimise (w' − w) H (w' − w)ᵀ — the linear system H_RR δ_R = −H_Rj (q_j − w_j)."""
    w = np.asarray(w, dtype=np.float64)
    R = np.array([i for i in range(w.size) if i != j])
    delta = np.zeros_like(w)
    delta[j] = q_j - w[j]
    if R.size:
        delta[R] = np.linalg.solve(H[np.ix_(R, R)], -H[R, j] * delta[j])
    return w + delta


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

    out = Q.gptq(np.array([[0.3, 0.2]]), H, quant, percdamp=0.0)
    np.testing.assert_allclose(seen[1], [0.1])
    np.testing.assert_allclose(out, [[0.5, 0.0]])


def test_gptq_equals_obq_with_explicit_inverses_and_least_squares():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 6)) @ rng.normal(size=(6, 6))
    W = rng.normal(size=(4, 6))
    H = Q.hessian(X)
    q = _grid_quantizer(0.7)
    np.testing.assert_allclose(Q.gptq(W, H, q), obq_reference(W, H, q), atol=1e-10)
    # one OBQ step is the least-squares optimum of the free columns (brute-force closed form)
    Hd = H + 0.01 * np.mean(np.diag(H)) * np.eye(6)
    Hinv = np.linalg.inv(Hd)
    w = W[0]
    q0 = np.rint(w[0] / 0.7) * 0.7
    upd = w - (w[0] - q0) / Hinv[0, 0] * Hinv[0]
    np.testing.assert_allclose(upd, least_squares_update(w, Hd, 0, q0), atol=1e-10)


def test_gptq_beats_rtn_and_brute_force_bounds_it():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 4)) @ np.array([[1, 0.9, 0, 0], [0, 0.4, 0, 0], [0, 0, 1, 0.8], [0, 0, 0, 0.3]])
    W = rng.normal(size=(3, 4))
    H = Q.hessian(X)
    q = _grid_quantizer(0.5)

    def loss(Qm):
        return float(np.trace((W - Qm) @ H @ (W - Qm).T))

    l_rtn, l_gptq = loss(q(W, 0)), loss(Q.gptq(W, H, q, percdamp=0.0))
    grid = np.arange(-6, 7) * 0.5
    l_best = sum(
        min(float((W[r] - np.array(c)) @ H @ (W[r] - np.array(c))) for c in itertools.product(grid, repeat=4))
        for r in range(3)
    )
    assert l_best <= l_gptq + 1e-12 < l_rtn


def test_hessian_weighted():
    X = np.array([[1.0, 0.0], [0.0, 2.0]])
    np.testing.assert_allclose(Q.hessian(X), [[1.0, 0.0], [0.0, 4.0]])
    np.testing.assert_allclose(Q.hessian(X, weights=[3.0, 1.0]), [[1.5, 0.0], [0.0, 2.0]])
