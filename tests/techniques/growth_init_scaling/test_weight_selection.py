"""Weight selection (Xu et al., 2024; arXiv 2311.18823): hand cases, the official index rule against a loop
transcription, consistency on a model, errors, the quick run's code path, and the paper's claims on the
recorded full result."""

from fractions import Fraction

import numpy as np
import pytest

from refimpl.experiments import freshness, recorded
from refimpl.nn import MLP
from refimpl.techniques.growth_init_scaling import weight_selection as WS
from refimpl.techniques.growth_init_scaling.weight_selection.cases import reference_cases
from refimpl.train import predict

SLUG = "weight-selection"


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


def _official_rule(d, s):
    """weight_selection.py:14-18 transcribed with exact fractions: the step when s divides d, else
    round(k(d−1)/(s−1)) with Python's round of a Fraction (half to even, like torch.round)."""
    if d % s == 0:
        return [k * (d // s) for k in range(s)]
    if s == 1:
        return [0]
    return [round(Fraction(k * (d - 1), s - 1)) for k in range(s)]


def test_uniform_indices_match_the_official_rule_for_all_small_sizes():
    for d in range(1, 40):
        for s in range(1, d + 1):
            got = WS.uniform_indices(d, s)
            assert got.tolist() == _official_rule(d, s), (d, s)
            assert len(set(got.tolist())) == s and got.min() >= 0 and got.max() < d  # distinct, in range
            assert np.all(np.diff(got) > 0)


def test_uniform_indices_agree_with_the_official_torch_expression_except_at_exact_ties():
    """The official `torch.round(torch.linspace(0, d-1, s)).long()` (weight_selection.py:18) in float32:
    equal wherever k(d−1)/(s−1) is not exactly m + ½; at such a tie torch may round either way."""
    torch = pytest.importorskip("torch")
    ties = 0
    for d in range(2, 120):
        for s in range(2, d):
            if d % s == 0:
                continue
            official = torch.round(torch.linspace(0, d - 1, s)).long().numpy()
            ours = WS.uniform_indices(d, s)
            exact = [Fraction(k * (d - 1), s - 1) for k in range(s)]
            for o, w, x in zip(official, ours, exact):
                if x.denominator == 2:
                    ties += 1
                    assert o in (x - Fraction(1, 2), x + Fraction(1, 2)), (d, s, o, x)
                else:
                    assert o == w, (d, s, official, ours)
    assert ties > 0  # the comparison did meet ties


def test_random_indices_are_sorted_distinct_subsets_and_full_size_is_the_identity():
    rng = np.random.default_rng(0)
    for d, s in [(10, 3), (7, 7), (512, 64)]:
        i = WS.random_indices(d, s, rng)
        assert len(i) == s and len(set(i.tolist())) == s and np.all(np.diff(i) > 0) and i.max() < d
    assert WS.random_indices(5, 5, rng).tolist() == [0, 1, 2, 3, 4]
    counts = np.bincount(np.concatenate([WS.random_indices(6, 2, rng) for _ in range(3000)]), minlength=6)
    assert np.all(np.abs(counts / 3000 - 2 / 6) < 0.04), counts  # each index kept with probability s/d


def test_uniform_selection_of_a_full_width_input_layer_copies_teacher_units_exactly():
    """With d_in kept whole, student hidden unit j IS teacher hidden unit I[j] (Sec. 3 consistency)."""
    teacher = MLP([8, 12, 6, 3], rng=np.random.default_rng(1))
    student = WS.init_from_larger(MLP([8, 4, 3, 3], rng=np.random.default_rng(2)), teacher)
    x = np.random.default_rng(3).normal(size=(5, 8)).astype(np.float32)
    h_t, h_s = predict(teacher[:2], x), predict(student[:2], x)
    np.testing.assert_allclose(
        h_s, h_t[:, [0, 3, 6, 9]], rtol=1e-6, atol=1e-6
    )  # 12 → 4, step 3 (float32 BLAS)
    # the second hidden layer of the student reads only the kept units: its weights are the teacher's
    # rows (0, 2, 4) (6 → 3) and columns (0, 3, 6, 9)
    np.testing.assert_array_equal(student[2].weight.data, teacher[2].weight.data[[0, 2, 4]][:, [0, 3, 6, 9]])
    np.testing.assert_array_equal(student[4].weight.data, teacher[4].weight.data[:, [0, 2, 4]])
    assert np.all(np.isfinite(predict(student, x)))


def test_consistent_random_selection_shares_indices_and_inconsistent_does_not():
    teacher = [
        (np.arange(20.0 * 4).reshape(20, 4), np.arange(20.0)),
        (np.arange(3.0 * 20).reshape(3, 20), None),
    ]
    rng = np.random.default_rng(4)
    (w1, b1), (w2, _) = WS.mlp_weight_selection(teacher, [4, 5, 3], "random", consistent=True, rng=rng)
    rows = (w1[:, 0] / 4).astype(int)  # W1_ij = 4i + j → the kept hidden units
    assert b1.astype(int).tolist() == rows.tolist()
    assert ((w2[0] % 20).astype(int)).tolist() == rows.tolist()  # W2_0k = k: the same units as columns
    differs = 0
    for _ in range(20):
        (w1, b1), (w2, _) = WS.mlp_weight_selection(teacher, [4, 5, 3], "random", consistent=False, rng=rng)
        differs += (w1[:, 0] / 4).astype(int).tolist() != (w2[0] % 20).astype(int).tolist()
    assert differs >= 18  # a coincidence has probability 1/C(20, 5) per draw


def test_layer_selection_takes_the_first_layers_and_the_head_and_can_keep_a_random_head():
    t = MLP([6, 10, 10, 10, 4], rng=np.random.default_rng(5))
    s0 = MLP([6, 5, 5, 4], rng=np.random.default_rng(6))
    head0 = s0[4].weight.data.copy()
    s = WS.init_from_larger(s0, t, select_head=False)
    np.testing.assert_array_equal(s[0].weight.data, t[0].weight.data[[0, 2, 4, 6, 8]])
    np.testing.assert_array_equal(s[2].weight.data, t[2].weight.data[[0, 2, 4, 6, 8]][:, [0, 2, 4, 6, 8]])
    np.testing.assert_array_equal(s[4].weight.data, head0)  # the official default: head not selected
    WS.init_from_larger(s, t, select_head=True)
    np.testing.assert_array_equal(s[4].weight.data, t[6].weight.data[:, [0, 2, 4, 6, 8]])  # teacher's head
    assert WS.first_n_layers(["a", "b", "c"], 2) == ["a", "b"]


def test_bad_input_names_the_argument():
    with pytest.raises(ValueError, match="`s`=5 exceeds"):
        WS.uniform_indices(4, 5)
    with pytest.raises(ValueError, match="`d`"):
        WS.uniform_indices(0, 1)
    with pytest.raises(ValueError, match="`method`"):
        WS.selection_indices(4, 2, "magnitude")
    with pytest.raises(ValueError, match="`s_shape`"):
        WS.uniform_element_selection(np.zeros((4, 4)), (2,))
    with pytest.raises(ValueError, match=r"`s_shape`\[1\] = 5"):
        WS.uniform_element_selection(np.zeros((4, 4)), (2, 5))
    with pytest.raises(ValueError, match=r"`indices\[0\]`"):
        WS.select_elements(np.zeros((3, 3)), [np.array([0, 3]), np.array([0])])
    with pytest.raises(ValueError, match="`n`"):
        WS.first_n_layers([1, 2], 3)
    with pytest.raises(ValueError, match="wider than the teacher"):
        WS.init_from_larger(MLP([4, 8, 2]), MLP([4, 6, 2]))
    with pytest.raises(ValueError, match="more than the teacher"):
        WS.init_from_larger(MLP([4, 3, 3, 2]), MLP([4, 6, 2]))
    with pytest.raises(ValueError, match="only MLPs of Linear layers"):
        WS.init_from_larger(MLP([4, 3, 2], norm="layer"), MLP([4, 6, 2]))


def test_quick_run_code_path(quick_result):
    r = quick_result(SLUG)
    assert r.smoke and r.premises[0]["metric"] == "test_accuracy"
    assert r.notes["student_examples"] == 200
    curve = np.asarray(r.arrays["val_curve"])
    assert curve.shape == (len(r.notes["arms"]), 11) and np.all((curve >= 0) & (curve <= 1))
    # the selected student starts far above chance (it carries the teacher's units), random init near it
    at_init = {m: np.mean(r.values(m, "test_accuracy_at_init")) for m in ("random init", "uniform selection")}
    assert at_init["random init"] < 0.25 < at_init["uniform selection"], at_init


def full():
    assert freshness(SLUG) == "fresh", f"run `refimpl record {SLUG}`"
    return recorded(SLUG)


def test_full_run_premise_the_teacher_has_something_to_transfer():
    p = full().premises[0]
    assert p["present"] and p["interval"]["low"] > 0.02, p["interval"]


def test_full_run_weight_selection_alone_does_not_beat_random_init_at_this_budget():
    """The paper's headline claim (selection > random init by more than a point) is not supported here:
    with each arm's learning rate tuned, the paired difference after 10 epochs straddles zero and its mean
    is under a point (recorded, 10 seeds).  Fails if the recorded result moves either way."""
    c = full().claim("Weight selection (uniform) beats")
    iv = c["interval"]
    assert iv["low"] < 0 < iv["high"], iv
    assert abs(iv["mean"]) < 0.01, iv


def test_full_run_the_selected_start_is_ahead_early_in_training():
    """Post hoc (not a declared claim): after one epoch, the selected student is ahead of random init on
    validation in every seed, the faster start the paper reports."""
    r = full()
    gap = np.subtract(
        r.values("uniform selection", "val_accuracy_epoch1"), r.values("random init", "val_accuracy_epoch1")
    )
    assert gap.min() > 0, gap


def test_full_run_consistency_matters():
    c = full().claim("Consistency matters")
    assert c["interval"]["low"] > 0, c["interval"]  # the whole interval above zero


def test_full_run_weight_selection_and_distillation_is_inconclusive():
    # It held (+1.9 points) while random init + KD had the grid's highest rate (1e-2); with the grid widened
    # to 1e-1 that arm chooses 3e-2 and the gain is gone (the interval straddles 0).
    c = full().claim("Weight selection adds to distillation")
    assert c["verdict"] == "inconclusive" and c["interval"]["low"] < 0 < c["interval"]["high"], c["interval"]
