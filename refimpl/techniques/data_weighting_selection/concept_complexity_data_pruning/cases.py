"""Reference cases of Density-Based Pruning, worked by hand: the per-cluster quotas for 3 clusters (with
and without a saturated cluster), d_intra / d_inter / complexity of points on the unit circle, and the
keep-least-prototypical rule."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from . import cluster_geometry, cluster_probabilities, cluster_quotas, keep_least_prototypical

_MOD = "refimpl.techniques.data_weighting_selection.concept_complexity_data_pruning"


def _circle(degrees):
    a = np.deg2rad(np.asarray(degrees, dtype=np.float64))
    return np.stack([np.cos(a), np.sin(a)], axis=1)


def reference_cases() -> list:
    def quota_case(complexity, temperature, sizes, total, balance):
        p = cluster_probabilities(np.asarray(complexity), temperature)
        return {"probabilities": p, "quotas": cluster_quotas(p, np.asarray(sizes), total, balance)}

    def geometry_case(z, labels, centroids, num_neighbors):
        g = cluster_geometry(np.asarray(z), np.asarray(labels), np.asarray(centroids), num_neighbors)
        return {k: g[k] for k in ("d_intra", "d_inter", "complexity")}

    def keep_case(distance, labels, quotas):
        return {"kept": keep_least_prototypical(np.asarray(distance), np.asarray(labels), np.asarray(quotas))}

    # complexities τ·ln(4), τ·ln(2), 0 with τ = 0.5 give P = (4, 2, 1)/7; N = 14 → P·N = (8, 4, 2)
    c = [0.5 * np.log(4.0), 0.5 * np.log(2.0), 0.0]
    p = np.array([4.0, 2.0, 1.0]) / 7.0
    exact = {"rounding": "floors topped up by largest remainder to exactly `total` (official: np.rint)"}
    # three clusters at 0°, 60° and 180° on the unit circle, members at ±θ around each centroid
    z = _circle([-20, 20, 50, 70, 180])
    return [
        ReferenceCase(
            "quotas_three_clusters_unclipped",
            {
                "complexity": np.array(c),
                "temperature": 0.5,
                "sizes": np.array([20, 10, 10]),
                "total": 14,
                "balance": 0.0,
            },
            {"probabilities": p, "quotas": np.array([8, 4, 2])},
            quota_case,
            note="softmax(C/τ) ∝ (4, 2, 1) → P = (4/7, 2/7, 1/7); P·14 = (8, 4, 2) is inside the bounds "
            "[min(1, |S|−1), |S|] and sums to 14, so it is the QP's solution",
            function=f"{_MOD}.cluster_quotas",
            conventions=exact,
        ),
        ReferenceCase(
            "quotas_three_clusters_first_saturated",
            {
                "complexity": np.array(c),
                "temperature": 0.5,
                "sizes": np.array([6, 10, 10]),
                "total": 14,
                "balance": 0.0,
            },
            {"probabilities": p, "quotas": np.array([6, 5, 3])},
            quota_case,
            note="P·14 = (8, 4, 2) but cluster 0 has 6 members: the projection is clip(P·14 + λ) with "
            "6 + (4 + λ) + (2 + λ) = 14 → λ = 1 → (6, 5, 3)",
            function=f"{_MOD}.cluster_quotas",
            conventions=exact,
        ),
        ReferenceCase(
            "quotas_three_clusters_balanced_lower_bound",
            {
                "complexity": np.array(c),
                "temperature": 0.5,
                "sizes": np.array([20, 10, 10]),
                "total": 14,
                "balance": 0.9,
            },
            {"probabilities": p, "quotas": np.array([6, 4, 4])},
            quota_case,
            note="balance 0.9: m = ⌊14/3 · 0.9⌋ = 4, so N_j ≥ 4; P·14 = (8, 4, 2) → clip((8, 4, 2) + λ, 4, ·) "
            "sums to 14 at λ = −2: (6, 4, 4)",
            function=f"{_MOD}.cluster_quotas",
            conventions=exact,
        ),
        ReferenceCase(
            "quotas_largest_remainder",
            {
                "complexity": np.zeros(3),
                "temperature": 1.0,
                "sizes": np.array([10, 10, 10]),
                "total": 10,
                "balance": 0.0,
            },
            {"probabilities": np.full(3, 1 / 3), "quotas": np.array([4, 3, 3])},
            quota_case,
            note="equal shares 10/3 each: floors (3, 3, 3), the one left over goes to the lowest index",
            function=f"{_MOD}.cluster_quotas",
            atol=0.0,
            rtol=1e-12,
            conventions=exact,
        ),
        ReferenceCase(
            "geometry_unit_circle",
            {
                "z": z,
                "labels": np.array([0, 0, 1, 1, 2]),
                "centroids": _circle([0, 60, 180]),
                "num_neighbors": 1,
            },
            {
                "d_intra": np.array([1 - np.cos(np.deg2rad(20)), 1 - np.cos(np.deg2rad(10)), 0.0]),
                "d_inter": np.array([0.5, 0.5, 1.5]),
                "complexity": np.array(
                    [0.5 * (1 - np.cos(np.deg2rad(20))), 0.5 * (1 - np.cos(np.deg2rad(10))), 0.0]
                ),
            },
            geometry_case,
            note="members at ±20° around 0°, ±10° around 60°, one point at 180°: d_intra = 1 − cos θ; centroid "
            "cosine distances 1 − cos 60° = 0.5 (0–60°), 1 − cos 120° = 1.5 (60–180°), 2 (0–180°); nearest one",
            function=f"{_MOD}.cluster_geometry",
            atol=1e-12,
            rtol=1e-9,
        ),
        ReferenceCase(
            "geometry_unit_circle_two_neighbors",
            {
                "z": z,
                "labels": np.array([0, 0, 1, 1, 2]),
                "centroids": _circle([0, 60, 180]),
                "num_neighbors": 2,
            },
            {
                "d_intra": np.array([1 - np.cos(np.deg2rad(20)), 1 - np.cos(np.deg2rad(10)), 0.0]),
                "d_inter": np.array([1.25, 1.0, 1.75]),
                "complexity": np.array(
                    [1.25 * (1 - np.cos(np.deg2rad(20))), 1.0 * (1 - np.cos(np.deg2rad(10))), 0.0]
                ),
            },
            geometry_case,
            note="both other centroids: (0.5 + 2)/2, (0.5 + 1.5)/2, (2 + 1.5)/2",
            function=f"{_MOD}.cluster_geometry",
            atol=1e-12,
            rtol=1e-9,
        ),
        ReferenceCase(
            "keep_least_prototypical",
            {
                "distance": np.array([0.1, 0.5, 0.3, 0.2, 0.9, 0.4, 0.4]),
                "labels": np.array([0, 0, 0, 1, 1, 1, 1]),
                "quotas": np.array([1, 2]),
            },
            {"kept": np.array([1, 4, 5])},
            keep_case,
            note="cluster 0 keeps its farthest (index 1, 0.5); cluster 1 keeps 0.9 (index 4) and one of the tied "
            "0.4s — the lower index, 5",
            function=f"{_MOD}.keep_least_prototypical",
            atol=0.0,
            rtol=0.0,
            atol32=0.0,
            rtol32=0.0,
            conventions={"rounding": "ties in distance: lower index first"},
        ),
    ]
