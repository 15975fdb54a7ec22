"""The continual-learning base: the metrics on a hand-made accuracy matrix, the task-incremental mask and its
cross-entropy against a by-hand two-class softmax, the protocol's order and bookkeeping, the pretrained trunk,
and the naive baseline's forgetting in the class-incremental scenario."""

import numpy as np
import pytest
from scipy.special import logsumexp

from refimpl import nn
from refimpl.autograd.tensor import Tensor
from refimpl.techniques.continual_learning import metrics as M
from refimpl.techniques.continual_learning import protocol as P
from refimpl.techniques.continual_learning import scenarios as S

R = np.array([[0.9, 0.1, 0.1], [0.5, 0.8, 0.2], [0.4, 0.6, 0.7]])


def test_metrics_by_hand():
    assert M.average_accuracy(R) == pytest.approx((0.4 + 0.6 + 0.7) / 3)
    assert M.forgetting(R) == pytest.approx(((0.9 - 0.4) + (0.8 - 0.6)) / 2)
    assert M.backward_transfer(R) == pytest.approx(((0.4 - 0.9) + (0.6 - 0.8)) / 2)
    assert M.forward_transfer(R, [0.5, 0.5, 0.5]) == pytest.approx(((0.1 - 0.5) + (0.2 - 0.5)) / 2)
    # forgetting takes the best accuracy so far, not the one right after training
    R2 = np.array([[0.5, 0.0], [0.2, 0.9]])
    assert M.forgetting(R2) == pytest.approx(0.3)
    with pytest.raises(ValueError, match="square"):
        M.average_accuracy(np.zeros((2, 3)))


def test_sequence_and_mask():
    tasks = S.split_digits()
    assert [t.meta["classes"] for t in tasks] == [(0, 1), (2, 3), (4, 5), (6, 7), (8, 9)]
    assert all(set(np.unique(t.y_test)) == set(t.meta["classes"]) for t in tasks)
    mask = S.task_logits_mask(tasks[2])
    assert np.all(mask[[4, 5]] == 0) and np.all(np.isneginf(np.delete(mask, [4, 5])))


def test_masked_cross_entropy_is_the_two_class_softmax():
    logits = np.random.default_rng(0).standard_normal((4, 10)).astype(np.float32)
    y = np.array([2, 3, 3, 2])
    task = S.split_digits()[1]
    loss = float(P.masked_cross_entropy(S.task_logits_mask(task))(Tensor(logits), y).data)
    two = logits[:, [2, 3]].astype(np.float64)
    by_hand = np.mean(logsumexp(two, axis=1) - two[np.arange(4), y - 2])
    assert loss == pytest.approx(by_hand, rel=1e-5)


class _Fixed(nn.Module):
    """Logits that always favour class 9, then 8, …: class-IL gets only task 4 right, task-IL the larger digit."""

    def forward(self, x):
        return Tensor(np.tile(np.arange(10, dtype=np.float32), (x.shape[0], 1)))


def test_accuracy_per_scenario_and_the_protocol_order():
    tasks = S.split_digits()
    model = _Fixed()
    for i, t in enumerate(tasks):
        odd = float(np.mean(t.y_test == 2 * i + 1))
        assert P.accuracy(model, t, "task") == pytest.approx(odd)
        assert P.accuracy(model, t, "class") == pytest.approx(odd if i == 4 else 0.0)
    calls = []
    R = P.run_sequence(model, tasks, lambda m, t, i: calls.append((t.name, i)), "task")
    assert calls == [(t.name, i) for i, t in enumerate(tasks)]
    assert R.shape == (5, 5) and np.all(R == R[0])  # nothing trained: every row alike
    with pytest.raises(ValueError, match="scenario"):
        P.accuracy(model, tasks[0], "domain")


def test_pretrained_trunk_is_deterministic_and_featurize_keeps_labels():
    a, b = S.pretrained_trunk(), S.pretrained_trunk()
    x = Tensor(S.split_digits()[0].x_test)
    np.testing.assert_array_equal(a(x).data, b(x).data)
    feats = S.featurize(S.split_digits(2), a)
    assert feats[0].x_train.shape[1] == 64 and np.array_equal(feats[1].y_test, S.split_digits(2)[1].y_test)


def test_naive_fine_tuning_forgets_in_the_class_scenario_but_not_much_in_the_task_scenario():
    tasks = S.split_digits(3)
    out = {}
    for scenario in ("class", "task"):
        model = nn.Sequential(nn.Linear(64, 64, rng=0), nn.ReLU(), nn.Linear(64, 10, rng=1))
        out[scenario] = P.run_sequence(
            model, tasks, P.finetune(scenario, lr=3e-3, epochs=40, seed=0), scenario
        )
    assert M.forgetting(out["class"]) > 0.5
    assert M.forgetting(out["task"]) < M.forgetting(out["class"])
    assert np.all(np.diag(out["class"]) > 0.9)  # each task is learned when it is trained


def test_summary_is_the_three_reported_metrics():
    R = np.array([[0.9, 0.1], [0.6, 0.8]])
    assert M.summary(R) == pytest.approx(
        {"average_accuracy": 0.7, "forgetting": 0.3, "backward_transfer": -0.3}
    )


def test_last_task_share_counts_old_points_sent_to_the_newest_classes():
    tasks = S.split_digits(2)
    always_two = nn.Linear(64, 10)  # bias only: every point goes to class 2, a class of the last task
    always_two.weight.data[...] = 0.0
    always_two.bias.data[...] = np.eye(10)[2]
    assert P.last_task_share(always_two, tasks) == 1.0
    always_two.bias.data[...] = np.eye(10)[0]
    assert P.last_task_share(always_two, tasks) == 0.0
