"""The experiment: a 64-64-64-10 student MLP initialised by weight selection from a trained 64-512-512-10
teacher, against the same student from random initialisation, on a small subset of the digits.

Setup.  The teacher (one per seed, shared by every arm) is trained on the whole digits training split
(Adam, lr 1e-3, 20 epochs).  Every student is trained on a fixed stratified subset of 20 examples per
class (200) for 10 epochs (Adam, batch 32) — the small-data, short-training regime where the paper reports
its largest gains — and tunes its own learning rate on the full validation split.  Arms: random init
(PyTorch's default Kaiming-uniform; the ablation without the paper's idea) · uniform selection (the
paper) · consecutive selection · random selection with and without consistency (the paper's ablations) ·
random init + KD · uniform selection + KD (Hinton distillation from the teacher, T = 4, α = 0.9, fixed).
Every selection arm also selects the head (same label set as the teacher).
Premise.  There is knowledge to transfer at this budget: the teacher beats the randomly initialised
student by more than two points (paired over seeds, whole interval).
Claims.  (1) Weight selection beats random initialisation by more than one point.  (2) Consistency
matters: random selection that keeps neuron correspondences beats random selection that does not.
(3) Weight selection adds to distillation: uniform + KD beats random init + KD.
Grid.  Rates 1e-3 … 1e-1; 3e-2 and then 1e-1 were added after the first recording, when the grid-edge check
found random initialisation (with and without KD) at the highest rate then tried (1e-2, then 3e-2 for
random init + KD and consistent random selection).
"""

from __future__ import annotations

import functools

import numpy as np

from ....experiments import Claim, Method, Premise, compare, experiment, finish, split_metrics, tasks, train
from . import init_from_larger

SLUG = "weight-selection"
TEACHER, STUDENT = [64, 512, 512, 10], [64, 64, 64, 10]
PER_CLASS, EPOCHS, BATCH = 20, 10, 32  # the student's small budget
TEACHER_LR, TEACHER_EPOCHS = 1e-3, 20
KD_T, KD_ALPHA = 4.0, 0.9  # Hinton KD: a common default, fixed before any run
ARMS = {  # name → (selection method or None for random init, consistent, distil)
    "random init": (None, True, False),
    "uniform selection": ("uniform", True, False),
    "consecutive selection": ("consecutive", True, False),
    "random selection (consistent)": ("random", True, False),
    "random selection (inconsistent)": ("random", False, False),
    "random init + KD": (None, True, True),
    "uniform selection + KD": ("uniform", True, True),
}


@functools.cache
def _subset(per_class: int):
    """A fixed stratified subset of the training split: the first `per_class` of each class in a fixed
    shuffle (the data do not change with the experiment's seed, so seeds pair)."""
    task = tasks.digits()
    order = np.random.default_rng(0).permutation(len(task.y_train))
    keep = np.sort(np.concatenate([order[task.y_train[order] == c][:per_class] for c in range(10)]))
    return task.x_train[keep], task.y_train[keep]


@functools.cache
def _teacher(seed: int):
    """The trained teacher of `seed` (state dict, metrics), shared by every arm."""
    from ....nn import MLP

    task = tasks.digits()
    model = MLP(TEACHER, rng=np.random.default_rng(seed))
    train(model, task, lr=TEACHER_LR, epochs=TEACHER_EPOCHS, seed=seed)
    return model.state_dict(), split_metrics(model, task)


def _teacher_model(seed: int):
    from ....nn import MLP

    model = MLP(TEACHER, rng=np.random.default_rng(seed))
    model.load_state_dict(_teacher(seed)[0])
    return model


class _ValCurve:
    """Validation accuracy after every epoch (for the learning curves)."""

    def __init__(self, task):
        self.task, self.acc = task, []

    def on_epoch_end(self, state):
        self.acc.append(split_metrics(state.model, self.task, splits=("val",))["val_accuracy"])


class _Eager:
    """Keeps `fit` in eager mode: the KD loss looks soft targets up by sample index, which a recorded
    (compiled) step would freeze."""

    def on_step_end(self, state):
        pass


def _kd_loss(labels, soft):
    """(1 − α)·CE(z, y) + α·T²·CE(z/T, softmax(t/T)); the batch's "targets" are sample indices."""
    from ....nn import functional as F

    def loss(z, idx):
        idx = np.asarray(idx)
        hard = F.cross_entropy(z, labels[idx])
        return (1 - KD_ALPHA) * hard + (KD_ALPHA * KD_T**2) * F.cross_entropy(z / KD_T, soft[idx])

    return loss


