"""W-CFM: the reference cases; the Gibbs weights tilt the source marginal as the closed form says (weighted
sampling against `tilted_source_gaussian`); the weighted loss equals the hand-weighted mean of per-pair squared
errors; minibatch OT pairs minimise the total cost against brute force over permutations; bad input; the quick
run; the recorded run."""

from itertools import permutations

import numpy as np
import pytest

from refimpl.experiments import freshness, recorded
from refimpl.techniques.diffusion_generative import weighted_cfm as WC
from refimpl.techniques.diffusion_generative.denoisers import TimeMLP
from refimpl.techniques.diffusion_generative.weighted_cfm.cases import reference_cases

SLUG = "weighted-cfm"


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


def test_weights_tilt_the_source_marginal_as_derived():
    rng = np.random.default_rng(0)
    m, s, eps = 1.5, 0.4, 1.2
    x, y = rng.standard_normal(1_000_000), m + s * rng.normal(size=1_000_000)
    w = WC.gibbs_weights(x[:, None], y[:, None], eps)
    mean = np.sum(w * x) / np.sum(w)
    var = np.sum(w * (x - mean) ** 2) / np.sum(w)
    pm, pv = WC.tilted_source_gaussian(m, s, eps)
    assert mean == pytest.approx(pm, abs=0.01) and var == pytest.approx(pv, abs=0.01)


def test_weighted_loss_is_the_weighted_mean_of_squared_errors():
    model = TimeMLP(2, hidden=8, depth=1, emb_dim=4, rng=0)
    rng = np.random.default_rng(1)
    x, y, t = rng.standard_normal((6, 2)), rng.standard_normal((6, 2)) + 2, rng.uniform(size=6)
    loss = float(WC.wcfm_loss(model, x, y, t, 0.7).data)
    xt = ((1 - t)[:, None] * x + t[:, None] * y).astype(np.float32)
    pred = model(xt, t).data.astype(np.float64)
    by_hand = np.mean(np.exp(-np.sum((x - y) ** 2, 1) / 0.7) * np.sum((pred - (y - x)) ** 2, 1))
    assert loss == pytest.approx(by_hand, rel=1e-5)


def test_minibatch_ot_against_brute_force():
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((6, 2)), rng.standard_normal((6, 2))
    px, py = WC.minibatch_ot_pairs(x, y)
    best = min(sum(np.sum((x[i] - y[p[i]]) ** 2) for i in range(6)) for p in permutations(range(6)))
    assert np.sum((px - py) ** 2) == pytest.approx(best, rel=1e-12)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="eps"):
        WC.gibbs_weights(np.zeros((2, 2)), np.zeros((2, 2)), 0.0)
    with pytest.raises(ValueError, match="cost"):
        WC.gibbs_weights(np.zeros((2, 2)), np.zeros((2, 2)), 1.0, "l1")
    with pytest.raises(ValueError, match="one shape"):
        WC.minibatch_ot_pairs(np.zeros((2, 2)), np.zeros((3, 2)))


def test_quick_run(quick_result):
    r = quick_result(SLUG)
    assert r.quick and len(r.selected) == 3


def test_recorded_full_run():
    """On the recorded per-seed numbers: W-CFM's 2-step SW₂ is below I-CFM's on every seed and its paths are
    straighter on every seed."""
    assert freshness(SLUG) == "fresh"
    r = recorded(SLUG)
    assert not r.quick and len(r.seeds) >= 3
    w, i = "W-CFM (Gibbs-weighted pairs)", "I-CFM (independent pairs)"
    assert np.all(np.array(r.values(w, "sw_2")) < np.array(r.values(i, "sw_2")))
    assert np.all(np.array(r.values(w, "straightness")) < np.array(r.values(i, "straightness")))
