"""The reusable holdout: the reference cases; Thresholdout's answer noise is Laplace(σ) and its threshold test
uses Laplace noise (distribution checks by simulation); the analyst and the data generator behave as stated;
bad input; the recorded run."""

import numpy as np
import pytest
from scipy import stats

from refimpl.experiments import freshness, recorded
from refimpl.techniques.theory_generalization import adaptive_data_analysis as AD
from refimpl.techniques.theory_generalization.adaptive_data_analysis.cases import reference_cases

SLUG = "adaptive-data-analysis"


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


def test_overflow_answers_carry_laplace_noise():
    mech = AD.Thresholdout(0.0, 0.05, rng=1)
    noise = np.array([mech.query(np.zeros(3), np.full(3, 10.0)) - 10.0 for _ in range(5000)])
    assert mech.overflows == 5000
    assert stats.kstest(noise, stats.laplace(scale=0.05).cdf).pvalue > 0.01


def test_agreement_keeps_the_holdout_untouched_and_disagreement_consults_it():
    """T = 10σ: a query whose two means agree overflows only when γ + η < −T (rare); one that disagrees by
    T + 20σ overflows unless γ + η > 20σ (rare)."""
    agree, disagree = AD.Thresholdout(0.1, 0.01, rng=2), AD.Thresholdout(0.1, 0.01, rng=3)
    for _ in range(2000):
        agree.query([0.3], [0.3])
        disagree.query([0.0], [0.3])
    assert agree.overflows / 2000 < 0.1
    assert disagree.overflows / 2000 > 0.9


def test_make_data_signal_and_analyst_shapes():
    X, y = AD.make_data(4000, 5, signal=2, strength=0.5, rng=3)
    corr = (X * y[:, None]).mean(0)
    assert np.all(np.abs(corr[:2] - 0.5) < 0.05) and np.all(np.abs(corr[2:]) < 0.05)
    sets = [AD.make_data(300, 40, rng=s) for s in range(3)]
    out = AD.select_and_classify(*sets, AD.naive_holdout, (1, 5))
    assert out["reported"].shape == (2,) and np.all((0 <= out["fresh"]) & (out["fresh"] <= 1))


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="threshold"):
        AD.Thresholdout(-0.1, 0.01)
    with pytest.raises(ValueError, match="sigma"):
        AD.Thresholdout(0.1, np.nan)


def test_recorded_full_run():
    """On the recorded per-seed numbers: the reused holdout overfits (its reported accuracy exceeds fresh data's
    by more than 0.05 at its best k on every seed, with no signal) and Thresholdout's mean gap is smaller than
    the naive one on average; with signal Thresholdout's pick is above 0.55 on fresh data on average."""
    assert freshness(SLUG) == "fresh"
    r = recorded(SLUG)
    assert not r.quick and len(r.seeds) >= 3
    assert min(r.values("naive reuse, no signal", "max_gap")) > 0.05
    assert np.mean(r.values("Thresholdout, no signal", "mean_gap")) < np.mean(
        r.values("naive reuse, no signal", "mean_gap")
    )
    assert np.mean(r.values("Thresholdout, signal", "fresh_at_best")) > 0.55
