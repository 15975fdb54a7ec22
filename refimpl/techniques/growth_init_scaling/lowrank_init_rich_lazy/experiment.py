"""The experiment: a two-layer linear student f(x) = aᵀWx on a linear teacher, with the first-layer weight
W initialised at rank r ∈ {1, 2, 8, full} (and a task-aligned rank 1) at one fixed Frobenius norm.

Setup.  `tasks.teacher_student(teacher="linear")` (d = 16 inputs, 256 training examples, label noise 0.1);
the inputs are whitened with the training statistics and the labels centred (the theory assumes whitened
inputs; the student has no bias).  W ∈ R^{32×16} is `lowrank_init` (top-r SVD of a Gaussian rescaled to
‖W‖_F = 2·√32) or `aligned_lowrank_init` along the teacher's least-squares direction β̂; a ~ N(0, 1/32).
Full-batch SGD with momentum 0.9 (as the official code), mean-squared error, a fixed number of steps;
every arm tunes its learning rate on the validation MSE over the same grid (the official code uses one
rate for all ranks by default and, given several, picks per rank by the final loss).
Theory vs simulation.  For every seed's initial network the empirical tangent kernel K_0 (the engine's
Jacobian over all parameters) is aligned with many random linear tasks y = Xβ on the same inputs; the
mean alignment is the simulated E_β KA(K_0, yyᵀ), set against `expected_task_alignment` of W_0's
singular values and ‖a_0‖².
Premise.  The laziness comparison is fair only if every arm learns the task: the rank-1 and the aligned
arms reach the full-rank arm's validation MSE (within 5 % of the noise variance).
Claims (margins fixed before the first full run).  (1) the closed form matches the simulation within 10 %
(relative) for every arm; (2) lower rank → richer: rank 1 changes W more than full rank (relative weight
change, margin 0); (3) the paper's headline measure: rank 1 moves the tangent kernel more than full rank
(1 − KA(K_0, K_T), margin 0); (4) aligned low rank is lazy: the aligned rank-1 arm changes W less than
the random rank-1 arm and (5) less than the full-rank arm.
"""

from __future__ import annotations

import functools

import numpy as np

from ....experiments import Claim, Method, Premise, compare, experiment, finish, tasks, train
from . import (
    aligned_lowrank_init,
    effective_rank,
    empirical_ntk,
    expected_task_alignment,
    kernel_alignment,
    lowrank_init,
    relative_weight_change,
    task_alignment,
)

SLUG = "lowrank-init-rich-lazy"
D, H = 16, 32
NORM = 2.0 * np.sqrt(H)  # ‖W_0‖_F for every arm (the official code: the Gaussian's own norm, W0sig = 1.25)
NOISE = 0.1
RANKS = {"rank 1": 1, "rank 2": 2, "rank 8": 8, "full rank": D, "aligned rank 1": "aligned"}
N_TASKS = 2000  # random tasks per seed for the simulated E_β KA(K_0, yyᵀ)
THEORY_TOL = 0.10  # claim (1): relative error of the closed form, fixed before the first full run
LR_GRID, QUICK_LR = [0.002, 0.004], [0.004]


@functools.cache
def _data():
    """Whitened inputs and centred labels of the linear teacher-student task (train statistics), and the
    least-squares teacher direction β̂ on the training split."""
    task = tasks.teacher_student(teacher="linear", noise=NOISE)
    x = task.x_train.astype(np.float64)
    mu = x.mean(axis=0)
    evals, evecs = np.linalg.eigh(np.cov((x - mu).T, bias=True))
    white = evecs @ np.diag(evals**-0.5) @ evecs.T
    y_mean = float(task.y_train.mean())

    def prep(xs, ys):
        return ((xs - mu) @ white).astype(np.float32), (ys - y_mean).astype(np.float32)

    splits = {s: prep(getattr(task, f"x_{s}"), getattr(task, f"y_{s}")) for s in ("train", "val", "test")}
    xt, yt = splits["train"]
    beta = np.linalg.lstsq(xt.astype(np.float64), yt.astype(np.float64).ravel(), rcond=None)[0]
    ols_mse = float(np.mean((xt @ beta - yt.ravel()) ** 2))
    return task, splits, beta, ols_mse


