"""The experiment: gradient descent on draws of the linear student–teacher problem against the
Marchenko–Pastur prediction, across the ratio α = P/N of examples to parameters.

Setup.  N = `N_FULL` inputs, P = αN examples for α in `ALPHAS` (5 cells at σ₀ = 0) and two cells with
large initial weights (σ₀ = 1) at α = 0.5 and α = 2; teacher σ̄ = 1, noise variance σ_ε² = `NOISE_VAR`
(SNR 5).  Full-batch GD with η = `LR` (η λ₊ < 0.6 in every cell) for `STEPS` steps; the error is recorded on
a log-spaced grid of steps.  One seed = one draw of inputs, teacher and noise (shared by the two σ₀ of an α, so
their difference is the initial weights alone) and of the initial weights; 10 seeds.  A validation set of P/4 fresh examples from the same teacher chooses the early-stopping step
(the only choice anything makes here: there are no hyperparameters to tune, the prediction has none).
Premise.  At α = 1 the spectrum of XᵀX reaches near zero (its smallest nonzero eigenvalue < 0.01), the
condition the theory blames for the overtraining peak.
Claims (margins fixed before the first full run).  (1–4) The simulated error curve follows the
Marchenko–Pastur prediction: the time-averaged relative gap E_sim/E_MP − 1 lies within ±0.1 at α = 2 and
at α = 0.5.  (5–6) Overtraining (final error − the curve's minimum) is larger at α = 1 than at α = 0.8 and
at α = 1.25.  (7–8) At α = 0.5 initial weights of σ₀ = 1 raise the converged error by (1 − α)σ₀² = 0.5
(between 0.4 and 0.6): the frozen subspace.  (9) At α = 1, stopping where the validation error is lowest
comes within 10 % of the best error on the curve.
"""

from __future__ import annotations

import numpy as np

from ....experiments import Claim, Method, Premise, compare, experiment, finish
from . import (
    converged_error,
    gd_trajectory,
    generalization_error,
    least_squares_limit,
    mp_error_curve,
    teacher_student,
)

SLUG = "advani-saxe-dynamics"
N_FULL, N_QUICK = 400, 60
STEPS_FULL, STEPS_QUICK = 5000, 600
LR = 0.1
NOISE_VAR = 0.2  # σ_ε² (teacher variance σ̄² = 1: SNR 5)
ALPHAS = (0.5, 0.8, 1.0, 1.25, 2.0)
BIG_INIT = 1.0
GAP_MARGIN = 0.1
FROZEN_MARGIN = 0.1
ES_MARGIN = 0.1
PREMISE_LAMBDA = 0.01
VAL_FRACTION = 0.25


def cell_name(alpha: float, init: float = 0.0) -> str:
    return f"α={alpha:g}" + (f", σ₀={init:g}" if init else "")


CELLS = [(a, 0.0) for a in ALPHAS] + [(0.5, BIG_INIT), (2.0, BIG_INIT)]


def steps_grid(steps: int) -> np.ndarray:
    """0, then log-spaced step counts up to `steps` (the times at which the error is recorded)."""
    return np.r_[0, np.unique(np.geomspace(1, steps, 48).astype(np.int64))]


