"""The experiment: the same tiny causal transformer meta-trained on K tasks made from one base dataset, for K
from a handful to tens of thousands, and measured on its training tasks and on unseen tasks, position by
position along the context.

Setup.  Base dataset: 3 Gaussian clusters in R^4, 300 points to build training sequences and 300 held-out
points to build every evaluation sequence (`base_dataset`, fixed across seeds).  A task is (A, ρ) (Sec. 3);
sequences are 16 examples of one task, tokens (x̄_t, ȳ_{t−1}).  Cells ("methods"): K ∈ `TASK_COUNTS`
training tasks, drawn per seed.  Each cell trains `GPICLTransformer` (d_model 16, 2 layers) with Adam on
batches of 64 sequences of uniformly drawn training tasks, loss Eq. 1, for `STEPS` steps; its Adam rate
comes from `LRS` by mean accuracy on unseen *validation* tasks (256 tasks, fixed).  Test: 1024 sequences
of 256 other unseen tasks (fixed) and 1024 sequences of the cell's own training tasks, both on held-out
points.  Early = the first `EARLY` positions, late = the last `LATE`.  `SEEDS` seeds (init, training
tasks, batches).
Premises.  (1) The few-task model fits its training tasks (training-task accuracy above 0.8), so that a
chance score on unseen tasks is memorisation and not a failure to train.  (2) The context identifies
the labels: a nearest-neighbour rule over the earlier examples of the same sequence (no training) scores
above chance + 0.2 at late positions of unseen tasks.
Claims (margins fixed before the first full run; chance = 1/3).  (a) With the fewest tasks: training-task
accuracy exceeds unseen-task accuracy by more than 0.3, and unseen-task accuracy at late positions is
within 0.1 of chance (two one-sided claims).  (b) With the most tasks: unseen-task accuracy at late
positions exceeds early positions by more than 0.1 and chance by more than 0.1.  (c) The ablation that
lacks only the task diversity: the most-tasks model beats the fewest-tasks model on unseen tasks at late
positions by more than 0.1.
"""

from __future__ import annotations

import numpy as np

from .... import no_grad, tensor
from ....experiments import Claim, Method, Premise, compare, experiment, finish, mean_interval
from ....optim import Adam
from . import (
    GPICLTransformer,
    accuracy_by_position,
    base_dataset,
    nearest_neighbour_accuracy,
    sample_tasks,
    sequence_loss,
    sequences,
)

SLUG = "general-purpose-icl"
DIM, N_CLASSES, LENGTH = 4, 3, 16
N_BASE = 300
TASK_COUNTS, QUICK_TASK_COUNTS = [4, 16, 64, 256, 2**16], [4, 2**16]
STEPS, QUICK_STEPS = 1500, 100
BATCH = 64
LRS, QUICK_LRS = [3e-4, 1e-3, 3e-3, 1e-2, 3e-2], [3e-3]
N_EVAL_TASKS, N_EVAL_SEQ = 256, 1024
EARLY, LATE = 2, 4
CHANCE = 1.0 / N_CLASSES
FIT_THRESHOLD = 0.8
MEMO_GAP, NEAR_CHANCE, ICL_RISE, ABOVE_CHANCE, BEATS_FEW = 0.3, 0.1, 0.1, 0.1, 0.1
NN_PREMISE = CHANCE + 0.2


def _data():
    """The fixed base dataset: training points and held-out points of the same clusters."""
    X, y = base_dataset(2 * N_BASE, DIM, N_CLASSES, rng=0)
    return (X[:N_BASE], y[:N_BASE]), (X[N_BASE:], y[N_BASE:])


def _eval_set(points, tasks, rng):
    """`N_EVAL_SEQ` sequences on `points` of uniformly drawn tasks from `tasks`, fixed by `rng`."""
    (X, y), (A, perm) = points, tasks
    rng = np.random.default_rng(rng)
    k = rng.integers(len(A), size=N_EVAL_SEQ)
    idx = rng.integers(len(X), size=(N_EVAL_SEQ, LENGTH))
    return sequences(X, y, A, perm, k, idx)


