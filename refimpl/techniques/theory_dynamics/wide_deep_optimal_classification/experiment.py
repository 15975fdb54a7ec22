"""The experiment: the NTK of very deep, infinitely wide networks with five dual activations, on the
official two-class Dirichlet toy on the quarter circle, against the limit classifier each one predicts.

Setup.  Per seed: `N_TRAIN` training and `N_TEST` test points from `dirichlet_arc` (class prior 0.4).
Cells ("methods", nothing tuned): the four activations of the official code whose dual has φ̌(0) = 0
(`OPTIMAL`; predicted singular exponent α = 2 log(1/b)/log a = 1, 2, 4, 8), the monomial dual ρ² (b = 0,
predicted 1-NN) and a dual with a constant Hermite term, φ̌ = 0.2 + 0.4ρ + 0.4ρ³ (predicted majority
vote).  Singular cells use the NTK at depth `DEPTH` (`deep_ntk_log`); the monomial cell its closed form at
depth `MONO_DEPTH`; the majority cell the plain recursion at depth `MAJ_DEPTH`.  Each cell classifies the
test points by the sign of Σ_i y_i Θ_L(x, x_i) (the NTK regression's sign once the Gram matrix is
diagonal-dominated; the tests check this against the exact solve at small depth).
Measured.  (i) The exponent: the least-squares slope of log Θ_L(x, x_i) against −log‖x − x_i‖ over the
train–test pairs with 1 − ρ in [`EPS_LO`, `EPS_HI`], relative to α.  (ii) Agreement (fraction of test
points) of the deep NTK classifier with the predicted limit rule: the Koenigs-limit kernel g (`limit_kernel`),
the Hilbert rule ‖x − x_i‖^{−α} (`hilbert_classifier`), 1-NN, majority vote.
Premise.  The three limit rules differ on this toy, so agreement with one of them is informative: the
Hilbert rule with α = d = 1 disagrees with majority vote on more than `PREMISE_MAJ` of the test points
and with 1-NN on more than `PREMISE_NN`.
Claims (margins fixed before the first full run, from the derivation in `__init__`).  (a) For each
singular cell, fitted α / predicted α − 1 lies within ±`ALPHA_TOL` (two one-sided claims).  (b) The
deep NTK classifier agrees with the singular-kernel classifier of its limit kernel g on more than
`AGREE` of the test points (each singular cell).  (c) With the 2-D-optimal activation (α = d = 1) it agrees
with the Hilbert rule on more than `AGREE_HILBERT`.  (d) The ρ² cell agrees with 1-NN and the c₀ > 0 cell
with majority vote on more than `AGREE`.
"""

from __future__ import annotations

import numpy as np

from ....experiments import Claim, Method, Premise, compare, experiment, finish
from . import (
    OPTIMAL,
    DualActivation,
    deep_ntk_log,
    dirichlet_arc,
    hilbert_classifier,
    kernel_sum_classifier,
    kernels,
    limit_kernel,
    local_exponent,
    majority_vote,
    monomial_ntk_log,
    nearest_neighbour,
    singular_exponent,
)

SLUG = "wide-deep-optimal-classification"
N_TRAIN, N_TEST, N_VAL = 200, 1000, 200
QUICK_N_TRAIN, QUICK_N_TEST = 60, 200
DEPTH = 10**8
MONO_DEPTH, MAJ_DEPTH = 60, 200
DEPTHS = [2, 10, 50, 200, 10**3, 10**4, 10**5, 10**6, 10**7, 10**8]
EPS_LO, EPS_HI = 1e-4, 1e-1
ALPHA_TOL, AGREE, AGREE_HILBERT = 0.05, 0.98, 0.9
PREMISE_MAJ, PREMISE_NN = 0.1, 0.02
MAJORITY_DUAL = DualActivation([0.2, 0.4, 0.0, 0.4])
SINGULAR = ["2d_opt", "3d_opt", "5d_opt", "9d_opt"]
QUICK_SINGULAR = ["2d_opt", "5d_opt"]


def _data(seed, quick):
    n_tr, n_te = (QUICK_N_TRAIN, QUICK_N_TEST) if quick else (N_TRAIN, N_TEST)
    X, y, bayes = dirichlet_arc(n_tr + n_te + N_VAL, rng=[seed, 0])
    tr, te = slice(0, n_tr), slice(n_tr, n_tr + n_te)
    return X[tr], y[tr], X[te], y[te], bayes[te]


