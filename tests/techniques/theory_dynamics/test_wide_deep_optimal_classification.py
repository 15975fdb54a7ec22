"""Infinitely wide and deep NTK classifiers: the reference cases; the log-space deep NTK against the plain
recursion (brute force); the Koenigs limit against a scalar loop; the depth bound (D3); the monomial
closed form against the recursion; NTK regression's sign against the kernel-sum rule; the toy's Bayes
accuracy against its closed form; bad input; the quick run; the recorded run.  No op here has a
backward (pure NumPy), so there is no gradient check."""

import numpy as np
import pytest

from refimpl.experiments import freshness, recorded
from refimpl.techniques.theory_dynamics import wide_deep_optimal_classification as W
from refimpl.techniques.theory_dynamics.wide_deep_optimal_classification.cases import reference_cases

SLUG = "wide-deep-optimal-classification"
RHO = np.array([-0.95, -0.3, 0.0, 0.2, 0.7, 0.99, 0.9999])


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


def _scalar_recursion(rho, coeffs, depth):
    """A plain Python loop over one cosine (independent of the vectorised code)."""
    c = list(coeffs)
    f = lambda r: sum(ck * r**k for k, ck in enumerate(c))  # noqa: E731
    df = lambda r: sum(k * ck * r ** (k - 1) for k, ck in enumerate(c) if k)  # noqa: E731
    s = t = float(rho)
    for _ in range(depth):
        s, t = f(s), f(s) + t * df(s)
    return s, t


@pytest.mark.parametrize("name", ["2d_opt", "5d_opt", "9d_opt"])
def test_log_space_deep_ntk_equals_brute_force(name):
    dual = W.OPTIMAL[name]
    depth = 260
    sign, logk = W.deep_ntk_log(RHO, dual, depth)
    for r, sg, lk in zip(RHO, sign, logk):
        _, t = _scalar_recursion(r, dual.c, depth)
        assert sg == np.sign(t)
        if t != 0:
            assert lk == pytest.approx(np.log(abs(t)), abs=1e-8)


def test_limit_kernel_against_a_scalar_loop():
    dual = W.OPTIMAL["3d_opt"]
    g = W.limit_kernel(RHO[:-1], dual)
    for r, gv in zip(RHO[:-1], g):
        s, _ = _scalar_recursion(r, dual.c, 300)
        assert gv == pytest.approx(s / 0.5**300, rel=1e-9)


def test_normalised_deep_ntk_converges_to_the_limit_kernel_only_at_depth_beyond_one_over_eps():
    """(D3): Θ_L/(L b^L) → g with error O(1/(εL)); at L = 0.1 / ε it is still far off."""
    dual = W.OPTIMAL["2d_opt"]
    eps = np.array([1e-4, 1e-3, 1e-2, 1e-1])
    g = W.limit_kernel(1 - eps, dual)
    for L, tol in ((10**10, 1e-4), (10**3, None)):
        _, logk = W.deep_ntk_log(1 - eps, dual, L)
        ratio = np.exp(logk - L * np.log(dual.b) - np.log(L)) / g
        if tol:
            np.testing.assert_allclose(ratio, 1.0, atol=tol)
        else:
            assert ratio[0] > 1.5  # ε = 1e-4 at L = 1e3: the a^{L0} term still dominates


def test_fitted_exponent_on_a_grid_matches_the_prediction():
    eps = np.logspace(-5, -1, 80)
    for name, dual in W.OPTIMAL.items():
        fitted = W.local_exponent(1 - eps, np.log(W.limit_kernel(1 - eps, dual)))
        assert fitted == pytest.approx(W.singular_exponent(dual), rel=0.02), name


def test_monomial_closed_form_against_the_recursion():
    for k in (2, 3):
        dual = W.DualActivation([0.0] * k + [1.0])
        for depth in (0, 1, 4):
            _, t = W.kernels(RHO, dual, depth)
            sign, logk = W.monomial_ntk_log(RHO, k, depth)
            np.testing.assert_allclose(sign * np.exp(logk), t, rtol=1e-10, atol=1e-300)


def test_ntk_regression_has_the_sign_of_the_kernel_sum_at_depth():
    """With Θ(1) ~ a^L on the diagonal, the interpolant's sign is that of Σ_i y_i Θ(x, x_i)."""
    X, y, _ = W.dirichlet_arc(40, rng=0)
    Z, _, _ = W.dirichlet_arc(100, rng=1)
    dual = W.OPTIMAL["2d_opt"]
    rho_tr, rho_te = np.clip(X @ X.T, -1, 1), np.clip(Z @ X.T, -1, 1)
    np.fill_diagonal(rho_tr, 1.0)
    reg = W.ntk_regression(rho_te, rho_tr, y, dual, 40)
    _, k = W.kernels(rho_te, dual, 40)
    np.testing.assert_array_equal(reg, W.kernel_sum_classifier(np.sign(k), np.log(np.abs(k)), y))


