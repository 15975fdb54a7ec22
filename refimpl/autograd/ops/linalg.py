"""Matrix products: `matmul` (batched, broadcasting, 1-D operands as in NumPy) and the fused `linear`."""

from __future__ import annotations

import numpy as np

from ..function import Function


class MatMul(Function):
    """Z = X Y (over the last two axes, batch axes broadcast);  X̄ = Z̄ Yᵀ,  Ȳ = Xᵀ Z̄

    A 1-D operand is treated as a row (left) or column (right) vector and the added axis dropped,
    as NumPy does; the engine sums the gradient over broadcast batch axes.
    """

    def forward(ctx, x, y):
        ctx.x, ctx.y = x, y
        return x @ y

    def backward(ctx, g):
        x, y = ctx.x, ctx.y
        nx, ny = ctx.needs_input_grad
        if x.ndim == 1 and y.ndim == 1:  # inner product
            return (g * y if nx else None), (g * x if ny else None)
        x2 = x[None, :] if x.ndim == 1 else x
        y2 = y[:, None] if y.ndim == 1 else y
        g2 = g
        if x.ndim == 1:
            g2 = np.expand_dims(g2, -2)
        if y.ndim == 1:
            g2 = np.expand_dims(g2, -1)
        gx = gy = None
        if nx:
            gx = g2 @ np.swapaxes(y2, -1, -2)
            if x.ndim == 1:
                gx = gx.reshape(-1, x.shape[0]).sum(0) if gx.ndim > 2 else gx[0]
        if ny:
            gy = np.swapaxes(x2, -1, -2) @ g2
            if y.ndim == 1:
                gy = gy.reshape(-1, y.shape[0]).sum(0) if gy.ndim > 2 else gy[:, 0]
        return gx, gy

    def backward_graph(ctx, g, z, x, y):
        from .elementwise import mul
        from .shape import reshape, transpose, unsqueeze

        nx, ny = ctx.needs_input_grad
        if x.ndim == 1 and y.ndim == 1:
            return (mul(g, y) if nx else None), (mul(g, x) if ny else None)
        x2 = unsqueeze(x, 0) if x.ndim == 1 else x
        y2 = unsqueeze(y, 1) if y.ndim == 1 else y
        g2 = g
        if x.ndim == 1:
            g2 = unsqueeze(g2, -2 if g2.ndim else 0)
        if y.ndim == 1:
            g2 = unsqueeze(g2, -1)
        gx = gy = None
        if nx:
            gx = matmul(g2, transpose(y2, -1, -2))
            if x.ndim == 1:
                gx = reshape(gx, (-1, x.shape[0])).sum(0) if gx.ndim > 2 else reshape(gx, x.shape)
        if ny:
            gy = matmul(transpose(x2, -1, -2), g2)
            if y.ndim == 1:
                gy = reshape(gy, (-1, y.shape[0])).sum(0) if gy.ndim > 2 else reshape(gy, y.shape)
        return gx, gy


class Linear(Function):
    """y = x Wᵀ + b  (x: (..., in), W: (out, in), b: (out,));
    x̄ = ȳ W,  W̄ = ȳᵀ x (summed over batch axes),  b̄ = Σ_batch ȳ

    Fused so a Linear layer costs one node, as `torch.nn.functional.linear` does.
    """

    def forward(ctx, x, w, b=None):
        ctx.x, ctx.w = x, w
        y = x @ w.T
        if b is not None:
            y += b
        return y

    def backward(ctx, g):
        needs = ctx.needs_input_grad
        x, w = ctx.x, ctx.w
        gx = g @ w if needs[0] else None
        gw = gb = None
        if x.ndim != 2:  # batch axes (..., in): flatten them
            g, x = g.reshape(-1, g.shape[-1]), x.reshape(-1, x.shape[-1])
        if needs[1]:  # (one sample: an outer product, exact and ~4× faster than a K = 1 matmul)
            gw = g.T * x if g.shape[0] == 1 else g.T @ x
        if len(needs) > 2 and needs[2]:
            gb = g.sum(0)
        return gx, gw, gb

    def backward_graph(ctx, g, y, x, w, b=None):
        from .shape import reshape, transpose

        needs = ctx.needs_input_grad
        gx = matmul(g, w) if needs[0] else None
        gw = gb = None
        if x.ndim != 2:
            g, x = reshape(g, (-1, g.shape[-1])), reshape(x, (-1, x.shape[-1]))
        if needs[1]:
            gw = matmul(transpose(g, 0, 1), x)
        if len(needs) > 2 and needs[2]:
            gb = g.sum(0)
        return gx, gw, gb


def matmul(x, y):
    xs, ys = np.shape(getattr(x, "data", x)), np.shape(getattr(y, "data", y))
    if len(xs) == 0 or len(ys) == 0:
        raise ValueError(f"matmul: both operands need at least 1 dimension, got shapes {xs} and {ys}")
    k1 = xs[-1]
    k2 = ys[0] if len(ys) == 1 else ys[-2]
    if k1 != k2:
        raise ValueError(
            f"matmul: inner dimensions differ — x has shape {xs} (last axis {k1}) and y has shape {ys} "
            f"({'first' if len(ys) == 1 else 'second-to-last'} axis {k2})"
        )
    if len(xs) > 2 and len(ys) > 2:
        try:
            np.broadcast_shapes(xs[:-2], ys[:-2])
        except ValueError:
            raise ValueError(f"matmul: batch dimensions of x {xs} and y {ys} do not broadcast") from None
    return MatMul.apply(x, y)


def linear(x, weight, bias=None):
    """y = x Wᵀ + b, with W of shape (out_features, in_features) as in PyTorch."""
    xs, ws = x.shape, weight.shape
    if xs[-1] != ws[-1]:
        raise ValueError(
            f"linear: input has {xs[-1]} features (shape {tuple(xs)}) but the weight expects "
            f"{ws[-1]} (weight shape {tuple(ws)})"
        )
    if bias is None:
        return Linear.apply(x, weight)
    if bias.shape != ws[:1]:
        raise ValueError(
            f"linear: `bias` must have shape ({ws[0]},) for weight {tuple(ws)}, got {tuple(bias.shape)}"
        )
    return Linear.apply(x, weight, bias)