def _accuracy(model, tokens, targets) -> np.ndarray:
    with no_grad():
        return accuracy_by_position(model(tensor(tokens)), targets)


def _cell(n_tasks: int, steps: int, keep: dict):
    def run(seed, lr):
        train_pts, held_pts = _data()
        tasks = sample_tasks(n_tasks, DIM, N_CLASSES, rng=[seed, 1])
        rng = np.random.default_rng([seed, 2])
        model = GPICLTransformer(DIM, N_CLASSES, LENGTH, rng=[seed, 3])
        opt = Adam(model.parameters(), lr=lr)
        X, y = train_pts
        for _ in range(steps):
            k = rng.integers(n_tasks, size=BATCH)
            idx = rng.integers(N_BASE, size=(BATCH, LENGTH))
            tok, tgt = sequences(X, y, *tasks, k, idx)
            loss = sequence_loss(model(tensor(tok)), tgt)  # Eq. 1
            opt.zero_grad()
            loss.backward()
            opt.step()
        val = _eval_set(held_pts, sample_tasks(N_EVAL_TASKS, DIM, N_CLASSES, rng=100), 101)
        test = _eval_set(held_pts, sample_tasks(N_EVAL_TASKS, DIM, N_CLASSES, rng=200), 201)
        own = _eval_set(held_pts, tasks, [seed, 4])
        unseen, trained = _accuracy(model, *test), _accuracy(model, *own)
        nn = nearest_neighbour_accuracy(*test, N_CLASSES)
        keep[(n_tasks, seed, lr)] = {"unseen": unseen, "train": trained, "nn": nn}
        early, late = float(np.mean(unseen[:EARLY])), float(np.mean(unseen[-LATE:]))
        return {
            "val_unseen_accuracy": float(np.mean(_accuracy(model, *val))),
            "unseen_accuracy": float(np.mean(unseen)),
            "unseen_early": early,
            "unseen_late": late,
            "train_accuracy": float(np.mean(trained)),
            "train_late": float(np.mean(trained[-LATE:])),
            "memorisation_gap": float(np.mean(trained) - np.mean(unseen)),
            "unseen_late_minus_early": late - early,
            "unseen_late_minus_chance": late - CHANCE,
            "nn_late": float(np.mean(nn[-LATE:])),
        }

    return run


def _name(k: int) -> str:
    return f"K = {k} tasks"


