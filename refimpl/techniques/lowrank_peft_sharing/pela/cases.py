"""Reference cases of PELA: the SVD split, the rank rule and the two intermediate-stage terms, worked by hand."""

from __future__ import annotations

import numpy as np

from ....autograd.tensor import Tensor
from ....catalog import ReferenceCase
from . import LowRankLinear, feature_distillation_loss, rank_for_ratio, svd_factors, weight_perturbation_loss

_MOD = "refimpl.techniques.lowrank_peft_sharing.pela"


def reference_cases() -> list:
    def svd_case(W, r):
        B, A = svd_factors(np.asarray(W), int(r))
        return {
            "BA": B @ A,
            "col_norms_B": np.linalg.norm(B, axis=0),
            "row_norms_A": np.linalg.norm(A, axis=1),
        }

    def rank_case(d_in, d_out, ratio):
        return {"r": np.array(rank_for_ratio(int(d_in), int(d_out), float(ratio)))}

    def fm_case(hs1, ht1, hs2, ht2):
        out = feature_distillation_loss([Tensor(hs1), Tensor(hs2)], [Tensor(ht1), Tensor(ht2)])
        return {"L_fm": np.asarray(out.data)}

    def reg_case(B, A, W, eps):
        layer = LowRankLinear(np.asarray(B), np.asarray(A))
        return {"R": np.asarray(weight_perturbation_loss([(layer, np.asarray(W))], float(eps)).data)}

    # W = diag(3, 1) rotated: singular values 3 and 1, so rank 1 keeps 3·u1 v1ᵀ and each factor gets √3
    c, s = np.cos(0.3), np.sin(0.3)
    Q = np.array([[c, -s], [s, c]])
    W = Q @ np.diag([3.0, 1.0])
    hs1, ht1 = np.array([[1.0, 2.0]]), np.array([[0.0, 0.0]])  # MSE = (1 + 4)/2 = 2.5
    hs2, ht2 = np.array([[3.0]]), np.array([[1.0]])  # MSE = 4
    B, A = np.array([[1.0], [2.0]]), np.array([[1.0, 1.0]])  # BA = [[1, 1], [2, 2]]
    W2 = np.array([[1.0, 1.5], [2.0, 1.0]])  # |BA − W| max = 1.0 (entry (1, 1))
    return [
        ReferenceCase(
            "svd_rank1_splits_singular_value",
            {"W": W, "r": 1},
            {
                "BA": 3.0 * np.outer(Q[:, 0], [1.0, 0.0]),
                "col_norms_B": [np.sqrt(3.0)],
                "row_norms_A": [np.sqrt(3.0)],
            },
            svd_case,
            function=f"{_MOD}.svd_factors",
            note="by hand: W = Q diag(3, 1); rank 1 keeps 3·q1 e1ᵀ, and B, A each carry √3",
            atol=1e-12,
            conventions={"split": "singular values split evenly: B = U_r S_r^½, A = S_r^½ V_rᵀ"},
        ),
        ReferenceCase(
            "rank_from_compression_ratio",
            {"d_in": 768, "d_out": 3072, "ratio": 2.0},
            {"r": np.array(307)},
            rank_case,
            function=f"{_MOD}.rank_for_ratio",
            note="by hand: 768·3072 / (2·3840) = 307.2 → 307 (a ViT-B MLP matrix at ratio 2)",
            atol=0,
            conventions={"rounding": "floor"},
        ),
        ReferenceCase(
            "feature_distillation_mean_over_blocks",
            {"hs1": hs1, "ht1": ht1, "hs2": hs2, "ht2": ht2},
            {"L_fm": np.array(3.25)},
            fm_case,
            function=f"{_MOD}.feature_distillation_loss",
            note="by hand: block MSEs 2.5 and 4, averaged over the two blocks = 3.25",
            atol=1e-12,
        ),
        ReferenceCase(
            "weight_perturbation_inf_norm",
            {"B": B, "A": A, "W": W2, "eps": 0.5},
            {"R": np.array(0.25)},
            reg_case,
            function=f"{_MOD}.weight_perturbation_loss",
            note="by hand: BA − W = [[0, −0.5], [0, 1]], max |·| = 1, (1 − 0.5)² = 0.25",
            atol=1e-12,
            conventions={
                "norm": "‖·‖_max: the largest absolute entry of the whole matrix (torch.norm(M, inf))"
            },
        ),
    ]