def _student(w0, seed):
    from ....nn import Linear, Sequential

    rng = np.random.default_rng(seed)
    model = Sequential(Linear(D, H, bias=False, rng=rng), Linear(H, 1, bias=False, rng=rng))
    model[0].weight.data[...] = w0
    model[1].weight.data[...] = rng.standard_normal((1, H)) / np.sqrt(H)
    return model


def _initial_weight(kind, seed, beta):
    rng = np.random.default_rng(1000 + seed)
    if kind == "aligned":
        return aligned_lowrank_init((H, D), beta[None, :], NORM, rng)
    return lowrank_init((H, D), kind, NORM, rng)


def _mse(model, x, y):
    from ....train import predict

    return float(np.mean((np.asarray(predict(model, x), dtype=np.float64) - y) ** 2))


def _arm(name, quick):
    kind = RANKS[name]
    steps = 1500 if quick else 3000

    def run(seed, lr):
        from ....nn import functional as F

        task, splits, beta, ols_mse = _data()
        xt, yt = splits["train"]
        w0 = _initial_weight(kind, seed, beta)
        model = _student(w0, seed)
        a0 = model[1].weight.data.astype(np.float64).ravel()
        k0 = empirical_ntk(model, xt)
        # theory vs simulation: E_β KA(K_0, yyᵀ) over random task directions on the same inputs
        betas = np.random.default_rng(7000 + seed).standard_normal((D, N_TASKS))
        simulated = float(np.mean(task_alignment(k0, xt.astype(np.float64) @ betas)))
        theory = expected_task_alignment(np.linalg.svd(w0, compute_uv=False), D, float(a0 @ a0))
        train(model, task, lr=lr, epochs=steps, seed=seed, optimizer="sgd", loss_fn=F.mse_loss,
              x=xt, y=yt, batch_size=len(xt))  # fmt: skip
        wt = model[0].weight.data.astype(np.float64)
        kt = empirical_ntk(model, xt)
        return {
            "val_mse": _mse(model, *splits["val"]),
            "test_mse": _mse(model, *splits["test"]),
            "train_gap": _mse(model, xt, yt) / ols_mse - 1.0,
            "relative_weight_change": relative_weight_change(w0, wt),
            "kernel_change": 1.0 - kernel_alignment(k0, kt),
            "task_alignment_0": task_alignment(k0, yt.ravel().astype(np.float64)),
            "theory_alignment": theory,
            "simulated_alignment": simulated,
            "theory_rel_error": abs(simulated - theory) / theory,
            "effective_rank": effective_rank(w0),
        }

    return Method(name, run, grid={"lr": LR_GRID}, quick_grid={"lr": QUICK_LR})


