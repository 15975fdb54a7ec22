"""Reference cases of Hopular's Hopfield update, computed by hand: one update with two stored patterns, and
β large retrieving exactly the most similar stored pattern (the 1-nearest-neighbour limit)."""

from __future__ import annotations

import math

import numpy as np

from ....catalog import ReferenceCase
from . import hopfield_update

_P = "refimpl.techniques.architectures.hopular."


def reference_cases() -> list:
    conv = {"layout": "row form: states Xi (q, d), stored patterns X (N, d); out = softmax(β Xi Xᵀ) X"}
    # by hand: X = [[1, 0], [0, 1]], ξ = [1, 0], β = ln 3 → scores [ln 3, 0] → softmax [3/4, 1/4]
    by_hand = np.array([[0.75, 0.25]])
    X3 = np.array([[1.0, 0.0], [0.6, 0.8], [-1.0, 0.0]])
    return [
        ReferenceCase(
            "hopfield_update_by_hand",
            {"Xi": np.array([[1.0, 0.0]]), "X": np.eye(2), "beta": math.log(3.0)},
            {"out": by_hand},
            lambda Xi, X, beta: {"out": hopfield_update(Xi, X, beta).data},
            function=_P + "hopfield_update",
            note="scores β·[1, 0] = [ln 3, 0], softmax = [3/4, 1/4], times X = I gives [0.75, 0.25]",
            atol=1e-12,
            conventions=conv,
        ),
        ReferenceCase(
            "hopfield_update_large_beta_is_nearest_pattern",
            {"Xi": np.array([[0.9, 0.5]]), "X": X3, "beta": 2000.0},
            {"out": np.array([[0.6, 0.8]])},
            lambda Xi, X, beta: {"out": hopfield_update(Xi, X, beta).data},
            function=_P + "hopfield_update",
            note="unit-norm patterns; dot products [0.9, 0.94, -0.9]: the second is the nearest, and with "
            "β = 2000 the runner-up's weight is e^{-80} ≈ 2e-35, so the update returns it exactly",
            atol=1e-12,
            conventions=conv,
        ),
    ]
