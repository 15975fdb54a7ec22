"""Lion / Lion-𝒦: hand steps, the box's contraction and invariance, the Lyapunov function on the ODE (with a
wrong-function control), the independent references, the quick run's code path, and the paper's claims on
the recorded full result."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from refimpl.experiments import freshness, recorded
from refimpl.nn import Parameter
from refimpl.techniques.optimizers_training_rules import lion_constrained as L
from refimpl.techniques.optimizers_training_rules.lion_constrained import experiment as E
from refimpl.techniques.optimizers_training_rules.lion_constrained.cases import reference_cases

SLUG = "lion-constrained"


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
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


@settings(deadline=None, max_examples=25)
@given(st.integers(0, 10_000), st.floats(0.1, 5.0), st.floats(1e-3, 0.1))
def test_box_excess_contracts_by_one_minus_lr_lambda_outside_the_box(seed, lam, lr):
    """The derivation in the docstring: λ‖x'‖∞ − 1 ≤ (1 − ηλ)(λ‖x‖∞ − 1) for any gradients (ηλ ≤ 1)."""
    rng = np.random.default_rng(seed)
    lr = min(lr, 1 / lam)
    p = Parameter(rng.uniform(-5, 5, size=6) / lam)
    opt = L.Lion([p], lr=lr, weight_decay=lam)
    for _ in range(15):
        before = L.box_excess([p], lam)
        p.grad = rng.normal(size=6) * 10 ** rng.uniform(-3, 3)
        opt.step()
        if before > 0:
            assert L.box_excess([p], lam) <= (1 - lr * lam) * before + 1e-12


def test_references_are_the_minimisers_they_claim():
    """x_box satisfies the KKT conditions of the box problem (zero gradient inside, gradient pointing outwards
    on the boundary); the ridge solution zeroes ∇f + λw; least squares zeroes ∇f."""
    ref = E.references()
    t = E.regression_task()
    Z, y = E._design(t.x_train), np.asarray(t.y_train, dtype=np.float64).ravel()

    def grad(w):
        return 2 * Z.T @ (Z @ w - y) / len(Z)

    r = 1 / E.LAM
    w, g = ref["box"], grad(ref["box"])
    inside = np.abs(w) < r - 1e-9
    assert inside.any() and (~inside).any()  # the constraint binds on some coordinates only
    np.testing.assert_allclose(g[inside], 0, atol=1e-10)
    assert np.all(-np.sign(w[~inside]) * g[~inside] > 0)  # −∇f points out of the box where it binds
    np.testing.assert_allclose(grad(ref["ridge"]) + E.LAM * ref["ridge"], 0, atol=1e-10)
    np.testing.assert_allclose(grad(ref["free"]), 0, atol=1e-10)
    assert E.LAM * np.abs(ref["free"]).max() > 1  # the premise, in closed form


def test_lion_k_quadratic_fixed_point_is_the_ridge_minimiser():
    """𝒦 = ½‖·‖²: at a fixed point m = g and c = g, so x = x − η(g + λx) ⇒ ∇f + λx = 0 (the docstring)."""
    A, b, lam = np.array([[2.0, 0.5], [0.5, 1.0]]), np.array([1.0, -2.0]), 0.7
    p = Parameter(np.zeros(2))
    opt = L.LionK([p], lr=0.05, weight_decay=lam, K="quadratic")
    for _ in range(4000):
        p.grad = A @ p.data - b
        opt.step()
    np.testing.assert_allclose(p.data, np.linalg.solve(A + lam * np.eye(2), b), atol=1e-9)


def test_box_projection_callback_and_trace():
    p = Parameter(np.array([3.0, -0.1, -7.0]))
    E.BoxProjection([p], 0.5).on_step_end(None)
    np.testing.assert_array_equal(p.data, [0.5, -0.1, -0.5])
    with pytest.raises(ValueError, match="lam"):
        L.box_excess([p], 0.0)


# --- the quick run's code path ---------------------------------------------------------------------
def test_quick_run_code_path(quick_result):
    r = quick_result(SLUG)
    r.validate()
    assert r.smoke and r.methods == list(E.GRIDS)
    assert [p["metric"] for p in r.premises] == ["box_excess", "box_excess"]
    assert all(isinstance(p["present"], bool) for p in r.premises)
    assert max(r.values("projected GD", "box_excess")) <= 0  # clipped into the box after every step
    assert max(r.values("MLP Lion+λ", "box_excess")) <= 1e-9  # started inside: the box is invariant
    # the recorded phase-1 trace obeys the contraction bound e_t ≤ e_0 Π(1 − η_s λ) of the docstring
    e, lrs = r.arrays["trace_excess"], r.arrays["trace_lr"]
    assert len(e) == E.QUICK_STEPS + 1 and e[0] > 0
    bound = e[0] * np.r_[1.0, np.cumprod(1 - lrs * E.LAM)]
    assert np.all(e <= bound + 1e-12)
    assert e[-1] < 1e-2 * e[0]


# --- the paper's claims on the recorded full result ----------------------------------------------------
def full():
    assert freshness(SLUG) == "fresh", f"run `refimpl record {SLUG}`"
    return recorded(SLUG)


def test_full_run_premises_unconstrained_solutions_leave_the_box():
    r = full()
    assert min(r.values("Lion λ=0", "box_excess")) > 0.5  # every seed: λ‖x‖∞ > 1.5 without decay
    assert min(r.values("MLP Lion λ=0", "max_abs_weight")) > 2 / E.LAM_MLP  # twice the classifier's bound


def test_full_run_lion_ends_inside_the_box_from_outside():
    """Claim 1: the excess e_T = λ‖x_T‖∞ − 1 is at float64 rounding on every seed (it started at 0.5–1.5)."""
    r = full()
    assert max(r.values("Lion+λ", "box_excess")) <= 1e-12
    assert r.arrays["trace_excess"][0] > 0.4


def test_full_run_lion_reaches_the_box_minimiser():
    """Claim 2: Lion+λ ends within 0.1 % of the box half-width of the projected-gradient minimiser on every
    seed (ten times tighter than the claimed 1 %); projected GD itself is at rounding."""
    r = full()
    assert max(r.values("Lion+λ", "dist_box")) < 1e-3
    assert max(r.values("projected GD", "dist_box")) < 1e-9
    iv = r.claim("Lion with weight decay λ reaches")["interval"]
    assert iv["high"] < 1e-3, iv


def test_full_run_the_sign_makes_the_box_and_the_quadratic_k_makes_ridge():
    """Claims 3–4: with the same λ, 𝒦 = ½‖·‖² lands on the ridge minimiser (to 1e-6 of 1/λ), which is more
    than half the box's half-width away from the box minimiser Lion reaches."""
    r = full()
    assert max(r.values("Lion-K quadratic+λ", "dist_ridge")) < 1e-6
    assert r.claim("The box comes from the sign")["interval"]["high"] < -0.5


def test_full_run_classifier_weights_respect_the_bound_and_reach_it():
    """Claim 5: no weight of the Lion+λ classifier exceeds 1/λ, and the bound is active (the largest weight
    sits within 1 % of it), while the classifier still learns (> 85 % test accuracy on every seed)."""
    r = full()
    ex = r.values("MLP Lion+λ", "box_excess")
    assert max(ex) <= 1e-9 and min(ex) > -0.01, ex
    assert min(r.values("MLP Lion+λ", "test_accuracy")) > 0.85
