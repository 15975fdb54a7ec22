"""The experiment: the tangent kernel of one-hidden-layer ReLU networks of growing width on the circle, at
initialization and after training, and the trained networks against kernel regression with Θ_∞.

Setup.  Inputs on the unit circle; 8 training angles drawn per seed, targets y = sin 2φ + ½ cos φ; 64
evenly spaced angles to evaluate on.  Widths `WIDTHS` (16 … 4096).  Full-batch GD on ½‖f(X) − y‖², η =
`LR` (below 2/λ_max(Θ_∞) on every draw), `STEPS` steps — long enough that the training loss falls below 1 %
of its start.  Two parametrizations of the same network and initial weights: NTK (1/√m, the paper's) and
mean-field (1/m with the learning rate × m: the same initial speed in function space, the ablation that
lacks the 1/√m scaling).  Per width: the relative Frobenius distance of the empirical kernel at init from
Θ_∞ (the mean-field kernel × m), the relative change of the kernel during training, and the relative gap
between the trained network and the kernel-regression prediction on the 64 angles.  The log-log slope of
each against the width is fitted per seed.  `SEEDS` seeds (weights and training angles).  Nothing is tuned.
Premise.  Training happens: at the largest width the NTK net's training loss falls below 1 % of its start.
Claims (margins fixed before the first full run; the theory's rate is −1/2).  (1–3) In the NTK
parametrization the kernel's deviation from Θ_∞ at init, its change during training and the gap between
the trained net and kernel regression all shrink with width: log-log slope below −0.35.  (4) At the largest
width the mean-field kernel moves by more than 0.5 (relative) more than the NTK kernel, and (5) its motion
does not shrink with width (slope above −0.15).
"""

from __future__ import annotations

import numpy as np

from ....experiments import Claim, Method, Premise, compare, experiment, finish
from . import TwoLayerReLU, analytic_ntk, circle_points, kernel_prediction, train_gd

SLUG = "ntk"
WIDTHS, QUICK_WIDTHS = (16, 64, 256, 1024, 4096), (16, 64, 256)
STEPS, QUICK_STEPS = 2000, 400
LR = 0.2
N_TRAIN, N_EVAL = 8, 64
SLOPE_MARGIN = -0.35
FLAT_MARGIN = -0.15
MF_EXTRA_CHANGE = 0.5
PREMISE_LOSS = 0.01


def target(phi):
    return np.sin(2 * phi) + 0.5 * np.cos(phi)


def draw(seed: int):
    """Training angles of one seed, the evaluation angles, and the targets."""
    phi = np.sort(np.random.default_rng([seed, 7]).uniform(0, 2 * np.pi, N_TRAIN))
    ev = np.linspace(0, 2 * np.pi, N_EVAL, endpoint=False)
    return circle_points(phi), target(phi), circle_points(ev), target(ev)


def one_width(width: int, parametrization: str, seed: int, steps: int) -> dict:
    X, y, Z, yz = draw(seed)
    net = TwoLayerReLU(width, parametrization=parametrization, rng=[seed, width])
    unscale = width if parametrization == "mean-field" else 1.0  # the mean-field kernel is Θ/m
    K0 = net.ntk(X)
    theta = analytic_ntk(X)
    f0x, f0z = net(X), net(Z)
    losses = train_gd(net, X, y, LR, steps)
    pred = kernel_prediction(theta, analytic_ntk(Z, X), f0x, f0z, y, LR, steps)
    out = net(Z)
    return {
        "init_dev": np.linalg.norm(unscale * K0 - theta) / np.linalg.norm(theta),
        "change": np.linalg.norm(net.ntk(X) - K0) / np.linalg.norm(K0),
        "gap": np.linalg.norm(out - pred) / np.linalg.norm(pred - f0z),
        "loss_ratio": losses[-1] / (0.5 * np.sum((f0x - y) ** 2)),
        "eval_mse": float(np.mean((out - yz) ** 2)),
        "out": out,
        "pred": pred,
    }


def slope(widths, values) -> float:
    return float(np.polyfit(np.log(widths), np.log(values), 1)[0])


def _learner(parametrization: str, widths, steps: int, keep: dict):
    def run(seed):
        per = {m: one_width(m, parametrization, seed, steps) for m in widths}
        keep[(parametrization, seed)] = per
        top = per[widths[-1]]
        metrics = {"val_mse": top["eval_mse"], "loss_ratio_wmax": top["loss_ratio"]}
        for key in ("init_dev", "change", "gap"):
            metrics[f"{key}_wmax"] = top[key]
            metrics[f"slope_{key}"] = slope(widths, [per[m][key] for m in widths])
        return metrics

    return run


