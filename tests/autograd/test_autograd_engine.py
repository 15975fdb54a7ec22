"""The autograd engine: graph building, accumulation, grad modes, graph freeing, dtypes, custom Functions.

Expected gradients are hand derivations (d(4a)/da = 4, d(c^n x)/dx = c^n, ...), never read back from
the engine.  Ops are only used as building blocks here; their own derivatives are checked in
test_autograd_ops.py and test_autograd_functional.py.
"""

import gc
import sys
import weakref

import numpy as np
import pytest

import refimpl
import refimpl.nn.functional as F
from refimpl import Function, enable_grad, is_grad_enabled, no_grad, straight_through, tensor
from refimpl.autograd import ops, unbroadcast


def leaf(a, dtype=np.float64):
    return tensor(np.asarray(a, dtype=dtype), requires_grad=True)


# --- graph structure -----------------------------------------------------------------------------
def test_reused_node_gives_four():
    a = leaf(1.5)
    b = a + a
    c = b + b
    c.backward()
    assert c.item() == 6.0
    assert a.grad == 4.0


def test_same_tensor_in_both_operands_of_mul():
    x = leaf([0.5, -2.0, 3.0])
    (x * x).sum().backward()  # d(x²)/dx = 2x
    np.testing.assert_array_equal(x.grad, [1.0, -4.0, 6.0])


def test_diamond_graph_sums_both_paths():
    x = leaf([1.0, 2.0])
    y = x * 3.0
    z = y * y + y  # z = 9x² + 3x  ->  dz/dx = 18x + 3
    z.sum().backward()
    np.testing.assert_allclose(x.grad, 18 * np.array([1.0, 2.0]) + 3)


def test_constant_operands_get_no_gradient():
    x = leaf([1.0, 2.0])
    c = tensor(np.array([3.0, 4.0]))  # requires_grad=False
    (x * c + np.array([1.0, 1.0])).sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0, 4.0])
    assert c.grad is None


def test_results_of_untracked_inputs_do_not_require_grad():
    c = tensor(np.array([1.0, 2.0]))
    y = ops.exp(c) * 2.0
    assert not y.requires_grad and y.is_leaf
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.sum().backward()


# --- accumulation and freeing -----------------------------------------------------------------
def test_gradients_accumulate_across_backward_calls():
    x = leaf([1.0, -1.0])
    (x * 2.0).sum().backward()
    (x * x).sum().backward()  # adds 2x
    np.testing.assert_array_equal(x.grad, [2.0 + 2.0, 2.0 - 2.0])
    x.zero_grad()
    assert x.grad is None
    (x * 5.0).sum().backward()
    np.testing.assert_array_equal(x.grad, [5.0, 5.0])


def test_second_backward_through_freed_graph_raises():
    x = leaf([1.0, 2.0])
    loss = (ops.exp(x) * x).sum()
    loss.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        loss.backward()


def test_retain_graph_allows_a_second_backward_and_accumulates():
    x = leaf([0.3, -0.7])
    loss = (ops.exp(x) * x).sum()  # d/dx = eˣ (1 + x)
    loss.backward(retain_graph=True)
    loss.backward()
    np.testing.assert_allclose(x.grad, 2 * np.exp(x.data) * (1 + x.data))
    with pytest.raises(RuntimeError, match="freed"):
        loss.backward()


def test_saved_buffers_are_released_after_backward():
    x = leaf(np.ones(1000))
    h = ops.exp(x)
    node = weakref.ref(h._ctx)  # the Exp node, which holds eˣ for its backward
    loss = (h * 2.0).sum()
    loss.backward()
    gc.collect()
    assert node() is None, "the Exp node (and its saved eˣ) is still alive after backward()"
    assert h.data is not None  # the forward value itself stays usable


def test_interior_tensors_keep_grad_none():
    x = leaf([1.0, 2.0])
    h = x * 2.0
    y = ops.tanh(h)
    y.sum().backward()
    assert h.grad is None and y.grad is None
    assert x.grad is not None


def test_leaf_grads_never_share_memory():
    a, b = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    (a + b).sum().backward()  # both receive the same upstream array
    assert not np.shares_memory(a.grad, b.grad)
    a.grad *= 10
    np.testing.assert_array_equal(b.grad, [1.0, 1.0])


