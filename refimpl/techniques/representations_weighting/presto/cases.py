"""Reference cases of PRESTO: probabilities, the proximal map and the difference parameterisation by hand, and
the unpenalised fits against the closed-form maximum likelihood of a saturated model (one binary feature: the
fitted cumulative probabilities must equal the empirical ones in each group)."""

from __future__ import annotations

import math

import numpy as np

from ....catalog import ReferenceCase
from . import betas_from_differences, class_probabilities, fit_logistic, fit_ordinal, soft_threshold

_P = "refimpl.techniques.representations_weighting.presto."


def _logit(p):
    return math.log(p / (1 - p))


def _two_groups():
    """x ∈ {0, 1}; y in 0..2.  Group x = 0: counts (4, 3, 1); group x = 1: counts (1, 2, 5)."""
    x = np.r_[np.zeros(8), np.ones(8)][:, None]
    y = np.r_[[0] * 4 + [1] * 3 + [2], [0] + [1] * 2 + [2] * 5].astype(np.int64)
    return x, y


def reference_cases() -> list:
    def probs(X, alpha, beta):
        return {"P": class_probabilities(np.asarray(X), np.asarray(alpha), np.asarray(beta))}

    def fit3(X, y, lam):
        f = fit_ordinal(np.asarray(X), np.asarray(y), 3, float(lam), tol=1e-14, max_iter=20000)
        return {"alpha": f.alpha, "beta": f.beta[0]}

    def fit2(X, y, lam):
        f = fit_logistic(np.asarray(X), np.asarray(y), float(lam), tol=1e-14, max_iter=20000)
        return {"alpha": f.alpha, "beta": f.beta[0]}

    x, y = _two_groups()
    # saturated: F_k(x=0) = (4/8, 7/8), F_k(x=1) = (1/8, 3/8)
    a = [_logit(4 / 8), _logit(7 / 8)]
    b = [_logit(1 / 8) - a[0], _logit(3 / 8) - a[1]]
    top = (y == 2).astype(np.int64)  # P(top | x=0) = 1/8, P(top | x=1) = 5/8
    return [
        ReferenceCase(
            "class_probabilities_hand",
            {
                "X": np.array([[0.0], [1.0]]),
                "alpha": np.array([0.0, math.log(3.0)]),
                "beta": np.array([[0.0, 0.0]]),
            },
            {"P": np.array([[0.5, 0.25, 0.25], [0.5, 0.25, 0.25]])},
            probs,
            function=_P + "class_probabilities",
            note="by hand: σ(0) = 1/2, σ(ln 3) = 3/4, so P = (1/2, 3/4 − 1/2, 1 − 3/4)",
            atol=1e-12,
        ),
        ReferenceCase(
            "soft_threshold_hand",
            {"v": np.array([0.5, -0.2, 0.05]), "t": 0.1},
            {"out": np.array([0.4, -0.1, 0.0])},
            lambda v, t: {"out": soft_threshold(v, t)},
            function=_P + "soft_threshold",
            note="by hand: shrink each |v| by 0.1, zero below",
            atol=1e-12,
        ),
        ReferenceCase(
            "betas_from_differences_hand",
            {"psi": np.array([[1.0, 0.5, -1.0]])},
            {"beta": np.array([[1.0, 1.5, 0.5]])},
            lambda psi: {"beta": betas_from_differences(psi)},
            function=_P + "betas_from_differences",
            note="by hand: running sums 1, 1 + 0.5, 1.5 − 1",
            atol=1e-12,
        ),
        ReferenceCase(
            "unpenalised_ordinal_fit_is_the_saturated_mle",
            {"X": x, "y": y, "lam": 0.0},
            {"alpha": np.array(a), "beta": np.array(b)},
            fit3,
            function=_P + "fit_ordinal",
            note="closed form: with one binary feature and separate β_k the model is saturated, so the MLE "
            "matches the empirical cumulative proportions of each group: α_k = logit F̂_k(0), β_k = logit "
            "F̂_k(1) − logit F̂_k(0), F̂(0) = (4/8, 7/8), F̂(1) = (1/8, 3/8)",
            atol=1e-5,
            rtol=1e-5,
            atol32=1e-3,
            rtol32=1e-3,
        ),
        ReferenceCase(
            "unpenalised_logistic_fit_is_the_two_group_mle",
            {"X": x, "y": top, "lam": 0.0},
            {"alpha": np.array([-_logit(1 / 8)]), "beta": np.array([-(_logit(5 / 8) - _logit(1 / 8))])},
            fit2,
            function=_P + "fit_logistic",
            note="closed form: P(y = 1 | x) = 1 − σ(α + xβ) matches the group frequencies 1/8 and 5/8, so "
            "α = −logit(1/8), β = −(logit(5/8) − logit(1/8))",
            atol=1e-5,
            rtol=1e-5,
            atol32=1e-3,
            rtol32=1e-3,
        ),
    ]
