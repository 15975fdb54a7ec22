"""Reference cases of the optimally weighted ensemble: weights worked by hand for two models, and the
active-set solver on a small QP whose optimum is known in closed form."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from . import ensemble_mse, ensemble_weights, simplex_qp

_PKG = "refimpl.techniques.merging_averaging.optimal_ensemble_qp"


def reference_cases() -> list:
    def weights(P, y):
        w = ensemble_weights(np.asarray(P), np.asarray(y))
        return {"w": w, "mse": np.array(ensemble_mse(P, y, w))}

    def qp(H, g):
        return {"w": simplex_qp(np.asarray(H), np.asarray(g))}

    e1, e2 = np.array([1.0, 2.0, 0.0]), np.array([-1.0, 0.0, 1.0])  # residuals P_j − y with y = 0
    w1 = float(np.clip(e2 @ (e2 - e1) / np.sum((e1 - e2) ** 2), 0, 1))
    return [
        ReferenceCase(
            "symmetric_pair",
            {"P": [[1.0, -1.0], [1.0, -1.0]], "y": [0.0, 0.0]},
            {"w": np.array([0.5, 0.5]), "mse": np.array(0.0)},
            weights,
            function=f"{_PKG}.ensemble_weights",
            note="by hand: the two predictions cancel at w = [1/2, 1/2]",
            atol=1e-12,
        ),
        ReferenceCase(
            "two_model_closed_form",
            {"P": np.column_stack([e1, e2]), "y": np.zeros(3)},
            {"w": np.array([w1, 1 - w1])},
            weights,
            function=f"{_PKG}.ensemble_weights",
            note="w_1 = clip(e_2·(e_2 − e_1)/‖e_1 − e_2‖², 0, 1) = (1+0+1)/(4+4+1) = 2/9",
            atol=1e-12,
        ),
        ReferenceCase(
            "dominant_model_gets_all",
            {"P": [[1.0, 3.0], [2.0, 5.0]], "y": [1.0, 2.0]},
            {"w": np.array([1.0, 0.0]), "mse": np.array(0.0)},
            weights,
            function=f"{_PKG}.ensemble_weights",
            note="by hand: model 1 is exact, so any weight on model 2 adds error",
            atol=1e-12,
        ),
        ReferenceCase(
            "projection_onto_simplex",
            {"H": 2 * np.eye(3), "g": [-2.0, -1.0, 1.0]},
            {"w": np.array([0.75, 0.25, 0.0])},
            qp,
            function=f"{_PKG}.simplex_qp",
            note="by hand: ½wᵀ(2I)w + gᵀw = ‖w + g/2‖² + const, the projection of (1, 0.5, −0.5) onto the "
            "simplex: shift by τ = 0.25 on the support {1, 2} → (0.75, 0.25, 0)",
            atol=1e-12,
        ),
    ]
