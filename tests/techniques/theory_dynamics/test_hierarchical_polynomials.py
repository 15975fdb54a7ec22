"""Hierarchical polynomials: the reference cases; the Hermite features orthonormal (Monte Carlo); the one-step
estimate unbiased for c·β (c = E[g(p)p]); the two learned layers recover h when given the true feature; kernel
ridge against an explicit primal solve; bad input; the recorded run."""

import numpy as np
import pytest

from refimpl.experiments import freshness, recorded
from refimpl.techniques.theory_dynamics import hierarchical_polynomials as HP
from refimpl.techniques.theory_dynamics.hierarchical_polynomials.cases import reference_cases

SLUG = "hierarchical-polynomials"


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


def test_hermite_features_are_orthonormal():
    Psi = HP.hermite2_features(np.random.default_rng(0).normal(size=(400_000, 4)))
    np.testing.assert_allclose(Psi.T @ Psi / len(Psi), np.eye(10), atol=0.02)


def test_one_step_estimate_is_unbiased():
    rng = np.random.default_rng(1)
    beta = rng.normal(size=10)
    beta /= np.linalg.norm(beta)
    Psi = HP.hermite2_features(rng.normal(size=(1_000_000, 4)))
    p = Psi @ beta
    h = HP.link(p)
    c = np.mean(h * p)
    np.testing.assert_allclose(HP.learn_feature(Psi, h), c * beta, atol=0.1 * c)


def test_top_layer_recovers_the_link_from_the_true_feature():
    z = np.random.default_rng(2).normal(size=500)
    coef = HP.fit_link(z, HP.link(z))
    np.testing.assert_allclose(coef, [1.0, 0.0, 0.0, 0.0], atol=1e-10)


def test_kernel_ridge_against_an_explicit_feature_solve():
    """Degree 1: k = 1 + xᵀz/d is the linear kernel on (1, x/√d); ridge in that feature space gives the same fit."""
    rng = np.random.default_rng(3)
    X, Xt, y = rng.normal(size=(30, 3)), rng.normal(size=(5, 3)), rng.normal(size=30)
    F, Ft = np.hstack([np.ones((30, 1)), X / np.sqrt(3)]), np.hstack([np.ones((5, 1)), Xt / np.sqrt(3)])
    w = np.linalg.solve(F.T @ F + 0.1 * 30 * np.eye(4), F.T @ y)
    np.testing.assert_allclose(HP.polynomial_kernel_ridge(X, y, Xt, 1, 0.1), Ft @ w, rtol=1e-10)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="`X`"):
        HP.hermite2_features(np.ones(3))
    with pytest.raises(ValueError, match="`Psi`"):
        HP.learn_feature(np.ones((3, 2)), np.ones(4))
    with pytest.raises(ValueError, match="`degree`"):
        HP.fit_link(np.ones(3), np.ones(3), 0)
    with pytest.raises(ValueError, match="`n1`"):
        HP.feature_alignment(1.0, 0.5, 10)


def test_recorded_full_run():
    """On the recorded per-seed numbers: the three-layer network's error falls from n = 8D to 96D on every seed,
    and quadratic regression stays above 0.3 relative error on every seed (40 % of Var h lies beyond degree 2)."""
    assert freshness(SLUG) == "fresh"
    r = recorded(SLUG)
    assert not r.quick and len(r.seeds) >= 3
    three = r.arrays["errors"][0]
    assert np.all(three[:, -1] < three[:, 0])
    assert min(r.values("quadratic regression", "rel_error_96D")) > 0.3
