"""Generalized / holomorphic EP with Jacobian homeostasis: the reference cases (2×2 penalty by hand, EP and
implicit gradient against finite differences), the homeostatic estimator's expectation and its hand-written
gradient against finite differences in float64, EP = gradient iff the weights are symmetric, the order of
each nudge estimate's bias in β, bad input, the quick run's code path and the claims on the recorded run."""

import numpy as np
import pytest

from refimpl.experiments import freshness, recorded
from refimpl.techniques.optimizers_training_rules import ep_jacobian_homeostasis as EP
from refimpl.techniques.optimizers_training_rules.ep_jacobian_homeostasis.cases import reference_cases

SLUG = "ep-jacobian-homeostasis"
DYN = ("W1", "b1", "B", "W2", "b2")


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


def _net(angle=90.0, seed=0, sizes=(6, 5, 4, 3), batch=7):
    rng = np.random.default_rng(100 + seed)
    p = EP.init_params(*sizes, angle=angle, rng=seed)
    x, y = rng.uniform(size=(batch, sizes[0])), rng.integers(0, sizes[3], batch)
    return p, x, y, EP.relax(p, x, y, 0.0, 300)


def _max_err(a, b, keys=EP.PARAM_NAMES):
    return max(float(np.abs(a[k] - b[k]).max()) for k in keys)


def test_homeostatic_loss_with_a_scaled_basis_is_the_exact_penalty():
    """With ε running over √n e_i the estimator's average is exactly (‖J‖² − tr J²)/n = ‖J − Jᵀ‖²/(2n), the
    expectation over ε ~ N(0, I); and its gradient is then 2(J − Jᵀ)/n in the B and W₂ blocks."""
    p, *_ = _net()
    J = EP.fixed_point_jacobian(p)
    n = J.shape[0]
    basis = np.sqrt(n) * np.eye(n)
    A = J - J.T
    assert EP.homeostatic_loss(J, basis) == pytest.approx(np.sum(A * A) / (2 * n), rel=1e-12)
    assert EP.jacobian_asymmetry(J) == pytest.approx(np.sum(A * A) / (2 * n), rel=1e-12)
    g = EP.homeostatic_grad(p, basis)
    n_h = p["W1"].shape[0]
    np.testing.assert_allclose(g["B"], 2 * A[:n_h, n_h:] / n, atol=1e-13)
    np.testing.assert_allclose(g["W2"], 2 * A[n_h:, :n_h] / n, atol=1e-13)
    for k in ("W1", "b1", "b2", "R", "c"):
        assert not np.any(g[k])
    many = np.random.default_rng(0).normal(size=(20000, n))
    assert EP.homeostatic_loss(J, many) == pytest.approx(EP.jacobian_asymmetry(J), rel=0.05)


def test_homeostatic_grad_matches_finite_differences_float64():
    """The hand-written ∂/∂θ of the one-draw estimator against central differences, every entry of B and W₂
    (the estimator is quadratic in J, so differences are exact up to rounding)."""
    p, *_ = _net()
    eps = np.random.default_rng(1).normal(size=(3, 9))
    g = EP.homeostatic_grad(p, eps)
    for k in ("B", "W2"):
        fd = np.zeros_like(p[k])
        for i in np.ndindex(p[k].shape):
            q = {kk: v.copy() for kk, v in p.items()}
            q[k][i] += 1e-5
            a = EP.homeostatic_loss(EP.fixed_point_jacobian(q), eps)
            q[k][i] -= 2e-5
            fd[i] = (a - EP.homeostatic_loss(EP.fixed_point_jacobian(q), eps)) / 2e-5
        np.testing.assert_allclose(g[k], fd, rtol=1e-7, atol=1e-10)


def test_a_wrong_homeostatic_gradient_fails_the_check():
    """The finite-difference check above is not vacuous: dropping the Jᵀε term is caught."""
    p, *_ = _net()
    eps = np.random.default_rng(1).normal(size=(1, 9))
    J = EP.fixed_point_jacobian(p)
    Je = eps @ J.T
    wrong = (2 * Je.T @ eps - eps.T @ Je) / 9
    k, i = "B", (0, 0)
    q = {kk: v.copy() for kk, v in p.items()}
    q[k][i] += 1e-5
    a = EP.homeostatic_loss(EP.fixed_point_jacobian(q), eps)
    q[k][i] -= 2e-5
    fd = (a - EP.homeostatic_loss(EP.fixed_point_jacobian(q), eps)) / 2e-5
    assert abs(wrong[0, 5] - fd) > 1e-6 and abs(EP.homeostatic_grad(p, eps)["B"][0, 0] - fd) < 1e-8


def test_exact_ep_is_the_gradient_iff_weights_are_symmetric():
    """β → 0 EP (−D J_u^{−1} e) contracted with ∂_θF equals the implicit gradient to rounding when B = W₂ᵀ,
    and differs (in W₁ and B, whose error arrives through the feedback) when B is independent."""
    p, x, y, u = _net(angle=0.0)
    assert EP.feedback_angle(p) == pytest.approx(0.0, abs=1e-6)
    g_ep = EP.param_grad(p, u, x, y, *EP.ep_error_exact(p, u, y))
    assert _max_err(g_ep, EP.true_gradient(p, u, x, y)) < 1e-13
    p, x, y, u = _net(angle=90.0)
    g_ep = EP.param_grad(p, u, x, y, *EP.ep_error_exact(p, u, y))
    g = EP.true_gradient(p, u, x, y)
    assert EP.cosine(g_ep["W1"], g["W1"]) < 0.9
    np.testing.assert_allclose(g_ep["R"], g["R"], atol=1e-15)  # the read-out is exact in both


