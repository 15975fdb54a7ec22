"""Random features and the omniscient risk: the reference cases; the two ridge forms agree; the feature
kernel tends to the arc-cosine kernel; KRR equals random-feature ridge with the kernel's features; the
Nyström eigensystem reproduces the kernel matrix and the target; κ solves its equation; bad input; the
recorded run."""

import numpy as np
import pytest

from refimpl.experiments import freshness, recorded
from refimpl.techniques.theory_dynamics import rf_more_is_better as RF
from refimpl.techniques.theory_dynamics.rf_more_is_better.cases import reference_cases

SLUG = "rf-more-is-better"


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


@pytest.mark.parametrize("N", [5, 40])
def test_both_ridge_forms_agree(N):
    rng = np.random.default_rng(0)
    Phi, y = rng.normal(size=(12, N)), rng.normal(size=12)
    direct = np.linalg.solve(Phi.T @ Phi + 0.3 * np.eye(N), Phi.T @ y)
    np.testing.assert_allclose(RF.rf_ridge(Phi, y, 0.3), direct, rtol=1e-10, atol=1e-12)


def test_wide_feature_kernel_is_the_arc_cosine_kernel():
    X = RF.sphere(5, 4, 1)
    W = np.random.default_rng(2).normal(size=(200_000, 4))
    P = RF.relu_features(X, W)
    np.testing.assert_allclose(P @ P.T, RF.relu_kernel(X), atol=5e-3)


def test_krr_is_ridge_on_the_features_of_the_kernel():
    """With K = ΦΦᵀ, kernel ridge regression and feature ridge regression predict the same."""
    rng = np.random.default_rng(3)
    X, Z, W = RF.sphere(10, 3, 4), RF.sphere(6, 3, 5), rng.normal(size=(30, 3))
    P, Pz, y = RF.relu_features(X, W), RF.relu_features(Z, W), rng.normal(size=10)
    np.testing.assert_allclose(RF.krr(P @ P.T, Pz @ P.T, y, 0.2), Pz @ RF.rf_ridge(P, y, 0.2), rtol=1e-10)


def test_nystrom_eigensystem_reproduces_the_kernel_and_the_target():
    X = RF.sphere(300, 5, 6)
    K, f = RF.relu_kernel(X), X[:, 0] * X[:, 1]
    lam, v = RF.nystrom_eigensystem(K, f)
    assert np.all(np.diff(lam) <= 1e-15)
    assert np.sum(lam) == pytest.approx(np.trace(K) / 300, rel=1e-10)  # Σλ = E k(x, x)
    assert np.sum(v**2) == pytest.approx(np.mean(f**2), rel=1e-10)  # Parseval on the sample


@pytest.mark.parametrize("delta", [0.0, 1e-3, 0.5])
def test_effective_ridge_solves_its_equation(delta):
    lam = 1.0 / np.arange(1, 400) ** 1.5
    kappa = RF.effective_ridge(lam, 50, delta)
    assert np.sum(lam / (lam + kappa)) + delta / kappa == pytest.approx(50, rel=1e-10)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="delta"):
        RF.rf_ridge(np.eye(2), np.ones(2), -1.0)
    with pytest.raises(ValueError, match="no κ"):
        RF.effective_ridge([1.0, 0.5], 5, 0.0)
    with pytest.raises(ValueError, match="`n`"):
        RF.effective_ridge([1.0], 0, 1.0)


def test_recorded_full_run():
    """On the recorded per-seed numbers: test MSE falls from 256 to 4096 features on average and the curve
    over N rises by less than 1 % at its worst step (on average; a draw may wobble); the omniscient estimate is within 10 % (test) and 20 % (train) of the
    kernel limit on average; at the tuned ridge the training MSE is below the noise variance (the mean with its
    spread, and on at least three seeds in four)."""
    assert freshness(SLUG) == "fresh"
    r = recorded(SLUG)
    assert not r.quick and len(r.seeds) >= 3
    m = next(iter(r.selected))
    assert np.mean(r.values(m, "gain_256_to_4096")) > 0
    rises = np.array(r.values(m, "max_rise"))
    assert rises.mean() < 0.01 and np.sum(rises > 0.01) <= len(rises) // 4  # single draws can wobble
    assert abs(np.mean(r.values(m, "theory_test_gap"))) < 0.1
    assert abs(np.mean(r.values(m, "theory_train_gap"))) < 0.2
    over = np.array(r.values(m, "train_over_noise"))
    assert over.mean() + 2.5 * over.std(ddof=1) / np.sqrt(len(over)) < 1.0 and np.mean(over < 1) >= 0.75
    assert max(r.values(m, "spectrum_slope")) < -1.0
