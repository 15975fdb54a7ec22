"""Reference cases of PHNNs: the Hamilton rule, a PHC kernel block by block, and the parameter count."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from . import hamilton_rule, phc_param_count, phc_weight

_MOD = "refimpl.techniques.lowrank_peft_sharing.phnn"


def reference_cases() -> list:
    def hamilton_case(Fs):
        return {"H": phc_weight(hamilton_rule(), Fs).data}

    def count_case(n, out_channels, in_channels, kernel):
        return {"count": phc_param_count(n, out_channels, in_channels, kernel)}

    def block_case(A, Fs):
        return {"H": phc_weight(A, Fs).data}

    r, x, y, z = 1.0, 2.0, 3.0, 4.0  # one quaternion weight per channel block (1×1 blocks, 1×1 kernel)
    Fq = np.array([r, x, y, z]).reshape(4, 1, 1, 1, 1)
    Hq = np.array([[r, -x, -y, -z], [x, r, -z, y], [y, z, r, -x], [z, -y, x, r]]).reshape(4, 4, 1, 1)
    # n = 2, F_i of shape (1, 1, 2, 2): block (p, q) of H is Σ_i A_i[p, q] F_i
    A2 = np.array([[[1.0, 0.0], [0.0, 1.0]], [[0.0, 2.0], [-1.0, 0.0]]])
    F2 = np.array([[[[1.0, 2.0], [3.0, 4.0]]], [[[0.5, 0.0], [0.0, 0.5]]]]).reshape(2, 1, 1, 2, 2)
    k1, k2 = F2[0, 0, 0], F2[1, 0, 0]
    H2 = np.stack([np.stack([k1, 2 * k2]), np.stack([-k2, k1])])
    return [
        ReferenceCase(
            "hamilton_rule_gives_quaternion_conv",
            {"Fs": Fq},
            {"H": Hq},
            hamilton_case,
            function=f"{_MOD}.phc_weight",
            note="by hand: real matrix of left multiplication by r + xi + yj + zk",
            atol=0,
        ),
        ReferenceCase(
            "n2_kernel_blocks",
            {"A": A2, "Fs": F2},
            {"H": H2},
            block_case,
            function=f"{_MOD}.phc_weight",
            note="by hand: H[p,q] = A_1[p,q]·K1 + A_2[p,q]·K2 with A_1 = I, A_2 = [[0,2],[-1,0]]",
            atol=0,
        ),
        ReferenceCase(
            "param_count_n4_32x16_k3",
            {"n": 4, "out_channels": 32, "in_channels": 16, "kernel": 3},
            {"count": np.array(64 + 32 * 16 * 9 // 4 + 32)},
            count_case,
            function=f"{_MOD}.phc_param_count",
            note="arithmetic: 4³ + 4608/4 + 32 = 64 + 1152 + 32 = 1248 (real conv: 4608 + 32)",
            atol=0,
        ),
    ]
