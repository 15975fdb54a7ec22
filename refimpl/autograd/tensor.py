"""`Tensor`: an ndarray plus the node that made it, and reverse-mode `backward`.

The engine is the classic one (micrograd, minitorch): every op records its `Function` instance
(`_ctx`) with its parents; `backward` sorts the graph topologically with an explicit stack (no
recursion, so a 10⁴-deep chain is fine), walks it in reverse and *accumulates* gradients.  Only leaf
tensors that require a gradient keep `.grad`; interior gradients and saved buffers are dropped.
"""

from __future__ import annotations

import contextlib
import gc
import math
import operator

import numpy as np

__all__ = ["Tensor", "tensor", "no_grad", "enable_grad", "is_grad_enabled", "graph_nodes", "gc_paused"]

_FLOAT_DEFAULT = np.float32


class ElementCount(int):
    """An int equal to the number of elements; calling it gives the shape (PyTorch's `size()`)."""

    def __new__(cls, shape: tuple):
        obj = super().__new__(cls, math.prod(shape))
        obj.shape = tuple(shape)
        return obj

    def __call__(self, dim: int | None = None):
        if dim is None:
            return self.shape
        nd = len(self.shape)
        if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool) or not -nd <= dim < nd:
            allowed = (
                f"an int in [{-nd}, {nd - 1}]" if nd else "no dim at all (a 0-d tensor has no dimensions)"
            )
            raise IndexError(f"size: `dim` must be {allowed} for a {nd}-d tensor, got {dim!r}")
        return self.shape[dim]


