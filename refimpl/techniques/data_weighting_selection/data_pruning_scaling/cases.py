"""Reference cases worked by hand: the test error of a student at a known angle, margin pruning of four
2-D points, the kept count, max-margin students of hand-solvable point sets, the closed-form Gaussian
average (D6) and the Gardner capacity α_c = 2 as a zero of (D4)."""

from __future__ import annotations

import math

import numpy as np

from ....catalog import ReferenceCase
from . import (
    expected_hinge_sq,
    gardner_residual,
    generalization_error,
    keep_indices,
    margin_threshold,
    max_margin_perceptron,
)

_MOD = "refimpl.techniques.data_weighting_selection.data_pruning_scaling"


def reference_cases() -> list:
    def error(w, teacher):
        return {"error": np.array(generalization_error(np.asarray(w), np.asarray(teacher)))}

    def prune(scores, fraction, keep):
        return {"indices": keep_indices(np.asarray(scores), float(fraction), keep).astype(np.float64)}

    def max_margin(x, y):
        w, kappa = max_margin_perceptron(np.asarray(x), np.asarray(y))
        return {"w": w, "kappa": np.array(kappa)}

    def hinge(c, s):
        return {"value": np.asarray(expected_hinge_sq(np.asarray(c), np.asarray(s)))}

    def residual(R, b, kappa, alpha_prune):
        return {"F": np.array(gardner_residual(R, b, kappa, alpha_prune))}

    def threshold(fraction, keep):
        return {"gamma": np.array(margin_threshold(fraction, keep))}

    # four 2-D points, teacher e1: margins |x1| = 0.1, 2, 0.5, 0.3
    x4 = [[0.1, 1.0], [-2.0, 0.0], [0.5, -1.0], [-0.3, 3.0]]
    scores4 = [abs(p[0]) for p in x4]
    ties = {"ties": "equal scores: the lower index is kept first (stable sort)", "count": "round(f·n), ≥ 1"}
    return [
        ReferenceCase(
            "error_at_60_degrees",
            {"w": [0.5, math.sqrt(3) / 2, 0.0], "teacher": [2.0, 0.0, 0.0]},
            {"error": np.array(1.0 / 3.0)},
            error,
            function=f"{_MOD}.generalization_error",
            note="by hand: the angle between (1/2, √3/2, 0) and e1 is π/3, so ε = (π/3)/π = 1/3; the "
            "teacher's length does not matter",
            atol=1e-12,
        ),
        ReferenceCase(
            "error_of_the_opposite_student",
            {"w": [0.0, -1.0], "teacher": [0.0, 3.0]},
            {"error": np.array(1.0)},
            error,
            function=f"{_MOD}.generalization_error",
            note="by hand: w = −T disagrees on every input: angle π, ε = 1",
            atol=1e-12,
        ),
        ReferenceCase(
            "keep_hard_half_of_four_2d_points",
            {"scores": scores4, "fraction": 0.5, "keep": "hard"},
            {"indices": np.array([0.0, 3.0])},
            prune,
            function=f"{_MOD}.keep_indices",
            note="by hand: teacher e1, points (0.1, 1), (−2, 0), (0.5, −1), (−0.3, 3) have margins 0.1, 2, "
            "0.5, 0.3; the two smallest are points 0 and 3",
            atol=0.0,
            conventions=ties,
        ),
        ReferenceCase(
            "keep_easy_half_of_four_2d_points",
            {"scores": scores4, "fraction": 0.5, "keep": "easy"},
            {"indices": np.array([1.0, 2.0])},
            prune,
            function=f"{_MOD}.keep_indices",
            note="by hand: the two largest margins, 2 and 0.5, are points 1 and 2",
            atol=0.0,
            conventions=ties,
        ),
        ReferenceCase(
            "keep_hard_three_of_ten_with_ties",
            {"scores": [5.0, 1.0, 1.0, 7.0, 1.0, 0.5, 9.0, 2.0, 3.0, 4.0], "fraction": 0.3, "keep": "hard"},
            {"indices": np.array([1.0, 2.0, 5.0])},
            prune,
            function=f"{_MOD}.keep_indices",
            note="by hand: round(0.3·10) = 3 kept: 0.5 (index 5), then the tied 1.0s at indices 1, 2 "
            "(index 4 loses the tie)",
            atol=0.0,
            conventions=ties,
        ),
        ReferenceCase(
            "max_margin_two_symmetric_points",
            {"x": [[1.0, 1.0], [-1.0, 1.0]], "y": [1.0, -1.0]},
            {"w": np.array([1.0, 0.0]), "kappa": np.array(1.0)},
            max_margin,
            function=f"{_MOD}.max_margin_perceptron",
            note="by hand: y·x = (1, 1) and (1, −1); the nearest point of the segment between them to the "
            "origin is (1, 0): Ĵ = e1, κ = 1 (both points at field 1)",
            atol=1e-9,
        ),
        ReferenceCase(
            "max_margin_hull_of_three_points",
            {"x": [[2.0, 0.0], [0.0, 2.0], [3.0, 3.0]], "y": [1.0, 1.0, 1.0]},
            {"w": np.array([1.0, 1.0]) / math.sqrt(2.0), "kappa": np.array(math.sqrt(2.0))},
            max_margin,
            function=f"{_MOD}.max_margin_perceptron",
            note="by hand: the hull of (2,0), (0,2), (3,3) comes nearest the origin at (1,1), the middle of "
            "the first edge: Ĵ = (1,1)/√2, κ = √2; (3,3) has field 3√2 and is no support vector",
            atol=1e-9,
        ),
        ReferenceCase(
            "gaussian_average_of_the_squared_hinge",
            {"c": [0.0, 1.0, -1.0], "s": [2.0, 1.0, 1.0]},
            {
                "value": np.array(
                    [
                        2.0,  # s²/2 at c = 0
                        2.0 * 0.8413447460685429 + 0.24197072451914337,  # (1+1)Φ(1) + φ(1)
                        2.0 * 0.15865525393145707 - 0.24197072451914337,  # (1+1)Φ(−1) − φ(1)
                    ]
                )
            },
            hinge,
            function=f"{_MOD}.expected_hinge_sq",
            note="closed form by hand: E(−2z)₊² = 4·E z²·1{z<0} = 2; E(1 − z)₊² = ∫_{z<1}(1−z)²φ = "
            "2Φ(1) + φ(1) (integrate by parts), E(−1 − z)₊² = 2Φ(−1) − φ(1); Φ, φ values from tables",
            atol=1e-12,
        ),
        ReferenceCase(
            "gardner_capacity_is_two",
            {"R": 0.0, "b": 0.0, "kappa": 0.0, "alpha_prune": 2.0},
            {"F": np.array(0.0)},
            residual,
            function=f"{_MOD}.gardner_residual",
            note="by hand: with R = b = 0 and κ = 0, (D4) is 1 − α·E(−z)₊² = 1 − α/2: zero at Gardner's "
            "capacity α_c = 2 for zero margin",
            atol=1e-10,
        ),
        ReferenceCase(
            "keep_hard_threshold_for_f_0_6827",
            {"fraction": 0.6826894921370859, "keep": "hard"},
            {"gamma": np.array(1.0)},
            threshold,
            function=f"{_MOD}.margin_threshold",
            note="table value: P(|u| < 1) = 0.6826894921 for u ~ N(0,1), so γ = 1 keeps that fraction",
            atol=1e-9,
        ),
        ReferenceCase(
            "keep_easy_threshold_for_f_0_05",
            {"fraction": 0.05, "keep": "easy"},
            {"gamma": np.array(1.959963984540054)},
            threshold,
            function=f"{_MOD}.margin_threshold",
            note="table value: P(|u| > 1.959964) = 0.05, the two-sided 95 % normal quantile",
            atol=1e-9,
        ),
    ]
