"""Reference cases of the ConvBN modes: the fold and the Eval / Tune outputs, and the function-preserving
rescale of s, all worked by hand; a medium-size random block (stride 2, padding 1) computed by explicit
convolution loops."""

from __future__ import annotations

import numpy as np

from ....autograd.tensor import Tensor
from ....catalog import ReferenceCase
from ..folding import fold_bn
from . import convbn_eval, convbn_tune, rescale_block

_MODULE = "refimpl.techniques.regularization_normalization.convbn_tune_mode"


def _convbn_by_loops(x, w, b, gamma, beta, mean, var, eps, stride, padding):
    """Eval-mode ConvBN by explicit loops (independent of the code under test): zero-pad x, then
    z[n,o,i,j] = b_o + Σ_{c,u,v} w[o,c,u,v] x[n,c,i·stride+u, j·stride+v] and y = γ_o (z − μ_o)/√(σ²_o + ε) + β_o;
    the fold W'_o = s_o W_o, b'_o = β_o + s_o (b_o − μ_o) with s_o = γ_o/√(σ²_o + ε)."""
    N, C, H, W_ = x.shape
    O, _, kh, kw = w.shape
    xp = np.zeros((N, C, H + 2 * padding, W_ + 2 * padding))
    xp[:, :, padding : padding + H, padding : padding + W_] = x
    Ho, Wo = (H + 2 * padding - kh) // stride + 1, (W_ + 2 * padding - kw) // stride + 1
    y = np.zeros((N, O, Ho, Wo))
    s = [gamma[o] / np.sqrt(var[o] + eps) for o in range(O)]
    for n in range(N):
        for o in range(O):
            for i in range(Ho):
                for j in range(Wo):
                    z = b[o]
                    for c in range(C):
                        for u in range(kh):
                            for v in range(kw):
                                z += w[o, c, u, v] * xp[n, c, i * stride + u, j * stride + v]
                    y[n, o, i, j] = s[o] * (z - mean[o]) + beta[o]
    w_folded = np.stack([s[o] * w[o] for o in range(O)])
    b_folded = np.array([beta[o] + s[o] * (b[o] - mean[o]) for o in range(O)])
    return {"eval": y, "tune": y, "w_folded": w_folded, "b_folded": b_folded}


