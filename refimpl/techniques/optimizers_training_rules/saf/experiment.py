"""The experiment: SAF against SGD (the same training without the trajectory loss), SGD with a tuned
weight decay, and SAM, on digits with noisy labels; accuracy, flatness and cost.

Setup.  A 64-256-10 MLP on the 8×8 digits with 40 % of the training and validation labels flipped
(`tasks.digits("label_noise")`; the test split is clean): noisy labels give the generalization gap
that sharpness-aware training is meant to close.  Every arm trains `EPOCHS` epochs with SGD (momentum
0.9, batch 64) and a cosine decay of the learning rate to 0.  SAF uses the official constants τ = 5,
E = 3, KL from epoch 6 (`SAFLoss`); SAM perturbs along the global normalised gradient.
Grids (selected on validation accuracy, mean over two selection seeds; every arm has 25 points):
  SGD      the exact ablation: SAF's recipe (weight decay 5e-4) without the trajectory loss; learning
           rate only, on a finer grid of the same size;
  SGD+wd   SGD with its own regularizer tuned: learning rate × weight decay (a grid containing 5e-4);
  SAM      learning rate × ρ, weight decay 5e-4;
  SAF      learning rate × λ from the README's 0.3 up by factors of about 3 (the argparse default 0.16 is
           within a factor of two of 0.3), weight decay 5e-4.
Flatness.  The family's shared measures on the final weights, on a fixed probe of 500 training samples
with their (noisy) training labels: the top Hessian eigenvalue (power iteration on exact
Hessian-vector products), the adversarial and the mean random loss rise at ρ = 0.05.
Premise.  Sharpness-aware training must help on this task for SAF's promise to be testable: SAM beats
SGD (same recipe) by more than half a point of test accuracy.
Claims.  (1) SAF beats SGD with the same recipe and (2) SGD with a tuned weight decay in test accuracy;
(3) SAF ends flatter than SGD (lower top Hessian eigenvalue); (4) SAF matches SAM within one point at one
gradient evaluation per step instead of two (the counts are in the table).
"""

from __future__ import annotations

import numpy as np

from ....experiments import Claim, Method, Premise, compare, experiment, finish, split_metrics, tasks, train
from . import SAM, SAFLoss

SLUG = "saf"
SIZES = [64, 256, 10]
EPOCHS, QUICK_EPOCHS = 150, 12
BATCH = 64
WEIGHT_DECAY = 5e-4  # the recipe of the SAF and SAM arms
RHO_SHARPNESS = 0.05  # radius of the random / adversarial loss-rise measures
PROBE = 500  # training samples on which flatness is measured
LRS = [0.005, 0.01, 0.02, 0.05, 0.1]
GRIDS = {
    "SGD": {"lr": [float(f"{v:.2g}") for v in np.geomspace(0.002, 0.2, 25)]},  # 0.002 … 0.2
    "SGD+wd": {"lr": LRS, "weight_decay": [5e-4, 2e-3, 5e-3, 2e-2, 5e-2]},
    "SAM": {"lr": LRS, "rho": [0.05, 0.1, 0.2, 0.5, 1.0]},
    "SAF": {"lr": LRS, "lam": [0.3, 1.0, 3.0, 10.0, 30.0]},
}
QUICK_GRIDS = {
    "SGD": {"lr": [0.02]},
    "SGD+wd": {"lr": [0.02], "weight_decay": [5e-3]},
    "SAM": {"lr": [0.02], "rho": [0.1]},
    "SAF": {"lr": [0.02], "lam": [3.0]},
}


def task():
    return tasks.digits("label_noise")


def _probe(t):
    idx = np.random.default_rng(0).choice(len(t.x_train), size=PROBE, replace=False)
    return t.x_train[idx], t.y_train[idx]


