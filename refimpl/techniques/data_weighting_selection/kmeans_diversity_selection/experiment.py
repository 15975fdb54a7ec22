"""The experiment: select 30 % of a digits pool that holds redundant and corrupted regions, by random
selection, k-means with proportional quotas, diversity-first k-means in rounds with the feedback switched
off, and the paper's iterative refinement.

Pool (seed 0).  The 899 training digits, plus 100 copies of each of 3 random training images (pixel noise
σ = 0.05, clipped to [0, 1]): 300 near-copies (redundancy); then the pool is clustered (k-means, k = 20, on
the pixels) and every member of 3 clusters — the three largest clusters with no near-copy majority — gets a
uniformly random label (corruption: a region of low-quality data).  Validation and test are the clean
digits.  Embeddings for the methods: the raw pixels; each method clusters with k = 20 and the run's seed.
Arms, all selecting B = 30 % of the pool: random · "k-means proportional" (quota ∝ cluster size, random
inside: the official KMeansRandom without a quality scorer) · "iterative, no feedback" (the paper's
rounds — B/(3k) per cluster, then two rounds of B/3 cluster draws — with every score 0, so the draws are
uniform over clusters: the ablation that lacks only the feedback) · "iterative" (the paper: after each round
a model is trained on the selection, s = log p_ref(y|x) − log p_ref(ŷ|x) with ŷ its prediction and p_ref a
linear softmax reference trained on the clean validation split — the stand-in for the paper's reward
model, see the package docstring — and the next round's clusters are drawn ∝ softmax of the mean score).
Training on the selection: a 64-128-10 MLP, Adam, batch 32, round(20 / 0.3) epochs (the steps of 20
epochs on the whole pool); the learning rate of each arm from {3e-4, 1e-3, 3e-3, 1e-2} on the validation split;
the inner models of the iterative rounds use lr 3e-3 and 3 epochs (one short fine-tuning round, as the
paper's first-round model).  5 seeds (k-means, draws, init).
History.  The first full recording used 30 inner epochs: the inner models memorised their selection
(ŷ = y, so 91 % of the selected examples scored exactly 0), the cluster weights stayed near uniform, premise
(2) was absent (mean weight ratio 0.50 against < 0.5) and every claim "premise absent".  The inner training
was cut to 3 epochs — the only change; premises, claims and margins as before — for a second recording.
There premise (2) was present (ratio 0.002) and all claims inconclusive, but the iterative arm had selected
only 229–360 examples: its concentrated draws overflowed clusters, and the overflow was dropped (as the
official script does).  An unequal budget is not the comparison the claims make, so the overflow is now
drawn again among clusters with members left (see the package docstring) and every arm selects exactly B;
this third recording is the final one.
Premises.  (1) The corruption survives static selection: over 10 % of the k-means-proportional selection
has a corrupted label.  (2) The feedback sees it: in the last round's cluster weights, the clusters made
mostly of corrupted examples get on average less than half the weight of the others.
Claims (margins 0, fixed before the first full run; test accuracy).  (1) Iterative refinement beats the
same rounds without feedback; (2) it beats random selection; (3) diversity first: the rounds without
feedback (equal shares per cluster) beat random selection.
Grids widened in session 6, after the harness's grid-edge check (`Result.grid_edges`) flagged choices at
an edge of lr {1e-3, 3e-3, 1e-2}: now lr down to 3e-4.  Claims and margins unchanged; the verdicts before the widening are in
the commit message.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from ....experiments import Claim, Method, Premise, compare, experiment, finish, split_metrics, tasks, train
from ..selection import keep_count, random_subset
from . import iterative_select, kmeans, static_select

SLUG = "kmeans-diversity-selection"
SIZES = [64, 128, 10]
K, ROUNDS, FRACTION = 20, 3, 0.3
BASES, COPIES, NOISE, CORRUPT_CLUSTERS, POOL_SEED = 3, 100, 0.05, 3, 0
EPOCHS, BATCH, INNER_EPOCHS, INNER_LR = 20, 32, 3, 3e-3
LRS = [3e-4, 1e-3, 3e-3, 1e-2]
ARMS = ("random", "k-means proportional", "iterative, no feedback", "iterative")


@functools.cache
def _pool():
    task = tasks.digits()
    rng = np.random.default_rng(POOL_SEED)
    src = np.repeat(rng.choice(len(task.y_train), BASES, replace=False), COPIES)
    copies = np.clip(task.x_train[src] + rng.normal(0, NOISE, size=task.x_train[src].shape), 0, 1)
    x = np.concatenate([task.x_train, copies]).astype(task.x_train.dtype)
    y = np.concatenate([task.y_train, task.y_train[src]])
    redundant = np.r_[np.zeros(len(task.y_train), bool), np.ones(len(src), bool)]
    labels, _ = kmeans(x.reshape(len(x), -1), K, POOL_SEED)
    sizes = np.bincount(labels, minlength=K)
    eligible = [j for j in np.argsort(-sizes, kind="stable") if redundant[labels == j].mean() <= 0.5]
    corrupted = np.isin(labels, eligible[:CORRUPT_CLUSTERS])
    y = y.copy()
    y[corrupted] = rng.integers(0, task.num_classes, size=int(corrupted.sum()))
    for a in (x, y, redundant, corrupted):
        a.flags.writeable = False
    meta = {**task.meta, "redundant": redundant, "corrupted": corrupted}
    return dataclasses.replace(task, name=f"{task.name}+redundant+corrupted", x_train=x, y_train=y, meta=meta)


def _model(seed):
    from ....nn import MLP

    return MLP(SIZES, rng=np.random.default_rng(seed))


@functools.cache
def _reference():
    """log p_ref(· | x) on the pool: a linear softmax trained on the clean validation split (the reward)."""
    from ....nn import Linear
    from ....nn import functional as F
    from ....train import predict

    task = _pool()
    ref = Linear(64, task.num_classes, rng=np.random.default_rng(1))
    train(ref, task, lr=1e-2, epochs=100, seed=1, batch_size=32, x=task.x_val, y=task.y_val)
    logits = predict(ref, task.x_train.reshape(len(task.y_train), -1))
    return np.asarray(F.log_softmax(logits, dim=1).data, dtype=np.float64)


def _reward_gap(seed):
    """score_fn of the iterative selection: train on the selection, then log p_ref(y) − log p_ref(ŷ)."""
    from ....train import predict

    task, logp = _pool(), _reference()

    def score(selected):
        model = _model(10_000 + seed)
        train(
            model,
            task,
            lr=INNER_LR,
            epochs=INNER_EPOCHS,
            seed=seed,
            batch_size=BATCH,
            x=task.x_train[selected],
            y=task.y_train[selected],
        )
        y_hat = np.asarray(predict(model, task.x_train[selected])).argmax(1)
        return logp[selected, task.y_train[selected]] - logp[selected, y_hat]

    return score


@functools.cache
def _selection(arm: str, seed: int):
    task = _pool()
    n = len(task.y_train)
    budget = keep_count(n, FRACTION)
    if arm == "random":
        return random_subset(n, budget, 7919 + seed), {}
    labels, _ = kmeans(task.x_train.reshape(n, -1), K, seed)
    if arm == "k-means proportional":
        return static_select(labels, budget, seed), {}
    history = []
    score = _reward_gap(seed) if arm == "iterative" else (lambda sel: np.zeros(len(sel)))
    keep = iterative_select(labels, budget, ROUNDS, score, seed, history=history)
    bad = np.array([task.meta["corrupted"][labels == j].mean() > 0.5 for j in range(K)])
    w = history[-1]
    ratio = float(w[bad].mean() / w[~bad].mean()) if bad.any() and (~bad).any() else np.nan
    return keep, {"corrupt_weight_ratio": ratio}


def _arm(arm):
    def run(seed, lr):
        task = _pool()
        keep, extra = _selection(arm, seed)
        model = _model(seed)
        train(
            model,
            task,
            lr=lr,
            epochs=int(round(EPOCHS / FRACTION)),
            seed=seed,
            batch_size=BATCH,
            x=task.x_train[keep],
            y=task.y_train[keep],
        )
        return {
            **split_metrics(model, task),
            **extra,
            "selected": float(len(keep)),
            "corrupted_kept": float(task.meta["corrupted"][keep].mean()),
            "redundant_kept": float(task.meta["redundant"][keep].mean()),
        }

    return Method(arm, run, grid={"lr": LRS}, quick_grid={"lr": [3e-3]})


@experiment(SLUG, seeds=tuple(range(5)), quick_seeds=(0,))
def run(quick, seeds, progress):
    comparison = compare(
        [_arm(a) for a in ARMS], seeds, select="val_accuracy", quick=quick, progress=progress
    )
    premises = [
        Premise(
            "The corruption survives static selection: over 10 % of the k-means-proportional selection has a "
            "corrupted label",
            metric="corrupted_kept",
            method="k-means proportional",
            threshold=0.1,
        ),
        Premise(
            "The feedback sees it: in the last round's cluster weights, mostly-corrupted clusters get less than "
            "half the weight of the others",
            metric="corrupt_weight_ratio",
            method="iterative",
            threshold=0.5,
            direction="less",
        ),
    ]
    claims = [
        Claim(
            "Iterative refinement beats the same rounds without feedback (test accuracy)",
            metric="test_accuracy",
            method="iterative",
            baseline="iterative, no feedback",
        ),
        Claim(
            "Iterative refinement beats random selection",
            metric="test_accuracy",
            method="iterative",
            baseline="random",
        ),
        Claim(
            "Diversity first: equal per-cluster shares (the rounds without feedback) beat random selection",
            metric="test_accuracy",
            method="iterative, no feedback",
            baseline="random",
        ),
    ]
    task = _pool()
    return finish(
        SLUG,
        comparison,
        premises=premises,
        claims=claims,
        quick=quick,
        smoke=quick,
        notes={
            "arms": list(ARMS),
            "pool_examples": int(len(task.y_train)),
            "corrupted_examples": int(task.meta["corrupted"].sum()),
            "redundant_examples": int(task.meta["redundant"].sum()),
            "k": K,
            "rounds": ROUNDS,
            "fraction": FRACTION,
        },
        metrics=["test_accuracy", "val_accuracy", "corrupted_kept", "redundant_kept", "corrupt_weight_ratio"],
    )


def plot(result) -> dict:
    from ....plotting import pyplot

    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    arms = result.notes["arms"]
    for ax, metric, label in (
        (axes[0], "test_accuracy", "test accuracy"),
        (axes[1], "corrupted_kept", "share of the selection with a corrupted label"),
    ):
        vals = [np.asarray(result.values(a, metric)) for a in arms]
        ax.bar(range(len(arms)), [v.mean() for v in vals], color=[f"C{i}" for i in range(len(arms))])
        for i, v in enumerate(vals):
            ax.plot(np.full(len(v), i), v, "k.", ms=4)
        ax.set_xticks(range(len(arms)), arms, rotation=15, fontsize=8)
        ax.set_ylabel(label)
        ax.set_ylim(0, None)
    axes[0].set_title(
        f"{result.notes['pool_examples']} examples ({result.notes['corrupted_examples']} corrupted, "
        f"{result.notes['redundant_examples']} near-copies), {result.notes['fraction']:.0%} selected"
    )
    fig.tight_layout()
    return {SLUG: fig}
