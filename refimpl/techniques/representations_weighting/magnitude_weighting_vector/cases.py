"""Reference cases of the weighting vector and magnitude: hand values (one point, two points at t·d = ln 2, an
equilateral simplex), Leinster's closed form for points on a line (weights and magnitude from the gaps), the
nearest-neighbour approximation at k = 1 by hand, and the baselines by hand."""

from __future__ import annotations

import math

import numpy as np

from ....catalog import ReferenceCase
from . import kernel_density_score, knn_distance, local_weighting_vector, magnitude, weighting_vector

_P = "refimpl.techniques.representations_weighting.magnitude_weighting_vector."


def _line_closed_form(x, t):
    """Points x₁ < … < xₙ on ℝ: with g the gaps and h = tanh(t g / 2), the weights are (1 + h₁)/2 at the
    left end, (h_{i−1} + h_i)/2 inside, (h_{n−1} + 1)/2 at the right end; the magnitude is 1 + Σ h."""
    h = np.tanh(t * np.diff(x) / 2)
    w = (np.r_[1.0, h] + np.r_[h, 1.0]) / 2
    return w, 1.0 + h.sum()


def reference_cases() -> list:
    def wm(X, t):
        X = np.asarray(X)
        return {"w": weighting_vector(X, float(t)), "magnitude": np.array(magnitude(X, float(t)))}

    x_line = np.array([0.0, 0.3, 1.1, 1.25, 3.0])
    w_line, m_line = _line_closed_form(x_line, 1.7)
    q = math.exp(-2.0 * 0.8)  # equilateral triangle, side 0.8, t = 2
    tri = np.array([[0.0, 0.0], [0.8, 0.0], [0.4, 0.4 * math.sqrt(3)]])
    return [
        ReferenceCase(
            "one_point",
            {"X": np.array([[0.3, -1.2]]), "t": 2.0},
            {"w": np.array([1.0]), "magnitude": np.array(1.0)},
            wm,
            function=_P + "weighting_vector",
            note="by hand: Z = [1], so w = 1 and the magnitude is 1",
            atol=1e-12,
        ),
        ReferenceCase(
            "two_points_at_t_d_ln2",
            {"X": np.array([[0.0, 0.0], [math.log(2.0), 0.0]]), "t": 1.0},
            {"w": np.array([2 / 3, 2 / 3]), "magnitude": np.array(4 / 3)},
            wm,
            function=_P + "weighting_vector",
            note="by hand: Z = [[1, 1/2], [1/2, 1]], Zw = 1 gives w = (2/3, 2/3), magnitude 4/3",
            atol=1e-12,
        ),
        ReferenceCase(
            "equilateral_triangle",
            {"X": tri, "t": 2.0},
            {"w": np.full(3, 1 / (1 + 2 * q)), "magnitude": np.array(3 / (1 + 2 * q))},
            wm,
            function=_P + "weighting_vector",
            note="by hand: Z = (1 − q)I + q11ᵀ with q = e^{−t·0.8}, so w = 1/(1 + 2q) each (symmetry)",
            atol=1e-12,
        ),
        ReferenceCase(
            "points_on_a_line_leinster",
            {"X": x_line[:, None], "t": 1.7},
            {"w": w_line, "magnitude": np.array(m_line)},
            wm,
            function=_P + "weighting_vector",
            note="closed form (Leinster, subsets of ℝ): h_i = tanh(t g_i/2) of the gaps; end weights (1 + h)/2, "
            "inner weights (h_{i−1} + h_i)/2, magnitude 1 + Σ h_i",
            atol=1e-10,
        ),
        ReferenceCase(
            "far_apart_points_count_fully",
            {"X": np.array([[0.0, 0.0], [100.0, 0.0], [0.0, 100.0], [100.0, 100.0]]), "t": 1.0},
            {"w": np.ones(4), "magnitude": np.array(4.0)},
            wm,
            function=_P + "weighting_vector",
            note="limit: similarities e^{−100} vanish, Z = I to 1e-40, so w = 1 and the magnitude is n",
            atol=1e-12,
        ),
        ReferenceCase(
            "local_weighting_k1_by_hand",
            {"X": np.array([[0.0], [1.0], [3.0]]), "t": 1.0, "k": 1},
            {"w": np.array([1, 1, 1]) / (1 + np.exp(-np.array([1.0, 1.0, 2.0])))},
            lambda X, t, k: {"w": local_weighting_vector(np.asarray(X), float(t), int(k))},
            function=_P + "local_weighting_vector",
            note="by hand: with one neighbour each point solves a two-point system, w̃ = 1/(1 + e^{−t d_nn}); "
            "nearest-neighbour distances 1, 1, 2",
            atol=1e-12,
        ),
        ReferenceCase(
            "knn_distance_by_hand",
            {"X": np.array([[0.0], [1.0], [3.0]]), "k": 2},
            {"d": np.array([3.0, 2.0, 3.0])},
            lambda X, k: {"d": knn_distance(np.asarray(X), int(k))},
            function=_P + "knn_distance",
            note="by hand: second-nearest other point of 0, 1, 3 is at 3, 2, 3",
            atol=1e-12,
        ),
        ReferenceCase(
            "kernel_density_two_points",
            {"X": np.array([[0.0], [math.log(2.0)]]), "t": 1.0},
            {"s": np.array([2 / 3, 2 / 3])},
            lambda X, t: {"s": kernel_density_score(np.asarray(X), float(t))},
            function=_P + "kernel_density_score",
            note="by hand: row sums of Z are 1 + 1/2, so the score is 2/3 — here equal to the weights, which "
            "differ as soon as there are three points",
            atol=1e-12,
        ),
    ]
