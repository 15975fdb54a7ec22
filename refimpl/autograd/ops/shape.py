"""Shape primitives: their VJPs move the gradient back to where each element came from."""

from __future__ import annotations

import numpy as np

from ..function import Function
from ..tensor import Tensor


class Reshape(Function):
    """y = reshape(x, s);  x̄ = reshape(ȳ, shape(x))"""

    def forward(ctx, x, *, shape):
        ctx.shape = x.shape
        try:
            return x.reshape(shape)
        except ValueError:
            raise ValueError(f"reshape: cannot reshape a tensor of shape {x.shape} into {shape}") from None

    def backward(ctx, g):
        return (g.reshape(ctx.shape),)

    def backward_graph(ctx, g, y, x):
        return (reshape(g, ctx.shape),)


class Permute(Function):
    """y = transpose(x, p);  x̄ = transpose(ȳ, p⁻¹)"""

    def forward(ctx, x, *, dims):
        ctx.inverse = tuple(np.argsort(dims))
        return x.transpose(dims)

    def backward(ctx, g):
        return (g.transpose(ctx.inverse),)

    def backward_graph(ctx, g, y, x):
        return (Permute.apply(g, dims=ctx.inverse),)


class BroadcastTo(Function):
    """y = broadcast_to(x, s);  x̄ = Σ over the broadcast axes of ȳ (done by the engine)"""

    def forward(ctx, x, *, shape):
        try:
            return np.broadcast_to(x, shape)
        except ValueError:
            raise ValueError(f"expand: cannot broadcast a tensor of shape {x.shape} to {shape}") from None

    def backward(ctx, g):
        return (g,)

    def backward_graph(ctx, g, y, x):
        return (g,)


class GetItem(Function):
    """y = x[index] (slices, integer arrays, boolean masks);  x̄ = zeros, then x̄[index] += ȳ

    NumPy's indexing rules: negative slice steps work (not in PyTorch), and an int and an index array
    separated by a slice (x[1, :, idx]) are both advanced indices, so the index axis goes first
    (PyTorch applies the int first and keeps the index axis in place)."""

    def forward(ctx, x, *, index):
        ctx.shape, ctx.index = x.shape, index
        return x[index]

    def backward(ctx, g):
        return (_scatter(g, ctx.shape, ctx.index),)

    def backward_graph(ctx, g, y, x):
        return (IndexAdd.apply(g, shape=ctx.shape, index=ctx.index),)


def _scatter(g, shape, index):
    """zeros(shape), then [index] += g."""
    gx = np.zeros(shape, dtype=g.dtype)
    if _is_basic(index):
        gx[index] = g  # basic indexing never repeats an element
    else:
        np.add.at(gx, index, g)  # advanced indexing may: accumulate
    return gx


class IndexAdd(Function):
    """y = zeros(shape) with y[index] += x (GetItem's VJP as an op);  x̄ = ȳ[index]"""

    def forward(ctx, x, *, shape, index):
        ctx.index = index
        return _scatter(x, shape, index)

    def backward(ctx, g):
        return (g[ctx.index],)

    def backward_graph(ctx, g, y, x):
        return (GetItem.apply(g, index=ctx.index),)


def _is_basic(index) -> bool:
    items = index if isinstance(index, tuple) else (index,)
    return all(isinstance(i, (slice, int, np.integer)) or i is None or i is Ellipsis for i in items)


class Concatenate(Function):
    """y = concat(x₁, …, xₖ; axis);  x̄ᵢ = the matching slice of ȳ"""

    def forward(ctx, *xs, axis):
        ctx.axis = axis
        ctx.splits = np.cumsum([x.shape[axis] for x in xs])[:-1]
        return np.concatenate(xs, axis=axis)

    def backward(ctx, g):
        return tuple(np.split(g, ctx.splits, axis=ctx.axis))

    def backward_graph(ctx, g, y, *xs):
        bounds = [0, *ctx.splits, g.shape[ctx.axis]]
        lead = (slice(None),) * (ctx.axis % g.ndim)
        return tuple(GetItem.apply(g, index=(*lead, slice(a, b))) for a, b in zip(bounds[:-1], bounds[1:]))


class Stack(Function):
    """y = stack(x₁, …, xₖ; axis);  x̄ᵢ = ȳ taken at position i along axis"""

    def forward(ctx, *xs, axis):
        ctx.axis = axis
        return np.stack(xs, axis=axis)

    def backward(ctx, g):
        return tuple(np.moveaxis(g, ctx.axis, 0))

    def backward_graph(ctx, g, y, *xs):
        lead = (slice(None),) * (ctx.axis % g.ndim)
        return tuple(GetItem.apply(g, index=(*lead, i)) for i in range(len(xs)))


