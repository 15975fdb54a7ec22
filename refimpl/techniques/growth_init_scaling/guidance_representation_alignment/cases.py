"""Reference cases of guidance, worked by hand: linear CKA of a 3×2 pair (with an offset that centring
removes), of a rotated and scaled copy, of identical and of orthogonal representations, the guidance sum,
and the official layer mapping (including a rounding tie)."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from . import guidance_loss, layer_mapping, linear_cka

_MOD = "refimpl.techniques.growth_init_scaling.guidance_representation_alignment"
_CKA = {
    "scheme": "linear kernel; Gram matrices centred over the batch (HKH); HSIC = Σ HKH⊙HLH, "
    "the 1/(n−1)² factor omitted (it cancels)",
}
# X: columns (1, 0, −1) and (0, 1, −1), both already centred
_X = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]])
# Y: centred columns (1, 0, −1) and 0, plus the offset (3, 5) on every row
_Y = np.array([[4.0, 5.0], [3.0, 5.0], [2.0, 5.0]])
_HAND = np.sqrt(10.0) / 4.0  # ‖XᵀY‖² / (‖XᵀX‖ ‖YᵀY‖) = 5 / √(10 · 4), computed on the centred columns


def reference_cases() -> list:
    def cka(X, Y):
        return {"cka": linear_cka(np.asarray(X), np.asarray(Y))}

    def loss(T0, T1, G0, G1, mapping):
        return {
            "loss": guidance_loss([np.asarray(T0), np.asarray(T1)], [np.asarray(G0), np.asarray(G1)], mapping)
        }

    def mapping(n_guide, n_target):
        return {"pairs": np.array(layer_mapping(int(n_guide), int(n_target)), dtype=np.int64)}

    R = np.array([[0.0, -1.0], [1.0, 0.0]])  # a rotation by 90°
    Z = np.array([[0.5, -1.0, 2.0], [1.5, 0.0, -1.0], [-2.0, 3.0, 0.5], [0.0, 1.0, 1.0]])
    return [
        ReferenceCase(
            "cka_hand_3x2_with_offset",
            {"X": _X, "Y": _Y},
            {"cka": np.array(_HAND)},
            cka,
            function=f"{_MOD}.linear_cka",
            note="by hand: centred Y = [[1,0],[0,0],[−1,0]]; XᵀY = [[2,0],[1,0]], ‖·‖² = 5; XᵀX = [[2,1],[1,2]], "
            "‖·‖² = 10; YᵀY = [[2,0],[0,0]], ‖·‖² = 4; CKA = 5/√40 = √10/4 ≈ 0.790569",
            conventions=_CKA,
            atol=1e-12,
            rtol=1e-12,
        ),
        ReferenceCase(
            "cka_invariant_to_rotation_and_isotropic_scaling",
            {"X": _X, "Y": 2.0 * (_Y @ R)},
            {"cka": np.array(_HAND)},
            cka,
            function=f"{_MOD}.linear_cka",
            note="by hand: Y' = 2·Y·R with R a 90° rotation; (Y'c)ᵀ Y'c = 4 Rᵀ(YcᵀYc)R keeps its Frobenius norm "
            "up to 4, and XᵀY'c = 2 (XᵀYc) R likewise, so the ratio is the √10/4 of the hand case",
            conventions=_CKA,
            atol=1e-12,
            rtol=1e-12,
        ),
        ReferenceCase(
            "cka_identical_is_one",
            {"X": Z, "Y": Z},
            {"cka": np.array(1.0)},
            cka,
            function=f"{_MOD}.linear_cka",
            note="by definition: HSIC(K, K) / √(HSIC(K, K)²) = 1 for any X with non-zero centred variance",
            conventions=_CKA,
            atol=1e-12,
            rtol=1e-12,
        ),
        ReferenceCase(
            "cka_orthogonal_columns_is_zero",
            {"X": np.array([[1.0], [-1.0], [0.0]]), "Y": np.array([[1.0], [1.0], [-2.0]])},
            {"cka": np.array(0.0)},
            cka,
            function=f"{_MOD}.linear_cka",
            note="by hand: both columns are centred and their dot product 1 − 1 + 0 = 0, so HSIC(K, L) = 0",
            conventions=_CKA,
            atol=1e-12,
            rtol=0.0,
            atol32=1e-6,
        ),
        ReferenceCase(
            "guidance_loss_two_layers",
            {"T0": Z, "T1": _X, "G0": 3.0 * Z + 1.0, "G1": _Y, "mapping": [[0, 0], [1, 1]]},
            {"loss": np.array(0.0 + (1.0 - _HAND))},
            loss,
            function=f"{_MOD}.guidance_loss",
            note="by hand: pair (0, 0) compares Z with 3Z + 1, CKA 1 (scale and offset), distance 0; pair (1, 1) is "
            "the 3×2 hand case, distance 1 − √10/4 ≈ 0.209431; the sum is 0.209431",
            conventions=_CKA,
            atol=1e-12,
            rtol=1e-12,
        ),
        ReferenceCase(
            "layer_mapping_3_guide_to_5_target",
            {"n_guide": 3, "n_target": 5},
            {"pairs": np.array([[0, 0], [1, 2], [2, 4]])},
            mapping,
            function=f"{_MOD}.layer_mapping",
            note="by hand: step (5−1)/(3−1) = 2, guide layer i ↦ target layer 2i",
            conventions={"rounding": "Python round, half to even"},
            atol=0.0,
            rtol=0.0,
            atol32=0.0,
            rtol32=0.0,
        ),
        ReferenceCase(
            "layer_mapping_5_guide_to_3_target_ties_and_last_wins",
            {"n_guide": 5, "n_target": 3},
            {"pairs": np.array([[1, 0], [2, 1], [4, 2]])},
            mapping,
            function=f"{_MOD}.layer_mapping",
            note="by hand: step 2/4 = 0.5; i·0.5 = 0, 0.5, 1, 1.5, 2 rounds (half to even) to 0, 0, 1, 2, 2; "
            "keyed by target layer, the last guide layer wins: 0←1, 1←2, 2←4",
            conventions={"rounding": "Python round, half to even", "collisions": "last guide layer wins"},
            atol=0.0,
            rtol=0.0,
            atol32=0.0,
            rtol32=0.0,
        ),
    ]
