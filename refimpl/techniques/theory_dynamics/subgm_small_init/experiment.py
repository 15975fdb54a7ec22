"""The experiment: over-parameterized robust matrix sensing with 20 % gross outliers — the sub-gradient method
on the ℓ1 loss from small, medium and large initializations, against gradient descent on the squared loss.

Setup.  d = `D`, true rank r = `RANK`, factor width r' = `WIDTH` (= d: as over-parameterized as it gets); m =
`M` Gaussian measurements (fewer than the d·r' = 400 entries of U, more than the 40 of the truth), a fraction
`OUTLIERS` of them gross outliers, small noise on the rest.  Arms: SubGM (ℓ1) from α = 10⁻³, 10⁻¹ and 1, and GD
on the squared loss (ℓ2) from α = 10⁻³ — the ablation without the ℓ1 loss.  Every arm chooses its step size
η₀ and decay ρ on `M_VAL` held-out measurements (outliers included) by the median absolute residual, a
criterion no arm is favoured by.  `STEPS` steps.  Test metric: ‖UUᵀ − X*‖_F/‖X*‖_F.  `SEEDS` seeds (problem,
initial direction).
Premise.  The outliers are gross: at X* they carry more than half of the squared residual.
Claims (margins fixed before the first full run).  (1) Small-initialization SubGM recovers X* (relative
error below 0.1) and (2) keeps its extra columns small (σ_{r+1}(UUᵀ)/σ_r(UUᵀ) below 0.1); (3) a large
initialization (α = 1) ends farther from X* than the small one; (4) so does the squared loss from the same
small initialization.
"""

from __future__ import annotations

import numpy as np

from ....experiments import Claim, Method, Premise, compare, experiment, finish
from . import relative_error, residuals, sensing_problem, subgradient_method

SLUG = "subgm-small-init"
D, RANK, WIDTH, M, M_VAL, OUTLIERS, NOISE = 20, 2, 20, 200, 100, 0.2, 0.01
STEPS, QUICK_STEPS = 2000, 300
LRS, DECAYS = [0.001, 0.003, 0.01, 0.03, 0.1, 0.3], [0.99, 0.995, 0.998, 0.999, 1.0]
RECOVERY_MARGIN, TAIL_MARGIN = 0.1, 0.1
PREMISE_SHARE = 0.5


def problem(seed: int) -> dict:
    """Training and validation measurements of one X* (the validation rows are held out from the same draw)."""
    P = sensing_problem(D, RANK, M + M_VAL, outlier_fraction=OUTLIERS, noise=NOISE, rng=[seed, 31])
    split = {k: P[k] for k in ("X_star",)}
    split["train"] = (P["A"][:M], P["y"][:M], P["outlier"][:M])
    split["val"] = (P["A"][M:], P["y"][M:])
    return split


