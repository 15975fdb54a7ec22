"""Reference cases of SGConv: the kernel built by hand (blocks, upsampling, decay) and the FFT convolution
against the direct O(L²) sum."""

from __future__ import annotations

import numpy as np

from ....autograd.tensor import Tensor
from ....catalog import ReferenceCase
from . import fft_conv, sgconv_kernel

_P = "refimpl.techniques.architectures.sgconv."


def reference_cases() -> list:
    u = np.array([[[1.0], [2.0], [0.0], [-1.0]]])  # (B=1, L=4, H=1)
    k = np.array([[1.0, 0.5, 0.25, 0.0]])  # (H=1, L=4)
    return [
        ReferenceCase(
            "kernel_n3_d2_alpha_half_is_flat",
            {"w": np.array([[1.0, 1.0], [2.0, 2.0], [4.0, 4.0]]), "alpha": 0.5, "length": 8},
            {"k": np.ones(8)},
            lambda w, alpha, length: {"k": sgconv_kernel(w, alpha, length)},
            function=_P + "sgconv_kernel",
            note="by hand: blocks α⁰·[1,1], α¹·[2,2], α²·Up₂([4,4]) = ¼·[4,4,4,4]; concatenated: eight ones",
            atol=1e-12,
            conventions={
                "upsampling": "nearest (repeat each weight 2^max(0,i−1) times)",
                "decay": "α^i on block i",
            },
        ),
        ReferenceCase(
            "kernel_n2_d2_cut_to_length_3",
            {"w": np.array([[3.0, -1.0], [2.0, 5.0]]), "alpha": 0.5, "length": 3},
            {"k": np.array([3.0, -1.0, 1.0])},
            lambda w, alpha, length: {"k": sgconv_kernel(w, alpha, length)},
            function=_P + "sgconv_kernel",
            note="by hand: N = 2 blocks, both at scale 1: [3, −1, ½·2, ½·5] = [3, −1, 1, 2.5], cut to L = 3",
            atol=1e-12,
        ),
        ReferenceCase(
            "fft_conv_equals_direct_causal_sum",
            {"u": u, "k": k},
            {"y": np.array([[[1.0], [2.5], [1.25], [-0.5]]])},
            lambda u, k: {"y": fft_conv(Tensor(u), Tensor(k)).data},
            function=_P + "fft_conv",
            note="by hand: y_t = Σ_{s≤t} k_s u_{t−s}: y0 = 1, y1 = 2 + ½, y2 = 0 + 1 + ¼, y3 = −1 + 0 + ½ + 0",
            atol=1e-12,
            conventions={"causality": "y_t uses u_0..u_t only (zero padding to 2L, no wrap-around)"},
        ),
    ]
