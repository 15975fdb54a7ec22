"""Reference cases of the class-weighted F1 schemes: a 3-class confusion matrix scored by hand (F_c = 2tp_c/(n_c +
m_c) when both counts are positive), the micro score with a "no relation" class left out, and the zero-division
and absent-class conventions."""

from __future__ import annotations

import math

import numpy as np

from ....catalog import ReferenceCase
from . import all_schemes, micro_scores, per_class_scores, weighted_scores

_P = "refimpl.techniques.representations_weighting.class_weighted_f1."

# rows = gold, columns = predicted: supports n = (6, 4, 2), predicted counts m = (7, 4, 1), tp = (5, 2, 1)
_C = np.array([[5, 1, 0], [2, 2, 0], [0, 1, 1]])
_F = (10 / 13, 1 / 2, 2 / 3)  # 2tp/(n+m): 10/13, 4/8, 2/3


def _avg(w):
    return sum(a * b for a, b in zip(w, _F)) / sum(w)


def reference_cases() -> list:
    conv = {"scheme": "zero_division = 0; macro over classes present in gold or predictions"}
    return [
        ReferenceCase(
            "per_class_scores_hand",
            {"confusion": _C},
            {
                "precision": np.array([5 / 7, 1 / 2, 1.0]),
                "recall": np.array([5 / 6, 1 / 2, 1 / 2]),
                "f1": np.array(_F),
            },
            lambda confusion: {
                k: v for k, v in per_class_scores(confusion).items() if k in ("precision", "recall", "f1")
            },
            function=_P + "per_class_scores",
            note="by hand: P_c = tp/column sum, R_c = tp/row sum, F_c = 2tp/(n + m)",
            atol=1e-12,
            conventions=conv,
        ),
        ReferenceCase(
            "all_schemes_hand",
            {"confusion": _C},
            {
                "micro": 8 / 12,
                "weighted": 155 / 234,
                "dodrans": _avg([6**0.75, 4**0.75, 2**0.75]),
                "entropy": _avg([6 * math.log(2), 4 * math.log(3), 2 * math.log(6)]),
                "macro": 151 / 234,
            },
            lambda confusion: all_schemes(confusion),
            function=_P + "all_schemes",
            note="by hand: micro = accuracy = trace/N = 8/12; macro = (10/13 + 1/2 + 2/3)/3 = 151/234; weighted = "
            "(6·10/13 + 4·1/2 + 2·2/3)/12 = 155/234; dodrans weights 6^¾, 4^¾, 2^¾; entropy weights −n ln(n/12) "
            "= 6 ln 2, 4 ln 3, 2 ln 6",
            atol=1e-12,
            conventions=conv,
        ),
        ReferenceCase(
            "micro_without_no_relation_class",
            {"confusion": _C, "ignore": [0]},
            {"precision": 3 / 5, "recall": 1 / 2, "f1": 6 / 11},
            lambda confusion, ignore: micro_scores(confusion, ignore),
            function=_P + "micro_scores",
            note="by hand: class 0 is 'no relation'; pooled over classes 1, 2: tp = 3, predicted 5, gold 6, "
            "so P = 3/5, R = 1/2, F = 2·3/(5 + 6) = 6/11 (no longer the accuracy)",
            atol=1e-12,
            conventions=conv,
        ),
        ReferenceCase(
            "macro_zero_division_and_absent_class",
            {"confusion": np.array([[3, 0, 0], [2, 0, 0], [0, 0, 0]]), "scheme": "macro"},
            {"precision": (3 / 5) / 2, "recall": 1 / 2, "f1": (3 / 4) / 2},
            lambda confusion, scheme: weighted_scores(confusion, scheme),
            function=_P + "weighted_scores",
            note="by hand: class 1 is never predicted (P = R = F = 0 by zero_division = 0); class 2 occurs neither "
            "in gold nor in predictions and is left out; class 0: P = 3/5, R = 1, F = 2·3/(3 + 5) = 3/4",
            atol=1e-12,
            conventions=conv,
        ),
    ]
