"""The experiment: HESSO against one-shot group pruning + fine-tuning, neuron groups of an MLP on the digits.

Setup.  A 64-64-64-10 MLP (128 hidden units = 128 groups) is trained from scratch with Adam for the same
number of epochs by every arm, and ends at the same group sparsity (int(0.85·128) = 108 units removed):
* `hesso`: warm-up, then the pruning phase (P periods: score, mark, shrink to zero), then training with
  the pruned groups held at zero; its grid is the rate and P.
* `oneshot-magnitude` (the ablation the brief names): dense training, then the target's groups with the
  smallest ‖x_g‖ set to zero at once, then fine-tuning with them held at zero; its grid is the rate and
  the epoch of the cut (end of HESSO's warm-up or end of its pruning phase).
* `oneshot-saliency`: the same one-shot cut by HESSO's five-proxy saliency — it lacks only the
  progressive projection.
Every arm picks its grid point on validation accuracy (mean of the first three seeds; quick: the first
two), then runs all ten seeds there.
Premise.  One-shot removal at this target must cost accuracy (else there is nothing for the
progressive projection to save): the validation accuracy drop at the cut of `oneshot-magnitude`.
Claims.  (1) HESSO beats one-shot magnitude group pruning + fine-tuning (test accuracy).  (2) HESSO beats
the one-shot cut with its own saliency (the progressive projection itself).
CRIC is not part of the experiment (see the module docstring).
"""

from __future__ import annotations

import numpy as np

from ....experiments import (
    Claim,
    Method,
    Premise,
    compare,
    experiment,
    finish,
    make_optimizer,
    split_metrics,
    tasks,
    train,
)
from . import HESSO, zero_groups

SLUG = "hesso"
SIZES = [64, 64, 64, 10]
TARGET = 0.85
BATCH = 64
LRS = [1e-3, 3e-3, 1e-2, 3e-2, 1e-1]


def _schedule(quick):
    """(warm-up, pruning, after) epochs; the total is every arm's budget."""
    return (3, 3, 6) if quick else (6, 9, 15)


def _steps_per_epoch(task):
    return int(np.ceil(len(task.x_train) / BATCH))


def _model(seed):
    from ....nn import MLP

    return MLP(SIZES, rng=np.random.default_rng(seed))


def _hesso_arm(quick):
    warm, prune, after = _schedule(quick)

    def run(seed, lr, periods):
        task = tasks.digits()
        spe = _steps_per_epoch(task)
        model = _model(seed)
        h = HESSO(model, TARGET, start_step=warm * spe, pruning_steps=prune * spe, pruning_periods=periods)
        train(model, task, lr=lr, epochs=warm + prune + after, seed=seed, batch_size=BATCH, callbacks=[h])
        return {**split_metrics(model, task), "group_sparsity": zero_groups(model) / h.n_groups}

    # P = int(G·s) = 108 is the finest schedule: one group per period of T = 1 step (more periods would
    # leave periods with nothing to remove)
    periods = [1, 3, 9, 27, int(SIZES[1] * 2 * TARGET)]
    grid = {"lr": LRS, "periods": periods}
    quick_grid = {"lr": [3e-3], "periods": [3]}
    limits = {"periods": ("upper", "P = int(G·s): one group per period of one step, the finest schedule")}
    return Method("hesso", run, grid=grid, quick_grid=quick_grid, limits=limits)


def _oneshot_arm(name, criteria, quick):
    warm, prune, after = _schedule(quick)
    total = warm + prune + after

    def run(seed, lr, cut, scope="global"):
        task = tasks.digits()
        model = _model(seed)
        opt = make_optimizer(model.parameters(), "adam", lr=lr)
        dense_epochs = warm if cut == "warmup_end" else warm + prune
        train(model, task, epochs=dense_epochs, seed=seed, batch_size=BATCH, optimizer=opt)
        before = split_metrics(model, task, splits=("val",))["val_accuracy"]
        h = HESSO(model, TARGET, start_step=0, pruning_steps=1, pruning_periods=1, criteria=criteria)
        if scope == "global":
            h.step(opt)  # T = 1: the projection factor is 0, the chosen groups are zero at once
        else:  # per layer: each hidden layer loses the same fraction of its units (no layer collapse)
            h.pruned = _per_layer_lowest(h.scores(opt), h.sizes, TARGET)
            h.num_steps = 1
            h.step(opt)
        after_cut = split_metrics(model, task, splits=("val",))["val_accuracy"]
        # continue the same optimizer; `h` keeps the pruned groups at zero after every step
        train(
            model,
            task,
            epochs=total - dense_epochs,
            seed=seed + 1000,
            batch_size=BATCH,
            optimizer=opt,
            callbacks=[h],
        )
        return {
            **split_metrics(model, task),
            "group_sparsity": zero_groups(model) / h.n_groups,
            "val_drop_at_cut": before - after_cut,
        }

    grid = {"lr": LRS, "cut": ["warmup_end", "pruning_end"]}
    quick_grid = {"lr": [3e-3], "cut": ["pruning_end"]}
    if criteria is not None:  # the magnitude baseline may also cut per layer (its strongest form)
        grid = {**grid, "scope": ["global", "per_layer"]}
        quick_grid = {**quick_grid, "scope": ["global", "per_layer"]}
    return Method(name, run, grid=grid, quick_grid=quick_grid)


