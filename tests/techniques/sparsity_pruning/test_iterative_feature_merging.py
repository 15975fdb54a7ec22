"""Iterative Feature Merging: hand cases, an exact merge on a model (the function is kept, the ablation
breaks it), magnitude neuron pruning, the quick run's code path, and the claims on the recorded result."""

import numpy as np
import pytest

from refimpl.autograd.tensor import Tensor, no_grad
from refimpl.experiments import freshness, recorded
from refimpl.nn import MLP
from refimpl.techniques.sparsity_pruning import iterative_feature_merging as ifm
from refimpl.techniques.sparsity_pruning import masks as B
from refimpl.techniques.sparsity_pruning.iterative_feature_merging.cases import reference_cases


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


def _planted(seed=0):
    """An MLP 5-6-4-3 whose hidden layers each hold a positively proportional pair (units 1 and 4 of
    layer 1 with c = 2.5; units 0 and 3 of layer 2 with c = 0.4)."""
    model = MLP([5, 6, 4, 3], rng=np.random.default_rng(seed))
    l1, l2, _ = B.prunable_layers(model).values()
    l1.weight.data[4], l1.bias.data[4] = 2.5 * l1.weight.data[1], 2.5 * l1.bias.data[1]
    l2.weight.data[3], l2.bias.data[3] = 0.4 * l2.weight.data[0], 0.4 * l2.bias.data[0]
    return model


def _forward(model, x):
    with no_grad():
        return np.asarray(model(Tensor(x)).data, dtype=np.float64)


def test_merging_planted_proportional_units_keeps_the_function_and_removing_them_does_not():
    x = np.random.default_rng(1).normal(size=(64, 5)).astype(np.float32)
    model = _planted()
    y0 = _forward(model, x)
    n_dense = ifm.compact_param_count(model)
    assert ifm.merge_units(model, 0.2) == 2  # round(0.2·6) + round(0.2·4) = 1 + 1
    np.testing.assert_allclose(_forward(model, x), y0, rtol=1e-5, atol=1e-5)
    assert [int(a.sum()) for a in ifm.alive_units(model)] == [5, 3]
    assert ifm.compact_param_count(model) == n_dense - (5 + 1 + 4) - (5 + 1 + 3)  # hand count
    ablation = _planted()
    ifm.merge_units(ablation, 0.2, fold=False)
    assert np.abs(_forward(ablation, x) - y0).max() > 1e-2


def test_distance_threshold_merges_only_equivalent_units():
    W = np.array([[1.0, 0.0], [0.0, 1.0], [2.0, 0.0], [-3.0, 0.0]])
    _, alive, merges = ifm.merge_layer(W, np.zeros(4), np.ones((1, 4)), beta=0.01)
    assert alive.tolist() == [False, True, True, True] and len(merges) == 1  # the negative multiple stays
    with pytest.raises(ValueError, match="exactly one"):
        ifm.merge_layer(W, None, np.ones((1, 4)))


def test_magnitude_pruning_removes_the_smallest_units():
    model = MLP([4, 6, 3], rng=np.random.default_rng(2))
    l1 = list(B.prunable_layers(model).values())[0]
    l1.weight.data[[2, 5]] *= 1e-3
    l1.bias.data[[2, 5]] *= 1e-3
    assert ifm.prune_units_by_magnitude(model, 2 / 6) == 2
    assert np.flatnonzero(~ifm.alive_units(model)[0]).tolist() == [2, 5]
    with pytest.raises(ValueError, match="score"):
        ifm.prune_units_by_magnitude(MLP([4, 6, 3], rng=np.random.default_rng(2)), 0.5, score="l1")


def test_quick_run_compares_at_equal_parameter_count(quick_result):
    r = quick_result("iterative-feature-merging")
    params = {row["method"]: row["params"] for row in r.table}
    for regime in r.notes["regimes"]:
        assert len({v for k, v in params.items() if f"/{regime}@" in k}) == 1
    assert [p["metric"] for p in r.premises] == ["median_nn_distance"] * 2
    assert r.smoke


SLUG = "iterative-feature-merging"


def full():
    assert freshness(SLUG) == "fresh", f"run `refimpl record {SLUG}`"
    return recorded(SLUG)


def test_full_run_premise_near_equivalent_units_only_after_small_init():
    r = full()
    small = r.values("ifm/small-init@0.5", "median_nn_distance")
    standard = r.values("ifm/standard@0.5", "median_nn_distance")
    assert max(small) < 0.5, small  # every seed: half the units have a partner with cosine > 0.875
    assert min(standard) > 0.8, standard  # standard init: nearest partners at cosine < 0.68


def test_full_run_ifm_beats_magnitude_neuron_pruning_where_the_premise_holds():
    c = full().claim("[small-init] IFM beats magnitude")
    assert c["interval"]["low"] > 0.02, c["interval"]  # at least two points over magnitude pruning


def test_full_run_folding_beats_removing_where_the_premise_holds():
    c = full().claim("[small-init] folding the outgoing")
    assert c["interval"]["mean"] > 0.05 and c["interval"]["low"] > 0.0, c["interval"]


def test_full_run_folding_gains_nothing_measurable_without_the_premise():
    c = full().claim("[standard] folding the outgoing")
    # the measured contradiction: with no near-equivalent units the fold is no better than removal
    assert c["interval"]["low"] < 0.0 < c["interval"]["high"] and abs(c["interval"]["mean"]) < 0.03, c[
        "interval"
    ]
