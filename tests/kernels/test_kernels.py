"""refimpl.kernels: each Numba kernel equals its NumPy twin, and both equal a brute-force loop.

Properties are drawn by Hypothesis over shapes, strides, paddings, dilations, float32/float64 and
non-contiguous memory layouts. The dispatcher's contract (lazy numba import, the
REFIMPL_DISABLE_NUMBA switch, the fallback when numba is missing) is checked in subprocesses.
"""

import itertools
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import refimpl.kernels as K
from refimpl.kernels import _numpy as NP

try:
    from refimpl.kernels import _numba as NB
except ImportError:  # numba absent: the NumPy-only tests still run
    NB = None

needs_numba = pytest.mark.skipif(NB is None, reason="numba not installed")
BACKENDS = [pytest.param(NP, id="numpy"), pytest.param(NB, id="numba", marks=needs_numba)]
SETTINGS = settings(deadline=None, max_examples=30)
ROOT = Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------
def assert_close(got, want, atol=0.0, what=""):
    """Equal shapes and dtypes, |got - want| <= atol everywhere (atol=0: bit-for-bit, NaN == NaN)."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype} != {want.dtype}"
    g, w = got.astype(float), want.astype(float)
    with np.errstate(invalid="ignore"):
        err = np.where((g == w) | (np.isnan(g) & np.isnan(w)), 0.0, np.abs(g - w))  # inf == inf: 0
    err = np.where(np.isnan(err), np.inf, err)  # NaN on one side only
    if err.size == 0 or err.max() <= atol:
        return
    where = tuple(int(i) for i in np.unravel_index(np.argmax(err), err.shape))
    rel = err[where] / max(abs(float(want[where])), 1e-300)
    raise AssertionError(
        f"{what}: max abs err {err[where]:.3g} (rel {rel:.3g}) at {where}: got {got[where]}, "
        f"want {want[where]} (atol {atol})"
    )


def layout(draw, shape, dtype, values=None):
    """An array of ``shape`` in one of several memory layouts (most of them non-contiguous)."""
    kind = draw(st.sampled_from(["contiguous", "transposed", "strided", "channels_last"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    make = values or (lambda s: rng.standard_normal(s))
    N, C, H, W = shape
    if kind == "contiguous":
        a = make(shape)
    elif kind == "transposed":  # H and W swapped in memory
        a = make((N, C, W, H)).swapaxes(2, 3)
    elif kind == "strided":  # every other column of a wider array
        a = make((N, C, H, 2 * W))[..., ::2]
    else:  # NHWC storage viewed as NCHW
        a = make((N, H, W, C)).transpose(0, 3, 1, 2)
    a = a.astype(dtype, copy=False)
    assert a.shape == shape
    return a


@st.composite
def conv_cases(draw, max_k=4):
    """(x, kh, kw, stride, padding, dilation) with an output of at least 1x1."""
    N, C = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, max_k)), draw(st.integers(1, max_k))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    ph, pw = draw(st.integers(0, 3)), draw(st.integers(0, 3))
    dh, dw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    # smallest size whose padded extent holds one dilated window, plus some slack
    H = max(1, dh * (kh - 1) + 1 - 2 * ph) + draw(st.integers(0, 6))
    W = max(1, dw * (kw - 1) + 1 - 2 * pw) + draw(st.integers(0, 6))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    x = layout(draw, (N, C, H, W), dtype)
    return x, kh, kw, (sh, sw), (ph, pw), (dh, dw)


@st.composite
def pool_cases(draw, ties=True):
    """(x, kernel, stride, padding, dilation) for max-pooling; padding <= kernel // 2 as in PyTorch."""
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    ph, pw = draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2))
    dh, dw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    H = max(1, dh * (kh - 1) + 1 - 2 * ph) + draw(st.integers(0, 6))
    W = max(1, dw * (kw - 1) + 1 - 2 * pw) + draw(st.integers(0, 6))
    N, C = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    # few distinct values -> many ties, which is where the first-max rule shows; a rare NaN or -inf
    pool = np.array([-2.0, -1.0, 0.0, 1.0, 2.0] * 6 + [np.nan, -np.inf])
    values = (lambda s: rng.choice(pool, s)) if ties and draw(st.booleans()) else None
    x = layout(draw, (N, C, H, W), dtype, values)
    return x, (kh, kw), (sh, sw), (ph, pw), (dh, dw)


def out_hw(H, W, kh, kw, s, p, d):
    return (H + 2 * p[0] - d[0] * (kh - 1) - 1) // s[0] + 1, (W + 2 * p[1] - d[1] * (kw - 1) - 1) // s[1] + 1