def test_true_gradient_matches_the_recurrent_backprop_iteration():
    """δ = −J_u^{−ᵀ} D e equals the fixed point of the code's `delta_rbp` iteration δ ← δ + (J_uᵀ δ + D e)."""
    p, x, y, u = _net()
    J_u, D, e, n_h = EP._blocks(p, u, y)
    delta = np.zeros_like(e)
    for _ in range(400):
        delta = delta + np.einsum("bji,bj->bi", J_u, delta) + D * e
    g = EP.param_grad(p, u, x, y, delta[:, :n_h], delta[:, n_h:])
    assert _max_err(g, EP.true_gradient(p, u, x, y)) < 1e-12


def test_nudge_bias_orders():
    """Against the exact β → 0 estimate, halving β divides the one-sided error by ≈ 2, the symmetric one by
    ≈ 4 and the holomorphic N = 4 one by ≈ 16 (its first aliased Taylor term is β⁴)."""
    p, x, y, u = _net(angle=90.0)
    ref = EP.param_grad(p, u, x, y, *EP.ep_error_exact(p, u, y))
    for N, order in [(1, 1), (2, 2), (4, 4)]:
        e1 = _max_err(EP.ep_gradient(p, u, x, y, 0.2, N, 300), ref, DYN)
        e2 = _max_err(EP.ep_gradient(p, u, x, y, 0.1, N, 300), ref, DYN)
        assert 2**order * 0.8 < e1 / e2 < 2**order * 1.25, (N, e1 / e2)


@pytest.mark.parametrize("N", [3, 4, 5])
def test_conjugate_pairs_equal_the_full_circle(N):
    """The estimate relaxes each conjugate pair of nudges once; the full sum over all N points of the circle,
    each relaxed in complex arithmetic, gives the same (real) result."""
    p, x, y, u = _net()
    acc = [0.0, 0.0]
    for k in range(N):
        bk = 0.4 * np.exp(2j * np.pi * k / N)
        for i, s in enumerate(EP.relax(p, x, y, bk, 300, u, dt=0.5)):
            acc[i] = acc[i] + EP.sigmoid(s) / bk / N
    assert max(np.abs(a.imag).max() for a in acc) < 1e-12
    got = EP.nudge_derivative(p, u, x, y, 0.4, N, 300, dt=0.5)
    for a, b in zip(acc, got):
        np.testing.assert_allclose(b, a.real, atol=1e-13)


def test_symmetric_estimate_is_the_central_difference():
    p, x, y, u = _net()
    hp, op = EP.relax(p, x, y, 0.3, 300, u)
    hm, om = EP.relax(p, x, y, -0.3, 300, u)
    d_h, d_o = EP.nudge_derivative(p, u, x, y, 0.3, 2, 300)
    np.testing.assert_allclose(d_h, (EP.sigmoid(hp) - EP.sigmoid(hm)) / 0.6, atol=1e-14)
    np.testing.assert_allclose(d_o, (EP.sigmoid(op) - EP.sigmoid(om)) / 0.6, atol=1e-14)


def test_homeostatic_steps_symmetrise_the_jacobian():
    """SGD on the stochastic penalty alone drives s/(s+a) towards 1; not to 1 exactly, because a single draw's
    gradient (Jεεᵀ − εεᵀJ)/n does not vanish at a symmetric J (a noise floor proportional to the rate)."""
    p, *_ = _net()
    rng = np.random.default_rng(2)
    before = EP.symmetry_index(EP.fixed_point_jacobian(p))
    for _ in range(400):
        g = EP.homeostatic_grad(p, rng.normal(size=(5, 9)))
        p = {k: v - 0.1 * g[k] for k, v in p.items()}
    after = EP.symmetry_index(EP.fixed_point_jacobian(p))
    assert before < 0.8 and after > 0.95, (before, after)


def test_bad_input_names_the_argument():
    p, x, y, u = _net()
    with pytest.raises(ValueError, match="N must be"):
        EP.nudge_derivative(p, u, x, y, 0.1, 0)
    with pytest.raises(ValueError, match="beta must be"):
        EP.nudge_derivative(p, u, x, y, 0.0, 2)
    with pytest.raises(ValueError, match="angle must lie"):
        EP.rotate_feedback(p, 120.0)
    with pytest.raises(ValueError, match="every size"):
        EP.init_params(3, 0, 2, 2)


def test_quick_run_code_path(quick_result):
    r = quick_result(SLUG)
    r.validate()
    assert r.smoke and set(r.selected) == {"hEP + homeostasis", "hEP", "exact gradient"}
    assert r.arrays["test_accuracy"].shape == (3, len(r.seeds))
    assert r.arrays["angle_cos"][0] == pytest.approx(1.0, abs=1e-12)  # α = 0: EP is the gradient
    assert r.arrays["nudge_one_minus_cos"].shape == (3, 5)
    assert [p["metric"] for p in r.premises] == ["align_W1_init", "test_accuracy", "jac_symmetry"]


def full():
    assert freshness(SLUG) == "fresh", f"run `refimpl record {SLUG}`"
    return recorded(SLUG)


def _iv(statement_start):
    (c,) = [c for c in full().claims if c["statement"].startswith(statement_start)]
    return c["interval"]