def _per_layer_lowest(scores, sizes, target):
    """Global indices of the int(n_l · s) lowest-scored groups of every layer."""
    out, start = [], 0
    for n in sizes:
        k = int(n * target)
        out.append(start + np.sort(np.argsort(scores[start : start + n], kind="stable")[:k]))
        start += n
    return np.concatenate(out).astype(np.int64)


@experiment(SLUG, seeds=tuple(range(10)), quick_seeds=(0, 1))
def run(quick, seeds, progress):
    methods = [
        _hesso_arm(quick),
        _oneshot_arm("oneshot-magnitude", {"magnitude": 1.0}, quick),
        _oneshot_arm("oneshot-saliency", None, quick),
    ]
    comparison = compare(
        methods, seeds, select="val_accuracy", quick=quick, progress=progress, selection_seeds=seeds[:3]
    )
    premise = Premise(
        "one-shot group removal at the target costs validation accuracy at the cut (≥ 5 points)",
        metric="val_drop_at_cut",
        method="oneshot-magnitude",
        threshold=0.05,
    )
    claims = [
        Claim(
            "HESSO beats one-shot magnitude group pruning + fine-tuning at equal epochs and group sparsity",
            metric="test_accuracy",
            method="hesso",
            baseline="oneshot-magnitude",
            margin=0.0,
        ),
        Claim(
            "The progressive projection beats a one-shot cut by the same saliency",
            metric="test_accuracy",
            method="hesso",
            baseline="oneshot-saliency",
            margin=0.0,
        ),
    ]
    names = [m.name for m in methods]
    acc = np.array([comparison.values(n, "test_accuracy") for n in names])
    return finish(
        SLUG,
        comparison,
        premises=[premise],
        claims=claims,
        quick=quick,
        smoke=quick,
        arrays={"test_accuracy": acc},
        notes={"methods": names, "target_group_sparsity": TARGET, "sizes": SIZES},
        metrics=["test_accuracy", "val_accuracy", "group_sparsity", "val_drop_at_cut"],
    )


def trajectory(seed: int = 0, lr: float = 3e-3, periods: int = 3, quick: bool = True) -> dict:
    """Norms of the groups along a HESSO run (for the notebook's plot): step → per-group ‖x_g‖."""
    warm, prune, after = _schedule(quick)
    task = tasks.digits()
    spe = _steps_per_epoch(task)
    model = _model(seed)
    h = HESSO(model, TARGET, start_step=warm * spe, pruning_steps=prune * spe, pruning_periods=periods)
    norms = []

    class _Log:
        def on_step_end(self, state):
            h.step(state.optimizer)
            rows = [np.concatenate([w.data, b.data[:, None]], axis=1) for w, b in h._blocks()]
            norms.append(np.concatenate([np.sqrt(np.sum(r.astype(np.float64) ** 2, axis=1)) for r in rows]))

    train(model, task, lr=lr, epochs=warm + prune + after, seed=seed, batch_size=BATCH, callbacks=[_Log()])
    return {"norms": np.array(norms), "pruned": h.pruned, "start": warm * spe, "T": h.T, "periods": periods}


def plot(result) -> dict:
    from ....plotting import pyplot

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.4))
    acc = result.arrays["test_accuracy"]
    names = result.notes["methods"]
    for i in range(len(names)):
        ax.plot(np.full(acc.shape[1], i), acc[i], "o", alpha=0.6)
        ax.plot([i - 0.2, i + 0.2], [acc[i].mean()] * 2, "k-")
    ax.set_xticks(range(len(names)), names)
    ax.set_ylabel("test accuracy (one dot per seed)")
    ax.set_title(f"group sparsity {result.notes['target_group_sparsity']:.0%} of hidden units, equal epochs")
    fig.tight_layout()
    return {SLUG: fig}
