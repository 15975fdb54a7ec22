"""Reference cases of RSQ: GPTQ's error feedback on two columns, the Hadamard rotation, AttnCon and its
per-sequence normalisation, all by hand."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from ..quantizers import gptq, hessian
from . import (
    attention_concentration,
    hadamard,
    normalize_importance,
    random_hadamard,
    rsq_quantize,
    sequence_importance,
)

_F = "refimpl.techniques.quantization.rsq."

_GPTQ = (
    "columns in natural order; H damped by percdamp·mean diag H; error fed back through the upper Cholesky "
    "factor of H⁻¹"
)


def reference_cases() -> list:
    attn = [[[[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.2, 0.3, 0.5]]]]
    return [
        ReferenceCase(
            name="gptq_two_columns",
            conventions={
                "rounding": "the given column quantizer round(c/step)·step, half to even (np.rint)",
                "saturation": "none (unbounded grid)",
                "gptq": _GPTQ + " (percdamp = 0 here)",
            },
            inputs={"W": [[0.3, 0.2]], "H": [[2.0, 1.0], [1.0, 2.0]], "step": 0.5},
            expected={"Q": [[0.5, 0.0]]},
            compute=lambda W, H, step: {
                "Q": gptq(np.asarray(W), np.asarray(H), lambda c, j: np.rint(c / step) * step, percdamp=0.0)
            },
            function="refimpl.techniques.quantization.quantizers.gptq",
            note="By hand: H⁻¹ = (1/3)[[2, −1], [−1, 2]]; q₁ = 0.5; w₂ ← w₂ − (w₁ − q₁)·H⁻¹₁₂/H⁻¹₁₁ = "
            "0.2 + 0.5·(0.3 − 0.5) = 0.1 → q₂ = 0.",
            atol=1e-12,
        ),
        ReferenceCase(
            name="hadamard_is_orthogonal",
            inputs={"d": 4, "seed": 0},
            expected={"RtR": np.eye(4), "H4": [[1, 1, 1, 1], [1, -1, 1, -1], [1, 1, -1, -1], [1, -1, -1, 1]]},
            compute=lambda d, seed: {
                "RtR": random_hadamard(d, seed).T @ random_hadamard(d, seed),
                "H4": hadamard(d),
            },
            function=_F + "random_hadamard",
            note="By hand: Sylvester H₄ = [[H₂, H₂], [H₂, −H₂]]; RᵀR = I for R = H·diag(±1)/2, so "
            "(WR)(Rᵀx) = Wx.",
            atol=1e-12,
        ),
        ReferenceCase(
            name="attncon",
            inputs={"attn": attn},
            expected={"raw": [1.7, 0.8, 0.5], "r": [3.0, 1.0 + 2.0 * 0.3 / 1.2, 1.0]},
            compute=lambda attn: {
                "raw": attention_concentration(attn),
                "r": normalize_importance(attention_concentration(attn)),
            },
            function=_F + "attention_concentration",
            note="By hand: column sums of the causal attention matrix = [1 + 0.5 + 0.2, 0.5 + 0.3, 0.5]; "
            "min–max to [1, 3]: (0.8 − 0.5)/1.2·2 + 1 = 1.5.",
            atol=1e-12,
        ),
        ReferenceCase(
            name="sequence_importance_mean_one",
            inputs={"attn": attn, "r_min": 1.0, "r_max": 3.0},
            expected={"r": np.array([3.0, 1.5, 1.0]) / 5.5 * 3},
            compute=lambda attn, r_min, r_max: {"r": sequence_importance(attn, r_min, r_max)},
            function=_F + "sequence_importance",
            note="By hand: AttnCon [1.7, 0.8, 0.5] → [3, 1.5, 1] in [1, 3], then × T/Σr = 3/5.5 (mean 1 per "
            "sequence, gptq_utils.py line 126).",
            atol=1e-12,
        ),
        ReferenceCase(
            name="uniform_weights_no_rotation_is_gptq",
            conventions={
                "rounding": "divide: code = round(w/s), half to even (np.rint)",
                "saturation": "codes clamped to [−2^(b−1), 2^(b−1) − 1]",
                "scheme": "symmetric: z = 0, s = max|w_row|/(2^(b−1) − 1), fixed from W·R before the sweep",
                "granularity": "per output row",
                "gptq": _GPTQ + ", H = 2XᵀX/N (rsq_quantize's default percdamp 0.01)",
            },
            inputs={"W": [[0.9, -0.4], [0.1, 0.7]], "X": [[1.0, 0.5], [-0.3, 2.0], [0.8, -1.0]], "bits": 3},
            expected={
                "W_hat": gptq(
                    np.array([[0.9, -0.4], [0.1, 0.7]]),
                    hessian(np.array([[1.0, 0.5], [-0.3, 2.0], [0.8, -1.0]])),
                    lambda c, j: (
                        np.array([0.9, 0.7]) / 3 * np.clip(np.rint(c / (np.array([0.9, 0.7]) / 3)), -4, 3)
                    ),
                )
            },
            compute=lambda W, X, bits: {"W_hat": rsq_quantize(W, X, bits, importance=None, rotate=False)},
            function=_F + "rsq_quantize",
            note="With r = 1 and R = I RSQ is GPTQ on H = 2XᵀX/N with the symmetric per-row grid "
            "s = max|w|/3 (written out here independently of sym_grid_quantizer).",
            atol=1e-12,
        ),
    ]
