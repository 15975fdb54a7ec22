"""The `Function` base class: one subclass per primitive op, forward and backward side by side.

A primitive is written like this (the whole contract)::

    class Exp(Function):
        '''y = exp(x);  x̄ = ȳ ⊙ y'''
        def forward(ctx, x):
            y = np.exp(x)
            ctx.y = y                 # anything backward needs is kept on ctx
            return y
        def backward(ctx, g):
            return (g * ctx.y,)       # one gradient (or None) per positional input
        def backward_graph(ctx, g, y, x):
            return (g * y,)           # the same VJP in differentiable ops (higher-order gradients)

    def exp(x):
        return Exp.apply(x)

`apply` unwraps Tensors to ndarrays, runs `forward`, and, when a gradient will be needed, links the
result into the graph.  `backward` may return gradients in the *broadcast* shape of the output; the
engine reduces them to each input's shape (`unbroadcast`), once, centrally.  Keyword arguments of
`apply` are passed to `forward` unchanged and are never differentiated (axes, strides, masks...).
`ctx.needs_input_grad[i]` says whether input `i` wants a gradient, so `backward` can skip work.

`backward_graph(ctx, g, out, *inputs)` is the same VJP written with differentiable ops on Tensors: `g`
is the upstream gradient, `out` the op's output and `inputs` its positional inputs, all Tensors
(constants wrapped).  The engine calls it instead of `backward` when a graph of the gradient is asked
for (`refimpl.grad(..., create_graph=True)`, `backward(create_graph=True)`), so gradients of gradients
work to any order; the plain NumPy `backward` stays the fast first-order path.  An op without it
raises a clear error when differentiated twice.
"""

from __future__ import annotations

import itertools

import numpy as np

from .tensor import Tensor

_NEXT_SEQ = itertools.count().__next__  # creation numbers of recorded nodes (a topological order)

__all__ = ["Function", "unbroadcast", "straight_through"]


def unbroadcast(grad: np.ndarray, shape: tuple) -> np.ndarray:
    """Sum `grad` over the axes that broadcasting added or stretched, so it has `shape`."""
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if stretched:
        grad = grad.sum(axis=stretched, keepdims=True)
    if grad.shape != shape:  # 0-d inputs and similar corner cases
        grad = grad.reshape(shape)
    return grad


_SCALARS: dict = {}  # (type, value, dtype) -> read-only 0-d array: `x * 0.5` in a loop makes its 0.5 once
_CACHED_SCALAR_TYPES = (bool, int, float)


def _constant(value, like: np.dtype | None) -> np.ndarray:
    """A non-Tensor positional input: Python scalars take the dtype of the Tensor inputs."""
    if isinstance(value, np.ndarray):
        return value
    cacheable = type(value) in _CACHED_SCALAR_TYPES  # (exactly: np.float64 is a float subclass)
    if cacheable:
        arr = _SCALARS.get((type(value), value, like))
        if arr is not None:
            return arr
    if isinstance(value, (bool, int, float)) and like is not None and like.kind == "f":
        arr = np.asarray(value, dtype=like)
    else:
        arr = np.asarray(value)
    # finite and nonzero only: -0.0 == 0.0 as a key, and NaN keys would never match
    if cacheable and value != 0 and -1e300 < value < 1e300 and len(_SCALARS) < 4096:
        arr.flags.writeable = False  # one array shared by every op that uses this constant
        _SCALARS[(type(value), value, like)] = arr
    return arr


