"""The experiment: prune a digits pool that holds a few redundant concepts, at equal kept fraction, by
Density-Based Pruning against the same pruning with equal per-cluster shares, global SSP-Pruning and random.

Pool (`redundant_pool`).  The 899 training digits plus three planted redundant concepts: for each of the
classes 1, 4 and 7, 5 random base images, each copied 40 times with Gaussian pixel noise σ = 0.1 (clipped
to [0, 1]) — 600 near-copies, 40 % of a 1499-example pool (seed 0; validation and test are the clean
digits).  Such a concept is dense and close to its neighbours: many examples, little variability.
Embeddings: the raw pixels minus the pool's mean pixel, unit-normalised (label-free, as the paper's
self-supervised embeddings; no encoder is trained).  k = 20 spherical k-means clusters (seeded by the run's
seed), d_inter over the 5 nearest centroids (the official 20 of 500 clusters does not scale to 20).
Arms, at kept fractions f ∈ {0.3, 0.5, 0.7} of the pool: random · "uniform quota" (the official
`--density uniform`: the same QP and the same keep-least-prototypical rule with equal shares — the ablation
that lacks only the complexity quota) · "SSP global" (keep the examples farthest from their centroid,
whatever their cluster) · "DBP" (complexity quota, τ chosen on validation from {0.01, 0.02, 0.05, 0.5}, 0.5
being the official default); plus the whole pool.  Training: a 64-128-10 MLP, Adam, batch 32, the same
number of steps as 20 epochs on the whole pool (round(20 / f) epochs), learning rate per arm from
{1e-3, 3e-3, 1e-2, 3e-2, 1e-1} on the validation split; 8 seeds (initialisation, batch order and k-means seed).
Premise.  The complexity sees the planted redundancy: a cluster made mostly of near-copies has a lower
complexity C than a cluster of the real digits with probability above 0.75 (the AUC over pairs of clusters,
measured per seed on the DBP keep-0.3 clustering).  A first formulation — the planted clusters' mean C below
half the others' — was replaced before the first full run when the quick run measured a ratio near 0.6:
the near-copies carry pixel noise, so their spread is not near zero; the ratio is still reported.
Claims (margins fixed before the first full run).  (1) At keep 30 % DBP beats the uniform-quota ablation
on test accuracy; (2) so at keep 50 %; (3) at keep 30 % DBP beats global SSP-Pruning (the paper's method
beats SSP-Pruning); (4) at keep 30 % DBP beats random pruning.
Grids widened in session 6, after the harness's grid-edge check (`Result.grid_edges`) flagged choices at
an edge of lr {1e-3, 3e-3, 1e-2}: now lr up to 1e-1 and τ down to 0.01 (a first widening to
lr 3e-2 still left choices at 3e-2 and at τ = 0.02).  Claims and margins unchanged; the verdicts before the widening are in
the commit message.  τ = 0.005 was added later still (DBP keep 0.7 had chosen τ = 0.01, then the lowest);
DBP at keep 0.5 and 0.7 then pick 0.005: as τ → 0 the quotas tend to a hard ranking of the clusters by
complexity, the natural end of the grid, so it was not widened further.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from ....experiments import Claim, Method, Premise, compare, experiment, finish, split_metrics, tasks, train
from ..selection import keep_count, random_subset
from . import dbp_select, ssp_select

SLUG = "concept-complexity-data-pruning"
SIZES = [64, 128, 10]
EPOCHS, BATCH = 20, 32  # the whole-pool run; a subset of fraction f trains round(EPOCHS / f) epochs
REDUNDANT_CLASSES, BASES, COPIES, NOISE, POOL_SEED = (1, 4, 7), 5, 40, 0.1, 0
K, NEIGHBORS = 20, 5
FRACTIONS = (0.3, 0.5, 0.7)
LRS = [1e-3, 3e-3, 1e-2, 3e-2, 1e-1]
TEMPERATURES = [0.005, 0.01, 0.02, 0.05, 0.5]
KINDS = ("random", "uniform quota", "SSP global", "DBP")


def redundant_pool(task, classes, bases: int, copies: int, noise: float, seed: int):
    """`task` with, for each class in `classes`, `bases` random training images each copied `copies` times
    with N(0, noise²) pixel noise clipped to [0, 1], appended (`meta["redundant"]` marks them)."""
    if bases < 1 or copies < 1 or noise < 0:
        raise ValueError("redundant_pool: `bases` and `copies` must be ≥ 1 and `noise` ≥ 0")
    rng = np.random.default_rng(seed)
    xs, ys = [task.x_train], [task.y_train]
    for c in classes:
        members = np.flatnonzero(task.y_train == c)
        if len(members) < bases:
            raise ValueError(f"redundant_pool: class {c} has fewer than `bases`={bases} training examples")
        src = np.repeat(rng.choice(members, bases, replace=False), copies)
        xs.append(np.clip(task.x_train[src] + rng.normal(0.0, noise, size=task.x_train[src].shape), 0, 1))
        ys.append(task.y_train[src])
    x = np.concatenate(xs).astype(task.x_train.dtype)
    y = np.concatenate(ys)
    redundant = np.r_[np.zeros(len(task.y_train), bool), np.ones(len(y) - len(task.y_train), bool)]
    for a in (x, y, redundant):
        a.flags.writeable = False
    meta = {**task.meta, "redundant": redundant}
    return dataclasses.replace(task, name=f"{task.name}+redundant", x_train=x, y_train=y, meta=meta)


@functools.cache
def _pool():
    return redundant_pool(tasks.digits(), REDUNDANT_CLASSES, BASES, COPIES, NOISE, POOL_SEED)


@functools.cache
def _embeddings():
    x = np.asarray(_pool().x_train, dtype=np.float64).reshape(len(_pool().y_train), -1)
    return x - x.mean(axis=0)


def _model(seed):
    from ....nn import MLP

    return MLP(SIZES, rng=np.random.default_rng(seed))


def _select(kind, fraction, seed, temperature):
    z, n = _embeddings(), len(_pool().y_train)
    size = keep_count(n, fraction)
    if kind == "random":
        return random_subset(n, size, 7919 + seed), {}
    if kind == "SSP global":
        return ssp_select(z, size, K, seed), {}
    density = "complexity" if kind == "DBP" else "uniform"
    keep, info = dbp_select(
        z, size, K, seed, temperature=temperature, num_neighbors=NEIGHBORS, density=density
    )
    red = _pool().meta["redundant"]
    planted = np.array([red[info["labels"] == j].mean() > 0.5 for j in range(K)])
    c = info["complexity"]
    ratio = float(c[planted].mean() / c[~planted].mean()) if planted.any() and (~planted).any() else np.nan
    auc = float(
        np.mean(
            (c[planted][:, None] < c[~planted][None, :]) + 0.5 * (c[planted][:, None] == c[~planted][None, :])
        )
    )
    return keep, {"complexity_ratio": ratio, "complexity_auc": auc, "planted_clusters": float(planted.sum())}


def _fit(seed, lr, keep, fraction):
    pool = _pool()
    model = _model(seed)
    x, y = pool.x_train[keep], pool.y_train[keep]
    train(
        model,
        pool,
        lr=lr,
        epochs=max(1, int(round(EPOCHS / fraction))),
        seed=seed,
        batch_size=BATCH,
        x=x,
        y=y,
    )
    return {**split_metrics(model, pool), "redundant_kept": float(pool.meta["redundant"][keep].mean())}


def arm_name(kind: str, fraction: float) -> str:
    return kind if fraction == 1.0 else f"{kind} keep {fraction:g}"


def _arm(kind, fraction):
    def run(seed, lr, temperature=0.5):
        if fraction == 1.0:
            return _fit(seed, lr, np.arange(len(_pool().y_train)), 1.0)
        keep, extra = _select(kind, fraction, seed, temperature)
        return {**_fit(seed, lr, keep, fraction), **extra}

    grid, quick_grid = {"lr": LRS}, {"lr": [3e-3]}
    if kind == "DBP":
        grid["temperature"] = TEMPERATURES
        quick_grid["temperature"] = [0.05]
    limits = {"temperature": ("lower", "τ → 0 gives hard quotas: the clusters ranked by complexity")}
    return Method(
        arm_name(kind, fraction),
        run,
        grid=grid,
        quick_grid=quick_grid,
        limits=limits if kind == "DBP" else {},
    )


@experiment(SLUG, seeds=tuple(range(8)), quick_seeds=(0, 1))
def run(quick, seeds, progress):
    methods = [_arm("whole pool", 1.0)] + [_arm(k, f) for f in FRACTIONS for k in KINDS]
    comparison = compare(methods, seeds, select="val_accuracy", quick=quick, progress=progress)
    premise = Premise(
        "The complexity sees the planted redundancy: a cluster made mostly of near-copies has a lower "
        "complexity C than another cluster with probability above 0.75 (AUC over cluster pairs)",
        metric="complexity_auc",
        method=arm_name("DBP", 0.3),
        threshold=0.75,
    )
    claims = [
        Claim(
            "At keep 30 %, the complexity quota (DBP) beats equal per-cluster quotas with the same in-cluster rule",
            metric="test_accuracy",
            method=arm_name("DBP", 0.3),
            baseline=arm_name("uniform quota", 0.3),
        ),
        Claim(
            "At keep 50 %, the complexity quota (DBP) beats equal per-cluster quotas with the same in-cluster rule",
            metric="test_accuracy",
            method=arm_name("DBP", 0.5),
            baseline=arm_name("uniform quota", 0.5),
        ),
        Claim(
            "At keep 30 %, DBP beats global SSP-Pruning (drop the examples closest to their centroid)",
            metric="test_accuracy",
            method=arm_name("DBP", 0.3),
            baseline=arm_name("SSP global", 0.3),
        ),
        Claim(
            "At keep 30 %, DBP beats random pruning",
            metric="test_accuracy",
            method=arm_name("DBP", 0.3),
            baseline=arm_name("random", 0.3),
        ),
    ]
    curves = {
        k: np.array([comparison.values(arm_name(k, f), "test_accuracy") for f in FRACTIONS]).T for k in KINDS
    }
    kept = {
        k: np.array([comparison.values(arm_name(k, f), "redundant_kept") for f in FRACTIONS]).T for k in KINDS
    }
    return finish(
        SLUG,
        comparison,
        premises=[premise],
        claims=claims,
        quick=quick,
        smoke=quick,
        arrays={
            "fractions": np.array(FRACTIONS),
            **{f"test_accuracy {k}": v for k, v in curves.items()},
            **{f"redundant_kept {k}": v for k, v in kept.items()},
            "test_accuracy whole pool": np.array(comparison.values("whole pool", "test_accuracy")),
        },
        notes={
            "kinds": list(KINDS),
            "pool_examples": int(len(_pool().y_train)),
            "redundant_examples": int(_pool().meta["redundant"].sum()),
            "k": K,
            "neighbors": NEIGHBORS,
        },
        metrics=["test_accuracy", "val_accuracy", "redundant_kept", "complexity_auc", "complexity_ratio"],
    )


def plot(result) -> dict:
    from ....plotting import pyplot
    from ..plots import learning_curve

    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    kinds, f = result.notes["kinds"], result.arrays["fractions"]
    learning_curve(
        f,
        {k: result.arrays[f"test_accuracy {k}"] for k in kinds},
        reference={"whole pool": result.arrays["test_accuracy whole pool"]},
        title=f"{result.notes['pool_examples']} digits, {result.notes['redundant_examples']} planted near-copies",
        ax=axes[0],
    )
    learning_curve(
        f,
        {k: result.arrays[f"redundant_kept {k}"] for k in kinds},
        ylabel="share of the kept set that is near-copies",
        title="redundancy kept",
        ax=axes[1],
    )
    fig.tight_layout()
    return {SLUG: fig}
