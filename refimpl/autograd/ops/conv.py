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


class Conv2d(function.Function):
    """y = conv2d(x, W, b) with PyTorch's layout: x (N,C,H,W), W (O, C/groups, kh, kw), b (O,)."""

    def forward(ctx, x, w, b=None, *, stride, padding, dilation, groups):
        n, c, h, wd = x.shape
        o, cg, kh, kw = w.shape
        oh = _out_size(h, kh, stride[0], padding[0], dilation[0])
        ow = _out_size(wd, kw, stride[1], padding[1], dilation[1])
        cols = kernels.im2col2d(x, kh, kw, stride, padding, dilation)  # (N, C·kh·kw, L)
        k = cg * kh * kw
        cols = cols.reshape(n, groups, k, oh * ow)
        wmat = w.reshape(groups, o // groups, k)
        y = np.matmul(wmat, cols)  # (N, G, O/G, L)
        y = y.reshape(n, o, oh, ow)
        if b is not None:
            y += b.reshape(1, o, 1, 1)
        ctx.cols, ctx.wmat, ctx.x_shape, ctx.w_shape = cols, wmat, x.shape, w.shape
        ctx.geom = (kh, kw, stride, padding, dilation)
        return y

    def backward(ctx, g):
        needs = ctx.needs_input_grad
        n, o = g.shape[0], g.shape[1]
        groups = ctx.wmat.shape[0]
        g3 = g.reshape(n, groups, o // groups, -1)  # (N, G, O/G, L)
        gx = gw = gb = None
        if needs[0]:
            gcols = np.matmul(np.swapaxes(ctx.wmat, 1, 2), g3)  # (N, G, K, L)
            kh, kw, stride, padding, dilation = ctx.geom
            gx = kernels.col2im2d(
                gcols.reshape(n, -1, gcols.shape[-1]), ctx.x_shape, kh, kw, stride, padding, dilation
            )
        if needs[1]:
            gw = np.matmul(g3, np.swapaxes(ctx.cols, 2, 3)).sum(0).reshape(ctx.w_shape)
        if len(needs) > 2 and needs[2]:
            gb = g.sum(axis=(0, 2, 3))
        return gx, gw, gb


class MaxPool2d(function.Function):
    """y = max over each window;  x̄ receives ȳ at the (first) position of each window's maximum."""

    def forward(ctx, x, *, kernel, stride, padding, dilation):
        y, argmax = kernels.maxpool2d_forward(x, kernel, stride, padding, dilation)
        ctx.argmax, ctx.x_shape = argmax, x.shape
        return y

    def backward(ctx, g):
        return (kernels.maxpool2d_backward(g, ctx.argmax, ctx.x_shape),)


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
