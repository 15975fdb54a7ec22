"""ExSSNeT: the reference cases; the top-k count over densities; the masked layer's weight gradient by float64
finite differences and its score gradient equal to the straight-through rule; exclusivity (after training a new
task, every weight an old mask uses is unchanged, so the old task's outputs are identical); KKT copies the best
earlier scores only above chance; bad input; the quick run; the recorded run."""

import numpy as np
import pytest

from refimpl.autograd.tensor import Tensor
from refimpl.experiments import freshness, recorded
from refimpl.techniques.continual_learning import exssnet as EX
from refimpl.techniques.continual_learning import scenarios
from refimpl.techniques.continual_learning.exssnet import experiment as EXX
from refimpl.techniques.continual_learning.exssnet.cases import reference_cases

SLUG = "exssnet"


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


@pytest.mark.parametrize("n, density", [(1, 1.0), (10, 0.3), (7, 0.05), (100, 0.02), (64, 0.5)])
def test_topk_keeps_the_largest_entries_and_the_code_count(n, density):
    s = np.random.default_rng(n).permutation(n).astype(float)  # distinct scores
    m = EX.topk_mask(s, density)
    kept = n - int((1 - density) * n)
    assert m.sum() == kept
    assert set(np.flatnonzero(m)) == set(np.argsort(s)[n - kept :])


def _layer64(seed=0):
    layer = EX.SupermaskLinear(5, 3, 2, 0.4, rng=seed)
    rng = np.random.default_rng(seed)
    layer.weight.data = rng.standard_normal((3, 5))
    layer.scores_0.data = rng.standard_normal((3, 5))
    return layer


def test_weight_gradient_by_finite_differences_float64():
    layer = _layer64()
    rng = np.random.default_rng(1)
    x, g = rng.standard_normal((4, 5)), rng.standard_normal((4, 3))  # upstream gradient not all ones

    def loss(W):
        layer.weight.data = W
        return float((layer(Tensor(x)) * Tensor(g)).sum().data)

    W0 = layer.weight.data.copy()
    layer.weight.grad = None
    (layer(Tensor(x)) * Tensor(g)).sum().backward()
    analytic = layer.weight.grad.copy()
    num, h = np.zeros_like(W0), 1e-6
    for idx in np.ndindex(W0.shape):
        e = np.zeros_like(W0)
        e[idx] = h
        num[idx] = (loss(W0 + e) - loss(W0 - e)) / (2 * h)
    np.testing.assert_allclose(analytic, num, rtol=1e-7, atol=1e-9)
    # and the masked-out weights get exactly no gradient
    assert np.all(analytic[layer.mask(0) == 0] == 0)


def test_score_gradient_is_the_straight_through_rule():
    layer = _layer64(2)
    rng = np.random.default_rng(3)
    x, g = rng.standard_normal((4, 5)), rng.standard_normal((4, 3))
    (layer(Tensor(x)) * Tensor(g)).sum().backward()
    G = g.T @ x  # ∂L/∂(W ⊙ M)
    np.testing.assert_allclose(
        layer.scores_0.grad, G * layer.weight.data * np.sign(layer.scores_0.data), rtol=1e-12, atol=1e-12
    )
    assert layer.scores_1.grad is None  # only the active task's scores are used


def test_exclusive_training_leaves_old_subnetworks_untouched():
    tasks = scenarios.split_digits(2)
    model = EX.SupermaskMLP(EXX.SIZES, 2, 0.1, seed=0, classes=[t.meta["classes"] for t in tasks])
    fit = EXX.exssnet_learner(0.03, (3, 3), 0, kkt=False)
    fit(model, tasks[0], 0)
    model.set_task(0)
    before = model(Tensor(tasks[0].x_test)).data.copy()
    W_before = [layer.weight.data.copy() for layer in model.layers]
    masks0 = [layer.mask(0) for layer in model.layers]
    fit(model, tasks[1], 1)
    changed = 0
    for layer, W, m0 in zip(model.layers, W_before, masks0):
        m1 = layer.mask(1)
        np.testing.assert_array_equal(layer.weight.data[m0 == 1], W[m0 == 1])  # old mask: untouched
        np.testing.assert_array_equal(
            layer.weight.data[m1 == 0], W[m1 == 0]
        )  # outside the new mask: untouched
        changed += int(np.sum(layer.weight.data != W))
    assert changed > 0  # the exclusive weights did train
    model.set_task(0)
    np.testing.assert_array_equal(model(Tensor(tasks[0].x_test)).data, before)


