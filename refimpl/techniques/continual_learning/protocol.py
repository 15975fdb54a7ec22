"""The continual-learning protocol: train on the tasks in order, and after each one test on every task, filling the
accuracy matrix R[i, j] (`run_sequence`).  A method is a `fit_task(model, task, index)` callable; the naive
baseline is plain fine-tuning (`finetune`), the reference is joint training on all tasks at once (`joint`).

In the task-incremental scenario both training and testing use only the current task's logits (the others are
masked to −inf), so the shared 10-way head behaves as five 2-way heads; in the class-incremental scenario the
full 10-way softmax is used throughout.
"""

from __future__ import annotations

import numpy as np

from ...autograd.tensor import Tensor, no_grad
from ...experiments.tasks import Task
from ...experiments.training import train
from ...nn import Module
from ...nn import functional as F
from .scenarios import SCENARIOS, task_logits_mask

__all__ = [
    "SeenClasses",
    "last_task_share",
    "masked_cross_entropy",
    "accuracy",
    "run_sequence",
    "finetune",
    "joint",
]


class SeenClasses(Module):
    """`net` with the logits of classes not seen yet masked to −10⁹ (what a head that grows with each task
    would do in the class-incremental scenario); `seen` lists the classes trained so far."""

    def __init__(self, net, n_classes: int = 10):
        super().__init__()
        self.net = net
        self.n_classes = n_classes
        self.seen: list = []

    def forward(self, x):
        mask = np.full(self.n_classes, -1e9, dtype=np.float32)
        mask[self.seen] = 0.0
        return self.net(x) + Tensor(mask)


def _check(scenario):
    if scenario not in SCENARIOS:
        raise ValueError(f"`scenario` must be one of {SCENARIOS}, got {scenario!r}")


def masked_cross_entropy(mask):
    """Cross-entropy over the logits plus an additive mask (−inf on the classes that may not compete)."""
    m = Tensor(np.where(np.isfinite(mask), 0.0, -1e9).astype(np.float32))

    def loss(logits, y, **kwargs):
        return F.cross_entropy(logits + m, y, **kwargs)

    return loss


def accuracy(model, task: Task, scenario: str, split: str = "test") -> float:
    """Accuracy on a task's split; in the task scenario only the task's own classes compete."""
    _check(scenario)
    x, y = getattr(task, f"x_{split}"), getattr(task, f"y_{split}")
    with no_grad():
        logits = model(Tensor(x)).data
    if scenario == "task":
        logits = logits + task_logits_mask(task)
    return float(np.mean(np.argmax(logits, axis=1) == y))


def run_sequence(model, tasks: list[Task], fit_task, scenario: str, split: str = "test") -> np.ndarray:
    """R[i, j]: accuracy on task j's `split` after `fit_task(model, tasks[i], i)` for i = 0..T−1 in order."""
    _check(scenario)
    R = np.zeros((len(tasks), len(tasks)))
    for i, task in enumerate(tasks):
        fit_task(model, task, i)
        R[i] = [accuracy(model, t, scenario, split) for t in tasks]
    return R


def last_task_share(model, tasks: list[Task]) -> float:
    """The share of the earlier tasks' test points that the model assigns to the last task's classes (the
    class-incremental bias towards the newest classes)."""
    old = np.concatenate([t.x_test for t in tasks[:-1]])
    with no_grad():
        pred = np.argmax(model(Tensor(old)).data, axis=1)
    return float(np.mean(np.isin(pred, tasks[-1].meta["classes"])))


def finetune(scenario: str, *, lr: float, epochs: int, seed: int):
    """The naive baseline: train on each new task as if it were the only one (Adam, cross-entropy)."""
    _check(scenario)

    def fit_task(model, task, index):
        loss = masked_cross_entropy(task_logits_mask(task)) if scenario == "task" else None
        train(model, task, lr=lr, epochs=epochs, seed=seed + index, loss_fn=loss)

    return fit_task


def joint(model, tasks: list[Task], scenario: str, *, lr: float, epochs: int, seed: int) -> np.ndarray:
    """The reference: train once on the union of all tasks' training splits; returns the accuracy per task.
    (In the task scenario the joint model is trained with the full softmax and tested with the task's logits.)"""
    _check(scenario)
    x = np.concatenate([t.x_train for t in tasks])
    y = np.concatenate([t.y_train for t in tasks])
    train(model, tasks[0], lr=lr, epochs=epochs, seed=seed, x=x, y=y)
    return np.array([accuracy(model, t, scenario) for t in tasks])