class Function:
    """Base class of every differentiable primitive (see the module docstring)."""

    needs_input_grad: tuple
    parents: tuple
    seq: int = -1  # creation number of a recorded node (set by apply); orders the backward pass

    def forward(ctx, *arrays, **kwargs):  # pragma: no cover - abstract
        raise NotImplementedError

    def backward(ctx, grad):  # pragma: no cover - abstract
        raise NotImplementedError

    def backward_graph(ctx, grad, out, *inputs):
        raise NotImplementedError(
            f"{type(ctx).__name__} has no differentiable backward (backward_graph), so gradients "
            "through it cannot be differentiated again (create_graph=True)"
        )

    @classmethod
    def apply(cls, *inputs, **kwargs) -> Tensor:
        # one pass over the inputs: unwrap Tensors, note which want a gradient
        arrays, needs, constants = [], [], None  # constants: where the non-Tensor inputs are
        for a in inputs:
            if isinstance(a, Tensor):
                arrays.append(a.data)
                needs.append(a.requires_grad)
            else:
                if constants is None:
                    constants = []
                constants.append(len(arrays))
                arrays.append(a)
                needs.append(False)
        if constants is not None:  # Python scalars take the dtype of the (first) Tensor input
            like = None
            for a in inputs:
                if isinstance(a, Tensor):
                    like = a.data.dtype
                    break
            for i in constants:
                arrays[i] = _constant(arrays[i], like)
        track = Tensor._grad_enabled and True in needs
        ctx = cls()
        ctx.needs_input_grad = tuple(needs) if track else (False,) * len(needs)
        out = Tensor.__new__(Tensor)
        data = ctx.forward(*arrays, **kwargs)
        if type(data) is not np.ndarray:  # NumPy gives 0-d results as scalars: keep .data an array
            data = np.asarray(data)
        out.data = data
        out.grad = None
        out.name = None
        if track:
            if constants is not None:
                parents = list(inputs)
                for i in constants:
                    parents[i] = None
                ctx.parents = tuple(parents)
                ctx.constants = arrays  # the non-Tensor inputs as arrays, for backward_graph
            else:
                ctx.parents = inputs
            ctx.seq = _NEXT_SEQ()
            out.requires_grad = True
            out._ctx = ctx
        else:
            out.requires_grad = False
            out._ctx = None
        if Tensor._tape is not None:  # a step is being recorded (refimpl.compile)
            Tensor._tape.record_op(ctx, inputs, arrays, kwargs, out)
        return out


class _FreedGraph(Function):
    """Stands in for a node whose buffers were released by a previous `backward()`."""

    parents = ()

    def backward(ctx, grad):
        raise RuntimeError(
            "backward() through a part of the graph that was already freed by an earlier backward(); "
            "call backward(retain_graph=True) the first time if you need to go through it twice"
        )

    def backward_graph(ctx, grad, out, *inputs):
        ctx.backward(grad)


FREED = _FreedGraph()


class _StraightThrough(Function):
    """y = f(x) in the forward pass; x̄ = ȳ (optionally only where `pass_mask`) in the backward pass."""

    def forward(ctx, x, *, value, pass_mask):
        ctx.pass_mask = pass_mask
        return np.asarray(value, dtype=x.dtype)

    def backward(ctx, g):
        if ctx.pass_mask is None:
            return (g,)
        return (g * ctx.pass_mask,)

    def backward_graph(ctx, g, out, x):
        if ctx.pass_mask is None:
            return (g,)
        return (g * ctx.pass_mask,)


def straight_through(x: Tensor, value, pass_mask=None) -> Tensor:
    """The straight-through estimator (Bengio et al., 2013) as a one-liner for technique authors.

    Returns a Tensor whose forward value is `value` (an array computed from `x.data` by anything at all,
    e.g. rounding, a hard threshold, a mask) and whose gradient with respect to `x` is the identity —
    or the identity restricted to `pass_mask` (the *clipped* STE: gradient passes only inside the
    clipping range).  Example, a rounding quantizer: ``straight_through(w, np.round(w.data / s) * s)``.
    """
    value = np.asarray(value)
    if value.shape != x.data.shape:
        raise ValueError(
            f"straight_through: `value` must have the shape of x {x.data.shape}, got {value.shape}"
        )
    if pass_mask is not None:
        pass_mask = np.asarray(pass_mask)
    return _StraightThrough.apply(x, value=value, pass_mask=pass_mask)
