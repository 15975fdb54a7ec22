"""The experiment: Model Stock from two noisy fine-tunes vs their plain average and vs one fine-tune.

Setup (`finetuning.py`'s harness setup, shared with model-soups).  θ_0 = w_0 is a wide MLP 64-1024-5
pretrained on digits 0–4 and linearly probed on the target, digits 5–9 with 10 training examples per
class (the rest held out).  Two fine-tunes w_1, w_2 from w_0 differ only by their seed (batch order and
the per-batch Gaussian input noise of std 0.3: the fine-tuning noise that spreads the deltas apart);
Adam at a constant rate, 10 epochs of batches of 16.  The first-pass setup (a narrow net, little noise)
left the deltas nearly parallel, t close to 1, where Model Stock is the plain average; the wide net and
the noise here are built to put cos θ between the deltas in the paper's regime.
Methods, each tuning the fine-tuning rate on the held-out split: one fine-tune (w_1); the uniform
average of the same two (t = 1, the ablation without the paper's angle); Model Stock (w_1, w_2 and the
anchor w_0, t per layer from the angle); and, for reference, the interpolation w_0 → w_12 with one t
tuned on the held-out split (what the closed form is meant to replace).
Premise.  The deltas are far from parallel but not orthogonal: mean cos θ over the layers in 0.2–0.6.
Claims.  Model Stock is more accurate on test than (1) one fine-tune and (2) the plain average of the
same two fine-tunes.
"""

from __future__ import annotations

import numpy as np

from ....experiments import Claim, Method, Premise, compare, experiment, finish
from ..finetuning import few_shot_target, finetune, pretrained_probe
from ..state import average, evaluate_state, interpolate
from . import model_stock

SLUG = "model-stock"
HIDDEN, N_SHOT, NOISE = 1024, 10, 0.3
LRS, QUICK_LRS = [1e-3, 3e-3, 1e-2], [3e-3]
TS = [0.2, 0.4, 0.6, 0.8, 1.0]  # the reference arm's grid of one global t


def pair(seed: int, lr: float) -> tuple:
    """(w_0, [w_1, w_2]): the anchor of `seed` and two fine-tunes that differ only by their seed."""
    w0 = pretrained_probe(HIDDEN, seed, N_SHOT)
    fts = [
        finetune(HIDDEN, seed, lr=lr, seed=1000 * seed + j, noise=NOISE, n_per_class=N_SHOT) for j in (0, 1)
    ]
    return w0, fts


def _metrics(sd, task) -> dict:
    return {
        "val_accuracy": evaluate_state(sd, task.x_val, task.y_val)["accuracy"],
        "test_accuracy": evaluate_state(sd, task.x_test, task.y_test)["accuracy"],
    }


def _arms():
    task = few_shot_target(N_SHOT)

    def single(seed, lr):
        return _metrics(pair(seed, lr)[1][0], task)

    def plain_average(seed, lr):
        return _metrics(average(pair(seed, lr)[1]), task)

    def stock(seed, lr):
        w0, fts = pair(seed, lr)
        r = model_stock(w0, fts)
        weights = [k for k in w0 if w0[k].ndim == 2]
        return {
            **_metrics(r["state"], task),
            "cos_theta": float(np.mean(list(r["cos"].values()))),
            "t_mean": float(np.mean(list(r["t"].values()))),
            **{f"cos[{k}]": c for k, c in r["cos"].items()},
            **{f"t[{k}]": v for k, v in r["t"].items()},
            "weight_cos_theta": float(np.mean([r["cos"][k] for k in weights])),
        }

    def tuned_t(seed, lr, t):
        w0, fts = pair(seed, lr)
        return _metrics(interpolate(w0, average(fts), t), task)

    grid, quick = {"lr": LRS}, {"lr": QUICK_LRS}
    return [
        Method("single", single, grid=grid, quick_grid=quick),
        Method("average", plain_average, grid=grid, quick_grid=quick),
        Method("model-stock", stock, grid=grid, quick_grid=quick),
        Method("tuned-t", tuned_t, grid={**grid, "t": TS}, quick_grid={**quick, "t": TS}),
    ]


@experiment(SLUG, seeds=range(10), quick_seeds=(0, 1))
def run(quick, seeds, progress):
    comparison = compare(_arms(), seeds, select="val_accuracy", quick=quick, progress=progress)
    premises = [
        Premise(
            "the fine-tuned deltas are far from parallel: mean cos θ over the layers below 0.6 (t departs from 1)",
            metric="cos_theta",
            method="model-stock",
            threshold=0.6,
            direction="less",
        ),
        Premise(
            "the fine-tuned deltas share a direction: mean cos θ over the layers above 0.2",
            metric="cos_theta",
            method="model-stock",
            threshold=0.2,
        ),
    ]
    claims = [
        Claim(
            "Model Stock (two fine-tunes and the anchor) is more accurate on test than one fine-tune",
            metric="test_accuracy",
            method="model-stock",
            baseline="single",
        ),
        Claim(
            "Model Stock is more accurate on test than the plain average of the same two fine-tunes",
            metric="test_accuracy",
            method="model-stock",
            baseline="average",
        ),
    ]
    keys = list(pretrained_probe(HIDDEN, seeds[0], N_SHOT))
    per_layer = {
        name: np.array([comparison.values("model-stock", f"{name}[{k}]") for k in keys])
        for name in ("cos", "t")
    }
    return finish(
        SLUG,
        comparison,
        premises=premises,
        claims=claims,
        quick=quick,
        smoke=quick,
        arrays={"layer_cos": per_layer["cos"], "layer_t": per_layer["t"]},  # (tensor, seed)
        notes={"tensors": keys, "hidden": HIDDEN, "n_per_class": N_SHOT, "noise": NOISE},
        metrics=["test_accuracy", "val_accuracy", "cos_theta", "weight_cos_theta", "t_mean"],
    )


def plot(result) -> dict:
    from ....plotting import pyplot

    plt = pyplot()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.8))
    names = result.notes["tensors"]
    cos, t = result.arrays["layer_cos"], result.arrays["layer_t"]
    x = np.arange(len(names))
    ax1.boxplot(list(cos), positions=x - 0.15, widths=0.25)
    ax1.boxplot(list(t), positions=x + 0.15, widths=0.25)
    ax1.scatter([], [], marker="s", c="k", label="left: cos θ, right: t = 2cosθ/(1+cosθ)")
    ax1.axhspan(0.2, 0.6, color="tab:green", alpha=0.15, label="premise: cos θ in 0.2–0.6")
    ax1.set_xticks(x, names)
    ax1.set_ylabel("per tensor, over seeds")
    ax1.set_title("angle between the two fine-tuned deltas")
    ax1.legend(fontsize=7)
    methods = result.methods
    for i, m in enumerate(methods):
        v = 100 * np.array(result.values(m, "test_accuracy"))
        ax2.scatter(np.full(len(v), i) + np.linspace(-0.15, 0.15, len(v)), v, alpha=0.6)
        ax2.errorbar(i + 0.3, v.mean(), yerr=v.std(ddof=1) / np.sqrt(len(v)), fmt="o", c="k")
    ax2.set_xticks(range(len(methods)), methods)
    ax2.set_ylabel("test accuracy (%)")
    ax2.set_title("each seed, and mean ± s.e.")
    fig.tight_layout()
    return {SLUG: fig}
