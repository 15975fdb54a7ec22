"""Reductions over `axis` (None, an int or a tuple of ints), with `keepdims`.

The backward of a reduction first re-inserts the reduced axes (`_expand`) so the upstream gradient
broadcasts against the input.
"""

from __future__ import annotations

import builtins

import numpy as np

from ..function import Function


def _norm_axis(axis, ndim):
    """`axis` (None, an int or a tuple of ints) as a sorted tuple of non-negative axes.

    As in PyTorch, a 0-d tensor accepts axis 0 or −1 (its one element is reduced over nothing), so
    the result for it is ``()``.  A repeated axis is an error.
    """
    if axis is None:
        return tuple(range(ndim))
    if type(axis) is int and -ndim <= axis < ndim:  # the common case
        return (axis % ndim,)
    items = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    span = builtins.max(ndim, 1)
    out = []
    for a in items:
        if not -span <= a < span:
            raise ValueError(
                f"axis {a} is out of range for a tensor with {ndim} dimensions (expected -{span}..{span - 1})"
            )
        if a % span in out:
            raise ValueError(f"axis {a} appears more than once in {axis}")
        out.append(a % span)
    return tuple(sorted(out)) if ndim else ()


def _expand(g, axes, keepdims):
    """Put the reduced axes back as size-1 axes so `g` broadcasts against the input."""
    if keepdims or not axes:
        return g
    return np.expand_dims(g, axes)


def _expand_graph(g, axes, keepdims):
    """`_expand` for a Tensor gradient (differentiable)."""
    from .shape import reshape

    if keepdims or not axes:
        return g
    return reshape(g, np.expand_dims(g.data, axes).shape)


def _count(shape, axes):
    n = 1
    for a in axes:
        n *= shape[a]
    return n


class Sum(Function):
    """y = Σ_axis x;  x̄ = broadcast(ȳ)"""

    def forward(ctx, x, *, axis, keepdims):
        ctx.shape, ctx.axes, ctx.keepdims = x.shape, _norm_axis(axis, x.ndim), keepdims
        return x.sum(axis=ctx.axes, keepdims=keepdims)

    def backward(ctx, g):
        return (np.broadcast_to(_expand(g, ctx.axes, ctx.keepdims), ctx.shape),)

    def backward_graph(ctx, g, y, x):
        from .shape import broadcast_to

        return (broadcast_to(_expand_graph(g, ctx.axes, ctx.keepdims), ctx.shape),)


class Mean(Function):
    """y = (1/n) Σ_axis x;  x̄ = broadcast(ȳ)/n"""

    def forward(ctx, x, *, axis, keepdims):
        ctx.shape, ctx.axes, ctx.keepdims = x.shape, _norm_axis(axis, x.ndim), keepdims
        return x.mean(axis=ctx.axes, keepdims=keepdims)

    def backward(ctx, g):
        n = _count(ctx.shape, ctx.axes)
        return (np.broadcast_to(_expand(g, ctx.axes, ctx.keepdims) / n, ctx.shape),)

    def backward_graph(ctx, g, y, x):
        from .elementwise import mul
        from .shape import broadcast_to

        n = _count(ctx.shape, ctx.axes)
        return (broadcast_to(mul(_expand_graph(g, ctx.axes, ctx.keepdims), 1 / n), ctx.shape),)


class Var(Function):
    """y = Σ_axis (x − μ)² / (n − c);  x̄ = ȳ ⊙ 2(x − μ)/(n − c)   (c = `correction`, 1 = unbiased)

    n ≤ c raises ValueError (PyTorch returns NaN or inf with a warning)."""

    def forward(ctx, x, *, axis, keepdims, correction):
        axes = _norm_axis(axis, x.ndim)
        n = _count(x.shape, axes)
        if n - correction <= 0:
            raise ValueError(f"var: need more than correction={correction} elements, got {n}")
        centred = x - np.mean(x, axis=axes, keepdims=True)
        ctx.centred, ctx.axes, ctx.keepdims, ctx.denom = centred, axes, keepdims, n - correction
        return np.sum(centred * centred, axis=axes, keepdims=keepdims) / ctx.denom

    def backward(ctx, g):
        return (_expand(g, ctx.axes, ctx.keepdims) * (2 / ctx.denom) * ctx.centred,)

    def backward_graph(ctx, g, y, x):
        from .elementwise import mul, sub

        centred = sub(x, mean(x, ctx.axes, True))
        return (mul(mul(_expand_graph(g, ctx.axes, ctx.keepdims), 2 / ctx.denom), centred),)


class _Extremum(Function):
    """y = max (or min) over axis;  x̄ = ȳ split evenly among the positions that attain it

    The values only, like torch.amax/amin (torch.max(x, dim) also returns indices and sends the
    gradient to one of them)."""

    reduce = staticmethod(np.max)

    def forward(ctx, x, *, axis, keepdims):
        axes = _norm_axis(axis, x.ndim)
        y = type(ctx).reduce(x, axis=axes, keepdims=True)
        ctx.x, ctx.y, ctx.axes, ctx.keepdims = x, y, axes, keepdims
        return y if keepdims else np.squeeze(y, axis=axes)

    def share(ctx, dtype):
        hit = ctx.x == ctx.y
        return (hit / np.sum(hit, axis=ctx.axes, keepdims=True)).astype(dtype, copy=False)

    def backward(ctx, g):
        return (_expand(g, ctx.axes, ctx.keepdims) * ctx.share(g.dtype),)

    def backward_graph(ctx, g, y, x):  # the split among the maxima is piecewise constant
        from .elementwise import mul

        return (mul(_expand_graph(g, ctx.axes, ctx.keepdims), ctx.share(g.dtype)),)


class Max(_Extremum):
    reduce = staticmethod(np.max)


class Min(_Extremum):
    reduce = staticmethod(np.min)


class LogSumExp(Function):
    """y = log Σ_axis eˣ, computed as m + log Σ e^{x−m};  x̄ = ȳ ⊙ softmax(x)"""

    def forward(ctx, x, *, axis, keepdims):
        axes = _norm_axis(axis, x.ndim)
        m = np.max(x, axis=axes, keepdims=True)
        m = np.where(np.isfinite(m), m, 0)
        e = np.exp(x - m)
        s = np.sum(e, axis=axes, keepdims=True)
        y = np.log(s) + m
        ctx.p, ctx.axes, ctx.keepdims = e / s, axes, keepdims
        return y if keepdims else np.squeeze(y, axis=axes)

    def backward(ctx, g):
        return (_expand(g, ctx.axes, ctx.keepdims) * ctx.p,)

    def backward_graph(ctx, g, y, x):  # softmax(x) = exp(x − y)
        from .elementwise import exp, mul, sub

        p = exp(sub(x, _expand_graph(y, ctx.axes, ctx.keepdims)))
        return (mul(_expand_graph(g, ctx.axes, ctx.keepdims), p),)


def sum(x, axis=None, keepdims=False):
    return Sum.apply(x, axis=axis, keepdims=keepdims)


def mean(x, axis=None, keepdims=False):
    return Mean.apply(x, axis=axis, keepdims=keepdims)


def var(x, axis=None, keepdims=False, *, correction=1):
    return Var.apply(x, axis=axis, keepdims=keepdims, correction=correction)


def max(x, axis=None, keepdims=False):
    return Max.apply(x, axis=axis, keepdims=keepdims)


def min(x, axis=None, keepdims=False):
    return Min.apply(x, axis=axis, keepdims=keepdims)


def logsumexp(x, axis=None, keepdims=False):
    return LogSumExp.apply(x, axis=axis, keepdims=keepdims)
