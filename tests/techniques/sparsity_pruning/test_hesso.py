"""HESSO: hand cases of the saliency and the schedule, the projection on a model (groups shrink linearly and
land exactly on zero, the rest untouched), the quick run's code path, and the recorded full result."""

import numpy as np
import pytest

from refimpl.experiments import freshness, recorded
from refimpl.nn import MLP
from refimpl.optim import Adam
from refimpl.techniques.sparsity_pruning import hesso as H
from refimpl.techniques.sparsity_pruning import masks as B
from refimpl.techniques.sparsity_pruning.hesso.cases import reference_cases

SLUG = "hesso"


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


def _groups(model):
    """Rows [W_l[j], b_l[j]] of every hidden unit, computed here from the layers."""
    lay = list(B.prunable_layers(model).values())
    rows = []
    for a in lay[:-1]:
        for j in range(a.out_features):
            rows.append(np.concatenate([a.weight.data[j], [a.bias.data[j]]]))
    return rows


def test_projection_shrinks_the_chosen_groups_linearly_to_exactly_zero_and_leaves_the_rest():
    model = MLP([4, 3, 2, 2], rng=np.random.default_rng(0))
    g0 = _groups(model)
    norms = [np.linalg.norm(g) for g in g0]
    # without an optimizer the directions are 0: scores = 0.2(‖x‖/‖·‖ + ‖x‖/n/‖·‖) + const, n = 4+1 (layer 1)
    # or 3+1 (layer 2); the lowest-scored unit is found here by brute force over the five
    n = np.array([5] * 3 + [4] * 2, dtype=float)
    a, b = np.array(norms), np.array(norms) / n
    score = a / np.linalg.norm(a) + b / np.linalg.norm(b)
    target_unit = int(np.argmin(score))
    h = H.HESSO(model, target_group_sparsity=0.2, start_step=1, pruning_steps=4, pruning_periods=1)
    assert h.counts == [1]  # int(5 · 0.2) = 1
    h.step()  # warm-up step: nothing moves
    assert all(np.array_equal(x, y) for x, y in zip(_groups(model), g0))
    for t in range(4):
        h.step()
        g = _groups(model)
        np.testing.assert_allclose(g[target_unit], g0[target_unit] * (4 - t - 1) / 4, rtol=1e-6, atol=1e-7)
        for j in range(5):
            if j != target_unit:
                assert np.array_equal(g[j], g0[j])
    assert np.all(_groups(model)[target_unit] == 0)  # exactly zero, not approximately
    assert list(h.pruned) == [target_unit] and h.done
    assert H.zero_groups(model) == 1


def test_pruned_groups_stay_zero_through_adam_steps_and_the_target_is_reached():
    rng = np.random.default_rng(3)
    model = MLP([6, 12, 10, 3], rng=rng)
    opt = Adam(model.parameters(), lr=0.05)
    h = H.HESSO(model, target_group_sparsity=0.5, start_step=2, pruning_steps=6, pruning_periods=3)
    assert h.counts == [3, 3, 5]  # int(22 · 0.5) = 11 over 3 periods, remainder in the last
    x, y = rng.normal(size=(16, 6)).astype(np.float32), rng.integers(0, 3, size=16)
    from refimpl.autograd.tensor import Tensor
    from refimpl.nn import functional as F

    seen = []
    for _ in range(12):
        opt.zero_grad()
        F.cross_entropy(model(Tensor(x)), y).backward()
        opt.step()
        h.step(opt)
        seen.append(H.zero_groups(model))
    # periods end after steps 2+2, 2+4, 2+6: 3, 6, 11 zero groups, and they stay zero
    assert seen[3] == 3 and seen[5] == 6 and seen[7:] == [11] * 5, seen


def test_saliency_rejects_unknown_criteria_and_select_rejects_too_many():
    with pytest.raises(ValueError, match="unknown criteria"):
        H.saliency_scores([np.ones((2, 2))], [np.ones((2, 2))], {"hessian": 1.0})
    with pytest.raises(ValueError, match="unpruned"):
        H.select_redundant([0.1, 0.2], [0], 2)
    with pytest.raises(ValueError, match="0 ≤ t < T"):
        H.forget_factor(3, 3)


def test_install_group_masks_kills_units_in_both_directions():
    model = MLP([4, 3, 2, 2], rng=np.random.default_rng(1))
    H.install_group_masks(model, [1, 3])  # unit 1 of layer 1, unit 0 of layer 2
    m = B.current_masks(model)
    assert np.all(m["0"][1] == 0) and np.all(m["2"][:, 1] == 0)
    assert np.all(m["2"][0] == 0) and np.all(m["4"][:, 0] == 0)
    assert H.zero_groups(model) == 2


def test_quick_run_reaches_the_group_target_in_every_arm(quick_result):
    r = quick_result(SLUG)
    for row in r.table:  # int(128 · 0.85) = 108 of 128 units removed, exactly
        assert row["group_sparsity"] == 108 / 128, row
    assert r.premises[0]["metric"] == "val_drop_at_cut"
    assert r.smoke


def full():
    assert freshness(SLUG) == "fresh", f"run `refimpl record {SLUG}`"
    return recorded(SLUG)


def test_full_run_every_arm_ends_at_the_same_group_sparsity():
    r = full()
    for m in ("hesso", "oneshot-magnitude", "oneshot-saliency"):
        assert r.values(m, "group_sparsity") == [108 / 128] * len(r.seeds), m


def test_full_run_premise_one_shot_cut_costs_accuracy():
    p = full().premises[0]
    assert p["interval"]["low"] > 0.2, p["interval"]  # the cut removes tens of points before fine-tuning


def test_full_run_hesso_vs_one_shot_magnitude_is_not_a_clear_win():
    # measured: HESSO's mean gain over the best one-shot magnitude cut (per layer, chosen on validation) is
    # within about a point and the interval includes 0; this bound fails if either arm moves by > 3 points
    c = full().claim("HESSO beats one-shot magnitude")
    assert -0.03 < c["interval"]["low"] < 0.0 < c["interval"]["high"] < 0.03, c["interval"]


def test_full_run_progressive_projection_beats_one_shot_with_the_same_saliency():
    # the paper's distinguishing idea isolated: the same saliency, progressive vs a one-shot cut
    c = full().claim("The progressive projection")
    assert c["interval"]["low"] > 0.0, c["interval"]
