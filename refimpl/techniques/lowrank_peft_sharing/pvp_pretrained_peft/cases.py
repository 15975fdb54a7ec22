"""Reference cases of PVP: a trunk layer with a LoRA loaded from stage 1, worked by hand."""

from __future__ import annotations

import numpy as np

from .... import tensor
from ....catalog import ReferenceCase
from ....nn import Linear, Sequential
from . import attach_pretrained

_MOD = "refimpl.techniques.lowrank_peft_sharing.pvp_pretrained_peft"


def reference_cases() -> list:
    def layer_case(theta, bias, A, B, alpha, x):
        out_f, in_f = theta.shape
        layer = Linear(in_f, out_f, dtype=np.float64)
        layer.weight.data[...] = theta
        layer.bias.data[...] = bias
        trunk = Sequential(layer)
        attach_pretrained(trunk, {"0": {"A": A, "B": B}}, r=A.shape[0], alpha=alpha)
        return {"y": trunk(tensor(x)).data, "W": layer.weight.data.copy()}

    theta = np.array([[1.0, 0.0], [0.0, 1.0]])
    bias = np.array([0.5, -0.5])
    A = np.array([[1.0, 2.0]])
    B = np.array([[1.0], [0.0]])
    x = np.array([[1.0, 1.0], [2.0, -1.0]])
    return [
        ReferenceCase(
            "loaded_rank1_alpha2",
            {"theta": theta, "bias": bias, "A": A, "B": B, "alpha": 2.0, "x": x},
            # by hand: s = α/r = 2; W = I + 2·[[1],[0]]·[[1, 2]] = [[3, 4], [0, 1]];
            # y = x Wᵀ + b: [1, 1] → [7, 1] + [0.5, −0.5] = [7.5, 0.5]; [2, −1] → [2, −1] + b = [2.5, −1.5]
            {"y": np.array([[7.5, 0.5], [2.5, -1.5]]), "W": np.array([[3.0, 4.0], [0.0, 1.0]])},
            layer_case,
            function=f"{_MOD}.attach_pretrained",
            note="by hand: W = θ + (α/r)·B A with the stage-1 values loaded, then y = x Wᵀ + b",
            conventions={"layout": "weight (out, in), y = x Wᵀ + b", "scaling": "α / r (not rsLoRA)"},
            atol=1e-12,
        ),
        ReferenceCase(
            "phi0_is_the_base",
            {"theta": theta, "bias": bias, "A": A, "B": np.zeros((2, 1)), "alpha": 2.0, "x": x},
            # by hand: B = 0 ⇒ W = θ = I; y = x + b
            {"y": x + bias, "W": theta},
            layer_case,
            function=f"{_MOD}.attach_pretrained",
            note="by hand: with B = 0 (φ₀, the start of stage 1 and of the random-init ablation) W = θ",
            atol=1e-12,
        ),
    ]
