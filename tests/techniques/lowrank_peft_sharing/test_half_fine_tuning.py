"""Half Fine-Tuning (Hui et al.; arXiv 2404.18466) — reconstructed."""

from math import comb

import numpy as np
import pytest

import refimpl as rf
from refimpl.nn import Linear, ReLU, Sequential
from refimpl.optim import Adam
from refimpl.techniques.lowrank_peft_sharing import half_fine_tuning as H

SLUG = "half-fine-tuning"


@pytest.mark.parametrize("case", H.reference_cases(), ids=lambda c: c.name)
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
    assert len(H.all_halves(5)) == comb(5, 3) and all(m.sum() == 3 for m in H.all_halves(5))


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="n_groups"):
        H.select_half(0)
    with pytest.raises(ValueError, match="method"):
        H.run_sequence("lora")
    with pytest.raises(ValueError, match="Linear"):
        H.linear_groups(Sequential(ReLU()))


def _mlp():
    rng = np.random.default_rng(0)
    return Sequential(
        Linear(4, 6, dtype=np.float64, rng=rng),
        ReLU(),
        Linear(6, 6, dtype=np.float64, rng=rng),
        ReLU(),
        Linear(6, 6, dtype=np.float64, rng=rng),
        ReLU(),
        Linear(6, 3, dtype=np.float64, rng=rng),
    )


def test_frozen_half_is_bit_identical_after_steps_and_new_stage_reselects():
    model = _mlp()
    hft = H.HalfFineTuning(H.linear_groups(model), seed=1)
    names = hft.new_stage()
    assert len(names) == 2
    before = {n: [p.data.copy() for p in ps] for n, ps in hft.groups}
    opt = Adam(hft.trainable_parameters(), lr=0.05, weight_decay=0.1)
    x = rf.tensor(np.random.default_rng(2).normal(size=(5, 4)))
    for _ in range(3):
        opt.zero_grad()
        (model(x) ** 2).sum().backward()
        opt.step()
    for n, ps in hft.groups:
        changed = any(not np.array_equal(p.data, b) for p, b in zip(ps, before[n]))
        assert changed == (n in names), n
        if n not in names:
            assert all(p.grad is None for p in ps)
    stages = {tuple(hft.new_stage()) for _ in range(20)}
    assert len(stages) > 1


def test_half_reset_restores_exactly_the_unselected_groups():
    model = _mlp()
    prev = {k: v.copy() for k, v in model.state_dict().items()}
    for p in model.parameters():
        p.data += 1.0
    mask = np.array([True, False, True, False])
    H.half_reset(model, prev, mask)
    np.testing.assert_array_equal(model[2].weight.data, prev["2.weight"])
    np.testing.assert_array_equal(model[6].bias.data, prev["6.bias"])
    np.testing.assert_array_equal(model[0].weight.data, prev["0.weight"] + 1.0)


def test_demo_stage_b_hft_forgets_less_than_full_ft(demo_result):
    for seed in (0, 1):
        m = demo_result(SLUG, seed)["metrics"]
        assert m["stageB_hft_mean_acc_A"] > m["stageB_full_acc_A"] + 0.03
        assert m["stageB_hft_mean_acc_B"] > 0.85
        assert m["stageB_half_reset_acc_A"] > m["stageB_full_acc_A"]
