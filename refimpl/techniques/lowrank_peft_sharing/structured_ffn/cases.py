"""Reference cases of the structured FFN layers: BlockDense, the guide schedule and parameter counts."""

from __future__ import annotations

import numpy as np

from ....autograd.tensor import Tensor
from ....catalog import ReferenceCase
from ....nn import functional as F
from . import blockdiag_apply, guide_ratio, structured_param_count

_MOD = "refimpl.techniques.lowrank_peft_sharing.structured_ffn"


def reference_cases() -> list:
    def bd_case(x, D, L):
        return {"y": F.linear(blockdiag_apply(Tensor(x), Tensor(D)), Tensor(L)).data}

    def ratio_case(t_max):
        return {"alpha": np.array([guide_ratio(t, int(t_max)) for t in (0, t_max // 2, t_max, t_max + 5)])}

    def count_case(d_in, d_out, rank, nblocks):
        return {
            "lowrank": structured_param_count("lowrank", d_in, d_out, rank),
            "blockdense": structured_param_count("blockdense", d_in, d_out, rank, nblocks),
        }

    x = np.array([[1.0, 2.0, 3.0, 4.0]])
    D = np.array([[[1.0, 1.0]], [[1.0, -1.0]]])  # two 1×2 blocks
    L = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    # blockdiag: [1+2, 3−4] = [3, −1];  L·[3, −1] = [3, −2, 2]
    return [
        ReferenceCase(
            "blockdense_by_hand",
            {"x": x, "D": D, "L": L},
            {"y": np.array([[3.0, -2.0, 2.0]])},
            bd_case,
            function=f"{_MOD}.blockdiag_apply",
            note="by hand: block sums x1+x2 = 3 and x3−x4 = −1, then L",
            atol=1e-12,
        ),
        ReferenceCase(
            "cosine_guide_ratio",
            {"t_max": 10},
            {"alpha": np.array([1.0, 0.5, 0.0, 0.0])},
            ratio_case,
            function=f"{_MOD}.guide_ratio",
            note="closed form: ½(1 + cos(π t/T)) at t = 0, T/2, T; 0 afterwards",
            atol=1e-12,
        ),
        ReferenceCase(
            "param_counts_32_128",
            {"d_in": 32, "d_out": 128, "rank": 20, "nblocks": 4},
            {"lowrank": np.array(20 * 160), "blockdense": np.array(20 * 8 + 128 * 20)},
            count_case,
            function=f"{_MOD}.structured_param_count",
            note="arithmetic: 20·(32+128) = 3200; 20·32/4 + 128·20 = 160 + 2560 = 2720",
            atol=0,
        ),
    ]
