"""Reference cases of TangleNAS, computed by hand: the zero-padded slice, the superposed weight of a
two-width choice (row j scaled by the mass of the candidates that contain unit j), and the superposed layer
equal to the mixture of the sliced candidates' outputs (linearity and ReLU homogeneity)."""

from __future__ import annotations

import math

import numpy as np

from ....catalog import ReferenceCase
from . import entangled_layer, pad_slice, superpose

_P = "refimpl.techniques.architectures.tanglenas."


def reference_cases() -> list:
    conv = {
        "slice": "candidate of width w uses the FIRST w rows (output units) of the (out, in) weight",
        "mixing": "p = softmax(alpha) over the widths, in the order given",
    }
    W = np.array([[1.0, 2.0], [3.0, -1.0], [0.5, 0.5]])  # (D = 3 units, 2 inputs)
    b = np.array([0.1, -0.2, 0.3])
    # alpha = (0, ln 3): p = (1/4, 3/4) for widths (1, 3); unit 0 has mass 1, units 1, 2 mass 3/4
    alpha = np.array([0.0, math.log(3.0)])
    x = np.array([[1.0, 1.0]])
    # by hand: z = x W^T + b = [3.1, 1.8, 1.3]; width 1 -> [3.1, 0, 0]; width 3 -> [3.1, 1.8, 1.3]
    # mixture: 1/4 [3.1, 0, 0] + 3/4 [3.1, 1.8, 1.3] = [3.1, 1.35, 0.975]
    return [
        ReferenceCase(
            "pad_slice_first_two_rows",
            {"W": W, "w": 2},
            {"out": np.array([[1.0, 2.0], [3.0, -1.0], [0.0, 0.0]])},
            lambda W, w: {"out": pad_slice(W, w).data},
            function=_P + "pad_slice",
            note="by hand: rows 0, 1 kept, row 2 zero",
            atol=0.0,
            conventions=conv,
        ),
        ReferenceCase(
            "superposed_weight_widths_1_3",
            {"W": W, "widths": (1, 3), "alpha": alpha},
            {"out": np.array([[1.0, 2.0], [2.25, -0.75], [0.375, 0.375]])},
            lambda W, widths, alpha: {"out": superpose(W, widths, alpha).data},
            function=_P + "superpose",
            note="p = (1/4, 3/4): row 0 in both candidates (mass 1), rows 1, 2 only in width 3 (mass 3/4)",
            atol=1e-12,
            conventions=conv,
        ),
        ReferenceCase(
            "superposed_layer_equals_output_mixture",
            {"x": x, "W": W, "b": b, "widths": (1, 3), "alpha": alpha},
            {"out": np.array([[3.1, 1.35, 0.975]])},
            lambda x, W, b, widths, alpha: {"out": entangled_layer(x, W, b, widths, alpha).data},
            function=_P + "entangled_layer",
            note="z = xWᵀ + b = [3.1, 1.8, 1.3]; ¼·[3.1, 0, 0] + ¾·[3.1, 1.8, 1.3] = [3.1, 1.35, 0.975], "
            "the DARTS mixture of the two sliced candidates' ReLU outputs",
            atol=1e-12,
            conventions=conv,
        ),
    ]
