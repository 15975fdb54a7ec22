"""The experiment: the official sparse-differences simulation (p = 10 features, K = 4 ordered categories,
intercepts (0, 3, 5): the top category holds about 1 % of the data), each seed a new draw of the true weights.

Per seed: n = 2500 training points, as many for validation, 20 000 test points whose true class probabilities
are known.  Three estimators of the rare category's probability P(y = 4 | x), each choosing its L1 weight λ on
this seed's validation split (the paper chooses λ by cross-validation per data set) from the same grid, by the
validation log-loss of the rare indicator:

* **PRESTO** — separate β_k, L1 on their differences (the paper's method);
* **proportional odds** — one shared β (the model PRESTO shrinks towards: the ablation lacking the separate
  weights);
* **logistic** — logistic regression of "category 4 or not" alone (the ablation that borrows nothing from the
  abundant lower boundaries).

The metric is the paper's: the mean squared error of the estimated rare probability against the true one on
the test points (reported ×10⁴).  Premises: the top category is rare (< 5 % of the training data) and the
truth is not proportional odds (its first and last weight vectors differ).  Claims (margins 0, the paper's
direction): PRESTO's error is below proportional odds' and below logistic regression's.
"""

from __future__ import annotations

import numpy as np

from ....experiments import Claim, Method, Premise, compare, experiment, finish
from . import fit_logistic, fit_ordinal, sample_from, simulate_sparse_differences

SLUG = "presto"
P_FEATURES, INTERCEPTS = 10, (0.0, 3.0, 5.0)
N_TRAIN, N_VAL, N_TEST = 2500, 2500, 20_000
LAMBDAS = (0.0, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3)
QUICK_LAMBDAS = (0.0, 1e-3, 1e-2)
ARMS = ("PRESTO", "proportional odds", "logistic")
SCALE = 1e4  # MSEs are reported ×10⁴


