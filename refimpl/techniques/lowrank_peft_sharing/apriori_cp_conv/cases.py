"""Reference cases of a-priori CP convolutions: outer-product kernels by hand, the separable rank-2 form of the
5-point Laplacian, a separable convolution as two 1-D passes (brute force), SVD truncation by hand, and the
parameter count."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from . import cp_conv2d, cp_kernel, cp_param_count, tail_energy, truncate_kernel

_MOD = "refimpl.techniques.lowrank_peft_sharing.apriori_cp_conv"


def _two_pass_conv(x, a, b, pad):
    """Brute force: zero-pad, correlate every column with a (vertical 1-D pass), then every row with b."""
    xp = np.pad(x, pad)
    h, w = xp.shape[0] - len(a) + 1, xp.shape[1]
    mid = np.array([[sum(a[u] * xp[i + u, j] for u in range(len(a))) for j in range(w)] for i in range(h)])
    w2 = w - len(b) + 1
    return np.array([[sum(b[v] * mid[i, j + v] for v in range(len(b))) for j in range(w2)] for i in range(h)])


def reference_cases() -> list:
    def kernel_case(A, B):
        return {"K": cp_kernel([A, B]).data}

    def kernel3_case(A, B, C):
        return {"K": cp_kernel([A, B, C]).data}

    def conv_case(x, A, B, padding):
        return {"y": cp_conv2d(x, A, B, padding=padding).data}

    def trunc_case(K, rank):
        return {"K_R": cp_kernel(truncate_kernel(K, rank)).data, "tail": np.array(tail_energy(K, rank))}

    def count_case(out_channels, in_channels, rank, kernel_size):
        return {"count": np.array(cp_param_count(out_channels, in_channels, rank, kernel_size))}

    # rank 1 and rank 2 outer products, one channel pair
    A1, B1 = np.array([1.0, 2.0]).reshape(1, 1, 1, 2), np.array([3.0, 4.0, 5.0]).reshape(1, 1, 1, 3)
    K1 = np.array([[3.0, 4.0, 5.0], [6.0, 8.0, 10.0]]).reshape(1, 1, 2, 3)
    # the 5-point Laplacian = [1,-2,1] ⊗ [0,1,0] + [0,1,0] ⊗ [1,-2,1]
    d, e = [1.0, -2.0, 1.0], [0.0, 1.0, 0.0]
    AL, BL = np.array([d, e]).reshape(1, 1, 2, 3), np.array([e, d]).reshape(1, 1, 2, 3)
    lap = np.array([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]]).reshape(1, 1, 3, 3)
    # 3-D: a 2×1×2 rank-1 kernel
    A3, B3, C3 = (np.array(v).reshape(1, 1, 1, -1) for v in ([1.0, -1.0], [2.0], [1.0, 3.0]))
    K3 = np.array([[[2.0, 6.0]], [[-2.0, -6.0]]]).reshape(1, 1, 2, 1, 2)
    # separable conv = two 1-D passes, brute force on a 4×5 input
    x = np.arange(20.0).reshape(4, 5) % 7 - 3.0
    a, b = np.array([1.0, 0.0, -1.0]), np.array([0.5, 2.0, 0.5])
    y = _two_pass_conv(x, a, b, 1)
    # truncation of diag(3, 1, 0) to rank 1: diag(3, 0, 0), tail energy 1/(9 + 1)
    Kd = np.diag([3.0, 1.0, 0.0]).reshape(1, 1, 3, 3)
    return [
        ReferenceCase(
            "outer_product_rank1",
            {"A": A1, "B": B1},
            {"K": K1},
            kernel_case,
            function=f"{_MOD}.cp_kernel",
            note="by hand: [1,2]ᵀ[3,4,5]",
            atol=0,
        ),
        ReferenceCase(
            "laplacian_5pt_is_cp_rank2",
            {"A": AL, "B": BL},
            {"K": lap},
            kernel_case,
            function=f"{_MOD}.cp_kernel",
            note="closed form: δ_xx ⊗ e + e ⊗ δ_yy is the 5-point stencil [[0,1,0],[1,-4,1],[0,1,0]]",
            atol=0,
        ),
        ReferenceCase(
            "outer_product_3d",
            {"A": A3, "B": B3, "C": C3},
            {"K": K3},
            kernel3_case,
            function=f"{_MOD}.cp_kernel",
            note="by hand: K[p,q,s] = a_p b_q c_s with a=[1,-1], b=[2], c=[1,3]",
            atol=0,
        ),
        ReferenceCase(
            "separable_conv_is_two_1d_passes",
            {
                "x": x.reshape(1, 1, 4, 5),
                "A": a.reshape(1, 1, 1, 3),
                "B": b.reshape(1, 1, 1, 3),
                "padding": 1,
            },
            {"y": y.reshape(1, 1, 4, 5)},
            conv_case,
            function=f"{_MOD}.cp_conv2d",
            note="brute force: zero padding 1, vertical 1-D correlation with a then horizontal with b",
            atol=1e-12,
            conventions={"scheme": "cross-correlation (PyTorch conv2d), zero padding"},
        ),
        ReferenceCase(
            "svd_truncation_diag",
            {"K": Kd, "rank": 1},
            {"K_R": np.diag([3.0, 0.0, 0.0]).reshape(1, 1, 3, 3), "tail": np.array(0.1)},
            trunc_case,
            function=f"{_MOD}.truncate_kernel",
            note="by hand: singular values 3, 1, 0; rank-1 keeps 3·e₁e₁ᵀ, tail energy 1/(9+1)",
            atol=1e-12,
        ),
        ReferenceCase(
            "param_count_4x2_R2_k5",
            {"out_channels": 4, "in_channels": 2, "rank": 2, "kernel_size": 5},
            {"count": np.array(4 * 2 * 2 * 10 + 4)},
            count_case,
            function=f"{_MOD}.cp_param_count",
            note="arithmetic: 4·2·2·(5+5) + 4 = 164 (full 5×5: 4·2·25 + 4 = 204)",
            atol=0,
        ),
    ]
