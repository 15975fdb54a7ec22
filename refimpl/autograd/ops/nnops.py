"""Fused, numerically stable primitives for networks: softmax, log-softmax, cross-entropy,
binary cross-entropy with logits, and normalisation over axes.  Composite layers (layer norm, batch
norm, attention, ...) are built from these in `refimpl.nn.functional`.
"""

from __future__ import annotations

import numpy as np

from ..function import Function
from .elementwise import _sigmoid, add, exp, mul, neg, pow, sigmoid, sub
from .shape import reshape


def _shifted_exp(z, axis):
    """(z − max z, e^{z − max z}, Σ e^{z − max z}) along `axis` (the stable softmax pieces)."""
    shifted = z - z.max(axis=axis, keepdims=True)
    e = np.exp(shifted)
    return shifted, e, e.sum(axis=axis, keepdims=True)


def _log_softmax(z, axis):
    shifted, _, s = _shifted_exp(z, axis)
    return shifted - np.log(s)


class Softmax(Function):
    """y = e^{z}/Σ e^{z} along `axis`;  z̄ = y ⊙ (ȳ − Σ ȳ ⊙ y)   (never an explicit Jacobian)"""

    def forward(ctx, z, *, axis):
        _, e, s = _shifted_exp(z, axis)
        y = e / s
        ctx.y, ctx.axis = y, axis
        return y

    def backward(ctx, g):
        y = ctx.y
        return (y * (g - np.sum(g * y, axis=ctx.axis, keepdims=True)),)

    def backward_graph(ctx, g, y, z):
        return (mul(y, sub(g, mul(g, y).sum(ctx.axis, True))),)


class LogSoftmax(Function):
    """y = z − logsumexp(z) along `axis`;  z̄ = ȳ − softmax(z) Σ ȳ"""

    def forward(ctx, z, *, axis):
        y = _log_softmax(z, axis)
        ctx.y, ctx.axis = y, axis
        return y

    def backward(ctx, g):
        return (g - np.exp(ctx.y) * np.sum(g, axis=ctx.axis, keepdims=True),)

    def backward_graph(ctx, g, y, z):
        return (sub(g, mul(exp(y), g.sum(ctx.axis, True))),)


