"""DPP weighted least squares (arXiv 2312.14057): hand cases, ∫k_m dμ = m by quadrature, the projection-DPP
sampler's subset probabilities against det K_S by brute force, its continuous marginal against k_m/m,
errors naming the argument, the quick run, and the claims on the recorded full result.  No custom backward
(closed-form least squares in NumPy), so no gradcheck."""

import itertools

import numpy as np
import pytest
from numpy.polynomial import legendre

from refimpl.experiments import freshness, recorded
from refimpl.experiments.stats import paired_interval
from refimpl.techniques.data_weighting_selection import dpp_weighted_least_squares as D
from refimpl.techniques.data_weighting_selection.dpp_weighted_least_squares.cases import reference_cases

SLUG = "dpp-weighted-least-squares"


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


@pytest.mark.parametrize("m", [1, 4, 9])
def test_christoffel_integrates_to_m_and_features_are_orthonormal(m):
    x, w = legendre.leggauss(m + 3)  # exact for degree ≤ 2m + 5
    w = w / 2
    np.testing.assert_allclose((D.christoffel(x, m) * w).sum(), m, rtol=1e-12)
    Phi = D.features(x, m)
    np.testing.assert_allclose(Phi.T @ (Phi * w[:, None]), np.eye(m), atol=1e-12)


def test_discrete_dpp_subset_probabilities_match_determinants():
    rng = np.random.default_rng(0)
    Phi, _ = np.linalg.qr(rng.normal(size=(6, 3)))
    K = Phi @ Phi.T
    T = 20000
    counts = {}
    for _ in range(T):
        s = tuple(D.sample_projection_dpp_discrete(Phi, rng))
        counts[s] = counts.get(s, 0) + 1
    for S in itertools.combinations(range(6), 3):
        p = np.linalg.det(K[np.ix_(S, S)])
        assert abs(counts.get(S, 0) / T - p) < 5 * np.sqrt(p * (1 - p) / T) + 1e-3, S
    incl = np.zeros(6)
    for S, c in counts.items():
        incl[list(S)] += c / T
    np.testing.assert_allclose(incl, np.diag(K), atol=0.02)  # inclusion = kernel diagonal


def test_continuous_dpp_marginal_is_christoffel_density():
    rng = np.random.default_rng(1)
    m = 4
    x = np.concatenate([D.sample_projection_dpp(m, rng) for _ in range(1500)])
    edges = np.linspace(-1, 1, 9)
    hist = np.histogram(x, edges)[0] / x.size
    xg, wg = legendre.leggauss(40)
    expected = []
    for a, b in zip(edges[:-1], edges[1:]):
        t = (b - a) / 2 * xg + (a + b) / 2
        expected.append((D.christoffel(t, m) / m * wg).sum() * (b - a) / 4)
    np.testing.assert_allclose(hist, expected, atol=0.015)


def test_dpp_points_are_distinct_and_gram_invertible():
    rng = np.random.default_rng(2)
    x = D.sample_projection_dpp(8, rng)
    assert len(np.unique(x)) == 8
    assert np.linalg.cond(D.features(x, 8)) < 1e8


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match="m must"):
        D.features([0.0], 0)
    with pytest.raises(ValueError, match="x must"):
        D.features([2.0], 3)
    with pytest.raises(ValueError, match="n must"):
        D.sample_christoffel_iid(-1, 3, np.random.default_rng(0))
    with pytest.raises(ValueError, match="Phi"):
        D.sample_projection_dpp_discrete(np.ones((4, 2)), np.random.default_rng(0))
    with pytest.raises(ValueError, match="y must"):
        D.weighted_least_squares(np.zeros(2), np.zeros(3), 2)


def test_quick_run(quick_result):
    r = quick_result(SLUG)
    assert r.quick and set(r.seeds) == {0, 1}
    for m in r.methods:
        assert np.isfinite(r.values(m, "log_ratio")).all()
        assert (np.asarray(r.values(m, "median_ratio")) >= 1 - 1e-9).all()  # never beats the best fit


def test_recorded_claims():
    assert freshness(SLUG) == "fresh"
    r = recorded(SLUG)
    assert len(r.seeds) >= 10
    v = {m: np.asarray(r.values(m, "log_ratio")) for m in r.methods}
    # premise from the record: i.i.d. Christoffel at n = m is more than 10× worse than the best fit
    assert v["iid Christoffel n=m"].mean() > 1.0
    # the paper's distinguishing claim: at n = m the DPP beats the i.i.d. ablation by more than a factor 10
    assert paired_interval(v["DPP n=m"], v["iid Christoffel n=m"]).high < -1.0
    # and at n = 2m two DPPs beat i.i.d. Christoffel sampling
    assert paired_interval(v["DPP x2 n=2m"], v["iid Christoffel n=2m"]).high < 0.0
