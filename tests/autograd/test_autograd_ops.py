"""Every primitive in `refimpl.autograd.ops`: forward equals an independent NumPy/SciPy computation and a
float64 `refimpl.gradcheck` (random upstream gradient) passes, away from kinks.

Binary ops are Hypothesis properties over mutually broadcastable shapes (0-d, size-1 axes) and memory
layouts (contiguous, transposed, strided views): their analytic VJPs on non-contiguous leaves are also
compared with the hand-derived formula reduced to each input's shape by a brute-force loop.
"""

import math

import numpy as np
import pytest
import scipy.special
from closeness import close
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import mutually_broadcastable_shapes

import refimpl
from refimpl import gradcheck, tensor
from refimpl.autograd import ops


def rng(seed=0):
    return np.random.default_rng(seed)


def away_from_zero(shape, seed=0, lo=0.2, hi=2.0):
    r = rng(seed)
    return r.uniform(lo, hi, shape) * r.choice([-1.0, 1.0], shape)


# --- unary elementwise ------------------------------------------------------------------------
_erf = np.vectorize(math.erf)
UNARY = {
    "neg": (ops.neg, lambda x: -x, "normal"),
    "exp": (ops.exp, np.exp, "normal"),
    "log": (ops.log, np.log, "positive"),
    "sqrt": (ops.sqrt, np.sqrt, "positive"),
    "abs": (ops.abs, np.abs, "nonzero"),
    "sign": (ops.sign, np.sign, "nonzero"),
    "tanh": (ops.tanh, np.tanh, "normal"),
    "sigmoid": (ops.sigmoid, lambda x: 1 / (1 + np.exp(-x)), "normal"),
    "relu": (ops.relu, lambda x: np.where(x > 0, x, 0.0), "nonzero"),
    "leaky_relu": (lambda x: ops.leaky_relu(x, 0.2), lambda x: np.where(x > 0, x, 0.2 * x), "nonzero"),
    "gelu": (ops.gelu, lambda x: 0.5 * x * (1 + _erf(x / math.sqrt(2))), "normal"),
    "silu": (ops.silu, lambda x: x / (1 + np.exp(-x)), "normal"),
    "softplus": (ops.softplus, lambda x: np.log(1 + np.exp(x)), "normal"),
    "pow_scalar_exponent": (lambda x: x**3, lambda x: x * x * x, "normal"),
    "pow_fractional": (lambda x: ops.pow(x, 0.5), np.sqrt, "positive"),
    "rpow": (lambda x: 2.0**x, lambda x: np.exp(x * np.log(2.0)), "normal"),
    "clip_both": (lambda x: ops.clip(x, -0.5, 0.7), lambda x: np.minimum(np.maximum(x, -0.5), 0.7), "grid"),
    "clip_min": (lambda x: ops.clip(x, min=-0.5), lambda x: np.maximum(x, -0.5), "grid"),
    "clip_max": (lambda x: x.clip(max=0.7), lambda x: np.minimum(x, 0.7), "grid"),
    "softmax_last": (
        lambda x: ops.softmax(x, -1),
        lambda x: np.exp(x) / np.exp(x).sum(-1, keepdims=True),
        "normal",
    ),
    "softmax_first": (
        lambda x: ops.softmax(x, 0),
        lambda x: np.exp(x) / np.exp(x).sum(0, keepdims=True),
        "normal",
    ),
    "log_softmax_last": (
        lambda x: ops.log_softmax(x, -1),
        lambda x: x - np.log(np.exp(x).sum(-1, keepdims=True)),
        "normal",
    ),
    "log_softmax_mid": (
        lambda x: x.log_softmax(1),
        lambda x: x - np.log(np.exp(x).sum(1, keepdims=True)),
        "normal",
    ),
}


