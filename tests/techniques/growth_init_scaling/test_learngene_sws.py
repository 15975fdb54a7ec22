"""Learngene via stage-wise weight sharing (Xia et al., 2024; arXiv 2404.16897): hand cases, shared-weight
gradients against the untied network in float64, the expansion's exact function preservation at the
auxiliary model's own depth, independence of the expanded copies, weight selection's index rule, errors,
the quick run's code path, and the recorded full result."""

import numpy as np
import pytest

from refimpl.autograd import tensor
from refimpl.experiments import freshness, recorded
from refimpl.nn import functional as F
from refimpl.techniques.growth_init_scaling import learngene_sws as SWS
from refimpl.techniques.growth_init_scaling.learngene_sws.cases import reference_cases
from refimpl.techniques.growth_init_scaling.learngene_sws.experiment import DEPTHS, select_from_teacher

SLUG = "learngene-sws"


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


def _aux(counts=(2, 3), seed=0):
    return SWS.auxiliary_model(5, 6, 7, 3, counts, dtype=np.float64, rng=seed)


def _x(seed=1):
    return np.random.default_rng(seed).normal(size=(4, 5))


def test_auxiliary_model_holds_one_block_per_stage():
    aux = _aux((2, 3))
    assert len({id(b) for b in aux.blocks}) == 2 and aux.depth == 5
    genes = SWS.learngene(aux)
    assert [aux.blocks[i] is genes[0] for i in range(2)] == [True, True]
    assert all(aux.blocks[i] is genes[1] for i in range(2, 5))
    per_block = 6 * 2 + (6 * 7 + 7) + (7 * 6 + 6)  # LN γ, β; fc1; fc2
    rest = (5 * 6 + 6) + 6 * 2 + (6 * 3 + 3)  # embedding, final LN, head
    assert aux.num_parameters() == 2 * per_block + rest  # shared weights counted once


def test_shared_gradient_is_the_sum_over_the_untied_copies_in_float64():
    """Stage-wise sharing: ∂L/∂θ_s = Σ over the stage's layers of the untied layer's gradient (engine
    accumulation), checked against a descendant with the same stage counts (same function)."""
    aux = _aux((2, 3))
    aux.head.weight.data[...] *= 3.0  # a gradient away from zero
    desc = SWS.init_from_learngene(SWS.descendant_model(5, 6, 7, 3, (2, 3), dtype=np.float64, rng=5), aux)
    x, y = _x(), np.array([0, 1, 2, 1])
    for m in (aux, desc):
        m.zero_grad()
        F.cross_entropy(m(tensor(x)), y).backward()
    genes = SWS.learngene(aux)
    for s, layers in ((0, range(0, 2)), (1, range(2, 5))):
        for name in ("fc1", "fc2", "ln"):
            g_shared = getattr(genes[s], name).weight.grad
            g_untied = sum(getattr(desc.blocks[i], name).weight.grad for i in layers)
            np.testing.assert_allclose(g_shared, g_untied, rtol=1e-10, atol=1e-12)
            assert np.abs(g_shared).max() > 1e-6


def test_shared_gradient_matches_central_differences():
    aux = _aux((2, 1))
    x, y = _x(), np.array([0, 1, 2, 1])
    w = SWS.learngene(aux)[0].fc1.weight
    aux.zero_grad()
    F.cross_entropy(aux(tensor(x)), y).backward()
    analytic = w.grad.copy()
    eps = 1e-6
    for idx in [(0, 0), (3, 2), (6, 5)]:
        old = w.data[idx]
        w.data[idx] = old + eps
        up = float(F.cross_entropy(aux(tensor(x)), y).data)
        w.data[idx] = old - eps
        down = float(F.cross_entropy(aux(tensor(x)), y).data)
        w.data[idx] = old
        assert abs((up - down) / (2 * eps) - analytic[idx]) < 1e-7, idx