def data(seed: int, quick: bool = False) -> dict:
    """Training, validation and test sets drawn from one seed's true weights."""
    d = simulate_sparse_differences(N_TRAIN, P_FEATURES, INTERCEPTS, seed=[seed, 2305])
    rng = np.random.default_rng([seed, 18700])
    d["val"] = sample_from(d["alpha"], d["beta"], N_VAL, rng)
    d["test"] = sample_from(d["alpha"], d["beta"], N_TEST // (4 if quick else 1), rng)
    return d


def rare_log_loss(p_rare, y, top: int) -> float:
    """Bernoulli log-loss of the indicator y = top under the predicted P(y = top)."""
    p = np.clip(p_rare, 1e-12, 1 - 1e-12)
    z = (np.asarray(y) == top).astype(float)
    return float(-np.mean(z * np.log(p) + (1 - z) * np.log(1 - p)))


def _fit(arm: str, X, y, lam: float):
    K = len(INTERCEPTS) + 1
    if arm == "PRESTO":
        return fit_ordinal(X, y, K, lam)
    if arm == "proportional odds":
        return fit_ordinal(X, y, K, lam, proportional=True)
    return fit_logistic(X, (y == K - 1).astype(np.int64), lam)


def _arm(arm: str, lambdas, quick: bool, keep: dict):
    def run(seed):
        d = data(seed, quick)
        top = len(INTERCEPTS)
        fits = [_fit(arm, d["X"], d["y"], lam) for lam in lambdas]
        val = [rare_log_loss(f.rare_probability(d["val"]["X"]), d["val"]["y"], top) for f in fits]
        best = int(np.argmin(val))  # λ chosen on this seed's validation split
        fit, test = fits[best], d["test"]
        p_hat, p_true = fit.rare_probability(test["X"]), test["probs"][:, -1]
        keep[(arm, seed)] = {"lambda_index": best, "val_log_loss": val}
        B = d["beta"]
        return {
            "val_rare_log_loss": val[best],
            "test_rare_mse_x1e4": float(SCALE * np.mean((p_hat - p_true) ** 2)),
            "test_rare_log_loss": rare_log_loss(p_hat, test["y"], top),
            "lambda": float(lambdas[best]),
            "lambda_at_top_of_grid": float(best == len(lambdas) - 1),
            "rare_fraction": float(np.mean(d["y"] == top)),
            "nonparallel_l1": float(np.abs(B[:, -1] - B[:, 0]).sum()),
        }

    return run


@experiment(SLUG, seeds=tuple(range(20)), quick_seeds=(0, 1))
def run(quick, seeds, progress):
    lambdas = QUICK_LAMBDAS if quick else LAMBDAS
    keep: dict = {}
    comparison = compare(
        [Method(a, _arm(a, lambdas, quick, keep)) for a in ARMS],
        seeds,
        select="val_rare_log_loss",
        maximize=False,
        quick=quick,
        progress=progress,
    )
    premises = [
        Premise(
            "the top category is rare: under 5 % of the training data",
            "rare_fraction",
            "PRESTO",
            threshold=0.05,
            direction="less",
            strict=True,
        ),
        Premise(
            "the truth is not proportional odds: the last boundary's weights differ from the first's",
            "nonparallel_l1",
            "PRESTO",
            threshold=0.0,
            strict=True,
        ),
    ]
    claims = [
        Claim(
            "PRESTO estimates the rare category's probability with a smaller error than proportional odds",
            "test_rare_mse_x1e4",
            "PRESTO",
            baseline="proportional odds",
            direction="less",
        ),
        Claim(
            "PRESTO estimates the rare category's probability with a smaller error than logistic regression "
            "on the rare category",
            "test_rare_mse_x1e4",
            "PRESTO",
            baseline="logistic",
            direction="less",
        ),
    ]
    s = comparison.seeds
    arrays = {
        "mse": np.array([comparison.values(a, "test_rare_mse_x1e4") for a in ARMS]),
        "lambda_index": np.array([[keep[(a, k)]["lambda_index"] for k in s] for a in ARMS]),
        "val_curves": np.array([[keep[(a, k)]["val_log_loss"] for k in s] for a in ARMS]),
    }
    return finish(
        SLUG,
        comparison,
        premises=premises,
        claims=claims,
        quick=quick,
        smoke=quick,
        arrays=arrays,
        notes={"arms": list(ARMS), "lambdas": list(lambdas), "intercepts": list(INTERCEPTS), "p": P_FEATURES},
        metrics=["test_rare_mse_x1e4", "test_rare_log_loss", "lambda", "rare_fraction"],
    )


def plot(result) -> dict:
    from ....plotting import pyplot

    plt = pyplot()
    arms, lambdas = result.notes["arms"], result.notes["lambdas"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    mse = result.arrays["mse"]
    for i in range(len(arms)):
        axes[0].plot(
            np.full(mse.shape[1], i) + np.linspace(-0.15, 0.15, mse.shape[1]), mse[i], "o", alpha=0.5
        )
        axes[0].plot([i - 0.25, i + 0.25], [mse[i].mean()] * 2, "k-")
    for k in range(mse.shape[1]):
        axes[0].plot(range(len(arms)), mse[:, k], "-", color="grey", lw=0.5, alpha=0.4)
    axes[0].set_xticks(range(len(arms)), arms)
    axes[0].set_ylabel("test MSE of P(rare) ×10⁴ (per seed)")
    axes[0].set_title("error of the rare category's probability")
    idx = result.arrays["lambda_index"]
    for i, a in enumerate(arms):
        counts = np.bincount(idx[i], minlength=len(lambdas))
        axes[1].bar(np.arange(len(lambdas)) + (i - 1) * 0.27, counts, width=0.27, label=a)
    axes[1].set_xticks(range(len(lambdas)), [f"{v:g}" for v in lambdas], rotation=30)
    axes[1].set_xlabel("λ chosen on validation")
    axes[1].set_ylabel("seeds")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    return {SLUG: fig}