# ---------------------------------------------------------------------------------------------
# brute-force oracles: one Python loop per output element, written from the definitions
# ---------------------------------------------------------------------------------------------
def im2col_brute(x, kh, kw, s, p, d):
    N, C, H, W = x.shape
    OH, OW = out_hw(H, W, kh, kw, s, p, d)
    cols = np.zeros((N, C * kh * kw, OH * OW), dtype=x.dtype)
    for n, c, i, j, oh, ow in itertools.product(*map(range, (N, C, kh, kw, OH, OW))):
        h, w = oh * s[0] - p[0] + i * d[0], ow * s[1] - p[1] + j * d[1]
        if 0 <= h < H and 0 <= w < W:
            cols[n, c * kh * kw + i * kw + j, oh * OW + ow] = x[n, c, h, w]
    return cols


def maxpool_brute(x, k, s, p, d):
    N, C, H, W = x.shape
    OH, OW = out_hw(H, W, k[0], k[1], s, p, d)
    out = np.full((N, C, OH, OW), -np.inf, dtype=x.dtype)
    arg = np.full((N, C, OH, OW), -1, dtype=np.int64)
    for n, c, oh, ow in itertools.product(*map(range, (N, C, OH, OW))):
        for i, j in itertools.product(range(k[0]), range(k[1])):  # row-major window order
            h, w = oh * s[0] - p[0] + i * d[0], ow * s[1] - p[1] + j * d[1]
            if 0 <= h < H and 0 <= w < W:
                v = x[n, c, h, w]
                if arg[n, c, oh, ow] < 0 or v > out[n, c, oh, ow] or np.isnan(v):
                    out[n, c, oh, ow], arg[n, c, oh, ow] = v, h * W + w
    return out, arg


def maxpool_backward_brute(g, arg, x_shape):
    dx = np.zeros(x_shape, dtype=g.dtype)
    N, C, H, W = x_shape
    for n, c in itertools.product(range(N), range(C)):
        plane = dx[n, c].reshape(-1)  # a view
        for a, gv in zip(arg[n, c].reshape(-1), g[n, c].reshape(-1)):
            if a >= 0:
                plane[a] += gv
    return dx


# ---------------------------------------------------------------------------------------------
# im2col / col2im
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("M", BACKENDS)
@pytest.mark.parametrize(
    "shape, kh, kw, s, p, d",
    [
        ((1, 1, 3, 4), 2, 2, (1, 1), (0, 0), (1, 1)),
        ((2, 2, 5, 4), 3, 2, (2, 1), (1, 2), (1, 2)),
        ((1, 3, 4, 6), 2, 3, (1, 3), (3, 1), (2, 1)),  # padding wider than the window reach
        ((1, 1, 1, 1), 1, 1, (1, 1), (0, 0), (1, 1)),
    ],
)
def test_im2col2d_matches_brute_force(M, shape, kh, kw, s, p, d):
    x = np.random.default_rng(0).standard_normal(shape)
    assert_close(M.im2col2d(x, kh, kw, s, p, d), im2col_brute(x, kh, kw, s, p, d), what="im2col2d")


@needs_numba
@SETTINGS
@given(conv_cases())
def test_im2col2d_twins_agree(case):
    x, kh, kw, s, p, d = case
    a, b = NB.im2col2d(x, kh, kw, s, p, d), NP.im2col2d(x, kh, kw, s, p, d)
    OH, OW = out_hw(*x.shape[2:], kh, kw, s, p, d)
    assert a.shape == (x.shape[0], x.shape[1] * kh * kw, OH * OW) and a.dtype == x.dtype
    assert_close(a, b, what="im2col2d numba vs numpy")


@needs_numba
@SETTINGS
@given(conv_cases(), st.data())
def test_col2im2d_twins_agree(case, data):
    x, kh, kw, s, p, d = case
    N, C, H, W = x.shape
    OH, OW = out_hw(H, W, kh, kw, s, p, d)
    cols = layout(data.draw, (N, C * kh * kw, OH, OW), x.dtype).reshape(N, C * kh * kw, OH * OW)
    cols = data.draw(st.sampled_from([cols, np.asfortranarray(cols)]))
    a, b = NB.col2im2d(cols, x.shape, kh, kw, s, p, d), NP.col2im2d(cols, x.shape, kh, kw, s, p, d)
    assert a.shape == x.shape and a.dtype == x.dtype
    atol = 1e-12 if x.dtype == np.float64 else 1e-5  # same summation order: in practice exact
    assert_close(a, b, atol=atol, what="col2im2d numba vs numpy")


