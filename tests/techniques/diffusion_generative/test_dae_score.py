"""The DAE's score: the reference cases; the exact minimiser is the least-squares denoiser (a linear DAE fitted
by least squares on Gaussian data reaches s²/(s² + σ²)); Tweedie's reconstruction minimises the criterion among
perturbed ones; the smoothing bias closes as σ → 0; the loss's gradient; bad input; the quick run; the recorded
run."""

import numpy as np
import pytest

from refimpl.experiments import freshness, recorded
from refimpl.techniques.diffusion_generative import dae_score as DS
from refimpl.techniques.diffusion_generative import toys
from refimpl.techniques.diffusion_generative.dae_score.cases import reference_cases

SLUG = "dae-score"


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


def test_least_squares_linear_dae_on_gaussian_data():
    # the DAE criterion restricted to r(x̃) = a x̃ is ordinary least squares of x on x̃
    s, sigma = 1.0, 0.3
    rng = np.random.default_rng(0)
    x = s * rng.standard_normal(400_000)
    noisy = x + sigma * rng.standard_normal(x.size)
    a = np.sum(noisy * x) / np.sum(noisy * noisy)
    assert a == pytest.approx(DS.gaussian_optimal_dae(s, sigma), rel=5e-3)


def test_tweedie_minimises_the_criterion():
    mixture = toys.eight_gaussians(radius=2.0, std=0.3)
    rng = np.random.default_rng(1)
    x, _ = mixture.sample(100_000, rng)
    sigma = 0.4
    noisy = x + sigma * rng.standard_normal(x.shape)
    best = DS.optimal_reconstruction(mixture, noisy, sigma)
    loss = np.mean(np.sum((best - x) ** 2, 1))
    for shrink in (0.9, 1.1):  # move the reconstruction along its own step: the criterion gets worse
        other = noisy + shrink * (best - noisy)
        assert np.mean(np.sum((other - x) ** 2, 1)) > loss
    assert np.mean(np.sum((noisy - x) ** 2, 1)) > loss  # and the identity is worse still


def test_smoothing_bias_closes_as_sigma_shrinks():
    mixture = toys.eight_gaussians(radius=2.0, std=0.3)
    x, _ = mixture.sample(2000, 2)
    true = mixture.score(x)
    gaps = [
        np.sum((mixture.noised(1.0, s).score(x) - true) ** 2) / np.sum(true**2) for s in (0.4, 0.2, 0.1, 0.05)
    ]
    assert all(a > b for a, b in zip(gaps, gaps[1:])) and gaps[-1] < 1e-3
    # the o(σ²) of the theorem: the gap in the score shrinks like σ², so the squared gap like σ⁴
    assert gaps[2] / gaps[3] == pytest.approx(16, rel=0.2)


def test_dae_loss_gradient_by_finite_differences():
    model = DS.ResidualAutoEncoder(2, hidden=6, depth=1, rng=0)
    for p in model.parameters():
        p.data = p.data.astype(np.float64)
    x = np.random.default_rng(0).standard_normal((7, 2))
    w = model.g[0].weight
    DS.dae_loss(model, x, 0.3, 5).backward()
    h, (i, j) = 1e-6, (2, 1)
    w.data[i, j] += h
    up = float(DS.dae_loss(model, x, 0.3, 5).data)
    w.data[i, j] -= 2 * h
    down = float(DS.dae_loss(model, x, 0.3, 5).data)
    w.data[i, j] += h
    assert w.grad[i, j] == pytest.approx((up - down) / (2 * h), rel=1e-5)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="sigma"):
        DS.score_estimate(lambda x: x, np.zeros((1, 2)), 0.0)
    with pytest.raises(ValueError, match="sigma"):
        DS.dae_loss(DS.ResidualAutoEncoder(2, rng=0), np.zeros((1, 2)), -1.0, 0)
    with pytest.raises(ValueError, match="s > 0"):
        DS.gaussian_optimal_dae(0.0, 0.1)


def test_quick_run(quick_result):
    r = quick_result(SLUG)
    assert r.quick and set(r.selected) == {"DAE σ=0.2", "DAE σ=0.4", "auto-encoder (no corruption)"}


def test_recorded_full_run():
    """On the recorded per-seed numbers: at σ = 0.4 the learned score is within 0.15 of the smoothed score on
    every seed, and its error to the true score within 0.1 of the exact smoothing bias on every seed; the DAE at
    σ = 0.2 beats the plain auto-encoder's cosine on every seed."""
    assert freshness(SLUG) == "fresh"
    r = recorded(SLUG)
    assert not r.quick and len(r.seeds) >= 3
    assert max(r.values("DAE σ=0.4", "rel_err_smoothed")) < 0.15
    assert max(np.abs(r.values("DAE σ=0.4", "excess_over_bias"))) < 0.1
    dae, ae = (
        np.array(r.values("DAE σ=0.2", "cosine_true")),
        np.array(r.values("auto-encoder (no corruption)", "cosine_true")),
    )
    assert np.all(dae > ae)
