"""Robust matrix sensing: the reference cases; the ℓ1 sub-gradient and the ℓ2 gradient against finite
differences of their losses (float64, away from kinks); the sign measurement's mean by Monte Carlo;
divergence is reported, not hidden; bad input; the recorded run."""

import numpy as np
import pytest

from refimpl.experiments import freshness, recorded
from refimpl.techniques.theory_dynamics import subgm_small_init as SG
from refimpl.techniques.theory_dynamics.subgm_small_init.cases import reference_cases

SLUG = "subgm-small-init"


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


def _fd(loss, U, eps=1e-6):
    g = np.zeros_like(U)
    for idx in np.ndindex(U.shape):
        E = np.zeros_like(U)
        E[idx] = eps
        g[idx] = (loss(U + E) - loss(U - E)) / (2 * eps)
    return g


def test_gradients_match_finite_differences():
    P = SG.sensing_problem(5, 1, 30, outlier_fraction=0.2, noise=0.1, rng=0)
    A, y = P["A"], P["y"]
    U = np.random.default_rng(1).normal(size=(5, 3))
    l1 = lambda V: np.mean(np.abs(SG.residuals(A, y, V)))  # noqa: E731  (differentiable away from r_i = 0)
    l2 = lambda V: 0.5 * np.mean(SG.residuals(A, y, V) ** 2)  # noqa: E731
    np.testing.assert_allclose(SG.subgradient(A, y, U), _fd(l1, U), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(SG.l2_gradient(A, y, U), _fd(l2, U), rtol=1e-5, atol=1e-7)


def test_sign_measurement_mean_by_monte_carlo():
    X = np.diag([3.0, 1.0, 0.0]) + 0.5
    A = np.random.default_rng(2).normal(size=(200_000, 3, 3))
    mc = np.tensordot(np.sign(np.einsum("mij,ij->m", A, X)), A, axes=1) / len(A)
    np.testing.assert_allclose(mc, SG.expected_sign_measurement(X), atol=0.006)


def test_small_init_recovers_a_clean_problem_and_divergence_is_reported():
    P = SG.sensing_problem(8, 1, 120, outlier_fraction=0.0, rng=3)
    U, err = SG.subgradient_method(
        P["A"], P["y"], width=8, init_scale=1e-3, lr=0.05, decay=0.995, steps=1500, rng=4, X_star=P["X_star"]
    )
    assert err[-1] < 0.05
    U, err = SG.subgradient_method(
        P["A"],
        P["y"],
        width=8,
        init_scale=1.0,
        lr=50.0,
        decay=1.0,
        steps=50,
        loss="l2",
        rng=4,
        X_star=P["X_star"],
    )
    assert not np.all(np.isfinite(U)) or np.abs(U).max() > 1e6
    assert np.isinf(err[-1])


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="outlier_fraction"):
        SG.sensing_problem(4, 1, 10, outlier_fraction=1.0)
    with pytest.raises(ValueError, match="rank"):
        SG.sensing_problem(4, 5, 10, outlier_fraction=0.1)
    P = SG.sensing_problem(4, 1, 10, outlier_fraction=0.1, rng=0)
    with pytest.raises(ValueError, match="loss"):
        SG.subgradient_method(
            P["A"], P["y"], width=2, init_scale=0.1, lr=0.1, decay=0.9, steps=2, loss="huber"
        )
    with pytest.raises(ValueError, match="decay"):
        SG.subgradient_method(P["A"], P["y"], width=2, init_scale=0.1, lr=0.1, decay=1.5, steps=2)
    with pytest.raises(ValueError, match="init_scale"):
        SG.subgradient_method(P["A"], P["y"], width=2, init_scale=0.0, lr=0.1, decay=0.9, steps=2)


def test_recorded_full_run():
    """On the recorded per-seed numbers: small-init SubGM ends within 0.1 of X* with a tail ratio below 0.1 on
    every seed; α = 1 and the squared loss end farther from X* than small-init SubGM on every seed."""
    assert freshness(SLUG) == "fresh"
    r = recorded(SLUG)
    assert not r.quick and len(r.seeds) >= 3
    small = np.array(r.values("SubGM ℓ1, α = 0.001", "relative_error"))
    assert small.max() < 0.1
    assert max(r.values("SubGM ℓ1, α = 0.001", "tail_ratio")) < 0.1
    assert np.all(np.array(r.values("SubGM ℓ1, α = 1", "relative_error")) > small)
    assert np.all(np.array(r.values("GD ℓ2, α = 0.001", "relative_error")) > small)
    assert min(r.values("SubGM ℓ1, α = 0.001", "outlier_share")) > 0.5
