"""Reference cases of RoMA: the manifold regulariser on a hand example, the k-NN neighbour set by cosine
similarity on hand-chosen embeddings (the cosines worked out by hand), and the Gaussian similarity weights
in closed form.  Expected values are written from the arithmetic in each `note`, not from the code."""

from __future__ import annotations

import math

import numpy as np

from ....catalog import ReferenceCase
from . import knn_neighbours, manifold_regulariser, neighbour_weights

_P = "refimpl.techniques.architectures.roma_routing_alignment."


def reference_cases() -> list:
    conv = {
        "distance": "squared Euclidean distance between routing-weight vectors",
        "reduction": "sum over neighbours weighted by W_ij, mean over the B samples",
    }
    knn_conv = {
        "similarity": "cosine similarity of the task embeddings",
        "order": "most similar first; ties go to the lower pool index",
    }
    return [
        ReferenceCase(
            "regulariser_two_samples_by_hand",
            {
                "r": np.array([[0.5, 0.5], [0.2, 0.8]]),
                "r_neighbours": np.array([[[1.0, 0.0], [0.0, 1.0]], [[0.0, 1.0], [0.0, 1.0]]]),
                "W": np.array([[0.75, 0.25], [0.5, 0.5]]),
            },
            {"value": np.array(0.29)},
            lambda r, r_neighbours, W: {"value": np.asarray(manifold_regulariser(r, r_neighbours, W).data)},
            function=_P + "manifold_regulariser",
            note="sample 1: 0.75·(0.25+0.25) + 0.25·(0.25+0.25) = 0.5; sample 2: 0.5·0.08 + 0.5·0.08 = 0.08; "
            "mean (0.5 + 0.08)/2 = 0.29",
            atol=1e-12,
            conventions=conv,
        ),
        ReferenceCase(
            "knn_by_cosine_k2",
            {
                "E_query": np.array([[1.0, 0.0]]),
                "E_pool": np.array([[1.0, 0.1], [0.0, 1.0], [1.0, -0.5], [-1.0, 0.0]]),
                "k": 2,
            },
            {
                "indices": np.array([[0, 2]]),
                "similarities": np.array([[1 / math.sqrt(1.01), 1 / math.sqrt(1.25)]]),
            },
            lambda E_query, E_pool, k: dict(
                zip(("indices", "similarities"), knn_neighbours(E_query, E_pool, k))
            ),
            function=_P + "knn_neighbours",
            note="cosines with [1, 0]: 1/√1.01 ≈ 0.995, 0, 1/√1.25 ≈ 0.894, −1; the two largest are rows 0 and 2",
            atol=1e-12,
            conventions=knn_conv,
        ),
        ReferenceCase(
            "knn_excluding_itself",
            {
                "E_query": np.array([[1.0, 0.0], [0.0, 1.0]]),
                "E_pool": np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]),
                "k": 1,
                "exclude": np.array([0, 1]),
            },
            {
                "indices": np.array([[2], [2]]),
                "similarities": np.array([[1 / math.sqrt(2)], [1 / math.sqrt(2)]]),
            },
            lambda E_query, E_pool, k, exclude: dict(
                zip(("indices", "similarities"), knn_neighbours(E_query, E_pool, k, exclude=exclude))
            ),
            function=_P + "knn_neighbours",
            note="each query is pool row `exclude[i]` (cosine 1), which it may not pick; next is [1, 1] at 1/√2",
            atol=1e-12,
            conventions=knn_conv,
        ),
        ReferenceCase(
            "gaussian_weights_sigma_0.4",
            {"sims": np.array([[1.0, 0.6]]), "sigma": 0.4},
            {"W": np.array([[1 / (1 + math.exp(-0.5)), math.exp(-0.5) / (1 + math.exp(-0.5))]])},
            lambda sims, sigma: {"W": neighbour_weights(sims, sigma)},
            function=_P + "neighbour_weights",
            note="exp(−0²/0.32) = 1 and exp(−0.4²/0.32) = e^−0.5, normalised: [1, e^−0.5]/(1 + e^−0.5)",
            atol=1e-12,
            conventions={"kernel": "exp(−(1 − cos)²/(2σ²)), normalised over each row's neighbours"},
        ),
    ]
