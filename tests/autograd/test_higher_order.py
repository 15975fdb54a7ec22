"""Higher-order gradients: every op's differentiable VJP (`backward_graph`) passes `gradgradcheck` in
float64 with random upstream gradients; third derivatives of scalar functions match closed forms; the
engine's `grad` follows PyTorch's rules (retain_graph, allow_unused, errors)."""

import math

import numpy as np
import pytest
from test_autograd_ops import (
    BINARY,
    MATMUL_SHAPES,
    REDUCTIONS,
    SHAPE_OPS,
    UNARY,
    X3,
    _distinct,
    _sample,
    _unary_input,
)

import refimpl as rf
from refimpl import gradgradcheck, tensor
from refimpl.autograd import ops
from refimpl.nn import functional as F


def rng(seed=0):
    return np.random.default_rng(seed)


# --- every op ------------------------------------------------------------------------------------------
# Ops that are piecewise linear (relu, abs, clip, max/min, leaky_relu, sign) have a zero second derivative
# away from kinks: gradgradcheck checks exactly that (their VJP is then linear in the upstream gradient).
@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_gradgradcheck(name):
    fn, _, kind = UNARY[name]
    assert gradgradcheck(fn, _unary_input(kind, shape=(2, 3)), mode="full")


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_gradgradcheck_with_broadcasting(name):
    fn, _, _, kx, ky = BINARY[name]
    r = rng(3)
    x, y = _sample(kx, r, (2, 3)), _sample(ky, r, (3,))
    assert gradgradcheck(fn, x, y, mode="full")


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", [None, -1, (0, 2)])
@pytest.mark.parametrize("name", sorted(REDUCTIONS))
def test_reduction_gradgradcheck(name, axis, keepdims):
    fn, _ = REDUCTIONS[name]
    assert gradgradcheck(lambda t: fn(t, axis, keepdims), _distinct((2, 3, 2)) * 0.3, mode="full")


@pytest.mark.parametrize("name", sorted(SHAPE_OPS))
def test_shape_op_gradgradcheck(name):
    fn, _ = SHAPE_OPS[name]
    # a shape op is linear: its second derivative is zero, so square it to have something to check
    assert gradgradcheck(lambda t: fn(t) * fn(t), X3, mode="random", n_directions=3)


@pytest.mark.parametrize("axis", [0, -1])
def test_concatenate_and_stack_gradgradcheck(axis):
    a, b = rng(1).standard_normal((2, 3)), rng(2).standard_normal((2, 3))
    assert gradgradcheck(lambda x, y: ops.concatenate([x * x, y], axis) ** 2, a, b, mode="full")
    assert gradgradcheck(lambda x, y: ops.stack([x * y, y], axis) ** 2, a, b, mode="full")


@pytest.mark.parametrize("sx, sy", MATMUL_SHAPES, ids=[f"{a}@{b}" for a, b in MATMUL_SHAPES])
def test_matmul_gradgradcheck(sx, sy):
    x, y = rng(4).standard_normal(sx), rng(5).standard_normal(sy)
    assert gradgradcheck(lambda a, b: ops.matmul(a, b) ** 2, x, y, mode="random", n_directions=3)