def simulate(alpha: float, init: float, seed: int, n: int, steps: int) -> dict:
    """One draw: the simulated error curve, its Marchenko–Pastur prediction, validation early stopping and
    the converged (t → ∞) error."""
    p = int(round(alpha * n))
    noise = float(np.sqrt(NOISE_VAR))
    rng = np.random.default_rng([seed, p])  # the same draw of inputs, teacher and noise for every σ₀
    d = teacher_student(n, p, noise=noise, rng=rng)
    if init:
        d["w0"] = np.random.default_rng([seed, p, 1]).normal(0.0, init, size=n)
    p_val = max(int(VAL_FRACTION * p), 10)
    X_val = rng.normal(0.0, 1.0 / np.sqrt(n), size=(p_val, n))
    y_val = X_val @ d["w_teacher"] + rng.normal(0.0, noise, size=p_val)
    t = steps_grid(steps)
    W = gd_trajectory(d["X"], d["y"], d["w0"], LR, steps, record=t)
    curve = generalization_error(W, d["w_teacher"], noise)
    theory = mp_error_curve(alpha, t, lr=LR, noise=noise, init=init)
    val = np.mean((y_val[None, :] - W @ X_val.T) ** 2, axis=1)
    k = int(np.argmin(val))
    lam = np.linalg.eigvalsh(d["X"].T @ d["X"])
    nonzero = lam[lam > 1e-9 * lam.max()]
    w_inf = least_squares_limit(d["X"], d["y"], d["w0"])
    return {
        "t": t,
        "curve": curve,
        "theory": theory,
        "metrics": {
            "val_error": float(val[k]),
            "final_error": float(curve[-1]),
            "min_error": float(curve.min()),
            "overtraining": float(curve[-1] - curve.min()),
            "es_error": float(curve[k]),
            "es_step": float(t[k]),
            "es_excess": float(curve[k] / curve.min() - 1.0),
            "converged_error": float(generalization_error(w_inf, d["w_teacher"], noise)),
            "gap_mp": float(np.mean(curve / theory - 1.0)),
            "lambda_min": float(nonzero.min()),
        }
        | ({} if alpha == 1 else {"converged_theory": converged_error(alpha, noise=noise, init=init)}),
    }


def _cell(alpha: float, init: float, n: int, steps: int, curves: dict):
    def run(seed):
        out = simulate(alpha, init, seed, n, steps)
        curves[(cell_name(alpha, init), seed)] = (out["curve"], out["theory"])
        return out["metrics"]

    return run


@experiment(SLUG, seeds=tuple(range(10)), quick_seeds=(0, 1, 2))
def run(quick, seeds, progress):
    n, steps = (N_QUICK, STEPS_QUICK) if quick else (N_FULL, STEPS_FULL)
    curves: dict = {}
    methods = [Method(cell_name(a, s0), _cell(a, s0, n, steps, curves)) for a, s0 in CELLS]
    comparison = compare(methods, seeds, select="val_error", maximize=False, quick=quick, progress=progress)
    premise = Premise(
        "at α = 1 the spectrum of XᵀX reaches near zero (smallest nonzero eigenvalue below 0.01)",
        "lambda_min",
        cell_name(1.0),
        threshold=PREMISE_LAMBDA,
        direction="less",
    )
    p = (premise.statement,)
    claims = []
    for a in (2.0, 0.5):
        claims += [
            Claim(
                f"at α = {a:g} the simulated error curve follows the Marchenko–Pastur prediction "
                f"(time-averaged relative gap above −{GAP_MARGIN:g})",
                "gap_mp",
                cell_name(a),
                direction="greater",
                margin=-GAP_MARGIN,
                premises=(),
            ),
            Claim(
                f"at α = {a:g} the simulated error curve follows the Marchenko–Pastur prediction "
                f"(time-averaged relative gap below +{GAP_MARGIN:g})",
                "gap_mp",
                cell_name(a),
                direction="less",
                margin=GAP_MARGIN,
                premises=(),
            ),
        ]
    for other in (0.8, 1.25):
        claims.append(
            Claim(
                f"overtraining (final error − the curve's minimum) is larger at α = 1 than at α = {other:g}",
                "overtraining",
                cell_name(1.0),
                cell_name(other),
                direction="greater",
                margin=0.0,
                premises=p,
            )
        )
    frozen = (1 - 0.5) * BIG_INIT**2
    claims += [
        Claim(
            f"at α = 0.5 initial weights σ₀ = {BIG_INIT:g} raise the converged error by (1 − α)σ₀² = {frozen:g} "
            f"(more than {frozen - FROZEN_MARGIN:g}): the frozen subspace",
            "converged_error",
            cell_name(0.5, BIG_INIT),
            cell_name(0.5),
            direction="greater",
            margin=frozen - FROZEN_MARGIN,
            premises=(),
        ),
        Claim(
            f"at α = 0.5 initial weights σ₀ = {BIG_INIT:g} raise the converged error by (1 − α)σ₀² = {frozen:g} "
            f"(less than {frozen + FROZEN_MARGIN:g}): the frozen subspace",
            "converged_error",
            cell_name(0.5, BIG_INIT),
            cell_name(0.5),
            direction="less",
            margin=frozen + FROZEN_MARGIN,
            premises=(),
        ),
        Claim(
            f"at α = 1 stopping at the lowest validation error comes within {ES_MARGIN:.0%} of the curve's "
            "best error",
            "es_excess",
            cell_name(1.0),
            direction="less",
            margin=ES_MARGIN,
            premises=p,
        ),
    ]
    t = steps_grid(steps)
    names = [cell_name(a, s0) for a, s0 in CELLS]
    arrays = {
        "t": t,
        "alphas": np.array([a for a, _ in CELLS]),
        "inits": np.array([s0 for _, s0 in CELLS]),
        "sim_curves": np.array([[curves[(nm, s)][0] for s in comparison.seeds] for nm in names]),
        "mp_curves": np.array([curves[(nm, comparison.seeds[0])][1] for nm in names]),
    }
    return finish(
        SLUG,
        comparison,
        premises=[premise],
        claims=claims,
        quick=quick,
        smoke=quick,
        arrays=arrays,
        notes={"cells": names, "N": n, "steps": steps, "lr": LR, "noise_var": NOISE_VAR},
        metrics=[
            "val_error",
            "final_error",
            "min_error",
            "overtraining",
            "es_error",
            "es_excess",
            "converged_error",
            "converged_theory",
            "gap_mp",
            "lambda_min",
        ],
    )


