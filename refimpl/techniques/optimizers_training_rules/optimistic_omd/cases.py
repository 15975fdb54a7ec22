"""Reference cases of optimistic OMD: one round with the Euclidean and the entropic map, two rounds of the
learner with and without its hint, and the two regret bounds — all worked by hand."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from . import OptimisticOMD, empirical_bound, optimistic_round, sea_bound

_PATH = "refimpl.techniques.optimizers_training_rules.optimistic_omd"


def _round(x_hat, hint, g, eta, mirror, radius):
    x, g_t, x_hat_next = optimistic_round(
        np.asarray(x_hat), np.asarray(hint), lambda x: np.asarray(g), eta, mirror, radius
    )
    return {"x": x, "x_hat_next": x_hat_next}


def _learner(gradients, D, alpha, delta, optimism, radius):
    learner = OptimisticOMD(1, D, alpha, delta, optimism=optimism, radius=radius)
    xs = []
    for g in gradients:
        xs.append(float(learner.play()[0]))
        learner.update([g])
    return {"x": np.array(xs), "A": learner.A, "x_hat_next": learner.x_hat}


def _bounds(A_T, sigma2_total, Sigma2_total, mu1_sq, D, alpha, delta):
    return {
        "empirical": empirical_bound(A_T, D, alpha, delta),
        "sea": sea_bound(sigma2_total, Sigma2_total, D, alpha, delta, mu1_sq),
    }


def reference_cases() -> list:
    r205 = np.sqrt(2.05)
    eta2 = 1 / np.sqrt(5.0)
    return [
        ReferenceCase(
            name="euclidean_round_inside_the_ball",
            inputs={
                "x_hat": [0.5, 0.0],
                "hint": [1.0, 0.0],
                "g": [0.0, 2.0],
                "eta": 0.25,
                "mirror": "euclidean",
                "radius": 1.0,
            },
            expected={"x": [0.25, 0.0], "x_hat_next": [0.5, -0.5]},
            compute=_round,
            function=f"{_PATH}.optimistic_round",
            note="By hand: x = x̂ − ηM = (0.5 − 0.25, 0); x̂' = x̂ − ηg = (0.5, −0.5), norm 0.707 < 1 (no projection).",
            conventions={
                "scheme": "two-step optimistic OMD: x_t from x̂_t with the hint, x̂_{t+1} from x̂_t with g_t"
            },
        ),
        ReferenceCase(
            name="euclidean_round_with_projection",
            inputs={
                "x_hat": [0.8, 0.6],
                "hint": [0.0, 0.0],
                "g": [-1.0, 0.0],
                "eta": 0.5,
                "mirror": "euclidean",
                "radius": 1.0,
            },
            expected={"x": [0.8, 0.6], "x_hat_next": [1.3 / r205, 0.6 / r205]},
            compute=_round,
            function=f"{_PATH}.optimistic_round",
            note="By hand: x̂ − ηg = (1.3, 0.6), norm √2.05 > 1, projected radially: (1.3, 0.6)/√2.05.",
        ),
        ReferenceCase(
            name="entropic_round_on_the_simplex",
            inputs={
                "x_hat": [0.5, 0.25, 0.25],
                "hint": [float(np.log(2.0)), 0.0, 0.0],
                "g": [0.0, float(np.log(2.0)), 0.0],
                "eta": 1.0,
                "mirror": "entropic",
                "radius": 1.0,
            },
            expected={"x": [1 / 3, 1 / 3, 1 / 3], "x_hat_next": [4 / 7, 1 / 7, 2 / 7]},
            compute=_round,
            function=f"{_PATH}.optimistic_round",
            note="By hand: x ∝ x̂·e^{−M} = (0.25, 0.25, 0.25) → uniform; x̂' ∝ x̂·e^{−g} = (0.5, 0.125, 0.25), "
            "sum 0.875 → (4/7, 1/7, 2/7).",
            conventions={"scheme": "entropic map: x ∝ x̂ ⊙ exp(−ηg), normalised to the simplex"},
        ),
        ReferenceCase(
            name="learner_two_rounds_with_hint",
            inputs={
                "gradients": [1.0, 1.0],
                "D": 2.0,
                "alpha": 0.5,
                "delta": 4.0,
                "optimism": True,
                "radius": 1.0,
            },
            expected={"x": [0.0, -0.5 - eta2], "A": 1.0, "x_hat_next": [-0.5 - eta2]},
            compute=_learner,
            function=f"{_PATH}.OptimisticOMD",
            note="By hand: η₁ = 0.5·2/√4 = 0.5, x₁ = 0, a₁ = 1, x̂₂ = −0.5; η₂ = 1/√5, M₂ = 1: x₂ = −0.5 − 1/√5, "
            "a₂ = (1 − 1)² = 0 so A = 1, x̂₃ = −0.5 − 1/√5.",
            conventions={"scheme": "η_t = αD/√(δ + A_{t−1}); hint M_1 = 0, M_{t+1} = g_t; x̂_1 = 0"},
        ),
        ReferenceCase(
            name="learner_two_rounds_without_hint",
            inputs={
                "gradients": [1.0, 1.0],
                "D": 2.0,
                "alpha": 0.5,
                "delta": 4.0,
                "optimism": False,
                "radius": 1.0,
            },
            expected={"x": [0.0, -0.5], "A": 2.0, "x_hat_next": [-0.5 - eta2]},
            compute=_learner,
            function=f"{_PATH}.OptimisticOMD",
            note="By hand: plain OMD plays x̂: x₁ = 0, x₂ = −0.5; A = 1 + 1 = 2; η₂ = 1/√5 (A₁ = 1), x̂₃ = −0.5 − 1/√5.",
        ),
        ReferenceCase(
            name="regret_bounds",
            inputs={
                "A_T": 12.0,
                "sigma2_total": 3.0,
                "Sigma2_total": 2.0,
                "mu1_sq": 1.0,
                "D": 2.0,
                "alpha": 0.5,
                "delta": 4.0,
            },
            expected={"empirical": 16.0, "sea": 4.0 * np.sqrt(13.0)},
            compute=_bounds,
            function=f"{_PATH}.sea_bound",
            note="By hand: D(2α + 1/(2α)) = 2·(1 + 1) = 4; (D2) 4·√(4 + 12) = 16; (D3) 4·√(4 + 1 + 2·3 + 2) = 4√13.",
        ),
    ]