def test_expansion_at_the_auxiliary_depth_is_exactly_the_auxiliary_function():
    aux = _aux((2, 3))
    same = SWS.init_from_learngene(SWS.descendant_model(5, 6, 7, 3, (2, 3), dtype=np.float64, rng=9), aux)
    assert np.max(np.abs(same(_x()).data - aux(_x()).data)) == 0.0
    deeper = SWS.init_from_learngene(SWS.descendant_model(5, 6, 7, 3, (4, 4), dtype=np.float64, rng=9), aux)
    assert np.max(np.abs(deeper(_x()).data - aux(_x()).data)) > 1e-6  # a new depth: a new function


def test_expanded_copies_are_untied():
    aux = _aux((1, 2))
    d = SWS.init_from_learngene(SWS.descendant_model(5, 6, 7, 3, (3, 1), dtype=np.float64, rng=2), aux)
    assert len({id(b) for b in d.blocks}) == 4
    np.testing.assert_array_equal(d.blocks[2].fc1.weight.data, SWS.learngene(aux)[0].fc1.weight.data)
    d.blocks[0].fc1.weight.data[...] += 1.0
    assert not np.allclose(d.blocks[1].fc1.weight.data, d.blocks[0].fc1.weight.data)
    np.testing.assert_array_equal(d.blocks[1].fc1.weight.data, SWS.learngene(aux)[0].fc1.weight.data)
    np.testing.assert_array_equal(d.blocks[3].fc2.weight.data, SWS.learngene(aux)[1].fc2.weight.data)


def test_depth_mapped_ablation_takes_the_mapped_source_layers():
    src = SWS.descendant_model(5, 6, 7, 3, (2, 4), dtype=np.float64, rng=3)  # distinct layers
    d = SWS.depth_mapped_init(SWS.descendant_model(5, 6, 7, 3, (3, 2), dtype=np.float64, rng=4), src)
    # stage 0: ⌊j·2/3⌋ = 0, 0, 1 ; stage 1 (source layers 2..5): ⌊j·4/2⌋ = 0, 2 → source layers 2, 4
    for dst, s in zip(range(5), [0, 0, 1, 2, 4]):
        np.testing.assert_array_equal(d.blocks[dst].fc2.weight.data, src.blocks[s].fc2.weight.data)
    np.testing.assert_array_equal(d.head.weight.data, src.head.weight.data)


def test_weight_selection_baseline_keeps_every_other_unit_of_a_twice_wider_teacher():
    teacher = SWS.descendant_model(5, 12, 14, 3, (1, 1, 1), dtype=np.float64, rng=6)
    d = select_from_teacher(SWS.descendant_model(5, 6, 7, 3, (1, 1), dtype=np.float64, rng=7), teacher)
    np.testing.assert_array_equal(d.embed.weight.data, teacher.embed.weight.data[::2])  # 12 → 6, step 2
    np.testing.assert_array_equal(d.blocks[1].fc1.weight.data, teacher.blocks[1].fc1.weight.data[::2, ::2])
    np.testing.assert_array_equal(d.head.weight.data, teacher.head.weight.data[:, ::2])


def test_bad_input_names_the_argument():
    with pytest.raises(ValueError, match="`depth`=2 must be ≥ `n_stages`=3"):
        SWS.stage_plan(2, 3)
    with pytest.raises(ValueError, match="`stage_counts`"):
        SWS.layers_source([2, 0])
    with pytest.raises(ValueError, match="`k`"):
        SWS.depth_map(3, 0)
    with pytest.raises(ValueError, match="`hidden`"):
        SWS.auxiliary_model(5, 6, 0, 3, (1, 1))
    with pytest.raises(ValueError, match="`aux`"):
        SWS.learngene(object())
    with pytest.raises(ValueError, match="does not share one block"):
        SWS.learngene(SWS.descendant_model(5, 6, 7, 3, (2, 1)))
    with pytest.raises(ValueError, match="stages"):
        SWS.init_from_learngene(SWS.descendant_model(5, 6, 7, 3, (1, 1, 1)), _aux((2, 3)))
    with pytest.raises(ValueError, match="sizes"):
        SWS.init_from_learngene(SWS.descendant_model(5, 8, 7, 3, (1, 1)), _aux((2, 3)))
    with pytest.raises(ValueError, match="`T`"):
        SWS.distillation_loss(tensor(np.zeros((1, 2))), np.array([[0.5, 0.5]]), T=0)


