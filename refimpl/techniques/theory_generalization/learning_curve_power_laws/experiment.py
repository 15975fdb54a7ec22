"""The experiment: learning curves of one-hidden-layer MLPs on the 8×8 digits, the width and learning rate
chosen on the validation split at every training-set size, fitted by ε(m) = αm^β + γ on the small sizes and
extrapolated.

Setup.  m in `SIZES` (the first m training images of a per-seed shuffle; 899 is all of them), widths `WIDTHS`,
Adam rates `LRS`, `EPOCHS` worth of steps (at least 30 epochs), batch 64.  At each m the (width, rate) with the
lowest validation error is kept and its test error is the learning curve's point.  The law is fitted on
m ≤ `FIT_UP_TO` and asked for m = 899; the pure power law (no floor γ) is the ablation.  `SEEDS` seeds.
The fit's uncertainty: the seeds' curves are resampled with replacement (`BOOT` times), averaged and refitted (the
family's `bootstrap_fit`); the percentile band of the extrapolation and the intervals of β and γ go to the notes.
Premise.  More data help: the test error at m = 899 is below half the error at m = 25.
Claims (margins fixed before the first full run).  (1) The curve is a power law with a floor: the fit on all sizes
has R² above 0.95 on log error with β < 0 (claimed through R²).  (2) Fitted on m ≤ 200, it predicts the error at
m = 899 within 30 % (relative).  (3) It predicts better than the pure power law (absolute relative error).
(4) The best width grows sub-linearly with m: the log–log slope δ is below 1, (5) and above 0.
"""

from __future__ import annotations

import numpy as np

from ....experiments import Claim, Method, Premise, compare, experiment, finish
from ....experiments.tasks import digits
from ..fitting import bootstrap_fit
from ..pools import digits_mlp_errors
from . import fit_power_law, fit_pure_power_law, growth_exponent

SLUG = "learning-curve-power-laws"
SIZES, QUICK_SIZES = (25, 50, 100, 200, 400, 899), (25, 50, 100, 400)
WIDTHS, QUICK_WIDTHS = (8, 16, 32, 64, 128, 256), (16, 64)
LRS, QUICK_LRS = (1e-3, 3e-3, 1e-2), (3e-3,)
FIT_UP_TO = 200
STEPS = 1000  # optimizer steps at every size (so small m is not under-trained)
R2_MARGIN, EXTRAP_MARGIN = 0.95, 0.30
PREMISE_RATIO = 0.5
BOOT, BOOT_QUICK, BOOT_LEVEL = 400, 50, 0.9  # bootstrap resamples of the seeds and the interval's level


def _error(task, m, width, lr, seed, order):
    return digits_mlp_errors(task, m, width, lr, seed, order, STEPS)


def _curve(sizes, widths, lrs, keep):
    def run(seed):
        task = digits()
        order = np.random.default_rng([seed, 91]).permutation(len(task.y_train))
        test, best_width, val_best = [], [], []
        for m in sizes:
            scored = [(_error(task, m, w, lr, seed, order), w) for w in widths for lr in lrs]
            (val, te), w = min(scored, key=lambda s: s[0][0])
            test.append(max(te, 0.5 / len(task.y_test)))  # a zero error counts as half a mistake (log scale)
            best_width.append(w)
            val_best.append(val)
        test, sizes_a = np.array(test), np.array(sizes, dtype=np.float64)
        small = sizes_a <= FIT_UP_TO
        full_fit = fit_power_law(sizes_a, test)
        log_pred = np.log(full_fit["predict"](sizes_a))
        r2 = 1 - np.sum((np.log(test) - log_pred) ** 2) / np.sum((np.log(test) - np.log(test).mean()) ** 2)
        law, pure = (
            fit_power_law(sizes_a[small], test[small]),
            fit_pure_power_law(sizes_a[small], test[small]),
        )
        keep[seed] = {
            "test": test,
            "best_width": np.array(best_width, dtype=np.float64),
            "law": law["predict"](sizes_a),
            "pure": pure["predict"](sizes_a),
        }
        err_law = abs(law["predict"](sizes_a[-1]) / test[-1] - 1)
        err_pure = abs(pure["predict"](sizes_a[-1]) / test[-1] - 1)
        return {
            "val_error_at_largest_m": float(val_best[-1]),
            "test_error_at_largest_m": float(test[-1]),
            "error_ratio_largest_to_smallest": float(test[-1] / test[0]),
            "fit_r2": float(r2),
            "fit_beta": float(full_fit["beta"]),
            "fit_gamma": float(full_fit["gamma"]),
            "extrapolation_abs_err": float(err_law),
            "pure_extrapolation_abs_err": float(err_pure),
            "law_minus_pure_err": float(err_law - err_pure),
            "width_growth_delta": growth_exponent(sizes_a, np.array(best_width, dtype=np.float64)),
        }

    return run


