"""Reference cases of the field-space perceptron, by hand: the preactivation moments of a tiny example, the
Bernoulli KL, the overlap-to-error relation, and the teacher pair's overlap."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from . import bernoulli_kl, generalization_error, preactivation_moments, teacher_pair

_PATH = "refimpl.techniques.theory_generalization.statmech_continual_binary"


def _moments(m, X):
    mu, s2 = preactivation_moments(np.asarray(m), np.asarray(X))
    return {"mu": mu, "s2": s2 - 1e-6}


def _kl(m, m_prior):
    return {"kl": np.array([bernoulli_kl(m, m_prior)])}


def _err(w, teacher):
    return {"error": np.array([generalization_error(w, teacher)])}


def _pair(N, flip_fraction):
    t1, t2 = teacher_pair(N, flip_fraction, 0)
    return {"overlap": np.array([t1 @ t2 / N])}


def reference_cases() -> list:
    return [
        ReferenceCase(
            name="preactivation_moments",
            inputs={"m": [1.0, 0.0, -0.5, 0.5], "X": [[1.0, 2.0, 2.0, 0.0]]},
            expected={"mu": [0.0], "s2": [(0 + 4 + 4 * 0.75 + 0) / 4]},
            compute=_moments,
            function=f"{_PATH}.preactivation_moments",
            note="μ = (1·1 + 0·2 − 0.5·2 + 0)/√4 = 0; s² = (0·1 + 1·4 + 0.75·4 + 0.75·0)/4 = 7/4 (floor 10⁻⁶ removed).",
            atol=1e-12,
        ),
        ReferenceCase(
            name="bernoulli_kl",
            inputs={"m": [0.0], "m_prior": [0.5]},
            expected={"kl": [0.5 * np.log(0.5 / 0.75) + 0.5 * np.log(0.5 / 0.25)]},
            compute=_kl,
            function=f"{_PATH}.bernoulli_kl",
            note="p = ½ against p' = ¾: ½ log(⅔) + ½ log 2 = ½ log(4/3).",
            atol=1e-12,
        ),
        ReferenceCase(
            name="error_from_overlap",
            inputs={"w": [1.0, 1.0, 1.0, 1.0], "teacher": [1.0, 1.0, 1.0, -1.0]},
            expected={"error": [1 / 3]},
            compute=_err,
            function=f"{_PATH}.generalization_error",
            note="R = 2/4 = ½; arccos(½)/π = ⅓.",
            atol=1e-15,
        ),
        ReferenceCase(
            name="teacher_pair_overlap",
            inputs={"N": 50, "flip_fraction": 0.2},
            expected={"overlap": [0.6]},
            compute=_pair,
            function=f"{_PATH}.teacher_pair",
            note="10 of 50 signs flipped: overlap (40 − 10)/50 = 0.6.",
            atol=1e-15,
        ),
    ]
