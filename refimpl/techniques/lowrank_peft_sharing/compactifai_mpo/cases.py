"""Reference cases of CompactifAI's MPO: the Kronecker product at bond dimension 1 and parameter counts."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from . import mpo_contract, mpo_decompose, mpo_param_count

_MOD = "refimpl.techniques.lowrank_peft_sharing.compactifai_mpo"


def reference_cases() -> list:
    def kron_case(A, B):
        cores, disc = mpo_decompose(
            np.kron(A, B), A.shape[:1] + B.shape[:1], A.shape[1:] + B.shape[1:], chi=1
        )
        return {"W": mpo_contract(cores).data, "discarded": np.array(disc)}

    def count_case(chi):
        return {"count": mpo_param_count((4, 4, 4), (4, 4, 4), int(chi))}

    A = np.array([[1.0, 2.0], [3.0, 4.0]])
    B = np.array([[0.0, 1.0, -1.0], [2.0, 0.5, 1.0]])
    return [
        ReferenceCase(
            "kronecker_is_bond_one",
            {"A": A, "B": B},
            {"W": np.kron(A, B), "discarded": np.array([0.0])},
            kron_case,
            function=f"{_MOD}.mpo_decompose",
            note="by hand: A⊗B permuted to (i1 j1)(i2 j2) is the rank-1 matrix vec(A) vec(B)ᵀ",
            atol=1e-12,
        ),
        ReferenceCase(
            "params_chi2",
            {"chi": 2},
            {"count": np.array(16 * 2 + 2 * 16 * 2 + 2 * 16)},
            count_case,
            function=f"{_MOD}.mpo_param_count",
            note="arithmetic: 1·16·2 + 2·16·2 + 2·16·1 = 128",
            atol=0,
        ),
        ReferenceCase(
            "params_chi16_full",
            {"chi": 16},
            {"count": np.array(16 * 16 + 16 * 16 * 16 + 16 * 16)},
            count_case,
            function=f"{_MOD}.mpo_param_count",
            note="arithmetic: bonds capped at 16 = min(16, 256): 256 + 4096 + 256 = 4608",
            atol=0,
        ),
    ]
