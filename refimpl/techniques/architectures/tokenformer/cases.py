"""Reference cases of TokenFormer: the Pattention output by hand (x = [1, 0], K_P = V_P = I₂), the same layer
after one zero-key token is appended (τ follows n, so the output changes), and the exact preservation when τ
is frozen.  Expected values use math.erf directly: GeLU(z) = z·(1 + erf(z/√2))/2."""

from __future__ import annotations

import math

import numpy as np

from ....catalog import ReferenceCase
from . import pattention

_P = "refimpl.techniques.architectures.tokenformer."


def _gelu(z: float) -> float:
    return z * 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


def reference_cases() -> list:
    conv = {
        "theta": "l2_norm_gelu: GeLU(τ·A/‖A‖₂) on each row of A = X K_Pᵀ (official default)",
        "tau": "√n with n the current token count unless given",
        "gelu": "exact (erf), not the tanh approximation",
    }
    K3 = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    V3 = np.array([[1.0, 0.0], [0.0, 1.0], [0.3, -0.7]])
    return [
        ReferenceCase(
            "pattention_identity_tokens_n2",
            {"X": np.array([[1.0, 0.0]]), "K_P": np.eye(2), "V_P": np.eye(2)},
            {"out": np.array([[_gelu(math.sqrt(2.0)), 0.0]])},
            lambda X, K_P, V_P: {"out": pattention(X, K_P, V_P).data},
            function=_P + "pattention",
            note="by hand: A = [1, 0], ‖A‖ = 1, τ = √2, Θ = [GeLU(√2), GeLU(0)] = [1.302986, 0], times V = I",
            atol=1e-9,
            conventions=conv,
        ),
        ReferenceCase(
            "pattention_after_appending_a_zero_key_n3",
            {"X": np.array([[1.0, 0.0]]), "K_P": K3, "V_P": V3},
            {"out": np.array([[_gelu(math.sqrt(3.0)), 0.0]])},
            lambda X, K_P, V_P: {"out": pattention(X, K_P, V_P).data},
            function=_P + "pattention",
            note="the zero key scores 0 and GeLU(0) = 0, so its value row is ignored; but τ = √3 now: "
            "[GeLU(√3), 0] = [1.659942, 0] ≠ the n = 2 output",
            atol=1e-9,
            conventions=conv,
        ),
        ReferenceCase(
            "pattention_zero_key_with_frozen_tau",
            {"X": np.array([[1.0, 0.0]]), "K_P": K3, "V_P": V3, "tau": math.sqrt(2.0)},
            {"out": np.array([[_gelu(math.sqrt(2.0)), 0.0]])},
            lambda X, K_P, V_P, tau: {"out": pattention(X, K_P, V_P, tau=tau).data},
            function=_P + "pattention",
            note="with τ frozen at the old √2 the appended zero-key token leaves the output exactly unchanged",
            atol=1e-9,
            conventions={**conv, "tau": "given explicitly (√2, the value before growth)"},
        ),
    ]
