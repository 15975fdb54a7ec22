"""Reference cases worked by hand: the inverse Christoffel function at x = 1 and x = 0, and the exact
recovery of x² by weighted least squares on three points."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from . import christoffel, weighted_least_squares

_MOD = "refimpl.techniques.data_weighting_selection.dpp_weighted_least_squares"


def reference_cases() -> list:
    def k_case(x, m):
        return {"k": christoffel(np.asarray(x), m)}

    def wls_case(x, y, m):
        return {"c": weighted_least_squares(np.asarray(y), np.asarray(x), m)}

    return [
        ReferenceCase(
            "christoffel_m3",
            {"x": np.array([1.0, 0.0, -1.0]), "m": 3},
            {"k": np.array([9.0, 2.25, 9.0])},
            k_case,
            note="φ_j(±1)² = 2j+1 → 1+3+5 = 9 = m²; at 0: 1 + 0 + 5·(−½)² = 2.25",
            function=f"{_MOD}.christoffel",
        ),
        ReferenceCase(
            "wls_recovers_x_squared",
            {"x": np.array([-1.0, 0.0, 1.0]), "y": np.array([1.0, 0.0, 1.0]), "m": 3},
            {"c": np.array([1.0 / 3.0, 0.0, 2.0 / (3.0 * np.sqrt(5.0))])},
            wls_case,
            note="x² = ⅓P₀ + ⅔P₂ = ⅓φ₀ + (2/(3√5))φ₂; 3 points, 3 unknowns: exact whatever the weights",
            function=f"{_MOD}.weighted_least_squares",
            conventions={"basis": "orthonormal Legendre w.r.t. dx/2 on [-1, 1]"},
        ),
    ]