def test_leaf_grad_does_not_alias_the_callers_upstream_gradient():
    x = leaf([1.0, 2.0])
    y = x + 0.0
    v = np.array([1.0, 1.0])
    y.backward(v)
    v[:] = 7.0  # the caller reuses its buffer
    np.testing.assert_array_equal(x.grad, [1.0, 1.0])


def test_backward_on_a_leaf_copies_the_given_gradient():
    x = leaf([1.0, 2.0])
    v = np.array([1.0, 1.0])
    x.backward(v)
    v[:] = 7.0
    np.testing.assert_array_equal(x.grad, [1.0, 1.0])


def test_a_leaf_and_an_interior_node_fed_by_one_array_stay_independent():
    a = leaf([1.0, 2.0])
    y = a + a * 3.0  # Add hands the same upstream array to the leaf and to the Mul node
    y.backward(np.array([1.0, 10.0]))
    np.testing.assert_array_equal(a.grad, [4.0, 40.0])


def test_deep_chain_has_no_recursion_error():
    n = 10_000
    assert n > sys.getrecursionlimit()
    x = leaf(1.0)
    y = x
    for _ in range(n):
        y = y * 1.0001 + 0.0
    y.backward()
    np.testing.assert_allclose(x.grad, 1.0001**n, rtol=1e-10)
    # a deep graph that is never differentiated must also be collectable
    z = x
    for _ in range(n):
        z = z + 1.0
    del z
    gc.collect()


def test_backward_with_explicit_gradient():
    x = leaf([1.0, 2.0, 3.0])
    y = x * np.array([2.0, 3.0, 4.0])
    y.backward(np.array([1.0, 10.0, 100.0]))
    np.testing.assert_array_equal(x.grad, [2.0, 30.0, 400.0])
    x2 = leaf([1.0, 2.0])
    (x2 * 3.0).backward(tensor(np.array([1.0, -1.0])))
    np.testing.assert_array_equal(x2.grad, [3.0, -3.0])


def test_backward_on_a_leaf():
    x = leaf([1.0, 2.0])
    x.backward(np.array([5.0, 6.0]))
    np.testing.assert_array_equal(x.grad, [5.0, 6.0])


# --- grad modes --------------------------------------------------------------------------------
def test_no_grad_records_no_graph():
    x = leaf([1.0, 2.0])
    with no_grad():
        assert not is_grad_enabled()
        y = ops.exp(x) * 2.0
    assert is_grad_enabled()
    assert not y.requires_grad and y._ctx is None
    np.testing.assert_allclose(y.data, 2 * np.exp([1.0, 2.0]))


def test_no_grad_as_decorator_and_restored_after_exception():
    @no_grad()
    def f(t):
        return t * 2.0

    x = leaf([1.0])
    assert not f(x).requires_grad
    with pytest.raises(KeyError):
        with no_grad():
            raise KeyError("boom")
    assert is_grad_enabled()


def test_enable_grad_inside_no_grad():
    x = leaf([1.0, 2.0])
    with no_grad():
        with enable_grad():
            y = (x * x).sum()
        z = x * 3.0
    assert y.requires_grad and not z.requires_grad
    y.backward()
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])


def test_detach_cuts_the_graph():
    x = leaf([1.0, 2.0])
    y = (x * 2.0).detach()
    assert not y.requires_grad
    z = (x * y).sum()  # y is a constant now: dz/dx = y = 2x
    z.backward()
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])


# --- custom Functions (the contract in refimpl/autograd/function.py) ---------------------------
class ScaledAdd(Function):
    """z = x + s·y with a keyword s (not differentiated);  x̄ = z̄, ȳ = s z̄ (returned in z's shape)"""

    def forward(ctx, x, y, *, s):
        ctx.s = s
        ctx.seen = getattr(ctx, "needs_input_grad", None)  # see the xfail test below
        return x + s * y

    def backward(ctx, g):
        return g, (ctx.s * g if ctx.needs_input_grad[1] else None)


def test_custom_function_gets_grads_reduced_to_input_shapes():
    x = leaf(np.ones((2, 3)))
    y = leaf(np.ones((1, 3)))
    z = ScaledAdd.apply(x, y, s=3.0)
    assert z._ctx.seen == (True, True)
    v = np.arange(6.0).reshape(2, 3)
    z.backward(v)
    np.testing.assert_array_equal(x.grad, v)
    np.testing.assert_array_equal(y.grad, 3.0 * v.sum(axis=0, keepdims=True))


