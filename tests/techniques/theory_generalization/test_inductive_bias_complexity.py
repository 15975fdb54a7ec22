"""Inductive bias complexity: the reference cases; the basis orthonormal (exact quadrature on a grid); the
Poisson-mixture CDF against scipy's noncentral chi-square; the closed form against conditioned sampling; more data
never costs bits; bad input; the recorded run."""

import numpy as np
import pytest
from scipy import stats

from refimpl.experiments import freshness, recorded
from refimpl.techniques.theory_generalization import inductive_bias_complexity as IB
from refimpl.techniques.theory_generalization.inductive_bias_complexity.cases import reference_cases

SLUG = "inductive-bias-complexity"


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


def test_basis_is_orthonormal():
    """On the grid of 8 points per axis (> 2M), the mean of φ_i φ_j is the exact integral: δ_ij."""
    g = (np.arange(8) + 0.3) / 8
    X = np.array(np.meshgrid(g, g, indexing="ij")).reshape(2, -1).T
    Phi = IB.trig_basis(X, 2)
    np.testing.assert_allclose(Phi.T @ Phi / len(X), np.eye(25), atol=1e-12)


@pytest.mark.parametrize("x, df, nc", [(3.0, 4, 2.0), (20.0, 10, 5.0), (0.5, 3, 0.7)])
def test_log_ncx2_cdf_against_scipy(x, df, nc):
    assert IB.log_ncx2_cdf(x, df, nc) == pytest.approx(stats.ncx2.logcdf(x, df, nc), rel=1e-9)


def test_tiny_probabilities_stay_finite():
    assert np.isfinite(IB.log_ncx2_cdf(1.0, 200, 150.0)) and IB.log_ncx2_cdf(1.0, 200, 150.0) < -200


def test_closed_form_against_conditioned_sampling():
    rng = np.random.default_rng(5)
    theta = rng.normal(size=9)
    theta /= np.linalg.norm(theta)
    Phi = IB.trig_basis(rng.uniform(size=(4, 2)), 1)
    errs = IB.conditional_errors(Phi, theta, 1 / 9, 200_000, 6)
    for eps in (0.3, 0.6):
        assert np.mean(errs <= eps) == pytest.approx(IB.fit_fraction(Phi, theta, eps, 1 / 9), rel=0.03)


def test_more_data_never_costs_bits():
    rng = np.random.default_rng(7)
    theta = rng.normal(size=25)
    theta /= np.linalg.norm(theta)
    X = rng.uniform(size=(20, 2))
    bits = [IB.inductive_bias_bits(IB.trig_basis(X[:n], 2), theta, 0.05, 1 / 25) for n in (0, 5, 10, 20)]
    assert np.all(np.diff(bits) < 0)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="`d`"):
        IB.n_basis(0, 1)
    with pytest.raises(ValueError, match="`x`"):
        IB.log_ncx2_cdf(0.0, 2, 1.0)
    with pytest.raises(ValueError, match="`eps`"):
        IB.fit_fraction(np.zeros((0, 3)), np.zeros(3), 0.0, 1.0)
    with pytest.raises(ValueError, match="pin the hypothesis down"):
        IB.fit_fraction(np.eye(3), np.zeros(3), 0.1, 1.0)


def test_recorded_full_run():
    """On the recorded per-seed numbers: both slope ratios within ±25 % and the closed form within ±5 % of the
    sampled fraction on every seed."""
    assert freshness(SLUG) == "fresh"
    r = recorded(SLUG)
    assert not r.quick and len(r.seeds) >= 3
    m = next(iter(r.selected))
    for key in ("dim_slope_ratio", "res_slope_ratio"):
        assert all(0.75 < v < 1.25 for v in r.values(m, key))
    assert max(abs(v) for v in r.values(m, "mc_rel_err")) < 0.05
