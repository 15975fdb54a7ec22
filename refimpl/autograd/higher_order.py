"""`grad`: gradients of outputs with respect to chosen inputs, optionally as a graph (higher order).

With ``create_graph=False`` the walk is the ordinary backward pass over NumPy arrays (each op's
`backward`), except that gradients are returned for `inputs` instead of accumulated into `.grad`.
With ``create_graph=True`` every op's VJP runs as differentiable ops (its `backward_graph`), so the
gradients returned are Tensors in a graph of their own and can be differentiated again, to any order —
the double-backward of PyTorch's ``torch.autograd.grad(..., create_graph=True)``.

Only the part of the graph that leads to an input is walked; as in PyTorch, ``retain_graph`` defaults
to ``create_graph`` (a gradient graph refers to the forward graph, so freeing it would break it).
"""

from __future__ import annotations

import numpy as np

from .tensor import Tensor, _interior_nodes, _seq_of, enable_grad

__all__ = ["grad"]


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, allow_unused=False):
    """d(outputs)/d(inputs) · grad_outputs, as a tuple of Tensors (one per input), like
    ``torch.autograd.grad``.

    `outputs`: a Tensor or a sequence of Tensors; `inputs`: a Tensor or a sequence (leaves or interior
    tensors); `grad_outputs`: one upstream gradient per output (None for a one-element output means 1);
    `create_graph`: return gradients that are themselves differentiable; `allow_unused`: give None for
    an input the outputs do not depend on instead of raising.  Leaves' `.grad` are not touched.
    """
    if Tensor._tape is not None:
        Tensor._tape.refuse("refimpl.grad cannot be recorded; compile a step that calls backward()")
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if not outputs or not inputs:
        raise ValueError("grad: `outputs` and `inputs` must each hold at least one Tensor")
    for name, seq in (("outputs", outputs), ("inputs", inputs)):
        for i, t in enumerate(seq):
            if not isinstance(t, Tensor):
                raise TypeError(f"grad: {name}[{i}] must be a Tensor, got {type(t).__name__}")
            if not t.requires_grad:
                raise RuntimeError(
                    f"grad: {name}[{i}] does not require grad"
                    + (
                        " (create it with requires_grad=True)"
                        if name == "inputs"
                        else " (nothing it was computed from does)"
                    )
                )
    from . import ops

    seeds = _seeds(outputs, grad_outputs, create_graph)
    if retain_graph is None:
        retain_graph = create_graph
    if create_graph:
        with enable_grad():
            found = walk(outputs, seeds, inputs, graph=True, retain_graph=retain_graph)
    else:
        found = walk(outputs, seeds, inputs, graph=False, retain_graph=retain_graph)
    result = []
    for i, t in enumerate(inputs):
        g = found.get(t)
        if g is None:
            if not allow_unused:
                raise RuntimeError(
                    f"grad: inputs[{i}] was not used to compute the outputs; pass allow_unused=True to get None"
                )
            result.append(None)
        elif create_graph:
            result.append(g if g.dtype == t.dtype else ops.cast(g, t.dtype))
        else:
            result.append(Tensor(np.array(g, dtype=t.dtype)))
    return tuple(result)


def _seeds(outputs, grad_outputs, graph):
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    elif isinstance(grad_outputs, (Tensor, np.ndarray)):
        grad_outputs = [grad_outputs]
    grad_outputs = list(grad_outputs)
    if len(grad_outputs) != len(outputs):
        raise ValueError(f"grad: {len(outputs)} outputs but {len(grad_outputs)} grad_outputs")
    seeds = []
    for i, (out, g) in enumerate(zip(outputs, grad_outputs)):
        if g is None:
            if out.data.size != 1:
                raise ValueError(
                    f"grad: outputs[{i}] has shape {out.shape}, not one element; pass its grad_outputs"
                )
            g = np.ones(out.shape, dtype=out.dtype)
        if isinstance(g, Tensor):
            g = g if graph else g.data
        else:
            g = np.asarray(g, dtype=out.dtype)
        if tuple(g.shape) != tuple(out.shape):
            raise ValueError(f"grad: grad_outputs[{i}] must have shape {out.shape}, got {tuple(g.shape)}")
        seeds.append(Tensor(g) if graph and not isinstance(g, Tensor) else g)
    return seeds


def walk(roots, seeds, targets, *, graph: bool, retain_graph: bool) -> dict:
    """The backward pass from `roots` (with upstream `seeds`) restricted to what leads to `targets`;
    returns {target: its gradient} (arrays, or Tensors when `graph`)."""
    from .function import FREED, unbroadcast

    targets = set(targets)  # Tensors hash by identity
    nodes = sorted({n for r in roots if r._ctx is not None for n in _interior_nodes(r)}, key=_seq_of)
    leads = set()  # interior nodes whose inputs lead to a target: only these are differentiated
    for node in nodes:  # parents before children
        for p in node._ctx.parents:
            if p is not None and (p in targets or p in leads):
                leads.add(node)
                break
    grads, found = {}, {}
    for r, s in zip(roots, seeds):
        if r._ctx is not None:
            _add(grads, r, s)
        elif r in targets:
            _add(found, r, s)
    for node in reversed(nodes):
        g = grads.pop(node, None)
        if g is None:
            continue
        if node in targets:
            _add(found, node, g)
        ctx = node._ctx
        if ctx is FREED:
            ctx.backward(g)  # raises: this part of the graph was freed by an earlier pass
        if node not in leads:
            continue
        if graph:
            const = getattr(ctx, "constants", None)
            xs = [p if p is not None else Tensor(const[i]) for i, p in enumerate(ctx.parents)]
            in_grads = ctx.backward_graph(g, node, *xs)
        else:
            in_grads = ctx.backward(g)
        if type(in_grads) is not tuple:
            in_grads = (in_grads,)
        for p, pg in zip(ctx.parents, in_grads):
            if pg is None or p is None or not p.requires_grad:
                continue
            if tuple(pg.shape) != p.data.shape:
                pg = sum_to(pg, p.data.shape) if graph else unbroadcast(pg, p.data.shape)
            if p._ctx is not None:
                _add(grads, p, pg)
            elif p in targets:
                _add(found, p, pg)
        if not retain_graph:
            node._ctx = FREED
    return found


def sum_to(g: Tensor, shape: tuple) -> Tensor:
    """`unbroadcast` in differentiable ops: sum `g` over the axes broadcasting added or stretched."""
    from . import ops

    extra = g.ndim - len(shape)
    if extra > 0:
        g = ops.sum(g, tuple(range(extra)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    if stretched:
        g = ops.sum(g, stretched, True)
    return g if tuple(g.shape) == shape else ops.reshape(g, shape)


def leaves_of(roots) -> list:
    """The leaves requiring grad that `roots` were computed from (in a fixed order)."""
    out, seen = [], set()
    for r in roots:
        if r._ctx is None:
            if r.requires_grad and r not in seen:
                seen.add(r)
                out.append(r)
            continue
        for node in _interior_nodes(r):
            for p in node._ctx.parents:
                if p is not None and p._ctx is None and p.requires_grad and p not in seen:
                    seen.add(p)
                    out.append(p)
    return out


def _add(store: dict, key, g) -> None:
    prev = store.get(key)
    store[key] = g if prev is None else prev + g
