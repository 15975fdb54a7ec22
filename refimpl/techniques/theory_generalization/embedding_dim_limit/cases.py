"""Reference cases of the dimension limit, worked by hand: in d = 2 three documents 120° apart are every pair's
top-2 for the query on that pair's bisector; in d = 1 no query returns {1, 3} of documents ordered 1 < 2 < 3."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from . import all_pairs, top2_correct

_PATH = "refimpl.techniques.theory_generalization.embedding_dim_limit"


def _check(Q, X, n):
    return {"correct": top2_correct(np.asarray(Q), np.asarray(X), all_pairs(n)).astype(np.float64)}


def _one_dimension(queries):
    """Documents at 1 < 2 < 3 on a line; for each query value q, is {1, 3} its top-2?"""
    X = np.array([[1.0], [2.0], [3.0]])
    hits = []
    for q in queries:
        top = np.sort(np.argsort(-(X @ np.array([q])), kind="stable")[:2])
        hits.append(float(np.array_equal(top, [0, 2])))
    return {"returns_1_and_3": np.array(hits)}


def reference_cases() -> list:
    angles = np.deg2rad([90.0, 210.0, 330.0])
    X = np.stack([np.cos(angles), np.sin(angles)], 1)
    bisectors = [X[i] + X[j] for i, j in all_pairs(3)]
    return [
        ReferenceCase(
            name="d2_three_documents",
            inputs={"Q": np.array(bisectors).tolist(), "X": X.tolist(), "n": 3},
            expected={"correct": [1.0, 1.0, 1.0]},
            compute=_check,
            function=f"{_PATH}.top2_correct",
            note="Documents at 90°, 210°, 330°; the query x_i + x_j scores x_i and x_j at 1 − ½ = ½ and the third "
            "at −½ − ½ = −1: each pair is its bisector's top-2.",
            atol=0.0,
        ),
        ReferenceCase(
            name="d1_cannot_return_the_ends",
            inputs={"queries": [-5.0, -1.0, -0.1, 0.1, 1.0, 5.0]},
            expected={"returns_1_and_3": [0.0] * 6},
            compute=_one_dimension,
            function=f"{_PATH}.top2_correct",
            note="In d = 1 the score q·x is monotone in x: the top-2 is {2, 3} for q > 0 and {1, 2} for q < 0, never {1, 3}.",
            atol=0.0,
        ),
    ]
