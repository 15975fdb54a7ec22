"""Reference cases of Bone / MiSS: the tilings and the block-affine update, worked by hand."""

from __future__ import annotations

import numpy as np

from ....autograd.tensor import Tensor
from ....catalog import ReferenceCase
from . import bat_delta, bone_delta, mini_tile

_MOD = "refimpl.techniques.lowrank_peft_sharing.bone"


def reference_cases() -> list:
    def bone_case(D, in_features):
        return {"dW": bone_delta(Tensor(np.asarray(D)), int(in_features)).data}

    def mini_case(M, out_features, in_features):
        D = mini_tile(Tensor(np.asarray(M)), int(out_features))
        return {"dW": bone_delta(D, int(in_features)).data}

    def bat_case(W, Bm):
        return {"dW": bat_delta(Tensor(np.asarray(W)), Tensor(np.asarray(Bm))).data}

    D = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])  # r = 2, d_out = 3
    dW_bone = np.array([[1.0, 4.0, 1.0, 4.0], [2.0, 5.0, 2.0, 5.0], [3.0, 6.0, 3.0, 6.0]])
    M = np.array([[1.0], [2.0]])  # r = 2, mini_r = 1: every output unit gets (1, 2)
    dW_mini = np.array([[1.0, 2.0, 1.0, 2.0]] * 3)
    W = np.arange(8.0).reshape(2, 4)  # r = 2: one output block, two input blocks
    Bm = np.array([[[1.0, 0.0], [0.0, 2.0]]])
    dW_bat = np.array([[0 + 1, 2 + 0, 2 + 1, 6 + 0], [4 + 0, 10 + 2, 6 + 0, 14 + 2]], dtype=float)
    return [
        ReferenceCase(
            "bone_tiles_D_transpose",
            {"D": D, "in_features": 4},
            {"dW": dW_bone},
            bone_case,
            function=f"{_MOD}.bone_delta",
            note="by hand: every r-wide input block of ΔW is Dᵀ",
            atol=0,
        ),
        ReferenceCase(
            "miss_mini_tiles_M_then_D",
            {"M": M, "out_features": 3, "in_features": 4},
            {"dW": dW_mini},
            mini_case,
            function=f"{_MOD}.mini_tile",
            note="by hand: D = [M M M] = [[1, 1, 1], [2, 2, 2]]; every 2-wide input block of ΔW is Dᵀ",
            atol=0,
        ),
        ReferenceCase(
            "bat_block_affine",
            {"W": W, "Bm": Bm},
            {"dW": dW_bat},
            bat_case,
            function=f"{_MOD}.bat_delta",
            note="by hand: W_1j·diag(1,2) + diag(1,2) for the two 2×2 blocks of W = arange(8)",
            atol=0,
        ),
    ]
