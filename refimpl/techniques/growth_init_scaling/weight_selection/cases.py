"""Reference cases of weight selection, worked by hand: index sets (divisible, non-divisible, a rounding
tie), a matrix and a 4-D kernel whose entries spell their own indices, and a two-layer MLP."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from . import consecutive_indices, mlp_weight_selection, uniform_element_selection, uniform_indices

_MOD = "refimpl.techniques.growth_init_scaling.weight_selection"
_EXACT = dict(atol=0.0, rtol=0.0, atol32=0.0, rtol32=0.0)  # selection copies values: no rounding error
_ROUNDING = {"rounding": "non-divisible sizes: round(linspace(0, d−1, s)), half to even (torch.round)"}


def reference_cases() -> list:
    def indices(d, s):
        return {"indices": uniform_indices(int(d), int(s))}

    def consecutive(d, s):
        return {"indices": consecutive_indices(int(d), int(s))}

    def select(W, s_shape):
        return {"W_s": uniform_element_selection(np.asarray(W), tuple(s_shape))}

    def mlp(W1, b1, W2, b2, student_sizes, method, consistent, select_head):
        out = mlp_weight_selection(
            [(np.asarray(W1), np.asarray(b1)), (np.asarray(W2), np.asarray(b2))],
            list(student_sizes),
            method=method,
            consistent=bool(consistent),
            select_head=bool(select_head),
        )
        (w1, c1), (w2, c2) = out
        return {"W1_s": w1, "b1_s": c1, "W2_s": w2, "b2_s": c2}

    W = np.array([[10.0 * i + j for j in range(4)] for i in range(6)])  # W_ij = 10i + j
    K = np.array(  # K_abcd = 1000a + 100b + 10c + d, shape (4, 3, 3, 3) (a conv kernel: out, in, kh, kw)
        [
            [[[1000.0 * a + 100 * b + 10 * c + d for d in range(3)] for c in range(3)] for b in range(3)]
            for a in range(4)
        ]
    )
    K_s = np.array(  # a ∈ {0, 2} (4→2, step 2), b ∈ {0, 1, 2} (3→3), c, d ∈ {0, 2} (3→2: linspace(0, 2, 2))
        [
            [[[1000.0 * a + 100 * b + 10 * c + d for d in (0, 2)] for c in (0, 2)] for b in (0, 1, 2)]
            for a in (0, 2)
        ]
    )
    W1 = np.array([[10.0 * i + j for j in range(2)] for i in range(4)])  # (4, 2): a 2→4 hidden layer
    b1 = np.array([100.0, 101.0, 102.0, 103.0])
    W2 = np.array([[50.0 + 10 * i + j for j in range(4)] for i in range(3)])  # (3, 4): the 4→3 head
    b2 = np.array([200.0, 201.0, 202.0])
    return [
        ReferenceCase(
            "uniform_6x4_to_3x2",
            {"W": W, "s_shape": [3, 2]},
            {"W_s": np.array([[0.0, 2.0], [20.0, 22.0], [40.0, 42.0]])},
            select,
            function=f"{_MOD}.uniform_element_selection",
            note="by hand: 6→3 and 4→2 divide, steps 2 and 2: rows (0, 2, 4), columns (0, 2) of W_ij = 10i + j",
            conventions=_ROUNDING,
            **_EXACT,
        ),
        ReferenceCase(
            "uniform_indices_5_to_3_not_divisible",
            {"d": 5, "s": 3},
            {"indices": np.array([0, 2, 4])},
            indices,
            function=f"{_MOD}.uniform_indices",
            note="by hand: 3 ∤ 5, linspace(0, 4, 3) = (0, 2, 4), already integers",
            conventions=_ROUNDING,
            **_EXACT,
        ),
        ReferenceCase(
            "uniform_indices_10_to_4_not_divisible",
            {"d": 10, "s": 4},
            {"indices": np.array([0, 3, 6, 9])},
            indices,
            function=f"{_MOD}.uniform_indices",
            note="by hand: 4 ∤ 10, linspace(0, 9, 4) = (0, 3, 6, 9)",
            conventions=_ROUNDING,
            **_EXACT,
        ),
        ReferenceCase(
            "uniform_indices_6_to_5_rounding_tie",
            {"d": 6, "s": 5},
            {"indices": np.array([0, 1, 2, 4, 5])},
            indices,
            function=f"{_MOD}.uniform_indices",
            note="by hand: linspace(0, 5, 5) = (0, 1.25, 2.5, 3.75, 5); 2.5 rounds half to even → 2 "
            "(half away from zero would give 3)",
            conventions=_ROUNDING,
            **_EXACT,
        ),
        ReferenceCase(
            "uniform_indices_512_to_64_step_8",
            {"d": 512, "s": 64},
            {"indices": np.array([8 * k for k in range(64)])},
            indices,
            function=f"{_MOD}.uniform_indices",
            note="by hand: 64 | 512, step 512/64 = 8 (the experiment's hidden widths)",
            **_EXACT,
        ),
        ReferenceCase(
            "consecutive_indices_5_to_3",
            {"d": 5, "s": 3},
            {"indices": np.array([0, 1, 2])},
            consecutive,
            function=f"{_MOD}.consecutive_indices",
            note="by hand: the first s indices (the ablation's consecutive selection)",
            **_EXACT,
        ),
        ReferenceCase(
            "uniform_4d_kernel_4x3x3x3_to_2x3x2x2",
            {"W": K, "s_shape": [2, 3, 2, 2]},
            {"W_s": K_s},
            select,
            function=f"{_MOD}.uniform_element_selection",
            note="by hand: every dimension on its own — 4→2 step 2 (0, 2); 3→3 all; 3→2 not divisible, "
            "linspace(0, 2, 2) = (0, 2); entries 1000a + 100b + 10c + d written out for the kept indices",
            conventions=_ROUNDING,
            **_EXACT,
        ),
        ReferenceCase(
            "mlp_2_4_3_to_2_2_3_uniform_consistent",
            {
                "W1": W1,
                "b1": b1,
                "W2": W2,
                "b2": b2,
                "student_sizes": [2, 2, 3],
                "method": "uniform",
                "consistent": True,
                "select_head": True,
            },
            {
                "W1_s": np.array([[0.0, 1.0], [20.0, 21.0]]),
                "b1_s": np.array([100.0, 102.0]),
                "W2_s": np.array([[50.0, 52.0], [60.0, 62.0], [70.0, 72.0]]),
                "b2_s": np.array([200.0, 201.0, 202.0]),
            },
            mlp,
            function=f"{_MOD}.mlp_weight_selection",
            note="by hand: hidden 4→2 keeps units (0, 2): rows 0, 2 of W1 and b1, and the same units as "
            "columns 0, 2 of the head W2 (consistency); input 2→2 and output 3→3 keep everything",
            conventions={"head": "selected from the teacher's head (select_head=True)"},
            **_EXACT,
        ),
    ]
