"""The projection-head theory: the reference cases; the loss gradient by finite differences; the closed-form gains
minimise the population loss (numerical optimisation); the population moments against samples; gradient descent
conserves W₁W₁ᵀ − W₂ᵀW₂ up to O(lr²); bad input; the recorded run."""

import numpy as np
import pytest
from scipy import optimize

from refimpl.experiments import freshness, recorded
from refimpl.techniques.theory_generalization import projection_head_theory as PH
from refimpl.techniques.theory_generalization.projection_head_theory.cases import reference_cases

SLUG = "projection-head-theory"
A, RHO, SIG = np.array([1.0, 2.0, 0.5]), np.array([0.9, 0.1, 0.6]), 0.5


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


def test_loss_gradient_by_finite_differences():
    T, S = PH.population_moments(A, RHO, SIG, 2)
    W = np.random.default_rng(0).normal(size=(4, 5)) * 0.4
    g = PH.loss_gradient(W, T, S)
    num = np.zeros_like(W)
    for idx in np.ndindex(W.shape):
        e = np.zeros_like(W)
        e[idx] = 1e-6
        num[idx] = (
            PH.spectral_contrastive_loss(W + e, T, S) - PH.spectral_contrastive_loss(W - e, T, S)
        ) / 2e-6
    np.testing.assert_allclose(g, num, rtol=1e-6, atol=1e-8)


def test_closed_form_gains_minimise_the_loss():
    T, S = PH.population_moments(A, RHO, SIG, 1)
    res = optimize.minimize(
        lambda w: PH.spectral_contrastive_loss(w.reshape(4, 4), T, S),
        np.random.default_rng(1).normal(size=16) * 0.3,
        jac=lambda w: PH.loss_gradient(w.reshape(4, 4), T, S).ravel(),
        method="BFGS",
        options={"gtol": 1e-10},
    )
    W = res.x.reshape(4, 4)
    np.testing.assert_allclose(np.linalg.norm(W[:, :3], axis=0), PH.optimal_gains(A, RHO, SIG), rtol=1e-4)
    assert np.linalg.norm(W[:, 3]) < 1e-3  # the noise direction's loss is quartic at 0: flat, slow to settle


def test_moments_match_samples():
    x, xp, _ = PH.sample_views(A, RHO, SIG, 2, 200_000, 3)
    T, S = PH.population_moments(A, RHO, SIG, 2)
    np.testing.assert_allclose(x.T @ xp / len(x), T, atol=0.02)
    np.testing.assert_allclose(x.T @ x / len(x), S, atol=0.03)


def test_gradient_descent_keeps_the_layers_balanced():
    T, S = PH.population_moments(A, RHO, SIG, 2)
    rng = np.random.default_rng(4)
    W1, W2 = 0.1 * rng.normal(size=(5, 5)), 0.1 * rng.normal(size=(5, 5))
    before = W1 @ W1.T - W2.T @ W2
    for _ in range(2000):
        G = PH.loss_gradient(W2 @ W1, T, S)
        W1, W2 = W1 - 1e-3 * (W2.T @ G), W2 - 1e-3 * (G @ W1.T)
    after = W1 @ W1.T - W2.T @ W2
    assert np.abs(after - before).max() < 0.01 * np.abs(W1 @ W1.T).max()


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="`a` and `rho`"):
        PH.optimal_gains([1.0, 2.0], [0.5], 0.1)
    with pytest.raises(ValueError, match="`rho` in"):
        PH.population_moments([1.0], [1.5], 0.1)
    with pytest.raises(FloatingPointError, match="lower `lr`"):
        T, S = PH.population_moments(A, RHO, SIG, 0)
        PH.train_two_layer(T, S, 3, 3, 0.5, 10.0, 50, 0)


def test_recorded_full_run():
    """On the recorded per-seed numbers: the trained gains match the closed form within 5 % and the pre-projection
    gains its square root within 5 % on every seed; the premise's weight ratio is below ½ on every seed."""
    assert freshness(SLUG) == "fresh"
    r = recorded(SLUG)
    assert not r.quick and len(r.seeds) >= 3
    assert max(r.values("post-projection", "end_to_end_gain_err")) < 0.05
    assert max(r.values("pre-projection", "pre_gain_err")) < 0.05
    assert max(r.values("post-projection", "destroyed_over_invariant_post")) < 0.5