@experiment(SLUG, seeds=(0, 1, 2, 3, 4, 5), quick_seeds=(0, 1))
def run(quick, seeds, progress):
    comparison = compare(
        [_arm(n, quick) for n in RANKS],
        seeds,
        select="val_mse",
        maximize=False,
        quick=quick,
        progress=progress,
    )
    tol = 0.05 * NOISE**2
    premises = [
        Premise(
            f"the {arm} arm learns the task: validation MSE within 5 % of the noise variance of full rank's",
            metric="val_mse",
            method=arm,
            baseline="full rank",
            threshold=tol,
            direction="less",
        )
        for arm in ("rank 1", "aligned rank 1")
    ]
    p_random, p_aligned = (p.statement for p in premises)
    claims = [
        *(
            Claim(
                f"the closed form E_β KA(K_0, yyᵀ) matches the simulation within {THEORY_TOL:.0%} ({arm})",
                metric="theory_rel_error",
                method=arm,
                direction="less",
                margin=THEORY_TOL,
                premises=(),
            )
            for arm in RANKS
        ),
        Claim(
            "lower rank is richer: rank 1 changes W more than full rank (relative weight change)",
            metric="relative_weight_change",
            method="rank 1",
            baseline="full rank",
            direction="greater",
            margin=0.0,
            premises=(p_random,),
        ),
        Claim(
            "lower rank is richer: rank 1 moves the tangent kernel more than full rank (1 − KA(K_0, K_T))",
            metric="kernel_change",
            method="rank 1",
            baseline="full rank",
            direction="greater",
            margin=0.0,
            premises=(p_random,),
        ),
        Claim(
            "aligned low rank is lazy: aligned rank 1 changes W less than random rank 1",
            metric="relative_weight_change",
            method="aligned rank 1",
            baseline="rank 1",
            direction="less",
            margin=0.0,
            premises=(p_random, p_aligned),
        ),
        Claim(
            "aligned low rank is lazy: aligned rank 1 changes W less than full rank",
            metric="relative_weight_change",
            method="aligned rank 1",
            baseline="full rank",
            direction="less",
            margin=0.0,
            premises=(p_aligned,),
        ),
    ]
    names = list(RANKS)

    def per_arm(metric):
        return np.array([comparison.values(n, metric) for n in names])  # (arms, seeds)

    return finish(
        SLUG,
        comparison,
        premises=premises,
        claims=claims,
        quick=quick,
        smoke=quick,
        arrays={
            "effective_rank": per_arm("effective_rank"),
            "theory_alignment": per_arm("theory_alignment"),
            "simulated_alignment": per_arm("simulated_alignment"),
            "relative_weight_change": per_arm("relative_weight_change"),
            "kernel_change": per_arm("kernel_change"),
        },
        notes={"arms": names, "d": D, "hidden": H, "norm": float(NORM), "tasks_per_seed": N_TASKS},
        metrics=[
            "val_mse",
            "test_mse",
            "train_gap",
            "relative_weight_change",
            "kernel_change",
            "task_alignment_0",
            "theory_alignment",
            "simulated_alignment",
            "theory_rel_error",
            "effective_rank",
        ],
    )


def plot(result) -> dict:
    """Left: the theory's E_β KA(K_0, yyᵀ) against the simulation, by effective rank; the dashed line is
    the flat-spectrum, a → 0 curve √r/d.  Right: the measured laziness (relative weight change, kernel
    change) of every arm, mean ± std over seeds."""
    from ....plotting import pyplot

    plt = pyplot()
    arms, d = result.notes["arms"], result.notes["d"]
    a = result.arrays
    er = np.asarray(a["effective_rank"]).mean(axis=1)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
    grid = np.linspace(1, d, 100)
    ax1.plot(grid, np.sqrt(grid) / d, "k--", lw=1, label="√r / d (flat spectrum, a → 0)")
    th, sim = np.asarray(a["theory_alignment"]), np.asarray(a["simulated_alignment"])
    ax1.plot(er, th.mean(axis=1), "o", mfc="none", ms=10, label="closed form (each seed's W₀, a₀)")
    ax1.errorbar(er, sim.mean(axis=1), yerr=sim.std(axis=1), fmt="x", label="simulation (engine NTK)")
    for x, y, n in zip(er, sim.mean(axis=1), arms):
        ax1.annotate(n, (x, y), textcoords="offset points", xytext=(4, -10), fontsize=7)
    ax1.set_xlabel("effective rank of W₀  (Σσ)²/Σσ²")
    ax1.set_ylabel("E_β KA(K₀, yyᵀ) over random tasks")
    ax1.set_title("theory vs simulation at initialisation")
    ax1.legend(fontsize=7)
    pos = np.arange(len(arms))
    for off, key, label in (
        (-0.18, "relative_weight_change", "‖W_T−W₀‖/‖W₀‖"),
        (0.18, "kernel_change", "1 − KA(K₀, K_T)"),
    ):
        v = np.asarray(a[key])
        ax2.bar(pos + off, v.mean(axis=1), 0.36, yerr=v.std(axis=1), label=label)
    ax2.set_xticks(pos, arms, rotation=20, fontsize=8)
    ax2.set_yscale("log")
    ax2.set_ylabel("change over training (mean ± std)")
    ax2.set_title("laziness after training on the teacher")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    return {SLUG: fig}
