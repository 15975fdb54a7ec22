"""The experiment: the ATT under confounding with a nonlinear propensity and a nonlinear outcome model,
estimated by four weightings of the control units.

Setup (synthetic, one fresh draw per seed).  n = 600 units, x ~ N(0, I₄).  Treatment
T ~ Bernoulli(e(x)) with logit e(x) = −1 + 0.5 x₁ + 0.8 (x₁² − 1) + 0.6 x₂x₃ (about a third treated).
Control outcome Y(0) = x₁ + 1.5 x₁² + sin(2 x₂) + x₂x₃ + ε, ε ~ N(0, 1); Y(1) = Y(0) + 2, so the
sample ATT is 2 exactly.  Arms (weights on the controls, the treated mean untouched):
  naive difference of means (uniform weights) ·
  IPW with a logistic propensity that is linear in x (misspecified), ATT weights e/(1 − e), ridge tuned ·
  linear-moment balancing: the same simplex QP with the linear kernel (weighted control means = treated
  means, the ablation that lacks only the nonlinear discriminator class), ridge λ tuned ·
  IPM balancing (the paper): the Gaussian-kernel MMD, bandwidth (× the median pairwise distance) and λ
  tuned.
Hyperparameters are chosen without the true effect, by held-out balance: the treated units are split in
two halves A/B (seeded); each method fits its control weights against the controls and treated half A,
and `val_energy` is the energy distance between the weighted controls and treated half B (a
characteristic distance with no bandwidth of its own; lower is better), averaged over the first 5 seeds.
The reported estimate then refits on all treated units.  The true effect is read only for `att_error`.
The λ grid was extended from {1e-4 … 1e-1} to 10 after the first recording, where both balancing arms chose
λ = 0.1, its top edge (verdicts then: all three claims held); claims and margins unchanged.  Recorded again:
IPM balancing chose λ = 1 (inside the grid) and the claims still hold with smaller gaps; linear balancing
chose λ = 10, the new edge, where its weights approach the uniform weights of the naive arm.
Premise.  The misspecified IPW is biased: its mean signed error exceeds 0.25 (an eighth of the effect),
with the 95 % interval above it.
Claims (margins fixed before the first full run; paired over 30 seeds, on |error|).  (1) IPM balancing
has a smaller absolute ATT error than linear-moment balancing (the paper's idea: a nonlinear class).
(2) It beats the misspecified IPW.  (3) It beats the naive difference of means.
λ = 100 was added after that, when the grid-edge check found linear balancing at the highest λ then tried (10).  It picks
100 again: as λ grows the linear-balancing weights tend to uniform (the naive estimator), the natural end of
its grid, so it was not widened further.
"""

from __future__ import annotations

import numpy as np

from ....experiments import Claim, Method, Premise, compare, experiment, finish
from . import att_estimate, ipm_weights

SLUG = "ipm-covariate-balancing"
N, D, TAU = 600, 4, 2.0
BANDWIDTHS = [0.25, 0.5, 1.0, 2.0]  # × the median pairwise distance of the pooled covariates
LAMS = [1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0]
RIDGES = [1e-4, 1e-2, 1.0, 100.0]  # logistic regression's L2 penalty (IPW)
SELECTION_SEEDS = 5


