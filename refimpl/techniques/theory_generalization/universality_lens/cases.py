"""Reference cases of the mixture bound, by hand: a Bernoulli KL divergence, a two-hypothesis mixture's regret on
one symbol, and the weight of a KL ball on a three-point grid."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from . import ball_weight, kl_bernoulli, mixture_regret

_PATH = "refimpl.techniques.theory_generalization.universality_lens"


def _kl(a, b):
    return {"kl": np.asarray(kl_bernoulli(a, b))}


def _regret(k, n, thetas, weights, theta_ref):
    return {
        "regret": np.asarray(
            mixture_regret(np.asarray(k), n, np.asarray(thetas), np.asarray(weights), theta_ref)
        )
    }


def _ball(theta_star, eps, thetas, weights):
    return {"weight": np.asarray(ball_weight(theta_star, eps, np.asarray(thetas), np.asarray(weights)))}


def reference_cases() -> list:
    return [
        ReferenceCase(
            name="kl_half_quarter",
            inputs={"a": 0.5, "b": 0.25},
            expected={"kl": 0.5 * np.log(4 / 3)},
            compute=_kl,
            function=f"{_PATH}.kl_bernoulli",
            note="½ ln(0.5/0.25) + ½ ln(0.5/0.75) = ½ ln 2 + ½ ln(2/3) = ½ ln(4/3).",
            atol=1e-15,
        ),
        ReferenceCase(
            name="two_hypothesis_regret",
            inputs={"k": [1, 0], "n": 1, "thetas": [0.5, 0.25], "weights": [1.0, 1.0], "theta_ref": 0.5},
            expected={"regret": [np.log(0.5 / 0.375), np.log(0.5 / 0.625)]},
            compute=_regret,
            function=f"{_PATH}.mixture_regret",
            note="One symbol: the mixture gives a 1 probability ½·½ + ½·¼ = 0.375 and a 0 probability 0.625; regret "
            "against θ = ½ is ln(0.5/0.375) = ln(4/3) ≤ −ln w = ln 2, and ln(0.5/0.625) < 0 for a 0.",
            atol=1e-15,
        ),
        ReferenceCase(
            name="ball_weight_three_points",
            inputs={"theta_star": 0.5, "eps": 0.2, "thetas": [0.5, 0.25, 0.1], "weights": [1.0, 1.0, 1.0]},
            expected={"weight": 2 / 3},
            compute=_ball,
            function=f"{_PATH}.ball_weight",
            note="KL(½ ‖ ½) = 0, KL(½ ‖ ¼) = 0.144 ≤ 0.2, KL(½ ‖ 0.1) = ½ ln 5 + ½ ln(5/9) = 0.511 > 0.2: two of three.",
            atol=1e-15,
        ),
    ]
