"""Reference cases of EvoNorm: S0 on one group, and B0 with either branch of the max winning — all worked by
hand (biased variances, as the official `tf.nn.moments`)."""

from __future__ import annotations

import numpy as np

from ....autograd.tensor import Tensor
from ....catalog import ReferenceCase
from . import evonorm_b0, evonorm_s0

_MODULE = "refimpl.techniques.regularization_normalization.evonorm"


def reference_cases() -> list:
    def s0(x, v, groups, eps):
        c = x.shape[1]
        return {"y": evonorm_s0(Tensor(x), np.ones(c), np.zeros(c), np.full(c, v), groups, eps).data}

    def b0(x, v, eps, training):
        c = x.shape[1]
        return {
            "y": evonorm_b0(Tensor(x), np.ones(c), np.zeros(c), np.full(c, v), None, training, eps=eps).data
        }

    def b0_eval(x, v, eps, running_var):
        c = x.shape[1]
        rv = np.asarray(running_var, dtype=np.float64)
        y = evonorm_b0(Tensor(x), np.ones(c), np.zeros(c), np.full(c, v), rv, False, eps=eps).data
        return {"y": y}

    eps = 1e-5
    x1 = np.array([1.0, 3.0]).reshape(1, 1, 2)
    # B0: two samples x = [[0, 2]], [[4, 6]] (one channel, L = 2): batch var over {0, 2, 4, 6} = 5;
    # instance vars 1 and 1
    xb = np.array([[[0.0, 2.0]], [[4.0, 6.0]]])
    s1 = np.sqrt(1 + eps)
    return [
        ReferenceCase(
            "s0_one_group",
            {"x": x1, "v": 0.0, "groups": 1, "eps": eps},
            {"y": np.array([0.5, 1.5]).reshape(1, 1, 2) / s1},
            s0,
            function=f"{_MODULE}.evonorm_s0",
            note="by hand: σ(0) = 1/2 → numerator [0.5, 1.5]; biased variance of [1, 3] is 1",
            atol=1e-12,
        ),
        ReferenceCase(
            "s0_gate_two_groups",
            {"x": np.array([[[2.0, 0.0], [-1.0, 1.0]]]), "v": float(np.log(3)), "groups": 2, "eps": eps},
            {"y": np.array([[[2.0 * 0.9, 0.0], [-0.25, 0.75]]]) / s1},
            s0,
            function=f"{_MODULE}.evonorm_s0",
            note="by hand: v = ln 3 → σ(2 ln 3) = 9/10, σ(±ln 3) = 3/4, 1/4; each channel is its own group "
            "with biased variance 1 ([2, 0] and [−1, 1]); note the negative output −1/4: S0 is no ReLU",
            atol=1e-12,
        ),
        ReferenceCase(
            "b0_batch_std_wins",
            {"x": xb, "v": 0.0, "eps": eps, "training": True},
            {"y": xb / np.sqrt(5 + eps)},
            b0,
            function=f"{_MODULE}.evonorm_b0",
            note="by hand: biased batch var of {0,2,4,6} = 5 > instance var 1, v = 0 → divide by √(5+ε)",
            atol=1e-12,
        ),
        ReferenceCase(
            "b0_instance_branch_wins",
            {"x": xb, "v": 1.0, "eps": eps, "training": True},
            {"y": np.array([[[0.0, 2.0 / (2.0 + s1)]], [[4.0 / (4.0 + s1), 6.0 / (6.0 + s1)]]])},
            b0,
            function=f"{_MODULE}.evonorm_b0",
            note="by hand: v = 1 → right = x + √(1+ε); left = √(5+ε) ≈ 2.236 wins only at x = 0 "
            "(right ≈ 1), so y = [0, 2/(2+√(1+ε)), 4/(4+√(1+ε)), 6/(6+√(1+ε))]",
            atol=1e-12,
        ),
        ReferenceCase(
            "b0_eval_uses_moving_variance",
            {"x": np.array([[[-3.0, 3.0]]]), "v": 0.0, "eps": eps, "running_var": [16.0]},
            {"y": np.array([[[-3.0, 3.0]]]) / np.sqrt(16 + eps)},
            b0_eval,
            function=f"{_MODULE}.evonorm_b0",
            note="by hand: test time left = √(16+ε) (moving variance) > right = 0·x + √(9+ε) "
            "(instance variance 9)",
            atol=1e-12,
        ),
    ]
