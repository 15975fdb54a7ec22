"""The experiment: the norm prediction (D4) against simulation, and trainability of an unnormalised
residual MLP on the digits, across depth L and branch multiplier λ ∈ {1, 1/√L, 1/L}.

Setup.  `ResidualMLP(64 → width 64, L blocks of 64-64-64 ReLU, → 10)` with He-initialised,
variance-preserving branches (σ² = 1) and no normalisation; L ∈ {4, 8, 16, 32, 64}.
(a) Theory vs simulation: for each seed, `N_NETS` independent residual streams drawn with the network's
initialisation law (`block_init`), x_0 a random Gaussian vector; the mean of ‖x_L‖²/‖x_0‖² over the nets
against (1 + λ²σ²)^L, on a log10 scale.  The streams of all (L, λ) share their block draws (common
random numbers), so depth trends are not blurred by independent noise.  The initial growth of each
trained network on the validation digits is recorded as well (one network per seed).
(b) Trainability: every (L, λ) configuration trains with Adam for a fixed number of epochs and chooses
its own learning rate on the validation split (seed 0); then every seed runs at that rate.  A run whose
loss overflows counts as diverged and is evaluated as it stands.
Premises.  λ = 1 explodes the signal at init (‖x_L‖²/‖x_0‖² > 10³ at the largest depth); λ = 1 loses
more than five points of test accuracy from L = 4 to the largest depth.
Claims (margins fixed before the first full run).  The simulated mean matches (1 + λ²σ²)^L to within
0.1 decade at the largest depth, for each rule; scaled branches keep the initial growth flat (less than
half a decade between L = 4 and the largest depth); scaled branches train at all depths (the largest
depth within two points of L = 4) and beat λ = 1 there by more than five points; and, reported either
way, λ = 1/√L trains at least as well as λ = 1/L at the largest depth.
Grid.  Rates 1e-4 … 1e-2; 1e-4 and 1e-2 were added after the first recording, when the grid-edge check found
ten arms at the highest rate then tried (3e-3) and L = 64 with λ = 1 at the lowest (3e-4).  Left at an edge
after that: L = 64 with λ = 1 at 1e-4 (the exploding network trains, if at all, only at the smallest rates)
and L = 8 with λ = 1/L at 1e-2; no verdict moved.
"""

from __future__ import annotations

import functools

import numpy as np

from ....experiments import Claim, Method, Premise, compare, experiment, finish, tasks, train
from . import RULES, ResidualMLP, block_init, branch_multiplier, predicted_sq_norm_ratio

SLUG = "residual-depth-scaling"
WIDTH, HIDDEN, SIGMA2 = 64, 64, 1.0
FULL_DEPTHS, QUICK_DEPTHS = (4, 8, 16, 32, 64), (4, 16)
N_NETS, QUICK_N_NETS = 512, 64  # independent networks per seed in the simulation
EPOCHS, QUICK_EPOCHS = 12, 3
LR_GRID, QUICK_LR_GRID = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2], [1e-3]
GROWTH_MARGIN = 0.1  # decades: |log10 simulated − log10 predicted| at the largest depth
FLAT_MARGIN = 0.5  # decades: growth at the largest depth minus growth at L = 4, scaled branches
DEPTH_DROP = -0.02  # test accuracy: largest depth minus L = 4, scaled branches
GAIN_OVER_PLAIN = 0.05  # test accuracy: scaled branch minus λ = 1, at the largest depth


def name(L: int, rule: str) -> str:
    return f"L={L} lam={rule}"


def simulate_sq_norm_ratios(configs, n_nets: int, seed: int, width=WIDTH, hidden=HIDDEN, sigma2=SIGMA2):
    """‖x_L‖²/‖x_0‖² of `n_nets` independent residual streams per (L, λ) in `configs`, each block drawn by
    `block_init` (He ReLU branches), x_0 ~ N(0, I).  Block l is the same draw in every configuration
    (common random numbers); returns an array (len(configs), n_nets)."""
    rng = np.random.default_rng([seed, 20251003])
    x0 = rng.standard_normal((n_nets, width))
    xs = [x0.copy() for _ in configs]
    for layer in range(max(L for L, _ in configs)):
        w1, w2 = block_init(rng, width, hidden, "relu", sigma2, size=(n_nets,))
        for i, (L, lam) in enumerate(configs):
            if layer < L:
                h = np.maximum(np.matmul(w1, xs[i][:, :, None]), 0.0)
                xs[i] = xs[i] + lam * np.matmul(w2, h)[:, :, 0]  # (D1)
    return np.array([np.sum(x**2, axis=1) / np.sum(x0**2, axis=1) for x in xs])