def test_custom_function_needs_input_grad_and_none_gradients():
    x = leaf(np.ones(3))
    y = tensor(np.ones(3))  # no gradient wanted
    z = ScaledAdd.apply(x, y, s=2.0)
    assert z._ctx.seen == (True, False)
    z.sum().backward()
    np.testing.assert_array_equal(x.grad, np.ones(3))
    assert y.grad is None


def test_custom_function_passes_refimpl_gradcheck():
    rng = np.random.default_rng(0)
    assert refimpl.gradcheck(
        lambda a, b: ScaledAdd.apply(a, b, s=-1.5), rng.standard_normal((2, 3)), rng.standard_normal((3,))
    )


def test_needs_input_grad_is_readable_in_forward_under_no_grad():
    # a custom op that decides in forward what to save for backward must also run in eval / no_grad
    x = leaf(np.ones(3))
    with no_grad():
        z = ScaledAdd.apply(x, x, s=1.0)
    assert z._ctx is None
    out = {}

    class Probe(Function):
        def forward(ctx, a):
            out["needs"] = ctx.needs_input_grad
            return a

        def backward(ctx, g):
            return (g,)

    with no_grad():
        Probe.apply(x)
    assert out["needs"] == (False,)


@pytest.mark.parametrize(
    "gshape, shape",
    [
        ((2, 3), (2, 3)),
        ((2, 3), (3,)),
        ((2, 3), (1, 3)),
        ((2, 3), (2, 1)),
        ((4, 2, 3), ()),
        ((4, 2, 3), (1, 1)),
        ((5, 1, 3), (1, 1, 3)),
        ((2, 3), (1,)),
    ],
)
def test_unbroadcast_sums_the_broadcast_axes(gshape, shape):
    g = np.random.default_rng(1).standard_normal(gshape)
    got = unbroadcast(g, shape)
    # independent: the adjoint of np.broadcast_to, via ⟨broadcast_to(u), g⟩ = ⟨u, unbroadcast(g)⟩ per unit u
    want = np.zeros(shape)
    for idx in np.ndindex(*shape) if shape else [()]:
        e = np.zeros(shape)
        e[idx] = 1.0
        want[idx] = np.sum(np.broadcast_to(e, gshape) * g)
    assert got.shape == shape
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


# --- dtypes ---------------------------------------------------------------------------------------
def test_tensor_constructor_dtype_rules():
    assert tensor(1.5).dtype == np.float32
    assert tensor([1.0, 2.0]).dtype == np.float32
    assert tensor(np.array([1.0])).dtype == np.float64
    assert tensor(np.array([1.0], dtype=np.float32)).dtype == np.float32
    assert tensor([1, 2]).dtype.kind == "i"
    assert tensor([1.0], dtype=np.float64).dtype == np.float64


def test_tensor_keeps_the_dtype_of_a_numpy_scalar():
    assert tensor(np.float64(1.5)).dtype == np.float64  # as torch.tensor(np.float64(1.5))


def _network(x, p, dtype):
    """One pass through a little of everything; returns the scalar loss and every intermediate."""
    outs = []

    def k(t):
        outs.append(t)
        return t

    img = k(ops.reshape(x, (2, 1, 4, 4)))
    h = k(F.conv2d(img, p["conv"], p["cb"], padding=1))
    h = k(F.max_pool2d(F.relu(h), 2))
    h = k(F.avg_pool2d(h, 2, stride=1, padding=1))
    h = k(ops.reshape(h, (2, -1)))
    h = k(F.linear(h, p["w"], p["b"]))
    h = k(F.layer_norm(h, (3,), p["g"], p["beta"]))
    h = k(F.gelu(h) + F.silu(h) * 0.5 + F.softplus(h) - F.sigmoid(h) / 3 + ops.tanh(h) ** 2)
    h = k(2.0 * h - 1 + ops.clip(h, -1.0, 1.0) + ops.maximum(h, 0.25) + ops.where(h.data > 0, h, 0.0))
    h = k(F.rms_norm(h, 3) + ops.sqrt(ops.abs(h) + 1e-3) + ops.log(ops.exp(h * 0.1) + 1))
    loss = k(F.cross_entropy(h, np.array([0, 2]), label_smoothing=0.1))
    loss = k(loss + ops.var(h) + ops.logsumexp(h, axis=1).mean() + F.mse_loss(h, np.zeros((2, 3), dtype)))
    loss = k(loss + F.binary_cross_entropy_with_logits(h, np.ones((2, 3), dtype)) + ops.max(h) / 4)
    return loss, outs


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_preserved_end_to_end(dtype):
    rng = np.random.default_rng(0)
    shapes = {"conv": (2, 1, 3, 3), "cb": (2,), "w": (3, 18), "b": (3,), "g": (3,), "beta": (3,)}
    p = {k: leaf(rng.standard_normal(s), dtype) for k, s in shapes.items()}
    x = leaf(rng.standard_normal(32), dtype)
    loss, outs = _network(x, p, dtype)
    for i, t in enumerate(outs):
        assert t.dtype == dtype, f"intermediate {i} has dtype {t.dtype}, expected {np.dtype(dtype)}"
    loss.backward()
    for name, t in list(p.items()) + [("x", x)]:
        assert t.grad is not None and t.grad.dtype == dtype, (
            f"{name}.grad dtype {getattr(t.grad, 'dtype', None)}"
        )
        assert np.isfinite(t.grad).all()