def _unary_input(kind, shape=(2, 3, 4), seed=0):
    if kind == "normal":
        return rng(seed).standard_normal(shape)
    if kind == "positive":
        return rng(seed).uniform(0.3, 2.5, shape)
    if kind == "nonzero":
        return away_from_zero(shape, seed)
    # "grid": values at least 0.02 from the clip bounds -0.5 and 0.7
    x = rng(seed).uniform(-1.2, 1.4, shape)
    for b in (-0.5, 0.7):
        x = np.where(np.abs(x - b) < 0.02, b + 0.05, x)
    return x


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_forward_and_gradcheck(name):
    fn, ref, kind = UNARY[name]
    x = _unary_input(kind)
    close(fn(tensor(x)).data, ref(x), rtol=1e-12, atol=1e-14, what=name)
    assert gradcheck(fn, x, mode="full")


def test_kink_conventions_match_pytorch():
    x = tensor(np.array([-1.0, 0.0, 2.0]), requires_grad=True)
    ops.relu(x).sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.0, 1.0])  # relu'(0) = 0
    x.zero_grad()
    ops.abs(x).sum().backward()
    np.testing.assert_array_equal(x.grad, [-1.0, 0.0, 1.0])  # |x|'(0) = 0
    x.zero_grad()
    ops.sign(x).sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.0, 0.0])
    x.zero_grad()
    ops.clip(x, -1.0, 1.0).sum().backward()  # closed interval: the bounds themselves pass the gradient
    np.testing.assert_array_equal(x.grad, [1.0, 1.0, 0.0])
    a = tensor(np.array([1.0, 2.0]), requires_grad=True)
    b = tensor(np.array([1.0, 3.0]), requires_grad=True)
    ops.maximum(a, b).sum().backward()  # a tie splits the gradient evenly
    np.testing.assert_array_equal(a.grad, [0.5, 0.0])
    np.testing.assert_array_equal(b.grad, [0.5, 1.0])


def test_cast_gradient_returns_in_the_source_dtype():
    x = tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = x.astype(np.float32)
    assert y.dtype == np.float32
    (y * 3.0).sum().backward()
    assert x.grad.dtype == np.float64
    np.testing.assert_array_equal(x.grad, [3.0, 3.0])
    assert x.double() is x  # same dtype: no new node


# --- binary elementwise over broadcast shapes and memory layouts -------------------------------------
def _grid_values(r, shape, offset):
    """Values k + offset + u, k integer, u ∈ [0, 0.2): two such arrays with offsets 0.25 and 0.75 never
    come closer than 0.3 (no ties for maximum/minimum)."""
    return r.integers(-3, 3, shape) + offset + r.uniform(0, 0.2, shape)


BINARY = {
    # name: (op, numpy forward, VJP formulas (x̄, ȳ) in the broadcast shape, x sampler, y sampler)
    "add": (ops.add, np.add, lambda g, x, y: (g, g), "normal", "normal"),
    "sub": (ops.sub, np.subtract, lambda g, x, y: (g, -g), "normal", "normal"),
    "mul": (ops.mul, np.multiply, lambda g, x, y: (g * y, g * x), "normal", "normal"),
    "div": (ops.div, np.divide, lambda g, x, y: (g / y, -g * x / y**2), "normal", "nonzero"),
    "pow": (
        ops.pow,
        np.power,
        lambda g, x, y: (g * y * x ** (y - 1), g * x**y * np.log(x)),
        "positive",
        "normal",
    ),
    "maximum": (ops.maximum, np.maximum, lambda g, x, y: (g * (x > y), g * (y > x)), "grid_a", "grid_b"),
    "minimum": (ops.minimum, np.minimum, lambda g, x, y: (g * (x < y), g * (y < x)), "grid_a", "grid_b"),
}


def _sample(kind, r, shape):
    return np.asarray(_sample_raw(kind, r, shape), dtype=np.float64)  # 0-d: an array, not a NumPy scalar


