"""Reference cases of QFX: the fixed-point cast, the range rule, the K-hot sets and the GPTQ baseline on the
fixed-point grid, by hand."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from . import binary_point_for_range, fixed_point_cast, gptq_fixed_point_cast, khot_quantize, khot_values

_F = "refimpl.techniques.quantization.qfx."

_CAST = {
    "rounding": "round(x·2^f), half to even (np.rint); x·2^f is exact (ldexp)",
    "saturation": "clamp to the signed w-bit range [−2^(w−1), 2^(w−1) − 1] (no wrap-around)",
}


def reference_cases() -> list:
    return [
        ReferenceCase(
            name="fixed_point_cast",
            conventions=_CAST,
            inputs={"x": [0.3, -0.9, 1.7, -2.5, 0.124], "wbit": 4, "fbit": 2},
            expected={"q": np.array([0.25, -1.0, 1.75, -2.0, 0.0])},
            compute=lambda x, wbit, fbit: {"q": fixed_point_cast(x, wbit, fbit)},
            function=_F + "fixed_point_cast",
            note="By hand: ×4 = [1.2, −3.6, 6.8, −10, 0.496] → round [1, −4, 7, −10, 0] → saturate to "
            "[−8, 7] → [1, −4, 7, −8, 0] → ÷4 = [0.25, −1, 1.75, −2, 0].",
            atol=1e-12,
        ),
        ReferenceCase(
            name="fixed_point_cast_3bit_negative_point",
            conventions=_CAST,
            inputs={"x": [2.9, -5.0, 7.0, 13.0], "wbit": 3, "fbit": -1},
            expected={"q": np.array([2.0, -4.0, 6.0, 6.0])},
            compute=lambda x, wbit, fbit: {"q": fixed_point_cast(x, wbit, fbit)},
            function=_F + "fixed_point_cast",
            note="By hand: f = −1 is a step of 2; ×½ = [1.45, −2.5, 3.5, 6.5] → round half to even "
            "[1, −2, 4, 6] → saturate to [−4, 3] → [1, −2, 3, 3] → ×2 = [2, −4, 6, 6].",
            atol=1e-12,
        ),
        ReferenceCase(
            name="binary_point_rule",
            conventions={"rounding": "f = w − 1 − ⌈log₂ max|x|⌉ (ceiling); max|x| ≤ 0 gives f = w − 1"},
            inputs={"max_abs": 0.9, "max_abs_big": 7.5, "wbit": 4},
            expected={"f": np.array(3), "f_big": np.array(0)},
            compute=lambda max_abs, max_abs_big, wbit: {
                "f": binary_point_for_range(max_abs, wbit),
                "f_big": binary_point_for_range(max_abs_big, wbit),
            },
            function=_F + "binary_point_for_range",
            note="By hand: ⌈log₂ 0.9⌉ = 0 → f = 4 − 1 − 0 = 3 (range ±0.875); ⌈log₂ 7.5⌉ = 3 → f = 0.",
            atol=0,
        ),
        ReferenceCase(
            name="one_and_two_hot_sets",
            inputs={"wbit": 4, "fbit": 0},
            expected={
                "one_hot": np.array([-4, -2, -1, 0, 1, 2, 4]),
                "two_hot": np.array([-6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6]),
            },
            compute=lambda wbit, fbit: {
                "one_hot": khot_values(wbit, fbit, 1),
                "two_hot": khot_values(wbit, fbit, 2),
            },
            function=_F + "khot_values",
            note="By hand: powers {1, 2, 4} (w = 4, f = 0); one term: 0, ±1, ±2, ±4; two distinct terms: "
            "±1±2 → ±1, ±3; ±1±4 → ±3, ±5; ±2±4 → ±2, ±6. 7 = 4 + 2 + 1 needs three terms, so it is absent.",
            atol=0,
        ),
        ReferenceCase(
            name="one_hot_quantize",
            conventions={
                "rounding": "nearest K-hot value, a tie to the smaller value (not half to even)",
                "saturation": "beyond the extreme K-hot values: the extreme value",
            },
            inputs={"x": [2.9, 3.0, -3.2, 6.0], "wbit": 4, "fbit": 0, "K": 1},
            expected={"q": np.array([2.0, 2.0, -4.0, 4.0])},
            compute=lambda x, wbit, fbit, K: {"q": khot_quantize(x, wbit, fbit, K)},
            function=_F + "khot_quantize",
            note="By hand on {0, ±1, ±2, ±4}: 2.9 → 2 (0.9 < 1.1); 3.0 is a tie between 2 and 4 → the smaller, "
            "2; −3.2 → −4; 6 → 4 (the largest one-hot value).",
            atol=0,
        ),
        ReferenceCase(
            name="gptq_fixed_point_two_columns",
            conventions={
                **_CAST,
                "gptq": "columns in natural order; H = 2XᵀX/N damped by percdamp·mean diag H; error fed "
                "back through the upper Cholesky factor of H⁻¹",
            },
            inputs={
                "w": [[0.3, 0.36]],
                "x": [[1.0, 1.0], [1.0, 0.0], [0.0, 1.0]],
                "wbit": 4,
                "fbit": 2,
                "percdamp": 0.0,
            },
            expected={"q": np.array([[0.25, 0.5]]), "q_cast": np.array([[0.25, 0.25]])},
            compute=lambda w, x, wbit, fbit, percdamp: {
                "q": gptq_fixed_point_cast(w, x, wbit, fbit, percdamp=percdamp),
                "q_cast": fixed_point_cast(w, wbit, fbit),
            },
            function=_F + "gptq_fixed_point_cast",
            note="By hand: XᵀX = [[2, 1], [1, 2]], so H ∝ [[2, 1], [1, 2]] and H⁻¹ ∝ [[2, −1], [−1, 2]] (the scale "
            "cancels). Column 1: 0.3 → cast (×4 = 1.2 → 1) 0.25, error 0.05; column 2 is updated by "
            "−0.05·[H⁻¹]₁₂/[H⁻¹]₁₁ = +0.025 to 0.385 → ×4 = 1.54 → 2 → 0.5. The plain cast rounds 0.36 "
            "(×4 = 1.44) to 0.25. Output error eᵀHe ∝ 2·0.05² + 2·0.05·(−0.14) + 2·0.14² = 0.0302 with GPTQ "
            "against 2·0.05² + 2·0.05·0.11 + 2·0.11² = 0.0402 with the cast.",
            atol=1e-12,
        ),
    ]