@functools.cache
def _simulation(seed: int, depths: tuple, n_nets: int) -> dict:
    configs = [(L, branch_multiplier(rule, L)) for rule in RULES for L in depths]
    ratios = simulate_sq_norm_ratios(configs, n_nets, seed)
    keys = [(rule, L) for rule in RULES for L in depths]
    return {k: float(np.log10(np.mean(r))) for k, r in zip(keys, ratios)}


def _accuracy(model, x, y) -> float:
    """Accuracy that survives a diverged model: non-finite logits never win the argmax."""
    from ....train import predict

    logits = predict(model, x).astype(np.float64)
    logits = np.where(np.isfinite(logits), logits, -np.inf)
    pred = np.where(
        np.all(np.isinf(logits), axis=1), -1, np.argmax(np.nan_to_num(logits, neginf=-1e300), axis=1)
    )
    return float(np.mean(pred == np.asarray(y)))


def _arm(L: int, rule: str, depths: tuple, quick: bool):
    lam = branch_multiplier(rule, L)
    epochs, n_nets = (QUICK_EPOCHS, QUICK_N_NETS) if quick else (EPOCHS, N_NETS)

    def run(seed, lr):
        task = tasks.digits()
        model = ResidualMLP(task.in_features, WIDTH, L, task.num_classes, lam, hidden=HIDDEN, rng=seed)
        xs = model.stream(task.x_val)
        init_growth = float(np.log10(np.mean(np.sum(xs[-1] ** 2, 1) / np.sum(xs[0] ** 2, 1))))
        diverged, final_loss = 0.0, np.inf
        try:
            history = train(model, task, lr=lr, epochs=epochs, seed=seed)
            final_loss = float(history["loss"][-1])
        except FloatingPointError:  # the loss overflowed: the run failed to train
            diverged = 1.0
        predicted = float(np.log10(predicted_sq_norm_ratio(L, lam, SIGMA2)))  # (D4)
        simulated = _simulation(seed, depths, n_nets)[(rule, L)]
        return {
            "val_accuracy": _accuracy(model, task.x_val, task.y_val),
            "test_accuracy": _accuracy(model, task.x_test, task.y_test),
            "log10_final_train_loss": float(np.log10(min(final_loss, 1e30)))
            if np.isfinite(final_loss)
            else 30.0,
            "diverged": diverged,
            "init_log10_growth": init_growth,
            "sim_log10_growth": simulated,
            "predicted_log10_growth": predicted,
            "abs_log10_error": abs(simulated - predicted),
        }

    return Method(name(L, rule), run, grid={"lr": LR_GRID}, quick_grid={"lr": QUICK_LR_GRID})


@experiment(SLUG, seeds=(0, 1, 2, 3, 4), quick_seeds=(0, 1))
def run(quick, seeds, progress):
    depths = QUICK_DEPTHS if quick else FULL_DEPTHS
    top, low = max(depths), min(depths)
    methods = [_arm(L, rule, depths, quick) for rule in RULES for L in depths]
    comparison = compare(methods, seeds, select="val_accuracy", quick=quick, progress=progress)
    explode = f"λ = 1 explodes the signal at init: ‖x_L‖²/‖x_0‖² > 10³ at L = {top}"
    degrade = f"λ = 1 loses more than five points of test accuracy from L = {low} to L = {top}"
    premises = [
        Premise(explode, "init_log10_growth", name(top, "1"), threshold=3.0),
        Premise(degrade, "test_accuracy", name(low, "1"), threshold=0.05, baseline=name(top, "1")),
    ]
    claims = [
        Claim(
            f"The simulated E‖x_L‖²/‖x_0‖² matches (1 + λ²σ²)^L within {GROWTH_MARGIN} decade at L = {top} "
            f"(λ = {rule})",
            "abs_log10_error",
            name(top, rule),
            direction="less",
            margin=GROWTH_MARGIN,
            premises=(),
        )
        for rule in RULES
    ]
    scaled = [r for r in RULES if r != "1"]
    claims += [
        Claim(
            f"λ = {rule} keeps the initial norm flat: growth at L = {top} within {FLAT_MARGIN} decade of L = {low}",
            "init_log10_growth",
            name(top, rule),
            name(low, rule),
            direction="less",
            margin=FLAT_MARGIN,
            premises=(explode,),
        )
        for rule in scaled
    ]
    claims += [
        Claim(
            f"λ = {rule} trains at all depths: test accuracy at L = {top} within two points of L = {low}",
            "test_accuracy",
            name(top, rule),
            name(low, rule),
            margin=DEPTH_DROP,
            premises=(degrade,),
        )
        for rule in scaled
    ]
    claims += [
        Claim(
            f"λ = {rule} beats λ = 1 at L = {top} by more than five points of test accuracy",
            "test_accuracy",
            name(top, rule),
            name(top, "1"),
            margin=GAIN_OVER_PLAIN,
            premises=(degrade,),
        )
        for rule in scaled
    ]
    claims.append(
        Claim(
            f"λ = 1/sqrt(L) trains at least as well as λ = 1/L at L = {top} (reported either way)",
            "test_accuracy",
            name(top, "1/sqrt(L)"),
            name(top, "1/L"),
            premises=(),
        )
    )

    def grid(metric):
        return np.array([[comparison.values(name(L, r), metric) for L in depths] for r in RULES])

    fine = np.arange(1, top + 1)
    return finish(
        SLUG,
        comparison,
        premises=premises,
        claims=claims,
        quick=quick,
        smoke=quick,
        arrays={
            "depths": np.array(depths),
            "fine_depths": fine,
            "predicted_log10_growth_fine": np.array(
                [
                    [
                        np.log10(predicted_sq_norm_ratio(int(L), branch_multiplier(r, int(L)), SIGMA2))
                        for L in fine
                    ]
                    for r in RULES
                ]
            ),
            "sim_log10_growth": grid("sim_log10_growth"),
            "init_log10_growth": grid("init_log10_growth"),
            "test_accuracy": grid("test_accuracy"),
        },
        notes={
            "rules": list(RULES),
            "width": WIDTH,
            "hidden": HIDDEN,
            "sigma2": SIGMA2,
            "epochs": QUICK_EPOCHS if quick else EPOCHS,
            "n_nets": QUICK_N_NETS if quick else N_NETS,
        },
        metrics=[
            "test_accuracy",
            "val_accuracy",
            "diverged",
            "log10_final_train_loss",
            "init_log10_growth",
            "sim_log10_growth",
            "predicted_log10_growth",
            "abs_log10_error",
        ],
    )


