"""Reference cases of LIFT: rank reduction and the principal-weight masks, worked by hand."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from . import budget, rank_reduce, select_mask

_MOD = "refimpl.techniques.lowrank_peft_sharing.lift_principal_weights"


def reference_cases() -> list:
    def lift_case(W, r, k, method="lift"):
        return {"W_r": rank_reduce(W, r), "mask": select_mask(W, k, method, r).astype(np.int64)}

    def budget_case(m, n, lora_rank):
        return {"K": budget((m, n), lora_rank)}

    W = np.array([[3.0, 0.0], [0.0, 1.0]])
    u, u2 = np.array([1.0, 1.0]) / np.sqrt(2), np.array([1.0, -1.0]) / np.sqrt(2)
    v, v2 = np.array([1.0, 2.0]) / np.sqrt(5), np.array([2.0, -1.0]) / np.sqrt(5)
    W2 = 5 * np.outer(u, v) + 3 * np.outer(u2, v2)  # a matrix where |W| and |W_1| disagree
    W2_1 = 5 * np.outer(u, v)  # = (5/√10)·[[1, 2], [1, 2]]
    return [
        ReferenceCase(
            "catalogue_diag_3_1",
            {"W": W, "r": 1, "k": 1},
            {"W_r": np.array([[3.0, 0.0], [0.0, 0.0]]), "mask": np.array([[1, 0], [0, 0]])},
            lift_case,
            function=f"{_MOD}.select_mask",
            note="by hand: the rank-1 part of diag(3, 1) is diag(3, 0); its largest entry is (0, 0)",
            atol=1e-12,
        ),
        ReferenceCase(
            "rank1_vs_magnitude",
            {"W": W2, "r": 1, "k": 2},
            {"W_r": W2_1, "mask": np.array([[0, 1], [0, 1]])},
            lift_case,
            function=f"{_MOD}.select_mask",
            note="by hand: W = 5·u vᵀ + 3·u₂v₂ᵀ (u ⟂ u₂, v ⟂ v₂) = [[11, 7], [−1, 13]]/√10; W_1 = "
            "(5/√10)[[1, 2], [1, 2]] → principal = the 2nd column, while |W| would pick (0, 0) and (1, 1)",
            atol=1e-12,
        ),
        ReferenceCase(
            "released_scripts_take_the_smallest",
            {"W": W2, "r": 1, "k": 2, "method": "lift-smallest"},
            {"W_r": W2_1, "mask": np.array([[1, 0], [1, 0]])},
            lift_case,
            function=f"{_MOD}.select_mask",
            note="by hand: the two smallest of |W_1| = (5/√10)[[1, 2], [1, 2]] are the 1st column (topk with "
            "largest=False, the released scripts' mask type lift_sparse)",
            atol=1e-12,
        ),
        ReferenceCase(
            "budget_equals_lora",
            {"m": 128, "n": 64, "lora_rank": 2},
            {"K": np.array(384)},
            budget_case,
            function=f"{_MOD}.budget",
            note="arithmetic: (128 + 64)·2 = 384 (< 8192)",
            atol=0,
        ),
    ]
