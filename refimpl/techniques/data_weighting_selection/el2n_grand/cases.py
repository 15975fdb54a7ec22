"""Reference cases of EL2N / GraNd pruning, worked by hand: EL2N of a probability vector, GraNd of a
linear softmax model (the last-layer closed form), and the keep-hardest window with an offset."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from . import el2n_scores, grand_scores, prune

_MOD = "refimpl.techniques.data_weighting_selection.el2n_grand"


def reference_cases() -> list:
    from ....nn import Linear

    def el2n_case(W, x, y):
        lin = Linear(len(W[0]), len(W), bias=False, dtype=np.float64)
        lin.weight.data[...] = np.asarray(W)
        return {"el2n": el2n_scores(lin, np.asarray(x), np.asarray(y))}

    def grand_case(W, b, x, y):
        lin = Linear(len(W[0]), len(W), dtype=np.float64)
        lin.weight.data[...] = np.asarray(W)
        lin.bias.data[...] = np.asarray(b)
        return {"grand": grand_scores(lin, np.asarray(x), np.asarray(y))}

    def prune_case(scores, keep_fraction, offset_fraction):
        return {"kept": prune(np.asarray(scores), keep_fraction, offset_fraction)}

    # logits = log p with p = (0.7, 0.2, 0.1): W = diag(log p) and x = (1, 1, 1) summed → z = log p
    logp = np.log([0.7, 0.2, 0.1])
    return [
        ReferenceCase(
            "el2n_p_0.7_0.2_0.1",
            {"W": np.diag(logp), "x": np.ones((1, 3)), "y": np.array([0])},
            {"el2n": np.array([np.sqrt(0.14)])},
            el2n_case,
            note="p − e₀ = (−0.3, 0.2, 0.1): ‖·‖ = √(0.09 + 0.04 + 0.01) = √0.14 = 0.374166",
            function=f"{_MOD}.el2n_scores",
        ),
        ReferenceCase(
            "grand_linear_softmax",
            {"W": np.zeros((2, 2)), "b": np.zeros(2), "x": np.array([[3.0, 4.0]]), "y": np.array([1])},
            {"grand": np.array([np.sqrt(0.5) * np.sqrt(26.0)])},
            grand_case,
            note="zero weights: p = (½, ½), p − e₁ = (½, −½), ‖·‖ = √0.5; ‖∇W‖² + ‖∇b‖² = 0.5·(‖x‖² + 1) "
            "= 0.5·26 → GraNd = √13 = 3.605551",
            function=f"{_MOD}.grand_scores",
        ),
        ReferenceCase(
            "prune_keep_half_offset_tenth",
            {
                "scores": np.array([0.9, 0.1, 0.5, 0.7, 0.3, 0.8, 0.2, 0.6, 0.4, 0.0]),
                "keep_fraction": 0.5,
                "offset_fraction": 0.1,
            },
            {"kept": np.array([2, 3, 5, 7, 8])},
            prune_case,
            note="descending order 0(.9) 5(.8) 3(.7) 7(.6) 2(.5) 8(.4) …: skip 1 (index 0), keep the next 5",
            function=f"{_MOD}.prune",
            atol=0.0,
            rtol=0.0,
            atol32=0.0,
            rtol32=0.0,
            conventions={
                "rounding": "keep and offset counts: round(f·n), halves up; ties: lower index first"
            },
        ),
    ]