@experiment(SLUG, seeds=tuple(range(5)), quick_seeds=(0, 1, 2))
def run(quick, seeds, progress):
    sizes, widths, lrs = (QUICK_SIZES, QUICK_WIDTHS, QUICK_LRS) if quick else (SIZES, WIDTHS, LRS)
    keep: dict = {}
    name = "MLP, width and rate tuned per size"
    comparison = compare(
        [Method(name, _curve(sizes, widths, lrs, keep))],
        seeds,
        select="val_error_at_largest_m",
        maximize=False,
        quick=quick,
        progress=progress,
    )
    premise = Premise(
        f"more data help: the error at the largest size is below {PREMISE_RATIO:g} × the error at the smallest",
        "error_ratio_largest_to_smallest",
        name,
        threshold=PREMISE_RATIO,
        direction="less",
    )
    claims = [
        Claim(
            f"the learning curve is a power law with a floor (R² of the fit on log error above {R2_MARGIN:g})",
            "fit_r2",
            name,
            margin=R2_MARGIN,
        ),
        Claim(
            f"fitted on m ≤ {FIT_UP_TO}, the law predicts the error at the largest m within {EXTRAP_MARGIN:.0%}",
            "extrapolation_abs_err",
            name,
            direction="less",
            margin=EXTRAP_MARGIN,
        ),
        Claim(
            "it predicts better than the pure power law without a floor",
            "law_minus_pure_err",
            name,
            direction="less",
        ),
        Claim(
            "the best width grows sub-linearly with the data (log–log slope below 1)",
            "width_growth_delta",
            name,
            direction="less",
            margin=1.0,
        ),
        Claim(
            "the best width grows with the data (log–log slope above 0)",
            "width_growth_delta",
            name,
            margin=0.0,
        ),
    ]
    s = comparison.seeds
    arrays = {"sizes": np.array(sizes, dtype=np.float64)}
    for key in ("test", "best_width", "law", "pure"):
        arrays[key] = np.array([keep[k][key] for k in s])
    small = arrays["sizes"] <= FIT_UP_TO
    boot = bootstrap_fit(  # seeds resampled: the uncertainty of the small-m fit and of its extrapolation
        lambda x, y: fit_power_law(x[small], y[small]),
        arrays["sizes"],
        arrays["test"],
        n_boot=BOOT_QUICK if quick else BOOT,
        level=BOOT_LEVEL,
        at=arrays["sizes"],
    )
    arrays["law_band_lo"], arrays["law_band_hi"] = boot["predict"]
    mean_last = float(arrays["test"].mean(0)[-1])
    bootstrap = {
        "level": BOOT_LEVEL,
        "beta": list(boot["beta"]),
        "gamma": list(boot["gamma"]),
        "largest_m_band": [float(arrays["law_band_lo"][-1]), float(arrays["law_band_hi"][-1])],
        "largest_m_mean_error": mean_last,
    }
    return finish(
        SLUG,
        comparison,
        premises=[premise],
        claims=claims,
        quick=quick,
        smoke=quick,
        arrays=arrays,
        notes={"fit_up_to": FIT_UP_TO, "bootstrap": bootstrap},
    )


def plot(result) -> dict:
    from ....plotting import pyplot

    plt = pyplot()
    a = result.arrays
    m = a["sizes"]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    ax = axes[0]
    for row in a["test"]:
        ax.loglog(m, row, "o", color="C0", alpha=0.3, ms=4)
    ax.loglog(m, a["test"].mean(0), "o-", color="C0", label="test error (mean over seeds)")
    ax.loglog(
        m, a["law"].mean(0), "--", color="C1", label=f"αm^β + γ fitted on m ≤ {result.notes['fit_up_to']}"
    )
    level = result.notes["bootstrap"]["level"]
    ax.fill_between(
        m, a["law_band_lo"], a["law_band_hi"], color="C1", alpha=0.15, label=f"{level:.0%} bootstrap band"
    )
    ax.loglog(m, a["pure"].mean(0), ":", color="C2", label="αm^β (no floor), same points")
    ax.axvline(result.notes["fit_up_to"], color="0.7", lw=0.8)
    ax.set_xlabel("training examples m")
    ax.set_ylabel("test error")
    ax.set_title("learning curve and its extrapolation", fontsize=9)
    ax.legend(fontsize=7)
    ax = axes[1]
    for row in a["best_width"]:
        ax.loglog(m, row, "o-", alpha=0.5)
    ax.loglog(m, a["best_width"].mean(0)[0] * m / m[0], "k:", lw=0.8, label="∝ m (linear)")
    ax.set_xlabel("training examples m")
    ax.set_ylabel("best hidden width (validation)")
    ax.set_title("the best model size against the data size (one line per seed)", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return {SLUG: fig}
