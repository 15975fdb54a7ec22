"""Reference cases of LEVI: the layer-wise ensemble of adapting layers, worked by hand."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from . import levi_logits

_MOD = "refimpl.techniques.lowrank_peft_sharing.levi"


def reference_cases() -> list:
    def two_layers(f1, f2, g, W1, b1, W2, b2):
        return {"logits": levi_logits([f1, f2], g, [W1, W2], [b1, b2])}

    def one_layer(f, g, W, b):
        return {"logits": levi_logits([f], g, [W], [b])}

    return [
        ReferenceCase(
            "two_layers_by_hand",
            {
                "f1": np.array([[1.0, 0.0]]),
                "f2": np.array([[0.0, 2.0]]),
                "g": np.array([[3.0]]),
                "W1": np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]]),
                "b1": np.array([0.0, 1.0]),
                "W2": np.array([[0.0, 1.0, 0.0], [1.0, 0.0, -1.0]]),
                "b2": np.array([1.0, 0.0]),
            },
            {"logits": np.array([[3.5, -1.0]])},
            two_layers,
            function=f"{_MOD}.levi_logits",
            note=(
                "by hand: [f1; g] = (1, 0, 3) gives z1 = (1 + 3, 0) + (0, 1) = (4, 1); [f2; g] = (0, 2, 3) gives "
                "z2 = (2, −3) + (1, 0) = (3, −3); the mean is (3.5, −1)"
            ),
            conventions={"scheme": "mean of the adapting layers' logits; input order [f_l(x); g(x)]"},
            atol=1e-12,
        ),
        ReferenceCase(
            "one_layer_is_a_linear_map_of_the_concatenation",
            {
                "f": np.array([[1.0, 2.0], [0.0, -1.0]]),
                "g": np.array([[1.0, 0.0], [2.0, 1.0]]),
                "W": np.array([[1.0, 1.0, 1.0, 1.0]]),
                "b": np.array([0.5]),
            },
            {"logits": np.array([[4.5], [2.5]])},
            one_layer,
            function=f"{_MOD}.levi_logits",
            note="by hand: row sums of [f; g] are 4 and 2, plus the bias 0.5",
            conventions={"scheme": "mean of the adapting layers' logits; input order [f_l(x); g(x)]"},
            atol=1e-12,
        ),
    ]