def plot(result) -> dict:
    from ....plotting import pyplot

    plt = pyplot()
    rules, depths = result.notes["rules"], np.asarray(result.arrays["depths"])
    labels = {"1": "λ = 1", "1/sqrt(L)": "λ = 1/√L", "1/L": "λ = 1/L"}
    colors = dict(zip(rules, ("C3", "C0", "C2")))
    fine = np.asarray(result.arrays["fine_depths"])
    fig, (ax0, ax1, ax2) = plt.subplots(1, 3, figsize=(13, 3.8))
    for i, rule in enumerate(rules):
        color = colors[rule]
        sim = np.asarray(result.arrays["sim_log10_growth"][i])
        init = np.asarray(result.arrays["init_log10_growth"][i])
        pred = np.asarray(result.arrays["predicted_log10_growth_fine"][i])
        # left: all rules on a log10 scale; middle: the scaled rules as plain ratios
        for ax, f, show in ((ax0, lambda v: v, True), (ax1, lambda v: 10.0**v, rule != "1")):
            if not show:
                continue
            ax.plot(fine, f(pred), "-", color=color, label=f"{labels[rule]}: (1+λ²σ²)^L")
            mean = f(sim).mean(1)
            err = [mean - f(sim).min(1), f(sim).max(1) - mean]
            ax.errorbar(
                depths, mean, yerr=err, fmt="o", color=color, capsize=3, label=f"{labels[rule]}: simulation"
            )
            for j, L in enumerate(depths):
                ax.plot(np.full(init.shape[1], L * 1.08), f(init[j]), "x", color=color, ms=4, alpha=0.6)
        acc = np.asarray(result.arrays["test_accuracy"][i])
        half = 1.96 * acc.std(1, ddof=1) / np.sqrt(acc.shape[1]) if acc.shape[1] > 1 else 0 * acc.mean(1)
        ax2.errorbar(depths, acc.mean(1), yerr=half, fmt="o-", color=color, capsize=3, label=labels[rule])
    ax1.axhline(np.e, color="0.6", lw=0.8, ls=":")
    ax1.annotate("e", (fine[-1], np.e), xytext=(2, 2), textcoords="offset points", fontsize=8, color="0.4")
    for ax in (ax0, ax1, ax2):
        ax.set_xscale("log", base=2)
        ax.set_xticks(depths, [str(int(L)) for L in depths])
        ax.set_xlabel("depth L (residual blocks)")
    ax0.set_ylabel("log10 ‖x_L‖² / ‖x_0‖² at init")
    ax0.set_title("theory (lines) vs simulation (dots, seed range);\n× one trained net per seed", fontsize=9)
    ax0.legend(fontsize=6)
    ax1.set_ylabel("‖x_L‖² / ‖x_0‖² at init")
    ax1.set_title("the scaled branches, zoomed", fontsize=9)
    ax1.legend(fontsize=6)
    ax2.set_ylabel("test accuracy (mean, 95 % interval)")
    ax2.set_title("trainability on digits (lr chosen on validation)", fontsize=9)
    ax2.legend(fontsize=7)
    fig.tight_layout()
    return {SLUG: fig}
