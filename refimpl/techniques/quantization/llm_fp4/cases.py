"""Reference cases of LLM-FP4: the real-bias FP quantizer by hand and against the official code's formula
written out independently, Eq. 4, the pre-shift identity and the integer offsets."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from . import bias_from_maxval, fpq, maxval_from_bias, preshift_offsets

_F = "refimpl.techniques.quantization.llm_fp4."

_FPQ = {
    "rounding": "round to nearest on the step 2^(p − m − b), ties to even (np.rint), "
    "p = max(⌊log₂|x| + b⌋, 1)",
    "saturation": "clamp to ±maxval = ±(2 − 2^−m)·2^(2^e − 1 − b)",
    "format": "sign + e exponent + m mantissa bits, real-valued exponent bias b, every code finite "
    "(no inf or NaN), subnormals below 2^(1 − b)",
}
_OFFSETS = {
    "rounding": "round(b_j) − round(ρ), half to even (np.rint)",
    "saturation": "k clamped to [0, 2^e − 1]",
}


def _direct_fpq(x, e, m, b):
    """The code's formula (get_log_scale) written out with log2: clip to ±maxval, p = max(⌊log₂|x| + b⌋, 1),
    step 2^(p − m − b), round half to even (torch.round)."""
    x = np.asarray(x, dtype=np.float64)
    mv = (2 - 2.0**-m) * 2.0 ** (2**e - 1 - b)
    xc = np.clip(x, -mv, mv)
    with np.errstate(divide="ignore"):
        p = np.maximum(np.floor(np.log2(np.abs(xc)) + b), 1.0)
    sc = 2.0 ** (p - m - b)
    return np.rint(xc / sc) * sc


def reference_cases() -> list:
    x = [0.7, 2.4, 5.1, -0.2, 9.0, 0.3]
    xs = [0.013, -0.37, 0.9, 1.7, -2.6, 0.0009]
    xp, kp = [0.011, 0.3, -0.07, 0.0042], [2.0, 0.0, 1.0, 3.0]
    return [
        ReferenceCase(
            name="e2m1_bias1_grid",
            conventions=_FPQ,
            inputs={"x": x, "exp_bits": 2, "man_bits": 1, "bias": 1.0},
            expected={"q": np.array([0.5, 2.0, 6.0, 0.0, 6.0, 0.5])},
            compute=lambda x, exp_bits, man_bits, bias: {"q": fpq(x, exp_bits, man_bits, bias)},
            function=_F + "fpq",
            note="By hand: E2M1 with bias 1 has magnitudes {0, 0.5, 1, 1.5, 2, 3, 4, 6}; 0.7 → 0.5, 2.4 → 2, "
            "5.1 → 6, −0.2 → 0, 9 saturates at 6, 0.3 → 0.5.",
            atol=1e-12,
        ),
        ReferenceCase(
            name="eq4_bias_and_maxval",
            inputs={"maxval": 6.0, "bias": 1.0, "exp_bits": 2, "man_bits": 1},
            expected={"bias": np.array(1.0), "maxval": np.array(6.0)},
            compute=lambda maxval, bias, exp_bits, man_bits: {
                "bias": bias_from_maxval(maxval, exp_bits, man_bits),
                "maxval": maxval_from_bias(bias, exp_bits, man_bits),
            },
            function=_F + "bias_from_maxval",
            note="By hand, Eq. 4: 2² − log₂6 + log₂1.5 − 1 = 4 − log₂4 − 1 = 1; maxval = 1.5·2^(4−1−1) = 6.",
            atol=1e-12,
        ),
        ReferenceCase(
            name="real_bias_matches_the_codes_formula",
            conventions=_FPQ,
            inputs={"x": xs, "exp_bits": 2, "man_bits": 1, "bias": 2.37},
            expected={"q": _direct_fpq(xs, 2, 1, 2.37)},
            compute=lambda x, exp_bits, man_bits, bias: {"q": fpq(x, exp_bits, man_bits, bias)},
            function=_F + "fpq",
            note="Expected from the official code's formula written out independently with log₂ "
            "(_direct_fpq): clip to ±(2−2^−m)2^(2^e−1−b), p = max(⌊log₂|x| + b⌋, 1), step 2^(p−m−b).",
            atol=1e-12,
        ),
        ReferenceCase(
            name="preshift_is_exact",
            conventions=_FPQ,
            inputs={"x": xp, "rho": 3.3, "k": kp},
            expected={"per_channel": _direct_fpq(xp, 2, 1, 3.3 + np.array(kp))},
            compute=lambda x, rho, k: {
                "per_channel": fpq(np.asarray(x) * 2.0 ** np.asarray(k), 2, 1, rho) * 2.0 ** -np.asarray(k)
            },
            function=_F + "fpq",
            note="Quantizing x_j with bias ρ + k_j (direct formula) equals 2^−k_j·Q_ρ(2^k_j·x_j): the integer "
            "part of a channel's bias is a power-of-two rescaling, absorbed into the weight column.",
            atol=1e-15,
        ),
        ReferenceCase(
            name="preshift_offsets",
            conventions=_OFFSETS,
            inputs={"channel_bias": [1.2, 2.6, 4.4, 9.0], "rho": 1.2, "exp_bits": 2},
            expected={"k": np.array([0.0, 2.0, 3.0, 3.0])},
            compute=lambda channel_bias, rho, exp_bits: {"k": preshift_offsets(channel_bias, rho, exp_bits)},
            function=_F + "preshift_offsets",
            note="By hand: round(b_j) − round(ρ) = [1−1, 3−1, 4−1, 9−1] = [0, 2, 3, 8], clipped to [0, 2²−1 = 3].",
            atol=0,
        ),
    ]