@experiment(SLUG, seeds=(0, 1, 2), quick_seeds=(0, 1))
def run(quick, seeds, progress):
    steps = QUICK_STEPS if quick else STEPS
    counts = QUICK_TASK_COUNTS if quick else TASK_COUNTS
    keep: dict = {}
    methods = [
        Method(_name(k), _cell(k, steps, keep), grid={"lr": LRS}, quick_grid={"lr": QUICK_LRS})
        for k in counts
    ]
    comparison = compare(methods, seeds, select="val_unseen_accuracy", quick=quick, progress=progress)
    few, many = _name(counts[0]), _name(counts[-1])
    fitted = f"the few-task model fits its training tasks (training-task accuracy above {FIT_THRESHOLD:g})"
    context = f"the context identifies the labels (nearest-neighbour late accuracy above {NN_PREMISE:.2f})"
    premises = [
        Premise(fitted, "train_accuracy", few, threshold=FIT_THRESHOLD),
        Premise(context, "nn_late", many, threshold=NN_PREMISE),
    ]
    claims = [
        Claim(
            f"few tasks: training-task accuracy exceeds unseen-task accuracy by more than {MEMO_GAP:g}",
            "memorisation_gap",
            few,
            margin=MEMO_GAP,
            premises=(fitted,),
        ),
        Claim(
            f"few tasks: unseen-task late accuracy is below chance + {NEAR_CHANCE:g}",
            "unseen_late_minus_chance",
            few,
            direction="less",
            margin=NEAR_CHANCE,
            premises=(fitted,),
        ),
        Claim(
            f"few tasks: unseen-task late accuracy is above chance − {NEAR_CHANCE:g}",
            "unseen_late_minus_chance",
            few,
            margin=-NEAR_CHANCE,
            premises=(fitted,),
        ),
        Claim(
            f"many tasks: unseen-task accuracy rises along the context (late − early above {ICL_RISE:g})",
            "unseen_late_minus_early",
            many,
            margin=ICL_RISE,
            premises=(context,),
        ),
        Claim(
            f"many tasks: unseen-task late accuracy exceeds chance by more than {ABOVE_CHANCE:g}",
            "unseen_late_minus_chance",
            many,
            margin=ABOVE_CHANCE,
            premises=(context,),
        ),
        Claim(
            f"many tasks beat few tasks on unseen-task late accuracy by more than {BEATS_FEW:g}",
            "unseen_late",
            many,
            few,
            margin=BEATS_FEW,
            premises=(context,),
        ),
    ]
    arrays = {"task_counts": np.array(counts, dtype=float)}
    for k in counts:
        recs = [keep[(k, s, comparison.selected[_name(k)]["lr"])] for s in comparison.seeds]
        for part in ("unseen", "train", "nn"):
            arrays[f"{part}_by_position_K{k}"] = np.mean([r[part] for r in recs], axis=0)
    return finish(
        SLUG,
        comparison,
        premises=premises,
        claims=claims,
        quick=quick,
        smoke=quick,
        arrays=arrays,
        notes={
            "dim": DIM,
            "n_classes": N_CLASSES,
            "length": LENGTH,
            "steps": steps,
            "chance": CHANCE,
            "early_positions": EARLY,
            "late_positions": LATE,
        },
        metrics=[
            "val_unseen_accuracy",
            "unseen_accuracy",
            "unseen_early",
            "unseen_late",
            "train_accuracy",
            "memorisation_gap",
            "unseen_late_minus_early",
            "nn_late",
        ],
    )


def plot(result) -> dict:
    from ....plotting import pyplot

    plt = pyplot()
    a = result.arrays
    counts = [int(k) for k in a["task_counts"]]
    chance = result.notes["chance"]
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    ax = axes[0]
    for key, lab in (("unseen_late", "unseen tasks, late positions"), ("train_accuracy", "training tasks")):
        ivs = [mean_interval(result.values(_name(k), key)) for k in counts]
        mean = np.array([iv.mean for iv in ivs])
        err = np.array([[iv.mean - iv.low for iv in ivs], [iv.high - iv.mean for iv in ivs]])
        ax.errorbar(counts, mean, yerr=err, marker="o", capsize=3, label=lab)
    ax.axhline(chance, color="k", ls=":", lw=0.8, label="chance")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("number of meta-training tasks K")
    ax.set_ylabel("accuracy")
    ax.set_title("the transition (mean over seeds, bars: 95 % t interval)", fontsize=9)
    ax.legend(fontsize=7)
    pos = np.arange(1, int(result.notes["length"]) + 1)
    for ax, part, title in ((axes[1], "unseen", "unseen tasks"), (axes[2], "train", "training tasks")):
        for k in counts:
            ax.plot(pos, a[f"{part}_by_position_K{k}"], marker=".", label=f"K = {k}")
        if part == "unseen":
            ax.plot(
                pos, a[f"nn_by_position_K{counts[-1]}"], "k--", lw=0.8, label="nearest neighbour in context"
            )
        ax.axhline(chance, color="k", ls=":", lw=0.8)
        ax.set_xlabel("context position t")
        ax.set_ylabel("accuracy")
        ax.set_ylim(0, 1.02)
        ax.set_title(f"{title}: accuracy along the context (mean over seeds)", fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return {SLUG: fig}
