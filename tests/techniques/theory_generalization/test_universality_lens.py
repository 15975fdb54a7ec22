"""The universality lens: the reference cases; the mixture bound on every possible count (exhaustively) for every
hypothesis; the regret against a direct sequential computation of the mixture's predictive; the chunked mixture
equals the one-shot one; the weight bound against a direct loop; bad input; the recorded run."""

import numpy as np
import pytest
from scipy.special import logsumexp

from refimpl.experiments import freshness, recorded
from refimpl.techniques.theory_generalization import universality_lens as UL
from refimpl.techniques.theory_generalization.universality_lens.cases import reference_cases

SLUG = "universality-lens"


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


def test_mixture_bound_holds_for_every_count_and_hypothesis():
    thetas = np.array([0.05, 0.3, 0.5, 0.9])
    w = np.array([0.1, 0.2, 0.6, 0.1])
    k = np.arange(31)
    for h, wh in zip(thetas, w):
        assert np.all(UL.mixture_regret(k, 30, thetas, w, h) <= -np.log(wh) + 1e-12)


def test_regret_equals_the_sequential_predictive_log_loss():
    """Score a concrete sequence symbol by symbol with the posterior-predictive mixture: same total."""
    thetas, w = np.array([0.2, 0.5, 0.7]), np.array([0.5, 0.3, 0.2])
    x = [1, 0, 0, 1, 1, 0, 1]
    post, loss = np.log(w), 0.0
    for xt in x:
        pred1 = np.exp(logsumexp(post + np.log(thetas)) - logsumexp(post))
        loss -= np.log(pred1 if xt else 1 - pred1)
        post = post + np.log(thetas if xt else 1 - thetas)
    ref = -(sum(x) * np.log(0.5) + (len(x) - sum(x)) * np.log(0.5))
    assert UL.mixture_regret(sum(x), len(x), thetas, w, 0.5) == pytest.approx(loss - ref, rel=1e-12)


def test_chunked_mixture_matches_one_shot():
    thetas, w = (np.arange(50_000) + 0.5) / 50_000, np.ones(50_000)
    k = np.array([0, 7, 50, 100])
    direct = (
        -logsumexp(np.log(w / w.sum()) + UL.log_likelihoods(k, 100, thetas), axis=-1)
        + UL.log_likelihoods(k, 100, [0.3])[..., 0]
    )
    np.testing.assert_allclose(UL.mixture_regret(k, 100, thetas, w, 0.3), direct, rtol=1e-12)


def test_weight_bound_against_a_direct_loop():
    thetas, w = (np.arange(500) + 0.5) / 500, np.ones(500)
    eps = np.geomspace(1e-5, 1, 40)
    direct = min(
        -np.log(UL.ball_weight(0.2, e, thetas, w)) + 80 * e
        for e in eps
        if UL.ball_weight(0.2, e, thetas, w) > 0
    )
    assert UL.weight_bound(0.2, 80, thetas, w, eps) == pytest.approx(direct, rel=1e-12)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="strictly between"):
        UL.mixture_regret([1], 2, [0.0, 0.5], [1, 1], 0.5)
    with pytest.raises(ValueError, match="weights"):
        UL.mixture_regret([1], 2, [0.2, 0.5], [1], 0.5)


def test_recorded_full_run():
    """On the recorded per-seed numbers: the regret at θ* = 0.2 is the same for N = 10² and 10⁵ within 0.1 nats on
    every seed, below the weight bound at every truth, more than 5 nats under log 10⁵, and the hardest truth costs
    more than the simplest on every seed."""
    assert freshness(SLUG) == "fresh"
    r = recorded(SLUG)
    assert not r.quick and len(r.seeds) >= 3
    big, small = "uniform prior over N = 100,000", "uniform prior over N = 100"
    diff = np.array(r.values(big, "regret_0p2")) - np.array(r.values(small, "regret_0p2"))
    assert np.abs(diff).max() < 0.1
    assert max(r.values(big, "max_bound_gap")) < 0
    assert min(r.values(big, "logN_minus_regret")) > 5
    assert min(r.values(big, "complex_minus_simple")) > 1
