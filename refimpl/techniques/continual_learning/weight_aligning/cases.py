"""Reference cases of weight aligning, by hand: the aligned weights of a four-class head, the distillation loss
of a two-class example, and herding on three 2-d features."""

from __future__ import annotations

import numpy as np

from ....autograd.tensor import Tensor
from ....catalog import ReferenceCase
from . import herding, kd_loss, weight_align

_PATH = "refimpl.techniques.continual_learning.weight_aligning"


def _align(W, old, new):
    gamma, out = weight_align(np.asarray(W), old, new)
    return {"gamma": np.array([gamma]), "W": out}


def _kd(logits, old_logits, T):
    return {
        "kd": np.array(
            [float(kd_loss(Tensor(np.asarray(logits, dtype=np.float32)), np.asarray(old_logits), T).data)]
        )
    }


def _herd(features, m):
    return {"chosen": herding(np.asarray(features), m)}


def reference_cases() -> list:
    p = np.array([0.25, 0.75])
    return [
        ReferenceCase(
            name="weight_align_four_classes",
            inputs={"W": [[3.0, 4.0], [0.0, 5.0], [1.0, 0.0], [0.0, 2.0]], "old": [0, 1], "new": [2, 3]},
            expected={"gamma": [5 / 1.5], "W": [[3.0, 4.0], [0.0, 5.0], [10 / 3, 0.0], [0.0, 20 / 3]]},
            compute=_align,
            function=f"{_PATH}.weight_align",
            note="Old norms 5 and 5, new 1 and 2: γ = 5/1.5 = 10/3; the new rows times γ, the old untouched.",
            atol=1e-12,
        ),
        ReferenceCase(
            name="kd_loss_two_classes",
            inputs={"logits": [[0.0, 2 * np.log(3.0)]], "old_logits": [[0.0, 2 * np.log(3.0)]], "T": 2.0},
            expected={"kd": [-np.sum(p * np.log(p))]},
            compute=_kd,
            function=f"{_PATH}.kd_loss",
            note="At T = 2 both logits become [0, ln 3]: softmax [¼, ¾]; student = teacher, so the loss is the "
            "entropy −(¼ ln ¼ + ¾ ln ¾) = 0.5623.",
            atol=1e-6,
        ),
        ReferenceCase(
            name="herding_three_points",
            inputs={"features": [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], "m": 2},
            expected={"chosen": [2, 0]},
            compute=_herd,
            function=f"{_PATH}.herding",
            note="Normalised: a = (1, 0), b = (0, 1), c = (1, 1)/√2; the mean ≈ (0.569, 0.569) is nearest c; then "
            "(c + a)/2 and (c + b)/2 are equally near: the tie goes to the lower index, a.",
            conventions={"ties": "the lowest index wins (argmin)"},
            atol=0.0,
        ),
    ]