def _sample_raw(kind, r, shape):
    if kind == "normal":
        return r.standard_normal(shape)
    if kind == "positive":
        return r.uniform(0.5, 2.0, shape)
    if kind == "nonzero":
        return r.uniform(0.5, 2.0, shape) * r.choice([-1.0, 1.0], shape)
    return _grid_values(r, shape, 0.25 if kind == "grid_a" else 0.75)


def _layout(values, kind):
    """(base, np_view, tensor_view): np_view(base) equals `values` and is laid out as `kind` says."""
    nd = values.ndim
    if kind == "transposed" and nd >= 2:
        rev = tuple(range(nd))[::-1]
        base = np.ascontiguousarray(values.transpose(rev))
        return base, (lambda a: a.transpose(rev)), (lambda t: ops.permute(t, rev))
    if kind == "strided" and nd >= 1:
        base = np.full(values.shape[:-1] + (2 * values.shape[-1],), 99.0)
        base[..., ::2] = values
        sl = (Ellipsis, slice(None, None, 2))
        return base, (lambda a: a[sl]), (lambda t: t[sl])
    return values.copy(), (lambda a: a), (lambda t: t)


def _reduce_to(g, shape):
    """Brute force: add every element of g into the input element it was broadcast from."""
    out = np.zeros(shape)
    off = g.ndim - len(shape)
    for idx in np.ndindex(*g.shape):
        src = tuple(0 if n == 1 else idx[off + k] for k, n in enumerate(shape))
        out[src] += g[idx]
    return out


LAYOUTS = st.sampled_from(["contiguous", "transposed", "strided"])


@pytest.mark.parametrize("name", sorted(BINARY))
@given(
    shapes=mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, min_side=1, max_side=3),
    layouts=st.tuples(LAYOUTS, LAYOUTS),
    seed=st.integers(0, 2**31 - 1),
)
def test_binary_broadcasting_property(name, shapes, layouts, seed):
    op, np_op, vjp, kx, ky = BINARY[name]
    (sx, sy), out_shape = shapes.input_shapes, shapes.result_shape
    r = rng(seed)
    x, y = _sample(kx, r, sx), _sample(ky, r, sy)
    (bx, npx, tx), (by, npy, ty) = _layout(x, layouts[0]), _layout(y, layouts[1])
    xv, yv = npx(bx), npy(by)  # the (possibly non-contiguous) views

    # forward on non-contiguous leaves equals NumPy
    a, b = tensor(xv, requires_grad=True), tensor(yv, requires_grad=True)
    out = op(a, b)
    close(out.data, np_op(x, y), what=f"{name} forward")
    assert out.shape == out_shape
    # backward equals the hand-derived VJP, reduced to each input's shape by brute force
    g = r.standard_normal(out_shape)
    out.backward(g)
    xb, yb = np.broadcast_to(x, out_shape), np.broadcast_to(y, out_shape)
    gx, gy = vjp(g, xb, yb)
    close(a.grad, _reduce_to(np.broadcast_to(gx, out_shape), sx), rtol=1e-10, atol=1e-12, what=f"{name} x̄")
    close(b.grad, _reduce_to(np.broadcast_to(gy, out_shape), sy), rtol=1e-10, atol=1e-12, what=f"{name} ȳ")
    # and numerically, with the op seeing non-contiguous views made inside the graph
    assert gradcheck(lambda p, q: op(tx(p), ty(q)), bx, by)


def test_binary_ops_with_constants_on_either_side():
    x = np.array([[1.5, -2.0, 0.5]])
    c = np.array([[2.0], [-1.0]])
    for fn, want in [
        (lambda t: t - c, x - c),
        (lambda t: c - t, c - x),
        (lambda t: t / 4.0, x / 4.0),
        (lambda t: 3.0 / t, 3.0 / x),
        (lambda t: c * t, c * x),
        (lambda t: t**2.0, x**2),
    ]:
        close(fn(tensor(x)).data, want)
        assert gradcheck(fn, x)


