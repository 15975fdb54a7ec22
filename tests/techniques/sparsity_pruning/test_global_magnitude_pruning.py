"""Global magnitude pruning with the Minimum Threshold: hand cases, exact targets on a model, the
official MT procedure, the quick run's code path, and the paper's claims on the recorded full result."""

import numpy as np
import pytest

from refimpl.experiments import freshness, recorded
from refimpl.nn import MLP
from refimpl.techniques.sparsity_pruning import global_magnitude_pruning as gmp
from refimpl.techniques.sparsity_pruning import masks as B
from refimpl.techniques.sparsity_pruning.global_magnitude_pruning.cases import reference_cases


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


def test_prune_model_hits_the_target_and_a_global_threshold_separates_pruned_and_kept():
    model = MLP([6, 8, 3], rng=np.random.default_rng(0))
    w = {n: m.weight.data.copy() for n, m in B.prunable_layers(model).items()}
    masks = gmp.prune_model(model, 0.75, "global")
    rows = B.sparsity_report(model)
    n = sum(a.size for a in w.values())
    assert rows[-1]["nonzero"] == n - round(0.75 * n)
    pruned = np.concatenate([np.abs(w[k])[masks[k] == 0] for k in w])
    kept = np.concatenate([np.abs(w[k])[masks[k] == 1] for k in w])
    assert pruned.max() <= kept.min()
    # uniform: every layer at the target
    gmp.prune_model(B.remove_masks(model, bake=False), 0.75, "uniform")
    for r in B.sparsity_report(model)[:-1]:
        assert r["weights"] - r["nonzero"] == round(0.75 * r["weights"])
    with pytest.raises(ValueError, match="scheme"):
        gmp.prune_model(model, 0.5, "local")


def test_min_threshold_floor_is_respected_on_a_model():
    model = MLP([6, 8, 3], rng=np.random.default_rng(1))
    for name, mod in B.prunable_layers(model).items():
        if name == "2":
            mod.weight.data *= 1e-3  # make the last layer tiny: plain global MP wipes it out
    gmp.prune_model(model, 0.8, "global")
    assert B.sparsity_report(model)[1]["nonzero"] == 0
    B.remove_masks(model, bake=False)
    gmp.prune_model(model, 0.8, "global", min_keep=5)
    assert B.sparsity_report(model)[1]["nonzero"] == 5


def test_mt_count_and_dead_units():
    assert gmp.mt_count(84480, 0.05) == 42  # int(84480 · 0.05 / 100) = int(42.24)
    assert gmp.dead_units(np.array([[0, 0], [1, 0], [0, 0]])) == 2
    with pytest.raises(ValueError, match="min_threshold_percent"):
        gmp.mt_count(10, -1)


def test_quick_run_prunes_to_the_target_and_measures_the_premise(quick_result):
    r = quick_result("global-magnitude-pruning")
    for row in r.table:  # achieved sparsity equals the arm's target to one weight (84,480 prunable weights)
        target = float(row["method"].split("@")[1])
        assert abs(row["achieved_sparsity"] - target) * 84480 <= 1.0
    assert r.premises[0]["metric"] == "dead_output_units"
    assert r.smoke  # two seeds and one learning rate: not evidence


SLUG = "global-magnitude-pruning"


def full():
    assert freshness(SLUG) == "fresh", f"run `refimpl record {SLUG}`"
    return recorded(SLUG)


def test_full_run_premise_global_mp_starves_the_output_layer():
    r = full()
    dead = r.values("global@0.99", "dead_output_units")
    assert min(dead) >= 1, dead  # every seed leaves at least one class with no incoming weight
    assert r.values("global+MT@0.99", "dead_output_units") == [0.0] * len(r.seeds)


def test_full_run_global_matches_uniform_at_moderate_sparsity():
    c = full().claim("Global MP matches")
    assert c["interval"]["low"] > -0.01, c["interval"]  # within one point of uniform MP, over seeds


def test_full_run_min_threshold_recovers_accuracy_where_global_collapses():
    c = full().claim("The Minimum Threshold")
    assert c["interval"]["low"] > 0.1, c["interval"]  # a large, clear gain: ten points at the least
