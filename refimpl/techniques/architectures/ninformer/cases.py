"""Reference cases of NiNformer, computed by hand: the token-mixing MLP on a 2-token example (the MLP runs
along the token axis, one channel at a time), and the gating unit (X W_pᵀ + b_p) ⊙ G on a 2-token example.
GELU values use math.erf directly: GELU(z) = z·(1 + erf(z/√2))/2."""

from __future__ import annotations

import math

import numpy as np

from ....catalog import ReferenceCase
from . import gate, token_mixing

_P = "refimpl.techniques.architectures.ninformer."


def _gelu(z: float) -> float:
    return z * 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


def reference_cases() -> list:
    conv = {
        "layout": "X is (tokens, channels); weights in PyTorch layout (out, in)",
        "gelu": "exact (erf), not the tanh approximation",
    }
    g4, g6 = _gelu(4.0), _gelu(6.0)
    return [
        ReferenceCase(
            "token_mixing_two_tokens",
            {
                "X": np.array([[1.0, 2.0], [3.0, 4.0]]),
                "W1": np.array([[1.0, 1.0]]),
                "b1": np.zeros(1),
                "W2": np.array([[1.0], [-1.0]]),
                "b2": np.zeros(2),
            },
            {"out": np.array([[g4, g6], [-g4, -g6]])},
            lambda X, W1, b1, W2, b2: {"out": token_mixing(X, W1, b1, W2, b2).data},
            function=_P + "token_mixing",
            note="by hand: channel 0 holds tokens (1, 3) → hidden GELU(1+3) → (+GELU(4), −GELU(4)); channel 1 "
            "holds (2, 4) → (+GELU(6), −GELU(6)).  A mix along the channel axis would not even fit W1 (1×2 "
            "acts on the 2 tokens).",
            atol=1e-12,
            conventions={
                **conv,
                "axis": "token MLP applied along the token axis (-2), shared by all channels",
            },
        ),
        ReferenceCase(
            "gating_unit_two_tokens",
            {
                "X": np.array([[1.0, 2.0], [3.0, -1.0]]),
                "W_p": np.array([[1.0, 0.0], [1.0, 1.0]]),
                "b_p": np.array([0.0, 1.0]),
                "G": np.array([[2.0, 0.5], [-1.0, 3.0]]),
            },
            {"out": np.array([[2.0, 2.0], [-3.0, 9.0]])},
            lambda X, W_p, b_p, G: {"out": gate(X, W_p, b_p, G).data},
            function=_P + "gate",
            note="by hand: X W_pᵀ + b_p = [[1, 4], [3, 3]]; times G element-wise = [[2, 2], [-3, 9]]",
            atol=1e-12,
            conventions={
                **conv,
                "gate": "element-wise product, no activation on G (official MixerGatingUnit)",
            },
        ),
    ]
