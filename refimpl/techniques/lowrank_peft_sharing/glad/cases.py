"""Reference cases of GLAD on a quadratic loss, where every quantity has a closed form."""

from __future__ import annotations

import numpy as np

from ....autograd import ops
from ....autograd.tensor import Tensor
from ....catalog import ReferenceCase
from . import glad_objective, gradient_norm, sam_perturbation, sam_referenced_gradient

_MOD = "refimpl.techniques.lowrank_peft_sharing.glad"


def _quadratic(A, b, w):
    """L(w) = ½ wᵀA w − bᵀw as a Tensor graph (so its gradient can be differentiated again)."""
    return 0.5 * ops.sum(w * (Tensor(A) @ w)) - ops.sum(Tensor(b) * w)


def reference_cases() -> list:
    def objective_case(A, b, w, lam):
        wt = Tensor(np.array(w, dtype=np.float64), requires_grad=True)
        loss = _quadratic(A, b, wt)
        R = gradient_norm(_quadratic(A, b, wt), [wt])
        J = glad_objective(loss, [wt], lam)
        J.backward()
        return {"R": np.array(float(R.data)), "grad": wt.grad}

    def sam_case(A, b, w, rho, beta):
        g = A @ w - b
        (eps,) = sam_perturbation([g], rho)
        g_sam = A @ (w + eps) - b
        return {"eps": eps, "blend": sam_referenced_gradient([g], [g_sam], beta)[0]}

    A = np.array([[2.0, 0.0], [0.0, 1.0]])
    b = np.array([1.0, 1.0])
    w = np.array([2.0, 5.0])  # g = A w − b = (3, 4), ‖g‖ = 5, H g/‖g‖ = A g/5 = (6, 4)/5
    return [
        ReferenceCase(
            "quadratic_gradient_norm_penalty",
            {"A": A, "b": b, "w": w, "lam": 0.5},
            {"R": np.array(5.0), "grad": np.array([3.0 + 0.5 * 1.2, 4.0 + 0.5 * 0.8])},
            objective_case,
            function=f"{_MOD}.glad_objective",
            note="by hand: g = Aw − b = (3, 4), R = ‖g‖ = 5; ∇(L + λR) = g + λ A g/‖g‖ = (3, 4) + 0.5·(1.2, 0.8)",
            atol=1e-12,
            conventions={"gradient": "R = ‖∇L‖₂ (not squared), exact double-backward gradient"},
        ),
        ReferenceCase(
            "quadratic_sam_referenced_equals_exact",
            {"A": A, "b": b, "w": w, "rho": 0.1, "beta": 5.0},
            {"eps": np.array([0.06, 0.08]), "blend": np.array([3.6, 4.4])},
            sam_case,
            function=f"{_MOD}.sam_referenced_gradient",
            note="by hand: ε = 0.1·(3, 4)/5 = (0.06, 0.08); g_SAM = g + Aε = (3.12, 4.08); with β = λ/ρ = 0.5/0.1, "
            "(1 − β)g + βg_SAM = g + λ A g/‖g‖ = (3.6, 4.4), the exact gradient of the case above (a quadratic)",
            atol=1e-12,
        ),
    ]
