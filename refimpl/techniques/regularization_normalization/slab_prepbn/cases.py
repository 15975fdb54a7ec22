"""Reference cases of SLAB: the eval-mode RepBN affine and its value, the PRepBN λ schedule, the fold into
a Linear, and the simplified linear attention on one token — all worked by hand."""

from __future__ import annotations

import numpy as np

from ....autograd.tensor import Tensor, no_grad
from ....catalog import ReferenceCase
from . import (
    RepBN,
    fold_affine_into_next_linear,
    progressive_lambda,
    repbn_affine,
    simplified_linear_attention,
)

_MODULE = "refimpl.techniques.regularization_normalization.slab_prepbn"


def reference_cases() -> list:
    def repbn(gamma, beta, mean, var, eps, alpha, x):
        rep = RepBN(1)
        rep.bn.eps = eps
        rep.bn.weight.data[...], rep.bn.bias.data[...] = gamma, beta
        rep.bn.running_mean[...], rep.bn.running_var[...] = mean, var
        rep.alpha.data[...] = alpha
        rep.eval()
        a, c = repbn_affine(rep.bn, rep.alpha)
        with no_grad():
            y = rep(Tensor(np.full((1, 1, 1), x))).data.ravel()
        return {"a": np.asarray(a), "c": np.asarray(c), "y": y}

    def lam(ts, total, warm, r0):
        return {
            "lam": np.array(
                [-1.0 if (v := progressive_lambda(t, total, warm, r0)) is None else v for t in ts]
            )
        }

    def fold(scale, shift, weight, bias):
        w, b = fold_affine_into_next_linear(np.asarray(scale), np.asarray(shift), np.asarray(weight), bias)
        return {"weight": w, "bias": b}

    def sla(q, k, v, dwc_weight, dwc_bias):
        t = [Tensor(np.asarray(a, dtype=np.float64)) for a in (q, k, v, dwc_weight, dwc_bias)]
        return {"out": simplified_linear_attention(*t, grid=1).data}

    return [
        ReferenceCase(
            "repbn_fold_catalogue",
            {"gamma": 2.0, "beta": 0.0, "mean": 1.0, "var": 3.0, "eps": 1.0, "alpha": 1.0, "x": 3.0},
            {"a": np.array([2.0]), "c": np.array([-1.0]), "y": np.array([5.0])},
            repbn,
            function=f"{_MODULE}.repbn_affine",
            note="by hand: a = 2/√(3+1) + 1 = 2, c = 0 − 2·1/2 = −1; RepBN(3) = 2·(3−1)/2 + 0 + 1·3 = 5 = 2·3 − 1",
            atol=1e-12,
        ),
        ReferenceCase(
            "lambda_schedule",
            {"ts": [0, 1, 2, 3, 7, 10], "total": 4, "warm": 2, "r0": 1.0},
            {"lam": np.array([-1.0, -1.0, 1.0, 0.75, 0.0, 0.0])},
            lam,
            function=f"{_MODULE}.progressive_lambda",
            note="by hand: warm-up calls 0, 1 use LN only (marked −1); then λ = (4 − s)/4 for s = t − 2: 1, 0.75, "
            "…, 0 from s = 4 on (official LinearNorm: λ = iter/total_step, iter counting down from total_step)",
            atol=1e-12,
        ),
        ReferenceCase(
            "fold_into_linear",
            {"scale": [2.0, 3.0], "shift": [1.0, -1.0], "weight": [[1.0, 2.0]], "bias": [1.0]},
            {"weight": np.array([[2.0, 6.0]]), "bias": np.array([0.0])},
            fold,
            function=f"{_MODULE}.fold_affine_into_next_linear",
            note="by hand: W(a⊙x + c) + b = [1, 2]·([2x₁, 3x₂] + [1, −1]) + 1 = 2x₁ + 6x₂ + (1 − 2 + 1)",
            atol=1e-12,
        ),
        ReferenceCase(
            "sla_one_token",
            {
                "q": [[[[2.0, -1.0]]]],
                "k": [[[[3.0, 1.0]]]],
                "v": [[[[5.0, 7.0]]]],
                "dwc_weight": [[[[0.5]]], [[[-1.0]]]],
                "dwc_bias": [0.1, 0.2],
            },
            {"out": np.array([[[[30 / (6 + 1e-6) + 2.6, 42 / (6 + 1e-6) - 6.8]]]])},
            sla,
            function=f"{_MODULE}.simplified_linear_attention",
            note="by hand: ReLU(q) = [2, 0], ReLU(k) = [3, 1]; ReLU(k)ᵀv = [[15, 21], [5, 7]], q·(kᵀv) = [30, 42]; "
            "q·Σk = 6 → divide by 6 + 1e-6; DWC (1×1, per channel) = [0.5·5 + 0.1, −1·7 + 0.2] = [2.6, −6.8]",
            atol=1e-12,
        ),
    ]
