"""The experiment: learning-rate transfer across widths and feature learning, μP against SP and NTK.

Setup.  Teacher-student regression (`tasks.teacher_student()`: 16 inputs, a fixed random MLP teacher, 256
noisy training points, MSE).  A 16 → n → n → 1 ReLU MLP (`WidthMLP`, σ = √2) at widths n ∈ {32, …, 512},
base width n₀ = 64, plain SGD (batch 32, 30 epochs), one sweep of the base learning rate over 2⁻⁹ … 2⁻¹ per
(parametrization, width, seed).  At n = n₀ the three parametrizations are the *same network*, so the base
tuning is shared: the SP arm is exactly the ablation "SP with the same base tuning".
Each width's optimum lr* is chosen on the validation MSE (parabola-refined in log₂ lr, `lr_transfer.py`);
a diverged run counts as the loss of the zero predictor.
Premises.  (1) Under SP the optimum moves with width: SP's lr* spreads over more than one octave across the
widths (the readout's update grows ∝ n at a fixed rate).  (2) Under NTK the hidden features freeze as width
grows: the width exponent of their relative change, fitted per seed, is below −¼ (theory −½).
Claims.  (1) μP's lr* moves less across widths than SP's (spread, octaves); (2) μP's lr* does not fall with
width (slope of log₂ lr* on log₂ n above −¼; SP's theory −1); (3) the lr tuned at n₀ loses less test MSE at
n = 512 under μP than under SP (regret against the best lr at 512); (4) μP's relative feature change of the
last hidden layer has a width exponent at least ¼ above NTK's (theory ½); (5) its exponent is above −¼
(theory 0: Θ(1) feature learning).  The feature change ‖h_T − h_0‖/‖h_0‖ (on the validation inputs) is
measured at one fixed rate for all widths: half the rate tuned at n₀ (one grid step down, so that the
widths train stably — the theorem is about any fixed rate); its exponent is a least-squares fit in log-log
over the widths whose run stayed finite (all of them for μP and NTK in practice; SP may lose its widest).
"""

from __future__ import annotations

import numpy as np

from ....experiments import Claim, Method, Premise, compare, experiment, finish, tasks, train
from ....nn import functional as F
from ..coord_check import loglog_slope
from ..lr_transfer import LRSweep, plot_loss_vs_lr, plot_optimum_vs_width, refined_log2_argmin
from ..parametrization import WidthMLP, param_groups
from . import feature_change_exponent, relative_feature_change

SLUG = "mup"
BASE = 64
ARMS = {"μP": "mup", "SP": "standard", "NTK": "ntk"}


def _setup(quick: bool):
    if quick:
        return [32, 64, 128], [2.0**k for k in range(-6, -1)], 6
    return [32, 64, 128, 256, 512], [2.0**k for k in range(-9, 0)], 30


def _fit_one(parametrization, width, lr, seed, epochs):
    """Train one network → (val MSE, test MSE, relative change of the last hidden layer); NaN if diverged."""
    from ....optim import SGD

    task = tasks.teacher_student()
    model = WidthMLP(
        16,
        width,
        1,
        depth=2,
        parametrization=parametrization,
        base_width=BASE,
        optimizer="sgd",
        rng=np.random.default_rng(seed),
    )
    probe = np.asarray(task.x_val)
    h0 = model.features(probe)["hidden_1"]
    try:
        with np.errstate(over="ignore", invalid="ignore"):
            train(
                model,
                task,
                optimizer=SGD(param_groups(model, lr), lr=lr),
                epochs=epochs,
                seed=seed,
                loss_fn=F.mse_loss,
                batch_size=32,
            )
    except FloatingPointError:
        return np.nan, np.nan, np.nan
    with np.errstate(over="ignore", invalid="ignore"):
        val = float(np.mean((model(task.x_val).data - task.y_val) ** 2))
        test = float(np.mean((model(task.x_test).data - task.y_test) ** 2))
        h1 = model.features(probe)["hidden_1"]
    if not (np.isfinite(val) and np.isfinite(test) and np.all(np.isfinite(h1))):
        return np.nan, np.nan, np.nan
    return val, test, relative_feature_change(h0, h1)


def _arm(name: str, quick: bool, details: dict):
    parametrization = ARMS[name]
    widths, lrs, epochs = _setup(quick)
    task = tasks.teacher_student()
    cap_val = float(np.mean(np.asarray(task.y_val) ** 2))  # the zero predictor's MSE: a diverged run's loss
    cap_test = float(np.mean(np.asarray(task.y_test) ** 2))

    def run(seed):
        out = np.array([[_fit_one(parametrization, w, lr, seed, epochs) for lr in lrs] for w in widths])
        val, test, feat = out[..., 0], out[..., 1], out[..., 2]  # (widths, lrs)
        sweep = LRSweep(widths, lrs, [seed], val[..., None])
        opt = np.array([refined_log2_argmin(lrs, val[i]) for i in range(len(widths))])
        base_pick = int(sweep.best_index(BASE)[0])  # the lr tuned at the base width
        wide = len(widths) - 1
        val_c, test_c = np.where(np.isfinite(val), val, cap_val), np.where(np.isfinite(test), test, cap_test)
        best_wide = int(np.argmin(val_c[wide]))  # chosen on validation
        feat_base = feat[:, max(base_pick - 1, 0)]  # half the rate tuned at the base width
        details[(name, seed)] = {"val": val, "opt": opt, "feat": feat_base}
        metrics = {
            "lr_spread": float(opt.max() - opt.min()),
            "lr_slope": float(np.polyfit(np.log2(widths), opt, 1)[0]),
            "test_regret": float(test_c[wide, base_pick] - test_c[wide, best_wide]),
            "val_loss": float(val_c[wide, base_pick]),
            "test_loss": float(test_c[wide, base_pick]),
            "test_loss_best_lr": float(test_c[wide, best_wide]),
            **{f"log2_lr_w{w}": float(o) for w, o in zip(widths, opt)},
        }
        ok = np.isfinite(feat_base) & (feat_base > 0)
        if ok.sum() >= 2:
            metrics["feature_slope"] = loglog_slope(np.asarray(widths)[ok], feat_base[ok])
            metrics["feature_widths"] = float(ok.sum())
        return metrics

    return Method(name, run)