@pytest.mark.parametrize("xshape", [(4, 3), (2, 2, 3)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_gradgradcheck(xshape, bias):
    r = rng(6)
    args = [r.standard_normal(xshape), r.standard_normal((2, 3))] + ([r.standard_normal(2)] if bias else [])
    assert gradgradcheck(lambda *a: ops.tanh(ops.linear(*a)), *args, mode="full")


NN_FUNCTIONS = {
    "cross_entropy_plain": (lambda z: F.cross_entropy(z, np.array([0, 2, 1])), [(3, 4)]),
    "cross_entropy_smoothing_weight": (
        lambda z: F.cross_entropy(
            z, np.array([0, 2, 1]), weight=np.array([1.0, 2.0, 0.5, 1.5]), label_smoothing=0.1
        ),
        [(3, 4)],
    ),
    "cross_entropy_none": (lambda z: F.cross_entropy(z, np.array([3, 2, 1]), reduction="none"), [(3, 4)]),
    "cross_entropy_prob_targets": (lambda z, t: F.cross_entropy(z, ops.softmax(t, -1)), [(3, 4), (3, 4)]),
    "bce_with_logits": (lambda z, y: F.binary_cross_entropy_with_logits(z, ops.sigmoid(y)), [(3, 4), (3, 4)]),
    "mse": (lambda a, b: F.mse_loss(a, b), [(3, 4), (3, 4)]),
    "layer_norm": (lambda x, w, b: F.layer_norm(x, (4,), w, b), [(3, 4), (4,), (4,)]),
    "group_norm": (lambda x: F.group_norm(x, 2, None, None), [(2, 4, 3)]),
    "batch_norm_train": (lambda x: F.batch_norm(x, None, None, training=True), [(5, 3)]),
    "rms_norm": (lambda x: F.rms_norm(x, (4,)), [(3, 4)]),
    "attention": (
        lambda q, k, v: F.scaled_dot_product_attention(q, k, v),
        [(1, 3, 2), (1, 4, 2), (1, 4, 2)],
    ),
    "conv2d": (
        lambda x, w, b: F.conv2d(x, w, b, stride=1, padding=1) ** 2,
        [(1, 2, 4, 4), (3, 2, 3, 3), (3,)],
    ),
    "conv2d_strided_dilated_groups": (
        lambda x, w: F.conv2d(x, w, stride=2, padding=1, dilation=2, groups=2) ** 2,
        [(2, 4, 5, 5), (2, 2, 2, 2)],
    ),
    "max_pool2d": (lambda x: F.max_pool2d(x * x, 2), [(1, 2, 4, 4)]),
    "avg_pool2d": (lambda x: F.avg_pool2d(x * x, 2, stride=1, padding=1), [(1, 2, 3, 3)]),
    "embedding": (lambda w: F.embedding(np.array([0, 2, 2]), w) ** 2, [(3, 2)]),
}


@pytest.mark.parametrize("name", sorted(NN_FUNCTIONS))
def test_nn_functional_gradgradcheck(name):
    fn, shapes = NN_FUNCTIONS[name]
    r = rng(9)
    args = [r.standard_normal(s) for s in shapes]
    assert gradgradcheck(fn, *args, mode="random", n_directions=4, rtol=1e-3, atol=1e-6)


def test_a_technique_function_without_backward_graph_says_so():
    class Cube(rf.Function):
        def forward(ctx, x):
            ctx.x = x
            return x**3

        def backward(ctx, g):
            return (3 * g * ctx.x**2,)

    x = tensor(np.array([1.0, 2.0]), requires_grad=True)
    (g,) = rf.grad(Cube.apply(x).sum(), x)  # first order still works
    assert np.allclose(g.data, [3.0, 12.0])
    with pytest.raises(NotImplementedError, match="Cube has no differentiable backward"):
        rf.grad(Cube.apply(x).sum(), x, create_graph=True)


# --- closed forms -------------------------------------------------------------------------------------
def _third(fn, x0):
    x = tensor(np.array(x0), requires_grad=True)
    (d1,) = rf.grad(fn(x), x, create_graph=True)
    (d2,) = rf.grad(d1, x, create_graph=True)
    (d3,) = rf.grad(d2, x)
    return float(d1.data), float(d2.data), float(d3.data)


def _sig(x):
    return 1 / (1 + math.exp(-x))


CLOSED = {
    # f, f', f'', f''' written out by hand
    "tanh": (
        ops.tanh,
        lambda x: 1 - math.tanh(x) ** 2,
        lambda x: -2 * math.tanh(x) * (1 - math.tanh(x) ** 2),
        lambda x: (1 - math.tanh(x) ** 2) * (6 * math.tanh(x) ** 2 - 2),
    ),
    "sigmoid": (
        ops.sigmoid,
        lambda x: _sig(x) * (1 - _sig(x)),
        lambda x: _sig(x) * (1 - _sig(x)) * (1 - 2 * _sig(x)),
        lambda x: _sig(x) * (1 - _sig(x)) * (1 - 6 * _sig(x) + 6 * _sig(x) ** 2),
    ),
    "softplus": (  # softplus' = σ, so its derivatives are σ's shifted by one
        ops.softplus,
        _sig,
        lambda x: _sig(x) * (1 - _sig(x)),
        lambda x: _sig(x) * (1 - _sig(x)) * (1 - 2 * _sig(x)),
    ),
}


@pytest.mark.parametrize("name", sorted(CLOSED))
@pytest.mark.parametrize("x0", [-1.3, 0.0, 0.7, 2.5])
def test_third_derivative_matches_the_closed_form(name, x0):
    fn, d1, d2, d3 = CLOSED[name]
    got = _third(fn, x0)
    assert got == pytest.approx((d1(x0), d2(x0), d3(x0)), rel=1e-12, abs=1e-14)


def test_third_derivative_of_logsumexp_is_the_softmax_cumulant():
    """For f = logsumexp(x): ∂³f/∂x_i³ = p_i(1 − p_i)(1 − 2p_i) (the third cumulant of a one-hot draw)."""
    x0 = np.array([0.3, -1.0, 2.0])
    p = np.exp(x0) / np.exp(x0).sum()
    x = tensor(x0, requires_grad=True)
    third = []
    for i in range(3):
        (g,) = rf.grad(ops.logsumexp(x), x, create_graph=True)
        (h,) = rf.grad(g[i], x, create_graph=True)
        (t,) = rf.grad(h[i], x)
        third.append(t.data[i])
    assert np.allclose(third, p * (1 - p) * (1 - 2 * p), rtol=1e-12, atol=1e-15)


# --- the engine's rules ---------------------------------------------------------------------------------
def test_grad_leaves_dot_grad_alone_and_returns_one_tensor_per_input():
    x = tensor(np.array([1.0, 2.0]), requires_grad=True)
    w = tensor(np.array([3.0, -1.0]), requires_grad=True)
    gx, gw = rf.grad((x * w).sum(), [x, w])
    assert np.array_equal(gx.data, [3.0, -1.0]) and np.array_equal(gw.data, [1.0, 2.0])
    assert x.grad is None and w.grad is None
    assert not gx.requires_grad  # no graph without create_graph


def test_no_graph_is_built_without_create_graph_and_one_is_with_it():
    x = tensor(np.array([0.5]), requires_grad=True)
    (g,) = rf.grad(ops.exp(x).sum(), x)
    assert g._ctx is None
    (g,) = rf.grad(ops.exp(x).sum(), x, create_graph=True)
    assert g.requires_grad and g._ctx is not None


def test_retain_graph_semantics_follow_pytorch():
    x = tensor(np.array([0.5, 1.5]), requires_grad=True)
    y = (ops.exp(x) * x).sum()
    rf.grad(y, x)  # frees the graph
    with pytest.raises(RuntimeError, match="already freed"):
        rf.grad(y, x)
    y = (ops.exp(x) * x).sum()
    rf.grad(y, x, retain_graph=True)
    rf.grad(y, x)  # still there once
    y = (ops.exp(x) * x).sum()
    (g,) = rf.grad(y, x, create_graph=True)  # retain_graph defaults to create_graph
    (h,) = rf.grad(g.sum(), x)
    assert np.allclose(h.data, np.exp(x.data) * (x.data + 2))  # d²/dx² x eˣ = eˣ(x + 2)


def test_grad_errors_name_the_problem():
    x = tensor(np.array([1.0, 2.0]), requires_grad=True)
    c = tensor(np.array([1.0, 2.0]))
    unused = tensor(np.array([0.0]), requires_grad=True)
    with pytest.raises(ValueError, match=r"outputs\[0\] has shape \(2,\).*grad_outputs"):
        rf.grad(x * 2, x)
    with pytest.raises(RuntimeError, match=r"inputs\[0\] does not require grad"):
        rf.grad((x * 2).sum(), c)
    with pytest.raises(RuntimeError, match=r"inputs\[1\] was not used.*allow_unused=True"):
        rf.grad((x * 2).sum(), [x, unused])
    g, none = rf.grad((x * 2).sum(), [x, unused], allow_unused=True)
    assert none is None and np.array_equal(g.data, [2.0, 2.0])
    with pytest.raises(ValueError, match=r"grad_outputs\[0\] must have shape \(2,\)"):
        rf.grad(x * 2, x, np.ones(3))


def test_grad_of_an_interior_tensor_and_with_grad_outputs():
    x = tensor(np.array([1.0, -2.0]), requires_grad=True)
    h = x * x
    y = ops.tanh(h)
    (gh,) = rf.grad(y, h, np.array([1.0, 2.0]), retain_graph=True)
    assert np.allclose(gh.data, np.array([1.0, 2.0]) * (1 - np.tanh(h.data) ** 2))
    gx, gh2 = rf.grad(y.sum(), [x, h])
    assert np.allclose(gh2.data, 1 - np.tanh(h.data) ** 2)
    assert np.allclose(gx.data, gh2.data * 2 * x.data)


def test_backward_with_create_graph_makes_dot_grad_differentiable():
    x = tensor(np.array([0.3, -0.4]), requires_grad=True)
    (x**3).sum().backward(create_graph=True)
    assert isinstance(x.grad, rf.Tensor) and x.grad.requires_grad
    assert np.allclose(x.grad.data, 3 * x.data**2)
    (gg,) = rf.grad(x.grad.sum(), x)
    assert np.allclose(gg.data, 6 * x.data)


def test_an_optimizer_steps_with_a_tensor_grad():
    w = rf.nn.Parameter(np.array([1.0, 2.0]))
    opt = rf.optim.SGD([w], lr=0.1)
    (w * w).sum().backward(create_graph=True)
    opt.step()
    assert np.allclose(w.data, [0.8, 1.6])


def test_the_vjp_ops_themselves_differentiate_twice():
    """The ops that carry conv/pool/indexing VJPs (so those can be differentiated again) pass
    gradgradcheck themselves, which exercises third derivatives of the original ops."""
    from refimpl.autograd.ops.conv import (
        AvgPool2dTranspose,
        Conv2dInputGrad,
        Conv2dWeightGrad,
        MaxPool2dScatter,
    )
    from refimpl.autograd.ops.elementwise import NormalCDF
    from refimpl.autograd.ops.shape import IndexAdd

    r = rng(11)
    geom = dict(stride=(2, 1), padding=(1, 0), dilation=(1, 2), groups=2)
    x_shape, w_shape = (2, 4, 5, 6), (6, 2, 3, 2)
    y_shape = F.conv2d(
        tensor(np.zeros(x_shape)),
        tensor(np.zeros(w_shape)),
        stride=(2, 1),
        padding=(1, 0),
        dilation=(1, 2),
        groups=2,
    ).shape
    g, w, x = r.standard_normal(y_shape), r.standard_normal(w_shape), r.standard_normal(x_shape)
    kw = dict(mode="random", n_directions=3)
    assert gradgradcheck(lambda a, b: Conv2dInputGrad.apply(a, b, x_shape=x_shape, **geom) ** 2, g, w, **kw)
    assert gradgradcheck(lambda a, b: Conv2dWeightGrad.apply(a, b, w_shape=w_shape, **geom) ** 2, g, x, **kw)
    xp = r.standard_normal((1, 2, 4, 4))
    _, argmax = rf.kernels.maxpool2d_forward(xp, (2, 2))
    assert gradgradcheck(
        lambda a: MaxPool2dScatter.apply(a, argmax=argmax, x_shape=xp.shape) ** 2,
        r.standard_normal((1, 2, 2, 2)),
    )
    geom_pool = (2, 2, (1, 1), (1, 1))
    assert gradgradcheck(
        lambda a: AvgPool2dTranspose.apply(a, x_shape=(1, 2, 3, 3), geom=geom_pool) ** 2,
        r.standard_normal((1, 2, 4, 4)),
    )
    assert gradgradcheck(
        lambda a: IndexAdd.apply(a, shape=(3, 2), index=np.array([0, 2, 0])) ** 2, r.standard_normal((3, 2))
    )
    assert gradgradcheck(NormalCDF.apply, r.standard_normal((2, 3)))


def test_the_graph_of_a_gradient_is_freed_after_use():
    from refimpl.autograd import FREED, graph_nodes

    x = tensor(np.array([0.5, -1.0]), requires_grad=True)
    (g,) = rf.grad(ops.exp(x).sum(), x, create_graph=True)
    s = (g * g).sum()
    nodes = graph_nodes(s)
    assert nodes and all(n._ctx is not FREED for n in nodes)
    (h,) = rf.grad(s, x)  # retain_graph defaults to False here: the walked nodes are released
    assert np.allclose(h.data, 2 * np.exp(2 * x.data))  # s = Σ e^{2x}, so ds/dx = 2e^{2x}
    assert all(n._ctx is FREED for n in nodes)
