"""`refimpl.func`: every transform against closed forms, brute-force finite differences or a loop of
ordinary backward passes."""

import numpy as np
import pytest

import refimpl as rf
from refimpl import func, nn
from refimpl.autograd import ops
from refimpl.nn import functional as F


def cubic_tanh(x):
    return ops.sum(ops.tanh(x) ** 3)


def _fd_jacobian(f, x, eps=1e-6):
    """Central differences, column by column (an independent computation)."""
    out0 = f(rf.Tensor(x)).data
    jac = np.zeros(out0.shape + x.shape)
    for j in np.ndindex(*x.shape):
        xp, xm = x.copy(), x.copy()
        xp[j] += eps
        xm[j] -= eps
        jac[(...,) + j] = (f(rf.Tensor(xp)).data - f(rf.Tensor(xm)).data) / (2 * eps)
    return jac


X = np.array([0.2, -0.5, 1.0])


def test_grad_and_value_and_grad_match_the_closed_form():
    t = np.tanh(X)
    want = 3 * t**2 * (1 - t**2)
    assert np.allclose(func.grad(cubic_tanh)(X).data, want, rtol=1e-12)
    value, g = func.value_and_grad(cubic_tanh)(X)
    assert value.data == pytest.approx(np.sum(t**3), rel=1e-12) and not value.requires_grad
    assert np.allclose(g.data, want, rtol=1e-12)


def test_nested_grad_is_the_second_derivative():
    f = lambda x: ops.sum(ops.exp(x * 2.0))  # noqa: E731  f'' = 4 e^{2x}
    assert func.grad(func.grad(f))(np.array(0.3)).data == pytest.approx(4 * np.exp(0.6), rel=1e-12)
    f3 = func.grad(func.grad(func.grad(f)))
    assert f3(np.array(0.3)).data == pytest.approx(8 * np.exp(0.6), rel=1e-12)


def test_grad_over_several_arguments_and_a_dict():
    def f(w, b, x):
        return ops.sum(ops.tanh(x @ w["a"] + b))

    w = {"a": np.array([[0.5, -1.0], [2.0, 0.1]])}
    b, x = np.array([0.1, -0.2]), np.array([[1.0, 2.0]])
    gw, gb = func.grad(f, argnums=(0, 1))(w, b, x)
    h = x @ w["a"] + b
    d = 1 - np.tanh(h) ** 2
    assert np.allclose(gw["a"].data, x.T @ d) and np.allclose(gb.data, d[0])


@pytest.mark.parametrize("mode", ["reverse", "forward"])
def test_jacobian_matches_finite_differences(mode):
    A = np.array([[1.0, 2.0, -1.0], [0.5, 0.0, 3.0]])
    f = lambda x: ops.tanh(ops.matmul(A, x)) * x[0]  # noqa: E731
    assert np.allclose(func.jacobian(f, X, mode=mode).data, _fd_jacobian(f, X), atol=1e-8)


def test_hessian_and_hvp_match_finite_differences_of_the_gradient():
    g = lambda x: func.grad(cubic_tanh)(x)  # noqa: E731
    H = _fd_jacobian(g, X)
    assert np.allclose(func.hessian(cubic_tanh, X).data, H, atol=1e-7)
    v = np.array([0.3, -1.0, 2.0])
    grad_x, hv = func.hvp(cubic_tanh, X, v)
    assert np.allclose(hv.data, H @ v, atol=1e-7)
    assert np.allclose(grad_x.data, g(X).data)


def test_jvp_and_vjp_are_transposes():
    A = np.array([[1.0, 2.0, -1.0], [0.5, 0.0, 3.0]])
    f = lambda x: ops.tanh(ops.matmul(A, x))  # noqa: E731
    J = _fd_jacobian(f, X)
    t, u = np.array([1.0, -2.0, 0.5]), np.array([0.7, -0.3])
    out, jv = func.jvp(f, (X,), (t,))
    assert np.allclose(jv.data, J @ t, atol=1e-8)
    out2, pullback = func.vjp(f, X)
    (vj,) = pullback(u)
    assert np.allclose(vj.data, u @ J, atol=1e-8)
    (vj_again,) = pullback(u)  # the graph is retained
    assert np.array_equal(vj.data, vj_again.data)
    assert np.array_equal(out.data, out2.data)


def test_per_example_gradients_with_vmap_and_functional_call_equal_a_loop_of_backward_passes():
    rng = np.random.default_rng(0)
    model = nn.Linear(3, 2, rng=rng, dtype=np.float64)
    x, y = rng.standard_normal((5, 3)), np.array([0, 1, 1, 0, 1])
    params = {k: p.data for k, p in model.named_parameters()}

    def loss(p, xi, yi):
        out = nn.functional_call(model, p, rf.Tensor(xi[None]))
        return F.cross_entropy(out, np.array([yi]))

    per = func.vmap(func.grad(loss), in_dims=(None, 0, 0))(params, x, y)
    for i in range(5):
        model.zero_grad()
        F.cross_entropy(model(rf.Tensor(x[i : i + 1])), y[i : i + 1]).backward()
        for k, p in model.named_parameters():
            assert np.allclose(per[k].data[i], p.grad, rtol=1e-12), (k, i)


def test_transforms_reject_bad_input_clearly():
    with pytest.raises(ValueError, match="one element"):
        func.grad(lambda x: x * 2)(X)
    with pytest.raises(TypeError, match="floating-point"):
        func.grad(cubic_tanh)(np.array([1, 2]))
    with pytest.raises(ValueError, match="argnums 3"):
        func.grad(cubic_tanh, argnums=3)(X)
    with pytest.raises(ValueError, match="tangents"):
        func.jvp(cubic_tanh, (X,), ())
    with pytest.raises(ValueError, match="mode"):
        func.jacobian(cubic_tanh, X, mode="sideways")
    with pytest.raises(ValueError, match="one length"):
        func.vmap(lambda a, b: a)(np.zeros(3), np.zeros(4))