class Tensor:
    """An n-dimensional array that can take part in automatic differentiation."""

    __slots__ = ("data", "grad", "requires_grad", "_ctx", "name", "__weakref__", "__dict__")
    _grad_enabled = True
    _tape = None  # the recording of a compiled step while one is being recorded (autograd/trace.py)
    __array_priority__ = 1000  # so ndarray + Tensor dispatches to Tensor.__radd__

    def __init__(self, data, requires_grad: bool = False, dtype=None):
        data = _to_array(data, dtype)
        if requires_grad and data.dtype.kind != "f":
            raise TypeError(
                f"requires_grad=True needs floating-point data, got dtype {data.dtype}; "
                "convert first, e.g. tensor(x, dtype=np.float32)"
            )
        self.data = data
        self.grad = None
        self.requires_grad = bool(requires_grad)
        self._ctx = None
        self.name = None

    # --- basic properties -------------------------------------------------------------------
    @property
    def shape(self) -> tuple:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> ElementCount:
        """The element count as an int (NumPy's `a.size`) that is also callable as PyTorch's
        `t.size()` → shape tuple and `t.size(dim)` → that dimension's extent."""
        return ElementCount(self.data.shape)

    def numel(self) -> int:
        return self.data.size

    def dim(self) -> int:
        return self.data.ndim

    def __len__(self) -> int:
        return len(self.data)

    @property
    def is_leaf(self) -> bool:
        return self._ctx is None

    def numpy(self) -> np.ndarray:
        return self.data

    def item(self):
        if self.data.size != 1:
            raise ValueError(f"item() needs a tensor with one element, got shape {self.data.shape}")
        return self.data.item()

    def detach(self) -> Tensor:
        return Tensor(self.data)

    def requires_grad_(self, flag: bool = True) -> Tensor:
        if flag and self.data.dtype.kind != "f":
            raise TypeError(f"requires_grad needs floating-point data, got dtype {self.data.dtype}")
        self.requires_grad = flag
        return self

    def zero_grad(self) -> None:
        self.grad = None

    def astype(self, dtype) -> Tensor:
        return _OPS.cast(self, dtype)

    def float(self) -> Tensor:
        return self.astype(np.float32)

    def double(self) -> Tensor:
        return self.astype(np.float64)

    def __repr__(self) -> str:
        body = np.array2string(self.data, precision=4, separator=", ", threshold=20)
        extra = ", requires_grad=True" if self.requires_grad else ""
        return f"tensor({body}, dtype={self.data.dtype}{extra})"

    def __bool__(self):
        return bool(self.data)

    def __float__(self):
        return float(self.item())

    # --- backward -------------------------------------------------------------------------
    def backward(self, grad=None, retain_graph: bool | None = None, create_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) · grad into `.grad` of every leaf that requires a gradient.

        `create_graph=True` makes each leaf's `.grad` a Tensor in a graph of its own (as in PyTorch), so
        it can be differentiated again; `retain_graph` then defaults to True.  Otherwise `.grad` is an
        ndarray and the graph is freed unless `retain_graph=True`."""
        if create_graph:
            if Tensor._tape is not None:
                Tensor._tape.refuse("backward(create_graph=True) cannot be recorded")
            return self._backward_graph(grad, True if retain_graph is None else retain_graph)
        retain_graph = bool(retain_graph)
        if not self.requires_grad:
            raise RuntimeError(
                "backward() on a tensor that does not require grad: no input of the computation "
                "had requires_grad=True (or it ran under no_grad())"
            )
        if grad is None:
            if self.data.size != 1:
                raise ValueError(
                    f"backward() without `grad` needs a scalar output, got shape {self.data.shape}; "
                    "pass grad= an array of that shape"
                )
            grad = np.array(1, dtype=self.data.dtype).reshape(self.data.shape)  # (np.ones_like is slower)
        else:
            grad = np.asarray(grad.data if isinstance(grad, Tensor) else grad, dtype=self.data.dtype)
            if grad.shape != self.data.shape:
                raise ValueError(f"backward(): `grad` must have shape {self.data.shape}, got {grad.shape}")
        if Tensor._tape is not None:  # a step is being recorded (refimpl.compile)
            Tensor._tape.record_backward(self, grad)
        _run_backward(self, grad, retain_graph)

    def _backward_graph(self, grad, retain_graph: bool) -> None:
        from . import ops
        from .higher_order import grad as grad_of
        from .higher_order import leaves_of

        leaves = leaves_of([self])
        if not self.requires_grad or not leaves:
            raise RuntimeError("backward() on a tensor that does not require grad")
        found = grad_of(self, leaves, grad, retain_graph=retain_graph, create_graph=True, allow_unused=True)
        for leaf, g in zip(leaves, found):
            if g is None:
                continue
            if leaf.grad is None:
                leaf.grad = g
            else:
                prev = leaf.grad if isinstance(leaf.grad, Tensor) else Tensor(leaf.grad)
                leaf.grad = ops.add(prev, g)

    # --- operators (the ops live in refimpl.autograd.ops) ------------------------------------
    def __add__(self, other):
        return _OPS.add(self, other)

    def __radd__(self, other):
        return _OPS.add(other, self)

    def __sub__(self, other):
        return _OPS.sub(self, other)

    def __rsub__(self, other):
        return _OPS.sub(other, self)

    def __mul__(self, other):
        return _OPS.mul(self, other)

    def __rmul__(self, other):
        return _OPS.mul(other, self)

    def __truediv__(self, other):
        return _OPS.div(self, other)

    def __rtruediv__(self, other):
        return _OPS.div(other, self)

    def __pow__(self, other):
        return _OPS.pow(self, other)

    def __rpow__(self, other):
        return _OPS.pow(other, self)

    def __matmul__(self, other):
        return _OPS.matmul(self, other)

    def __rmatmul__(self, other):
        return _OPS.matmul(other, self)

    def __neg__(self):
        return _OPS.neg(self)

    def __getitem__(self, index):
        return _OPS.getitem(self, index)

    # comparisons give plain boolean arrays (no gradient flows through a comparison)
    def __lt__(self, other):
        return self.data < _data(other)

    def __le__(self, other):
        return self.data <= _data(other)

    def __gt__(self, other):
        return self.data > _data(other)

    def __ge__(self, other):
        return self.data >= _data(other)

    def __eq__(self, other):  # elementwise, as PyTorch (identity hashing stays: sets and dicts are by object)
        return self.data == _data(other)

    def __ne__(self, other):
        return self.data != _data(other)

    __hash__ = object.__hash__

    # --- methods ---------------------------------------------------------------------------
    def sum(self, axis=None, keepdims=False, *, dim=None, keepdim=None):
        return _OPS.sum(self, _pick(axis, dim), _pick(keepdims, keepdim))

    def mean(self, axis=None, keepdims=False, *, dim=None, keepdim=None):
        return _OPS.mean(self, _pick(axis, dim), _pick(keepdims, keepdim))

    def var(self, axis=None, keepdims=False, *, correction=1, dim=None, keepdim=None):
        return _OPS.var(self, _pick(axis, dim), _pick(keepdims, keepdim), correction=correction)

    def max(self, axis=None, keepdims=False, *, dim=None, keepdim=None):
        return _OPS.max(self, _pick(axis, dim), _pick(keepdims, keepdim))

    def min(self, axis=None, keepdims=False, *, dim=None, keepdim=None):
        return _OPS.min(self, _pick(axis, dim), _pick(keepdims, keepdim))

    def argmax(self, dim=None, keepdim=False):
        """Index of the largest entry (over all entries, or along `dim`) as an int64 ndarray: an index
        carries no gradient."""
        return np.argmax(self.data, axis=dim, keepdims=keepdim)

    def argmin(self, dim=None, keepdim=False):
        """Index of the smallest entry (see `argmax`)."""
        return np.argmin(self.data, axis=dim, keepdims=keepdim)

    def logsumexp(self, axis=None, keepdims=False, *, dim=None, keepdim=None):
        return _OPS.logsumexp(self, _pick(axis, dim), _pick(keepdims, keepdim))

    def reshape(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return _OPS.reshape(self, shape)

    view = reshape

    def flatten(self, start_dim: int = 0, end_dim: int = -1):
        return _OPS.flatten(self, start_dim, end_dim)

    def transpose(self, dim0: int = None, dim1: int = None):
        if dim0 is None and dim1 is None:
            return _OPS.permute(self, tuple(range(self.ndim))[::-1])
        return _OPS.transpose(self, dim0, dim1)

    def permute(self, *dims):
        if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
            dims = tuple(dims[0])
        return _OPS.permute(self, dims)

    @property
    def T(self):
        return _OPS.permute(self, tuple(range(self.ndim))[::-1])

    def unsqueeze(self, dim: int):
        return _OPS.unsqueeze(self, dim)

    def squeeze(self, dim=None):
        return _OPS.squeeze(self, dim)

    def expand(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return _OPS.broadcast_to(self, shape)

    def exp(self):
        return _OPS.exp(self)

    def log(self):
        return _OPS.log(self)

    def sqrt(self):
        return _OPS.sqrt(self)

    def abs(self):
        return _OPS.abs(self)

    def sign(self):
        return _OPS.sign(self)

    def tanh(self):
        return _OPS.tanh(self)

    def sigmoid(self):
        return _OPS.sigmoid(self)

    def relu(self):
        return _OPS.relu(self)

    def clip(self, min=None, max=None):
        return _OPS.clip(self, min, max)

    clamp = clip

    def softmax(self, dim: int = -1):
        return _OPS.softmax(self, dim)

    def log_softmax(self, dim: int = -1):
        return _OPS.log_softmax(self, dim)

    def matmul(self, other):
        return _OPS.matmul(self, other)

    def pow(self, other):
        return _OPS.pow(self, other)


def _pick(a, b):
    return a if b is None else b


def _data(x):
    return x.data if isinstance(x, Tensor) else x


_OPS = None  # refimpl.autograd.ops, set by refimpl/autograd/__init__.py (it imports this module)


def _to_array(data, dtype) -> np.ndarray:
    if isinstance(data, Tensor):
        data = data.data
    if dtype is not None:
        return np.array(data, dtype=dtype, copy=None)
    if isinstance(data, np.ndarray):
        return data
    if isinstance(data, (np.generic,)):
        return np.asarray(data)
    arr = np.asarray(data)
    if arr.dtype.kind not in "biufc":  # strings, objects, ragged lists: not a tensor
        raise TypeError(
            f"tensor: expected numbers (a scalar, a nested list of numbers or an array), got {type(data).__name__} "
            f"giving dtype {arr.dtype}"
        )
    # like torch.tensor: Python floats become float32 by default; ndarrays keep their dtype
    if arr.dtype == np.float64 and not isinstance(data, np.ndarray):
        arr = arr.astype(_FLOAT_DEFAULT)
    return arr


def tensor(data, requires_grad: bool = False, dtype=None) -> Tensor:
    """Make a Tensor.  ndarrays keep their dtype; Python floats and lists of them become float32."""
    if type(data) is float and dtype is None:
        return Tensor(np.asarray(data, dtype=_FLOAT_DEFAULT), requires_grad)
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


# --- grad mode -------------------------------------------------------------------------------
class _GradMode:
    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.prev = []

    def __enter__(self):
        self.prev.append(Tensor._grad_enabled)
        Tensor._grad_enabled = self.enabled
        return self

    def __exit__(self, *exc):
        Tensor._grad_enabled = self.prev.pop()
        return False

    def __call__(self, fn):
        import functools

        @functools.wraps(fn)
        def wrapped(*args, **kwargs):
            with self.__class__():
                return fn(*args, **kwargs)

        return wrapped


class no_grad(_GradMode):
    """Context manager (and decorator): operations inside record no graph, and their results do not
    require grad (in PyTorch a *view* of a tensor that requires grad still does), except the ops that
    return their input itself (a cast to its own dtype, dropout in eval mode or with p = 0)."""

    def __init__(self):
        super().__init__(False)


class enable_grad(_GradMode):
    """Context manager (and decorator): re-enable graph recording inside a no_grad block."""

    def __init__(self):
        super().__init__(True)


def is_grad_enabled() -> bool:
    return Tensor._grad_enabled


@contextlib.contextmanager
def gc_paused():
    """Context manager: Python's cyclic garbage collector is off inside (and back on after, if it was on).

    A graph keeps every node alive until `backward()`; each node is a few container objects, so a long
    graph makes the collector's full passes scan more and more of them, and the cost of recording an op
    grows with the graph (measured: 1.0 µs per op at 10² nodes, 3.4 µs at 3·10⁵; flat at 1.2 µs with the
    collector off, benchmarks/bench_step.py).  The collector is not needed for graphs: they hold no
    reference cycles (a node refers to its inputs, never to its output), so reference counting frees a
    graph the moment its last Tensor goes, collector or not (tests/autograd/test_gc_paused.py).  `fit`
    runs each training step inside it; wrap a loop of your own that builds a long graph the same way."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


