"""Fused, numerically stable primitives for networks: softmax, log-softmax, cross-entropy,
binary cross-entropy with logits, and normalisation over axes.  Composite layers (layer norm, batch
norm, attention, ...) are built from these in `refimpl.nn.functional`.
"""

from __future__ import annotations

import numpy as np

from ..function import Function
from .elementwise import _sigmoid


def _log_softmax(z, axis):
    m = np.max(z, axis=axis, keepdims=True)
    shifted = z - m
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


class Softmax(Function):
    """y = e^{z}/Σ e^{z} along `axis`;  z̄ = y ⊙ (ȳ − Σ ȳ ⊙ y)   (never an explicit Jacobian)"""

    def forward(ctx, z, *, axis):
        y = np.exp(_log_softmax(z, axis))
        ctx.y, ctx.axis = y, axis
        return y

    def backward(ctx, g):
        y = ctx.y
        return (y * (g - np.sum(g * y, axis=ctx.axis, keepdims=True)),)


class LogSoftmax(Function):
    """y = z − logsumexp(z) along `axis`;  z̄ = ȳ − softmax(z) Σ ȳ"""

    def forward(ctx, z, *, axis):
        y = _log_softmax(z, axis)
        ctx.y, ctx.axis = y, axis
        return y

    def backward(ctx, g):
        return (g - np.exp(ctx.y) * np.sum(g, axis=ctx.axis, keepdims=True),)


class CrossEntropy(Function):
    """Softmax cross-entropy of logits z (N, C) with class indices or class probabilities.

    With class indices y, class weights w (default 1) and label smoothing ε (PyTorch's definition):
        ℓₙ = (1−ε) w_{yₙ} (−log p_{n,yₙ}) + (ε/C) Σ_c w_c (−log p_{n,c})
        z̄ₙ = ḡₙ [ (1−ε) w_{yₙ} (pₙ − e_{yₙ}) + (ε/C) (Σ_c w_c · pₙ − w) ]
    'mean' divides Σₙ ℓₙ by Σₙ w_{yₙ} over samples not equal to `ignore_index`.
    With probabilities t (N, C): ℓₙ = −Σ_c w_c t'_{n,c} log p_{n,c}, t' = (1−ε)t + ε/C, mean over N.
    """

    def forward(ctx, z, *, target, weight, reduction, label_smoothing, ignore_index):
        n, c = z.shape
        logp = _log_softmax(z, 1)
        eps = label_smoothing
        if target.dtype.kind == "f":  # class probabilities
            t = target if eps == 0 else (1 - eps) * target + eps / c
            wt = t if weight is None else t * weight
            losses = -np.sum(wt * logp, axis=1)
            ctx.coef = wt  # z̄ₙ = ḡₙ (Σ_c wt_c · pₙ − wt)
            denom = n
        elif weight is None and eps == 0 and ignore_index < 0 and (target.size == 0 or target.min() >= 0):
            # the common case (plain class indices, nothing ignored): ℓₙ = −log p_{n,yₙ}
            rows = np.arange(n)
            losses = -logp[rows, target]
            ctx.target = target
            ctx.coef = None
            denom = n
        else:
            valid = target != ignore_index
            tgt = np.where(valid, target, 0)
            w = np.ones(c, dtype=z.dtype) if weight is None else weight
            wy = w[tgt] * valid
            coef = np.zeros_like(z)
            coef[np.arange(n), tgt] = (1 - eps) * wy
            if eps:
                coef += (eps / c) * w * valid[:, None]
            losses = -np.sum(coef * logp, axis=1)
            ctx.coef = coef
            denom = wy.sum()
        ctx.logp, ctx.reduction, ctx.denom = logp, reduction, denom
        if reduction == "none":
            return losses.astype(z.dtype, copy=False)
        total = losses.sum()
        if reduction == "sum":
            return np.asarray(total, dtype=z.dtype)
        return np.asarray(total / denom if denom else np.nan, dtype=z.dtype)

    def backward(ctx, g):
        coef = ctx.coef
        if coef is None:  # the plain path: z̄ₙ = pₙ − e_{yₙ}
            dz = np.exp(ctx.logp)
            dz[np.arange(len(dz)), ctx.target] -= 1
        else:
            dz = np.exp(ctx.logp) * coef.sum(axis=1, keepdims=True) - coef
        if ctx.reduction == "none":
            return (dz * g[:, None],)
        if ctx.reduction == "mean":
            if not ctx.denom:  # every target ignored: the loss is 0/0 = NaN, its gradient 0 (as PyTorch)
                return (np.zeros_like(dz),)
            g = g / ctx.denom
        return (dz * g,)


class BCEWithLogits(Function):
    """ℓ = w [ max(z,0) − z·y + log(1 + e^{−|z|}) ]  (stable);  z̄ = ḡ w (σ(z) − y)"""

    def forward(ctx, z, y, *, weight, reduction):
        losses = np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))
        if weight is not None:
            losses = losses * weight
        ctx.z, ctx.y, ctx.weight, ctx.reduction, ctx.n = z, y, weight, reduction, losses.size
        if reduction == "none":
            return losses
        total = losses.sum() if reduction == "sum" else losses.mean()
        return np.asarray(total, dtype=z.dtype)

    def backward(ctx, g):
        d = _sigmoid(ctx.z) - ctx.y
        if ctx.weight is not None:
            d = d * ctx.weight
        if ctx.reduction == "mean":
            g = g / ctx.n
        gz = d * g
        gy = -ctx.z * g if ctx.needs_input_grad[1] else None
        if gy is not None and ctx.weight is not None:
            gy = gy * ctx.weight
        return gz, gy


class Normalize(Function):
    """x̂ = (x − μ)/√(σ² + ε), μ and σ² (biased) over `axes`;
    x̄ = (1/√(σ²+ε)) (ȳ − mean(ȳ) − x̂ ⊙ mean(ȳ ⊙ x̂))   (means over `axes`)

    The shared core of layer, batch, group and instance normalisation.  `ctx.mean` and `ctx.var` are
    kept so batch norm can update its running statistics.
    """

    def forward(ctx, x, *, axes, eps):
        mean = np.mean(x, axis=axes, keepdims=True)
        centred = x - mean
        var = np.mean(centred * centred, axis=axes, keepdims=True)
        rstd = 1.0 / np.sqrt(var + eps)
        xhat = centred * rstd
        ctx.xhat, ctx.rstd, ctx.axes, ctx.mean, ctx.var = xhat, rstd, axes, mean, var
        return xhat

    def backward(ctx, g):
        xhat, axes = ctx.xhat, ctx.axes
        gm = np.mean(g, axis=axes, keepdims=True)
        gxm = np.mean(g * xhat, axis=axes, keepdims=True)
        return (ctx.rstd * (g - gm - xhat * gxm),)
