"""Function transforms in the spirit of `torch.func` and JAX: `grad`, `value_and_grad`, `vjp`, `jvp`,
`jacobian` (reverse or forward), `hessian`, `hvp` and a loop-based `vmap`.

All are built on `refimpl.grad` (reverse mode).  Each transform takes a function of Tensors and
returns a function (or values) of Tensors; arguments may be Tensors, arrays, or one-level dicts, lists or
tuples of them (e.g. a module's parameters for `refimpl.nn.functional_call`).

* **Nesting.** A transform differentiates with respect to fresh leaves holding the argument's values —
  unless the argument is already a Tensor that requires grad, in which case it differentiates with
  respect to that tensor itself and builds a graph of the result (``create_graph=True``), so an outer
  transform can differentiate again: ``grad(grad(f))(x)`` is f''(x).
* **jvp by the double-vjp trick.**  The VJP u ↦ Jᵀu is linear in u, so for a tangent t,
  Jt = ∂⟨Jᵀu, t⟩/∂u, a second reverse pass through the graph of the first: no forward mode needed, at
  about the cost of two reverse passes.  Forward-mode `jacobian` uses it column by column.
* **hvp** is Pearlmutter's trick, reverse over reverse: Hv = ∂⟨∇f(x), v⟩/∂x, exact, at the cost of
  about two gradient evaluations and without forming H.
* **vmap** loops over the mapped axis and stacks the results: the semantics of `torch.func.vmap`
  without its speed (per-example gradients: ``vmap(grad(loss), in_dims=(None, 0, 0))(params, x, y)``).
"""

from __future__ import annotations

import numpy as np

from .autograd import ops
from .autograd.higher_order import grad as _grad
from .autograd.tensor import Tensor

__all__ = ["grad", "value_and_grad", "vjp", "jvp", "jacobian", "hessian", "hvp", "vmap"]


# --- arguments as flat lists of leaves -------------------------------------------------------------------
def _leaf(value, name: str) -> tuple[Tensor, bool]:
    """(the tensor to differentiate with respect to, whether an outer graph needs a graph of the result)."""
    if isinstance(value, Tensor):
        if value.requires_grad:
            return value, True
        data = value.data
    else:
        data = np.asarray(value)
    if data.dtype.kind != "f":
        raise TypeError(f"{name}: can only differentiate floating-point arguments, got dtype {data.dtype}")
    return Tensor(data, requires_grad=True), False


def _flatten(arg, name: str):
    """(leaves, rebuild, nested): rebuild(list of per-leaf values) has the structure of `arg`."""
    if isinstance(arg, dict):
        keys = list(arg)
        pairs = [_leaf(arg[k], f"{name}[{k!r}]") for k in keys]
        return [p[0] for p in pairs], (lambda vs: dict(zip(keys, vs))), any(p[1] for p in pairs)
    if isinstance(arg, (list, tuple)):
        pairs = [_leaf(a, f"{name}[{i}]") for i, a in enumerate(arg)]
        kind = type(arg)
        return [p[0] for p in pairs], (lambda vs: kind(vs)), any(p[1] for p in pairs)
    t, nested = _leaf(arg, name)
    return [t], (lambda vs: vs[0]), nested


def _argnums(argnums, n: int, name: str) -> tuple:
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    for a in nums:
        if not -n <= a < n:
            raise ValueError(f"{name}: argnums {a} is out of range for {n} positional arguments")
    return tuple(a % n for a in nums)


def _scalar(out, name: str) -> Tensor:
    if not isinstance(out, Tensor):
        raise TypeError(f"{name}: the function must return a Tensor, got {type(out).__name__}")
    if out.data.size != 1:
        raise ValueError(f"{name}: the function must return one element (a scalar), got shape {out.shape}")
    return out


def _plain(t: Tensor, nested: bool) -> Tensor:
    """The result as the caller expects it: in the graph when an outer transform differentiates, else a
    plain Tensor."""
    return t if nested else Tensor(t.data)


def _zeros_like(t: Tensor) -> Tensor:
    return Tensor(np.zeros(t.shape, dtype=t.dtype))


