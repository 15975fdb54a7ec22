"""Seeded training pools with planted structure, so an experiment can check that a score finds it.

Each pool is a `refimpl.experiments.tasks.Task` whose validation and test splits are left as they were
(clean), with the planted structure described in `meta` (a boolean mask or an index map over the
training split):

- `with_label_noise(task, rate, seed)`: `rate` of the training labels flipped to a different class
  (`meta["noisy"]`); reuses `refimpl.data.label_noise`.
- `with_duplicates(task, fraction, copies, seed)`: `copies` extra copies of a random `fraction` of the
  training examples appended (`meta["duplicate_of"]`: the original's index, −1 for originals).
- `long_tail(imbalance)`: the harness's long-tailed digits (`tasks.digits("long_tail")`), counts in
  `meta["train_counts"]`.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ...data import label_noise
from ...experiments import tasks
from ...experiments.tasks import Task

__all__ = ["with_label_noise", "with_duplicates", "long_tail"]


def _frozen(*arrays):
    for a in arrays:
        a.flags.writeable = False
    return arrays


def with_label_noise(task: Task, rate: float, seed: int = 0) -> Task:
    """`task` with round(rate · n) training labels flipped symmetrically (validation and test clean)."""
    if task.num_classes < 2:
        raise ValueError(
            f"with_label_noise: `task` must be a classification task, got {task.num_classes} classes"
        )
    y, noisy = label_noise(task.y_train, rate, num_classes=task.num_classes, seed=seed)
    (y,) = _frozen(y)
    meta = {**task.meta, "noise_rate": rate, "noise_seed": seed, "noisy": noisy}
    return dataclasses.replace(task, name=f"{task.name}+noise{rate:g}", y_train=y, meta=meta)


def with_duplicates(task: Task, fraction: float, copies: int = 1, seed: int = 0) -> Task:
    """`task` with `copies` extra copies of round(fraction · n) random training examples appended."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"with_duplicates: `fraction` must be in [0, 1], got {fraction}")
    if copies < 1:
        raise ValueError(f"with_duplicates: `copies` must be ≥ 1, got {copies}")
    n = len(task.y_train)
    src = np.sort(np.random.default_rng(seed).choice(n, size=int(round(fraction * n)), replace=False))
    rep = np.tile(src, copies)
    x = np.concatenate([task.x_train, task.x_train[rep]])
    y = np.concatenate([task.y_train, task.y_train[rep]])
    duplicate_of = np.concatenate([np.full(n, -1), rep]).astype(np.int64)
    x, y = _frozen(x, y)
    meta = {**task.meta, "duplicate_fraction": fraction, "copies": copies, "duplicate_of": duplicate_of}
    return dataclasses.replace(
        task, name=f"{task.name}+dup{fraction:g}x{copies}", x_train=x, y_train=y, meta=meta
    )


def long_tail(imbalance: float = 50) -> Task:
    """The harness's long-tailed digits: head/tail ratio `imbalance`, class 0 the head, test balanced."""
    return tasks.digits("long_tail", imbalance=imbalance)
