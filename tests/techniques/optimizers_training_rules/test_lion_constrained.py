"""Lion / Lion-𝒦: hand steps, the box invariance, the Lyapunov function on the ODE, the demo claim."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from refimpl.nn import Parameter
from refimpl.techniques.optimizers_training_rules import lion_constrained as L


@pytest.mark.parametrize("case", L.reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


def test_optimizer_matches_pure_step_over_many_steps():
    rng = np.random.default_rng(0)
    for K in ("l1", "l2", "quadratic"):
        x, m = rng.normal(size=5), np.zeros(5)
        p = Parameter(x.copy())
        opt = L.LionK([p], lr=0.03, betas=(0.8, 0.95), weight_decay=0.2, K=K)
        for _ in range(6):
            g = rng.normal(size=5)
            p.grad = g
            opt.step()
            x, m = L.lion_step(x, m, g, 0.03, (0.8, 0.95), 0.2, K)
        np.testing.assert_allclose(p.data, x, rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(opt.state[p]["exp_avg"], m, rtol=1e-13, atol=1e-15)


@settings(deadline=None, max_examples=25)
@given(st.integers(0, 10_000), st.floats(0.05, 2.0), st.floats(1e-3, 0.2))
def test_box_is_invariant_for_lion(seed, lam, lr):
    """Once ‖x‖∞ ≤ 1/λ it stays there whatever the gradients: |x(1−ηλ) ∓ η| ≤ 1/λ (needs ηλ ≤ 1)."""
    rng = np.random.default_rng(seed)
    p = Parameter(rng.uniform(-1, 1, size=7) / lam)
    opt = L.Lion([p], lr=lr, weight_decay=lam)
    for _ in range(20):
        p.grad = rng.normal(size=7) * 10 ** rng.uniform(-3, 3)
        opt.step()
        assert np.abs(p.data).max() <= 1 / lam + 1e-12


def test_l2_ball_is_invariant_for_lion_k_l2():
    rng = np.random.default_rng(1)
    lam, lr = 0.5, 0.05
    p = Parameter(rng.normal(size=4))
    p.data *= 1.5 / np.linalg.norm(p.data)  # inside the ball of radius 2
    opt = L.LionK([p], lr=lr, weight_decay=lam, K="l2")
    for _ in range(50):
        p.grad = rng.normal(size=4)
        opt.step()
        assert np.linalg.norm(p.data) <= 1 / lam + 1e-12


def _ode_H_values(H_fn, K, gradK, Kstar, lam=0.5, eps=0.3, alpha=1.0, gamma=1.0, T=15.0, dt=2e-3):
    A = np.array([[2.0, 0.5], [0.5, 1.0]])
    xs = np.array([3.0, -0.5])
    f = lambda x: 0.5 * (x - xs) @ A @ (x - xs)  # noqa: E731
    gf = lambda x: A @ (x - xs)  # noqa: E731

    def F(s):
        x, m = s[:2], s[2:]
        mt = m - eps * (alpha * gf(x) + gamma * m)
        return np.r_[gradK(mt) - lam * x, -alpha * gf(x) - gamma * m]

    s = np.zeros(4)
    out = [H_fn(s[:2], s[2:], f(s[:2]), lam, alpha, gamma, eps)]
    for _ in range(int(T / dt)):  # RK4
        k1 = F(s)
        k2 = F(s + dt / 2 * k1)
        k3 = F(s + dt / 2 * k2)
        k4 = F(s + dt * k3)
        s = s + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        out.append(H_fn(s[:2], s[2:], f(s[:2]), lam, alpha, gamma, eps))
    return np.array(out)


def test_lyapunov_decreases_along_the_ode_quadratic_K():
    H = _ode_H_values(
        lambda x, m, fv, lam, a, g, e: L.lyapunov(x, m, fv, lam, a, g, e, "quadratic"),
        None,
        lambda m: m,
        None,
    )
    assert np.all(np.diff(H) <= 1e-10), f"H rose by {np.diff(H).max():.3g}"
    assert H[-1] < H[0] - 1.0


def test_lyapunov_decreases_along_the_ode_smoothed_l2_K():
    """𝒦(m) = √(‖m‖² + δ) (a smoothed ℓ₂ norm, so the ODE is smooth); 𝒦*(y) = −√δ √(1 − ‖y‖²) on the
    unit ball.  H is built with the same formula as `lyapunov`, written out here for this 𝒦."""
    d = 0.01
    K = lambda m: np.sqrt(m @ m + d)  # noqa: E731
    Ks = lambda y: -np.sqrt(d) * np.sqrt(max(1 - y @ y, 0.0))  # noqa: E731

    def H(x, m, fv, lam, a, g, e):
        ks = Ks(lam * x)
        return a * fv + g / lam * ks + (1 - e * lam) / (1 + e * lam) * (ks + K(m) - lam * m @ x)

    vals = _ode_H_values(H, K, lambda m: m / np.sqrt(m @ m + d), Ks)
    assert np.all(np.diff(vals) <= 1e-9), f"H rose by {np.diff(vals).max():.3g}"


def test_a_wrong_lyapunov_function_fails_the_same_check():
    """Dropping the (γ/λ)𝒦*(λx) term breaks monotonicity: the check above can fail."""

    def H_wrong(x, m, fv, lam, a, g, e):
        return L.lyapunov(x, m, fv, lam, a, g, e, "quadratic") - g / lam * L.K_conjugate(lam * x, "quadratic")

    H = _ode_H_values(H_wrong, None, lambda m: m, None)
    assert np.diff(H).max() > 1e-6


def test_ode_constants_reproduce_the_discrete_update():
    """x + η(∇𝒦(m̃ − ε(α g + γ m̃)) − λx) with the mapped constants equals Lion's step (m̃ = −m)."""
    rng = np.random.default_rng(4)
    x, m, g = rng.normal(size=3), rng.normal(size=3), rng.normal(size=3)
    lr, betas, lam = 0.02, (0.9, 0.99), 0.3
    c = L.ode_constants(lr, betas)
    mt = -m
    x_ode = x + lr * (L.grad_K(mt - c["eps"] * (c["alpha"] * g + c["gamma"] * mt), "l1") - lam * x)
    m_ode = mt + lr * (-c["alpha"] * g - c["gamma"] * mt)
    x_new, m_new = L.lion_step(x, m, g, lr, betas, lam, "l1")
    np.testing.assert_allclose(x_new, x_ode, rtol=1e-12)
    np.testing.assert_allclose(-m_new, m_ode, rtol=1e-12)


