"""FARMS: the reference cases; the Hill fit against the exponent of exact Pareto samples; the window grid against a
direct reading of the code's rule; the Marchenko–Pastur density's known moments; α_MP against a large simulation;
FARMS's noise α not depending on the shape; bad input; the recorded run."""

import numpy as np
import pytest
from scipy import integrate

from refimpl.experiments import freshness, recorded
from refimpl.techniques.theory_generalization import farms as F
from refimpl.techniques.theory_generalization.farms.cases import reference_cases

SLUG = "farms"


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


def test_hill_recovers_a_pareto_exponent():
    """Density ∝ x^(−α) above 1: x = U^(−1/(α−1)); the fit above the median is again Pareto, with the same α."""
    u = np.random.default_rng(0).uniform(size=200_000)
    for alpha in (2.0, 3.5):
        assert F.hill_alpha(u ** (-1 / (alpha - 1))) == pytest.approx(alpha, rel=0.01)


def test_hill_is_scale_invariant():
    e = np.random.default_rng(1).gamma(2.0, size=50)
    assert F.hill_alpha(7.3 * e) == pytest.approx(F.hill_alpha(e), rel=1e-12)


def test_windows_cover_a_square_matrix_with_its_submatrix_grid():
    """64 × 64, 32 × 64 windows, 10 starts asked: only rows move (columns fit once); starts 0, 3, …, 27, 32."""
    w = F.farms_windows((64, 64), 32, 2.0, 10)
    assert [x[1] for x in w] == [0] * 10 and all(x[2:] == (32, 64) for x in w)
    assert [x[0] for x in w] == [0, 3, 6, 9, 12, 15, 18, 21, 24, 27]
    w = F.farms_windows((64, 1024), 32, 2.0, 10)
    assert len(w) == 100 and max(x[1] for x in w) + 64 <= 1024 and max(x[0] for x in w) + 32 <= 64


def test_farms_spectrum_is_the_union_of_the_window_spectra():
    W = np.random.default_rng(2).normal(size=(9, 14))
    wins = F.farms_windows(W.shape, 3, 2.0, 3)
    direct = np.concatenate(
        [np.linalg.eigvalsh(W[r : r + h, c : c + w] @ W[r : r + h, c : c + w].T) for r, c, h, w in wins]
    )
    np.testing.assert_allclose(F.farms_eigenvalues(W, 3, 2.0, 3), np.sort(direct), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("q", [1.0, 0.5, 0.1])
def test_mp_density_moments(q):
    """∫ρ = 1, E x = 1, E x² = 1 + q (the first moments of the Marchenko–Pastur law)."""
    a, b = F.mp_edges(q)
    m = [integrate.quad(lambda x, k=k: x**k * F.mp_density(x, q), a, b, limit=200)[0] for k in (0, 1, 2)]
    np.testing.assert_allclose(m, [1.0, 1.0, 1.0 + q], rtol=1e-8)


def test_mp_alpha_matches_a_large_noise_matrix():
    W = np.random.default_rng(3).normal(size=(600, 1200))
    assert F.hill_alpha(F.eigenvalues(W)) == pytest.approx(F.mp_alpha(0.5), rel=0.02)


def test_mp_alpha_rises_as_the_matrix_gets_rectangular():
    a = [F.mp_alpha(q) for q in (1.0, 0.5, 0.25, 0.125)]
    assert np.all(np.diff(a) > 0.5)


def test_farms_noise_alpha_does_not_follow_the_shape():
    rng = np.random.default_rng(4)
    full = [F.hill_alpha(F.eigenvalues(rng.normal(size=(64, m)))) for m in (64, 1024)]
    farms = [F.hill_alpha(F.farms_eigenvalues(rng.normal(size=(64, m)), 32)) for m in (64, 1024)]
    assert full[1] - full[0] > 2.0 and abs(farms[1] - farms[0]) < 0.2


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="`W`"):
        F.eigenvalues(np.ones(5))
    with pytest.raises(ValueError, match="non-finite"):
        F.eigenvalues(np.array([[1.0, np.nan], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="`eigs`"):
        F.hill_alpha([1.0, 0.0, 2.0])
    with pytest.raises(ValueError, match="`rows`"):
        F.farms_windows((8, 8), 9, 1.0, 2)
    with pytest.raises(ValueError, match="`q_ratio`"):
        F.farms_windows((8, 8), 4, 3.0, 2)
    with pytest.raises(ValueError, match="`ops`"):
        F.farms_windows((8, 8), 4, 1.0, 1)
    with pytest.raises(ValueError, match="`q`"):
        F.mp_edges(1.5)


def test_recorded_full_run():
    """On the recorded per-seed numbers: the full-ESD noise α spreads over the shapes on every seed, FARMS's by
    under a quarter of the smallest full-ESD spread on every seed, and FARMS ranks heavy-tailed matrices below noise ones with an AUC above the full
    ESD's on every seed."""
    assert freshness(SLUG) == "fresh"
    r = recorded(SLUG)
    assert not r.quick and len(r.seeds) >= 3
    assert min(r.values("full ESD", "noise_spread")) > 0.5
    assert max(r.values("FARMS", "noise_spread")) < 0.25 * min(r.values("full ESD", "noise_spread"))
    assert all(f > g for f, g in zip(r.values("FARMS", "auc"), r.values("full ESD", "auc")))
