"""Reference cases of self-distillation in KRR: the catalogue's eigen-shrinkage factors with d = λ = 1 by
hand, and two rounds on a diagonal kernel matrix by hand."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from . import distillation_factors, self_distill

_PATH = "refimpl.techniques.theory_dynamics.self_distillation_krr"


def _factors(eigvals, lam, alpha, rounds):
    return {"c": distillation_factors(np.asarray(eigvals), lam, alpha, rounds)}


def _rounds(K, y, lam, alpha, rounds):
    K = np.asarray(K, dtype=np.float64)
    return {"f": self_distill(K, K, np.asarray(y, dtype=np.float64), lam, alpha, rounds)}


def reference_cases() -> list:
    return [
        ReferenceCase(
            name="shrinkage_pure",
            inputs={"eigvals": [1.0], "lam": 1.0, "alpha": 0.0, "rounds": 2},
            expected={"c": [[0.5], [0.25]]},
            compute=_factors,
            function=f"{_PATH}.distillation_factors",
            note="d = λ = 1: s = 1/2; pure self-distillation multiplies by s each round: 0.5, 0.25.",
            atol=1e-15,
        ),
        ReferenceCase(
            name="shrinkage_mixed",
            inputs={"eigvals": [1.0], "lam": 1.0, "alpha": 0.5, "rounds": 2},
            expected={"c": [[0.5], [0.375]]},
            compute=_factors,
            function=f"{_PATH}.distillation_factors",
            note="α = 0.5: c₂ = s(α + (1 − α)c₁) = 0.5·(0.5·1 + 0.5·0.5) = 0.375 (the catalogue's case).",
            atol=1e-15,
        ),
        ReferenceCase(
            name="two_rounds_diagonal_kernel",
            inputs={"K": [[3.0, 0.0], [0.0, 1.0]], "y": [2.0, 4.0], "lam": 1.0, "alpha": 0.5, "rounds": 2},
            expected={"f": [[1.5, 2.0], [1.3125, 1.5]]},
            compute=_rounds,
            function=f"{_PATH}.self_distill",
            note="K diagonal: s = (3/4, 1/2). Round 1: f = s·y = (1.5, 2); targets 0.5·y + 0.5·f = (1.75, 3); "
            "round 2: s·targets = (0.75·1.75, 0.5·3) = (1.3125, 1.5).",
            atol=1e-14,
        ),
    ]
