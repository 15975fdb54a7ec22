"""Reference cases of MoRA's self-activated rank-1 experts, worked by hand."""

from __future__ import annotations

import math

import numpy as np

from ....autograd.tensor import Tensor
from ....catalog import ReferenceCase
from . import RankOneExperts, self_activated_weights

_MOD = "refimpl.techniques.lowrank_peft_sharing.mora_rank1_experts"


def reference_cases() -> list:
    def gate_case(s, k, tau, delta):
        return {"w": self_activated_weights(np.asarray(s), int(k), float(tau), float(delta)).data}

    def sum_case(A, B):
        pool = RankOneExperts(A.shape[1], B.shape[0], k=A.shape[0], tau=1e12, delta=-1.0, dtype=np.float64)
        pool.add_experts(A.shape[0])
        pool.A0.data[...] = A
        pool.B0.data[...] = B
        x = np.eye(A.shape[1])
        # with every expert active and τ → ∞ the weights are uniform 1/R: Δ(x) = (1/R)·B A x
        return {"dW": pool(Tensor(x)).data.T * A.shape[0]}

    s = np.array([0.8, -0.5, 0.3, 0.1])
    e1, e3 = math.exp(0.8 / 0.5), math.exp(0.3 / 0.5)
    w = np.array([e1 / (e1 + e3), 0.0, e3 / (e1 + e3), 0.0])
    A = np.array([[1.0, 0.0, 2.0], [0.0, 1.0, -1.0]])
    B = np.array([[1.0, 2.0], [3.0, 0.0]])
    return [
        ReferenceCase(
            "top2_softmax_tau_half",
            {"s": s, "k": 2, "tau": 0.5, "delta": 0.0},
            {"w": w},
            gate_case,
            function=f"{_MOD}.self_activated_weights",
            note="by hand: top-2 are 0.8 and 0.3 → softmax(1.6, 0.6), the rest 0",
            atol=1e-12,
        ),
        ReferenceCase(
            "top2_with_threshold",
            {"s": np.array([0.8, -0.5, -0.3, -0.9]), "k": 2, "tau": 0.5, "delta": 0.0},
            {"w": np.array([math.exp(1.6) / (math.exp(1.6) + math.exp(-0.6)), 0.0, 0.0, 0.0])},
            gate_case,
            function=f"{_MOD}.self_activated_weights",
            note="by hand: top-2 are 0.8 and −0.3; −0.3 < δ = 0 is pruned after the softmax",
            atol=1e-12,
        ),
        ReferenceCase(
            "all_experts_sum_to_BA",
            {"A": A, "B": B},
            {"dW": B @ A},
            sum_case,
            function=f"{_MOD}.RankOneExperts",
            note="by hand: rank-1 experts with uniform weights sum to (1/R)·B A; ×R gives B A",
            atol=1e-9,
        ),
    ]
