"""The pretrain → adapt pipeline of the low-rank / PEFT / sharing family, on the digits.

`shifted_digits()` gives the old task (digits 0–4) and
the new one (digits 5–9 mirrored left–right), each with fixed train/validation/test splits;
`pretrained(seed, epochs)` trains the shared 64-128-128 trunk and old head once per seed;
`adaptation_run(seed, lr, prepare, ...)` copies them, lets a technique prepare the trunk (attach adapters;
the trunk is then frozen unless `full=True`), trains it with a fresh head on the new task through
`refimpl.experiments.train` and returns the new task's split metrics, the old task's test accuracy through
the untouched old head, and the trainable trunk count.
`make_backbone` builds the Linear–ReLU trunk.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from .adapters import count_trainable, freeze_base, trainable_parameters

__all__ = ["TRUNK", "shifted_digits", "pretrained", "adaptation_run", "make_backbone", "needs_trunk_premise"]


TRUNK = (64, 128, 128)  # the shared trunk: Linear 64→128, ReLU, Linear 128→128, ReLU


@functools.cache
def shifted_digits():
    """(old, new): digits 0–4, and digits 5–9 mirrored left–right (so the trunk must change), labels 0..4."""
    from ...experiments import tasks

    old, new = tasks.digits(classes=(0, 1, 2, 3, 4)), tasks.digits(classes=(5, 6, 7, 8, 9))

    def mirror(x):  # left–right
        return np.ascontiguousarray(x.reshape(-1, 8, 8)[:, :, ::-1].reshape(len(x), 64))

    new = dataclasses.replace(
        new,
        name=new.name + "-mirrored",
        x_train=mirror(new.x_train),
        x_val=mirror(new.x_val),
        x_test=mirror(new.x_test),
    )
    return old, new


@functools.cache
def pretrained(seed: int, epochs: int):
    """(trunk state, old-head state, old-task test accuracy): the trunk and old head trained on digits 0–4
    for `seed` (Adam, lr 1e-3), once per (seed, epochs) and shared by every arm."""
    from ...experiments import split_metrics, train
    from ...nn import Linear, Sequential

    old, _ = shifted_digits()
    trunk = make_backbone(TRUNK, seed)
    head = Linear(TRUNK[-1], 5, rng=np.random.default_rng(seed + 1000))
    model = Sequential(trunk, head)
    train(model, old, lr=1e-3, epochs=epochs, seed=seed)
    return trunk.state_dict(), head.state_dict(), split_metrics(model, old, splits=("test",))["test_accuracy"]


def adaptation_run(
    seed, lr, prepare, *, pre_epochs: int, epochs: int, full: bool = False, callbacks=(), fit=None
) -> dict:
    """One arm, one seed: the pretrained trunk, `prepare(trunk)`, a fresh head, trained on the new task.
    `prepare` attaches weight adapters (the base is then frozen unless `full`) and may return a list of
    extra training callbacks — or it returns a new trunk Module (activation adapters inserted), which
    arrives with its own requires_grad settings.  Returns the new task's val/test metrics,
    "old_task_test_accuracy" (old head, adapted trunk), its value before adaptation and
    "trainable_trunk_parameters" (counted before training).  `fit(model, trunk, task, lr, epochs, seed,
    callbacks)` replaces the single `train` call (e.g. a method that restarts its optimizer mid-way)."""
    from ...experiments import split_metrics, train
    from ...nn import Linear, Sequential
    from ...nn.module import Module

    old, new = shifted_digits()
    trunk_state, head_state, old_before = pretrained(seed, pre_epochs)
    trunk = make_backbone(TRUNK, seed)
    trunk.load_state_dict(trunk_state)
    extra = prepare(trunk) if prepare is not None else None
    if isinstance(extra, Module):  # a new trunk with inserted modules and its own trainable set
        trunk, extra = extra, None
    elif not full:
        freeze_base(trunk)
    head = Linear(TRUNK[-1], 5, rng=np.random.default_rng(seed + 2000))
    model = Sequential(trunk, head)
    cbs = list(callbacks) + list(extra or ())
    trainable = float(count_trainable(trunk))
    if fit is None:
        train(
            model,
            new,
            lr=lr,
            epochs=epochs,
            seed=seed,
            params=trainable_parameters(trunk, head),
            callbacks=cbs,
        )
    else:
        fit(model, trunk, new, lr, epochs, seed, cbs)
    old_head = Linear(TRUNK[-1], 5)
    old_head.load_state_dict(head_state)
    return {
        **split_metrics(model, new),
        "old_task_test_accuracy": split_metrics(Sequential(trunk, old_head), old, splits=("test",))[
            "test_accuracy"
        ],
        "old_task_test_accuracy_before": old_before,
        "trainable_trunk_parameters": trainable,
    }


def make_backbone(sizes=(64, 128, 128), seed: int = 0):
    """Linear–ReLU stack (the shared trunk); heads are separate Linear layers."""
    from ...nn import Linear, ReLU, Sequential

    rng = np.random.default_rng(seed)
    mods = []
    for i in range(len(sizes) - 1):
        mods += [Linear(sizes[i], sizes[i + 1], rng=rng), ReLU()]
    return Sequential(*mods)


def needs_trunk_premise(full: str = "full FT", head_only: str = "head only"):
    """The premise every adaptation experiment of the family measures: the shift needs the trunk — full
    fine-tuning beats training the head alone by over two points of test accuracy."""
    from ...experiments import Premise

    return Premise(
        "the shifted task needs the trunk: full fine-tuning beats training the head alone by over two points",
        metric="test_accuracy",
        method=full,
        baseline=head_only,
        threshold=0.02,
    )