# --- transforms --------------------------------------------------------------------------------------------
def value_and_grad(f, argnums=0, has_aux: bool = False):
    """A function returning (f(*args), ∂f/∂args[argnums]); f must return a scalar Tensor (or
    (scalar, aux) with has_aux=True, then ((value, aux), grad)).  The gradient has the structure of the
    argument (a tuple of them when argnums is a tuple)."""

    def wrapped(*args, **kwargs):
        nums = _argnums(argnums, len(args), "value_and_grad")
        args = list(args)
        flat, rebuilds, nested = [], [], False
        for a in nums:
            leaves, rebuild, nest = _flatten(args[a], f"args[{a}]")
            args[a] = rebuild(leaves)
            flat.append(leaves)
            rebuilds.append(rebuild)
            nested |= nest
        out = f(*args, **kwargs)
        value, aux = out if has_aux else (out, None)
        value = _scalar(value, "grad")
        every = [t for leaves in flat for t in leaves]
        gs = list(_grad(value, every, create_graph=nested, allow_unused=True))
        gs = [_zeros_like(t) if g is None else g for g, t in zip(gs, every)]
        parts, k = [], 0
        for leaves, rebuild in zip(flat, rebuilds):
            parts.append(rebuild(gs[k : k + len(leaves)]))
            k += len(leaves)
        g = parts[0] if isinstance(argnums, int) else tuple(parts)
        value = _plain(value, nested)
        return ((value, aux) if has_aux else value), g

    return wrapped


def grad(f, argnums=0, has_aux: bool = False):
    """∂f/∂args[argnums] as a function, like `torch.func.grad`: ``grad(f)(x)``; nest for higher order."""
    vg = value_and_grad(f, argnums, has_aux)

    def wrapped(*args, **kwargs):
        value, g = vg(*args, **kwargs)
        return (g, value[1]) if has_aux else g

    return wrapped


def vjp(f, *primals):
    """(f(*primals), vjp_fn) with vjp_fn(v) = the tuple of vᵀ ∂f/∂primals[i] (one per primal).
    vjp_fn can be called any number of times (the graph is retained)."""
    if not primals:
        raise ValueError("vjp: give at least one primal")
    pairs = [_leaf(p, f"primals[{i}]") for i, p in enumerate(primals)]
    xs, nested = [p[0] for p in pairs], any(p[1] for p in pairs)
    out = f(*xs)
    if not isinstance(out, Tensor):
        raise TypeError(f"vjp: the function must return a Tensor, got {type(out).__name__}")

    def vjp_fn(v):
        if not out.requires_grad:
            return tuple(_zeros_like(x) for x in xs)
        gs = _grad(out, xs, v, retain_graph=True, create_graph=nested, allow_unused=True)
        return tuple(_zeros_like(x) if g is None else g for g, x in zip(gs, xs))

    return _plain(out, nested), vjp_fn


def jvp(f, primals, tangents):
    """(f(*primals), J·tangents): the directional derivative, by the double-vjp trick (see above)."""
    primals, tangents = tuple(primals), tuple(tangents)
    if len(primals) != len(tangents):
        raise ValueError(f"jvp: {len(primals)} primals but {len(tangents)} tangents")
    pairs = [_leaf(p, f"primals[{i}]") for i, p in enumerate(primals)]
    xs, nested = [p[0] for p in pairs], any(p[1] for p in pairs)
    for i, (x, t) in enumerate(zip(xs, tangents)):
        if tuple(np.shape(getattr(t, "data", t))) != x.shape:
            raise ValueError(
                f"jvp: tangents[{i}] must have shape {x.shape}, got {np.shape(getattr(t, 'data', t))}"
            )
    out = f(*xs)
    if not isinstance(out, Tensor):
        raise TypeError(f"jvp: the function must return a Tensor, got {type(out).__name__}")
    if not out.requires_grad:
        return _plain(out, nested), _zeros_like(out)
    u = Tensor(np.zeros(out.shape, dtype=out.dtype), requires_grad=True)
    gs = _grad(out, xs, u, create_graph=True, allow_unused=True)
    dot = None
    for g, t in zip(gs, tangents):
        if g is not None:
            term = ops.sum(ops.mul(g, t))
            dot = term if dot is None else ops.add(dot, term)
    if dot is None or not dot.requires_grad:  # the output does not depend on the primals
        return _plain(out, nested), _zeros_like(out)
    (jv,) = _grad(dot, u, create_graph=nested, allow_unused=True)
    return _plain(out, nested), (_zeros_like(out) if jv is None else jv)


