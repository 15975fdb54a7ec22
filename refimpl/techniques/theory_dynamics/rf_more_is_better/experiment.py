"""The experiment: random-feature ridge regression with N = 16 … 4096 ReLU features and its N → ∞ kernel limit,
the ridge tuned on validation data for every N, against the omniscient risk estimate.

Setup.  Inputs uniform on the unit sphere in d = `DIM`; the target is a fixed random teacher per seed (4 ReLU
units plus a product term, `teacher`), labels with noise variance σ² = `NOISE_VAR`; n = `N_TRAIN` training, 1000
validation and 2000 test examples.  For each N (nested features: the first N rows of one Gaussian W) and for
the kernel limit, δ is chosen from `DELTAS` by validation MSE; test and training MSE are measured there.  The
kernel's eigensystem for the risk estimate comes from a Nyström decomposition on M = `M_NYSTROM` fresh
inputs.  `SEEDS` seeds (teacher, data, features).
Premise.  The task has power-law structure: the kernel eigenvalues λ_2 … λ_200 decay faster than 1/i (fitted
log-log slope below −1).
Claims (margins fixed before the first full run).  (1) More is better: the tuned test MSE at N = 256 is above
that at N = 4096; (2) it never rises by more than 1 % from one N to the next (16 … 4096, then ∞).  (3–4) The
omniscient estimate predicts the kernel limit's tuned test MSE within ±10 %, (5–6) and its training MSE
within ±20 %.  (7) Overfitting is obligatory: at the tuned ridge the kernel limit's training MSE is below the
noise variance σ² — it fits part of the noise.
"""

from __future__ import annotations

import numpy as np

from ....experiments import Claim, Method, Premise, compare, experiment, finish
from . import krr, nystrom_eigensystem, omniscient_risk, relu_features, relu_kernel, rf_ridge, sphere

SLUG = "rf-more-is-better"
DIM, N_TRAIN, NOISE_VAR = 8, 256, 0.05
N_VAL, N_TEST = 1000, 2000
WIDTHS, QUICK_WIDTHS = (16, 64, 256, 1024, 4096), (16, 256, 4096)
M_NYSTROM, QUICK_M = 2000, 400
DELTAS = np.geomspace(1e-6, 10.0, 36)
RISK_MARGIN, TRAIN_MARGIN, RISE_MARGIN = 0.1, 0.2, 0.01
PREMISE_SLOPE = -1.0


def teacher(seed: int):
    """f*(x) = Σ_k c_k relu(u_kᵀx) + (d/2) x₁x₂ with Gaussian u_k, c_k (a fixed function per seed)."""
    rng = np.random.default_rng([seed, 11])
    U, c = rng.normal(size=(4, DIM)), rng.normal(size=4)
    return lambda X: np.maximum(X @ U.T, 0.0) @ c + 0.5 * DIM * X[:, 0] * X[:, 1]


def tune_ridge(fit, y, yv, yt) -> dict:
    """δ from `DELTAS` by validation MSE; `fit(δ)` returns the (train, validation, test) predictions."""
    best = None
    for delta in DELTAS:
        train, val, test = fit(float(delta))
        score = float(np.mean((val - yv) ** 2))
        if best is None or score < best["val"]:
            best = {
                "delta": float(delta),
                "val": score,
                "train": float(np.mean((train - y) ** 2)),
                "test": float(np.mean((test - yt) ** 2)),
            }
    return best


def _features_fit(P, Pv, Pt, y):
    def fit(delta):
        a = rf_ridge(P, y, delta)
        return P @ a, Pv @ a, Pt @ a

    return fit


def _kernel_fit(K, Kv, Kt, y):
    def fit(delta):
        return krr(K, K, y, delta), krr(K, Kv, y, delta), krr(K, Kt, y, delta)

    return fit


def one_seed(seed: int, widths, m_nystrom: int, n_train: int) -> dict:
    f = teacher(seed)
    rng = np.random.default_rng([seed, 12])
    sd = np.sqrt(NOISE_VAR)
    X, Xv, Xt = sphere(n_train, DIM, rng), sphere(N_VAL, DIM, rng), sphere(N_TEST, DIM, rng)
    y, yv, yt = (f(A) + sd * rng.normal(size=len(A)) for A in (X, Xv, Xt))
    W = rng.normal(size=(max(widths), DIM))
    rows = []
    for N in widths:
        feats = [relu_features(A, W[:N]) for A in (X, Xv, Xt)]
        rows.append({"N": N, **tune_ridge(_features_fit(*feats, y), y, yv, yt)})
    K, Kv, Kt = relu_kernel(X), relu_kernel(Xv, X), relu_kernel(Xt, X)
    rows.append({"N": np.inf, **tune_ridge(_kernel_fit(K, Kv, Kt, y), y, yv, yt)})
    dl = rows[-1]["delta"]
    XM = sphere(m_nystrom, DIM, np.random.default_rng([seed, 13]))
    lam, v = nystrom_eigensystem(relu_kernel(XM), f(XM))
    theory = omniscient_risk(lam, v, n_train, dl, NOISE_VAR)
    i = np.arange(2, min(200, len(lam)) + 1)
    return {
        "rows": rows,
        "theory": theory,
        "lam": lam,
        "spectrum_slope": float(np.polyfit(np.log(i), np.log(lam[i - 1]), 1)[0]),
    }


