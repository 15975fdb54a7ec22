"""The experiment: rounds of self-distillation in kernel ridge regression on a noisy 1-D curve, pure (α = 0)
and with the ground truth mixed in, against kernel ridge regression with its ridge tuned.

Setup.  y = sin 2πx + ε, x ~ U[0, 1], noise σ = `NOISE`; n = `N_TRAIN` training, 200 validation and 2000 test
points per seed; RBF kernel of bandwidth `BANDWIDTH`.  Arms, each tuned on the validation split: KRR (λ from
`LAMBDAS`); self-distillation with α = 0 and with α = 0.5 (λ and the number of rounds, 1 … `MAX_ROUNDS`);
self-distillation with α tuned too (α from `ALPHAS`, 0 … 1).  `SEEDS` seeds (data).
Premise.  Regularization matters on this task: KRR with the smallest λ of the grid has more than 1.2 times the
tuned KRR's test MSE.
Claims (margins fixed before the first full run).  (1) Pure self-distillation over-regularizes: at its tuned
λ, 50 rounds give a higher test MSE than its tuned number of rounds.  (2) Ground-truth mixing dampens this:
at the same λ, 50 rounds with α = 0.5 give a lower test MSE than 50 rounds with α = 0.  (3) From an
under-regularized start (λ = `SMALL_LAMBDA`) a few rounds help: the validation-chosen round count beats one
round on test MSE.  (4) With everything tuned, self-distillation (α tuned) beats KRR with λ tuned.
"""

from __future__ import annotations

import numpy as np

from ....experiments import Claim, Method, Premise, compare, experiment, finish
from . import rbf_kernel, self_distill

SLUG = "self-distillation-krr"
NOISE, N_TRAIN, BANDWIDTH = 0.5, 40, 0.08
N_VAL, N_TEST = 200, 2000
LAMBDAS = [1e-4, 1e-3, 1e-2, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0]
ALPHAS = [0.0, 0.1, 0.25, 0.5, 0.75, 1.0]
MAX_ROUNDS, FAR_ROUNDS = 8, 50
SMALL_LAMBDA = 1e-3
PREMISE_RATIO = 1.2


def data(seed: int) -> dict:
    rng = np.random.default_rng([seed, 21])
    out = {}
    for name, n in (("train", N_TRAIN), ("val", N_VAL), ("test", N_TEST)):
        x = rng.uniform(0, 1, n)
        out[name] = (x, np.sin(2 * np.pi * x) + NOISE * rng.normal(size=n))
    x = out["train"][0]
    out["K"] = rbf_kernel(x, bandwidth=BANDWIDTH)
    out["K_val"] = rbf_kernel(out["val"][0], x, bandwidth=BANDWIDTH)
    out["K_test"] = rbf_kernel(out["test"][0], x, bandwidth=BANDWIDTH)
    return out


def _mse(pred, y) -> np.ndarray:
    return np.mean((pred - y) ** 2, axis=-1)


def curves(d: dict, lam: float, alpha: float, rounds: int) -> tuple:
    """(validation MSE, test MSE) after each round 1 … rounds."""
    y = d["train"][1]
    val = _mse(self_distill(d["K"], d["K_val"], y, lam, alpha, rounds), d["val"][1])
    test = _mse(self_distill(d["K"], d["K_test"], y, lam, alpha, rounds), d["test"][1])
    return val, test


def _krr(seed, lam):
    d = data(seed)
    val, test = curves(d, lam, 0.0, 1)
    _, test_min = curves(d, LAMBDAS[0], 0.0, 1)
    return {"val_mse": val[0], "test_mse": test[0], "smallest_lambda_ratio": test_min[0] / test[0]}


def _distill(alpha_fixed):
    def run(seed, lam, rounds, alpha=alpha_fixed):
        d = data(seed)
        val, test = curves(d, lam, alpha, FAR_ROUNDS)
        out = {"val_mse": val[rounds - 1], "test_mse": test[rounds - 1], "test_mse_round1": test[0]}
        out["test_mse_far"] = test[-1]
        if alpha == 0:
            _, mixed = curves(d, lam, 0.5, FAR_ROUNDS)
            out["far_minus_tuned"] = test[-1] - test[rounds - 1]
            out["far_pure_minus_mixed"] = test[-1] - mixed[-1]
            sv, st = curves(d, SMALL_LAMBDA, 0.0, MAX_ROUNDS)
            out["small_lambda_gain"] = st[0] - st[int(np.argmin(sv))]
            out["small_lambda_rounds"] = float(np.argmin(sv) + 1)
        return out

    return run


