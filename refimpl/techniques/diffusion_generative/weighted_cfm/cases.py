"""Reference cases of W-CFM, by hand: the catalogue's Gibbs weights for both costs, a two-point optimal assignment,
and the tilted source marginal of a Gaussian pair."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from . import gibbs_weights, minibatch_ot_pairs, tilted_source_gaussian

_PATH = "refimpl.techniques.diffusion_generative.weighted_cfm"


def _weights(x, y, eps, cost):
    return {"w": gibbs_weights(np.asarray(x), np.asarray(y), eps, cost)}


def _pairs(x, y):
    px, py = minibatch_ot_pairs(np.asarray(x), np.asarray(y))
    return {"x": px, "y": py}


def _tilt(m, s, eps):
    return {"mean_var": np.array(tilted_source_gaussian(m, s, eps))}


_PAIRS = {"x": [[0.0, 0.0], [0.0, 0.0]], "y": [[0.0, 0.0], [2.0, 0.0]]}


def reference_cases() -> list:
    return [
        ReferenceCase(
            name="gibbs_weights_squared",
            inputs={**_PAIRS, "eps": 1.0, "cost": "sqeuclidean"},
            expected={"w": [1.0, np.exp(-4.0)]},
            compute=_weights,
            function=f"{_PATH}.gibbs_weights",
            note="Pair distances 0 and 2, ε = 1: exp(0) = 1 and exp(−2²) = e⁻⁴ = 0.018316.",
            conventions={"cost": "squared Euclidean ‖x − y‖² (entropic OT's)"},
            atol=1e-15,
        ),
        ReferenceCase(
            name="gibbs_weights_unsquared",
            inputs={**_PAIRS, "eps": 1.0, "cost": "euclidean"},
            expected={"w": [1.0, np.exp(-2.0)]},
            compute=_weights,
            function=f"{_PATH}.gibbs_weights",
            note="The same pairs with the unsquared norm: e⁻² = 0.135335.",
            conventions={"cost": "Euclidean ‖x − y‖"},
            atol=1e-15,
        ),
        ReferenceCase(
            name="minibatch_ot_two_points",
            inputs={"x": [[0.0, 0.0], [1.0, 0.0]], "y": [[1.1, 0.0], [0.1, 0.0]]},
            expected={"x": [[0.0, 0.0], [1.0, 0.0]], "y": [[0.1, 0.0], [1.1, 0.0]]},
            compute=_pairs,
            function=f"{_PATH}.minibatch_ot_pairs",
            note="Crossed pairs cost 1.1² + 0.9² = 2.02; uncrossed 0.1² + 0.1² = 0.02: the assignment uncrosses.",
            atol=0.0,
        ),
        ReferenceCase(
            name="tilted_source_gaussian",
            inputs={"m": 2.0, "s": 0.0, "eps": 2.0},
            expected={"mean_var": [1.0, 0.5]},
            compute=_tilt,
            function=f"{_PATH}.tilted_source_gaussian",
            note="v = 0 + 2/2 = 1: N(0, 1)·N(2, 1) ∝ N(1, ½).",
            atol=1e-15,
        ),
    ]
