"""Reference cases of Half Fine-Tuning: the half draw and one masked update, worked by hand."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from . import UnitHalves, select_half

_MOD = "refimpl.techniques.lowrank_peft_sharing.half_fine_tuning"


def reference_cases() -> list:
    def half_case(n_groups, seed):
        m = select_half(int(n_groups), int(seed))
        return {"count": np.array(int(m.sum())), "size": np.array(m.size)}

    def step_case(W, b, x, mask, lr):
        """One SGD step on L = Σ (W x + b) with only the units in `mask` training."""
        from ....autograd.tensor import Tensor
        from ....nn import Linear, Sequential
        from ....optim import SGD

        layer = Linear(len(x), len(b), dtype=np.float64)
        layer.weight.data[...], layer.bias.data[...] = W, b
        hft = UnitHalves(Sequential(layer))
        hft.masks = [np.asarray(mask, dtype=bool)]
        layer(Tensor(np.asarray(x, dtype=np.float64)[None])).sum().backward()
        hft.after_backward(None)
        SGD(layer.parameters(), lr=float(lr)).step()
        return {"W": layer.weight.data, "b": layer.bias.data}

    W = [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]
    return [
        ReferenceCase(
            "half_of_8",
            {"n_groups": 8, "seed": 0},
            {"count": np.array(4), "size": np.array(8)},
            half_case,
            function=f"{_MOD}.select_half",
            note="definition: exactly ⌈8/2⌉ = 4 of 8 groups train",
            atol=0,
        ),
        ReferenceCase(
            "half_of_5",
            {"n_groups": 5, "seed": 3},
            {"count": np.array(3), "size": np.array(5)},
            half_case,
            function=f"{_MOD}.select_half",
            note="definition: ⌈5/2⌉ = 3 of 5 groups train",
            atol=0,
        ),
        ReferenceCase(
            "masked_sgd_step",
            {"W": W, "b": [0.5, 0.5, 0.5], "x": [1.0, -2.0], "mask": [True, False, True], "lr": 0.1},
            {"W": np.array([[0.9, 2.2], [3.0, 4.0], [4.9, 6.2]]), "b": np.array([0.4, 0.5, 0.4])},
            step_case,
            function=f"{_MOD}.UnitHalves",
            note="by hand: ∂L/∂W_i = x = (1, −2) and ∂L/∂b_i = 1 for every unit; units 0 and 2 train: "
            "W_i − 0.1·(1, −2), b_i − 0.1; unit 1 is frozen",
            atol=1e-12,
        ),
    ]
