"""Reference cases of the Dilated Reparam Block's merge: a dilated branch written out as a dense, centred
kernel, worked by hand, and a medium-size random 2-D block (four channels, three dilated branches, a BN
each) computed tap by tap."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from . import merge_branches

_FUNCTION = "refimpl.techniques.regularization_normalization.dilated_reparam_block.merge_branches"


def _merge_by_taps(large_w, branch_ws, dilations, size, gammas, betas, means, variances, eps):
    """The merged K×K kernel and bias placed tap by tap (independent of the code under test): branch i
    (the large kernel is i = 0, dilation 1) with BN scale s = γ/√(σ² + ε) puts s_c·w[c, 0, u, v] at row
    off + u·r, column off + v·r, off = (K − (r(k − 1) + 1))/2; the biases β − sμ add up."""
    C = large_w.shape[0]
    kernel, bias = np.zeros((C, 1, size, size)), np.zeros(C)
    for i, (w, r) in enumerate(zip([large_w, *branch_ws], [1, *dilations])):
        k = w.shape[-1]
        off = (size - (r * (k - 1) + 1)) // 2
        for c in range(C):
            s = gammas[i][c] / np.sqrt(variances[i][c] + eps)
            bias[c] += betas[i][c] - s * means[i][c]
            for u in range(k):
                for v in range(k):
                    kernel[c, 0, off + u * r, off + v * r] += s * w[c, 0, u, v]
    return kernel, bias


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

    def merged_2d(
        large_w, branch_w0, branch_w1, branch_w2, dilations, size, gammas, betas, means, variances, eps
    ):
        def spec(i, w):
            return {
                "weight": np.asarray(w),
                "gamma": np.asarray(gammas)[i],
                "beta": np.asarray(betas)[i],
                "mean": np.asarray(means)[i],
                "var": np.asarray(variances)[i],
                "eps": float(eps),
            }

        branches = [
            dict(spec(i + 1, w), dilation=int(r))
            for i, (w, r) in enumerate(zip((branch_w0, branch_w1, branch_w2), np.asarray(dilations)))
        ]
        k, b = merge_branches(spec(0, large_w), branches, int(size))
        return {"kernel": k, "bias": b}

    rng = np.random.default_rng(2211)
    rand = {
        "large_w": rng.normal(0.0, 0.2, size=(4, 1, 7, 7)),
        "branch_w0": rng.normal(0.0, 0.5, size=(4, 1, 5, 5)),  # k = 5, r = 1 → 5×5
        "branch_w1": rng.normal(0.0, 0.5, size=(4, 1, 3, 3)),  # k = 3, r = 2 → 5×5
        "branch_w2": rng.normal(0.0, 0.5, size=(4, 1, 3, 3)),  # k = 3, r = 3 → 7×7
        "dilations": np.array([1, 2, 3]),
        "size": 7,
        "gammas": rng.uniform(0.5, 1.5, size=(4, 4)),  # row i: BN of branch i (0 = the large kernel)
        "betas": rng.normal(0.0, 0.2, size=(4, 4)),
        "means": rng.normal(0.0, 0.3, size=(4, 4)),
        "variances": rng.uniform(0.5, 2.0, size=(4, 4)),
        "eps": 1e-5,
    }
    k_exp, b_exp = _merge_by_taps(
        rand["large_w"],
        [rand["branch_w0"], rand["branch_w1"], rand["branch_w2"]],
        [1, 2, 3],
        7,
        rand["gammas"],
        rand["betas"],
        rand["means"],
        rand["variances"],
        1e-5,
    )
    random_case = ReferenceCase(
        "random_2d_k7_three_branches_4ch",
        rand,
        {"kernel": k_exp, "bias": b_exp},
        merged_2d,
        function=_FUNCTION,
        note="tap by tap: each branch's BN folded (s = γ/√(σ² + ε), bias β − sμ), tap (u, v) of a k×k kernel "
        "with dilation r placed at (off + ur, off + vr) of the 7×7 kernel, off = (7 − (r(k−1)+1))/2, and summed "
        "with the large kernel; row i of gammas/betas/means/variances is branch i (0 = large, then "
        "branch_w0..2 with dilations 1, 2, 3); random normal weights, seed 2211",
        atol=1e-12,
        rtol=1e-12,
        atol32=1e-6,
        rtol32=1e-5,
    )
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
    ] + [random_case]