def _arm(loss: str, init_scale: float, steps: int, keep: dict):
    def run(seed, lr, decay):
        P = problem(seed)
        A, y, outlier = P["train"]
        U, errors = subgradient_method(
            A,
            y,
            width=WIDTH,
            init_scale=init_scale,
            lr=lr,
            decay=decay,
            steps=steps,
            loss=loss,
            rng=[seed, 32],
            X_star=P["X_star"],
        )
        if not np.all(np.isfinite(U)):
            return {"val_mad": 1e6, "diverged": 1.0}
        keep[(loss, init_scale, seed, lr, decay)] = errors[:: max(1, steps // 200)]
        sv = np.linalg.svd(U @ U.T, compute_uv=False)
        at_truth = np.einsum("mij,ij->m", A, P["X_star"]) - y  # the residuals of X* itself
        return {
            "val_mad": float(np.median(np.abs(residuals(*P["val"], U)))),
            "diverged": 0.0,
            "relative_error": relative_error(U, P["X_star"]),
            "tail_ratio": float(sv[RANK] / sv[RANK - 1]),
            "outlier_share": float(np.sum(at_truth[outlier] ** 2) / np.sum(at_truth**2)),
        }

    return run


@experiment(SLUG, seeds=tuple(range(8)), quick_seeds=(0, 1, 2))
def run(quick, seeds, progress):
    steps = QUICK_STEPS if quick else STEPS
    keep: dict = {}
    arms = {
        "SubGM ℓ1, α = 0.001": ("l1", 1e-3),
        "SubGM ℓ1, α = 0.1": ("l1", 0.1),
        "SubGM ℓ1, α = 1": ("l1", 1.0),
        "GD ℓ2, α = 0.001": ("l2", 1e-3),
    }
    grid = {"lr": LRS, "decay": DECAYS}
    methods = [
        Method(
            name,
            _arm(loss, a, steps, keep),
            grid=grid,
            quick_grid={"lr": [0.1], "decay": [0.99]},
            limits={"decay": ("upper", "ρ = 1 is constant steps: no decay")},
        )
        for name, (loss, a) in arms.items()
    ]
    comparison = compare(methods, seeds, select="val_mad", maximize=False, quick=quick, progress=progress)
    small, big, l2 = "SubGM ℓ1, α = 0.001", "SubGM ℓ1, α = 1", "GD ℓ2, α = 0.001"
    premise = Premise(
        f"the outliers are gross: at X* they carry more than {PREMISE_SHARE:.0%} of the squared residual",
        "outlier_share",
        small,
        threshold=PREMISE_SHARE,
    )
    claims = [
        Claim(
            f"small-initialization SubGM recovers X* (relative error below {RECOVERY_MARGIN:g})",
            "relative_error",
            small,
            direction="less",
            margin=RECOVERY_MARGIN,
        ),
        Claim(
            f"small-initialization SubGM keeps the extra columns small (σ_(r+1)/σ_r of UUᵀ below {TAIL_MARGIN:g})",
            "tail_ratio",
            small,
            direction="less",
            margin=TAIL_MARGIN,
        ),
        Claim(
            "a large initialization (α = 1) ends farther from X* than a small one",
            "relative_error",
            big,
            small,
        ),
        Claim(
            "the squared loss from the same small initialization ends farther from X*",
            "relative_error",
            l2,
            small,
        ),
    ]
    s0 = comparison.seeds[0]
    arrays = {}
    for i, (name, (loss, a)) in enumerate(arms.items()):
        hp = comparison.selected[name]
        arrays[f"curve_{i}"] = np.asarray(keep.get((loss, a, s0, hp["lr"], hp["decay"]), [np.nan]))
    return finish(
        SLUG,
        comparison,
        premises=[premise],
        claims=claims,
        quick=quick,
        smoke=quick,
        arrays=arrays,
        notes={"arms": list(arms), "steps": steps, "d": D, "rank": RANK, "width": WIDTH, "m": M},
        metrics=["val_mad", "relative_error", "tail_ratio", "outlier_share"],
    )


def plot(result) -> dict:
    from ....plotting import pyplot

    plt = pyplot()
    a, arms = result.arrays, result.notes["arms"]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    ax = axes[0]
    for i, name in enumerate(arms):
        c = a[f"curve_{i}"]
        ax.plot(np.linspace(0, result.notes["steps"], len(c)), c, label=name)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("‖UUᵀ − X*‖_F / ‖X*‖_F (first seed)")
    ax.set_title(
        f"d = {result.notes['d']}, r = {result.notes['rank']}, r' = {result.notes['width']}, m = {result.notes['m']}",
        fontsize=9,
    )
    ax.legend(fontsize=7)
    ax = axes[1]
    vals = [result.values(m, "relative_error") for m in arms]
    for i, v in enumerate(vals):
        ax.scatter(np.full(len(v), i), v, s=14, alpha=0.7)
        ax.plot([i - 0.25, i + 0.25], [np.mean(v)] * 2, "k-")
    ax.set_xticks(range(len(arms)), arms, rotation=15, fontsize=7)
    ax.set_yscale("log")
    ax.set_ylabel("final relative error (seeds; line: mean)")
    ax.set_title("every arm's step size and decay chosen on held-out measurements", fontsize=9)
    fig.tight_layout()
    return {SLUG: fig}