def simulate(seed: int) -> dict:
    """One confounded sample: x, treatment t, observed y, and the true sample ATT."""
    rng = np.random.default_rng(10_000 + seed)
    x = rng.normal(size=(N, D))
    logit = -1.0 + 0.5 * x[:, 0] + 0.8 * (x[:, 0] ** 2 - 1.0) + 0.6 * x[:, 1] * x[:, 2]
    t = rng.random(N) < 1.0 / (1.0 + np.exp(-logit))
    y0 = x[:, 0] + 1.5 * x[:, 0] ** 2 + np.sin(2.0 * x[:, 1]) + x[:, 1] * x[:, 2] + rng.normal(size=N)
    y = y0 + TAU * t
    half = rng.permutation(np.flatnonzero(t))
    return {
        "x": x,
        "t": t,
        "y": y,
        "att": TAU,
        "A": np.sort(half[: len(half) // 2]),
        "B": np.sort(half[len(half) // 2 :]),
    }


def median_distance(x) -> float:
    d = np.sqrt(np.maximum(((x[:, None, :] - x[None, :, :]) ** 2).sum(-1), 0.0))
    return float(np.median(d[np.triu_indices(len(x), 1)]))


def energy_distance(w, x_c, x_t) -> float:
    """2 E‖X − Y‖ − E‖X − X'‖ − E‖Y − Y'‖ with X ~ Σ w_i δ_{x_c,i} and Y uniform on x_t."""
    dist = lambda a, b: np.sqrt(np.maximum(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1), 0.0))  # noqa: E731
    v = np.full(len(x_t), 1.0 / len(x_t))
    return float(2 * w @ dist(x_c, x_t) @ v - w @ dist(x_c, x_c) @ w - v @ dist(x_t, x_t) @ v)


def logistic_att_weights(x_c, x_t, ridge: float) -> np.ndarray:
    """IPW for the ATT from a logistic propensity linear in x (Newton, L2 `ridge` off the intercept):
    control weights ∝ ê/(1 − ê), normalised to sum 1."""
    X = np.column_stack([np.ones(len(x_c) + len(x_t)), np.vstack([x_c, x_t])])
    z = np.r_[np.zeros(len(x_c)), np.ones(len(x_t))]
    beta, pen = np.zeros(X.shape[1]), np.full(X.shape[1], ridge)
    pen[0] = 0.0
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-X @ beta))
        g = X.T @ (p - z) + pen * beta
        H = (X * (p * (1 - p))[:, None]).T @ X + np.diag(pen)
        step = np.linalg.solve(H, g)
        beta -= step
        if np.max(np.abs(step)) < 1e-10:
            break
    odds = np.exp(X[: len(x_c)] @ beta)  # ê/(1 − ê) on the controls
    return odds / odds.sum()


def _arm(kind):
    def run(seed, **hp):
        s = simulate(seed)
        x, t, y = s["x"], s["t"], s["y"]
        x_c, y_c = x[~t], y[~t]
        h = median_distance(x) * hp.get("bandwidth", 1.0)

        def weights(x_treated):
            if kind == "naive":
                return np.full(len(x_c), 1.0 / len(x_c))
            if kind == "ipw":
                return logistic_att_weights(x_c, x_treated, hp["ridge"])
            if kind == "linear":
                return ipm_weights(x_c, x_treated, "linear", lam=hp["lam"])
            return ipm_weights(x_c, x_treated, "gaussian", bandwidth=h, lam=hp["lam"])

        w_val = weights(x[s["A"]])
        w = weights(x[t])
        err = att_estimate(y[t], y_c, w) - s["att"]
        return {
            "val_energy": energy_distance(w_val, x_c, x[s["B"]]),
            "att_error": err,
            "abs_error": abs(err),
            "sq_error": err * err,
            "ess_fraction": float(1.0 / (w @ w) / len(w)),  # Kish effective sample size / n_c
            "x1sq_imbalance": float(w @ x_c[:, 0] ** 2 - np.mean(x[t, 0] ** 2)),
        }

    return run


def methods(quick: bool) -> list:
    return [
        Method("naive", _arm("naive")),
        Method("IPW (linear logistic)", _arm("ipw"), grid={"ridge": RIDGES}, quick_grid={"ridge": [1.0]}),
        Method(
            "linear balancing",
            _arm("linear"),
            grid={"lam": LAMS},
            quick_grid={"lam": [1e-3]},
            limits={"lam": ("upper", "as λ grows the weights tend to uniform: the naive estimator")},
        ),
        Method(
            "IPM balancing",
            _arm("ipm"),
            grid={"bandwidth": BANDWIDTHS, "lam": LAMS},
            quick_grid={"bandwidth": [1.0], "lam": [1e-3]},
        ),
    ]


@experiment(SLUG, seeds=tuple(range(30)), quick_seeds=(0, 1))
def run(quick, seeds, progress):
    comparison = compare(
        methods(quick),
        seeds,
        select="val_energy",
        maximize=False,
        quick=quick,
        selection_seeds=list(seeds)[: 1 if quick else SELECTION_SEEDS],
        progress=progress,
    )
    ipm = "IPM balancing"
    return finish(
        SLUG,
        comparison,
        quick=quick,
        smoke=quick,
        premises=[
            Premise(
                "IPW with a linear logistic propensity (misspecified) is biased: mean ATT error > 0.25",
                "att_error",
                "IPW (linear logistic)",
                threshold=0.25,
                strict=True,
            )
        ],
        claims=[
            Claim(
                "IPM balancing has a smaller absolute ATT error than linear-moment balancing",
                "abs_error",
                ipm,
                "linear balancing",
                direction="less",
                margin=0.0,
            ),
            Claim(
                "IPM balancing has a smaller absolute ATT error than misspecified IPW",
                "abs_error",
                ipm,
                "IPW (linear logistic)",
                direction="less",
                margin=0.0,
            ),
            Claim(
                "IPM balancing has a smaller absolute ATT error than the naive difference of means",
                "abs_error",
                ipm,
                "naive",
                direction="less",
                margin=0.0,
            ),
        ],
    )


def plot(result):
    import matplotlib.pyplot as plt

    names = result.methods
    errs = [result.values(m, "att_error") for m in names]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    axes[0].boxplot(errs, showmeans=True)
    axes[0].set_xticks(range(1, len(names) + 1), names, rotation=15, fontsize=8)
    axes[0].axhline(0.0, color="k", lw=0.8)
    axes[0].set_ylabel("ATT estimate − truth")
    axes[0].set_title("error over seeds (truth = 2)")
    imb = [result.values(m, "x1sq_imbalance") for m in names]
    axes[1].boxplot(imb, showmeans=True)
    axes[1].set_xticks(range(1, len(names) + 1), names, rotation=15, fontsize=8)
    axes[1].axhline(0.0, color="k", lw=0.8)
    axes[1].set_ylabel("weighted mean x₁² (controls) − treated")
    axes[1].set_title("balance of a nonlinear feature")
    fig.tight_layout()
    return fig
