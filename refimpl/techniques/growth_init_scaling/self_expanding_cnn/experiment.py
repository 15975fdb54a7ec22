"""The experiment: a 64-4-10 ReLU MLP on the 8×8 digits that grows during training by the natural expansion
score, against the same growth on a blind schedule, the final architecture trained from scratch, and the
fixed start and maximum sizes.

Setup.  Every arm trains for EPOCHS epochs in chunks of CHECK_EVERY epochs (Adam, batch 32, the optimizer
restarted at every chunk in every arm, so a restart is no arm's privilege); between chunks a growing arm
may expand once.  Candidates: add 4 units to a hidden layer (up to 32) or insert an identity layer (up to
2 hidden layers), both function-preserving (`growth.widen(mode="zero")`, `growth.insert_layer`).  Scores
use the whole training split.  Arms, each with its own learning rate chosen on validation:

* "SENN criterion" (the paper): at each check expand to the best candidate if η'/η_c > τ = 2 (λ_n = 0);
* "fixed interval" (the ablation without the score): as many expansions as the criterion made in the same
  seed (at the same learning rate), at evenly spaced checks, each a uniformly random candidate;
* "final size from scratch": the criterion's final architecture (same seed, same learning rate), trained
  from a fresh initialisation for the same epochs;
* "start size" (4 units, never grown) and "max size" (32-32, fixed).

Premises.  (1) Capacity matters at this budget: the max-size network beats the start-size network by more
than two points (whole interval).  (2) The criterion fires: the mean number of expansions over seeds is above one half.
Claims (margins fixed before the first full run).  (1) Expanding when the score says so beats the same
number of expansions on a fixed schedule at random places.  (2) The grown network is no more than one
point worse than its final architecture trained from scratch.  (3) It is no more than one point worse
than the maximum-size network (with fewer parameters, reported).
Grid.  Rates 1e-3 … 3e-2; 1e-3 was added after the first recording, when the grid-edge check found four
arms at the lowest rate then tried (3e-3).
"""

from __future__ import annotations

import functools

import numpy as np

from ....experiments import Claim, Method, Premise, compare, experiment, finish, split_metrics, tasks, train
from . import candidates, param_count, senn_expand

SLUG = "self-expanding-cnn"
START, MAX_SIZE = [4], [32, 32]
WIDTH_STEP, MAX_WIDTH, MAX_DEPTH = 4, 32, 2
TAU, LAM = 2.0, 0.0  # Sec. 3.1: τ = 2; λ_n of Eq. 3 is not reported: no parameter cost, the size is capped
EPOCHS, QUICK_EPOCHS, CHECK_EVERY, BATCH = 40, 8, 2, 32
LRS, QUICK_LRS = [1e-3, 3e-3, 1e-2, 3e-2], [1e-2]
ARMS = ("SENN criterion", "fixed interval", "final size from scratch", "start size", "max size")


def _net(widths, seed):
    from ..parametrization import WidthMLP

    return WidthMLP(
        64,
        list(widths),
        10,
        depth=len(widths),
        parametrization="standard",
        base_width=list(widths),
        rng=np.random.default_rng(seed),
    )


def _widths(model) -> list:
    return [m.out_features for m in list(model.layers)[:-1]]


def _grow_run(widths, seed, lr, epochs, policy):
    """Train `_net(widths, seed)` in chunks; after every chunk but the last, `policy(check, model)` returns
    the (possibly grown) model and the name of the expansion or None."""
    task = tasks.digits()
    model = _net(widths, seed)
    chunks = epochs // CHECK_EVERY
    params, val, log = [], [], []
    for c in range(chunks):
        train(model, task, lr=lr, epochs=CHECK_EVERY, seed=1000 * seed + c, batch_size=BATCH)
        val.append(split_metrics(model, task, splits=("val",))["val_accuracy"])
        if c < chunks - 1:
            model, choice = policy(c, model)
            log.append(choice)
        params.append(param_count(model))
    out = {
        **split_metrics(model, task),
        "params": float(param_count(model)),
        "expansions": float(sum(ch is not None for ch in log)),
        "first_expansion_epoch": float(
            next((CHECK_EVERY * (c + 1) for c, ch in enumerate(log) if ch is not None), epochs)
        ),
        **{f"params_after_{c}": float(p) for c, p in enumerate(params)},
        **{f"val_accuracy_after_{c}": float(v) for c, v in enumerate(val)},
    }
    return out, _widths(model), log


@functools.cache
def _criterion(seed: int, lr: float, epochs: int):
    task = tasks.digits()
    rng = np.random.default_rng(10_000 + seed)

    def policy(c, model):
        grown, info = senn_expand(
            model,
            task.x_train,
            task.y_train,
            tau=TAU,
            lam=LAM,
            width_step=WIDTH_STEP,
            max_width=MAX_WIDTH,
            max_depth=MAX_DEPTH,
            rng=rng,
        )
        return grown, info["choice"]

    return _grow_run(START, seed, lr, epochs, policy)