# --- the backward pass -----------------------------------------------------------------------
_seq_of = operator.attrgetter("_ctx.seq")


def _interior_nodes(root: Tensor) -> list:
    """The recorded (non-leaf) tensors reachable from `root`, parents before children.

    Every recorded op numbers its node when it is created (`ctx.seq`, see `Function.apply`), after its
    parents, so sorting the reachable nodes by that number is a topological order; the walk that finds
    them uses an explicit stack, so a 10⁴-deep chain needs no recursion.  Leaves are not listed: their
    gradients are accumulated the moment they arrive.
    """
    seen = {root}  # Tensors hash by identity
    stack = [root]
    while stack:
        for p in stack.pop()._ctx.parents:
            if p is not None and p._ctx is not None and p.requires_grad and p not in seen:
                seen.add(p)
                stack.append(p)
    return sorted(seen, key=_seq_of)


def _run_backward(root: Tensor, grad: np.ndarray, retain_graph: bool) -> None:
    given = {id(grad)}  # arrays a leaf must not keep as its own .grad (the caller's, another leaf's)
    if root._ctx is None:  # backward() on a leaf: d(leaf)/d(leaf) · grad
        _accumulate(root, grad, given)
        return
    grads = {root: grad}  # interior tensor -> gradient received so far
    pop, get = grads.pop, grads.get
    freed, unbroadcast, ndarray = _FREED, _unbroadcast, np.ndarray
    for node in reversed(_interior_nodes(root)):
        g = pop(node, None)
        if g is None:
            continue
        ctx = node._ctx
        in_grads = ctx.backward(g)
        if type(in_grads) is not tuple:
            in_grads = (in_grads,)
        for p, pg in zip(ctx.parents, in_grads):
            if pg is None or p is None or not p.requires_grad:
                continue
            pdata = p.data
            if pg.shape != pdata.shape:
                pg = unbroadcast(pg, pdata.shape)
            if p._ctx is not None:  # interior: sum what arrives, hand it on when its turn comes
                prev = get(p)
                grads[p] = pg if prev is None else prev + pg
            elif p.grad is not None and type(pg) is ndarray and pg.dtype == pdata.dtype:
                total = p.grad + pg  # a leaf reached again (the common case of _accumulate, inline)
                p.grad = total if type(total) is ndarray else np.asarray(total)
            else:
                _accumulate(p, pg, given)
        if not retain_graph:
            node._ctx = freed


