"""NLU on Data Diets (Attendu & Corbeil 2023; arXiv 2306.03208): hand cases, the round structure and the
subsets of `dynamic_diet` against a hand trace, errors, the quick run's code path, and the recorded
full result (no claim of the paper holds on this toy: asserted)."""

import numpy as np
import pytest

from refimpl.experiments import freshness, recorded
from refimpl.experiments.stats import mean_interval
from refimpl.techniques.data_weighting_selection import nlu_data_diets as ND
from refimpl.techniques.data_weighting_selection.nlu_data_diets.cases import reference_cases

SLUG = "nlu-data-diets"


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


class _Trace:
    """A stand-in model whose 'score' of example i after round r is (i · (r + 1)) mod n: a score that
    changes between rounds, so a static and a dynamic run choose different subsets."""

    def __init__(self, n):
        self.n, self.round, self.calls = n, 0, []

    def train_fn(self, model, idx, n_epochs, r):
        self.calls.append((r, n_epochs, tuple(int(i) for i in idx)))
        self.round = r + 1

    def score(self, model, x, y):
        return (np.arange(self.n) * self.round) % self.n * 1.0


def _diet(n=10, **kw):
    t = _Trace(n)
    x, y = np.zeros((n, 2)), np.zeros(n, dtype=np.int64)
    args = dict(epochs=7, prune_epoch=1, frequency=2, keep_fraction=0.3, score_fn=t.score)
    log = ND.dynamic_diet(None, x, y, t.train_fn, **{**args, **kw})
    return t, log


def test_dynamic_diet_rescores_every_round_by_hand():
    t, log = _diet()
    # rounds: 1 full epoch, then int(6/2) = 3 rounds of 2 epochs (no remainder)
    assert [(r, e) for r, e, _ in t.calls] == [(0, 1), (1, 2), (2, 2), (3, 2)]
    assert t.calls[0][2] == tuple(range(10))
    # before round 1 the score is i·1 mod 10 → top 3: 7, 8, 9; before round 2: 2i mod 10 → scores
    # (0,2,4,6,8,0,2,4,6,8): the 8s at 4 and 9, then the first 6 at 3; before round 3: 3i mod 10 →
    # (0,3,6,9,2,5,8,1,4,7): 9 at 3, 8 at 6, 7 at 9
    assert [c[2] for c in t.calls[1:]] == [(7, 8, 9), (3, 4, 9), (3, 6, 9)]
    assert log["train_examples"] == 10 + 3 * 2 * 3 and log["score_forwards"] == 3 * 10
    assert log["train_examples"] == ND.diet_cost(10, 7, 1, 2, 0.3)["train_examples"]


def test_static_is_one_scoring_and_random_none():
    t, log = _diet(frequency=7)
    assert [(r, e) for r, e, _ in t.calls] == [(0, 1), (1, 6)] and log["score_forwards"] == 10
    t, log = _diet(mode="random", seed=3)
    assert log["score_forwards"] == 0 and len({c[2] for c in t.calls[1:]}) > 1  # redrawn each round
    assert all(len(c[2]) == 3 for c in t.calls[1:])


def test_no_initial_phase_starts_random():
    t, log = _diet(prune_epoch=0, epochs=4)
    # the first subset is random (official: prune_epoch = 0 switches the first round to random)
    assert len(t.calls) == 2 and log["score_forwards"] == 10
    assert t.calls[1][2] == (7, 8, 9)  # then the score after round 0: i·1 mod 10


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"mode": "grand"}, "mode"),
        ({"keep_fraction": 0.0}, "keep_fraction"),
        ({"frequency": 0}, "frequency"),
        ({"prune_epoch": 9}, "prune_epoch"),
    ],
)
def test_bad_arguments_are_named(kw, match):
    with pytest.raises(ValueError, match=match):
        _diet(**kw)


def test_keep_top_rejects_window_past_the_pool():
    with pytest.raises(ValueError, match="offset_fraction"):
        ND.keep_top(np.arange(10.0), 0.8, 0.3)


def test_quick_run(quick_result):
    r = quick_result(SLUG)
    assert r.quick and set(r.seeds) == {0, 1}
    # the cost accounting of the arms: 2 full epochs + 8 epochs on half, plus 4 or 1 scorings at ⅓
    np.testing.assert_allclose(r.values("dynamic EL2N keep 0.5", "cost"), 0.2 + 0.4 + 4 / 30, atol=1e-3)
    np.testing.assert_allclose(r.values("static EL2N keep 0.5", "cost"), 0.2 + 0.4 + 1 / 30, atol=1e-3)
    assert np.all(np.asarray(r.values("static EL2N keep 0.5", "turnover")) == 0)


def test_recorded_result_no_claim_holds():
    assert freshness(SLUG) == "fresh"
    r = recorded(SLUG)

    def diff(a, b):
        return np.asarray(r.values(a, "test_accuracy")) - np.asarray(r.values(b, "test_accuracy"))

    # the premise, from the record: on average more than half of the pool is learned at epoch 2
    assert np.mean(r.values("dynamic EL2N keep 0.5", "easy_fraction")) > 0.5
    # the subsets do move between rescorings (so the static ablation differs from the method)
    assert np.mean(r.values("dynamic EL2N keep 0.5", "turnover")) > 0.05
    # no claim holds: keeping 50 % by dynamic EL2N loses about a point to the full data on average (before
    # the grids were widened the whole interval was below −0.5 point; now it reaches past 0), and at the
    # same cost in examples the full data is not beaten (the interval's low end is below 0)
    d = diff("dynamic EL2N keep 0.5", "full data")
    assert d.mean() < -0.005 and mean_interval(d).low < -0.01
    assert mean_interval(diff("dynamic EL2N keep 0.5", "full data, cost of keep 0.5")).low < 0
    # no measurable gain from rescoring at keep 0.5: dynamic − static within ±1 point on average
    assert abs(diff("dynamic EL2N keep 0.5", "static EL2N keep 0.5").mean()) < 0.01
    verdicts = [c["verdict"] for c in r.claims]
    assert "holds" not in verdicts, verdicts
    # and the dynamic run pays for its rescoring: 3 more scorings of N forwards at ⅓ = 0.1 of a full run
    extra = np.mean(r.values("dynamic EL2N keep 0.5", "cost")) - np.mean(
        r.values("static EL2N keep 0.5", "cost")
    )
    assert extra == pytest.approx(0.1, abs=1e-9)