def _fixed_interval(seed: int, lr: float, epochs: int):
    k = int(_criterion(seed, lr, epochs)[0]["expansions"])
    n_checks = epochs // CHECK_EVERY - 1
    at = set(np.floor(np.arange(k) * n_checks / max(k, 1)).astype(int).tolist())  # evenly spaced checks
    rng = np.random.default_rng(20_000 + seed)

    def policy(c, model):
        if c not in at:
            return model, None
        cands = candidates(model, width_step=WIDTH_STEP, max_width=MAX_WIDTH, max_depth=MAX_DEPTH, rng=rng)
        if not cands:
            return model, None
        name = sorted(cands)[int(rng.integers(len(cands)))]  # a uniformly random candidate
        return cands[name], name

    return _grow_run(START, seed, lr, epochs, policy)


def _fixed(widths_of):
    def policy(c, model):
        return model, None

    def run(seed, lr, epochs):
        return _grow_run(widths_of(seed, lr, epochs), seed, lr, epochs, policy)

    return run


def _arm(name, epochs):
    runners = {
        "SENN criterion": _criterion,
        "fixed interval": _fixed_interval,
        "final size from scratch": _fixed(lambda s, lr, e: _criterion(s, lr, e)[1]),
        "start size": _fixed(lambda s, lr, e: START),
        "max size": _fixed(lambda s, lr, e: MAX_SIZE),
    }

    def run(seed, lr):
        return runners[name](seed, lr, epochs)[0]

    return Method(name, run, grid={"lr": LRS}, quick_grid={"lr": QUICK_LRS})


@experiment(SLUG, seeds=tuple(range(8)), quick_seeds=(0, 1))
def run(quick, seeds, progress):
    epochs = QUICK_EPOCHS if quick else EPOCHS
    comparison = compare(
        [_arm(n, epochs) for n in ARMS], seeds, select="val_accuracy", quick=quick, progress=progress
    )
    premises = [
        Premise(
            "capacity matters at this budget: the max-size network beats the start-size network by more "
            "than two points",
            metric="test_accuracy",
            method="max size",
            baseline="start size",
            threshold=0.02,
            strict=True,
        ),
        Premise(
            "the criterion fires: the mean number of expansions over seeds is above one half",
            metric="expansions",
            method="SENN criterion",
            threshold=0.5,
            direction="greater",
        ),
    ]
    claims = [
        Claim(
            "Expanding when the natural expansion score rises (τ = 2) beats the same number of expansions "
            "at fixed intervals in random places",
            metric="test_accuracy",
            method="SENN criterion",
            baseline="fixed interval",
        ),
        Claim(
            "The grown network is within one point of its final architecture trained from scratch",
            metric="test_accuracy",
            method="SENN criterion",
            baseline="final size from scratch",
            margin=-0.01,
        ),
        Claim(
            "The grown network is within one point of the maximum-size network",
            metric="test_accuracy",
            method="SENN criterion",
            baseline="max size",
            margin=-0.01,
        ),
    ]
    chunks = epochs // CHECK_EVERY
    curve = {
        n: np.array([[np.mean(comparison.values(n, f"{k}_after_{c}")) for c in range(chunks)]])
        for n in ARMS
        for k in ("params",)
    }
    val = np.array(
        [[np.mean(comparison.values(n, f"val_accuracy_after_{c}")) for c in range(chunks)] for n in ARMS]
    )
    return finish(
        SLUG,
        comparison,
        premises=premises,
        claims=claims,
        quick=quick,
        smoke=quick,
        arrays={
            "epoch": CHECK_EVERY * (np.arange(chunks) + 1),
            "params_curve": np.concatenate([curve[n] for n in ARMS]),
            "val_curve": val,
            "test_accuracy": np.array([comparison.values(n, "test_accuracy") for n in ARMS]),
            "params": np.array([comparison.values(n, "params") for n in ARMS]),
        },
        notes={"arms": list(ARMS), "epochs": epochs, "tau": TAU, "lambda_n": LAM},
        metrics=["test_accuracy", "val_accuracy", "params", "expansions", "first_expansion_epoch"],
    )


def plot(result) -> dict:
    from ....plotting import pyplot

    plt = pyplot()
    names = result.notes["arms"]
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    epoch = np.asarray(result.arrays["epoch"])
    for name, p, v in zip(
        names, np.asarray(result.arrays["params_curve"]), np.asarray(result.arrays["val_curve"])
    ):
        axes[0].plot(epoch, p, marker=".", label=name)
        axes[1].plot(epoch, v, marker=".", label=name)
    axes[0].set_xlabel("epoch")
    axes[0].set_ylabel("parameters (mean over seeds)")
    axes[0].set_yscale("log")
    axes[1].set_xlabel("epoch")
    axes[1].set_ylabel("validation accuracy (mean over seeds)")
    axes[1].legend(fontsize=7)
    ax = axes[2]
    acc, par = np.asarray(result.arrays["test_accuracy"]), np.asarray(result.arrays["params"])
    for name, a, p in zip(names, acc, par):
        ax.scatter(p, a, s=14, label=name)
    ax.set_xscale("log")
    ax.set_xlabel("final parameters (one dot per seed)")
    ax.set_ylabel("test accuracy")
    fig.suptitle(
        f"growing a 64-4-10 MLP on the digits by the natural expansion score (τ = {result.notes['tau']:g})"
    )
    fig.tight_layout()
    return {SLUG: fig}