def test_quick_run_code_path(quick_result):
    r = quick_result(SLUG)
    assert r.smoke and len(r.premises) == len(DEPTHS) and len(r.claims) == 3 * len(DEPTHS)
    acc = np.asarray(r.arrays["test_accuracy_at_init"])  # (arm, depth, seed)
    assert acc.shape == (4, len(DEPTHS), 2)
    # the expanded learngene starts far above chance, the random initialisation near it
    assert acc[0].min() > 0.5 and acc[1].max() < 0.3, acc


def full():
    assert freshness(SLUG) == "fresh", f"run `refimpl record {SLUG}`"
    return recorded(SLUG)


def _claim(r, depth, start):
    return r.claim(f"At depth {depth}, {start}")["interval"]


def test_full_run_premise_is_clear_only_at_the_deepest_descendant():
    """The teacher's lead over the randomly initialised descendant after the 2-epoch budget is about 2-4
    points on average at every depth, but with 5 seeds the whole interval clears the declared 2 points only
    at depth 8; at depths 3 and 5 the verdicts are therefore "premise absent" (recorded)."""
    ps = full().premises
    for p in ps:
        assert 0.02 < p["interval"]["mean"] < 0.04, p
    assert [p["interval"]["low"] > 0.02 for p in ps] == [False, False, True], [p["interval"] for p in ps]


def test_full_run_sws_beats_random_init_at_every_depth():
    """The paper's distinguishing claim, direction only: the paired interval of SWS − random init lies above
    zero at every depth, and above the declared one-point margin at depth 3."""
    r = full()
    for d in DEPTHS:
        iv = _claim(r, d, "SWS initialisation beats random")
        assert iv["low"] > 0, (d, iv)
    assert _claim(r, 3, "SWS initialisation beats random")["low"] > 0.01


def test_full_run_stage_wise_sharing_matters_by_under_a_point_and_only_at_depth_8():
    """Against the paper's ablation: after the short training SWS and the unshared distilled auxiliary model
    (depth-mapped) differ by less than a point on average at every depth.  At depths 3 and 5 the intervals
    straddle zero; at depth 8 it lies just above zero (it straddled zero too before the learning-rate grid
    was widened to 3e-5).  Fails if the recorded result moves either way."""
    r = full()
    for d in DEPTHS:
        iv = _claim(r, d, "stage-wise sharing matters")
        assert abs(iv["mean"]) < 0.01, (d, iv)
        if d == 8:
            assert 0 < iv["low"], iv
        else:
            assert iv["low"] < 0 < iv["high"], (d, iv)


def test_full_run_sws_is_ahead_of_weight_selection_at_depths_3_and_5():
    r = full()
    for d in (3, 5):
        assert _claim(r, d, "SWS beats weight selection")["low"] > 0, d
    iv = _claim(r, 8, "SWS beats weight selection")
    assert iv["low"] < 0 < iv["high"], iv


def test_full_run_post_hoc_sharing_helps_at_initialisation_away_from_the_auxiliary_depth():
    """Post hoc (not a declared claim): before any training, at the depths whose stage split differs most
    from the auxiliary model's (3 and 8), the expanded learngene is at least as accurate as the depth-mapped
    unshared model in every seed — the "expansion guidance" the paper attributes to sharing."""
    r = full()
    for d in (3, 8):
        gap = np.subtract(
            r.values(f"SWS (depth {d})", "test_accuracy_at_init"),
            r.values(f"unshared aux, depth-mapped (depth {d})", "test_accuracy_at_init"),
        )
        assert gap.min() > 0, (d, gap)