def test_where_broadcasts_condition_and_operands():
    r = rng(3)
    cond = r.random((3, 1)) > 0.5
    cond[0, 0], cond[1, 0] = True, False
    x, y = r.standard_normal((1, 4)), r.standard_normal((3, 4))
    close(ops.where(cond, tensor(x), tensor(y)).data, np.where(cond, x, y))
    assert gradcheck(lambda p, q: ops.where(cond, p, q), x, y)
    assert gradcheck(lambda p: ops.where(cond, p, -1.0), x)  # a scalar branch
    assert gradcheck(lambda q: ops.where(tensor(cond), 2.0, q), y)  # a Tensor condition


# --- reductions ------------------------------------------------------------------------------------
def _distinct(shape, seed=0):
    return (rng(seed).permutation(int(np.prod(shape))) * 0.37 - 4.0).reshape(shape)


REDUCTIONS = {
    "sum": (ops.sum, lambda x, a, k: np.sum(x, axis=a, keepdims=k)),
    "mean": (ops.mean, lambda x, a, k: np.mean(x, axis=a, keepdims=k)),
    "var": (ops.var, lambda x, a, k: np.var(x, axis=a, keepdims=k, ddof=1)),
    "max": (ops.max, lambda x, a, k: np.max(x, axis=a, keepdims=k)),
    "min": (ops.min, lambda x, a, k: np.min(x, axis=a, keepdims=k)),
    "logsumexp": (ops.logsumexp, lambda x, a, k: scipy.special.logsumexp(x, axis=a, keepdims=k)),
}


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", [None, 0, -1, 1, (0, 2), (2, 0, 1)])
@pytest.mark.parametrize("name", sorted(REDUCTIONS))
def test_reduction_forward_and_gradcheck(name, axis, keepdims):
    fn, ref = REDUCTIONS[name]
    x = _distinct((2, 3, 4))
    want = ref(x, axis, keepdims)
    close(fn(tensor(x), axis, keepdims).data, want, rtol=1e-12, what=f"{name}{axis}")
    assert gradcheck(lambda t: fn(t, axis, keepdims), x, mode="full")


def test_reduction_methods_accept_torch_spellings():
    x = _distinct((2, 3))
    t = tensor(x)
    close(t.sum(dim=1, keepdim=True).data, x.sum(1, keepdims=True))
    close(t.mean(0).data, x.mean(0))
    close(t.var(dim=1, correction=0).data, x.var(1))
    close(t.max(dim=-1).data, x.max(-1))
    close(t.logsumexp(dim=0, keepdim=True).data, scipy.special.logsumexp(x, 0, keepdims=True))
    assert gradcheck(lambda a: a.var(axis=(0, 1), correction=0), x)


def test_max_min_split_the_gradient_among_ties():
    x = tensor(np.array([1.0, 3.0, 3.0, -2.0]), requires_grad=True)
    x.max().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.5, 0.5, 0.0])
    y = tensor(np.array([[2.0, -1.0, -1.0], [0.0, 5.0, 1.0]]), requires_grad=True)
    ops.min(y, axis=1).backward(np.array([6.0, 1.0]))
    np.testing.assert_array_equal(y.grad, [[0.0, 3.0, 3.0], [1.0, 0.0, 0.0]])


def test_logsumexp_is_stable():
    x = tensor(np.array([[1e4, 1e4], [-1e4, -1e4 + math.log(3.0)]]), requires_grad=True)
    y = ops.logsumexp(x, axis=1)
    close(y.data, [1e4 + math.log(2.0), -1e4 + math.log(4.0)], rtol=1e-14)
    y.sum().backward()
    close(x.grad, [[0.5, 0.5], [0.25, 0.75]], atol=1e-14)


