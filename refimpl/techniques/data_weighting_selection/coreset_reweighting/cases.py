"""Reference cases of CW-ERM, worked by hand: the moderate coreset of a small 1-d pool (distances to the class
centre and their median) and nearest-neighbour broadcasting with and without the same-label rule (the
meta-gradient is checked against finite differences in the tests)."""

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

    # class 0 at 0, 1, 2, 3, 10 (centre 3.2: distances 3.2, 2.2, 1.2, 0.2, 6.8; median 2.2 → |d − 2.2| =
    # 1.0, 0, 1.0, 2.0, 4.6) and class 1 at 20, 21, 22 (centre 21: distances 1, 0, 1; median 1 → 0, 1, 0)
    feats = np.array([[0.0], [1.0], [2.0], [3.0], [10.0], [20.0], [21.0], [22.0]])
    ys = np.array([0, 0, 0, 0, 0, 1, 1, 1])
    return [
        ReferenceCase(
            "moderate_coreset_two_classes_40pct",
            {"features": feats, "y": ys, "fraction": 0.4},
            {"core": np.array([0, 1, 5])},
            core_case,
            note="class 0 keeps round(0.4·5) = 2: |d − median| = (1.0, 0, 1.0, 2.0, 4.6) → index 1, then the "
            "tie 0 / 2 goes to the lower index 0; class 1 keeps max(1, round(1.2)) = 1: (0, 1, 0) → index 5 "
            "(the tie with 7 goes to the lower index); the outlier at 10 and the centre point 3 are left out",
            function=f"{_MOD}.moderate_coreset",
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