@experiment(SLUG, seeds=tuple(range(8)), quick_seeds=(0, 1, 2))
def run(quick, seeds, progress):
    widths, steps = (QUICK_WIDTHS, QUICK_STEPS) if quick else (WIDTHS, STEPS)
    keep: dict = {}
    ntk_name, mf_name = "NTK parametrization", "mean-field (ablation)"
    methods = [
        Method(ntk_name, _learner("ntk", widths, steps, keep)),
        Method(mf_name, _learner("mean-field", widths, steps, keep)),
    ]
    comparison = compare(methods, seeds, select="val_mse", maximize=False, quick=quick, progress=progress)
    premise = Premise(
        "training happens: at the largest width the NTK net's training loss falls below 1 % of its start",
        "loss_ratio_wmax",
        ntk_name,
        threshold=PREMISE_LOSS,
        direction="less",
    )
    what = {
        "init_dev": "the empirical kernel at init approaches Θ_∞",
        "change": "the kernel moves less during training",
        "gap": "the trained network approaches kernel regression with Θ_∞",
    }
    claims = [
        Claim(
            f"NTK parametrization: {text} as the width grows (log-log slope below {SLOPE_MARGIN:g})",
            f"slope_{key}",
            ntk_name,
            direction="less",
            margin=SLOPE_MARGIN,
            premises=() if key == "init_dev" else None,
        )
        for key, text in what.items()
    ]
    claims += [
        Claim(
            f"at the largest width the mean-field kernel moves by more than {MF_EXTRA_CHANGE:g} (relative) more "
            "than the NTK kernel",
            "change_wmax",
            mf_name,
            ntk_name,
            direction="greater",
            margin=MF_EXTRA_CHANGE,
        ),
        Claim(
            f"mean-field parametrization: the kernel's motion does not shrink with width (slope above "
            f"{FLAT_MARGIN:g})",
            "slope_change",
            mf_name,
            direction="greater",
            margin=FLAT_MARGIN,
        ),
    ]
    s0 = comparison.seeds[0]
    arrays = {"widths": np.array(widths)}
    for par, tag in (("ntk", "ntk"), ("mean-field", "mf")):
        for key in ("init_dev", "change", "gap"):
            arrays[f"{key}_{tag}"] = np.array(
                [[keep[(par, s)][m][key] for m in widths] for s in comparison.seeds]
            )
        arrays[f"out_{tag}"] = np.array([keep[(par, s0)][m]["out"] for m in widths])
        arrays[f"pred_{tag}"] = np.array([keep[(par, s0)][m]["pred"] for m in widths])
    X, y, _, _ = draw(s0)
    arrays["train_phi"] = np.mod(np.arctan2(X[:, 1], X[:, 0]), 2 * np.pi)
    arrays["train_y"] = y
    return finish(
        SLUG,
        comparison,
        premises=[premise],
        claims=claims,
        quick=quick,
        smoke=quick,
        arrays=arrays,
        notes={"steps": steps, "lr": LR, "n_train": N_TRAIN, "n_eval": N_EVAL},
        metrics=[
            "val_mse",
            "loss_ratio_wmax",
            "init_dev_wmax",
            "change_wmax",
            "gap_wmax",
            "slope_init_dev",
            "slope_change",
            "slope_gap",
        ],
    )


def plot(result) -> dict:
    from ....plotting import pyplot

    plt = pyplot()
    a = result.arrays
    widths = a["widths"]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    ax = axes[0]
    ev = np.linspace(0, 2 * np.pi, result.notes["n_eval"], endpoint=False)
    for i in (0, len(widths) - 1):
        (line,) = ax.plot(ev, a["out_ntk"][i], lw=1.5, label=f"NTK net, width {widths[i]}, trained")
        ax.plot(ev, a["pred_ntk"][i], "--", color=line.get_color(), lw=1, label="kernel regression (same f₀)")
    ax.plot(a["train_phi"], a["train_y"], "ko", label="training points")
    ax.set_xlabel("angle φ of the input (cos φ, sin φ)")
    ax.set_ylabel("f(x)")
    ax.set_title("first seed: trained network vs kernel regression with Θ_∞", fontsize=9)
    ax.legend(fontsize=7)
    ax = axes[1]
    styles = {
        "init_dev": ("o", "‖Θ₀ − Θ_∞‖/‖Θ_∞‖ at init"),
        "change": ("s", "‖Θ_T − Θ₀‖/‖Θ₀‖ in training"),
        "gap": ("^", "‖f_T − f_kernel‖ / ‖f_kernel − f₀‖"),
    }
    for key, (mk, lab) in styles.items():
        (line,) = ax.loglog(widths, a[f"{key}_ntk"].mean(0), mk + "-", label=f"NTK: {lab}")
        if key != "init_dev":
            ax.loglog(
                widths, a[f"{key}_mf"].mean(0), mk + ":", color=line.get_color(), label=f"mean-field: {lab}"
            )
    ax.loglog(
        widths, a["init_dev_ntk"].mean(0)[0] * np.sqrt(widths[0] / widths), "k--", lw=0.8, label="∝ 1/√width"
    )
    ax.set_xlabel("width m")
    ax.set_ylabel("relative deviation (mean over seeds)")
    ax.set_title("deviations against width: NTK (solid) and mean-field (dotted)", fontsize=9)
    ax.legend(fontsize=6)
    fig.tight_layout()
    return {SLUG: fig}
