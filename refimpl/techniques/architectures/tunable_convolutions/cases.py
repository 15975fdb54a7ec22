"""Reference cases of tunable convolutions: the mixed kernel by hand, a tunable convolution computed by hand
(single channel, kernel 3, zero padding 1), its affinity in ω (the output at ω = (¼, ¾) equals ¼ and ¾ of the
outputs at the vertices, each computed by hand), and the parametric multi-loss by hand."""

from __future__ import annotations

import numpy as np

from ....autograd.tensor import Tensor
from ....catalog import ReferenceCase
from . import mix, multi_loss, tunable_conv1d

_P = "refimpl.techniques.architectures.tunable_convolutions."

# x = [1, 2, 3], K₁ = [1, 0, -1], K₂ = [0, 1, 0] (an identity), b₁ = 0.5, b₂ = -1, padding 1 (cross-correlation)
_X = np.array([[[1.0, 2.0, 3.0]]])
_K = np.array([[[[1.0, 0.0, -1.0]]], [[[0.0, 1.0, 0.0]]]])
_B = np.array([[0.5], [-1.0]])
# K₁ * x with zero padding: y_i = x_{i-1} − x_{i+1} → [0 − 2, 1 − 3, 2 − 0] = [−2, −2, 2]; + 0.5
_Y1 = np.array([[[-1.5, -1.5, 2.5]]])
# K₂ * x = x; − 1
_Y2 = np.array([[[0.0, 1.0, 2.0]]])


def reference_cases() -> list:
    conv = {
        "convolution": "cross-correlation (PyTorch convention), zero padding k // 2",
        "omega": "on the simplex: entries ≥ 0 summing to 1",
    }
    return [
        ReferenceCase(
            "mixed_kernel_by_hand",
            {"params": _K[:, 0, 0, :], "w": np.array([0.25, 0.75])},
            {"out": np.array([0.25, 0.75, -0.25])},
            lambda params, w: {"out": mix(params, w).data},
            function=_P + "mix",
            note="by hand: ¼·[1, 0, −1] + ¾·[0, 1, 0] = [0.25, 0.75, −0.25]",
            atol=1e-12,
            conventions=conv,
        ),
        ReferenceCase(
            "tunable_conv_at_vertex_1",
            {"x": _X, "kernels": _K, "biases": _B, "w": np.array([1.0, 0.0]), "padding": 1},
            {"y": _Y1},
            lambda **kw: {"y": tunable_conv1d(**kw).data},
            function=_P + "tunable_conv1d",
            note="by hand: y_i = x_{i−1} − x_{i+1} + 0.5 with zeros outside → [−1.5, −1.5, 2.5]",
            atol=1e-12,
            conventions=conv,
        ),
        ReferenceCase(
            "tunable_conv_is_affine_in_omega",
            {"x": _X, "kernels": _K, "biases": _B, "w": np.array([0.25, 0.75]), "padding": 1},
            {"y": 0.25 * _Y1 + 0.75 * _Y2},
            lambda **kw: {"y": tunable_conv1d(**kw).data},
            function=_P + "tunable_conv1d",
            note="linearity of convolution in the kernel: ¼·[−1.5, −1.5, 2.5] + ¾·[0, 1, 2] = "
            "[−0.375, 0.375, 2.125], each vertex output by hand",
            atol=1e-12,
            conventions=conv,
        ),
        ReferenceCase(
            "multi_loss_by_hand",
            {"losses": np.array([2.0, 5.0, 1.0]), "w": np.array([0.5, 0.3, 0.2])},
            {"loss": np.array(2.7)},
            lambda losses, w: {"loss": np.asarray(multi_loss([Tensor(np.array(v)) for v in losses], w).data)},
            function=_P + "multi_loss",
            note="by hand: 0.5·2 + 0.3·5 + 0.2·1 = 2.7",
            atol=1e-12,
            conventions=conv,
        ),
    ]
