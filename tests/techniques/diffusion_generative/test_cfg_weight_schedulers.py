"""Scheduled CFG: the reference cases; every schedule has mean w̄ and the stated monotonicity; `ddim_steps` are
the steps DDIM visits; with exact predictors the guided noise is that of p_t(x) p_t(c | x)^w (finite differences
of the known log-densities), and w = 1 samples the class exactly as the conditional predictor does; the guided
noise of the toy agrees with a Monte Carlo (importance-sampled Tweedie) estimate — the adapter proposed for the
family contract; bad input; the quick run; the recorded run."""

import numpy as np
import pytest

from refimpl.experiments import freshness, recorded
from refimpl.techniques.diffusion_generative import cfg_weight_schedulers as CW
from refimpl.techniques.diffusion_generative.cfg_weight_schedulers.cases import reference_cases
from refimpl.techniques.diffusion_generative.samplers import ddim_sample, exact_eps
from refimpl.techniques.diffusion_generative.schedules import alpha_bars, linear_betas
from refimpl.techniques.diffusion_generative.toys import GaussianMixture

SLUG = "cfg-weight-schedulers"


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


@pytest.mark.parametrize("schedule", CW.SCHEDULES)
@pytest.mark.parametrize("S", [2, 7, 20])
def test_every_schedule_has_mean_w_bar(schedule, S):
    w = CW.guidance_weights(schedule, 2.5, S)
    assert w.shape == (S,) and np.mean(w) == pytest.approx(2.5, rel=1e-12)
    d = np.diff(w)
    if "increasing" in schedule:
        assert np.all(d > 0)
    elif "decreasing" in schedule:
        assert np.all(d < 0)
    else:
        assert np.all(d == 0)


def test_decreasing_is_increasing_reversed():
    up, down = (
        CW.guidance_weights("linear-increasing", 3.0, 9),
        CW.guidance_weights("linear-decreasing", 3.0, 9),
    )
    np.testing.assert_allclose(down, up[::-1], atol=1e-14)


@pytest.mark.parametrize("T, S", [(100, 20), (50, 7), (10, 10)])
def test_ddim_steps_are_the_steps_ddim_visits(T, S):
    seen = []

    def eps(x, t):
        seen.append(int(t))
        return np.zeros_like(x)

    ddim_sample(eps, (3, 2), alpha_bars(linear_betas(T, 1e-3, 0.15)), S, 0)
    np.testing.assert_array_equal(seen, CW.ddim_steps(T, S))


def _two_class():
    means = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])
    return GaussianMixture(means, 0.3), GaussianMixture(means[[0, 2]], 0.3)


def test_guided_eps_is_the_noise_of_the_tilted_density():
    """ε̂ = −√(1 − ᾱ) ∇[log p_t(x) + w log p_t(c | x)], p_t(c | x) = ½ p_t(x | c)/p_t(x): by central differences."""
    full, cls = _two_class()
    abar, w = np.array([0.3, 0.6]), 2.5
    x = np.array([[0.4, -0.2], [0.1, 0.7], [-0.9, 0.3]])
    got = CW.scheduled_cfg_eps(exact_eps(cls, abar), exact_eps(full, abar), [w, w], [1, 0])(x, 1)
    a = abar[1]

    def log_tilted(z):
        pf, pc = full.noised(np.sqrt(a), np.sqrt(1 - a)), cls.noised(np.sqrt(a), np.sqrt(1 - a))
        return pf.log_prob(z) + w * (pc.log_prob(z) - pf.log_prob(z))

    h, grad = 1e-5, np.zeros_like(x)
    for j in range(2):
        e = np.zeros(2)
        e[j] = h
        grad[:, j] = (log_tilted(x + e) - log_tilted(x - e)) / (2 * h)
    np.testing.assert_allclose(got, -np.sqrt(1 - a) * grad, rtol=1e-6, atol=1e-8)


def test_constant_w_one_is_the_conditional_sampler():
    full, cls = _two_class()
    abar = alpha_bars(linear_betas(40, 1e-3, 0.2))
    eps = CW.scheduled_cfg_eps(
        exact_eps(cls, abar),
        exact_eps(full, abar),
        CW.guidance_weights("constant", 1.0, 8),
        CW.ddim_steps(40, 8),
    )
    a = ddim_sample(eps, (50, 2), abar, 8, 3)
    b = ddim_sample(exact_eps(cls, abar), (50, 2), abar, 8, 3)
    np.testing.assert_allclose(a, b, atol=1e-12)


# --- the adapter proposed for the family contract (tests/techniques/diffusion_generative/…_contract.py) -------
_CW_FULL, _CW_CLS = _two_class()
_CW_ABAR = np.array([0.5])
_CW_POINTS = np.array([[0.5, 0.2], [-0.3, 0.6], [0.1, -0.8]])
_CW_W = CW.guidance_weights("linear-increasing", 2.0, 5)[3]  # w_3 = 3 of the catalogue's schedule


def _cw_predict():
    eps = CW.scheduled_cfg_eps(exact_eps(_CW_CLS, _CW_ABAR), exact_eps(_CW_FULL, _CW_ABAR), [_CW_W], [0])
    return eps(_CW_POINTS, 0)


def _cw_simulate(seed):
    """ε_c and ε_u by Tweedie with E[x₀ | x_t] importance-sampled from clean draws, combined with the weight."""
    rng = np.random.default_rng(seed)
    a = _CW_ABAR[0]

    def tweedie_eps(mixture):
        x0, _ = mixture.sample(100_000, rng)
        d2 = ((_CW_POINTS[:, None, :] - np.sqrt(a) * x0[None]) ** 2).sum(-1)
        lw = -d2 / (2 * (1 - a))
        wts = np.exp(lw - lw.max(1, keepdims=True))
        mean_x0 = wts @ x0 / wts.sum(1, keepdims=True)
        return (_CW_POINTS - np.sqrt(a) * mean_x0) / np.sqrt(1 - a)

    return CW.cfg_combine(tweedie_eps(_CW_FULL), tweedie_eps(_CW_CLS), _CW_W)


def test_contract_adapter_simulations_agree_with_the_prediction():
    pred = _cw_predict()
    sims = [_cw_simulate(s) for s in range(12)]
    assert not np.array_equal(sims[0], sims[1]) and np.array_equal(_cw_simulate(0), sims[0])
    np.testing.assert_allclose(np.mean(sims, axis=0), pred, rtol=0.05)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="schedule"):
        CW.guidance_weights("exponential", 1.0, 5)
    with pytest.raises(ValueError, match="S"):
        CW.guidance_weights("constant", 1.0, 1)
    with pytest.raises(ValueError, match="one shape"):
        CW.cfg_combine(np.zeros(2), np.zeros(3), 1.0)
    with pytest.raises(ValueError, match="one weight per visited step"):
        CW.scheduled_cfg_eps(None, None, [1.0, 2.0], [0])
    with pytest.raises(KeyError, match="not one of the scheduled steps"):
        CW.scheduled_cfg_eps(lambda x, t: x, lambda x, t: x, [1.0], [3])(np.zeros((1, 2)), 2)


def test_quick_run(quick_result):
    r = quick_result(SLUG)
    assert r.quick and len(r.selected) == 5


def test_recorded_full_run():
    """On the recorded result: fresh, ≥ 3 seeds, every schedule chose a w̄ on validation."""
    assert freshness(SLUG) == "fresh"
    r = recorded(SLUG)
    assert not r.quick and len(r.seeds) >= 3
    assert all("w_bar" in hp for hp in r.selected.values())
