"""Reference cases of the Dilated Reparam Block's merge: a dilated branch written out as a dense, centred
kernel, worked by hand."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from . import merge_branches

_FUNCTION = "refimpl.techniques.regularization_normalization.dilated_reparam_block.merge_branches"


def reference_cases() -> list:
    def merged(large_w, branch_w, dilation, size, gamma, beta, mean, var, eps):
        def spec(w):
            return {
                "weight": np.asarray(w),
                "gamma": np.asarray(gamma),
                "beta": np.asarray(beta),
                "mean": np.asarray(mean),
                "var": np.asarray(var),
                "eps": float(eps),
            }

        k, b = merge_branches(spec(large_w), [dict(spec(branch_w), dilation=int(dilation))], int(size))
        return {"kernel": k, "bias": b}

    identity_bn = {"gamma": [1.0], "beta": [0.0], "mean": [0.0], "var": [1.0 - 1e-5], "eps": 1e-5}
    return [
        ReferenceCase(
            "k3_r2_into_k7",
            {
                "large_w": np.zeros((1, 1, 7)),
                "branch_w": np.array([[[1.0, 2.0, 3.0]]]),
                "dilation": 2,
                "size": 7,
                **identity_bn,
            },
            {"kernel": np.array([[[0.0, 1.0, 0.0, 2.0, 0.0, 3.0, 0.0]]]), "bias": np.zeros(1)},
            merged,
            function=_FUNCTION,
            note="by hand: [1,2,3] dilated by 2 is [1,0,2,0,3] (size 5), centred in 7 with one zero each side; "
            "identity BN (γ=1, β=0, μ=0, σ²+ε=1)",
            atol=1e-12,
        ),
        ReferenceCase(
            "k3_r3_plus_large",
            {
                "large_w": np.ones((1, 1, 7)),
                "branch_w": np.array([[[1.0, -1.0, 2.0]]]),
                "dilation": 3,
                "size": 7,
                **identity_bn,
            },
            {"kernel": np.array([[[2.0, 1.0, 1.0, 0.0, 1.0, 1.0, 3.0]]]), "bias": np.zeros(1)},
            merged,
            function=_FUNCTION,
            note="by hand: [1,−1,2] dilated by 3 is [1,0,0,−1,0,0,2] (size 7), plus the all-ones large kernel",
            atol=1e-12,
        ),
        ReferenceCase(
            "bn_fold_then_merge",
            {
                "large_w": np.zeros((1, 1, 5)),
                "branch_w": np.array([[[1.0, 1.0, 1.0]]]),
                "dilation": 2,
                "size": 5,
                "gamma": [3.0],
                "beta": [1.0],
                "mean": [0.5],
                "var": [4.0 - 1e-5],
                "eps": 1e-5,
            },
            {"kernel": np.array([[[1.5, 0.0, 1.5, 0.0, 1.5]]]), "bias": np.array([0.5])},
            merged,
            function=_FUNCTION,
            note="by hand: both branches share the BN, s = γ/√(σ²+ε) = 3/2; the zero large kernel adds only "
            "its bias β − sμ = 1 − 0.75 = 0.25; the branch [1,1,1] dilated by 2 is [1,0,1,0,1], times s, "
            "bias 0.25; the biases add to 0.5",
            atol=1e-12,
        ),
    ]
