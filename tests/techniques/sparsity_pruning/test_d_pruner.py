"""D-Pruner: the scores by hand (reference cases), the regulariser's effect on the ranking, the quick run's
code path, and the recorded full result's verdicts."""

import numpy as np
import pytest

from refimpl.experiments import freshness, recorded
from refimpl.techniques.sparsity_pruning import d_pruner as dp
from refimpl.techniques.sparsity_pruning.d_pruner.cases import reference_cases

SLUG = "d-pruner"


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


def test_lambda_zero_is_plain_gradient_and_regulariser_raises_generally_important_weights():
    g = np.array([0.5, 0.5])
    G = np.array([0.0, 10.0])
    np.testing.assert_array_equal(dp.regularised_gradient(g, G, 0.0), g)
    s = dp.dpruner_scores(dp.regularised_gradient(g, G, 1.0), np.array([1.0, 1.0]), c3=0.0)
    assert s[1] > s[0]  # equal domain gradient: the generally important weight ranks higher


def test_general_importance_rejects_bad_shapes():
    with pytest.raises(ValueError):
        dp.general_importance(np.ones((2, 3)), np.ones((4, 2)))


def test_quick_run_reaches_the_sparsity_and_is_a_smoke_run(quick_result):
    r = quick_result(SLUG)
    for row in r.table:
        assert abs(row["achieved_sparsity"] - 0.8) < 1e-3
    assert r.smoke


def full():
    assert freshness(SLUG) == "fresh", f"run `refimpl record {SLUG}`"
    return recorded(SLUG)


def test_full_run_premise_domain_only_importance_costs_general_accuracy():
    p = full().premises[0]
    assert p["present"], p["interval"]


def test_full_run_verdicts_are_judged_on_five_seeds():
    r = full()
    assert len(r.seeds) >= 3
    assert {c["verdict"] for c in r.claims} <= {"holds", "fails", "inconclusive", "premise absent"}
