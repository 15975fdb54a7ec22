"""Reference cases of random-feature ridge regression and the omniscient risk: the catalogue's ridge hand
case, the ReLU kernel at two angles, and the effective ridge and risk of a one-mode problem solved by hand
(the golden ratio)."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from . import effective_ridge, omniscient_risk, relu_kernel, rf_ridge

_PATH = "refimpl.techniques.theory_dynamics.rf_more_is_better"
_PHI = (1 + np.sqrt(5)) / 2


def _ridge(Phi, y, delta):
    return {"a": rf_ridge(np.asarray(Phi), np.asarray(y), delta)}


def _kernel(X, Z):
    return {"k": relu_kernel(np.asarray(X), np.asarray(Z))}


def _one_mode(lam, v, n, delta, noise_var):
    r = omniscient_risk(np.asarray(lam), np.asarray(v), n, delta, noise_var)
    return {"kappa": effective_ridge(np.asarray(lam), n, delta), "test": r["test"], "train": r["train"]}


def reference_cases() -> list:
    return [
        ReferenceCase(
            name="ridge_identity_features",
            inputs={"Phi": [[1.0, 0.0], [0.0, 1.0]], "y": [1.0, 2.0], "delta": 1.0},
            expected={"a": [0.5, 1.0]},
            compute=_ridge,
            function=f"{_PATH}.rf_ridge",
            note="Φ = I₂, λ = 1: a = (I + I)⁻¹ y = y/2 = (0.5, 1.0) (the catalogue's case).",
            atol=1e-15,
        ),
        ReferenceCase(
            name="relu_kernel_two_angles",
            inputs={"X": [[1.0, 0.0]], "Z": [[1.0, 0.0], [0.0, 1.0]]},
            expected={"k": [[0.5, 1 / (2 * np.pi)]]},
            compute=_kernel,
            function=f"{_PATH}.relu_kernel",
            note="ϑ = 0: (0 + π·1)/(2π) = ½ = E relu(g)²; ϑ = π/2: (1 + 0)/(2π) = E relu(g) relu(g') = (1/√(2π))².",
            atol=1e-15,
        ),
        ReferenceCase(
            name="one_mode_golden_ratio",
            inputs={"lam": [1.0], "v": [1.0], "n": 1, "delta": 1.0, "noise_var": 0.0},
            expected={"kappa": _PHI, "test": 1 / np.sqrt(5), "train": 1 / (_PHI**2 * np.sqrt(5))},
            compute=_one_mode,
            function=f"{_PATH}.omniscient_risk",
            note="1/(1 + κ) + 1/κ = 1 ⇔ κ² − κ − 1 = 0 ⇔ κ = φ = (1 + √5)/2; 𝓛 = 1/(1 + φ) = 1/φ², 1 − 𝓛 = 1/φ, "
            "𝓔₀ = 1/(1 − 1/φ⁴); test = 𝓔₀/φ² = φ²/(φ⁴ − 1) = 1/√5; train = (1/φ)² · test.",
            atol=1e-12,
        ),
    ]