class CrossEntropy(Function):
    """Softmax cross-entropy of logits z (N, C) with class indices or class probabilities.

    With class indices y, class weights w (default 1) and label smoothing ε (PyTorch's definition):
        ℓₙ = (1−ε) w_{yₙ} (−log p_{n,yₙ}) + (ε/C) Σ_c w_c (−log p_{n,c})
        z̄ₙ = ḡₙ [ (1−ε) w_{yₙ} (pₙ − e_{yₙ}) + (ε/C) (Σ_c w_c · pₙ − w) ]
    'mean' divides Σₙ ℓₙ by Σₙ w_{yₙ} over samples not equal to `ignore_index`.
    With probabilities t (N, C): ℓₙ = −Σ_c w_c t'_{n,c} log p_{n,c}, t' = (1−ε)t + ε/C, mean over N;
    the target is differentiable too: t̄_{n,c} = −ḡₙ (1−ε) w_c log p_{n,c}, and so is a class weight
    given as a third input (a learned weight, as in PyTorch): w̄_c = −Σₙ ḡₙ t'_{n,c} log p_{n,c}.
    The loss has z's dtype, or with probabilities the promoted dtype of z, t and w (as PyTorch).
    `plain=True` promises class indices all in [0, C), no weights, no smoothing and nothing ignored
    (the caller has checked); then, with mₙ = max_c z_{n,c},
        ℓₙ = log Σ_c e^{z_{n,c}−mₙ} − (z_{n,yₙ}−mₙ),   z̄ₙ = ḡₙ (pₙ − e_{yₙ}).
    """

    def forward(ctx, z, target, *learned, weight, reduction, label_smoothing, ignore_index, plain=False):
        if learned:  # the class weight as a differentiated input (probability targets only)
            weight = learned[0]
        n, c = z.shape
        ctx.reduction, ctx.eps, ctx.weight = reduction, label_smoothing, None if learned else weight
        shifted, e, s = _shifted_exp(z, 1)
        if plain:
            rows = np.arange(n)
            losses = np.log(s[:, 0]) - shifted[rows, target]
            ctx.e, ctx.s, ctx.rows, ctx.target, ctx.coef = e, s, rows, target, None
            denom = n
        else:
            logp = shifted - np.log(s)
            eps = label_smoothing
            if target.dtype.kind == "f":  # class probabilities
                t = target if eps == 0 else (1 - eps) * target + eps / c
                coef = t if weight is None else t * weight
                denom = n
                if ctx.needs_input_grad[1]:  # ∂ℓₙ/∂t_{n,c} = −(1−ε) w_c log p_{n,c}
                    ctx.dt = -(1 - eps) * (logp if weight is None else logp * weight)
                if learned and ctx.needs_input_grad[2]:  # ∂ℓₙ/∂w_c = −t'_{n,c} log p_{n,c}
                    ctx.dw = -t * logp
            else:
                valid = target != ignore_index
                tgt = np.where(valid, target, 0)
                w = np.ones(c, dtype=z.dtype) if weight is None else weight
                wy = w[tgt] * valid
                coef = np.zeros_like(z)
                coef[np.arange(n), tgt] = (1 - eps) * wy
                if eps:
                    coef += (eps / c) * w * valid[:, None]
                denom = wy.sum()
            losses = -np.sum(coef * logp, axis=1)
            ctx.p, ctx.coef = e / s, coef  # z̄ₙ = ḡₙ (Σ_c coef_c · pₙ − coefₙ)
        ctx.denom = denom
        dtype = z.dtype  # probabilities (and their weight) promote, as in PyTorch
        if target.dtype.kind == "f":
            dtype = np.result_type(z, target) if weight is None else np.result_type(z, target, weight)
        if reduction == "none":
            return losses.astype(dtype, copy=False)
        total = losses.sum()
        if reduction == "sum":
            return np.asarray(total, dtype=dtype)
        return np.asarray(total / denom if denom else np.nan, dtype=dtype)

    def backward(ctx, g):
        coef = ctx.coef
        if coef is None:  # the plain path: z̄ₙ = pₙ − e_{yₙ}
            dz = ctx.e / ctx.s
            dz[ctx.rows, ctx.target] -= 1
        else:
            dz = ctx.p * coef.sum(axis=1, keepdims=True) - coef
        if ctx.reduction == "none":
            g = g[:, None]
        elif ctx.reduction == "mean":
            if not ctx.denom:  # every target ignored: the loss is 0/0 = NaN, its gradient 0 (as PyTorch)
                return np.zeros_like(dz), None
            g = g / ctx.denom
        dz *= g
        needs = ctx.needs_input_grad
        gt = ctx.dt * g if needs[1] else None
        if len(needs) == 2:
            return dz, gt
        return dz, gt, ((ctx.dw * g).sum(axis=0) if needs[2] else None)

    def backward_graph(ctx, g, loss, z, target, *learned):
        if ctx.reduction == "none":
            g = reshape(g, (-1, 1))
        elif ctx.reduction == "mean":
            if not ctx.denom:
                return mul(z, np.zeros((), z.dtype)), None, *(None for _ in learned)
            g = mul(g, 1 / ctx.denom)
        p = Softmax.apply(z, axis=(1,))
        if ctx.coef is None or target.dtype.kind != "f":  # class indices: coef is a constant
            coef = ctx.coef
            if coef is None:
                coef = np.zeros(z.shape, dtype=z.dtype)
                coef[ctx.rows, ctx.target] = 1
            return mul(sub(mul(p, coef.sum(axis=1, keepdims=True)), coef), g), None, *(None for _ in learned)
        w = learned[0] if learned else ctx.weight
        eps, c = ctx.eps, z.shape[1]
        t = target if eps == 0 else add(mul(target, 1 - eps), eps / c)
        coef = t if w is None else mul(t, w)
        dz = mul(sub(mul(p, coef.sum(1, True)), coef), g)
        needs = ctx.needs_input_grad
        logp = LogSoftmax.apply(z, axis=(1,))
        gt = None
        if needs[1]:
            gt = mul(mul(logp if w is None else mul(logp, w), -(1 - eps)), g)
        if not learned:
            return dz, gt
        return dz, gt, (neg(mul(mul(t, logp), g)).sum(0) if needs[2] else None)