def jacobian(f, x, mode: str = "reverse"):
    """∂f/∂x as a Tensor of shape f(x).shape + x.shape: one VJP per output element (`reverse`) or one JVP
    per input element (`forward`, via the double-vjp trick)."""
    if mode not in ("reverse", "forward"):
        raise ValueError(f"jacobian: `mode` must be 'reverse' or 'forward', got {mode!r}")
    xt, nested = _leaf(x, "x")
    if mode == "forward":
        cols = []
        for j in range(xt.data.size):
            e = np.zeros(xt.data.size, dtype=xt.dtype)
            e[j] = 1
            out, col = jvp(f, (xt,), (e.reshape(xt.shape),))
            cols.append(ops.reshape(col, (-1,)))
        jac = ops.stack(cols, axis=1)
        return _plain(ops.reshape(jac, out.shape + xt.shape), nested)
    out, pullback = vjp(f, xt)
    rows = []
    for i in range(out.data.size):
        e = np.zeros(out.data.size, dtype=out.dtype)
        e[i] = 1
        rows.append(ops.reshape(pullback(e.reshape(out.shape))[0], (-1,)))
    jac = ops.stack(rows, axis=0)
    return _plain(ops.reshape(jac, out.shape + xt.shape), nested)


def hessian(f, x):
    """∂²f/∂x² of a scalar function, shape x.shape + x.shape: the reverse-mode Jacobian of the gradient."""
    return jacobian(grad(f), x, mode="reverse")


def hvp(f, x, v):
    """(∇f(x), ∇²f(x)·v) of a scalar function: Pearlmutter's exact Hessian–vector product."""
    xt, nested = _leaf(x, "x")
    v = v.data if isinstance(v, Tensor) else np.asarray(v)
    if v.shape != xt.shape:
        raise ValueError(f"hvp: `v` must have the shape of x {xt.shape}, got {v.shape}")
    value = _scalar(f(xt), "hvp")
    (g,) = _grad(value, xt, create_graph=True)
    (hv,) = _grad(ops.sum(ops.mul(g, v)), xt, create_graph=nested, allow_unused=True)
    return g, (_zeros_like(xt) if hv is None else hv)


def vmap(f, in_dims=0, out_dims: int = 0):
    """Map `f` over an axis of its arguments by a Python loop and stack the results along `out_dims`.
    `in_dims`: one int for every argument, or one entry per argument (None = not mapped)."""

    def wrapped(*args):
        dims = (in_dims,) * len(args) if isinstance(in_dims, int) or in_dims is None else tuple(in_dims)
        if len(dims) != len(args):
            raise ValueError(f"vmap: in_dims has {len(dims)} entries for {len(args)} arguments")
        sizes = {_axis_len(a, d) for a, d in zip(args, dims) if d is not None}
        if len(sizes) != 1:
            raise ValueError(f"vmap: the mapped axes must have one length, got {sorted(sizes)}")
        n = sizes.pop()
        results = [f(*(a if d is None else _take(a, d, i) for a, d in zip(args, dims))) for i in range(n)]
        return _stack_like(results, out_dims)

    return wrapped


def _axis_len(a, d):
    if isinstance(a, dict):
        return {_axis_len(v, d) for v in a.values()}.pop()
    return np.shape(a.data if isinstance(a, Tensor) else a)[d]


def _take(a, d, i):
    if isinstance(a, dict):
        return {k: _take(v, d, i) for k, v in a.items()}
    if isinstance(a, Tensor):
        return ops.getitem(a, (slice(None),) * (d % a.ndim) + (i,))
    return np.take(np.asarray(a), i, axis=d)


def _stack_like(results, axis):
    first = results[0]
    if isinstance(first, dict):
        return {k: _stack_like([r[k] for r in results], axis) for k in first}
    if isinstance(first, (tuple, list)):
        return type(first)(_stack_like([r[j] for r in results], axis) for j in range(len(first)))
    if isinstance(first, Tensor):
        return ops.stack(results, axis=axis)
    return np.stack([np.asarray(r) for r in results], axis=axis)