def _learner(widths, m_nystrom: int, n_train: int, keep: dict):
    def run(seed):
        out = one_seed(seed, widths, m_nystrom, n_train)
        keep[seed] = out
        rows, th = out["rows"], out["theory"]
        tests = np.array([r["test"] for r in rows])
        kern = rows[-1]
        metrics = {
            "val_mse": kern["val"],
            "kernel_test_mse": kern["test"],
            "kernel_train_mse": kern["train"],
            "kernel_delta": kern["delta"],
            "max_rise": float(np.max(tests[1:] / tests[:-1] - 1.0)),
            "theory_test_gap": th["test"] / kern["test"] - 1.0,
            "theory_train_gap": th["train"] / kern["train"] - 1.0,
            "train_over_noise": kern["train"] / NOISE_VAR,
            "spectrum_slope": out["spectrum_slope"],
        }
        for r in rows[:-1]:
            metrics[f"test_mse_N{r['N']}"] = r["test"]
        metrics["gain_256_to_4096"] = metrics["test_mse_N256"] - metrics["test_mse_N4096"]
        return metrics

    return run


@experiment(SLUG, seeds=tuple(range(8)), quick_seeds=(0, 1, 2))
def run(quick, seeds, progress):
    widths, m, n_train = (QUICK_WIDTHS, QUICK_M, 128) if quick else (WIDTHS, M_NYSTROM, N_TRAIN)
    keep: dict = {}
    name = "random features + ridge (δ tuned per N)"
    comparison = compare(
        [Method(name, _learner(widths, m, n_train, keep))],
        seeds,
        select="val_mse",
        maximize=False,
        quick=quick,
        progress=progress,
    )
    premise = Premise(
        "the task has power-law structure: kernel eigenvalues λ_2 … λ_200 decay faster than 1/i",
        "spectrum_slope",
        name,
        threshold=PREMISE_SLOPE,
        direction="less",
    )
    claims = [
        Claim(
            "more is better: the tuned test MSE at N = 256 features is above that at N = 4096",
            "gain_256_to_4096",
            name,
            direction="greater",
        ),
        Claim(
            f"the tuned test MSE never rises by more than {RISE_MARGIN:.0%} from one N to the next (… 4096, ∞)",
            "max_rise",
            name,
            direction="less",
            margin=RISE_MARGIN,
        ),
        *(
            Claim(
                f"the omniscient estimate predicts the kernel limit's tuned test MSE (relative gap {side} "
                f"{sign}{RISK_MARGIN:g})",
                "theory_test_gap",
                name,
                direction=direction,
                margin=margin,
            )
            for side, sign, direction, margin in (
                ("above", "−", "greater", -RISK_MARGIN),
                ("below", "+", "less", RISK_MARGIN),
            )
        ),
        *(
            Claim(
                f"the omniscient estimate predicts the kernel limit's training MSE (relative gap {side} "
                f"{sign}{TRAIN_MARGIN:g})",
                "theory_train_gap",
                name,
                direction=direction,
                margin=margin,
            )
            for side, sign, direction, margin in (
                ("above", "−", "greater", -TRAIN_MARGIN),
                ("below", "+", "less", TRAIN_MARGIN),
            )
        ),
        Claim(
            "overfitting is obligatory: at the tuned ridge the kernel limit's training MSE is below the noise "
            "variance σ²",
            "train_over_noise",
            name,
            direction="less",
            margin=1.0,
        ),
    ]
    s = comparison.seeds
    arrays = {
        "widths": np.array(widths, dtype=np.float64),
        "test": np.array([[r["test"] for r in keep[k]["rows"]] for k in s]),
        "train": np.array([[r["train"] for r in keep[k]["rows"]] for k in s]),
        "delta": np.array([[r["delta"] for r in keep[k]["rows"]] for k in s]),
        "theory_test": np.array([keep[k]["theory"]["test"] for k in s]),
        "theory_train": np.array([keep[k]["theory"]["train"] for k in s]),
        "lam": keep[s[0]]["lam"][:400],
    }
    return finish(
        SLUG,
        comparison,
        premises=[premise],
        claims=claims,
        quick=quick,
        smoke=quick,
        arrays=arrays,
        notes={"noise_var": NOISE_VAR, "n_train": n_train, "dim": DIM, "m_nystrom": m},
    )


def plot(result) -> dict:
    from ....plotting import pyplot

    plt = pyplot()
    a = result.arrays
    widths = list(a["widths"])
    x = np.arange(len(widths) + 1)
    labels = [f"{int(w)}" for w in widths] + ["∞"]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    ax = axes[0]
    ax.plot(x, a["test"].mean(0), "o-", label="test MSE at the tuned δ (mean over seeds)")
    ax.plot(x, a["train"].mean(0), "s-", label="training MSE at the same δ")
    ax.plot([x[-1]], [a["theory_test"].mean()], "k*", ms=12, label="omniscient estimate, test")
    ax.plot([x[-1]], [a["theory_train"].mean()], "kx", ms=10, label="omniscient estimate, train")
    ax.axhline(result.notes["noise_var"], color="0.5", ls="--", lw=1, label="noise variance σ²")
    ax.set_xticks(x, labels)
    ax.set_yscale("log")
    ax.set_xlabel("number of random features N")
    ax.set_ylabel("MSE")
    ax.set_title(f"n = {result.notes['n_train']}: error against N, the ridge tuned for each N", fontsize=9)
    ax.legend(fontsize=7)
    ax = axes[1]
    lam = a["lam"]
    ax.loglog(np.arange(1, len(lam) + 1), lam, ".", ms=3, label="Nyström eigenvalues λ_i (first seed)")
    i = np.arange(1, len(lam) + 1)
    ax.loglog(i, lam[1] * (i / 2.0) ** -1.0, "k:", lw=0.8, label="∝ 1/i")
    ax.set_xlabel("index i")
    ax.set_ylabel("λ_i")
    ax.set_title("the kernel's spectrum on this task", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return {SLUG: fig}
