"""Reference cases of Reversible Model Merging: reconstructions and errors of hand examples whose singular
values are known in closed form (Eckart–Young: the error is the tail singular values).  Coefficients and
basis vectors are not exported — their signs are the SVD's convention; reconstructions are not."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from . import reconstruct_all, reconstruction_error, reversible_merge, storage

_PKG = "refimpl.techniques.merging_averaging.reversible_model_merging"
_CONV = {
    "scheme": "uncentred: X's columns are the task tensors as they are (no mean subtracted)",
    "granularity": "one basis and one set of coefficients per tensor (per layer, per LoRA factor)",
}


def reference_cases() -> list:
    def merge(tasks, R):
        deltas = [{"w": np.asarray(t, dtype=np.float64)} for t in tasks]
        m = reversible_merge(deltas, R)
        return {
            "reconstructed": np.stack([r["w"] for r in reconstruct_all(m)]),
            "rel_error": np.array(reconstruction_error(deltas, m)),
            "storage": np.array(storage(m)),
        }

    def factors(A, B, R):
        deltas = [
            {"A": np.asarray(a, dtype=np.float64), "B": np.asarray(b, dtype=np.float64)} for a, b in zip(A, B)
        ]
        m = reversible_merge(deltas, R)
        rec = reconstruct_all(m)
        return {"delta_W": np.stack([r["B"] @ r["A"] for r in rec]), "storage": np.array(storage(m))}

    return [
        ReferenceCase(
            "axis_tasks_R1",
            {"tasks": [[3.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 1.0]], "R": 1},
            {
                "reconstructed": np.array([[3.0, 0, 0], [0, 0, 0], [0, 0, 0]]),
                "rel_error": np.array(np.sqrt((2**2 + 1**2) / (3**2 + 2**2 + 1**2))),
                "storage": np.array(3 * 1 + 1 * 3),
            },
            merge,
            function=f"{_PKG}.reversible_merge",
            note="by hand: X = diag(3, 2, 1), σ = 3, 2, 1; R = 1 keeps the first axis; error² = 2² + 1² "
            "(Eckart–Young), relative to ‖X‖² = 14; storage = R·p + R·n = 3 + 3",
            atol=1e-12,
            conventions=_CONV,
        ),
        ReferenceCase(
            "axis_tasks_R2",
            {"tasks": [[3.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 1.0]], "R": 2},
            {
                "reconstructed": np.array([[3.0, 0, 0], [0, 2.0, 0], [0, 0, 0]]),
                "rel_error": np.array(np.sqrt(1 / 14)),
                "storage": np.array(2 * 3 + 2 * 3),
            },
            merge,
            function=f"{_PKG}.reversible_merge",
            note="by hand: R = 2 keeps the axes of σ = 3 and 2; error² = σ_3² = 1 of ‖X‖² = 14",
            atol=1e-12,
            conventions=_CONV,
        ),
        ReferenceCase(
            "shared_direction_R1",
            {"tasks": [[1.0, 1.0], [2.0, 2.0], [1.0, -1.0]], "R": 1},
            {
                "reconstructed": np.array([[1.0, 1.0], [2.0, 2.0], [0.0, 0.0]]),
                "rel_error": np.array(np.sqrt(2 / 12)),
                "storage": np.array(1 * 2 + 1 * 3),
            },
            merge,
            function=f"{_PKG}.reversible_merge",
            note="by hand: X Xᵀ = [[6, 4], [4, 6]], eigenvalues 10 and 2 (σ² ), top direction (1, 1)/√2; "
            "projecting each task onto it gives (1,1), (2,2), (0,0); error² = σ_2² = 2 of ‖X‖² = 12",
            atol=1e-12,
            conventions=_CONV,
        ),
        ReferenceCase(
            "lora_factors_full_basis_exact",
            {
                "A": [[[1.0, 0.0, 2.0], [0.0, 1.0, -1.0]], [[0.5, 1.0, 0.0], [2.0, 0.0, 1.0]]],
                "B": [[[1.0, 2.0], [0.0, 1.0]], [[-1.0, 0.0], [3.0, 1.0]]],
                "R": 2,
            },
            {
                "delta_W": np.array(
                    [
                        [[1.0, 2.0, 0.0], [0.0, 1.0, -1.0]],
                        [[-0.5, -1.0, 0.0], [3.5, 3.0, 1.0]],
                    ]
                ),
                "storage": np.array(2 * 6 + 2 * 2 + 2 * 4 + 2 * 2),
            },
            factors,
            function=f"{_PKG}.reversible_merge",
            note="by hand: R = n = 2 reconstructs both tasks' factors exactly, so ΔW_i = B_i A_i: "
            "[[1,2],[0,1]]·[[1,0,2],[0,1,−1]] and [[−1,0],[3,1]]·[[0.5,1,0],[2,0,1]]; storage = R·(6 + 4) "
            "+ R·n per tensor = 20 + 8",
            atol=1e-12,
            conventions=_CONV,
        ),
    ]
