"""Reference cases of MaskUNet, by hand: a masked linear layer with a shared and with per-sample masks, and the
hard mask's forward value and straight-through gradient."""

from __future__ import annotations

import numpy as np

from ....autograd.tensor import Tensor
from ....catalog import ReferenceCase
from . import hard_mask, masked_linear

_PATH = "refimpl.techniques.diffusion_generative.maskunet"


def _masked(h, weight, bias, mask):
    y = masked_linear(
        Tensor(np.asarray(h, np.float64)),
        Tensor(np.asarray(weight, np.float64)),
        Tensor(np.asarray(bias, np.float64)),
        Tensor(np.asarray(mask, np.float64)),
    )
    return {"y": y.data}


def _hard(logits, upstream):
    z = Tensor(np.asarray(logits, np.float64), requires_grad=True)
    m = hard_mask(z)
    (m * Tensor(np.asarray(upstream, np.float64))).sum().backward()
    return {"m": m.data, "grad": z.grad}


def _sig(z):
    return 1.0 / (1.0 + np.exp(-z))


_W, _B = [[1.0, 2.0], [3.0, 4.0]], [0.5, -1.0]


def reference_cases() -> list:
    return [
        ReferenceCase(
            name="masked_linear_shared_mask",
            inputs={
                "h": [[1.0, 1.0], [2.0, -1.0]],
                "weight": _W,
                "bias": _B,
                "mask": [[1.0, 0.0], [0.0, 1.0]],
            },
            expected={"y": [[1.5, 3.0], [2.5, -5.0]]},
            compute=_masked,
            function=f"{_PATH}.masked_linear",
            note="W ⊙ m = [[1, 0], [0, 4]]: row (1, 1) → (1 + 0.5, 4 − 1); row (2, −1) → (2 + 0.5, −4 − 1).",
            conventions={"bias": "not masked (as in the official code)", "layout": "weight (out, in)"},
            atol=1e-12,
        ),
        ReferenceCase(
            name="masked_linear_per_sample_masks",
            inputs={
                "h": [[1.0, 1.0], [1.0, 1.0]],
                "weight": _W,
                "bias": _B,
                "mask": [[[1.0, 1.0], [1.0, 1.0]], [[0.0, 1.0], [1.0, 0.0]]],
            },
            expected={"y": [[3.5, 6.0], [2.5, 2.0]]},
            compute=_masked,
            function=f"{_PATH}.masked_linear",
            note="Sample 0 keeps W: (1 + 2 + 0.5, 3 + 4 − 1); sample 1 keeps the anti-diagonal: (2 + 0.5, 3 − 1).",
            conventions={"mask": "(n, out, in): one mask per sample"},
            atol=1e-12,
        ),
        ReferenceCase(
            name="hard_mask_straight_through",
            inputs={"logits": [-1.0, 0.5, 2.0], "upstream": [1.0, 2.0, -1.0]},
            expected={
                "m": [0.0, 1.0, 1.0],
                "grad": [
                    1.0 * _sig(-1.0) * (1 - _sig(-1.0)),
                    2.0 * _sig(0.5) * (1 - _sig(0.5)),
                    -1.0 * _sig(2.0) * (1 - _sig(2.0)),
                ],
            },
            compute=_hard,
            function=f"{_PATH}.hard_mask",
            note="m = 1[σ(L) > ½] = 1[L > 0]; the gradient is the upstream times σ'(L) = σ(1 − σ): "
            "0.196612, 2·0.235004, −0.104994.",
            conventions={"threshold": "σ(L) > ½ strictly (L = 0 gives 0)", "gradient": "straight through σ"},
            atol=1e-12,
        ),
    ]
