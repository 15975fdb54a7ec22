"""Reference cases of retrieval, by hand: the k nearest neighbours of a query on a line of points, the mean the
decoder is conditioned on, and the exact mean squared distance to the j-th nearest of N Gaussian points."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from . import knn, kth_neighbour_sq_distance_gaussian, retrieval_condition

_PATH = "refimpl.techniques.diffusion_generative.retrieval_augmented_diffusion"
_LINE = [[0.0, 0.0], [1.0, 0.0], [2.5, 0.0], [4.0, 0.0], [10.0, 0.0]]


def _knn(query, database, k):
    return {"idx": knn(np.array([query]), np.array(database), k)[0]}


def _condition(query, database, k):
    return {"c": retrieval_condition(np.array([query]), np.array(database), k)[0]}


def _order_stats(n_database, k):
    return {"e": kth_neighbour_sq_distance_gaussian(n_database, k)}


def reference_cases() -> list:
    return [
        ReferenceCase(
            name="knn_on_a_line",
            inputs={"query": [2.2, 0.0], "database": _LINE, "k": 3},
            expected={"idx": [2, 1, 3]},
            compute=_knn,
            function=f"{_PATH}.knn",
            note="distances from 2.2: 2.2, 1.2, 0.3, 1.8, 7.8 → nearest first: 2.5 (0.3), 1 (1.2), 4 (1.8).",
            atol=0,
        ),
        ReferenceCase(
            name="condition_is_the_neighbours_mean",
            inputs={"query": [2.2, 0.0], "database": _LINE, "k": 3},
            expected={"c": [2.5, 0.0]},
            compute=_condition,
            function=f"{_PATH}.retrieval_condition",
            note="mean of 2.5, 1 and 4 = 7.5/3 = 2.5.",
            atol=1e-12,
        ),
        ReferenceCase(
            name="gaussian_neighbour_distances",
            inputs={"n_database": 4, "k": 3},
            expected={"e": [0.5, 0.5 + 2 / 3, 0.5 + 2 / 3 + 1.0]},
            compute=_order_stats,
            function=f"{_PATH}.kth_neighbour_sq_distance_gaussian",
            note="‖y‖² ~ Exp(mean 2); the j-th smallest of 4 has mean 2(1/4 + … + 1/(4 − j + 1)): 1/2, 7/6, 13/6.",
            atol=1e-12,
        ),
    ]
