"""The experiment: EWA-trained token model vs the same model trained dense, on a small training set.

Setup.  The 8×8 digits as 8 row tokens (`TokenModel`: embedding, two pre-LN residual FFN blocks, flatten,
linear head), trained on only `N_PER_CLASS` examples per class of `tasks.digits()` (a fixed subset; the
validation and test splits are unchanged), long enough to fit the training set exactly: the overfitting
regime in which a regulariser can help (the paper reports its largest gains on small datasets).
Methods, each with the same architecture at deployment, the same epochs, batches and optimizer, and its
own grid chosen on validation accuracy: the dense model (rate); a router-free MoE of `N_EXPERTS` experts
in the second block, averaged into one FFN at the end, without EWA (β = 1: the ablation lacking only the
paper's idea; rate); the same MoE with EWA after every step (rate and β).
Premise.  The dense model overfits: its training accuracy exceeds its validation accuracy by more than
ten points.
Claims (the paper: EWA improves ViTs over their plain training, and naive MoE on small datasets).  (1) EWA
is more accurate on test than the dense model; (2) EWA is more accurate on test than the MoE without EWA.
"""

from __future__ import annotations

import functools

import numpy as np

from ....experiments import Claim, Method, Premise, compare, experiment, finish, split_metrics, tasks, train
from . import EWACallback, TokenModel

SLUG = "experts-weights-averaging"
N_PER_CLASS, N_EXPERTS = 10, 4
EPOCHS, QUICK_EPOCHS, BATCH = 80, 15, 32
LRS, QUICK_LRS = [1e-3, 3e-3], [3e-3]
BETAS, QUICK_BETAS = [0.5, 0.9, 0.99], [0.9]


@functools.cache
def small_digits(n_per_class: int = N_PER_CLASS) -> tasks.Task:
    """`tasks.digits()` keeping `n_per_class` training examples per class (fixed, drawn with the tasks'
    data seed); validation and test unchanged."""
    base = tasks.digits()
    rng = np.random.default_rng(tasks.DATA_SEED)
    keep = np.sort(
        np.concatenate(
            [rng.choice(np.flatnonzero(base.y_train == c), n_per_class, replace=False) for c in range(10)]
        )
    )
    x, y = base.x_train[keep], base.y_train[keep]
    x.flags.writeable = y.flags.writeable = False
    return tasks.Task(
        f"digits-{n_per_class}per-class",
        x,
        y,
        base.x_val,
        base.y_val,
        base.x_test,
        base.y_test,
        num_classes=10,
        meta={"n_per_class": n_per_class},
    )


def _fit(seed, lr, n_experts, beta, quick):
    task = small_digits()
    model = TokenModel(n_experts=n_experts, rng=np.random.default_rng(seed), seed=seed)
    cbs = [EWACallback(model, beta)] if n_experts > 1 else []
    train(
        model,
        task,
        lr=lr,
        epochs=QUICK_EPOCHS if quick else EPOCHS,
        seed=seed,
        batch_size=BATCH,
        callbacks=cbs,
    )
    model.eval()  # MoE layers answer with their averaged FFN: the deployed dense model
    out = {**split_metrics(model, task, splits=("train", "val", "test"))}
    out["generalization_gap"] = out["train_accuracy"] - out["val_accuracy"]
    if n_experts > 1:
        out["expert_spread"] = model.ffn2.expert_spread()
    return out


def _arms(quick):
    def dense(seed, lr):
        return _fit(seed, lr, 1, 1.0, quick)

    def moe(seed, lr):
        return _fit(seed, lr, N_EXPERTS, 1.0, quick)

    def ewa(seed, lr, beta):
        return _fit(seed, lr, N_EXPERTS, beta, quick)

    lr, qlr = {"lr": LRS}, {"lr": QUICK_LRS}
    return [
        Method("dense", dense, grid=lr, quick_grid=qlr),
        Method("moe-no-ewa", moe, grid=lr, quick_grid=qlr),
        Method("ewa", ewa, grid={**lr, "beta": BETAS}, quick_grid={**qlr, "beta": QUICK_BETAS}),
    ]


@experiment(SLUG, seeds=range(8), quick_seeds=(0, 1))
def run(quick, seeds, progress):
    comparison = compare(
        _arms(quick),
        seeds,
        select="val_accuracy",
        quick=quick,
        selection_seeds=seeds[:2],
        progress=progress,
    )
    premises = [
        Premise(
            "the dense model overfits: training accuracy above validation accuracy by more than ten points",
            metric="generalization_gap",
            method="dense",
            threshold=0.10,
        )
    ]
    claims = [
        Claim(
            "EWA training is more accurate on test than training the dense model",
            metric="test_accuracy",
            method="ewa",
            baseline="dense",
        ),
        Claim(
            "EWA training is more accurate on test than the same MoE without EWA (averaged at the end)",
            metric="test_accuracy",
            method="ewa",
            baseline="moe-no-ewa",
        ),
    ]
    return finish(
        SLUG,
        comparison,
        premises=premises,
        claims=claims,
        quick=quick,
        smoke=quick,
        notes={
            "n_per_class": N_PER_CLASS,
            "n_experts": N_EXPERTS,
            "epochs": QUICK_EPOCHS if quick else EPOCHS,
        },
        metrics=["test_accuracy", "val_accuracy", "train_accuracy", "generalization_gap", "expert_spread"],
    )


def plot(result) -> dict:
    from ....plotting import pyplot

    plt = pyplot()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.8))
    methods = result.methods
    for i, m in enumerate(methods):
        for j, (metric, mk) in enumerate((("train_accuracy", "^"), ("test_accuracy", "o"))):
            v = 100 * np.array(result.values(m, metric))
            ax1.scatter(np.full(len(v), i) + (j - 0.5) * 0.3, v, marker=mk, alpha=0.6, c=f"C{j}")
    ax1.scatter([], [], marker="^", c="C0", label="train")
    ax1.scatter([], [], marker="o", c="C1", label="test")
    ax1.set_xticks(range(len(methods)), methods)
    ax1.set_ylabel("accuracy (%)")
    ax1.set_title("the overfitting gap, each seed")
    ax1.legend(fontsize=8)
    for i, m in enumerate(methods):
        v = 100 * np.array(result.values(m, "test_accuracy"))
        ax2.errorbar(i, v.mean(), yerr=v.std(ddof=1) / np.sqrt(len(v)), fmt="o", c="k")
        ax2.scatter(np.full(len(v), i) + np.linspace(-0.15, 0.15, len(v)), v, alpha=0.5)
    ax2.set_xticks(range(len(methods)), methods)
    ax2.set_ylabel("test accuracy of the deployed dense model (%)")
    ax2.set_title("each seed, and mean ± s.e.")
    fig.tight_layout()
    return {SLUG: fig}
