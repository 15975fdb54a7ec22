"""SAF's sharpness measures (`saf/sharpness.py`) against closed forms on a quadratic L(w) = ½ (w−c)ᵀ A (w−c)."""

import numpy as np
import pytest

import refimpl
from refimpl import nn
from refimpl.nn import functional as F
from refimpl.techniques.optimizers_training_rules.saf import sharpness as B


class Quad(nn.Module):
    """forward(x) ignores x and returns w (1, n): the loss below makes L a known quadratic."""

    def __init__(self, w0):
        super().__init__()
        self.w = nn.Parameter(np.asarray(w0, dtype=np.float64).reshape(1, -1))

    def forward(self, x):
        return self.w


def quad_loss(A, c):
    A = np.asarray(A, dtype=np.float64)
    c = np.asarray(c, dtype=np.float64).reshape(1, -1)

    def loss(out, y):
        d = out - refimpl.tensor(c.astype(out.data.dtype))
        return ((d @ refimpl.tensor(A.astype(out.data.dtype))) * d).sum() * 0.5

    return loss


A = np.array([[3.0, 1.0], [1.0, 2.0]])
C = np.array([0.5, -1.0])
X = np.zeros((1, 1))


def test_flat_roundtrip_and_errors():
    m = nn.MLP([3, 4, 2], rng=0)
    w = B.get_flat(m)
    assert w.size == 3 * 4 + 4 + 4 * 2 + 2
    B.set_flat(m, w * 2)
    np.testing.assert_allclose(B.get_flat(m), 2 * w, rtol=1e-6)
    with pytest.raises(ValueError, match="vec must have shape"):
        B.set_flat(m, np.zeros(3))
    with pytest.raises(TypeError, match="params"):
        B.param_list([np.zeros(2)])


def test_loss_and_grad_restores_existing_grads():
    m = Quad([1.0, 2.0])
    m.w.grad = np.full((1, 2), 7.0)
    loss, (g,) = B.loss_and_grad(m, quad_loss(A, C), X, None)
    d = np.array([1.0, 2.0]) - C
    assert np.isclose(loss, 0.5 * d @ A @ d)
    np.testing.assert_allclose(g.ravel(), A @ d, rtol=1e-12)
    np.testing.assert_array_equal(m.w.grad, np.full((1, 2), 7.0))


def test_hvp_and_top_eigenvalue_match_the_hessian():
    m = Quad([1.0, 2.0])
    v = np.array([0.3, -2.0])
    hv = B.hessian_vector_product(m, quad_loss(A, C), X, None, v)
    np.testing.assert_allclose(hv, A @ v, rtol=1e-7, atol=1e-8)
    lam = B.top_hessian_eigenvalue(m, quad_loss(A, C), X, None, iters=100, tol=1e-12)
    assert np.isclose(lam, np.linalg.eigvalsh(A).max(), rtol=1e-6)  # (5 + √5)/2
    np.testing.assert_allclose(B.get_flat(m), [1.0, 2.0])  # weights untouched


def _fd_hessian(model, loss_fn, x, y, h=1e-5):
    """The dense Hessian by central differences of the analytic gradient (an independent oracle)."""
    w0 = B.get_flat(model)
    cols = []
    for e in np.eye(w0.size):
        B.set_flat(model, w0 + h * e)
        gp = np.concatenate([g.ravel() for g in B.loss_and_grad(model, loss_fn, x, y)[1]])
        B.set_flat(model, w0 - h * e)
        gm = np.concatenate([g.ravel() for g in B.loss_and_grad(model, loss_fn, x, y)[1]])
        cols.append((gp - gm) / (2 * h))
    B.set_flat(model, w0)
    H = np.stack(cols, 1)
    return 0.5 * (H + H.T)


def test_exact_hvp_and_top_eigenvalue_on_cross_entropy_match_the_finite_difference_hessian():
    """A 3→2 linear softmax model: the dense Hessian by finite differences of the gradient is the oracle
    for the exact Hessian–vector products and for the power iteration."""
    rng = np.random.default_rng(0)
    lin = nn.Linear(3, 2, dtype=np.float64, rng=1)
    x = rng.normal(size=(20, 3))
    y = rng.integers(0, 2, 20)
    H = _fd_hessian(lin, F.cross_entropy, x, y)
    v = rng.normal(size=H.shape[0])
    np.testing.assert_allclose(
        B.hessian_vector_product(lin, F.cross_entropy, x, y, v), H @ v, rtol=1e-6, atol=1e-8
    )
    lam = B.top_hessian_eigenvalue(lin, F.cross_entropy, x, y, iters=300, tol=1e-12)
    assert np.isclose(lam, np.linalg.eigvalsh(H).max(), rtol=1e-6)


