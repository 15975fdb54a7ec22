"""Reference cases of weight matching: a planted permutation, the assignment, alignment, activation matching."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from ....catalog import ReferenceCase
from . import activation_matching, singular_alignment, weight_matching

_MOD = "refimpl.techniques.merging_averaging.weight_matching_lmc"


def reference_cases() -> list:
    def match_one_layer(w_a, w_b):
        a = OrderedDict([("0.weight", np.asarray(w_a)), ("2.weight", np.zeros((1, 3)))])
        b = OrderedDict([("0.weight", np.asarray(w_b)), ("2.weight", np.zeros((1, 3)))])
        return {"perm": weight_matching(a, b)["P_0"]}

    # A's hidden units (rows) are B's rows 2, 0, 1 → perm = [2, 0, 1]
    w_b = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    w_a = w_b[[2, 0, 1]] + 0.01

    def lap(cost):
        from scipy.optimize import linear_sum_assignment

        return {"cols": linear_sum_assignment(np.asarray(cost), maximize=True)[1]}

    def align(w_a, w_b, k):
        return {"top": np.array(singular_alignment(w_a, w_b, k, "top"))}

    def am_case(w1_b, w2_b, x):
        """A is B with its hidden units reordered; activation matching recovers the order."""
        w1_b, w2_b = np.asarray(w1_b), np.asarray(w2_b)
        order = [1, 2, 0]
        a = OrderedDict(
            [
                ("0.weight", w1_b[order]),
                ("0.bias", np.zeros(3)),
                ("2.weight", w2_b[:, order]),
                ("2.bias", np.zeros(1)),
            ]
        )
        b = OrderedDict(
            [("0.weight", w1_b), ("0.bias", np.zeros(3)), ("2.weight", w2_b), ("2.bias", np.zeros(1))]
        )
        return {"perm": activation_matching(a, b, np.asarray(x))["P_0"]}

    return [
        ReferenceCase(
            "recover_planted_permutation",
            {"w_a": w_a, "w_b": w_b},
            {"perm": np.array([2, 0, 1])},
            match_one_layer,
            function=f"{_MOD}.weight_matching",
            note="by construction: A's rows are B's rows [2, 0, 1] plus 0.01",
            atol=0,
        ),
        ReferenceCase(
            "assignment_3x3",
            {"cost": [[4.0, 1.0, 3.0], [2.0, 0.0, 5.0], [3.0, 2.0, 2.0]]},
            {"cols": np.array([0, 2, 1])},
            lap,
            function=f"{_MOD}.weight_matching",
            note="brute force over the 6 permutations: 4+5+2 = 11 is the maximum",
            atol=0,
        ),
        ReferenceCase(
            "alignment_identical_and_diag",
            {"w_a": [[3.0, 0.0], [0.0, 1.0]], "w_b": [[0.0, 1.0], [3.0, 0.0]], "k": 1},
            {"top": np.array(0.0)},
            align,
            function=f"{_MOD}.singular_alignment",
            note="by hand: top singular pair of A is (e1, e1); of B (e2, e1) after a row swap → ⟨e1,e2⟩ = 0",
            atol=1e-12,
        ),
        ReferenceCase(
            "activation_matching_recovers_reordered_units",
            {
                "w1_b": [[1.0, 0.0], [0.0, 1.0], [1.0, -1.0]],
                "w2_b": [[1.0, 2.0, 3.0]],
                "x": [[1.0, 0.0], [0.0, 1.0], [2.0, 1.0]],
            },
            {"perm": np.array([1, 2, 0])},
            am_case,
            function=f"{_MOD}.activation_matching",
            note="by construction: A's hidden unit i is B's unit [1, 2, 0][i], so their activations coincide",
            atol=0,
        ),
    ]