def _accumulate(leaf: Tensor, g: np.ndarray, given: set) -> None:
    """leaf.grad += g, in the leaf's dtype; an array kept as .grad is never a view or one handed out
    elsewhere (the caller's, another leaf's)."""
    if leaf.grad is not None:  # the sum is a new array
        total = leaf.grad + g.astype(leaf.data.dtype, copy=False)
        leaf.grad = total if type(total) is np.ndarray else np.asarray(total)  # (a 0-d sum is a scalar)
        return
    if type(g) is not np.ndarray:  # NumPy gives 0-d results as scalars; .grad is always an array
        g = np.asarray(g)
    if g.dtype != leaf.data.dtype:
        g = g.astype(leaf.data.dtype)
    elif g.base is not None or id(g) in given:
        g = g.copy()
    given.add(id(g))
    leaf.grad = g


def graph_nodes(root: Tensor) -> list:
    """The recorded tensors `root` was computed from, parents before children (what `backward` walks,
    in reverse).  For teaching and debugging: `[t._ctx for t in graph_nodes(loss)]` lists the ops."""
    if root._ctx is None:
        return []
    return _interior_nodes(root)


_FREED = None  # function.FREED (the placeholder for a freed node), set by refimpl/autograd/__init__.py
_unbroadcast = None  # function.unbroadcast, set likewise