@pytest.mark.parametrize(
    "expr",
    [
        lambda x: x * 2.0,
        lambda x: 2.0 * x,
        lambda x: x + 1,
        lambda x: 1 - x,
        lambda x: x / 3.0,
        lambda x: 3.0 / x,
        lambda x: x**2,
        lambda x: 2.0**x,
        lambda x: ops.maximum(x, 0.5),
        lambda x: ops.where(x.data > 1, x, 0.0),
        lambda x: ops.clip(x, -1.0, 1.0),
        lambda x: F.leaky_relu(x, 0.1),
        lambda x: x * np.float64(2.0),
    ],
)
def test_python_scalars_do_not_upcast_float32(expr):
    x = leaf([0.5, 1.5], np.float32)
    y = expr(x)
    assert y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float32


# --- straight-through estimator ------------------------------------------------------------------
def test_straight_through_forward_value_identity_gradient():
    x = leaf([0.26, -1.4, 2.6])
    q = straight_through(x, np.round(x.data))
    np.testing.assert_array_equal(q.data, [0.0, -1.0, 3.0])
    v = np.array([1.0, 2.0, 3.0])
    (q * v).sum().backward()
    np.testing.assert_array_equal(x.grad, v)


def test_straight_through_clipped_gradient():
    x = leaf([0.5, -1.4, 2.6, -0.2])
    inside = np.abs(x.data) <= 1.0
    q = straight_through(x, np.clip(np.round(x.data), -1, 1), pass_mask=inside)
    np.testing.assert_array_equal(q.data, [0.0, -1.0, 1.0, -0.0])
    (q * np.array([1.0, 2.0, 3.0, 4.0])).sum().backward()
    np.testing.assert_array_equal(x.grad, [1.0, 0.0, 0.0, 4.0])


def test_straight_through_keeps_dtype_and_checks_shape():
    x = leaf([0.3, 0.7], np.float32)
    assert straight_through(x, np.round(x.data.astype(np.float64))).dtype == np.float32
    with pytest.raises(ValueError, match=r"`value`.*\(2,\).*\(3,\)"):
        straight_through(x, np.zeros(3))


def test_python_scalar_constants_are_cached_but_keep_their_values():
    """`x * 0.5` in a loop reuses one read-only 0-d array for 0.5 (refimpl.autograd.function._constant);
    signed zeros, NaN, huge ints and unhashable constants are made afresh and keep their meaning."""
    from refimpl.autograd.function import _constant

    f32 = np.dtype(np.float32)
    half = _constant(0.5, f32)
    assert half is _constant(0.5, f32) and not half.flags.writeable and half.dtype == f32
    assert _constant(0.5, np.dtype(np.float64)).dtype == np.float64  # the dtype is part of the key
    assert _constant(1, f32) is not _constant(1.0, f32)  # and so is the Python type
    assert np.signbit(_constant(-0.0, f32)) and not np.signbit(_constant(0.0, f32))
    assert np.isnan(_constant(float("nan"), f32))
    assert _constant(10**400, None).dtype == object  # too large to cache or to convert
    np.testing.assert_array_equal(_constant([1.0, 2.0], f32), [1.0, 2.0])  # unhashable: not cached
    x = refimpl.tensor(np.array([1.0, -2.0], np.float32), requires_grad=True)
    y = x * -0.0 + x * 0.5
    np.testing.assert_array_equal(np.signbit((x * -0.0).data), [True, False])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [0.5, 0.5])
