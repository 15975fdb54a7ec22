"""Convolution and pooling primitives on top of the im2col / col2im kernels (`refimpl.kernels`).

Conv2d as a matrix product: with the patch matrix X_col = im2col(x) of shape (N, C·kh·kw, L),
    y[n] = W_mat · X_col[n] + b,                W_mat = reshape(W, (O, C·kh·kw))
    W̄ = Σₙ ȳ[n] X_col[n]ᵀ,   X̄ = col2im(W_matᵀ ȳ[n]),   b̄ = Σ_{n,l} ȳ
Groups split the channels: each of the G groups is an independent conv of C/G → O/G channels.
"""

from __future__ import annotations

import numpy as np

from ... import kernels
from .. import function


def _out_size(n, k, s, p, d):
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def _conv_forward(x, w, *, stride, padding, dilation, groups):
    """(y without bias, the patch matrix (N, G, K, L), W as (G, O/G, K))."""
    cols, (oh, ow) = _patches(x, w.shape, stride, padding, dilation, groups)
    o = w.shape[0]
    wmat = w.reshape(groups, o // groups, cols.shape[2])
    return np.matmul(wmat, cols).reshape(x.shape[0], o, oh, ow), cols, wmat


def _patches(x, w_shape, stride, padding, dilation, groups):
    """im2col(x) as (N, G, C/G·kh·kw, L), and the output size (OH, OW)."""
    n, c, h, wd = x.shape
    _, cg, kh, kw = w_shape
    oh = _out_size(h, kh, stride[0], padding[0], dilation[0])
    ow = _out_size(wd, kw, stride[1], padding[1], dilation[1])
    cols = kernels.im2col2d(x, kh, kw, stride, padding, dilation)
    return cols.reshape(n, groups, cg * kh * kw, oh * ow), (oh, ow)


class Conv2d(function.Function):
    """y = conv2d(x, W, b) with PyTorch's layout: x (N,C,H,W), W (O, C/groups, kh, kw), b (O,)."""

    def forward(ctx, x, w, b=None, *, stride, padding, dilation, groups):
        y, cols, wmat = _conv_forward(x, w, stride=stride, padding=padding, dilation=dilation, groups=groups)
        if b is not None:
            y += b.reshape(1, -1, 1, 1)
        ctx.cols, ctx.wmat, ctx.x_shape, ctx.w_shape = cols, wmat, x.shape, w.shape
        ctx.geom = _geom(w.shape, stride, padding, dilation)
        return y

    def backward(ctx, g):
        needs = ctx.needs_input_grad
        gx = gw = gb = None
        if needs[0]:
            gx = _conv_input_grad(g, ctx.wmat, ctx.x_shape, ctx.geom)
        if needs[1]:
            gw = _conv_weight_grad(g, ctx.cols, ctx.w_shape)
        if len(needs) > 2 and needs[2]:
            gb = g.sum(axis=(0, 2, 3))
        return gx, gw, gb

    def backward_graph(ctx, g, y, x, w, b=None):
        needs = ctx.needs_input_grad
        _, _, stride, padding, dilation = ctx.geom
        geom = dict(stride=stride, padding=padding, dilation=dilation, groups=ctx.wmat.shape[0])
        gx = Conv2dInputGrad.apply(g, w, x_shape=ctx.x_shape, **geom) if needs[0] else None
        gw = Conv2dWeightGrad.apply(g, x, w_shape=ctx.w_shape, **geom) if needs[1] else None
        gb = g.sum((0, 2, 3)) if len(needs) > 2 and needs[2] else None
        return gx, gw, gb


def _conv_input_grad(g, wmat, x_shape, geom):
    """X̄ = col2im(W_matᵀ ȳ) per group."""
    n, o = g.shape[0], g.shape[1]
    groups = wmat.shape[0]
    gcols = np.matmul(np.swapaxes(wmat, 1, 2), g.reshape(n, groups, o // groups, -1))  # (N, G, K, L)
    kh, kw, stride, padding, dilation = geom
    return kernels.col2im2d(gcols.reshape(n, -1, gcols.shape[-1]), x_shape, kh, kw, stride, padding, dilation)


def _conv_weight_grad(g, cols, w_shape):
    """W̄ = Σₙ ȳ[n] X_col[n]ᵀ per group."""
    n, o = g.shape[0], g.shape[1]
    groups = cols.shape[1]
    g3 = g.reshape(n, groups, o // groups, -1)
    return np.matmul(g3, np.swapaxes(cols, 2, 3)).sum(0).reshape(w_shape)


def _geom(w_shape, stride, padding, dilation):
    return (*w_shape[2:], stride, padding, dilation)


class Conv2dInputGrad(function.Function):
    """X̄ = A_Wᵀ ȳ: conv2d's VJP in x as an op, so that it can be differentiated again.

    It is bilinear in (ȳ, W) and ⟨u, A_Wᵀ ȳ⟩ = ⟨conv2d(u, W), ȳ⟩, hence its VJPs for an upstream u:
    ȳ̄ = conv2d(u, W) and W̄ = (conv2d's weight VJP at input u, upstream ȳ)."""

    def forward(ctx, g, w, *, x_shape, stride, padding, dilation, groups):
        ctx.g, ctx.w, ctx.kw = g, w, dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
        wmat = w.reshape(groups, w.shape[0] // groups, -1)
        return _conv_input_grad(g, wmat, x_shape, _geom(w.shape, stride, padding, dilation))

    def backward(ctx, u):
        needs = ctx.needs_input_grad
        gg = _conv_forward(u, ctx.w, **ctx.kw)[0] if needs[0] else None
        gw = None
        if needs[1]:
            kw = ctx.kw
            cols = _patches(u, ctx.w.shape, kw["stride"], kw["padding"], kw["dilation"], kw["groups"])[0]
            gw = _conv_weight_grad(ctx.g, cols, ctx.w.shape)
        return gg, gw

    def backward_graph(ctx, u, out, g, w):
        needs = ctx.needs_input_grad
        gg = Conv2d.apply(u, w, **ctx.kw) if needs[0] else None
        gw = Conv2dWeightGrad.apply(g, u, w_shape=w.shape, **ctx.kw) if needs[1] else None
        return gg, gw


class Conv2dWeightGrad(function.Function):
    """W̄ = B_xᵀ ȳ: conv2d's VJP in W as an op (bilinear in (ȳ, x));
    ⟨v, B_xᵀ ȳ⟩ = ⟨conv2d(x, v), ȳ⟩, hence ȳ̄ = conv2d(x, v) and x̄ = (conv2d's input VJP with weight v at ȳ)."""

    def forward(ctx, g, x, *, w_shape, stride, padding, dilation, groups):
        ctx.g, ctx.x, ctx.kw = g, x, dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
        return _conv_weight_grad(g, _patches(x, w_shape, stride, padding, dilation, groups)[0], w_shape)

    def backward(ctx, v):
        needs = ctx.needs_input_grad
        gg = _conv_forward(ctx.x, v, **ctx.kw)[0] if needs[0] else None
        gx = None
        if needs[1]:
            groups = ctx.kw["groups"]
            wmat = v.reshape(groups, v.shape[0] // groups, -1)
            geom = _geom(v.shape, ctx.kw["stride"], ctx.kw["padding"], ctx.kw["dilation"])
            gx = _conv_input_grad(ctx.g, wmat, ctx.x.shape, geom)
        return gg, gx

    def backward_graph(ctx, v, out, g, x):
        needs = ctx.needs_input_grad
        gg = Conv2d.apply(x, v, **ctx.kw) if needs[0] else None
        gx = Conv2dInputGrad.apply(g, v, x_shape=x.shape, **ctx.kw) if needs[1] else None
        return gg, gx


class MaxPool2d(function.Function):
    """y = max over each window;  x̄ receives ȳ at the (first) position of each window's maximum."""

    def forward(ctx, x, *, kernel, stride, padding, dilation):
        y, argmax = kernels.maxpool2d_forward(x, kernel, stride, padding, dilation)
        ctx.argmax, ctx.x_shape = argmax, x.shape
        return y

    def backward(ctx, g):
        return (kernels.maxpool2d_backward(g, ctx.argmax, ctx.x_shape),)

    def backward_graph(ctx, g, y, x):
        return (MaxPool2dScatter.apply(g, argmax=ctx.argmax, x_shape=ctx.x_shape),)


class MaxPool2dScatter(function.Function):
    """x̄ = ȳ routed to each window's argmax (max-pooling's VJP as an op, linear in ȳ);
    its own VJP gathers: ū ↦ u at the argmax positions."""

    def forward(ctx, g, *, argmax, x_shape):
        ctx.argmax = argmax
        return kernels.maxpool2d_backward(g, argmax, x_shape)

    def backward(ctx, u):
        return (_gather(u, ctx.argmax),)

    def backward_graph(ctx, u, out, g):
        from .shape import GetItem, reshape

        n, c, h, w = u.shape
        idx = np.arange(n)[:, None, None], np.arange(c)[None, :, None], ctx.argmax.reshape(n, c, -1)
        return (reshape(GetItem.apply(reshape(u, (n, c, h * w)), index=idx), ctx.argmax.shape),)


def _gather(u, argmax):
    n, c = u.shape[:2]
    return np.take_along_axis(u.reshape(n, c, -1), argmax.reshape(n, c, -1), axis=2).reshape(argmax.shape)


class AvgPool2d(function.Function):
    """y = mean over each window (zero padding counted, as PyTorch's default);  x̄ = col2im(ȳ/(kh·kw))."""

    def forward(ctx, x, *, kernel, stride, padding):
        n, c, h, w = x.shape
        kh, kw = kernel
        oh = _out_size(h, kh, stride[0], padding[0], 1)
        ow = _out_size(w, kw, stride[1], padding[1], 1)
        cols = kernels.im2col2d(x, kh, kw, stride, padding, (1, 1)).reshape(n, c, kh * kw, oh * ow)
        ctx.x_shape, ctx.geom = x.shape, (kh, kw, stride, padding)
        return cols.mean(axis=2).reshape(n, c, oh, ow)

    def backward(ctx, g):
        kh, kw, stride, padding = ctx.geom
        n, c = g.shape[:2]
        gcols = np.broadcast_to(
            (g / (kh * kw)).reshape(n, c, 1, -1), (n, c, kh * kw, g.shape[2] * g.shape[3])
        )
        gcols = gcols.reshape(n, c * kh * kw, -1)
        return (kernels.col2im2d(gcols, ctx.x_shape, kh, kw, stride, padding, (1, 1)),)

    def backward_graph(ctx, g, y, x):
        return (AvgPool2dTranspose.apply(g, x_shape=ctx.x_shape, geom=ctx.geom),)


class AvgPool2dTranspose(function.Function):
    """x̄ = col2im(ȳ/(kh·kw)): average pooling's VJP as an op (linear); its VJP is average pooling."""

    def forward(ctx, g, *, x_shape, geom):
        ctx.geom = geom
        stub = AvgPool2d()
        stub.x_shape, stub.geom = x_shape, geom
        return stub.backward(g)[0]

    def backward(ctx, u):
        kh, kw, stride, padding = ctx.geom
        return (AvgPool2d().forward(u, kernel=(kh, kw), stride=stride, padding=padding),)

    def backward_graph(ctx, u, out, g):
        kh, kw, stride, padding = ctx.geom
        return (AvgPool2d.apply(u, kernel=(kh, kw), stride=stride, padding=padding),)
