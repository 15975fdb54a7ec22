"""Reference cases of Model Stock: the interpolation ratio at hand-picked angles and a merge of
two-dimensional vectors, worked by hand."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from . import interpolation_ratio, model_stock

_PKG = "refimpl.techniques.merging_averaging.model_stock"


def reference_cases() -> list:
    def ratio(cos_theta, n_models):
        return {"t": interpolation_ratio(cos_theta, n_models)}

    def merge(w0, w1, w2):
        r = model_stock({"w": np.asarray(w0)}, [{"w": np.asarray(w1)}, {"w": np.asarray(w2)}])
        return {"cos": np.array(r["cos"]["w"]), "t": np.array(r["t"]["w"]), "w_H": r["state"]["w"]}

    return [
        ReferenceCase(
            "ratio_n2",
            {"cos_theta": [0.0, 0.5, 1.0], "n_models": 2},
            {"t": np.array([0.0, 2 / 3, 1.0])},
            ratio,
            function=f"{_PKG}.interpolation_ratio",
            note="by hand: 2c/(1+c) at c = 0, 0.5, 1 gives 0, 1/1.5, 1",
            atol=1e-12,
        ),
        ReferenceCase(
            "ratio_n4",
            {"cos_theta": [0.25], "n_models": 4},
            {"t": np.array([4 / 7])},
            ratio,
            function=f"{_PKG}.interpolation_ratio",
            note="by hand: 4·0.25/(1+3·0.25) = 1/1.75 = 4/7",
            atol=1e-12,
        ),
        ReferenceCase(
            "merge_hand_vectors",
            {"w0": [1.0, 1.0], "w1": [2.0, 1.0], "w2": [2.0, 2.0]},
            {
                "cos": np.array(1 / np.sqrt(2)),
                "t": np.array(2 / (1 + np.sqrt(2))),
                "w_H": np.array([1.0, 1.0]) + (2 / (1 + np.sqrt(2))) * np.array([1.0, 0.5]),
            },
            merge,
            function=f"{_PKG}.model_stock",
            note="by hand: deltas (1,0) and (1,1), cos = 1/√2, t = 2c/(1+c) = 2/(1+√2) ≈ 0.828; "
            "w̄ − w0 = (1, 0.5); w_H = w0 + t (w̄ − w0)",
            atol=1e-12,
        ),
    ]
