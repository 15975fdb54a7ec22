"""Reference cases of the low-rank initialisation study: the catalogue's participation-ratio case, the
rank-r initialiser's rank and norm, small kernels and the theory's closed form, all worked by hand."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from . import (
    aligned_lowrank_init,
    expected_task_alignment,
    kernel_alignment,
    linear_net_ntk,
    lowrank_init,
    participation_ratio,
    task_alignment,
)

_PKG = "refimpl.techniques.growth_init_scaling.lowrank_init_rich_lazy"


def reference_cases() -> list:
    def pr(values):
        return {"participation_ratio": participation_ratio(np.asarray(values))}

    def init(rows, cols, rank, norm, seed):
        w = lowrank_init((int(rows), int(cols)), int(rank), float(norm), rng=int(seed))
        return {"rank": np.linalg.matrix_rank(w), "frobenius_norm": np.linalg.norm(w)}

    def aligned(rows, directions, norm, seed):
        d = np.asarray(directions, dtype=np.float64)
        w = aligned_lowrank_init((int(rows), d.shape[1]), d, float(norm), rng=int(seed))
        unit = d[0] / np.linalg.norm(d[0])
        return {
            "rank": np.linalg.matrix_rank(w),
            "frobenius_norm": np.linalg.norm(w),
            "row_space_residual": np.linalg.norm(w - np.outer(w @ unit, unit)),
        }

    def theory(singular_values, d, readout_sq_norm):
        return {
            "expected_alignment": expected_task_alignment(singular_values, int(d), float(readout_sq_norm))
        }

    def ka(k1, k2):
        return {"alignment": kernel_alignment(np.asarray(k1), np.asarray(k2))}

    def ta(kernel, y):
        return {"alignment": task_alignment(np.asarray(kernel), np.asarray(y))}

    def ntk(w, a, x):
        return {"kernel": linear_net_ntk(np.asarray(w), np.asarray(a), np.asarray(x))}

    return [
        ReferenceCase(
            "participation_ratio_110",
            {"values": [1.0, 1.0, 0.0]},
            {"participation_ratio": 2.0},
            pr,
            function=f"{_PKG}.participation_ratio",
            note="by hand: (1+1+0)² / (1+1+0) = 4/2 = 2 (the catalogue's case)",
        ),
        ReferenceCase(
            "participation_ratio_31",
            {"values": [3.0, 1.0]},
            {"participation_ratio": 1.6},
            pr,
            function=f"{_PKG}.participation_ratio",
            note="by hand: (3+1)² / (9+1) = 16/10",
        ),
        *(
            ReferenceCase(
                f"lowrank_init_8x6_rank{r}",
                {"rows": 8, "cols": 6, "rank": r, "norm": 3.0, "seed": 5},
                {"rank": float(r), "frobenius_norm": 3.0},
                init,
                function=f"{_PKG}.lowrank_init",
                note="the requested rank (numpy matrix_rank of the result) and Frobenius norm",
                atol32=1e-5,
            )
            for r in (1, 3, 6)
        ),
        ReferenceCase(
            "aligned_rank1_along_34",
            {"rows": 3, "directions": [[3.0, 4.0]], "norm": 5.0, "seed": 0},
            {"rank": 1.0, "frobenius_norm": 5.0, "row_space_residual": 0.0},
            aligned,
            function=f"{_PKG}.aligned_lowrank_init",
            note="by construction: rank 1, norm 5, every row a multiple of (0.6, 0.8) (residual after "
            "projecting the rows on that direction is 0)",
            atol=1e-12,
        ),
        ReferenceCase(
            "theory_flat_rank4_d16",
            {"singular_values": [1.0, 1.0, 1.0, 1.0], "d": 16, "readout_sq_norm": 0.0},
            {"expected_alignment": 0.125},
            theory,
            function=f"{_PKG}.expected_task_alignment",
            note="closed form √r/d for a flat rank-r spectrum with a = 0: √4/16 = 1/8",
        ),
        ReferenceCase(
            "theory_rank1_full_d16",
            {"singular_values": [2.0], "d": 16, "readout_sq_norm": 0.0},
            {"expected_alignment": 0.0625},
            theory,
            function=f"{_PKG}.expected_task_alignment",
            note="rank 1, a = 0: M = σ²vvᵀ, tr M/(d‖M‖_F) = 4/(16·4) = 1/d, whatever σ",
        ),
        ReferenceCase(
            "theory_with_readout",
            {"singular_values": [1.0], "d": 2, "readout_sq_norm": 1.0},
            {"expected_alignment": 3.0 / (2.0 * np.sqrt(5.0))},
            theory,
            function=f"{_PKG}.expected_task_alignment",
            note="by hand: eigenvalues of M = WᵀW + ‖a‖²I are (2, 1); tr M = 3, ‖M‖_F = √5, d = 2",
        ),
        ReferenceCase(
            "kernel_alignment_identity_vs_projector",
            {"k1": np.eye(2), "k2": np.diag([1.0, 0.0])},
            {"alignment": 1.0 / np.sqrt(2.0)},
            ka,
            function=f"{_PKG}.kernel_alignment",
            note="by hand: ⟨I, diag(1,0)⟩ = 1, ‖I‖ = √2, ‖diag(1,0)‖ = 1",
        ),
        ReferenceCase(
            "task_alignment_half",
            {"kernel": np.diag([1.0, 0.0]), "y": [1.0, 1.0]},
            {"alignment": 0.5},
            ta,
            function=f"{_PKG}.task_alignment",
            note="by hand: yᵀKy = 1, ‖K‖_F = 1, ‖y‖² = 2",
        ),
        ReferenceCase(
            "linear_net_ntk_2x2",
            {"w": [[1.0, 0.0], [0.0, 2.0]], "a": [1.0, 1.0], "x": [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]},
            {"kernel": np.array([[3.0, 0.0, 3.0], [0.0, 6.0, 6.0], [3.0, 6.0, 9.0]])},
            ntk,
            function=f"{_PKG}.linear_net_ntk",
            note="by hand: ∂f/∂W = a xᵀ gives ‖a‖² xᵢ·xⱼ = 2 xᵢ·xⱼ; ∂f/∂a = Wx gives (Wxᵢ)·(Wxⱼ) with "
            "Wx = (1,0), (0,2), (1,2); sum e.g. K₃₃ = 2·2 + 5 = 9",
        ),
    ]
