"""Reference cases of the hierarchical-polynomial study, by hand: the degree-2 Hermite features at a point, the
one-step feature estimate, the alignment formula and the polynomial kernel's Gram entry."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from . import feature_alignment, hermite2_features, learn_feature, polynomial_kernel_ridge

_PATH = "refimpl.techniques.theory_dynamics.hierarchical_polynomials"


def _psi(X):
    return {"psi": hermite2_features(np.asarray(X))[0]}


def _step(Psi, h):
    return {"beta_hat": learn_feature(np.asarray(Psi), np.asarray(h))}


def _align(c, T, n1):
    return {"corr2": np.array([feature_alignment(c, T, n1)])}


def _krr(X, y, X_test, degree, lam):
    return {"pred": polynomial_kernel_ridge(np.asarray(X), np.asarray(y), np.asarray(X_test), degree, lam)}


def reference_cases() -> list:
    return [
        ReferenceCase(
            name="hermite2_at_a_point",
            inputs={"X": [[1.0, 2.0]]},
            expected={"psi": [0.0, 3 / np.sqrt(2), 2.0]},
            compute=_psi,
            function=f"{_PATH}.hermite2_features",
            note="(1 − 1)/√2 = 0, (4 − 1)/√2 = 3/√2, x₁x₂ = 2.",
            atol=1e-15,
        ),
        ReferenceCase(
            name="one_step_feature",
            inputs={"Psi": [[1.0, 0.0], [0.0, 2.0]], "h": [3.0, 1.0]},
            expected={"beta_hat": [1.5, 1.0]},
            compute=_step,
            function=f"{_PATH}.learn_feature",
            note="(3·(1, 0) + 1·(0, 2))/2 = (1.5, 1).",
            atol=1e-15,
        ),
        ReferenceCase(
            name="alignment_formula",
            inputs={"c": 2.0, "T": 104.0, "n1": 100},
            expected={"corr2": [0.8]},
            compute=_align,
            function=f"{_PATH}.feature_alignment",
            note="c² = 4, (T − c²)/n₁ = 1: 4/(4 + 1) = 0.8.",
            atol=1e-15,
        ),
        ReferenceCase(
            name="kernel_ridge_one_point",
            inputs={"X": [[1.0, 1.0]], "y": [2.0], "X_test": [[1.0, 1.0]], "degree": 2, "lam": 1.0},
            expected={"pred": [2.0 * 4 / 5]},
            compute=_krr,
            function=f"{_PATH}.polynomial_kernel_ridge",
            note="k = (1 + 2/2)² = 4; α = 2/(4 + 1·1); prediction 4α = 8/5.",
            atol=1e-14,
        ),
    ]
