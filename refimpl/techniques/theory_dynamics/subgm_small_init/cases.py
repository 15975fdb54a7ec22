"""Reference cases of robust matrix sensing: the catalogue's sub-gradient by hand, one SubGM step by hand,
and the expected sign measurement of a diagonal matrix."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from . import expected_sign_measurement, subgradient

_PATH = "refimpl.techniques.theory_dynamics.subgm_small_init"


def _subgradient(A, y, U):
    return {"g": subgradient(np.asarray(A), np.asarray(y), np.asarray(U))}


def _sign_mean(X):
    return {"E": expected_sign_measurement(np.asarray(X))}


def reference_cases() -> list:
    return [
        ReferenceCase(
            name="subgradient_one_measurement",
            inputs={"A": [[[1.0, 0.0], [0.0, 0.0]]], "y": [0.0], "U": [[1.0], [0.0]]},
            expected={"g": [[2.0], [0.0]]},
            compute=_subgradient,
            function=f"{_PATH}.subgradient",
            note="⟨A, UUᵀ⟩ − y = 1 − 0 = 1, sign 1; (A + Aᵀ)U = [[2, 0], [0, 0]]·(1, 0)ᵀ = (2, 0)ᵀ (the catalogue's case).",
            atol=1e-15,
        ),
        ReferenceCase(
            name="subgradient_two_measurements",
            inputs={
                "A": [[[0.0, 1.0], [0.0, 0.0]], [[1.0, 0.0], [0.0, 1.0]]],
                "y": [5.0, 0.0],
                "U": [[1.0], [1.0]],
            },
            expected={"g": [[0.5], [0.5]]},
            compute=_subgradient,
            function=f"{_PATH}.subgradient",
            note="UUᵀ = all ones: residuals 1 − 5 = −4 (sign −1) and 2 − 0 = 2 (sign +1); G = (−A₁ + A₂)/2 = "
            "[[0.5, −0.5], [0, 0.5]], G + Gᵀ = [[1, −0.5], [−0.5, 1]], and (G + Gᵀ)(1, 1)ᵀ = (0.5, 0.5).",
            atol=1e-15,
        ),
        ReferenceCase(
            name="expected_sign_measurement_diagonal",
            inputs={"X": [[3.0, 0.0], [0.0, 4.0]]},
            expected={"E": [[np.sqrt(2 / np.pi) * 0.6, 0.0], [0.0, np.sqrt(2 / np.pi) * 0.8]]},
            compute=_sign_mean,
            function=f"{_PATH}.expected_sign_measurement",
            note="‖X‖_F = 5: √(2/π)·X/5 = √(2/π)·diag(0.6, 0.8).",
            atol=1e-15,
        ),
    ]
