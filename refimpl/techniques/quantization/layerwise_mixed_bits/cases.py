"""Reference cases of layer-wise mixed bits: LIM and ZD by hand, the allocation and its average bit width,
and the GPTQ per-layer quantizer on a diagonal Hessian (where GPTQ has nothing to compensate: RTN)."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from . import allocation, average_bits, gptq_quantize_weight, lim_score, rtn_quantize_weight, zd_score

_F = "refimpl.techniques.quantization.layerwise_mixed_bits."

_RTN = {
    "rounding": "divide: code = round(w/s), half to even (np.rint)",
    "saturation": "codes clamped to [−2^(b−1), 2^(b−1) − 1]",
    "scheme": "symmetric: z = 0, s = max|w_row|/(2^(b−1) − 1)",
    "granularity": "per output channel (rows of w (out, in))",
}
_GPTQ = {
    **_RTN,
    "gptq": "the grid fixed from w before the sweep; columns in natural order; H = 2XᵀX/N damped by "
    "percdamp·mean diag H; error fed back through the upper Cholesky factor of H⁻¹",
}


def reference_cases() -> list:
    w = [[0.9, -0.3, 0.2], [-1.0, 0.45, 0.1]]
    x_diag = [[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 3.0]]
    return [
        ReferenceCase(
            name="lim_hand",
            inputs={"x_in": [[1.0, 0.0], [0.0, 2.0]], "x_out": [[1.0, 1.0], [0.0, -3.0]]},
            expected={"lim": -(np.sqrt(0.5) - 1.0) / 2},
            compute=lambda x_in, x_out: {"lim": lim_score(x_in, x_out)},
            function=_F + "lim_score",
            note="By hand: cos([1,0],[1,1]) = 1/√2, cos([0,2],[0,−3]) = −1; mean (0.7071 − 1)/2 = "
            "−0.1464; LIM = 0.1464.",
            atol=1e-12,
        ),
        ReferenceCase(
            name="zd_hand",
            inputs={"w": [0.0, 0.0, 0.0, 0.0, 10.0]},
            expected={"zd": 0.2},
            compute=lambda w: {"zd": zd_score([w])},
            function=_F + "zd_score",
            note="By hand: mean 2, std 4 → z = [−0.5 ×4, 2] → 1 of 5 above 1.",
            atol=1e-12,
        ),
        ReferenceCase(
            name="allocation_and_average_bits",
            inputs={"importance": [0.3, 0.1, 0.2, 0.9], "sizes": [1, 1, 2, 4], "k_low": 2},
            expected={"bits": np.array([4, 2, 2, 4]), "avg": np.array((4 + 2 + 4 + 16) / 8)},
            compute=lambda importance, sizes, k_low: {
                "bits": allocation(importance, k_low),
                "avg": average_bits(allocation(importance, k_low), sizes),
            },
            function=_F + "allocation",
            note="By hand: the two least important layers (0.1, 0.2) get 2 bits; average = "
            "(4·1 + 2·1 + 2·2 + 4·4)/8 = 3.25.",
            atol=1e-12,
        ),
        ReferenceCase(
            name="rtn_2bit_per_channel",
            conventions=_RTN,
            inputs={"w": w, "bits": 2},
            expected={"q": np.array([[0.9, 0.0, 0.0], [-1.0, 0.0, 0.0]])},
            compute=lambda w, bits: {"q": rtn_quantize_weight(w, bits)},
            function=_F + "rtn_quantize_weight",
            note="By hand: 2-bit symmetric, codes −2…1, s = max|w_row|/1 → s = 0.9 and 1.0; −0.3/0.9 → 0, "
            "0.2/0.9 → 0, 0.45 → 0 (0.45 < ½), 0.1 → 0.",
            atol=1e-12,
        ),
        ReferenceCase(
            name="gptq_diagonal_hessian_is_rtn",
            conventions=_GPTQ,
            inputs={"w": w, "x": x_diag, "bits": 3, "percdamp": 0.0},
            expected={"q": np.array([[0.9, -0.3, 0.3], [-1.0, 1 / 3, 0.0]])},
            compute=lambda w, x, bits, percdamp: {"q": gptq_quantize_weight(w, x, bits, percdamp=percdamp)},
            function=_F + "gptq_quantize_weight",
            note="Orthogonal inputs give a diagonal H: no error is spread to other columns, so GPTQ = RTN. "
            "By hand, 3-bit symmetric (codes −4…3), s = max|w_row|/3 = 0.3 and 1/3: 0.2/0.3 = 0.67 → 1 "
            "→ 0.3; 0.45·3 = 1.35 → 1 → 1/3; 0.1·3 = 0.3 → 0.",
            atol=1e-12,
        ),
    ]
