"""The split-digits task sequence and its scenarios.

Task i holds digits 2i and 2i + 1 (`experiments.tasks.digits_continual`; labels stay 0..9).  The scenario decides
what the model may use at test time (van de Ven & Tolias, *Three scenarios for continual learning*,
arXiv 1904.07734):

* "class" (class-incremental): one 10-way output, no task identity — the model must also tell tasks apart;
* "task" (task-incremental): the task identity is given, so only that task's two logits compete
  (`task_logits_mask`).

The "pretrained features" variant (`pretrained_trunk`) gives methods that start from a pretrained model a
feature extractor learned on a related but different domain — the same digits transposed (rows and columns
swapped), all ten classes — so that no test image of the sequence was seen in pretraining.
"""

from __future__ import annotations

import functools

import numpy as np

from ... import nn
from ...experiments.tasks import Task, digits, digits_continual
from ...experiments.training import train

__all__ = ["SCENARIOS", "split_digits", "task_logits_mask", "pretrained_trunk", "featurize"]

SCENARIOS = ("class", "task")
N_CLASSES = 10


def split_digits(n_tasks: int = 5) -> list[Task]:
    """The sequence: task i holds classes 2i, 2i + 1 (train, validation and test splits of each)."""
    return digits_continual(n_tasks)


def task_logits_mask(task: Task) -> np.ndarray:
    """A (10,) additive mask: 0 on the task's classes, −inf elsewhere (task-incremental evaluation)."""
    mask = np.full(N_CLASSES, -np.inf)
    mask[list(task.meta["classes"])] = 0.0
    return mask


def _transposed(task: Task) -> Task:
    def t(x):
        return x.reshape(-1, 8, 8).transpose(0, 2, 1).reshape(-1, 64)

    return Task(
        "digits-transposed",
        t(task.x_train),
        task.y_train,
        t(task.x_val),
        task.y_val,
        t(task.x_test),
        task.y_test,
        num_classes=task.num_classes,
    )


@functools.cache
def _pretrained_state(width: int, epochs: int, seed: int) -> tuple:
    source = _transposed(digits())
    trunk = nn.Sequential(
        nn.Linear(64, width, rng=[seed, 11]), nn.ReLU(), nn.Linear(width, width, rng=[seed, 12]), nn.ReLU()
    )
    model = nn.Sequential(trunk, nn.Linear(width, N_CLASSES, rng=[seed, 13]))
    train(model, source, lr=3e-3, epochs=epochs, seed=seed)
    return tuple((k, v.copy()) for k, v in trunk.state_dict().items())


def pretrained_trunk(width: int = 64, epochs: int = 20, seed: int = 0):
    """A 64 → width → width ReLU trunk pretrained on the transposed digits (all classes), as a fresh module
    (cached per arguments: building it again costs nothing)."""
    trunk = nn.Sequential(nn.Linear(64, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU())
    trunk.load_state_dict(dict(_pretrained_state(width, epochs, seed)))
    return trunk


def featurize(tasks: list[Task], trunk) -> list[Task]:
    """The same tasks with every split replaced by the (frozen) trunk's features."""
    from ...autograd.tensor import Tensor, no_grad

    def f(x):
        with no_grad():
            return trunk(Tensor(x)).data

    return [
        Task(
            t.name, f(t.x_train), t.y_train, f(t.x_val), t.y_val, f(t.x_test), t.y_test, t.num_classes, t.meta
        )
        for t in tasks
    ]