def test_hilbert_rule_other_exponent_and_simple_rules():
    X = np.stack([np.cos([0.1, 0.3, -0.3]), np.sin([0.1, 0.3, -0.3])], axis=1)
    y = np.array([-1.0, 1.0, 1.0])
    assert W.hilbert_classifier(np.array([[1.0, 0.0]]), X, y, 0.5)[0] == 1.0
    assert W.nearest_neighbour(np.array([[1.0, 0.0]]), X, y)[0] == -1.0
    np.testing.assert_array_equal(W.majority_vote(3, y), [1.0, 1.0, 1.0])


def test_toy_bayes_accuracy_matches_its_closed_form():
    """Densities 2(1 − u) (prior 0.4) and 2u (prior 0.6): boundary u = 0.4, Bayes accuracy
    ∫₀^0.4 0.8(1 − u) du + ∫_0.4^1 1.2u du = 0.256 + 0.504 = 0.76."""
    X, y, bayes = W.dirichlet_arc(40_000, rng=3)
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0)
    assert np.all(X >= 0)
    assert np.mean(bayes == y) == pytest.approx(0.76, abs=0.01)


def test_regimes():
    assert W.regime(W.OPTIMAL["2d_opt"]) == "singular kernel"
    assert W.regime(W.DualActivation([0, 0, 1])) == "1-NN"
    assert W.regime(W.DualActivation([0.2, 0.4, 0, 0.4])) == "majority vote"
    assert W.regime(W.relu_dual) == "majority vote"


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="coeffs"):
        W.DualActivation([0.5, 0.6])
    with pytest.raises(ValueError, match="rho"):
        W.kernels([1.5], W.OPTIMAL["2d_opt"], 2)
    with pytest.raises(ValueError, match="depth"):
        W.deep_ntk_log([0.5], W.OPTIMAL["2d_opt"], 10)
    with pytest.raises(ValueError, match="dual"):
        W.singular_exponent(W.DualActivation([0, 0, 1]))
    with pytest.raises(ValueError, match="dual"):
        W.regime(W.DualActivation([0, 1]))
    with pytest.raises(ValueError, match="alpha"):
        W.hilbert_classifier(np.ones((1, 2)), np.ones((1, 2)), [1.0], 0.0)
    with pytest.raises(ValueError, match="y"):
        W.kernel_sum_classifier(np.ones((2, 3)), np.zeros((2, 3)), [1.0, -1.0])


def test_quick_run(quick_result):
    r = quick_result(SLUG)
    assert r.quick and len(r.seeds) >= 2
    assert {"alpha_rel_error", "agree_limit", "agree_hilbert_d"} <= set(r.table[0])
    assert r.arrays["agree_by_depth_2d"].shape == r.arrays["depths"].shape


def test_recorded_full_run():
    """On the recorded per-seed numbers: every singular cell's fitted exponent is within 5 % of
    2 log(1/b)/log a on every seed, and its deep NTK classifier agrees with its limit classifier on ≥ 98 %
    of test points; the shallow (L = 2) NTK agrees with the limit less than the deepest one; only the
    2-D-optimal activation's classifier agrees with the Hilbert rule ‖x − x_i‖^(−1) better than the α = 8
    one does (the exponent, not just the singularity, decides)."""
    assert freshness(SLUG) == "fresh"
    r = recorded(SLUG)
    assert not r.quick and len(r.seeds) >= 3
    for name in ("2d_opt (α = 1)", "3d_opt (α = 2)", "5d_opt (α = 4)", "9d_opt (α = 8)"):
        assert max(abs(v) for v in r.values(name, "alpha_rel_error")) < 0.05, name
        assert min(r.values(name, "agree_limit")) >= 0.98, name
    by_depth = r.arrays["agree_by_depth_2d"]
    assert by_depth[0] < by_depth[-1] - 0.02
    assert np.mean(r.values("2d_opt (α = 1)", "agree_hilbert_d")) > np.mean(
        r.values("9d_opt (α = 8)", "agree_hilbert_d")
    )
    assert min(r.values("ρ² dual (1-NN regime)", "agree_nn")) >= 0.98
    assert min(r.values("0.2 + 0.4ρ + 0.4ρ³ dual (majority regime)", "agree_majority")) >= 0.98
