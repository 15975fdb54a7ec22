"""The experiment: grow a trained Pattention network by appending zero-key tokens, against training the large
network from scratch and against not growing.

Toy: the 8×8 digits, classified by `TokenMLP` — Pattention(64 → 32, n) → parameter-free layer norm →
Pattention(32 → 10, n); n is the number of parameter tokens in each layer (the network's capacity).
Budget: two phases of E epochs (E = 20; 3 in the quick run), Adam, batch 64.

Methods (each tuned on validation loss over its own 5-point learning-rate grid; one rate for both phases):

* **grown** — n = 4 for E epochs, then `grow_model` to 2n = 8 (zero keys, τ = √n following the count, as the
  official code) and E more epochs (Adam restarted);
* **grown-keep-tau** — the same with τ frozen at its old value (the exactly function-preserving variant; ours);
* **scratch-2n** — n = 8 from scratch for 2E epochs (twice the epochs at the large size);
* **small-n** — n = 4 for 2E epochs (the ablation without growth).

Premise: capacity matters — scratch-2n's test accuracy exceeds small-n's by more than 2 points.
Claims, margins fixed from the paper's claim before running: (1) the grown model's test accuracy is within
2 points of scratch-2n's (> −0.02) while it spent half the epochs at the large size; (2) growing beats not
growing (grown − small-n > 0); (3) the grown model resumes near its previous loss: its validation loss right
after growth is within 0.1 nat of the same model's right before (grown − small-n on `resume_loss`, which for
small-n is the pre-growth model itself: same seed, same first phase).
"""

from __future__ import annotations

import numpy as np

from ....experiments import Claim, Method, Premise, compare, experiment, finish, split_metrics, tasks, train
from ....train import evaluate
from . import TokenMLP, grow_model

SLUG = "tokenformer"
N_SMALL, N_LARGE, HIDDEN = 4, 8, 32
LRS = [1e-3, 3e-3, 1e-2, 3e-2, 1e-1]
METHODS = ("grown", "grown-keep-tau", "scratch-2n", "small-n")


class _Curve:
    """on_epoch_end: append the validation loss (the curve the plot shows)."""

    def __init__(self, model, task, out):
        self.model, self.task, self.out = model, task, out

    def on_epoch_end(self, state):
        self.out.append(_val_loss(self.model, self.task))


def _val_loss(model, task):
    from ....nn import functional as F

    return float(evaluate(model, task.x_val, task.y_val, loss_fn=F.cross_entropy)["loss"])


def _arm(kind: str, epochs: int, curves: dict):
    def run(seed, lr):
        task = tasks.digits()
        n0 = N_LARGE if kind == "scratch-2n" else N_SMALL
        model = TokenMLP(task.in_features, HIDDEN, task.num_classes, n0, rng=seed)
        curve = [_val_loss(model, task)]
        train(model, task, lr=lr, epochs=epochs, seed=seed, callbacks=[_Curve(model, task, curve)])
        before = curve[-1]
        if kind.startswith("grown"):
            model = grow_model(model, N_LARGE - N_SMALL, seed=seed, keep_tau=kind == "grown-keep-tau")
        resume = _val_loss(model, task)
        train(model, task, lr=lr, epochs=epochs, seed=seed + 1000, callbacks=[_Curve(model, task, curve)])
        curves[(kind, lr, seed)] = np.array([*curve[: epochs + 1], resume, *curve[epochs + 1 :]])
        return {
            **split_metrics(model, task),
            "resume_loss": resume,
            "loss_jump": resume - before,
            "epochs_at_2n": float(
                epochs if kind.startswith("grown") else 2 * epochs if kind == "scratch-2n" else 0
            ),
        }

    return run


@experiment(SLUG, seeds=(0, 1, 2, 3, 4), quick_seeds=(0, 1))
def run(quick, seeds, progress):
    epochs = 3 if quick else 20
    curves: dict = {}
    methods = [
        Method(k, _arm(k, epochs, curves), grid={"lr": LRS}, quick_grid={"lr": [1e-2]}) for k in METHODS
    ]
    comparison = compare(methods, seeds, select="val_loss", maximize=False, quick=quick, progress=progress)
    premise = Premise(
        "capacity matters: the 2n-token network from scratch beats the n-token one by > 2 points of test accuracy",
        "test_accuracy",
        "scratch-2n",
        baseline="small-n",
        threshold=0.02,
    )
    claims = [
        Claim(
            "the grown model's test accuracy is within 2 points of the 2n model trained from scratch "
            "(with half the epochs at size 2n)",
            "test_accuracy",
            "grown",
            baseline="scratch-2n",
            margin=-0.02,
        ),
        Claim(
            "growing by zero-key tokens beats continuing the small model",
            "test_accuracy",
            "grown",
            baseline="small-n",
        ),
        Claim(
            "the grown model resumes near its previous loss: validation loss right after growth within 0.1 nat "
            "of the pre-growth model's",
            "resume_loss",
            "grown",
            baseline="small-n",
            direction="less",
            margin=0.1,
            premises=(),
        ),
    ]
    sel = {m: comparison.selected[m]["lr"] for m in METHODS}
    arrays = {"curves": np.array([np.mean([curves[(m, sel[m], s)] for s in seeds], axis=0) for m in METHODS])}
    return finish(
        SLUG,
        comparison,
        premises=[premise],
        claims=claims,
        quick=quick,
        smoke=quick,
        arrays=arrays,
        notes={
            "methods": list(METHODS),
            "epochs_per_phase": epochs,
            "n": [N_SMALL, N_LARGE],
            "hidden": HIDDEN,
        },
        metrics=["test_accuracy", "val_accuracy", "val_loss", "resume_loss", "loss_jump", "epochs_at_2n"],
    )


def plot(result) -> dict:
    import matplotlib.pyplot as plt

    names, E = result.notes["methods"], result.notes["epochs_per_phase"]
    curves = np.asarray(result.arrays["curves"])
    x = np.r_[np.arange(E + 1), E, np.arange(E + 1, 2 * E + 1)]  # the growth point appears twice
    fig, ax = plt.subplots(figsize=(7, 4))
    for i, name in enumerate(names):
        ax.plot(x, curves[i], label=name, color=f"C{i}", ls="--" if name == "grown-keep-tau" else "-")
    ax.axvline(E, color="grey", lw=0.8, ls=":")
    ax.set_yscale("log")
    ax.set_xlabel("epoch (growth at the dotted line)")
    ax.set_ylabel("validation loss (mean over seeds)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return {SLUG: fig}