def reference_cases() -> list:
    def block(x, w, b, gamma, beta, mean, var, eps, stride, padding):
        args = tuple(Tensor(np.asarray(a)) for a in (x, w, b, gamma, beta)) + (
            np.asarray(mean),
            np.asarray(var),
        )
        kw = dict(stride=int(stride), padding=int(padding))
        wf, bf = fold_bn(*(np.asarray(a) for a in (w, b, gamma, beta, mean, var)), float(eps))
        return {
            "eval": convbn_eval(*args, float(eps), **kw).data,
            "tune": convbn_tune(*args, float(eps), **kw).data,
            "w_folded": wf,
            "b_folded": bf,
        }

    def rescale(x, w, b, gamma, beta, mean, var, eps, stride, padding, k):
        w2, b2, mean2, var2 = rescale_block(
            np.asarray(w), np.asarray(b), np.asarray(mean), np.asarray(var), float(k), float(eps)
        )
        args = (
            Tensor(np.asarray(x)),
            Tensor(w2),
            Tensor(b2),
            Tensor(np.asarray(gamma)),
            Tensor(np.asarray(beta)),
        )
        return {
            "w": w2,
            "running_var": var2,
            "s": np.asarray(gamma) / np.sqrt(var2 + float(eps)),
            "eval": convbn_eval(
                *args, mean2, var2, float(eps), stride=int(stride), padding=int(padding)
            ).data,
        }

    one = dict(
        x=np.full((1, 1, 1, 1), 3.0),
        w=np.full((1, 1, 1, 1), 2.0),
        b=np.zeros(1),
        gamma=np.ones(1),
        beta=np.full(1, 0.5),
        mean=np.ones(1),
        var=np.full(1, 3.0),
        eps=1.0,
        stride=1,
        padding=0,
    )
    # two channels, 1×1 conv of a 1-channel input x=1: z = [1, −2]; γ=[2, 1], β=[0, 1], μ=[0, −2], σ²=[3, 0], ε=1
    two = dict(
        x=np.ones((1, 1, 1, 1)),
        w=np.array([1.0, -2.0]).reshape(2, 1, 1, 1),
        b=np.zeros(2),
        gamma=np.array([2.0, 1.0]),
        beta=np.array([0.0, 1.0]),
        mean=np.array([0.0, -2.0]),
        var=np.array([3.0, 0.0]),
        eps=1.0,
        stride=1,
        padding=0,
    )
    rng = np.random.default_rng(2207)
    rand = dict(
        x=rng.normal(0.0, 1.0, size=(2, 3, 6, 6)),
        w=rng.normal(0.0, 0.3, size=(4, 3, 3, 3)),
        b=rng.normal(0.0, 0.1, size=4),
        gamma=rng.uniform(0.5, 1.5, size=4),
        beta=rng.normal(0.0, 0.2, size=4),
        mean=rng.normal(0.0, 0.3, size=4),
        var=rng.uniform(0.5, 2.0, size=4),
        eps=1e-5,
        stride=2,
        padding=1,
    )
    random_case = ReferenceCase(
        "random_2x3x6x6_to_4ch_stride2_pad1",
        rand,
        _convbn_by_loops(**rand),
        block,
        function=f"{_MODULE}.convbn_tune",
        note="explicit loops: zero-pad by 1, 3×3 convolution with stride 2 summed term by term, then "
        "γ(z − μ)/√(σ² + ε) + β per channel; Eval and Tune must both equal it; W' = sW, b' = β + s(b − μ) "
        "(x ~ N(0, 1), W ~ N(0, 0.3²), γ ~ U(0.5, 1.5), σ² ~ U(0.5, 2), seed 2207)",
        atol=1e-10,
        rtol=1e-10,
        atol32=1e-5,
        rtol32=1e-4,
    )
    return [
        ReferenceCase(
            "catalogue_hand_case",
            one,
            {
                "eval": np.full((1, 1, 1, 1), 3.0),
                "tune": np.full((1, 1, 1, 1), 3.0),
                "w_folded": np.full((1, 1, 1, 1), 1.0),
                "b_folded": np.zeros(1),
            },
            block,
            function=f"{_MODULE}.convbn_tune",
            note="by hand: (2·3 − 1)/√(3+1)·1 + 0.5 = 3; s = 1/2 → W' = 1, b' = 0.5 + 0.5·(0 − 1) = 0",
            atol=1e-12,
        ),
        ReferenceCase(
            "two_channels",
            two,
            {
                "eval": np.array([1.0, 1.0]).reshape(1, 2, 1, 1),
                "tune": np.array([1.0, 1.0]).reshape(1, 2, 1, 1),
                "w_folded": np.array([1.0, -2.0]).reshape(2, 1, 1, 1),
                "b_folded": np.array([0.0, 3.0]),
            },
            block,
            function=f"{_MODULE}.convbn_tune",
            note="by hand: s = [2/2, 1/1] = [1, 1]; ch0: (1 − 0)·1 + 0 = 1; ch1: (−2 + 2)·1 + 1 = 1; "
            "b' = β + s(0 − μ) = [0, 3]",
            atol=1e-12,
        ),
        ReferenceCase(
            "rescale_keeps_the_function",
            {**one, "k": 2.0},
            {
                "w": np.full((1, 1, 1, 1), 4.0),
                "running_var": np.array([15.0]),
                "s": np.array([0.25]),
                "eval": np.full((1, 1, 1, 1), 3.0),
            },
            rescale,
            function=f"{_MODULE}.rescale_block",
            note="by hand: k = 2: W = 4, μ = 2, σ² = 4·3 + 3·1 = 15, √(σ²+ε) = 4 = 2·√(3+1); "
            "s = 1/4 = (1/2)/2; y = (4·3 − 2)/4 + 0.5 = 3, as before",
            atol=1e-12,
        ),
    ] + [random_case]