def test_random_sharpness_at_minimum_is_quadratic_form():
    m = Quad(C)  # at the minimum: rise = ½ ρ² dᵀ A d for unit d
    rho = 0.1
    r = B.random_sharpness(m, quad_loss(A, C), X, None, rho, n_directions=2000, seed=1)
    eig = np.linalg.eigvalsh(A)
    assert 0.5 * rho**2 * eig.min() - 1e-12 <= r["mean"] <= r["max"] <= 0.5 * rho**2 * eig.max() + 1e-12
    assert np.isclose(r["mean"], 0.5 * rho**2 * np.trace(A) / 2, rtol=0.05)  # E[dᵀAd] = tr A / n


def test_adversarial_sharpness_matches_brute_force_on_the_circle():
    w0 = np.array([1.0, 0.0])
    m = Quad(w0)
    rho = 0.3
    got = B.adversarial_sharpness(m, quad_loss(A, C), X, None, rho, steps=30)
    th = np.linspace(0, 2 * np.pi, 20001)
    eps = rho * np.stack([np.cos(th), np.sin(th)], 1)
    d = w0 + eps - C
    rises = 0.5 * np.einsum("ij,jk,ik->i", d, A, d) - 0.5 * (w0 - C) @ A @ (w0 - C)
    assert got <= rises.max() + 1e-6  # never beyond the ball (grid resolution ~1e-8)
    assert got >= rises.max() - 1e-4  # and close to the true max
    sam_only = B.adversarial_sharpness(m, quad_loss(A, C), X, None, rho, steps=1)
    assert sam_only <= got + 1e-12


def test_sharpness_bad_arguments():
    m = Quad(C)
    with pytest.raises(ValueError, match="rho"):
        B.random_sharpness(m, quad_loss(A, C), X, None, -1.0)
    with pytest.raises(ValueError, match="iters"):
        B.top_hessian_eigenvalue(m, quad_loss(A, C), X, None, iters=0)
    with pytest.raises(ValueError, match="v must be"):
        B.hessian_vector_product(m, quad_loss(A, C), X, None, np.zeros(5))
    out = B.sharpness(m, quad_loss(A, C), X, None, rho=0.1, n_directions=3, hessian_iters=50)
    assert set(out) == {"random_mean", "random_max", "adversarial", "hessian_top"}


def test_top_eigenvalue_with_a_dominant_negative_eigenvalue_uses_the_shift():
    """eig(A) = {−5, 1}: plain power iteration finds −5; the shift trick must return the top one, 1."""
    An = np.array([[-5.0, 0.0], [0.0, 1.0]])
    R = np.array([[np.cos(0.3), -np.sin(0.3)], [np.sin(0.3), np.cos(0.3)]])
    An = R @ An @ R.T
    m = Quad([0.2, 0.1])
    lam = B.top_hessian_eigenvalue(m, quad_loss(An, C), X, None, iters=300, tol=1e-12)
    assert np.isclose(lam, 1.0, rtol=1e-5)


def test_exact_hvp_is_not_fooled_by_a_kink_nearby():
    """L = ½(w−c)ᵀA(w−c) + relu(w₁ − 1 − 3e-7): at w₁ = 1 the kink is 3e-7 away.  A central difference
    of gradients with h = 1e-6 crosses it and adds 1/(2h)-sized garbage; the exact product is A v."""
    w0 = np.array([1.0, 2.0])
    base = quad_loss(A, C)

    def loss(out, y):
        kink = (out[:, 0:1] - (1.0 + 3e-7)).relu().sum()
        return base(out, y) + kink

    m = Quad(w0)
    v = np.array([1.0, 0.0])
    np.testing.assert_allclose(B.hessian_vector_product(m, loss, X, None, v), A @ v, rtol=1e-12)
    h = 1e-6
    B.set_flat(m, w0 + h * v)
    gp = B.loss_and_grad(m, loss, X, None)[1][0].ravel()
    B.set_flat(m, w0 - h * v)
    gm = B.loss_and_grad(m, loss, X, None)[1][0].ravel()
    assert np.abs((gp - gm) / (2 * h) - A @ v).max() > 1e4  # what the exact product avoids
