"""Reference cases of k-means diversity selection, worked by hand: proportional quotas with largest
remainders, the softmax cluster weights of mean scores, k-means on two separated groups, and a
degenerate draw allocation."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from . import allocate_draws, cluster_weights, kmeans, proportional_quotas

_MOD = "refimpl.techniques.data_weighting_selection.kmeans_diversity_selection"
_EXACT = {"atol": 0.0, "rtol": 0.0, "atol32": 0.0, "rtol32": 0.0}


def reference_cases() -> list:
    def quota_case(sizes, budget):
        return {"quotas": proportional_quotas(np.asarray(sizes), int(budget))}

    def weights_case(scores, clusters, k):
        return {"weights": cluster_weights(np.asarray(scores), np.asarray(clusters), int(k))}

    def kmeans_case(z, k, seed):
        labels, c = kmeans(np.asarray(z), int(k), int(seed))
        same = (labels[:, None] == labels[None, :]).astype(np.int64)
        return {"centroids": np.sort(c[:, 0]), "same_cluster": same}

    def draws_case(weights, draws, seed):
        return {"counts": allocate_draws(np.asarray(weights), int(draws), int(seed))}

    e2 = np.exp(2.0)
    return [
        ReferenceCase(
            "proportional_quotas_largest_remainder",
            {"sizes": np.array([5, 3, 2]), "budget": 5},
            {"quotas": np.array([3, 1, 1])},
            quota_case,
            note="5·(5,3,2)/10 = (2.5, 1.5, 1.0): floors (2, 1, 1) sum to 4; the one left goes to the largest "
            "remainder, a tie of 0.5 between clusters 0 and 1 broken by order → (3, 1, 1)",
            function=f"{_MOD}.proportional_quotas",
            conventions={"rounding": "largest remainder, ties to the lower cluster index"},
            **_EXACT,
        ),
        ReferenceCase(
            "cluster_weights_softmax_of_means",
            {"scores": np.array([1.0, 3.0, 0.0, 2.0]), "clusters": np.array([0, 0, 1, 2]), "k": 4},
            {"weights": np.array([e2, 1.0, e2, 1.0]) / (2 * e2 + 2)},
            weights_case,
            note="cluster means (2, 0, 2) and 0 for the empty cluster 3; softmax: e²/(2e² + 2) = 0.440399 and "
            "1/(2e² + 2) = 0.059601",
            function=f"{_MOD}.cluster_weights",
            conventions={"scheme": "empty cluster: mean score 0"},
            atol=1e-12,
            rtol=1e-12,
        ),
        ReferenceCase(
            "kmeans_two_separated_groups",
            {"z": np.array([[0.0], [0.1], [0.2], [10.0], [10.1], [10.2]]), "k": 2, "seed": 0},
            {
                "centroids": np.array([0.1, 10.1]),
                "same_cluster": np.kron(np.eye(2, dtype=np.int64), np.ones((3, 3), dtype=np.int64)),
            },
            kmeans_case,
            note="two groups 10 apart with spread 0.2: the only stable 2-partition splits them; the centroids "
            "are the group means 0.1 and 10.1",
            function=f"{_MOD}.kmeans",
            atol=1e-12,
            rtol=1e-12,
        ),
        ReferenceCase(
            "allocate_draws_point_mass",
            {"weights": np.array([0.0, 1.0, 0.0]), "draws": 4, "seed": 0},
            {"counts": np.array([0, 4, 0])},
            draws_case,
            note="all probability on cluster 1: every one of the 4 draws lands there, whatever the seed",
            function=f"{_MOD}.allocate_draws",
            **_EXACT,
        ),
    ]
