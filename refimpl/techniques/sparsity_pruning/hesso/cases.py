"""Reference cases of HESSO: the five-proxy saliency worked by hand on two groups, the per-period budget,
the selection of redundant groups, and the projection factor's telescoping product (a closed form).
HESSO defines no new differentiable op (it acts on parameters between optimizer steps), so there is
no custom backward to gradient-check."""

from __future__ import annotations

import math

import numpy as np

from ....catalog import ReferenceCase
from . import forget_factor, redundant_counts, saliency_scores, select_redundant

_M = "refimpl.techniques.sparsity_pruning.hesso."


def reference_cases() -> list:
    def saliency(X, D):
        return {"scores": saliency_scores([np.asarray(X)], [np.asarray(D)])}

    def counts(n_groups, target, periods):
        return {"counts": np.array(redundant_counts(int(n_groups), float(target), int(periods)))}

    def select(scores, pruned, k, sizes=None):
        return {"redundant": select_redundant(np.asarray(scores), list(pruned), int(k), sizes)}

    def shrink(T):
        cum, out = 1.0, []
        for t in range(int(T)):
            cum *= forget_factor(t, int(T))
            out.append(cum)
        return {"cumulative": np.array(out)}

    # by hand: x1 = (3, 4), d1 = (1, 0); x2 = (0, 1), d2 = (0, 2)
    #   magnitude (5, 1) / √26; average magnitude (5/2, 1/2) / √6.5 = the same; cosine+1: (3/5 + 1, 2/2 + 1)
    #   = (1.6, 2) / √6.56; |first-order Taylor| (3, 2) / √13; second-order ½(3², 2²) = (4.5, 2) / √24.25
    s26, s656, s13, s2425 = math.sqrt(26), math.sqrt(6.56), math.sqrt(13), math.sqrt(24.25)
    hand = np.array(
        [
            0.2 * (5 / s26 + 5 / s26 + 1.6 / s656 + 3 / s13 + 4.5 / s2425),
            0.2 * (1 / s26 + 1 / s26 + 2 / s656 + 2 / s13 + 2 / s2425),
        ]
    )
    return [
        ReferenceCase(
            "saliency_two_groups",
            {"X": np.array([[3.0, 4.0], [0.0, 1.0]]), "D": np.array([[1.0, 0.0], [0.0, 2.0]])},
            {"scores": hand},
            saliency,
            function=_M + "saliency_scores",
            note="by hand: each proxy divided by its L2 norm over the two groups, weights 0.2 each "
            "(safe-guard constants 1e-8 and the 1e-6 in the size are below the tolerance)",
            conventions={
                "scheme": "proxies: ‖x‖, ‖x‖/n, cos(x,d)+1, |xᵀd|, ½(xᵀd)²; each / its L2 norm over groups",
            },
        ),
        ReferenceCase(
            "budget_128_groups_85pct_3_periods",
            {"n_groups": 128, "target": 0.85, "periods": 3},
            {"counts": np.array([36, 36, 36])},
            counts,
            function=_M + "redundant_counts",
            note="by hand: int(128 · 0.85) = int(108.8) = 108 = 3 · 36",
            atol=0,
            rtol=0,
        ),
        ReferenceCase(
            "budget_remainder_in_last_period",
            {"n_groups": 10, "target": 0.5, "periods": 3},
            {"counts": np.array([1, 1, 3])},
            counts,
            function=_M + "redundant_counts",
            note="by hand: int(10 · 0.5) = 5; 5 // 3 = 1 per period, the last takes 5 − 2 = 3",
            atol=0,
            rtol=0,
        ),
        ReferenceCase(
            "budget_full_target_capped",
            {"n_groups": 10, "target": 1.0, "periods": 1},
            {"counts": np.array([9])},
            counts,
            function=_M + "redundant_counts",
            note="by hand: the target is capped at 0.999, int(10 · 0.999) = 9 (the official default)",
            atol=0,
            rtol=0,
        ),
        ReferenceCase(
            "select_two_lowest_unpruned",
            {"scores": np.array([0.5, 0.1, 0.3, 0.2, 0.9]), "pruned": [1], "k": 2},
            {"redundant": np.array([2, 3])},
            select,
            function=_M + "select_redundant",
            note="by hand: group 1 is already pruned; the two lowest of the rest are 0.2 (3) and 0.3 (2)",
            atol=0,
            rtol=0,
        ),
        ReferenceCase(
            "select_keeps_one_group_per_layer",
            {"scores": np.array([0.1, 0.9, 0.5, 0.05, 0.2]), "pruned": [], "k": 3, "sizes": [3, 2]},
            {"redundant": np.array([0, 2, 3])},
            select,
            function=_M + "select_redundant",
            note="by hand: order 3, 0, 4, 2, 1; group 4 would empty layer 2 (groups 3, 4) after 3 went, so "
            "it is skipped and the third pick is 2 (without the floor: 0, 3, 4)",
            atol=0,
            rtol=0,
        ),
        ReferenceCase(
            "projection_shrinks_linearly_to_zero",
            {"T": 4},
            {"cumulative": np.array([0.75, 0.5, 0.25, 0.0])},
            shrink,
            function=_M + "forget_factor",
            note="closed form: Π_{t≤j} (T−t−1)/(T−t) telescopes to (T−j−1)/T",
            atol=1e-12,
            rtol=0,
        ),
    ]
