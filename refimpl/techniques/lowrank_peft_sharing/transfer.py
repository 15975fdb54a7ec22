"""The pretrain → adapt pipeline of the low-rank / PEFT / sharing family, on the digits.

On the harness (techniques migrated to packages): `shifted_digits()` gives the old task (digits 0–4) and
the new one (digits 5–9 mirrored left–right), each with fixed train/validation/test splits;
`pretrained(seed, epochs)` trains the shared 64-128-128 trunk and old head once per seed;
`adaptation_run(seed, lr, prepare, ...)` copies them, lets a technique prepare the trunk (attach adapters;
the trunk is then frozen unless `full=True`), trains it with a fresh head on the new task through
`refimpl.experiments.train` and returns the new task's split metrics, the old task's test accuracy through
the untouched old head, and the trainable trunk count.

The older single-module demos use the functions below them:

`digit_tasks` builds task A (digits 0–4) and task B (digits 5–9, optionally with the image mirrored), both
labelled 0..4.  `pretrain` trains an MLP backbone with head A on task A.  `adapt` copies the backbone, lets
a technique prepare it (attach adapters, freeze, …), trains it with a fresh head B on task B, and reports
accuracy on B (new task) and on A through the untouched head A (old task: forgetting is visible).
"""

from __future__ import annotations

import copy
import dataclasses
import functools

import numpy as np

from .adapters import count_trainable, freeze_base, trainable_parameters

__all__ = [
    "TRUNK",
    "shifted_digits",
    "pretrained",
    "adaptation_run",
    "TaskPair",
    "digit_tasks",
    "make_backbone",
    "train_classifier",
    "Pretrained",
    "pretrain",
    "adapt",
]


TRUNK = (64, 128, 128)  # the shared trunk: Linear 64→128, ReLU, Linear 128→128, ReLU


@functools.cache
def shifted_digits():
    """(old, new): digits 0–4, and digits 5–9 mirrored left–right (so the trunk must change), labels 0..4."""
    from ...experiments import tasks

    old, new = tasks.digits(classes=(0, 1, 2, 3, 4)), tasks.digits(classes=(5, 6, 7, 8, 9))

    def mirror(x):
        return np.ascontiguousarray(_mirror(x))

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


@dataclasses.dataclass
class TaskPair:
    """Old task A and new task B, each (x_train, y_train, x_test, y_test), labels 0..4."""

    a: object
    b: object
    b_name: str


def _mirror(x):
    return x.reshape(-1, 8, 8)[:, :, ::-1].reshape(len(x), 64)


def digit_tasks(seed: int = 0, new_task: str = "5-9 mirrored") -> TaskPair:
    """Task A = digits 0–4; task B = digits 5–9 ("5-9") or digits 5–9 mirrored left–right ("5-9 mirrored")."""
    from ...data import digits_subset, load_digits

    split = load_digits(seed=seed)
    a = digits_subset(split, range(5))
    b = digits_subset(split, range(5, 10))
    if new_task == "5-9 mirrored":
        b = type(b)(
            np.ascontiguousarray(_mirror(b.x_train)),
            b.y_train,
            np.ascontiguousarray(_mirror(b.x_test)),
            b.y_test,
        )
    elif new_task != "5-9":
        raise ValueError(f"digit_tasks: `new_task` must be '5-9' or '5-9 mirrored', got {new_task!r}")
    return TaskPair(a, b, new_task)


def make_backbone(sizes=(64, 128, 128), seed: int = 0):
    """Linear–ReLU stack (the shared trunk); heads are separate Linear layers."""
    from ...nn import Linear, ReLU, Sequential

    rng = np.random.default_rng(seed)
    mods = []
    for i in range(len(sizes) - 1):
        mods += [Linear(sizes[i], sizes[i + 1], rng=rng), ReLU()]
    return Sequential(*mods)


def train_classifier(
    model,
    params,
    x,
    y,
    *,
    epochs: int,
    lr: float,
    batch_size: int = 32,
    seed: int = 0,
    callbacks=(),
    weight_decay: float = 0.0,
):
    """Adam on `params` with cross-entropy (refimpl.train.fit)."""
    from ...nn import functional as F
    from ...optim import Adam
    from ...train import fit

    opt = Adam(params, lr=lr, weight_decay=weight_decay)
    return fit(
        model,
        F.cross_entropy,
        (x, y),
        opt,
        epochs=epochs,
        batch_size=batch_size,
        seed=seed,
        progress=False,
        callbacks=callbacks,
    )


@dataclasses.dataclass
class Pretrained:
    backbone: object
    head_a: object
    tasks: TaskPair
    acc_a: float
    seed: int


def pretrain(
    seed: int = 0, *, tasks: TaskPair | None = None, sizes=(64, 128, 128), epochs: int = 30, lr: float = 1e-3
) -> Pretrained:
    """Backbone + head A trained on task A (Adam)."""
    from ...nn import Linear, Sequential
    from ...train import evaluate

    tasks = tasks if tasks is not None else digit_tasks(seed)
    backbone = make_backbone(sizes, seed)
    head_a = Linear(sizes[-1], 5, rng=np.random.default_rng(seed + 1000))
    model = Sequential(backbone, head_a)
    train_classifier(
        model, list(model.parameters()), tasks.a.x_train, tasks.a.y_train, epochs=epochs, lr=lr, seed=seed
    )
    acc_a = evaluate(model, tasks.a.x_test, tasks.a.y_test)["accuracy"]
    return Pretrained(backbone, head_a, tasks, acc_a, seed)


def adapt(
    base: Pretrained,
    prepare,
    *,
    epochs: int = 20,
    lr: float = 3e-3,
    batch_size: int = 32,
    callbacks=(),
    train_head: bool = True,
) -> dict:
    """Copy the backbone, `prepare(backbone) -> model_trunk` (attach adapters / freeze / insert modules; may
    return a new trunk or None for the same one), train it with a fresh head B on task B.

    Returns {"acc_new", "acc_old", "trainable", "trainable_trunk", "trunk", "head_b"}: acc_old is task A
    through the frozen head A on the adapted trunk; trainable counts trunk + head B parameters that train.
    """
    from ...nn import Linear, Sequential
    from ...train import evaluate

    backbone = copy.deepcopy(base.backbone)
    trunk = prepare(backbone)
    trunk = backbone if trunk is None else trunk
    width = base.head_a.weight.shape[1]
    head_b = Linear(width, 5, rng=np.random.default_rng(base.seed + 2000))
    head_b.requires_grad_(train_head)
    model_b = Sequential(trunk, head_b)
    params = trainable_parameters(trunk, head_b)
    t = base.tasks
    hist = train_classifier(
        model_b,
        params,
        t.b.x_train,
        t.b.y_train,
        epochs=epochs,
        lr=lr,
        batch_size=batch_size,
        seed=base.seed,
        callbacks=callbacks,
    )
    head_a = copy.deepcopy(base.head_a)
    acc_new = evaluate(model_b, t.b.x_test, t.b.y_test)["accuracy"]
    acc_old = evaluate(Sequential(trunk, head_a), t.a.x_test, t.a.y_test)["accuracy"]
    return {
        "acc_new": acc_new,
        "acc_old": acc_old,
        "trainable": count_trainable(trunk, head_b),
        "trainable_trunk": count_trainable(trunk),
        "trunk": trunk,
        "head_b": head_b,
        "history": hist,
    }
