"""Reference cases of ExSSNeT, by hand: the top-k supermask (with its tie rule and count), the exclusive mask, the
masked layer's output and its straight-through gradients, and a KNN accuracy on 1-d points."""

from __future__ import annotations

import numpy as np

from ....autograd.tensor import Tensor
from ....catalog import ReferenceCase
from . import SupermaskLinear, exclusive_mask, knn_accuracy, topk_mask

_PATH = "refimpl.techniques.continual_learning.exssnet"


def _topk(scores, density):
    return {"mask": topk_mask(np.abs(np.asarray(scores, dtype=np.float64)), density)}


def _exclusive(current, previous):
    return {"editable": exclusive_mask(np.asarray(current), [np.asarray(p) for p in previous])}


def _layer(W, S, x, density):
    layer = SupermaskLinear(len(W[0]), len(W), 1, density, rng=0)
    layer.weight.data = np.asarray(W, dtype=np.float64)
    layer.scores_0.data = np.asarray(S, dtype=np.float64)
    y = layer(Tensor(np.asarray(x, dtype=np.float64)))
    y.sum().backward()
    return {"y": y.data, "dW": layer.weight.grad, "dS": layer.scores_0.grad}


def _knn(x_fit, y_fit, x_eval, y_eval, k):
    return {"accuracy": np.array([knn_accuracy(x_fit, y_fit, x_eval, y_eval, k)])}


def reference_cases() -> list:
    return [
        ReferenceCase(
            name="topk_mask_of_abs_scores",
            inputs={"scores": [[0.5, -0.1], [0.3, -0.9]], "density": 0.5},
            expected={"mask": [[1.0, 0.0], [0.0, 1.0]]},
            compute=_topk,
            function=f"{_PATH}.topk_mask",
            note="|S| = [0.5, 0.1, 0.3, 0.9]; half of four kept: the two largest, 0.9 and 0.5.",
            atol=0.0,
        ),
        ReferenceCase(
            name="topk_mask_ties_and_count",
            inputs={"scores": [1.0, 1.0, 1.0, 1.0, 2.0, 0.5, 1.0], "density": 0.5},
            expected={"mask": [0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 1.0]},
            compute=_topk,
            function=f"{_PATH}.topk_mask",
            note="n = 7: ⌊0.5·7⌋ = 3 dropped, 4 kept.  Ascending stable order 0.5 (5), then the ties 1.0 at 0, 1, "
            "2, 3, 6, then 2.0 (4): drop 5, 0, 1 — the later of the tied entries survive.",
            conventions={
                "count": "n − ⌊(1 − density)·n⌋ kept (the code's GetSubnet)",
                "ties": "stable ascending sort; the higher flat index is kept",
            },
            atol=0.0,
        ),
        ReferenceCase(
            name="exclusive_mask_two_earlier_tasks",
            inputs={"current": [1, 1, 0, 1, 1], "previous": [[1, 0, 0, 0, 0], [0, 0, 1, 1, 0]]},
            expected={"editable": [0.0, 1.0, 0.0, 0.0, 1.0]},
            compute=_exclusive,
            function=f"{_PATH}.exclusive_mask",
            note="The current mask minus the union [1, 0, 1, 1, 0] of the earlier ones: entries 1 and 4.",
            atol=0.0,
        ),
        ReferenceCase(
            name="supermask_layer_forward_and_straight_through_gradient",
            inputs={"W": [[2.0, -3.0]], "S": [[0.5, -0.1]], "x": [[1.0, 1.0]], "density": 0.5},
            expected={"y": [[2.0]], "dW": [[1.0, 0.0]], "dS": [[2.0, 3.0]]},
            compute=_layer,
            function=f"{_PATH}.SupermaskLinear",
            note="M = top-half of |S| = [1, 0]; y = (W ⊙ M) x = 2.  L = y: ∂L/∂W = x ⊙ M = [1, 0]; straight "
            "through, ∂L/∂S = x ⊙ W ⊙ sign(S) = [1·2·1, 1·(−3)·(−1)] = [2, 3].",
            conventions={"gradient": "straight-through: ∂M/∂|S| = 1, then ∂|S|/∂S = sign(S)"},
            atol=1e-12,
        ),
        ReferenceCase(
            name="knn_accuracy_one_neighbour",
            inputs={
                "x_fit": [[0.0], [1.0], [10.0], [11.0]],
                "y_fit": [0, 0, 1, 1],
                "x_eval": [[0.4], [10.6], [5.4]],
                "y_eval": [0, 1, 1],
                "k": 1,
            },
            expected={"accuracy": [2 / 3]},
            compute=_knn,
            function=f"{_PATH}.knn_accuracy",
            note="Nearest fitting points: 0.4 → 0 (label 0, right), 10.6 → 11 (label 1, right), 5.4 → 1 (distance "
            "4.4 < 4.6 to 10: label 0, wrong): 2/3.",
            atol=1e-12,
        ),
    ]
