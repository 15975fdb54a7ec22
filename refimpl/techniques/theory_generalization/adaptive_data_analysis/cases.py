"""Reference cases of Thresholdout without noise (σ = 0), where its rule is plain: the training mean when it is
within T of the holdout mean, the holdout mean otherwise; and the plain holdout answer."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from . import Thresholdout, naive_holdout

_PATH = "refimpl.techniques.theory_generalization.adaptive_data_analysis"


def _noiseless(threshold, train, holdout):
    mech = Thresholdout(threshold, 0.0, rng=0)
    answers = [mech.query(np.asarray(t), np.asarray(h)) for t, h in zip(train, holdout)]
    return {"answers": np.array(answers), "overflows": np.asarray(mech.overflows, dtype=np.float64)}


def _naive(train, holdout):
    return {"answer": np.asarray(naive_holdout(np.asarray(train), np.asarray(holdout)))}


def reference_cases() -> list:
    return [
        ReferenceCase(
            name="thresholdout_noiseless",
            inputs={
                "threshold": 0.1,
                "train": [[1.0, 0.0], [1.0, 0.0], [0.5, 0.5]],
                "holdout": [[1.0, 1.0], [1.0, 0.0], [0.6, 0.6]],
            },
            expected={"answers": [1.0, 0.5, 0.5], "overflows": 1.0},
            compute=_noiseless,
            function=f"{_PATH}.Thresholdout",
            note="T = 0.1, σ = 0: means (0.5 vs 1.0) differ by 0.5 > T → the holdout's 1.0 (one overflow); (0.5 vs "
            "0.5) → the training 0.5; (0.5 vs 0.6) differ by 0.1, not more than T → the training 0.5.",
            atol=1e-15,
        ),
        ReferenceCase(
            name="naive_holdout_mean",
            inputs={"train": [0.0, 0.0], "holdout": [1.0, 0.0, 1.0, 1.0]},
            expected={"answer": 0.75},
            compute=_naive,
            function=f"{_PATH}.naive_holdout",
            note="The reused holdout answers its own mean, 3/4, whatever the training set says.",
            atol=1e-15,
        ),
    ]