def _arm(name: str):
    method, consistent, distil = ARMS[name]

    def run(seed, lr):
        from ....nn import MLP
        from ....train import predict

        task = tasks.digits()
        x, y = _subset(PER_CLASS)
        student = MLP(STUDENT, rng=np.random.default_rng(seed + 100))
        if method is not None:
            init_from_larger(
                student, _teacher_model(seed), method, consistent, rng=np.random.default_rng(seed + 200)
            )
        at_init = split_metrics(student, task, splits=("val", "test"))
        curve = _ValCurve(task)
        if distil:
            logits = predict(_teacher_model(seed), x).astype(np.float64) / KD_T
            soft = np.exp(logits - logits.max(axis=1, keepdims=True))
            soft = (soft / soft.sum(axis=1, keepdims=True)).astype(np.float32)
            kw = dict(x=x, y=np.arange(len(y)), loss_fn=_kd_loss(y, soft), callbacks=[curve, _Eager()])
        else:
            kw = dict(x=x, y=y, callbacks=[curve])
        train(student, task, lr=lr, epochs=EPOCHS, seed=seed, batch_size=BATCH, **kw)
        return {
            **split_metrics(student, task),
            "test_accuracy_at_init": at_init["test_accuracy"],
            **{f"val_accuracy_epoch{e}": a for e, a in enumerate([at_init["val_accuracy"]] + curve.acc)},
        }

    return Method(name, run, grid={"lr": [1e-3, 3e-3, 1e-2, 3e-2, 1e-1]}, quick_grid={"lr": [3e-3]})


def _teacher_arm():
    def run(seed):
        return dict(_teacher(seed)[1])

    return Method("teacher", run)


@experiment(SLUG, seeds=tuple(range(10)), quick_seeds=(0, 1))
def run(quick, seeds, progress):
    methods = [_teacher_arm()] + [_arm(n) for n in ARMS]
    comparison = compare(methods, seeds, select="val_accuracy", quick=quick, progress=progress)
    premise = Premise(
        "the teacher beats the randomly initialised student at the small budget by more than two points",
        metric="test_accuracy",
        method="teacher",
        baseline="random init",
        threshold=0.02,
        strict=True,
    )
    claims = [
        Claim(
            "Weight selection (uniform) beats random initialisation by more than one point",
            metric="test_accuracy",
            method="uniform selection",
            baseline="random init",
            margin=0.01,
        ),
        Claim(
            "Consistency matters: random selection keeping neuron correspondences beats random selection "
            "without them",
            metric="test_accuracy",
            method="random selection (consistent)",
            baseline="random selection (inconsistent)",
        ),
        Claim(
            "Weight selection adds to distillation: uniform selection + KD beats random init + KD",
            metric="test_accuracy",
            method="uniform selection + KD",
            baseline="random init + KD",
        ),
    ]
    names = list(ARMS)
    epochs = np.arange(EPOCHS + 1)
    curves = np.array(
        [[np.mean(comparison.values(n, f"val_accuracy_epoch{e}")) for e in epochs] for n in names]
    )
    return finish(
        SLUG,
        comparison,
        premises=[premise],
        claims=claims,
        quick=quick,
        smoke=quick,
        arrays={
            "epochs": epochs,
            "val_curve": curves,
            "test_accuracy": np.array([comparison.values(n, "test_accuracy") for n in names]),
            "teacher_test_accuracy": np.array(comparison.values("teacher", "test_accuracy")),
        },
        notes={"arms": names, "student_examples": int(len(_subset(PER_CLASS)[1]))},
        metrics=["test_accuracy", "val_accuracy", "test_accuracy_at_init", "val_accuracy_epoch1"],
    )


def plot(result) -> dict:
    from ....plotting import pyplot

    plt = pyplot()
    names = result.notes["arms"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    ax = axes[0]
    for name, curve in zip(names, np.asarray(result.arrays["val_curve"])):
        ax.plot(result.arrays["epochs"], curve, "--" if "KD" in name else "-", marker=".", label=name)
    ax.axhline(np.mean(result.arrays["teacher_test_accuracy"]), color="k", lw=0.8, ls=":", label="teacher")
    ax.set_xlabel("student epoch (0 = at initialisation)")
    ax.set_ylabel("validation accuracy (mean over seeds)")
    ax.legend(fontsize=7)
    ax = axes[1]
    acc = np.asarray(result.arrays["test_accuracy"])
    mean = acc.mean(axis=1)
    half = 1.96 * acc.std(axis=1, ddof=1) / np.sqrt(acc.shape[1]) if acc.shape[1] > 1 else 0 * mean
    y = np.arange(len(names))
    ax.errorbar(mean, y, xerr=half, fmt="o", capsize=3)
    ax.set_yticks(y, names)
    ax.invert_yaxis()
    ax.set_xlabel("test accuracy after training\n(mean and ≈95 % interval over seeds)")
    fig.suptitle(
        f"64-64-64-10 student on {result.notes['student_examples']} digits: weight selection vs random init",
        fontsize=10,
    )
    fig.tight_layout()
    return {SLUG: fig}
