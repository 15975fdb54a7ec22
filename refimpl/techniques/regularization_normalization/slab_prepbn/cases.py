"""Reference cases of SLAB: the eval-mode RepBN affine and its value, the PRepBN λ schedule, the fold into
a Linear, and the simplified linear attention on one token — all worked by hand; medium-size random cases
of the attention and the fold computed by explicit loops."""

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


def _sla_by_loops(q, k, v, dwc_weight, dwc_bias, grid, eps):
    """Simplified linear attention by explicit loops (independent of the code under test): per batch b and
    head h, with q⁺ = ReLU(q), k⁺ = ReLU(k): out_n = Σ_m (q⁺_n·k⁺_m) v_m / (q⁺_n·Σ_m k⁺_m + eps), plus the
    depthwise conv of V seen as a (d, grid, grid) image (token n = row·grid + col; zero padding k//2;
    cross-correlation, as PyTorch)."""
    B, H, N, d = v.shape
    ks = dwc_weight.shape[-1]
    pad = ks // 2
    out = np.zeros_like(v)
    for b in range(B):
        for h in range(H):
            qp, kp, vv = np.maximum(q[b, h], 0.0), np.maximum(k[b, h], 0.0), v[b, h]
            for n in range(N):
                sims = [sum(qp[n, e] * kp[m, e] for e in range(d)) for m in range(N)]
                den = sum(sims) + eps
                for e in range(d):
                    out[b, h, n, e] = sum(sims[m] * vv[m, e] for m in range(N)) / den
            img = vv.T.reshape(d, grid, grid)
            for e in range(d):
                for r in range(grid):
                    for c in range(grid):
                        acc = dwc_bias[e]
                        for u in range(ks):
                            for w in range(ks):
                                rr, cc = r + u - pad, c + w - pad
                                if 0 <= rr < grid and 0 <= cc < grid:
                                    acc += dwc_weight[e, 0, u, w] * img[e, rr, cc]
                        out[b, h, r * grid + c, e] += acc
    return out


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

    def sla_grid(q, k, v, dwc_weight, dwc_bias, grid, eps):
        t = [Tensor(np.asarray(a, dtype=np.float64)) for a in (q, k, v, dwc_weight, dwc_bias)]
        return {"out": simplified_linear_attention(*t, grid=int(grid), eps=float(eps)).data}

    rng = np.random.default_rng(2208)
    att = {
        "q": rng.normal(0.5, 1.0, size=(2, 2, 16, 8)),  # (B, H, N = 4², d); mean 0.5 keeps q⁺·Σk⁺ away from 0
        "k": rng.normal(0.5, 1.0, size=(2, 2, 16, 8)),
        "v": rng.normal(0.0, 1.0, size=(2, 2, 16, 8)),
        "dwc_weight": rng.normal(0.0, 0.3, size=(8, 1, 3, 3)),
        "dwc_bias": rng.normal(0.0, 0.1, size=8),
        "grid": 4,
        "eps": 1e-6,
    }
    fa = {
        "scale": rng.uniform(0.5, 2.0, size=16),
        "shift": rng.normal(0.0, 0.5, size=16),
        "weight": rng.normal(0.0, 0.25, size=(8, 16)),
        "bias": rng.normal(0.0, 0.1, size=8),
    }
    random_cases = [
        ReferenceCase(
            "random_sla_b2_h2_grid4_d8",
            att,
            {"out": _sla_by_loops(**att)},
            sla_grid,
            function=f"{_MODULE}.simplified_linear_attention",
            note="explicit loops: per token n, out_n = Σ_m (q⁺_n·k⁺_m) v_m / (q⁺_n·Σ_m k⁺_m + 1e-6) with ReLU "
            "kernels, plus a 3×3 depthwise conv (zero padding 1) of V as a (d, 4, 4) image, token n = row·4 + col "
            "(q, k ~ N(0.5, 1), v ~ N(0, 1), seed 2208)",
            atol=1e-10,
            rtol=1e-10,
            atol32=1e-5,
            rtol32=1e-4,
        ),
        ReferenceCase(
            "random_fold_into_linear_16_to_8",
            fa,
            {
                "weight": np.array(
                    [[fa["weight"][o, i] * fa["scale"][i] for i in range(16)] for o in range(8)]
                ),
                "bias": np.array(
                    [
                        fa["bias"][o] + sum(fa["weight"][o, i] * fa["shift"][i] for i in range(16))
                        for o in range(8)
                    ]
                ),
            },
            fold,
            function=f"{_MODULE}.fold_affine_into_next_linear",
            note="explicit sums: W'_oi = W_oi a_i, b'_o = b_o + Σ_i W_oi c_i (scale a ~ U(0.5, 2), shift c ~ "
            "N(0, 0.5²), W ~ N(0, 0.25²), seed 2208)",
            atol=1e-12,
            rtol=1e-12,
            atol32=1e-6,
            rtol32=1e-5,
        ),
    ]
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
                "grid": 1,
                "eps": 1e-6,
            },
            {"out": np.array([[[[30 / (6 + 1e-6) + 2.6, 42 / (6 + 1e-6) - 6.8]]]])},
            sla_grid,
            function=f"{_MODULE}.simplified_linear_attention",
            note="by hand: ReLU(q) = [2, 0], ReLU(k) = [3, 1]; ReLU(k)ᵀv = [[15, 21], [5, 7]], q·(kᵀv) = [30, 42]; "
            "q·Σk = 6 → divide by 6 + 1e-6; DWC (1×1, per channel) = [0.5·5 + 0.1, −1·7 + 0.2] = [2.6, −6.8]",
            atol=1e-12,
        ),
    ] + random_cases
