"""Pre-training joint fine-tuning (Choi et al. 2023; arXiv 2312.06134): hand cases of the temperature
sampler and the schedule, properties of the proportions (float64 and float32 inputs), the mixture sampler
against its proportions (brute-force frequencies), errors naming the argument, the quick run, and the
claims on the recorded full result.  No custom backward: the method only chooses which examples a step
sees, so there is no gradient to check."""

import math

import numpy as np
import pytest

from refimpl.experiments import freshness, recorded
from refimpl.experiments.stats import mean_interval
from refimpl.techniques.data_weighting_selection import pretrain_then_mix as PTM
from refimpl.techniques.data_weighting_selection.pretrain_then_mix.cases import reference_cases

SLUG = "pretrain-then-mix"
STATIC = ["static T=1", "static T=2", "static T=5", "static T=inf"]


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-12), (np.float32, 1e-6)])
def test_proportions_by_hand_in_both_precisions(dtype, tol):
    n = np.array([100, 10, 1], dtype=dtype)
    # T = 2: √n = (10, √10, 1)
    s = np.array([10.0, np.sqrt(10.0), 1.0])
    np.testing.assert_allclose(PTM.temperature_proportions(n, 2.0), s / s.sum(), rtol=tol, atol=tol)
    np.testing.assert_allclose(PTM.temperature_proportions(n, 1.0), [100 / 111, 10 / 111, 1 / 111], rtol=tol)


def test_proportions_properties():
    n = np.array([20000.0, 200.0])
    shares = [PTM.temperature_proportions(n, t)[1] for t in (0.5, 1, 2, 5, 50, math.inf)]
    assert np.all(np.diff(shares) > 0)  # the low-resource share rises with T
    assert abs(shares[-2] - 0.5) < 0.03 and shares[-1] == 0.5  # T → ∞: uniform
    p = PTM.temperature_proportions(n, 1e-3)  # T → 0: all mass on the largest task, no overflow
    assert p[0] == pytest.approx(1.0) and np.all(np.isfinite(p))


def test_mixture_sampler_matches_its_proportions():
    sizes, p = np.array([50, 3, 7]), np.array([0.6, 0.3, 0.1])
    idx = PTM.mixture_indices(sizes, p, 60000, seed=4)
    assert idx.dtype == np.int64 and idx.min() >= 0 and idx.max() < sizes.sum()
    task = np.searchsorted(np.cumsum(sizes), idx, side="right")
    freq = np.bincount(task, minlength=3) / len(idx)
    np.testing.assert_allclose(freq, p, atol=0.01)  # binomial std ≤ 0.002
    within = np.bincount(idx[task == 1] - 50, minlength=3) / np.sum(task == 1)
    np.testing.assert_allclose(within, np.full(3, 1 / 3), atol=0.02)  # uniform inside a task
    np.testing.assert_array_equal(idx, PTM.mixture_indices(sizes, p, 60000, seed=4))


def test_schedule_phases():
    n = [100.0, 1.0]
    static = PTM.schedule(n, 5.0, 10, 0, high=[0])
    assert len(static) == 1 and static[0][0] == 10
    np.testing.assert_allclose(static[0][1], PTM.temperature_proportions(n, 5.0))
    two = PTM.schedule([6.0, 2.0, 1.0], math.inf, 9, 9, high=[0, 1])
    assert len(two) == 1 and two[0][0] == 9
    np.testing.assert_allclose(two[0][1], [0.75, 0.25, 0.0])  # proportional among the high tasks


@pytest.mark.parametrize(
    "call,name",
    [
        (lambda: PTM.temperature_proportions([1.0, 0.0], 1.0), "sizes"),
        (lambda: PTM.temperature_proportions([1.0, 2.0], 0.0), "temperature"),
        (lambda: PTM.mixture_indices([2, 1], [0.5, 0.6], 3, 0), "proportions"),
        (lambda: PTM.mixture_indices([2.5, 1], [0.5, 0.5], 3, 0), "sizes"),
        (lambda: PTM.mixture_indices([2, 1], [0.5, 0.5], -1, 0), "num_draws"),
        (lambda: PTM.schedule([2.0, 1.0], 1.0, 5, 6, high=[0]), "pretrain_steps"),
        (lambda: PTM.schedule([2.0, 1.0], 1.0, 5, 2, high=[2]), "high"),
    ],
)
def test_errors_name_the_argument(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_quick_run(quick_result):
    r = quick_result(SLUG)
    assert r.quick and r.seeds == [0]
    assert set(r.notes["arms"]) == {*STATIC, "pretrain-then-mix T=5", "pretrain-then-mix T=inf", "low-only"}
    c = np.asarray(r.arrays["curve low static T=inf"])
    assert c.shape == (1, 20) and np.all(np.isfinite(c))
    # the pre-training phase never shows the low-resource task: half the examples static T=∞ sees
    assert r.values("pretrain-then-mix T=inf", "low_examples_seen")[0] == pytest.approx(
        0.5 * r.values("static T=inf", "low_examples_seen")[0]
    )


def test_recorded_claims():
    assert freshness(SLUG) == "fresh"
    r = recorded(SLUG)
    assert len(r.seeds) >= 3

    def v(m, k):
        return np.asarray(r.values(m, k))

    def diff(a, b, k):
        return v(a, k) - v(b, k)

    # premises from the record: upsampling overfits the low-resource task, and the tasks transfer
    assert mean_interval(v("static T=inf", "low_overfit")).low > 0.05
    assert mean_interval(diff("static T=inf", "low-only", "min_val_low")).high < -0.05
    # the ablation lacking only the order (static sampling at the same T): pre-training then mixing is
    # better on the high-resource task at T=∞ and on the mean of both tasks at T=5
    assert mean_interval(diff("pretrain-then-mix T=inf", "static T=inf", "test_high")).high < 0
    assert mean_interval(diff("pretrain-then-mix T=5", "static T=5", "test_mean")).high < 0
    # the front: pre-train-then-mix at T=5 is dominated by no static arm (mean test losses) and has the
    # lowest low-resource loss of all static arms
    h, lo = v("pretrain-then-mix T=5", "test_high").mean(), v("pretrain-then-mix T=5", "test_low").mean()
    for m in STATIC:
        assert not (v(m, "test_high").mean() < h and v(m, "test_low").mean() < lo), m
        assert v(m, "test_low").mean() > lo, m
    # the measured contradiction: at T=∞ it does not reach static T=2's low-resource loss (interval > 0)
    assert mean_interval(diff("pretrain-then-mix T=inf", "static T=2", "test_low")).low > 0