@pytest.mark.parametrize("M", BACKENDS)
@SETTINGS
@given(case=conv_cases())
def test_col2im2d_is_adjoint_of_im2col2d(M, case):
    """<im2col(x), c> = <x, col2im(c)> for random x, c (float64)."""
    x, kh, kw, s, p, d = case
    x = x.astype(np.float64)
    cols = M.im2col2d(x, kh, kw, s, p, d)
    c = np.random.default_rng(1).standard_normal(cols.shape)
    lhs = np.vdot(cols, c)
    rhs = np.vdot(x, M.col2im2d(c, x.shape, kh, kw, s, p, d))
    assert abs(lhs - rhs) <= 1e-10 * (1 + abs(lhs)), f"<im2col x, c> = {lhs} but <x, col2im c> = {rhs}"


@pytest.mark.parametrize("M", BACKENDS)
@SETTINGS
@given(case=conv_cases(), data=st.data())
def test_1d_kernels_are_2d_kernels_with_unit_height(M, case, data):
    x4, _, k, (_, s), (_, p), (_, d) = case
    x = x4[:, :, 0, :]  # (N, C, L), a strided view
    cols = M.im2col1d(x, k, s, p, d)
    assert_close(cols, im2col_brute(x[:, :, None, :], 1, k, (1, s), (0, p), (1, d)), what="im2col1d")
    c = data.draw(st.sampled_from([0.5, -2.0])) * np.ones_like(cols)
    dx = M.col2im1d(c, x.shape, k, s, p, d)
    want = M.col2im2d(c, (x.shape[0], x.shape[1], 1, x.shape[2]), 1, k, (1, s), (0, p), (1, d))
    assert_close(dx, want[:, :, 0, :], what="col2im1d")
    if NB is not None and M is NP:
        assert_close(NB.im2col1d(x, k, s, p, d), cols, what="im2col1d numba vs numpy")
        assert_close(NB.col2im1d(c, x.shape, k, s, p, d), dx, atol=1e-5, what="col2im1d numba vs numpy")


# ---------------------------------------------------------------------------------------------
# max pooling
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("M", BACKENDS)
@SETTINGS
@given(case=pool_cases(), data=st.data())
def test_maxpool2d_matches_brute_force(M, case, data):
    x, k, s, p, d = case
    out, arg = M.maxpool2d_forward(x, k, s, p, d)
    want_out, want_arg = maxpool_brute(x, k, s, p, d)
    assert_close(out, want_out, what="maxpool2d out")
    assert_close(arg, want_arg, what="maxpool2d argmax")
    g = np.random.default_rng(2).standard_normal(out.shape).astype(x.dtype)
    g = data.draw(st.sampled_from([g, np.asfortranarray(g)]))
    atol = 1e-12 if x.dtype == np.float64 else 1e-5
    assert_close(M.maxpool2d_backward(g, arg, x.shape), maxpool_backward_brute(g, arg, x.shape), atol, "dx")


@needs_numba
@SETTINGS
@given(pool_cases())
def test_maxpool2d_twins_agree(case):
    x, k, s, p, d = case
    (a, ia), (b, ib) = NB.maxpool2d_forward(x, k, s, p, d), NP.maxpool2d_forward(x, k, s, p, d)
    assert a.dtype == x.dtype and ia.dtype == np.int64
    assert_close(a, b, what="maxpool2d out numba vs numpy")
    assert_close(ia, ib, what="maxpool2d argmax numba vs numpy")
    g = np.random.default_rng(3).standard_normal(a.shape).astype(x.dtype)
    atol = 1e-12 if x.dtype == np.float64 else 1e-5
    assert_close(NB.maxpool2d_backward(g, ia, x.shape), NP.maxpool2d_backward(g, ib, x.shape), atol, "dx")


@pytest.mark.parametrize("M", BACKENDS)
def test_maxpool2d_pytorch_semantics(M):
    """Ties go to the first max in row-major order, NaN propagates, -inf inputs beat the padding."""
    x = np.zeros((1, 1, 3, 3))
    out, arg = M.maxpool2d_forward(x, 2, 1)
    np.testing.assert_array_equal(arg.ravel(), [0, 1, 3, 4])  # top-left of each window
    x[0, 0, 1, 1] = np.nan
    out, arg = M.maxpool2d_forward(x, 2, 1)
    assert np.isnan(out).all() and (arg == 4).all()
    x = np.full((1, 1, 2, 2), -np.inf)
    out, arg = M.maxpool2d_forward(x, 2, 1, padding=1)
    assert (out == -np.inf).all()
    np.testing.assert_array_equal(arg.ravel(), [0, 0, 1, 0, 0, 1, 2, 2, 3])  # a real pixel, not padding
    # overlapping windows that pick the same pixel add their gradients
    x = np.arange(9.0).reshape(1, 1, 3, 3)
    out, arg = M.maxpool2d_forward(x, 3, 1, padding=1)
    dx = M.maxpool2d_backward(np.ones_like(out), arg, x.shape)
    assert dx[0, 0, 2, 2] == 4 and dx.sum() == 9