def _rules(X_tr, y_tr, X_te):
    return {
        "hilbert_d": hilbert_classifier(X_te, X_tr, y_tr, 1.0),  # d = 1: the circle
        "nn": nearest_neighbour(X_te, X_tr, y_tr),
        "majority": majority_vote(len(X_te), y_tr),
    }


def _common(pred, rules, y_te, bayes):
    agree = lambda p, q: float(np.mean(p == q))  # noqa: E731
    return {
        "val_nothing_tuned": 0.0,
        "test_accuracy": agree(pred, y_te),
        "bayes_accuracy": agree(bayes, y_te),
        "agree_hilbert_d": agree(pred, rules["hilbert_d"]),
        "agree_nn": agree(pred, rules["nn"]),
        "agree_majority": agree(pred, rules["majority"]),
        "disagree_hilbert_majority": 1 - agree(rules["hilbert_d"], rules["majority"]),
        "disagree_hilbert_nn": 1 - agree(rules["hilbert_d"], rules["nn"]),
    }


def _singular_cell(name, quick, keep):
    dual = OPTIMAL[name]
    alpha = singular_exponent(dual)

    def run(seed):
        X_tr, y_tr, X_te, y_te, bayes = _data(seed, quick)
        rho = np.clip(X_te @ X_tr.T, -1.0, 1.0)
        sign, logk = deep_ntk_log(rho, dual, DEPTH)
        pred = kernel_sum_classifier(sign, logk, y_tr)
        g = limit_kernel(rho, dual)
        limit_pred = kernel_sum_classifier(np.sign(g), np.log(np.abs(g)), y_tr)
        band = (1 - rho >= EPS_LO) & (1 - rho <= EPS_HI)
        fitted = local_exponent(rho[band], logk[band])
        rules = _rules(X_tr, y_tr, X_te)
        hil = hilbert_classifier(X_te, X_tr, y_tr, alpha)
        if name == "2d_opt":
            keep[seed] = {
                "by_depth": [float(np.mean(_depth_pred(rho, dual, L, y_tr) == limit_pred)) for L in DEPTHS],
            }
            keep[(seed, "curve")] = (1 - rho[band], logk[band] - DEPTH * np.log(dual.b) - np.log(DEPTH))
        return {
            **_common(pred, rules, y_te, bayes),
            "alpha_predicted": alpha,
            "alpha_fitted": fitted,
            "alpha_rel_error": fitted / alpha - 1,
            "agree_limit": float(np.mean(pred == limit_pred)),
            "agree_hilbert_alpha": float(np.mean(pred == hil)),
        }

    return run


def _depth_pred(rho, dual, L, y):
    if L >= 200:
        return kernel_sum_classifier(*deep_ntk_log(rho, dual, L), y)
    _, k = kernels(rho, dual, L)
    return kernel_sum_classifier(np.sign(k), np.log(np.abs(k) + 1e-300), y)


def _monomial_cell(quick):
    def run(seed):
        X_tr, y_tr, X_te, y_te, bayes = _data(seed, quick)
        sign, logk = monomial_ntk_log(np.clip(X_te @ X_tr.T, -1.0, 1.0), 2, MONO_DEPTH)
        pred = kernel_sum_classifier(sign, logk, y_tr)
        return _common(pred, _rules(X_tr, y_tr, X_te), y_te, bayes)

    return run


def _majority_cell(quick):
    def run(seed):
        X_tr, y_tr, X_te, y_te, bayes = _data(seed, quick)
        _, k = kernels(np.clip(X_te @ X_tr.T, -1.0, 1.0), MAJORITY_DUAL, MAJ_DEPTH)
        pred = kernel_sum_classifier(np.sign(k), np.log(np.abs(k)), y_tr)
        return _common(pred, _rules(X_tr, y_tr, X_te), y_te, bayes)

    return run


def _name(act: str) -> str:
    return f"{act} (α = {singular_exponent(OPTIMAL[act]):g})"


MONO, MAJ = "ρ² dual (1-NN regime)", "0.2 + 0.4ρ + 0.4ρ³ dual (majority regime)"