@experiment(SLUG, seeds=tuple(range(10)), quick_seeds=(0, 1, 2))
def run(quick, seeds, progress):
    rounds = list(range(1, MAX_ROUNDS + 1))
    q_l, q_r = [1e-2, 0.3], [1, 3]
    krr, pure, half, tuned = (
        "KRR (λ tuned)",
        "self-distillation α = 0",
        "self-distillation α = 0.5",
        "self-distillation α tuned",
    )
    one_round = {"rounds": ("lower", "one round is plain KRR: no distillation")}
    methods = [
        Method(krr, _krr, grid={"lam": LAMBDAS}, quick_grid={"lam": q_l}),
        *(
            Method(
                name,
                _distill(alpha),
                grid={"lam": LAMBDAS, "rounds": rounds},
                quick_grid={"lam": q_l, "rounds": q_r},
                limits=one_round,
            )
            for name, alpha in ((pure, 0.0), (half, 0.5))
        ),
        Method(
            tuned,
            _distill(None),
            grid={"lam": LAMBDAS, "rounds": rounds, "alpha": ALPHAS},
            quick_grid={"lam": q_l, "rounds": q_r, "alpha": [0.5]},
            limits={
                **one_round,
                "alpha": (
                    "lower",
                    "α = 0 is pure self-distillation (and after one round α has no effect: ties "
                    "go to the first value)",
                ),
            },
        ),
    ]
    comparison = compare(methods, seeds, select="val_mse", maximize=False, quick=quick, progress=progress)
    premise = Premise(
        f"regularization matters: KRR with the smallest λ has more than {PREMISE_RATIO:g}× the tuned KRR's test MSE",
        "smallest_lambda_ratio",
        krr,
        threshold=PREMISE_RATIO,
    )
    claims = [
        Claim(
            f"pure self-distillation over-regularizes: {FAR_ROUNDS} rounds are worse than its tuned round count",
            "far_minus_tuned",
            pure,
            direction="greater",
        ),
        Claim(
            f"ground-truth mixing dampens it: after {FAR_ROUNDS} rounds at the same λ, α = 0.5 beats α = 0",
            "far_pure_minus_mixed",
            pure,
            direction="greater",
        ),
        Claim(
            f"from an under-regularized start (λ = {SMALL_LAMBDA:g}) a few rounds help: the validation-chosen "
            "round count beats one round",
            "small_lambda_gain",
            pure,
            direction="greater",
        ),
        Claim(
            "with everything tuned, self-distillation (α tuned) beats KRR with λ tuned",
            "test_mse",
            tuned,
            krr,
            direction="less",
        ),
    ]
    d = data(comparison.seeds[0])
    lam_pure = comparison.selected[pure]["lam"]
    y = d["train"][1]
    arrays = {
        "pure_curve": curves(d, lam_pure, 0.0, FAR_ROUNDS)[1],
        "half_curve": curves(d, lam_pure, 0.5, FAR_ROUNDS)[1],
        "small_curve": curves(d, SMALL_LAMBDA, 0.0, FAR_ROUNDS)[1],
        "x_train": d["train"][0],
        "y_train": y,
    }
    grid = np.linspace(0, 1, 200)
    Kg = rbf_kernel(grid, d["train"][0], bandwidth=BANDWIDTH)
    for k, t in ((1, "fit_round1"), (3, "fit_round3"), (FAR_ROUNDS, "fit_far")):
        arrays[t] = self_distill(d["K"], Kg, y, lam_pure, 0.0, k)[-1]
    return finish(
        SLUG,
        comparison,
        premises=[premise],
        claims=claims,
        quick=quick,
        smoke=quick,
        arrays=arrays,
        notes={"lam_pure": lam_pure, "far_rounds": FAR_ROUNDS, "small_lambda": SMALL_LAMBDA, "noise": NOISE},
        metrics=[
            "val_mse",
            "test_mse",
            "test_mse_round1",
            "test_mse_far",
            "far_minus_tuned",
            "far_pure_minus_mixed",
            "small_lambda_gain",
            "smallest_lambda_ratio",
        ],
    )


def plot(result) -> dict:
    from ....plotting import pyplot

    plt = pyplot()
    a = result.arrays
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    ax = axes[0]
    r = np.arange(1, len(a["pure_curve"]) + 1)
    lam = result.notes["lam_pure"]
    ax.plot(r, a["pure_curve"], "o-", ms=3, label=f"α = 0, λ = {lam:g}")
    ax.plot(r, a["half_curve"], "s-", ms=3, label=f"α = 0.5, λ = {lam:g}")
    ax.plot(r, a["small_curve"], "^-", ms=3, label=f"α = 0, λ = {result.notes['small_lambda']:g}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.axhline(result.notes["noise"] ** 2, color="0.5", ls="--", lw=1, label="noise variance")
    ax.set_xlabel("round t")
    ax.set_ylabel("test MSE (first seed)")
    ax.set_title("test error over rounds", fontsize=9)
    ax.legend(fontsize=7)
    ax = axes[1]
    grid = np.linspace(0, 1, 200)
    ax.plot(a["x_train"], a["y_train"], "k.", label="training data")
    ax.plot(grid, np.sin(2 * np.pi * grid), "k:", lw=1, label="sin 2πx")
    for key, lab in (
        ("fit_round1", "round 1"),
        ("fit_round3", "round 3"),
        ("fit_far", f"round {result.notes['far_rounds']}"),
    ):
        ax.plot(grid, a[key], label=f"α = 0, {lab}")
    ax.set_xlabel("x")
    ax.set_title(f"fits of pure self-distillation over rounds (λ = {lam:g})", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return {SLUG: fig}