def _arm(name: str, quick: bool) -> Method:
    epochs = QUICK_EPOCHS if quick else EPOCHS

    def run(seed, lr, weight_decay=WEIGHT_DECAY, rho=0.0, lam=0.0):
        from ....nn import MLP
        from ....nn import functional as F
        from .sharpness import sharpness

        t = task()
        n = len(t.x_train)
        model = MLP(SIZES, rng=np.random.default_rng(seed))
        callbacks, extra = [], {}
        sam = saf = None
        if name == "SAM":
            sam = SAM(F.cross_entropy, rho)
            callbacks.append(sam)
        if name == "SAF":
            saf = SAFLoss(n, t.num_classes, lam=lam)  # τ = 5, E = 3, KL from epoch 6 (official)
            callbacks.append(saf)
            extra = {"loss_fn": saf, "y": np.stack([t.y_train, np.arange(n)], axis=1)}
        hist = train(
            model,
            t,
            lr=lr,
            epochs=epochs,
            seed=seed,
            batch_size=BATCH,
            optimizer="sgd",
            weight_decay=weight_decay,
            cosine=True,
            callbacks=callbacks,
            **extra,
        )
        steps = len(hist["step_loss"])
        evals = steps + (sam.extra_gradient_evaluations if sam is not None else 0)
        x, y = _probe(t)
        sh = sharpness(model, F.cross_entropy, x, y, rho=RHO_SHARPNESS, hessian_iters=20, seed=seed)
        return {
            **split_metrics(model, t),
            "train_accuracy_noisy": split_metrics(model, t, splits=("train",))["train_accuracy"],
            "hessian_top": sh["hessian_top"],
            "adversarial_rise": sh["adversarial"],
            "random_rise": sh["random_mean"],
            "grad_evals_per_step": evals / steps,
            "kl_steps_fraction": (saf.kl_steps / steps) if saf is not None else 0.0,
        }

    return Method(name, run, grid=GRIDS[name], quick_grid=QUICK_GRIDS[name])


@experiment(SLUG, seeds=range(8), quick_seeds=(0, 1))
def run(quick, seeds, progress):
    methods = [_arm(n, quick) for n in GRIDS]
    comparison = compare(
        methods,
        seeds,
        select="val_accuracy",
        quick=quick,
        progress=progress,
        selection_seeds=seeds[:1] if quick else seeds[:2],
    )
    helps = "sharpness-aware training helps here: SAM beats SGD (same recipe) by more than half a point"
    premises = [Premise(helps, "test_accuracy", "SAM", threshold=0.005, baseline="SGD")]
    claims = [
        Claim(
            "SAF improves test accuracy over SGD with the same recipe (the trajectory loss removed)",
            "test_accuracy",
            "SAF",
            "SGD",
        ),
        Claim(
            "SAF improves test accuracy over SGD with its weight decay tuned",
            "test_accuracy",
            "SAF",
            "SGD+wd",
        ),
        Claim(
            "SAF ends in a flatter minimum than SGD (lower top Hessian eigenvalue of the training loss)",
            "hessian_top",
            "SAF",
            "SGD",
            direction="less",
            premises=(),
        ),
        Claim(
            "SAF matches SAM's test accuracy within one point at one gradient evaluation per step instead of two",
            "test_accuracy",
            "SAF",
            "SAM",
            margin=-0.01,
            premises=(),
        ),
    ]
    names = [m.name for m in methods]
    keys = ["test_accuracy", "hessian_top", "adversarial_rise"]
    return finish(
        SLUG,
        comparison,
        premises=premises,
        claims=claims,
        quick=quick,
        smoke=quick,
        arrays={k: np.array([comparison.values(n, k) for n in names]) for k in keys},
        notes={"methods": names, "epochs": QUICK_EPOCHS if quick else EPOCHS},
        metrics=[
            "test_accuracy",
            "val_accuracy",
            "train_accuracy_noisy",
            "hessian_top",
            "adversarial_rise",
            "random_rise",
            "grad_evals_per_step",
        ],
    )


def plot(result) -> dict:
    from ....plotting import pyplot

    plt = pyplot()
    names = result.notes["methods"]
    titles = {
        "test_accuracy": "test accuracy (clean labels)",
        "hessian_top": "top Hessian eigenvalue (train loss)",
        "adversarial_rise": f"adversarial loss rise, ρ = {RHO_SHARPNESS}",
    }
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.4))
    for ax, (key, title) in zip(axes, titles.items()):
        vals = result.arrays[key]
        for i, row in enumerate(vals):
            ax.plot(np.full(len(row), i), row, "o", color="0.6", ms=3)
            ax.plot([i], [np.mean(row)], "D", color=f"C{i}", ms=8)
        ax.set_xticks(range(len(names)), names)
        ax.set_title(title, fontsize=9)
    fig.suptitle(
        f"digits, 40 % label noise, {result.notes['epochs']} epochs (dots: seeds, diamonds: means)",
        fontsize=9,
    )
    fig.tight_layout()
    return {SLUG: fig}
