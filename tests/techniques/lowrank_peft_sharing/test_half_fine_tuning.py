"""Half Fine-Tuning (Hui et al.; arXiv 2404.18466) — reconstructed: the half draw, the frozen half bit-identical
after Adam steps (inside every layer, and by whole layers), the half reset, the quick run, and the claims on
the recorded full result."""

from math import comb

import numpy as np
import pytest

import refimpl as rf
from refimpl.experiments import freshness, recorded
from refimpl.nn import Linear, ReLU, Sequential
from refimpl.optim import Adam
from refimpl.techniques.lowrank_peft_sharing import half_fine_tuning as H
from refimpl.techniques.lowrank_peft_sharing.half_fine_tuning.cases import reference_cases

SLUG = "half-fine-tuning"


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


def test_select_half_is_exact_and_reaches_every_half():
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(300):
        m = H.select_half(4, rng)
        assert m.sum() == 2
        seen.add(tuple(m))
    assert len(seen) == comb(4, 2)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="n_groups"):
        H.select_half(0)
    with pytest.raises(ValueError, match="Linear"):
        H.linear_layers(Sequential(ReLU()))


def _mlp():
    rng = np.random.default_rng(0)
    return Sequential(
        Linear(4, 6, dtype=np.float64, rng=rng),
        ReLU(),
        Linear(6, 6, dtype=np.float64, rng=rng),
        ReLU(),
        Linear(6, 3, dtype=np.float64, rng=rng),
    )


def _adam_steps(model, callback, n=3):
    opt = Adam(model.parameters(), lr=0.05)
    x = rf.tensor(np.random.default_rng(2).normal(size=(5, 4)))
    for _ in range(n):
        opt.zero_grad()
        (model(x) ** 2).sum().backward()
        callback.after_backward(None)
        opt.step()


def test_unit_halves_freeze_half_of_every_layer_bit_identically():
    model = _mlp()
    hft = H.UnitHalves(model, seed=1)
    masks = hft.new_stage()
    assert [m.sum() for m in masks] == [3, 3, 2]  # ⌈6/2⌉, ⌈6/2⌉, ⌈3/2⌉
    before = [(m.weight.data.copy(), m.bias.data.copy()) for _, m in H.linear_layers(model)]
    _adam_steps(model, hft)
    for (_, layer), m, (w, b) in zip(H.linear_layers(model), masks, before):
        np.testing.assert_array_equal(layer.weight.data[~m], w[~m])
        np.testing.assert_array_equal(layer.bias.data[~m], b[~m])
        assert (layer.weight.data[m] != w[m]).any(axis=1).all()  # every trained unit moved
    assert hft.trainable_count() == 3 * 5 + 3 * 7 + 2 * 7
    assert len({tuple(np.concatenate(hft.new_stage())) for _ in range(10)}) > 1


def test_layer_halves_freeze_whole_layers():
    model = _mlp()
    hft = H.LayerHalves(model, seed=0)
    mask = hft.new_stage()
    before = [m.weight.data.copy() for _, m in H.linear_layers(model)]
    _adam_steps(model, hft)
    for (_, layer), on, w in zip(H.linear_layers(model), mask, before):
        assert np.array_equal(layer.weight.data, w) != bool(on)


def test_half_reset_restores_exactly_the_frozen_units():
    model = _mlp()
    hft = H.UnitHalves(model, seed=3)
    masks = hft.new_stage()
    prev = [(m.weight.data.copy(), m.bias.data.copy()) for _, m in H.linear_layers(model)]
    for p in model.parameters():
        p.data += 1.0
    hft.reset_frozen(prev)
    for (_, layer), m, (w, b) in zip(H.linear_layers(model), masks, prev):
        np.testing.assert_array_equal(layer.weight.data[~m], w[~m])
        np.testing.assert_array_equal(layer.bias.data[~m], b[~m])
        np.testing.assert_array_equal(layer.weight.data[m], w[m] + 1.0)


def test_quick_run_measures_every_task_after_the_sequence(quick_result):
    r = quick_result(SLUG)
    for row in r.table:
        assert {"test_accuracy_A", "test_accuracy_B", "test_accuracy_C", "forgetting_A"} <= set(row)
    assert r.premises[0]["metric"] == "forgetting_A" and r.smoke


def full():
    assert freshness(SLUG) == "fresh", f"run `refimpl record {SLUG}`"
    return recorded(SLUG)


def test_full_run_hft_forgets_less_but_learns_the_newest_task_worse():
    """Recorded, 10 seeds: full fine-tuning forgets (premise); HFT keeps far more of task A (interval above
    0) but trails on the newest task by more than the two-point margin (interval below −0.02): the
    stability–plasticity trade, not a free lunch, on this toy."""
    r = full()
    assert r.premises[0]["present"] and r.premises[0]["interval"]["low"] > 0.05
    by = {c["metric"]: c for c in r.claims}
    assert by["test_accuracy_A"]["interval"]["low"] > 0
    assert by["test_accuracy_C"]["interval"]["high"] < -0.02