# ---------------------------------------------------------------------------------------------
# argument checking and dtypes
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("M", BACKENDS)
def test_bad_arguments_raise(M):
    x = np.zeros((1, 1, 4, 4))
    with pytest.raises(ValueError, match="does not fit"):
        M.im2col2d(x, 5, 5)
    with pytest.raises(ValueError, match="at most half"):
        M.maxpool2d_forward(x, 2, 1, padding=2)
    with pytest.raises(ValueError, match="cols has shape"):
        M.col2im2d(np.zeros((1, 9, 5)), x.shape, 3, 3)
    with pytest.raises(ValueError, match=">= 1"):
        M.im2col2d(x, 2, 2, stride=0)
    with pytest.raises(ValueError):
        M.im2col2d(x[0], 2, 2)


@pytest.mark.parametrize("M", BACKENDS)
def test_dtypes(M):
    for dtype in (np.float32, np.float64):
        x = np.ones((1, 2, 4, 4), dtype)
        assert M.im2col2d(x, 2, 2).dtype == dtype
        assert M.col2im2d(M.im2col2d(x, 2, 2), x.shape, 2, 2).dtype == dtype
        assert M.maxpool2d_forward(x, 2)[0].dtype == dtype
    assert M.im2col2d(np.ones((1, 1, 3, 3), np.int32), 2, 2).dtype == np.float64


# ---------------------------------------------------------------------------------------------
# the dispatcher
# ---------------------------------------------------------------------------------------------
def run_python(code, **env):
    full_env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    full_env.pop("REFIMPL_DISABLE_NUMBA", None)
    full_env.update(env)
    cmd = [sys.executable, "-c", textwrap.dedent(code)]
    res = subprocess.run(cmd, env=full_env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    return res.stdout.strip()


def test_import_does_not_import_numba():
    out = run_python(
        """
        import sys
        import refimpl.kernels
        print('numba' in sys.modules)
        """
    )
    assert out == "False"


def test_env_var_selects_numpy_twins():
    out = run_python(
        """
        import sys, numpy as np
        import refimpl.kernels as K
        K.im2col2d(np.zeros((1, 1, 3, 3)), 2, 2)
        print(K.backend(), 'numba' in sys.modules)
        """,
        REFIMPL_DISABLE_NUMBA="1",
    )
    assert out == "numpy False"


@needs_numba
def test_default_backend_is_numba():
    out = run_python("import refimpl.kernels as K; print(K.backend())")
    assert out == "numba"


def test_missing_numba_falls_back_with_one_warning():
    out = run_python(
        """
        import sys, warnings, numpy as np
        sys.modules['numba'] = None  # makes 'import numba' raise ImportError
        import refimpl.kernels as K
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter('always')
            K.im2col2d(np.zeros((1, 1, 3, 3)), 2, 2)
            K.maxpool2d_forward(np.zeros((1, 1, 3, 3)), 2)
        print(K.backend(), len([x for x in w if 'numba unavailable' in str(x.message)]))
        """
    )
    assert out == "numpy 1"


def test_public_functions_follow_set_backend():
    x = np.random.default_rng(4).standard_normal((2, 3, 6, 5))
    try:
        for name in ["numpy"] + (["numba"] if NB is not None else []):
            K.set_backend(name)
            assert K.backend() == name
            cols = K.im2col2d(x, 3, 2, 1, 1)
            assert_close(cols, im2col_brute(x, 3, 2, (1, 1), (1, 1), (1, 1)), what=f"{name} im2col2d")
            assert K.col2im2d(cols, x.shape, 3, 2, 1, 1).shape == x.shape
            assert K.im2col1d(x[:, :, 0], 3).shape == (2, 9, 3)
            assert K.col2im1d(np.ones((2, 9, 3)), (2, 3, 5), 3).shape == (2, 3, 5)
            out, arg = K.maxpool2d_forward(x, 2)
            assert K.maxpool2d_backward(out, arg, x.shape).shape == x.shape
        with pytest.raises(ValueError):
            K.set_backend("cuda")
    finally:
        K.set_backend(None)
