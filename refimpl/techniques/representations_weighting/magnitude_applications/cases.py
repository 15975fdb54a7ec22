"""Reference cases of magnitude classification: the catalogue's magnitude of three collinear points by hand
(Leinster's formula for subsets of ℝ, gaps ln 3 at t = 1 so tanh(ln 3 / 2) = 1/2), the gain of adding the third
point computed from it, the gain of a second point at t·d = ln 2, and a hand-computed classification."""

from __future__ import annotations

import math

import numpy as np

from ....catalog import ReferenceCase
from ..magnitude_weighting_vector import magnitude
from . import knn_classify, magnitude_classify, magnitude_gain, parzen_classify

_P = "refimpl.techniques.representations_weighting.magnitude_applications."
_MW = "refimpl.techniques.representations_weighting.magnitude_weighting_vector."
L3 = math.log(3.0)


def reference_cases() -> list:
    def mag(X, t):
        return {"magnitude": np.array(magnitude(np.asarray(X), float(t)))}

    def gain(X, query, t):
        return {"gain": magnitude_gain(np.asarray(X), np.asarray(query), float(t))}

    def classify(X, y, query, t, k):
        X, y, q = np.asarray(X), np.asarray(y), np.asarray(query)
        return {
            "magnitude": magnitude_classify(X, y, q, float(t)),
            "parzen": parzen_classify(X, y, q, float(t)),
            "knn": knn_classify(X, y, q, int(k)),
        }

    return [
        ReferenceCase(
            "three_collinear_points",
            {"X": np.array([[0.0], [L3], [2 * L3]]), "t": 1.0},
            {"magnitude": np.array(2.0)},
            mag,
            function=_MW + "magnitude",
            note="by hand (Leinster, ℝ): 1 + tanh(ln3/2) + tanh(ln3/2) = 1 + 1/2 + 1/2 = 2; check: Z rows "
            "(1, 1/3, 1/9), (1/3, 1, 1/3), w = (3/4, 1/2, 3/4) gives Zw = 1",
            atol=1e-12,
        ),
        ReferenceCase(
            "gain_of_the_third_collinear_point",
            {"X": np.array([[0.0], [L3]]), "query": np.array([[2 * L3], [-L3]]), "t": 1.0},
            {"gain": np.array([0.5, 0.5])},
            gain,
            function=_P + "magnitude_gain",
            note="by hand: |{0, ln3}| = 1 + 1/2 = 3/2 and |{0, ln3, 2 ln3}| = 2 (case above), so the gain is 1/2 "
            "on either side (symmetry)",
            atol=1e-12,
        ),
        ReferenceCase(
            "gain_of_a_second_point",
            {"X": np.array([[0.0, 0.0]]), "query": np.array([[math.log(2.0), 0.0], [0.0, 60.0]]), "t": 1.0},
            {"gain": np.array([1 / 3, 1.0])},
            gain,
            function=_P + "magnitude_gain",
            note="by hand: two points at t·d = ln 2 have magnitude 2/(1 + 1/2) = 4/3, so the gain over one "
            "point is 1/3; at t·d = 60 the pair counts as 2 (gain 1 to 1e-26)",
            atol=1e-12,
        ),
        ReferenceCase(
            "classify_collinear",
            {
                "X": np.array([[0.0], [L3], [4 * L3]]),
                "y": np.array([0, 0, 1]),
                "query": np.array([[2 * L3], [3.5 * L3]]),
                "t": 1.0,
                "k": 1,
            },
            {"magnitude": np.array([0, 1]), "parzen": np.array([0, 1]), "knn": np.array([0, 1])},
            classify,
            function=_P + "magnitude_classify",
            note="by hand at q = 2 ln3: gain to class 0 = 1/2 (case above); to class 1 (one point at distance "
            "2 ln3, e^{−2 ln3} = 1/9) 2/(1 + 1/9) − 1 = 4/5, so class 0; Parzen means (1/9 + 1/3)/2 = 2/9 > 1/9; "
            "nearest point ln3 → class 0.  At q = 3.5 ln3 the class-1 point is nearest (0.5 ln3) for all rules",
            conventions={"ties": "argmin/argmax take the lowest class index"},
            atol=0,
        ),
    ]