def test_kkt_copies_the_best_scores_only_above_chance():
    model = EX.SupermaskMLP((4, 6, 6, 2), 3, 0.5, seed=0)
    assert EX.kkt_init(model, 2, [0.4, 0.5], n_classes=2) is None  # nothing beats chance 1/2
    assert EX.kkt_init(model, 2, [0.6, 0.9], n_classes=2) == 1
    for layer in model.layers:
        np.testing.assert_array_equal(layer.scores_2.data, layer.scores_1.data)
    x = np.random.default_rng(0).standard_normal((30, 4))
    y = (x[:, 0] > 0).astype(int)
    acc = EX.knn_task_similarity(model, x, y, n_learned=2, k=3)
    assert acc.shape == (2,) and np.all((acc >= 0) & (acc <= 1))


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="density"):
        EX.topk_mask([1.0, 2.0], 0.0)
    with pytest.raises(ValueError, match="previous"):
        EX.exclusive_mask([1, 0], [[1, 0, 0]])
    with pytest.raises(ValueError, match="editable"):
        EX.masked_gradient(np.ones(3), np.ones(2))
    with pytest.raises(ValueError, match="k"):
        EX.knn_accuracy([[0.0]], [0], [[0.0]], [0], 2)
    with pytest.raises(ValueError, match="task"):
        EX.SupermaskLinear(2, 2, 1, 0.5).scores(1)
    with pytest.raises(ValueError, match="classes"):
        EX.SupermaskMLP((4, 4, 4, 2), 2, 0.5, classes=[(0, 1)])


def test_quick_run(quick_result):
    r = quick_result(SLUG)
    assert r.quick and set(r.selected) == {"ExSSNeT", "ExSSNeT w/o KKT", "SupSup", "fine-tuning"}
    assert np.all(np.array(r.values("ExSSNeT", "forgetting")) == 0.0)


def test_recorded_full_run():
    """What the recorded verdicts stand on: ExSSNeT's forgetting is exactly zero on every seed (R is constant below
    the diagonal); fine-tuning forgets; the premise's gap is measured; and the inconclusive comparison with SupSup
    comes from a seed where one ExSSNeT task stayed near chance (a diagonal entry below 0.6) while ExSSNeT is
    ahead of SupSup on the other seeds — a change of result fails here."""
    assert freshness(SLUG) == "fresh"
    r = recorded(SLUG)
    assert not r.quick and len(r.seeds) >= 3
    R = r.arrays["R_0"]  # ExSSNeT, per seed
    for Rs in R:
        for j in range(Rs.shape[1]):
            assert np.all(Rs[j:, j] == Rs[j, j])
    assert np.mean(r.values("fine-tuning", "forgetting")) > 0.01
    gap = np.array(r.values("fine-tuning", "learning_accuracy")) - np.array(
        r.values("SupSup", "learning_accuracy")
    )
    assert r.premises[0]["present"] == bool(gap.mean() > EXX.PREMISE_GAP)
    diff = np.array(r.values("ExSSNeT", "average_accuracy")) - np.array(
        r.values("SupSup", "average_accuracy")
    )
    stuck = np.array([np.min(np.diag(Rs)) < 0.6 for Rs in R])
    assert stuck.any() and np.all(diff[~stuck] > 0) and np.all(diff[stuck] < 0)