@experiment(SLUG, seeds=(0, 1, 2, 3, 4), quick_seeds=(0, 1))
def run(quick, seeds, progress):
    widths, lrs, _ = _setup(quick)
    details: dict = {}
    comparison = compare(
        [_arm(n, quick, details) for n in ARMS],
        seeds,
        select="val_loss",
        maximize=False,
        quick=quick,
        progress=progress,
    )
    shift = "under SP the optimal learning rate moves with width (SP's lr* spreads over > 1 octave)"
    lazy = "under NTK the hidden features freeze as width grows (NTK's width exponent < −¼)"
    premises = [
        Premise(shift, "lr_spread", "SP", threshold=1.0, strict=True),
        Premise(lazy, "feature_slope", "NTK", threshold=-0.25, direction="less", strict=True),
    ]
    claims = [
        Claim(
            "μP's optimal learning rate moves less across widths than SP's (octaves of lr* spread)",
            "lr_spread",
            "μP",
            "SP",
            direction="less",
            premises=(shift,),
        ),
        Claim(
            "μP's optimal learning rate does not fall with width (slope of log₂ lr* on log₂ n above −¼)",
            "lr_slope",
            "μP",
            direction="greater",
            margin=-0.25,
            premises=(shift,),
        ),
        Claim(
            f"the lr tuned at width {BASE} costs less test MSE at width {widths[-1]} under μP than under SP",
            "test_regret",
            "μP",
            "SP",
            direction="less",
            premises=(shift,),
        ),
        Claim(
            "μP's relative feature change shrinks with width at least ¼ less than NTK's (exponent μP − NTK)",
            "feature_slope",
            "μP",
            "NTK",
            direction="greater",
            margin=0.25,
            premises=(lazy,),
        ),
        Claim(
            "μP's relative feature change stays Θ(1) across widths (width exponent above −¼)",
            "feature_slope",
            "μP",
            direction="greater",
            margin=-0.25,
            premises=(),
        ),
    ]
    names = list(ARMS)
    arrays = {
        "widths": np.array(widths, float),
        "lrs": np.array(lrs),
        "val_loss": np.array([[details[(n, s)]["val"] for s in seeds] for n in names]),  # (arm, seed, w, lr)
        "log2_lr_opt": np.array([[details[(n, s)]["opt"] for s in seeds] for n in names]),  # (arm, seed, w)
        "feature_change": np.array([[details[(n, s)]["feat"] for s in seeds] for n in names]),
        "theory_exponent": np.array([feature_change_exponent(ARMS[n]) for n in names]),
    }
    return finish(
        SLUG,
        comparison,
        premises=premises,
        claims=claims,
        quick=quick,
        smoke=quick,
        arrays=arrays,
        notes={"arms": names, "base_width": BASE},
        metrics=[
            "lr_spread",
            "lr_slope",
            "feature_slope",
            "feature_widths",
            "test_regret",
            "test_loss",
            "test_loss_best_lr",
        ],
    )


def _nanmean(a):
    """Mean over seeds (axis 0) ignoring diverged (NaN) runs; NaN where every seed diverged."""
    a = np.asarray(a, float)
    n = np.isfinite(a).sum(axis=0)
    return np.where(n > 0, np.nansum(a, axis=0) / np.maximum(n, 1), np.nan)


def plot(result) -> dict:
    from ....plotting import pyplot

    plt = pyplot()
    names = result.notes["arms"]
    widths, lrs = np.asarray(result.arrays["widths"]), np.asarray(result.arrays["lrs"])
    val, opt = np.asarray(result.arrays["val_loss"]), np.asarray(result.arrays["log2_lr_opt"])
    feat = np.asarray(result.arrays["feature_change"])
    theory = np.asarray(result.arrays["theory_exponent"])
    base = result.notes["base_width"]
    fig, axes = plt.subplots(1, 4, figsize=(15, 3.4))
    cmap = plt.get_cmap("viridis")
    for ax, name in zip(axes[:2], ("SP", "μP")):
        a = names.index(name)
        plot_loss_vs_lr(ax, lrs, widths, [_nanmean(val[a, :, i, :]) for i in range(len(widths))], cmap)
        ax.set_ylim(0, 0.6)
        ax.set_title(f"{name}: validation MSE (seed mean; gaps = diverged)", fontsize=9)
    axes[0].set_ylabel("validation MSE")
    axes[0].legend(fontsize=7)
    plot_optimum_vs_width(axes[2], widths, names, opt)
    ax = axes[3]
    for a, name in enumerate(names):
        m = _nanmean(feat[a])
        line = ax.plot(widths, m, "o", label=f"{name} (simulation)")[0]
        anchor = m[list(widths).index(base)]
        ax.plot(
            widths,
            anchor * (widths / base) ** theory[a],
            "--",
            color=line.get_color(),
            label=f"{name} theory n^{theory[a]:+.1f}",
        )
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("width n")
    ax.set_ylabel("‖h_T − h_0‖ / ‖h_0‖ (last hidden layer)")
    ax.set_title(f"feature change at half the lr tuned at n={base}", fontsize=9)
    ax.legend(fontsize=6)
    fig.tight_layout()
    return {SLUG: fig}