class Pad(Function):
    """y = pad(x, widths, constant);  x̄ = the un-padded centre of ȳ"""

    def forward(ctx, x, *, widths, value):
        ctx.centre = tuple(slice(lo, lo + n) for (lo, _), n in zip(widths, x.shape))
        return np.pad(x, widths, mode="constant", constant_values=value)

    def backward(ctx, g):
        return (g[ctx.centre],)

    def backward_graph(ctx, g, y, x):
        return (GetItem.apply(g, index=ctx.centre),)


# --- functional forms -----------------------------------------------------------------------
def reshape(x, shape):
    shape = tuple(shape) if not isinstance(shape, int) else (shape,)
    return Reshape.apply(x, shape=shape)


def flatten(x, start_dim: int = 0, end_dim: int = -1):
    shape = x.shape
    nd = len(shape)
    if nd == 0:
        return reshape(x, (1,))
    s, e = start_dim % nd, end_dim % nd
    if s > e:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
    n = int(np.prod(shape[s : e + 1]))
    return reshape(x, shape[:s] + (n,) + shape[e + 1 :])


def permute(x, dims):
    dims = tuple(int(d) % x.ndim for d in dims)
    if sorted(dims) != list(range(x.ndim)):
        raise ValueError(f"permute: `dims` must be a permutation of 0..{x.ndim - 1}, got {dims}")
    return Permute.apply(x, dims=dims)


def transpose(x, dim0: int, dim1: int):
    dims = list(range(x.ndim))
    dims[dim0], dims[dim1] = dims[dim1], dims[dim0]
    return Permute.apply(x, dims=tuple(dims))


def broadcast_to(x, shape):
    return BroadcastTo.apply(x, shape=tuple(shape))  # a new node even when the shape is unchanged


expand = broadcast_to


def unsqueeze(x, dim: int):
    nd = x.ndim + 1
    d = dim % nd
    return reshape(x, x.shape[:d] + (1,) + x.shape[d:])


def squeeze(x, dim=None):
    if dim is None:
        return reshape(x, tuple(n for n in x.shape if n != 1))
    if x.ndim == 0:  # as PyTorch: squeezing a 0-d tensor on 0 or −1 keeps it 0-d
        return reshape(x, ())
    d = dim % x.ndim
    if x.shape[d] != 1:  # nothing to squeeze: still a new node (never the input itself)
        return reshape(x, x.shape)
    return reshape(x, x.shape[:d] + x.shape[d + 1 :])


def getitem(x, index):
    if isinstance(index, Tensor):
        index = index.data
    elif isinstance(index, tuple):
        index = tuple(i.data if isinstance(i, Tensor) else i for i in index)
    elif isinstance(index, list):
        index = np.asarray(index)
    return GetItem.apply(x, index=index)


def concatenate(xs, axis: int = 0):
    xs = list(xs)
    if not xs:
        raise ValueError("concatenate: needs at least one tensor")
    shapes = [tuple(np.shape(x.data if isinstance(x, Tensor) else x)) for x in xs]
    nd = len(shapes[0])
    if any(len(s) != nd for s in shapes) or not -nd <= axis < nd:
        raise ValueError(
            f"concatenate: tensors need the same number of dimensions and a valid axis {axis}, got shapes {shapes}"
        )
    rest = {s[: axis % nd] + s[axis % nd + 1 :] for s in shapes}
    if len(rest) != 1:
        raise ValueError(f"concatenate: all dimensions but axis {axis} must match, got shapes {shapes}")
    return Concatenate.apply(*xs, axis=axis)


cat = concatenate


def stack(xs, axis: int = 0):
    xs = list(xs)
    if not xs:
        raise ValueError("stack: needs at least one tensor")
    shapes = {tuple(np.shape(x.data if isinstance(x, Tensor) else x)) for x in xs}
    if len(shapes) != 1:
        raise ValueError(f"stack: all tensors must have the same shape, got {sorted(shapes)}")
    return Stack.apply(*xs, axis=axis)


def pad(x, widths, value: float = 0.0):
    """Constant padding; `widths` as for np.pad: one (before, after) pair per dimension."""
    widths = tuple((int(a), int(b)) for a, b in widths)
    if len(widths) != x.ndim:
        raise ValueError(
            f"pad: `widths` needs one (before, after) pair per dimension ({x.ndim}), got {len(widths)}"
        )
    if any(a < 0 or b < 0 for a, b in widths):
        raise ValueError(f"pad: `widths` must be non-negative, got {widths}")
    return Pad.apply(x, widths=widths, value=value)
