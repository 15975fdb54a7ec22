"""General-purpose in-context learning: the reference cases; the projection's scale and the permutation's
uniformity by Monte Carlo; the tokens against a direct loop; causality of the model (a later token cannot
change an earlier prediction); the loss gradient in float64; the nearest-neighbour learner against brute
force; bad input; the quick run; the recorded run."""

import numpy as np
import pytest

import refimpl as rf
from refimpl.experiments import freshness, recorded
from refimpl.techniques.theory_dynamics import general_purpose_icl as GP
from refimpl.techniques.theory_dynamics.general_purpose_icl.cases import reference_cases

SLUG = "general-purpose-icl"


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


def test_projection_preserves_the_squared_norm_on_average_and_permutations_are_uniform():
    """A_jk ~ N(0, 1/N_x) gives E‖A x‖² = ‖x‖²; a uniform permutation maps label 0 to each label w.p. 1/C."""
    A, perm = GP.sample_tasks(20_000, 4, 3, rng=0)
    x = np.array([1.0, -2.0, 0.5, 3.0])
    assert np.mean(np.sum((A @ x) ** 2, axis=1)) == pytest.approx(x @ x, rel=0.03)
    np.testing.assert_allclose(np.bincount(perm[:, 0], minlength=3) / 20_000, 1 / 3, atol=0.015)
    assert all(sorted(p) == [0, 1, 2] for p in perm[:50])


def test_sequences_against_a_direct_loop():
    X, y = GP.base_dataset(20, 3, 4, rng=1)
    A, perm = GP.sample_tasks(5, 3, 4, rng=2)
    rng = np.random.default_rng(3)
    k, idx = rng.integers(5, size=6), rng.integers(20, size=(6, 7))
    tok, tgt = GP.sequences(X, y, A, perm, k, idx)
    for b in range(6):
        for t in range(7):
            np.testing.assert_allclose(tok[b, t, :3], A[k[b]] @ X[idx[b, t]], rtol=1e-13)
            assert tgt[b, t] == perm[k[b]][y[idx[b, t]]]
            label = np.zeros(4) if t == 0 else np.eye(4)[perm[k[b]][y[idx[b, t - 1]]]]
            np.testing.assert_array_equal(tok[b, t, 3:], label)


def test_model_is_causal():
    """Changing the last token leaves every earlier position's logits unchanged."""
    model = GP.GPICLTransformer(3, 4, 6, rng=0)
    tok = np.random.default_rng(1).normal(size=(2, 6, 7))
    out = model(rf.tensor(tok)).data
    tok2 = tok.copy()
    tok2[:, -1] += 5.0
    out2 = model(rf.tensor(tok2)).data
    assert out.shape == (2, 6, 4)
    np.testing.assert_allclose(out2[:, :-1], out[:, :-1], rtol=1e-12, atol=1e-12)
    assert not np.allclose(out2[:, -1], out[:, -1])


def test_sequence_loss_gradcheck_float64():
    """No op here has a custom backward; the loss's gradient in the logits still passes a float64 check, and
    equals (softmax − one-hot)/(B L) in closed form."""
    logits = np.random.default_rng(0).normal(size=(2, 3, 4))
    targets = np.array([[0, 3, 1], [2, 2, 0]])
    z = rf.tensor(logits.copy(), requires_grad=True)
    assert rf.gradcheck(lambda t: GP.sequence_loss(t, targets), z)
    GP.sequence_loss(z, targets).backward()
    p = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    np.testing.assert_allclose(z.grad, (p - np.eye(4)[targets]) / 6, rtol=1e-10)


def test_nearest_neighbour_against_brute_force():
    X, y = GP.base_dataset(30, 2, 3, rng=4)
    A, perm = GP.sample_tasks(3, 2, 3, rng=5)
    rng = np.random.default_rng(6)
    tok, tgt = GP.sequences(X, y, A, perm, rng.integers(3, size=8), rng.integers(30, size=(8, 9)))
    hits = np.zeros(9)
    for b in range(8):
        for t in range(9):
            if t == 0:
                pred = 0
            else:
                d = [np.sum((tok[b, t, :2] - tok[b, j, :2]) ** 2) for j in range(t)]
                pred = tgt[b, int(np.argmin(d))]
            hits[t] += pred == tgt[b, t]
    np.testing.assert_allclose(GP.nearest_neighbour_accuracy(tok, tgt, 3), hits / 8)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="n_tasks"):
        GP.sample_tasks(0, 2, 2)
    with pytest.raises(ValueError, match="noise"):
        GP.base_dataset(5, 2, 2, noise=-1.0)
    with pytest.raises(ValueError, match="length"):
        GP.GPICLTransformer(2, 2, 3)(rf.tensor(np.zeros((1, 4, 4))))


def test_quick_run(quick_result):
    r = quick_result(SLUG)
    assert r.quick and len(r.seeds) >= 2
    assert {"unseen_late", "train_accuracy", "memorisation_gap"} <= set(r.table[0])
    for k in r.arrays["task_counts"]:
        assert r.arrays[f"unseen_by_position_K{int(k)}"].shape == (16,)


def test_recorded_full_run():
    """On the recorded per-seed numbers: the fewest-task model scores above 0.8 on its training tasks and
    within 0.1 of chance on unseen ones on every seed; the most-task model's unseen-task accuracy at late
    positions is above its early-position accuracy and above chance on every seed."""
    assert freshness(SLUG) == "fresh"
    r = recorded(SLUG)
    assert not r.quick and len(r.seeds) >= 3
    counts = [int(k) for k in r.arrays["task_counts"]]
    few, many = f"K = {counts[0]} tasks", f"K = {counts[-1]} tasks"
    chance = r.notes["chance"]
    assert min(r.values(few, "train_accuracy")) > 0.8
    assert max(abs(v - chance) for v in r.values(few, "unseen_late")) < 0.1
    late, early = np.array(r.values(many, "unseen_late")), np.array(r.values(many, "unseen_early"))
    assert np.all(late > early + 0.1)
    assert np.all(late > chance + 0.1)