@experiment(SLUG, seeds=(0, 1, 2, 3, 4), quick_seeds=(0, 1))
def run(quick, seeds, progress):
    keep: dict = {}
    acts = QUICK_SINGULAR if quick else SINGULAR
    methods = [Method(_name(a), _singular_cell(a, quick, keep)) for a in acts]
    methods += [Method(MONO, _monomial_cell(quick)), Method(MAJ, _majority_cell(quick))]
    comparison = compare(methods, seeds, select="val_nothing_tuned", quick=quick, progress=progress)
    opt2 = _name("2d_opt")
    distinct = f"the Hilbert rule (α = d = 1) disagrees with majority vote on more than {PREMISE_MAJ:g}"
    distinct_nn = f"the Hilbert rule (α = d = 1) disagrees with 1-NN on more than {PREMISE_NN:g}"
    premises = [
        Premise(distinct, "disagree_hilbert_majority", opt2, threshold=PREMISE_MAJ),
        Premise(distinct_nn, "disagree_hilbert_nn", opt2, threshold=PREMISE_NN),
    ]
    claims = []
    for a in acts:
        n = _name(a)
        claims += [
            Claim(
                f"{a}: fitted singular exponent / α − 1 is above −{ALPHA_TOL:g}",
                "alpha_rel_error",
                n,
                margin=-ALPHA_TOL,
                premises=(),
            ),
            Claim(
                f"{a}: fitted singular exponent / α − 1 is below +{ALPHA_TOL:g}",
                "alpha_rel_error",
                n,
                direction="less",
                margin=ALPHA_TOL,
                premises=(),
            ),
            Claim(
                f"{a}: the depth-10⁸ NTK classifier agrees with its limit singular-kernel classifier on "
                f"more than {AGREE:g} of test points",
                "agree_limit",
                n,
                margin=AGREE,
            ),
        ]
    claims += [
        Claim(
            f"2d_opt: the deep NTK classifier agrees with the Hilbert rule ‖x − x_i‖^(−1) on more than "
            f"{AGREE_HILBERT:g} of test points",
            "agree_hilbert_d",
            opt2,
            margin=AGREE_HILBERT,
        ),
        Claim(
            f"ρ² dual: the deep NTK classifier agrees with 1-NN on more than {AGREE:g}",
            "agree_nn",
            MONO,
            margin=AGREE,
        ),
        Claim(
            f"c₀ > 0 dual: the deep NTK classifier agrees with majority vote on more than {AGREE:g}",
            "agree_majority",
            MAJ,
            margin=AGREE,
        ),
    ]
    eps, lg = keep[(comparison.seeds[0], "curve")]
    order = np.argsort(eps)[:: max(1, len(eps) // 400)]
    arrays = {
        "depths": np.array(DEPTHS, dtype=float),
        "agree_by_depth_2d": np.mean([keep[s]["by_depth"] for s in comparison.seeds], axis=0),
        "curve_eps": eps[order],
        "curve_log_ntk": lg[order],
    }
    return finish(
        SLUG,
        comparison,
        premises=premises,
        claims=claims,
        quick=quick,
        smoke=quick,
        arrays=arrays,
        notes={
            "depth": DEPTH,
            "eps_band": [EPS_LO, EPS_HI],
            "n_train": QUICK_N_TRAIN if quick else N_TRAIN,
            "n_test": QUICK_N_TEST if quick else N_TEST,
        },
        metrics=[
            "alpha_predicted",
            "alpha_fitted",
            "alpha_rel_error",
            "agree_limit",
            "agree_hilbert_d",
            "agree_hilbert_alpha",
            "agree_nn",
            "agree_majority",
            "test_accuracy",
            "bayes_accuracy",
            "disagree_hilbert_majority",
            "disagree_hilbert_nn",
        ],
    )


def plot(result) -> dict:
    from ....plotting import pyplot

    plt = pyplot()
    a = result.arrays
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    ax = axes[0]
    eps, lg = a["curve_eps"], a["curve_log_ntk"]
    dist = np.sqrt(2 * eps)
    ax.loglog(dist, np.exp(lg - lg.max()), ".", ms=2, label="Θ_L / (L b^L), depth 10⁸ (simulation)")
    ref = dist**-1.0
    ax.loglog(
        dist, ref * np.exp(lg - lg.max())[-1] / ref[-1], "k--", label="‖x − z‖^(−α), α = 1 (prediction)"
    )
    ax.xaxis.set_minor_formatter(plt.NullFormatter())
    ax.set_xlabel("‖x − z‖")
    ax.set_ylabel("normalised kernel")
    ax.set_title("2d_opt: deep NTK vs the predicted singularity (seed 0 pairs)", fontsize=9)
    ax.legend(fontsize=7)
    ax = axes[1]
    ax.semilogx(a["depths"], a["agree_by_depth_2d"], marker="o")
    ax.set_xlabel("depth L")
    ax.set_ylabel("agreement with the limit classifier")
    ax.set_title("2d_opt: depth-L NTK classifier vs singular-kernel limit (mean over seeds)", fontsize=9)
    fig.tight_layout()
    return {SLUG: fig}
