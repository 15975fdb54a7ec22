"""Reference cases worked by hand: the LASSO on orthogonal designs (one soft threshold), the sampling
proportions and integer allocations for a given ν, the complexities ‖ν‖₁², ‖ν‖₀‖ν‖₂², M‖ν‖₂², and the
minimum-ℓ1 / minimum-ℓ2 relevances of a 2 × 3 system."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from . import allocate, allocate_capped, complexity, lasso, min_l1_relevance, min_l2_relevance, proportions

_MOD = "refimpl.techniques.data_weighting_selection.active_mtrl_lasso"
_LASSO = {"objective": "(1/2n)||y - Z nu||^2 + lam ||nu||_1 (n = rows of Z)"}


def reference_cases() -> list:
    def lasso_case(Z, y, lam):
        return {"nu": lasso(Z, y, lam)}

    def prop_case(nu):
        return {s: proportions(nu, s) for s in ("l1", "l2", "uniform")}

    def alloc_case(nu, budget, strategy):
        return {"counts": allocate(nu, budget, strategy)}

    def capped_case(nu, budget, strategy, caps):
        return {"counts": allocate_capped(nu, budget, strategy, caps)}

    def cx_case(nu):
        return {s: np.array(complexity(nu, s)) for s in ("l1", "l2", "uniform")}

    def rel_case(W, w0):
        return {"nu1": min_l1_relevance(W, w0), "nu2": min_l2_relevance(W, w0)}

    nu = np.array([0.6, -0.3, 0.0, 0.1])
    return [
        ReferenceCase(
            "lasso_orthogonal_2x2",
            {"Z": np.array([[1.0, 1.0], [1.0, -1.0]]), "y": np.array([3.0, 1.0]), "lam": 1.5},
            {"nu": np.array([0.5, 0.0])},
            lasso_case,
            note="ZᵀZ = 2I so ν = S_λ(Zᵀy/2) = S_1.5([2, 1]) = [0.5, 0]",
            function=f"{_MOD}.lasso",
            conventions=_LASSO,
        ),
        ReferenceCase(
            "lasso_orthogonal_4x3",
            {
                "Z": np.array([[1.0, 1, 1], [1, -1, 1], [1, 1, -1], [1, -1, -1]]),
                "y": np.array([4.0, 0.0, 2.0, -2.0]),
                "lam": 1.2,
            },
            {"nu": np.array([0.0, 0.8, 0.0])},
            lasso_case,
            note="Hadamard columns, ZᵀZ = 4I: Zᵀy/4 = [1, 2, 1]; S_1.2 → [0, 0.8, 0]",
            function=f"{_MOD}.lasso",
            conventions=_LASSO,
        ),
        ReferenceCase(
            "proportions",
            {"nu": nu},
            {
                "l1": np.array([0.6, 0.3, 0.0, 0.1]),
                "l2": np.array([0.36, 0.09, 0.0, 0.01]) / 0.46,
                "uniform": np.full(4, 0.25),
            },
            prop_case,
            note="|ν|/‖ν‖₁ with ‖ν‖₁ = 1; ν²/‖ν‖₂² with ‖ν‖₂² = 0.46; 1/M",
            function=f"{_MOD}.proportions",
        ),
        ReferenceCase(
            "allocate_l1_budget7",
            {"nu": nu, "budget": 7, "strategy": "l1"},
            {"counts": np.array([4, 2, 0, 1])},
            alloc_case,
            note="7·[0.6, 0.3, 0, 0.1] = [4.2, 2.1, 0, 0.7]: floors [4, 2, 0, 0], the one left to the largest remainder 0.7",
            function=f"{_MOD}.allocate",
            conventions={"rounding": "largest remainder, ties to the lower index"},
        ),
        ReferenceCase(
            "allocate_l2_budget10",
            {"nu": nu, "budget": 10, "strategy": "l2"},
            {"counts": np.array([8, 2, 0, 0])},
            alloc_case,
            note="10·[36, 9, 0, 1]/46 = [7.83, 1.96, 0, 0.22]: floors [7, 1, 0, 0], two left to remainders .96, .83",
            function=f"{_MOD}.allocate",
            conventions={"rounding": "largest remainder, ties to the lower index"},
        ),
        ReferenceCase(
            "allocate_capped_l1",
            {
                "nu": np.array([1.0, 0.5, 0.0, 0.1]),
                "budget": 10,
                "strategy": "l1",
                "caps": np.array([3, 10, 5, 1]),
            },
            {"counts": np.array([3, 6, 0, 1])},
            capped_case,
            note="10·[1, .5, 0, .1]/1.6 = [6.25, 3.125, 0, .625] → [6, 3, 0, 1], capped to [3, 3, 0, 1]; the 3 "
            "left go to the open sources ∝ |ν| = [.5, 0] (source 2 has ν = 0) → [3, 6, 0, 1]",
            function=f"{_MOD}.allocate_capped",
            conventions={"rounding": "largest remainder, ties to the lower index; overflow re-spread"},
        ),
        ReferenceCase(
            "complexities",
            {"nu": nu},
            {"l1": np.array(1.0), "l2": np.array(3 * 0.46), "uniform": np.array(4 * 0.46)},
            cx_case,
            note="‖ν‖₁² = 1, ‖ν‖₀‖ν‖₂² = 3·0.46, M‖ν‖₂² = 4·0.46",
            function=f"{_MOD}.complexity",
        ),
        ReferenceCase(
            "relevances_2x3",
            {"W": np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]]), "w0": np.array([1.0, 1.0])},
            {"nu1": np.array([0.0, 0.0, 1.0]), "nu2": np.array([1.0, 1.0, 2.0]) / 3},
            rel_case,
            note="solutions (1−t, 1−t, t): ‖·‖₁ = 2|1−t| + |t| least at t = 1; ‖·‖₂² = 2(1−t)² + t² least at t = ⅔",
            function=f"{_MOD}.min_l1_relevance",
        ),
    ]