def plot(result) -> dict:
    from ....plotting import pyplot

    plt = pyplot()
    a, names = result.arrays, result.notes["cells"]
    t = np.maximum(a["t"], 0.5)  # step 0 drawn at 0.5 on the log axis
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    ax = axes[0]
    for i, nm in enumerate(names):
        sim = a["sim_curves"][i]
        (line,) = ax.plot(t, sim.mean(0), lw=1.5, label=f"{nm}: GD (mean over draws)")
        ax.fill_between(t, sim.min(0), sim.max(0), color=line.get_color(), alpha=0.15)
        ax.plot(t, a["mp_curves"][i], "--", color=line.get_color(), lw=1)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("GD step t (dashed: Marchenko–Pastur prediction)")
    ax.set_ylabel("generalization error E_g(t)")
    ax.set_title(f"N = {result.notes['N']}, σ_ε² = {result.notes['noise_var']:g}", fontsize=9)
    ax.legend(fontsize=6)
    ax = axes[1]
    zero = a["inits"] == 0
    alphas = a["alphas"][zero]
    for key, mk, lab in (
        ("min_error", "o", "best on the curve (early stopping)"),
        ("final_error", "s", f"after {result.notes['steps']} steps"),
        ("converged_error", "^", "converged (t → ∞)"),
    ):
        vals = [np.mean(result.values(nm, key)) for nm, z in zip(names, zero) if z]
        ax.plot(alphas, vals, mk, label=f"GD: {lab}")
    grid = np.linspace(0.3, 2.5, 200)
    grid = grid[np.abs(grid - 1) > 0.03]
    theory = [converged_error(g, noise=np.sqrt(result.notes["noise_var"])) for g in grid]
    ax.plot(grid[grid < 1], np.array(theory)[grid < 1], "k-", lw=1, label="converged, theory")
    ax.plot(grid[grid > 1], np.array(theory)[grid > 1], "k-", lw=1)
    ax.set_yscale("log")
    ax.set_ylim(0.2, 30)
    ax.set_xlabel("α = P / N")
    ax.set_ylabel("generalization error")
    ax.set_title("errors against α (line: the converged error in theory)", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return {SLUG: fig}
