"""Reference cases of SNNK, all by hand: the positive random features of x = [1, 0] with ω = e₁, e₂; the SNNK
estimate of exp(xᵀw) from two hand-picked ω; the ReLU features of a small input; and the arc-cosine kernel that
ReLU-SNNK estimates at θ = 0 and θ = π/2."""

from __future__ import annotations

import math

import numpy as np

from ....catalog import ReferenceCase
from . import exact_layer, features, snnk

_P = "refimpl.techniques.architectures.snnk."


def reference_cases() -> list:
    conv = {
        "features": "Φ(x) = m^{-1/2} [φ(x, ω_r)]_r with the ω_r the rows of G (m, d)",
        "exp": "φ(x, ω) = exp(ωᵀx − ‖x‖²/2) (positive random features), ψ = φ",
        "relu": "φ(x, ω) = max(ωᵀx, 0), ψ = φ",
    }
    e = math.e
    return [
        ReferenceCase(
            "prf_features_x_e1_identity_omegas",
            {"X": np.array([[1.0, 0.0]]), "G": np.eye(2), "kind": "exp"},
            {"out": np.array([[e**0.5, e**-0.5]]) / math.sqrt(2)},
            lambda X, G, kind: {"out": features(X, G, kind).data},
            function=_P + "features",
            note="by hand: ωᵀx = [1, 0], ‖x‖²/2 = 1/2, so φ = [e^{1/2}, e^{-1/2}]/√2",
            atol=1e-12,
            conventions=conv,
        ),
        ReferenceCase(
            "snnk_exp_two_omegas",
            {
                "X": np.array([[1.0, 0.0]]),
                "W": np.array([[0.0, 1.0]]),
                "G": np.array([[1.0, 1.0], [-1.0, -1.0]]),
            },
            {"out": np.array([[(e + e**-3) / 2]])},
            lambda X, W, G: {"out": snnk(X, W, G, "exp").data},
            function=_P + "snnk",
            note="by hand: ωᵀx = ωᵀw = ±1, ‖x‖² = ‖w‖² = 1: Φ = Ψ = [e^{1/2}, e^{-3/2}]/√2, so ΦᵀΨ = (e + e^{-3})/2 "
            "(a 2-sample estimate of exp(xᵀw) = 1)",
            atol=1e-12,
            conventions=conv,
        ),
        ReferenceCase(
            "relu_features_small",
            {
                "X": np.array([[1.0, -2.0]]),
                "G": np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]),
                "kind": "relu",
            },
            {"out": np.array([[1.0, 0.0, 0.0]]) / math.sqrt(3)},
            lambda X, G, kind: {"out": features(X, G, kind).data},
            function=_P + "features",
            note="by hand: ωᵀx = [1, −2, −1], relu = [1, 0, 0], divided by √3",
            atol=1e-12,
            conventions=conv,
        ),
        ReferenceCase(
            "arccos_kernel_theta_0_and_half_pi",
            {"X": np.array([[1.0, 0.0]]), "W": np.array([[2.0, 0.0], [0.0, 1.0]]), "kind": "relu"},
            {"out": np.array([[1.0, 1.0 / (2 * math.pi)]])},
            lambda X, W, kind: {"out": exact_layer(X, W, kind)},
            function=_P + "exact_layer",
            note="E[relu(ωᵀx) relu(ωᵀw)] = ‖x‖‖w‖(sin θ + (π−θ) cos θ)/(2π): θ = 0, ‖w‖ = 2 gives 2·π/(2π) = 1; "
            "θ = π/2, ‖w‖ = 1 gives 1/(2π)",
            atol=1e-12,
            conventions={"relu": "the first-order arc-cosine kernel, ω ~ N(0, I)"},
        ),
    ]
