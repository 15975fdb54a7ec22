"""Reference cases of SignRound: the rounding offset, the clipped asymmetric grid (Eq. 1–2) and the signed
step (Eq. 4), by hand."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from . import round_with_offset, signround_qdq, signsgd_step

_F = "refimpl.techniques.quantization.signround."

_OFFSET = {
    "rounding": "code = round(W/s + V) + zp, half to even (np.rint)",
    "saturation": "codes clamped to [q_min, q_max]",
}
_GRID = {
    "rounding": "code = round(W/s + V) + zp and zp = round(−lo/s), half to even (np.rint)",
    "saturation": "codes clamped to [0, 2^b − 1]; zp is not clamped",
    "scheme": "affine per row: hi = α·max(max W_row, 0), lo = β·min(min W_row, 0), "
    "s = max(hi − lo, 1e-12)/(2^b − 1)",
    "granularity": "per output row",
}


def reference_cases() -> list:
    return [
        ReferenceCase(
            name="rounding_offset_flips_rounding",
            conventions=_OFFSET,
            inputs={"W": [[0.26, -0.74]], "V": [[-0.1, -0.1]], "s": 0.5, "zp": 0.0, "qmin": -2, "qmax": 1},
            expected={"rtn": [[0.5, -0.5]], "with_v": [[0.0, -1.0]]},
            compute=lambda W, V, s, zp, qmin, qmax: {
                "rtn": round_with_offset(W, np.zeros_like(np.asarray(W)), s, zp, qmin, qmax),
                "with_v": round_with_offset(W, V, s, zp, qmin, qmax),
            },
            function=_F + "round_with_offset",
            note="By hand: W/s = [0.52, −1.48] rounds to [1, −1] → [0.5, −0.5]; with V = −0.1: [0.42, −1.58] "
            "→ [0, −2] → [0, −1.0].",
        ),
        ReferenceCase(
            name="asymmetric_grid_with_clipping",
            conventions=_GRID,
            inputs={
                "W": [[-0.3, 0.1, 0.9]],
                "V": [[0.0, 0.0, 0.0]],
                "alpha": [0.5],
                "beta": [1.0],
                "bits": 2,
            },
            expected={"W_hat": [[-0.25, 0.0, 0.5]]},
            compute=lambda W, V, alpha, beta, bits: {"W_hat": signround_qdq(W, V, alpha, beta, bits)},
            function=_F + "signround_qdq",
            note="By hand: α = 0.5, β = 1: s = (0.45 + 0.3)/3 = 0.25, zp = round(1.2) = 1, W/s = [−1.2, 0.4, "
            "3.6] → [−1, 0, 4] + 1 → clip to [0, 3] → [0, 1, 3] → s(code − 1) = [−0.25, 0, 0.5].",
            atol=1e-12,
        ),
        ReferenceCase(
            name="asymmetric_grid_full_range",
            conventions=_GRID,
            inputs={
                "W": [[-0.3, 0.1, 0.9]],
                "V": [[0.0, 0.0, 0.0]],
                "alpha": [1.0],
                "beta": [1.0],
                "bits": 2,
            },
            expected={"W_hat": [[-0.4, 0.0, 0.8]]},
            compute=lambda W, V, alpha, beta, bits: {"W_hat": signround_qdq(W, V, alpha, beta, bits)},
            function=_F + "signround_qdq",
            note="By hand: α = β = 1: s = 1.2/3 = 0.4, zp = round(0.75) = 1, W/s = [−0.75, 0.25, 2.25] → "
            "[−1, 0, 2] + 1 → codes [0, 1, 3] → [−0.4, 0, 0.8].",
            atol=1e-12,
        ),
        ReferenceCase(
            name="signsgd_step_moves_by_lr",
            conventions={
                "sign": "sign(0) = 0: no move where g = 0",
                "saturation": "V clipped to [lo, hi] after the step",
            },
            inputs={
                "V": [0.0, 0.2, -0.45, 0.3],
                "g": [3.0, -0.001, 2.0, 0.0],
                "lr": 0.1,
                "lo": -0.5,
                "hi": 0.5,
            },
            expected={"V_new": [-0.1, 0.3, -0.5, 0.3]},
            compute=lambda V, g, lr, lo, hi: {
                "V_new": signsgd_step(np.asarray(V), np.asarray(g), lr, lo, hi)
            },
            function=_F + "signsgd_step",
            note="By hand: each entry moves by exactly −lr·sign(g) (0 where g = 0), then clip to [−0.5, 0.5] "
            "(−0.45 − 0.1 → −0.5).",
            atol=1e-12,
        ),
    ]