class BCEWithLogits(Function):
    """ℓ = w [ max(z,0) − z·y + log(1 + e^{−|z|}) ]  (stable);  z̄ = ḡ w (σ(z) − y),  ȳ = −ḡ w z

    The loss has the promoted dtype of z and y for every reduction (PyTorch gives y's dtype)."""

    def forward(ctx, z, y, *, weight, reduction):
        losses = np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))
        if weight is not None:
            losses = losses * weight
        ctx.z, ctx.y, ctx.weight, ctx.reduction, ctx.n = z, y, weight, reduction, losses.size
        if reduction == "none":
            return losses
        total = losses.sum() if reduction == "sum" else losses.mean()
        return np.asarray(total, dtype=losses.dtype)  # (z and y promoted, as with reduction="none")

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

    def backward_graph(ctx, g, loss, z, y):
        if ctx.reduction == "mean":
            g = mul(g, 1 / ctx.n)
        d = sub(sigmoid(z), y)
        if ctx.weight is not None:
            d = mul(d, ctx.weight)
        gy = None
        if ctx.needs_input_grad[1]:
            gy = neg(mul(z, g))
            if ctx.weight is not None:
                gy = mul(gy, ctx.weight)
        return mul(d, g), gy


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
        ctx.xhat, ctx.rstd, ctx.axes, ctx.mean, ctx.var, ctx.eps = xhat, rstd, axes, mean, var, eps
        return xhat

    def backward(ctx, g):
        xhat, axes = ctx.xhat, ctx.axes
        gm = np.mean(g, axis=axes, keepdims=True)
        gxm = np.mean(g * xhat, axis=axes, keepdims=True)
        return (ctx.rstd * (g - gm - xhat * gxm),)

    def backward_graph(ctx, g, xhat, x):
        axes = ctx.axes
        centred = sub(x, x.mean(axes, True))
        rstd = pow(add(mul(centred, centred).mean(axes, True), ctx.eps), -0.5)
        return (mul(rstd, sub(sub(g, g.mean(axes, True)), mul(xhat, mul(g, xhat).mean(axes, True)))),)


# --- random masks and running statistics: ops so that a recorded step (refimpl.compile) redoes them ---
class DropoutMask(Function):
    """The inverted-dropout multiplier keep / (1 − p), keep ~ Bernoulli(1 − p), for x's shape and dtype,
    drawn at call time from `generator` (None: the library's default).  Not differentiated (x is only
    read for its shape); the dropout itself is x · mask, an ordinary product."""

    def forward(ctx, x, *, p, generator):
        from ...random import as_generator

        keep = as_generator(generator).random(x.shape) >= p
        return (keep * (1.0 / (1.0 - p))).astype(x.dtype)

    def backward(ctx, g):
        return (None,)

    def backward_graph(ctx, g, out, x):
        return (None,)


class UpdateRunningStats(Function):
    """Batch norm's running statistics, moved in place toward this batch's (training mode):
    μ_run ← (1 − m) μ_run + m μ_B,  σ²_run ← (1 − m) σ²_run + m σ²_B · n/(n − 1)  (unbiased, as PyTorch).
    With `num_batches_tracked` (a 0-d int buffer) the count goes up by one first, and momentum None
    means the cumulative average m = 1/count.  Returns an empty array; nothing is differentiated."""

    def forward(ctx, x, *, running_mean, running_var, momentum, axes, num_batches_tracked=None):
        if num_batches_tracked is not None:
            num_batches_tracked += 1
            if momentum is None:
                momentum = 1.0 / float(num_batches_tracked)
        if momentum is None:
            raise ValueError("batch_norm: momentum=None (a cumulative average) needs `num_batches_tracked`")
        count = x.size // x.shape[1]
        mean = x.mean(axis=axes)
        var = x.var(axis=axes)
        running_mean *= 1 - momentum
        running_mean += momentum * mean
        running_var *= 1 - momentum
        running_var += momentum * var * count / (count - 1)
        return np.empty(0, dtype=x.dtype)

    def backward(ctx, g):
        return (None,)

    def backward_graph(ctx, g, out, x):
        return (None,)


class BatchNormEval(Function):
    """Eval-mode batch norm: x̂ = (x − μ_run) · rstd, rstd = 1/sqrt(σ²_run + ε), per channel (`shape`
    broadcasts a channel vector against x).  The running statistics are read when the op runs, so a
    recorded step sees their current values; x̄ = ȳ · rstd, and they get no gradient."""

    def forward(ctx, x, running_mean, running_var, *, eps, shape):
        rstd = (1.0 / np.sqrt(running_var + eps)).astype(x.dtype).reshape(shape)
        ctx.rstd = rstd
        return (x - running_mean.reshape(shape).astype(x.dtype)) * rstd

    def backward(ctx, g):
        return (g * ctx.rstd, None, None)

    def backward_graph(ctx, g, out, x, running_mean, running_var):
        return (g * ctx.rstd, None, None)
