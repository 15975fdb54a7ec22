"""The experiment: CW-ERM on digits with 30 % flipped labels, against uniform ERM, the coreset alone, a random
coreset, and Meta-Weight-Net run on the full training set.

Setup.  The bundled digits with 30 % of the training labels flipped (the family's `with_label_noise`); the
validation split is cut in two: its first 100 examples are the clean *meta set* Meta-Weight-Net learns
from, the other 259 select every arm's learning rate (`val_accuracy`); test is read only at the end.  The
feature space of the coreset and of the broadcasting is the top 16 principal components of the training
inputs (fitted without labels: a stand-in for the paper's pretrained features).  Classifier: a 64-64-10
ReLU MLP.  Arms:

* uniform ERM — Adam on the full noisy set, 20 epochs;
* CW-ERM — the moderate coreset (int(0.1·899) // 10 = 8 per class, the official rule), Meta-Weight-Net on it
  (SGD rate 0.1 for θ, Adam 1e-3 for φ, 40 epochs of the coreset), the weights broadcast by nearest
  neighbour among all coreset examples (official default), then Adam on the
  full set with those weights, 20 epochs;
* CW-ERM, random coreset — the same with a random coreset of the same per-class counts (the ablation of the
  selection);
* CW-ERM, weight function — the same coreset and weight net, but every example weighted by V of its own loss
  under the coreset-trained classifier instead of its nearest coreset example's weight (our variant: what
  carries over if the learned *function* is broadcast rather than the weights);
* coreset only — Adam on the moderate coreset alone, as many steps as the full-set arms (the ablation
  lacking the broadcast: what the coreset teaches by itself);
* MW-Net, full set — Meta-Weight-Net on all 899 examples for 20 epochs (its own SGD rate tuned): the
  reweighting the paper accelerates, at the full meta cost;
* clean labels — uniform ERM on the uncorrupted labels (for the premise only).

Meta cost is counted in training examples that pass through a virtual step (machine independent).
Premises.  (1) The noise hurts: ERM on the clean labels beats ERM on the noisy ones by more than three
points.  (2) The moderate coreset is cleaner than the pool: its share of flipped labels is below 20 %
(the pool's is 30 %).
Claims (margins fixed before the first full run).  (1) CW-ERM beats uniform ERM; (2) it beats training on
the coreset alone; (3) it comes within two points of Meta-Weight-Net on the full set (non-inferiority,
margin −0.02) at under a fifth of its meta cost; (4) the moderate coreset beats a random one within CW-ERM;
(5) broadcasting the weight function beats broadcasting the nearest neighbour's weight.  Reported beside:
the mean broadcast weight of flipped over clean labels (`noisy_weight_ratio`), whether the weights single
out the noise at all.
Changed after the first full recording (8 s): 6 → 10 seeds, and Adam's grid gained 0.1 (the clean-label
arm had chosen 0.03, the top); arms, claims and margins unchanged.  Then the official code was found: the
coreset rule, the broadcasting (any label) and the final loss (mean of w·ℓ, not renormalised) now follow
the authors' code and the weight net has 100 hidden units; the random coreset matches the moderate one's
per-class counts; arms, claims and margins unchanged, recorded again.  That recording flagged full-set
MW-Net's SGD rate 1 at the top of its grid (with the 100-unit weight net): the grid gained 3, recorded
again, and the choice moved to 3 — on seed 0 alone, and unstable on the other seeds.  Since then every arm
selects on the mean validation accuracy of seeds 0–2 (`SELECTION_SEEDS`), recorded once more.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from ....experiments import Claim, Method, Premise, compare, experiment, finish, split_metrics, tasks, train
from ..pools import with_label_noise
from . import MetaWeightTrainer, broadcast_nearest, moderate_coreset, weight_net

SLUG = "coreset-reweighting"
SIZES = [64, 64, 10]
NOISE, NOISE_SEED = 0.3, 0
N_META = 100  # the first N_META validation examples are the meta set
N_COMPONENTS = 16
FRACTION = 0.1
EPOCHS, BATCH = 20, 32
META_EPOCHS, QUICK_META_EPOCHS = 40, 10
INNER_LR, META_LR = 0.1, 1e-3
LRS = [3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1]  # Adam
MWN_LRS = [0.03, 0.1, 0.3, 1.0, 3.0]  # SGD, Meta-Weight-Net on the full set
SELECTION_SEEDS = 3  # every arm's hyperparameters on the mean over seeds 0-2
ARMS = (
    "uniform ERM",
    "CW-ERM",
    "CW-ERM, random coreset",
    "CW-ERM, weight function",
    "coreset only",
    "MW-Net, full set",
    "clean labels",
)


@functools.cache
def _pool():
    noisy = with_label_noise(tasks.digits(), NOISE, seed=NOISE_SEED)
    return dataclasses.replace(noisy, x_val=noisy.x_val[N_META:], y_val=noisy.y_val[N_META:])


@functools.cache
def _meta_set():
    t = tasks.digits()
    return t.x_val[:N_META], t.y_val[:N_META]


@functools.cache
def _features() -> np.ndarray:
    x = _pool().x_train.astype(np.float64)
    xc = x - x.mean(axis=0)
    _, _, vt = np.linalg.svd(xc, full_matrices=False)
    return xc @ vt[:N_COMPONENTS].T


def _model(seed):
    from ....nn import MLP

    return MLP(SIZES, rng=np.random.default_rng(seed))


def _random_coreset(y, like, seed) -> np.ndarray:
    """A random coreset with as many examples of each class as the coreset `like`."""
    rng = np.random.default_rng(seed)
    keep = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        keep.append(rng.choice(idx, size=int(np.sum(y[like] == c)), replace=False))
    return np.sort(np.concatenate(keep))


@functools.cache
def _coreset_weights(seed: int, kind: str, meta_epochs: int):
    """(coreset indices, broadcast weights over the full set, meta examples, and the weight function applied
    to every training example's loss under the coreset-trained classifier) for one seed."""
    pool = _pool()
    y = pool.y_train
    core = moderate_coreset(_features(), y, FRACTION)
    if kind == "random":
        core = _random_coreset(y, core, 31 + seed)
    xm, ym = _meta_set()
    trainer = MetaWeightTrainer(
        _model(10_000 + seed),
        weight_net(rng=20_000 + seed),
        pool.x_train[core],
        y[core],
        xm,
        ym,
        lr=INNER_LR,
        meta_lr=META_LR,
        batch_size=BATCH,
    )
    trainer.fit(meta_epochs, seed)
    w_core = trainer.weights(pool.x_train[core], y[core])
    w_all = trainer.weights(pool.x_train, y)
    return core, broadcast_nearest(_features(), y, core, w_core), trainer.meta_examples, w_all


def _weight_stats(w) -> dict:
    noisy = _pool().meta["noisy"]
    return {
        "noisy_weight_ratio": float(w[noisy].mean() / w[~noisy].mean()),
        "weight_spread": float(w.std() / w.mean()),
    }


def _arm(name, quick):
    meta_epochs = QUICK_META_EPOCHS if quick else META_EPOCHS
    epochs = 4 if quick else EPOCHS

    def run(seed, lr):
        pool = _pool()
        model = _model(seed)
        extra = {}
        if name in ("uniform ERM", "clean labels"):
            y = tasks.digits().y_train if name == "clean labels" else pool.y_train
            train(model, pool, lr=lr, epochs=epochs, seed=seed, batch_size=BATCH, y=y)
        elif name.startswith("CW-ERM"):
            kind = "random" if name == "CW-ERM, random coreset" else "moderate"
            core, w, cost, w_all = _coreset_weights(seed, kind, meta_epochs)
            if name == "CW-ERM, weight function":
                w = w_all
            train(
                model,
                pool,
                lr=lr,
                epochs=epochs,
                seed=seed,
                batch_size=BATCH,
                sample_weight=w,
                weight_norm="count",  # official WeightedCrossEntropyLoss: mean of w·ℓ
            )
            extra = {
                **_weight_stats(w),
                "meta_examples": float(cost),
                "noisy_in_coreset": float(pool.meta["noisy"][core].mean()),
            }
        elif name == "coreset only":
            core = moderate_coreset(_features(), pool.y_train, FRACTION)
            steps_epochs = max(1, int(round(epochs / FRACTION)))
            train(
                model,
                pool,
                lr=lr,
                epochs=steps_epochs,
                seed=seed,
                batch_size=BATCH,
                x=pool.x_train[core],
                y=pool.y_train[core],
            )
            extra = {"noisy_in_coreset": float(pool.meta["noisy"][core].mean())}
        else:  # MW-Net on the full set
            xm, ym = _meta_set()
            trainer = MetaWeightTrainer(
                model,
                weight_net(rng=20_000 + seed),
                pool.x_train,
                pool.y_train,
                xm,
                ym,
                lr=lr,
                meta_lr=META_LR,
            )
            trainer.fit(epochs, seed)
            w = trainer.weights(pool.x_train, pool.y_train)
            extra = {**_weight_stats(w), "meta_examples": float(trainer.meta_examples)}
        return {**split_metrics(model, pool), **extra}

    grid = {"lr": MWN_LRS} if name == "MW-Net, full set" else {"lr": LRS}
    quick_grid = {"lr": [0.1]} if name == "MW-Net, full set" else {"lr": [3e-3]}
    return Method(name, run, grid=grid, quick_grid=quick_grid)


@experiment(SLUG, seeds=tuple(range(10)), quick_seeds=(0, 1))
def run(quick, seeds, progress):
    methods = [_arm(a, quick) for a in ARMS]
    sel = None if quick else seeds[:SELECTION_SEEDS]
    comparison = compare(
        methods, seeds, select="val_accuracy", quick=quick, selection_seeds=sel, progress=progress
    )
    premises = [
        Premise(
            "the noise hurts: ERM on the clean labels beats ERM on the noisy labels by more than three points",
            metric="test_accuracy",
            method="clean labels",
            baseline="uniform ERM",
            threshold=0.03,
        ),
        Premise(
            "the moderate coreset is cleaner than the pool: under 20 % of its labels are flipped (pool: 30 %)",
            metric="noisy_in_coreset",
            method="CW-ERM",
            threshold=0.2,
            direction="less",
        ),
    ]
    claims = [
        Claim(
            "CW-ERM beats uniform ERM on the full noisy set",
            metric="test_accuracy",
            method="CW-ERM",
            baseline="uniform ERM",
        ),
        Claim(
            "CW-ERM beats training on the coreset alone",
            metric="test_accuracy",
            method="CW-ERM",
            baseline="coreset only",
        ),
        Claim(
            "CW-ERM comes within two points of Meta-Weight-Net run on the full set",
            metric="test_accuracy",
            method="CW-ERM",
            baseline="MW-Net, full set",
            margin=-0.02,
        ),
        Claim(
            "Within CW-ERM the moderate coreset beats a random coreset",
            metric="test_accuracy",
            method="CW-ERM",
            baseline="CW-ERM, random coreset",
        ),
        Claim(
            "Broadcasting the learned weight function beats broadcasting the nearest coreset example's weight",
            metric="test_accuracy",
            method="CW-ERM, weight function",
            baseline="CW-ERM",
        ),
    ]
    cost = {a: float(np.mean(comparison.values(a, "meta_examples"))) for a in ("CW-ERM", "MW-Net, full set")}
    notes = {
        "meta_cost_ratio": cost["CW-ERM"] / cost["MW-Net, full set"],
        "meta_examples": cost,
        "noise": NOISE,
        "fraction": FRACTION,
        "n_meta": N_META,
    }
    _, w, _, _ = _coreset_weights(seeds[0], "moderate", QUICK_META_EPOCHS if quick else META_EPOCHS)
    arrays = {"weights_seed0": w, "noisy": _pool().meta["noisy"].astype(np.float64)}
    return finish(
        SLUG,
        comparison,
        claims=claims,
        premises=premises,
        quick=quick,
        smoke=quick,
        arrays=arrays,
        notes=notes,
    )


def plot(result):
    """Left: test accuracy per arm (mean and seeds).  Right: the broadcast CW-ERM weights of seed 0, for the
    clean and the flipped training labels."""
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.8))
    arms = [a for a in ARMS if a in result.selected]
    for i, a in enumerate(arms):
        v = np.asarray(result.values(a, "test_accuracy"))
        ax1.scatter(np.full(len(v), i), v, s=12, alpha=0.6)
        ax1.plot([i - 0.25, i + 0.25], [v.mean()] * 2, color="k")
    ax1.set_xticks(range(len(arms)), arms, rotation=25, ha="right")
    ax1.set(ylabel="test accuracy", title="test accuracy per arm (line: mean)")
    w, noisy = np.asarray(result.arrays["weights_seed0"]), np.asarray(result.arrays["noisy"]) > 0.5
    bins = np.linspace(w.min(), w.max() + 1e-9, 30)
    ax2.hist(w[~noisy], bins=bins, alpha=0.6, label="clean labels")
    ax2.hist(w[noisy], bins=bins, alpha=0.6, label="flipped labels")
    ax2.set(xlabel="broadcast weight V(ℓ; φ)", ylabel="training examples", title="CW-ERM weights (seed 0)")
    ax2.legend()
    fig.tight_layout()
    return fig