# --- matmul and linear ---------------------------------------------------------------------------------
MATMUL_SHAPES = [
    ((3, 4), (4, 5)),
    ((2, 3, 4), (2, 4, 5)),  # batched
    ((2, 1, 3, 4), (3, 4, 2)),  # broadcast batch axes
    ((3, 4), (2, 4, 5)),  # 2-D against a batch
    ((4,), (4, 5)),  # 1-D on the left
    ((3, 4), (4,)),  # 1-D on the right
    ((4,), (4,)),  # inner product
    ((2, 3, 4), (4,)),
    ((4,), (2, 4, 5)),
]


@pytest.mark.parametrize("sx, sy", MATMUL_SHAPES, ids=[f"{a}@{b}" for a, b in MATMUL_SHAPES])
def test_matmul_forward_and_gradcheck(sx, sy):
    x, y = rng(1).standard_normal(sx), rng(2).standard_normal(sy)
    close(ops.matmul(tensor(x), tensor(y)).data, np.matmul(x, y), rtol=1e-12)
    close((tensor(x) @ tensor(y)).data, np.matmul(x, y), rtol=1e-12)
    assert gradcheck(ops.matmul, x, y, mode="full")


def test_matmul_with_a_constant_operand():
    x, w = rng(1).standard_normal((3, 4)), rng(2).standard_normal((4, 2))
    assert gradcheck(lambda t: w.T @ t.T, x)  # ndarray @ Tensor dispatches to __rmatmul__
    assert gradcheck(lambda t: t @ w, x)


