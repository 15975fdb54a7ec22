"""Reference cases of the weight compander, worked by hand from Eq. 1, 3, 4 and Table VII."""

from __future__ import annotations

import math

import numpy as np

from ....catalog import ReferenceCase
from . import psi, psi_derivative, psi_inverse

_FN = "refimpl.techniques.regularization_normalization.weight_compander."


def reference_cases() -> list:
    def forward(v, a, b, kind):
        return {"w": psi(np.asarray(v, dtype=np.float64), float(a), float(b), str(kind)).data}

    def derivative(v, a, b, kind):
        return {"dw_dv": psi_derivative(np.asarray(v, dtype=np.float64), float(a), float(b), str(kind))}

    def inverse(w, a, b, kind):
        return {"v": psi_inverse(np.asarray(w, dtype=np.float64), float(a), float(b), str(kind))}

    pi = math.pi
    return [
        ReferenceCase(
            "arctan_a0.8_b0.5",
            {"v": [0.5, -0.5, 0.0, 1e9], "a": 0.8, "b": 0.5, "kind": "arctan"},
            {"w": np.array([0.8 * pi / 4, -0.8 * pi / 4, 0.0, 0.8 * pi / 2])},
            forward,
            function=_FN + "psi",
            note="by hand (Eq. 1): Ψ(b) = a·arctan(1) = aπ/4, Ψ odd, Ψ(0) = 0, Ψ(v) → aπ/2 (the bound) as v → ∞",
            atol=1e-9,
        ),
        ReferenceCase(
            "arctan_slope_a0.8_b0.5",
            {"v": [0.0, 0.5, -1.0], "a": 0.8, "b": 0.5, "kind": "arctan"},
            {"dw_dv": np.array([0.8 / 0.5, 0.8 / (2 * 0.5), 0.8 * 0.5 / 1.25])},
            derivative,
            function=_FN + "psi_derivative",
            note="by hand (Eq. 3): a/b at v = 0, a/(2b) at v = b, ab/(b² + v²) = 0.4/1.25 at v = −1",
            atol=1e-12,
        ),
        ReferenceCase(
            "arctan_init_a0.5_b1",
            {"w": [0.5 * pi / 4, -0.5 * pi / 6, 0.0], "a": 0.5, "b": 1.0, "kind": "arctan"},
            {"v": np.array([1.0, -1 / math.sqrt(3), 0.0])},
            inverse,
            function=_FN + "psi_inverse",
            note="by hand (Eq. 4): v = b·tan(w/a): tan(π/4) = 1, tan(−π/6) = −1/√3",
            atol=1e-12,
        ),
        ReferenceCase(
            "arsinh_a0.5_b2",
            {"v": [0.75 * 2, -0.75 * 2, 0.0], "a": 0.5, "b": 2.0, "kind": "arsinh"},
            {"w": np.array([0.5 * math.log(2.0), -0.5 * math.log(2.0), 0.0])},
            forward,
            function=_FN + "psi",
            note="by hand (Table VII): arsinh(3/4) = ln(3/4 + √(1 + 9/16)) = ln(3/4 + 5/4) = ln 2",
            atol=1e-12,
        ),
        ReferenceCase(
            "erf_a0.6_b0.7",
            {"v": [0.0, 1e3, -1e3], "a": 0.6, "b": 0.7, "kind": "erf"},
            {"w": np.array([0.0, 0.6, -0.6])},
            forward,
            function=_FN + "psi",
            note="by hand (Table VII): erf(0) = 0 and erf(±∞) = ±1, so w ∈ (−a, a)",
            atol=1e-12,
        ),
        ReferenceCase(
            "erf_slope_a0.6_b0.7",
            {"v": [0.0], "a": 0.6, "b": 0.7, "kind": "erf"},
            {"dw_dv": np.array([0.6 * 2 / (0.7 * math.sqrt(pi))])},
            derivative,
            function=_FN + "psi_derivative",
            note="by hand: d/dv a·erf(v/b) at 0 = 2a/(b√π)",
            atol=1e-12,
        ),
    ]
