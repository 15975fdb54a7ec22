"""Reference cases of CW-ERM, worked by hand: the moderate coreset of a small 1-d pool (the official rule:
distances to the class's median feature, the middle window of their ranks) and nearest-neighbour
broadcasting with and without the same-label rule (the meta-gradient is checked against finite differences
in the tests)."""

from __future__ import annotations

import numpy as np

from . import broadcast_nearest, moderate_coreset

_MOD = "refimpl.techniques.data_weighting_selection.coreset_reweighting"


def reference_cases() -> list:
    from ....catalog import ReferenceCase

    def core_case(features, y, fraction):
        return {"core": moderate_coreset(np.asarray(features), np.asarray(y), fraction)}

    def broadcast_case(features, y, core, core_weights, same_label):
        return {
            "w": broadcast_nearest(
                np.asarray(features), np.asarray(y), np.asarray(core), core_weights, same_label
            )
        }

    # the broadcasting pool: class 0 at 0, 1, 2, 3, 10 and class 1 at 20, 21, 22
    feats = np.array([[0.0], [1.0], [2.0], [3.0], [10.0], [20.0], [21.0], [22.0]])
    ys = np.array([0, 0, 0, 0, 0, 1, 1, 1])
    # the coreset pool: class 0 at 0, 1, 2, 3, 5, 7, 15 (median 3: d = 3, 2, 1, 0, 2, 4, 12) and class 1 at
    # 20, 22, 23, 25, 40 (median 23: d = 3, 1, 0, 2, 17)
    cfeats = np.array([[0.0], [1], [2], [3], [5], [7], [15], [20], [22], [23], [25], [40]])
    cys = np.array([0] * 7 + [1] * 5)
    return [
        ReferenceCase(
            "moderate_coreset_two_classes_half",
            {"features": cfeats, "y": cys, "fraction": 0.5},
            {"core": np.array([0, 1, 4, 7, 8, 10])},
            core_case,
            note="count = int(0.5·12) = 6, 3 per class. Class 0 (n 7, r 3/7): ranks round(7·(½ − 3/14)) = 2 to "
            "round(7·(½ + 3/14)) − 1 = 4 of the ascending d (indices 3, 2, then 1 and 4 tied at 2 in index "
            "order, 0, 5, 6) → 1, 4, 0. Class 1 (n 5, r 3/5): ranks 1 to 3 of (9, 8, 10, 7, 11) → 8, 10, 7. "
            "The centre points (3, 23) and the outliers (15, 40) are left out",
            function=f"{_MOD}.moderate_coreset",
            conventions={
                "centre": "coordinate-wise median of the class's features",
                "window": "ranks round(n(1/2 - r/2)) .. round(n(1/2 + r/2)) - 1, Python round (half to even)",
                "ties": "equal distances ordered by index (stable sort)",
            },
        ),
        ReferenceCase(
            "broadcast_same_label",
            {
                "features": feats,
                "y": ys,
                "core": np.array([1, 5]),
                "core_weights": np.array([0.25, 0.75]),
                "same_label": True,
            },
            {"w": np.array([0.25, 0.25, 0.25, 0.25, 0.25, 0.75, 0.75, 0.75])},
            broadcast_case,
            note="each example takes the weight of the coreset example of its own label (one per label here): "
            "class 0, the point at 10 included, 0.25; class 1, 0.75",
            function=f"{_MOD}.broadcast_nearest",
        ),
        ReferenceCase(
            "broadcast_any_label",
            {
                "features": feats,
                "y": np.array([0, 0, 0, 0, 1, 1, 1, 1]),
                "core": np.array([1, 5]),
                "core_weights": np.array([0.25, 0.75]),
                "same_label": False,
            },
            {"w": np.array([0.25, 0.25, 0.25, 0.25, 0.25, 0.75, 0.75, 0.75])},
            broadcast_case,
            note="across labels the point at 10 (labelled 1) is 9 from x = 1 and 10 from x = 20: it takes 0.25",
            function=f"{_MOD}.broadcast_nearest",
        ),
    ]