@pytest.mark.parametrize("xshape", [(5, 3), (2, 4, 3), (3,)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_forward_and_gradcheck(xshape, bias):
    x, w, b = rng(1).standard_normal(xshape), rng(2).standard_normal((4, 3)), rng(3).standard_normal(4)
    want = np.einsum("...i,oi->...o", x, w) + (b if bias else 0.0)
    args = (x, w, b) if bias else (x, w)
    close(ops.linear(*map(tensor, args)).data, want, rtol=1e-12)
    assert gradcheck(ops.linear, *args, mode="full")


# --- shape ops -----------------------------------------------------------------------------------------
X3 = rng(7).standard_normal((2, 3, 4))
MASK = rng(8).random((2, 3, 4)) > 0.5
MASK2 = np.array([True, False, True])
SHAPE_OPS = {
    "reshape": (lambda t: ops.reshape(t, (4, -1)), lambda a: a.reshape(4, -1)),
    "reshape_method": (lambda t: t.reshape(2, 12), lambda a: a.reshape(2, 12)),
    "view_flat": (lambda t: t.view(-1), lambda a: a.reshape(-1)),
    "flatten": (lambda t: t.flatten(1), lambda a: a.reshape(2, 12)),
    "unsqueeze": (lambda t: t.unsqueeze(1), lambda a: a[:, None]),
    "squeeze": (lambda t: t.unsqueeze(-1).squeeze(), lambda a: a),
    "transpose": (lambda t: ops.transpose(t, 0, 2), lambda a: a.swapaxes(0, 2)),
    "transpose_neg": (lambda t: t.transpose(-1, -2), lambda a: a.swapaxes(-1, -2)),
    "permute": (lambda t: t.permute(2, 0, 1), lambda a: a.transpose(2, 0, 1)),
    "T": (lambda t: t.T, lambda a: a.T),
    "expand": (lambda t: t[:, :1, :].expand(2, 5, 4), lambda a: np.broadcast_to(a[:, :1, :], (2, 5, 4))),
    "broadcast_to_new_axes": (
        lambda t: ops.broadcast_to(t, (3, 2, 3, 4)),
        lambda a: np.broadcast_to(a, (3, 2, 3, 4)),
    ),
    "broadcast_0d": (
        lambda t: ops.broadcast_to(t[0, 1, 2], (2, 3)),
        lambda a: np.broadcast_to(a[0, 1, 2], (2, 3)),
    ),
    "index_int": (lambda t: t[1], lambda a: a[1]),
    "slice": (lambda t: t[:, 1:3], lambda a: a[:, 1:3]),
    "slice_negative_step": (lambda t: t[::-1, ..., ::2], lambda a: a[::-1, ..., ::2]),
    "newaxis_ellipsis": (lambda t: t[None, ..., -1], lambda a: a[None, ..., -1]),
    "int_array_repeated": (lambda t: t[np.array([0, 1, 0, 0])], lambda a: a[np.array([0, 1, 0, 0])]),
    "int_list_pair": (lambda t: t[[1, 1, 0], :, [0, 3, 3]], lambda a: a[[1, 1, 0], :, [0, 3, 3]]),
    "int_and_array": (lambda t: t[0, np.array([2, 2, 1])], lambda a: a[0, np.array([2, 2, 1])]),
    "slice_and_array": (
        lambda t: t[:, np.array([[2, 2], [0, 1]]), 1:],
        lambda a: a[:, np.array([[2, 2], [0, 1]]), 1:],
    ),
    "bool_mask_full": (lambda t: t[MASK], lambda a: a[MASK]),
    "bool_mask_axis1": (lambda t: t[:, MASK2], lambda a: a[:, MASK2]),
    "tensor_index": (lambda t: t[tensor(np.array([1, 1]))], lambda a: a[np.array([1, 1])]),
    "pad": (
        lambda t: ops.pad(t, ((1, 0), (0, 2), (2, 1)), value=0.5),
        lambda a: np.pad(a, ((1, 0), (0, 2), (2, 1)), constant_values=0.5),
    ),
}


@pytest.mark.parametrize("name", sorted(SHAPE_OPS))
def test_shape_op_forward_and_gradcheck(name):
    fn, ref = SHAPE_OPS[name]
    close(fn(tensor(X3)).data, ref(X3), rtol=0, atol=0, what=name)
    assert gradcheck(fn, X3, mode="full")


def test_getitem_repeated_indices_accumulate():
    x = tensor(np.zeros((3, 2)), requires_grad=True)
    idx = np.array([2, 0, 2, 2])
    g = np.arange(8.0).reshape(4, 2)
    x[idx].backward(g)
    want = np.zeros((3, 2))
    for row, i in enumerate(idx):  # brute force: each output row adds into the row it came from
        want[i] += g[row]
    np.testing.assert_array_equal(x.grad, want)


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_concatenate_forward_and_gradcheck(axis):
    shapes = [
        [(1, 3, 2), (2, 3, 2), (3, 3, 2)],
        [(2, 1, 2), (2, 2, 2), (2, 4, 2)],
        [(2, 3, 1), (2, 3, 3), (2, 3, 2)],
    ]
    xs = [rng(i).standard_normal(s) for i, s in enumerate(shapes[axis if axis >= 0 else 2])]
    close(ops.concatenate([tensor(a) for a in xs], axis=axis).data, np.concatenate(xs, axis=axis), atol=0)
    assert gradcheck(lambda *ts: ops.concatenate(ts, axis=axis), *xs, mode="full")
    const = np.ones(xs[0].shape)  # a constant among the inputs
    assert gradcheck(lambda a, b: ops.cat([a, const, b], axis=axis), xs[0], xs[1], mode="full")


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_stack_forward_and_gradcheck(axis):
    xs = [rng(i).standard_normal((2, 3)) for i in range(3)]
    close(ops.stack([tensor(a) for a in xs], axis=axis).data, np.stack(xs, axis=axis), atol=0)
    assert gradcheck(lambda *ts: ops.stack(ts, axis=axis), *xs, mode="full")


def test_operators_and_methods_route_to_the_ops():
    x = rng(0).uniform(0.5, 1.5, (2, 3))
    for fn in [
        lambda t: -t,
        lambda t: t.exp().log().sqrt(),
        lambda t: t.abs().tanh().sigmoid().relu(),
        lambda t: t.softmax(0) + t.clamp(0.6, 1.2) + t.pow(2.0) + t.matmul(t.T).sum(),
    ]:
        assert gradcheck(fn, x)
    assert refimpl.tensor(x).sign().data.sum() == 6