def test_lyapunov_is_inf_outside_the_box_and_errors():
    assert L.lyapunov([3.0, 0.0], [0.0, 0.0], 0.0, 0.5, 1.0, 1.0, 0.1, "l1") == np.inf
    with pytest.raises(ValueError, match="lam"):
        L.lyapunov([0.0], [0.0], 0.0, 0.0, 1.0, 1.0, 0.1)
    with pytest.raises(ValueError, match="K must be one of"):
        L.LionK([Parameter(np.zeros(2))], lr=0.1, K="l3")
    with pytest.raises(ValueError, match="lr"):
        L.Lion([Parameter(np.zeros(2))], lr=-1.0)
    with pytest.raises(TypeError, match="betas"):
        L.Lion([Parameter(np.zeros(2))], lr=0.1, betas=0.9)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_demo_claim_holds_over_seeds(seed, demo_result):
    r = demo_result("lion-constrained", seed)
    m = r["metrics"]
    assert r["claim"]["holds"], r["table"]
    assert m["lion_box_error"] < 0.01 and m["lion_l2_ball_error"] < 0.01
    assert m["lion_quadratic_error"] < 1e-4
    assert m["mlp_lion_lambda_max_abs_w"] <= 1.0
    assert m["lyapunov_max_excess"] <= 0.01 * m["lyapunov_total_drop"]
