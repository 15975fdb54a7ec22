r"""DynamicLRP: layer-wise relevance propagation written once per *tensor operation* and run over the
computation graph the autograd already records, so any model built from covered ops gets LRP without a
model-specific rule.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.  Equation
numbers are those of the paper's source in the official repository (keeinlev/dynamicLRP, ``paper/main.tex``).

From a Taylor expansion to the ε-rule
-------------------------------------
LRP hands the score of an output, its relevance R_j, back to the inputs of the op that made it.  Expanding
f_j around a root x₀ (Eq. 1) and asking that the shares add up to R_j (conservation, Eq. 2) gives shares
proportional to the Taylor terms (Eq. 3); for a linear map z_j = Σ_i x_i w_ji + b_j with x₀ = 0 this is the
ε-rule (Eq. 4)

.. math::

    R_{i\leftarrow j} = \frac{x_i w_{ji}}{z_j + \epsilon\,\mathrm{sign}(z_j)}\,R_j,\qquad
    R_i = \sum_j R_{i\leftarrow j}
        = x_i \Big[W^\top \frac{R}{z + \epsilon\,\mathrm{sign}(z)}\Big]_i .

The paper writes z_j + ε; the official code (``lrp_engine/lrp_prop_fcns.py``, ``MmBackwardProp``) stabilises
with ε·sign(z), as here (sign 0 := +1).  The bracket is the op's own vector–Jacobian product applied to
s = R/(z + ε sign z), which is why a Linear or a convolution needs no new code beyond its VJP: the
convolution rule is x ⊙ col2im(Wᵀ s) through the engine's im2col (`_conv_input_grad`).  The bias b_j and
the stabiliser keep the rest, R_j − Σ_i R_{i←j}: that is where relevance *leaks*; `LRPResult.leak` reports
it.  The z⁺ rule (`rule="zplus"`) uses w⁺ = max(w, 0) in both z and the VJP and drops the bias (Montavon et
al. 2019; the official code's ``use_z_plus``).

Rules per operation (Sec. 4.1; conservation per op, Eq. 8)
--------------------------------------------------------
Σ_{inputs} R_i = Σ_{outputs} R_j for every node of the graph, not per layer (Eq. 8).  An operand that does not
depend on the explained input (a weight, a bias, a constant) receives no relevance: what a rule gives it is
the leak.  The rules (`RULES`):

* **Linear, MatMul, Conv2d** — the ε-rule (Eq. 4) towards the input-dependent operand.  A MatMul with *both*
  operands input-dependent (attention's A·V) splits each ε-share in half between them (the AttnLRP bilinear
  rule, Eq. 6; the official code halves every matmul, even x·W with W a weight — here the weight is a
  parameter and gets nothing, so a Linear written as matmul + add equals the fused Linear).
* **Add / Sub** — c = a ± b: each operand gets the share of its contribution (Eq. 9),
  R_a = |a| / (|a| + |b|) · R_c (`add_rule="abs"`, the paper's text); the official code uses squares,
  a²/(a² + b²) (``promises/add_backward_promise.py``; `add_rule="square"`); `add_rule="epsilon"` is the signed
  share a/(c + ε sign c), the ε-rule with unit weights, which makes matmul + add equal a fused Linear up to
  O(ε).  Where both contributions are zero the relevance is split evenly.  A bias added this way keeps its
  share (the leak).
* **Sum / Mean** — an n-ary add: the same share rule along the reduced axes (the official
  ``SumBackwardPromise`` uses squares).
* **Mul / Div** — both operands input-dependent: the |·|-share rule of the official ``MulBackwardProp`` /
  ``DivBackwardProp`` (operands a and b, or a and 1/b); one input-dependent operand (scaling by a weight or
  a constant): the relevance passes to it unchanged.
* **ReLU, LeakyReLU, GELU, SiLU, Tanh, Sigmoid, Neg, Cast** — identity: R_x = R_y (elementwise, one input).
* **Reshape, Permute, BroadcastTo, GetItem, Concatenate, Stack, Pad, MaxPool2d** — relevance moves exactly as
  the gradient does (the op's VJP, a routing of entries; max-pool: winner takes all), so it is conserved.
* **AvgPool2d** — the ε-rule with weights 1/(kh·kw).
* Anything else raises `NotImplementedError` naming the op.

Traversal and deferred resolution (Def. 1, Sec. 4.2–4.3)
--------------------------------------------------------
A node may only propagate once every consumer has handed it its relevance: the paper's traversal heuristic
(Def. 1) keeps a pending count per node (its in-degree in the reversed graph), pushes a node when the count
reaches zero and processes nodes from a stack — a topological order that never recurses.  `propagate` does
exactly that.  The paper's *Promise System* exists because a PyTorch autograd node does not keep the forward
inputs that its relevance rule needs (an AddBackward node stores neither a nor b), so a Promise defers the
rule and fetches the activations further down the graph.  refimpl's nodes keep their parents (`ctx.parents`,
each with its `.data`): every activation a rule needs is already on the node, so the deferral reduces to the
pending counts of Def. 1 and no Promise is created.  This is a deliberate simplification, stated, not a
re-implementation of Promises.

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/representations-weighting/dynamic-lrp.ipynb
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ....autograd import Tensor
from ....autograd.function import FREED, unbroadcast

CATALOG_ENTRY = {
    "slug": "dynamic-lrp",
    "title": (
        "Always Keep Your Promises: DynamicLRP, A Model-Agnostic Solution To Layer-Wise Relevance Propagation"
    ),
    "authors": "Kevin Lee, Pablo Millan Arias",
    "year": 2025,
    "arxiv": "2512.07010",
    "family": "representations-weighting",
    "notebook": "notebooks/representations-weighting/dynamic-lrp.ipynb",
    "verified": "official-code",
    "verification_note": (
        "arXiv 2512.07010 (found by title; later versions retitled 'Always Keep Your Promises: A "
        "Model-Agnostic Attribution Algorithm for Neural Networks').  Equations read in the paper's source "
        "in keeinlev/dynamicLRP (paper/main.tex: Eq. 1-4 Taylor to ε-rule, Eq. 6 bilinear matmul, Eq. 8 "
        "operation-wise conservation, Eq. 9 add rule, Def. 1 traversal) and rules checked against "
        "lrp_engine/lrp_prop_fcns.py (MmBackwardProp ε·sign(z) stabiliser, MulBackwardProp, DivBackwardProp) "
        "and lrp_engine/promises/{add,sum}_backward_promise.py (squared-share add and sum).  Ours: the "
        "Promise System is not needed (refimpl's nodes keep their inputs), weights get no relevance (the "
        "official code halves every matmul between input and weight), the paper's |·| add rule is the "
        "default and the code's squared rule an option."
    ),
    "summary": (
        "Layer-wise relevance propagation defined per tensor operation (ε-rule for linear maps and "
        "convolutions, contribution shares for add, sum and products, identity for activations, routing "
        "for shape ops) and run over the recorded autograd graph in a pending-count topological order, so "
        "relevance is conserved op by op on any model built from covered ops.  Judged by pixel-flipping "
        "(ABPC, deletion) on a digits MLP and CNN against gradient×input, saliency and random."
    ),
    "equations": [
        "R_i = Σ_j x_i w_ji / (z_j + ε sign z_j) · R_j = x_i [Wᵀ (R / (z + ε sign z))]_i  (Eq. 4)",
        "Σ_{inputs} R_i = Σ_{outputs} R_j  per operation (Eq. 8); leak = what bias / ε keep",
        "c = a + b:  R_a = |a| / (|a| + |b|) · R_c  (Eq. 9)",
        "both operands of a matmul input-dependent: each gets half of the ε-share (Eq. 6)",
        "activations: R_x = R_y;  shape ops, max-pool: relevance routed as the gradient is",
    ],
}

ADD_RULES = ("abs", "square", "epsilon")
LRP_RULES = ("epsilon", "zplus")


@dataclasses.dataclass
class LRPResult:
    """`relevance` (the input's shape), the relevance put in at the output (`total`), the part kept by
    biases, constants and stabilisers (`leak` = total − relevance.sum()), and one record per processed op:
    {"op", "R_out", "R_in", "leak"} (sums over the op's output and over its input-dependent operands)."""

    relevance: np.ndarray
    total: float
    leak: float
    ops: list


def _stable(z: np.ndarray, eps: float) -> np.ndarray:
    """z + ε·sign(z) with sign(0) = +1 (the official stabiliser)."""
    return z + eps * np.where(z >= 0, 1.0, -1.0)


def _divide(R, den):
    """R / den, 0 where den = 0 (ε = 0 with a dead unit)."""
    safe = np.where(den == 0, 1.0, den)
    return np.where(den == 0, 0.0, R / safe)


def _shares(parts: list, R: np.ndarray, eps: float, how: str) -> list:
    """Split R over the contributions `parts` (each broadcast to R's shape) by the add rule `how`;
    an even split where all contributions are zero."""
    if how == "epsilon":
        total = sum(parts)
        s = _divide(R, _stable(total, eps))
        return [p * s for p in parts]
    weights = [np.abs(p) if how == "abs" else p * p for p in parts]
    den = sum(weights)
    even = den == 0
    return [np.where(even, R / len(parts), _divide(R * w, den)) for w in weights]


# --- the rules: (node, R, dependent flags, options) -> one relevance (or None) per parent ---------------


def _rule_linear(node, R, dep, o):
    x, w = _operands(node)[:2]
    if dep[1] or (len(dep) > 2 and dep[2]):
        raise NotImplementedError("dynamic_lrp: Linear with an input-dependent weight or bias has no rule")
    if o["rule"] == "zplus":
        w = np.maximum(w, 0)
        z = x @ w.T
    else:
        z = node.data
    s = _divide(R, _stable(z, o["eps"]))  # Eq. 4
    return (x * (s @ w), None, None)[: len(dep)]


def _rule_matmul(node, R, dep, o):
    a, b = _operands(node)
    if a.ndim < 2 or b.ndim < 2:
        raise NotImplementedError("dynamic_lrp: MatMul with a 1-D operand has no rule (reshape to 2-D)")
    if o["rule"] == "zplus":
        if dep[0] and dep[1]:
            raise NotImplementedError("dynamic_lrp: the z⁺ rule needs one operand to be a weight")
        a, b = (a, np.maximum(b, 0)) if dep[0] else (np.maximum(a, 0), b)
        z = a @ b
    else:
        z = node.data
    s = _divide(R, _stable(z, o["eps"]))  # Eq. 4
    half = 0.5 if (dep[0] and dep[1]) else 1.0  # Eq. 6: a bilinear product shares equally
    ra = half * a * unbroadcast(s @ np.swapaxes(b, -1, -2), a.shape) if dep[0] else None
    rb = half * b * unbroadcast(np.swapaxes(a, -1, -2) @ s, b.shape) if dep[1] else None
    return ra, rb


def _rule_conv2d(node, R, dep, o):
    from ....autograd.ops.conv import _conv_input_grad

    ctx = node._ctx
    if dep[1] or (len(dep) > 2 and dep[2]):
        raise NotImplementedError("dynamic_lrp: Conv2d with an input-dependent weight or bias has no rule")
    x = _operands(node)[0]
    wmat = ctx.wmat
    if o["rule"] == "zplus":
        wmat = np.maximum(wmat, 0)
        z = np.matmul(wmat, ctx.cols).reshape(node.data.shape)
    else:
        z = node.data
    s = _divide(R, _stable(z, o["eps"]))  # Eq. 4 through im2col
    return (x * _conv_input_grad(s, wmat, ctx.x_shape, ctx.geom), None, None)[: len(dep)]


def _operands(node):
    ctx = node._ctx
    consts = getattr(ctx, "constants", None)
    return [p.data if p is not None else consts[i] for i, p in enumerate(ctx.parents)]


def _rule_add(node, R, dep, o, sign=1.0):
    a, b = _operands(node)
    parts = [np.broadcast_to(a, R.shape), sign * np.broadcast_to(b, R.shape)]
    ra, rb = _shares(parts, R, o["eps"], o["add_rule"])  # Eq. 9
    return (
        unbroadcast(ra, np.shape(a)) if dep[0] else None,
        unbroadcast(rb, np.shape(b)) if dep[1] else None,
    )


def _rule_sub(node, R, dep, o):
    return _rule_add(node, R, dep, o, sign=-1.0)


def _rule_mul(node, R, dep, o, invert=False):
    a, b = _operands(node)
    if not (dep[0] and dep[1]):  # scaling by a weight or a constant: pass
        keep = 0 if dep[0] else 1
        shape = np.shape(a if keep == 0 else b)
        return tuple(unbroadcast(R, shape) if i == keep else None for i in range(2))
    b_eff = 1.0 / b if invert else b
    parts = [np.broadcast_to(a, R.shape), np.broadcast_to(b_eff, R.shape)]
    ra, rb = _shares(parts, R, o["eps"], "abs")  # official MulBackwardProp / DivBackwardProp
    return unbroadcast(ra, np.shape(a)), unbroadcast(rb, np.shape(b))


def _rule_div(node, R, dep, o):
    if dep[1] and not dep[0]:
        raise NotImplementedError("dynamic_lrp: Div with only the denominator input-dependent has no rule")
    return _rule_mul(node, R, dep, o, invert=True)


def _rule_identity(node, R, dep, o):
    return (R,) + (None,) * (len(dep) - 1)


def _rule_route(node, R, dep, o):
    """Relevance moves exactly as the gradient does (a routing of entries: conserved)."""
    ctx = node._ctx
    saved = ctx.needs_input_grad
    ctx.needs_input_grad = tuple(bool(d) for d in dep)
    try:
        out = ctx.backward(R)
    finally:
        ctx.needs_input_grad = saved
    if not isinstance(out, tuple):
        out = (out,)
    return tuple(
        unbroadcast(r, p.data.shape) if (r is not None and d) else None
        for r, p, d in zip(out, ctx.parents, dep)
    )


def _rule_avgpool(node, R, dep, o):
    x = node._ctx.parents[0].data
    s = _divide(R, _stable(node.data, o["eps"]))
    return (x * _rule_route(node, s, dep, o)[0],)


def _rule_reduce(node, R, dep, o):
    """Sum / Mean as an n-ary add: each x_i gets its share of its own sum (the add rule `add_rule`)."""
    ctx = node._ctx
    x = ctx.parents[0].data
    axes, keep = ctx.axes, ctx.keepdims

    def back(v):  # put the reduced axes back and broadcast over them
        v = v if keep or not axes else np.expand_dims(v, axes)
        return np.broadcast_to(v, x.shape)

    Rb = back(R)
    if o["add_rule"] == "epsilon":
        total = back(x.sum(axis=axes, keepdims=keep))
        return (x * _divide(Rb, _stable(total, o["eps"])),)
    w = np.abs(x) if o["add_rule"] == "abs" else x * x
    wsum = back(w.sum(axis=axes, keepdims=keep))
    n = x.size // max(R.size, 1)
    return (np.where(wsum == 0, Rb / n, _divide(Rb * w, wsum)),)


RULES = {
    "Linear": _rule_linear,
    "MatMul": _rule_matmul,
    "Conv2d": _rule_conv2d,
    "Add": _rule_add,
    "Sub": _rule_sub,
    "Mul": _rule_mul,
    "Div": _rule_div,
    "Sum": _rule_reduce,
    "Mean": _rule_reduce,
    "AvgPool2d": _rule_avgpool,
    **{k: _rule_identity for k in ("ReLU", "LeakyReLU", "GELU", "SiLU", "Tanh", "Sigmoid", "Neg", "Cast")},
    **{
        k: _rule_route
        for k in ("Reshape", "Permute", "BroadcastTo", "GetItem", "Concatenate", "Stack", "Pad", "MaxPool2d")
    },
}


def _graph(output: Tensor, x: Tensor):
    """The recorded nodes reachable from `output` (explicit stack), which of them depend on `x`, and the
    pending counts of Def. 1 (how many recorded consumers each node has inside this graph)."""
    nodes, stack, seen = [], [output], {id(output)}
    while stack:
        t = stack.pop()
        if t._ctx is FREED:
            raise RuntimeError(
                "dynamic_lrp: the graph was freed by an earlier backward(); run the forward pass again "
                "(or call backward(retain_graph=True))"
            )
        nodes.append(t)
        for p in t._ctx.parents:
            if p is not None and p._ctx is not None and id(p) not in seen:
                seen.add(id(p))
                stack.append(p)
    nodes.sort(key=lambda t: t._ctx.seq)  # parents before children
    dep = {id(x)}
    for t in nodes:
        if any(p is not None and id(p) in dep for p in t._ctx.parents):
            dep.add(id(t))
    pending = {id(t): 0 for t in nodes}
    for t in nodes:
        for p in t._ctx.parents:
            if p is not None and id(p) in pending and id(p) in dep:
                pending[id(p)] += 1
    return nodes, dep, pending


def propagate(
    output: Tensor,
    x: Tensor,
    R_out=None,
    *,
    eps: float = 1e-6,
    rule: str = "epsilon",
    add_rule: str = "abs",
) -> LRPResult:
    """Relevance of `x` for `output` by the per-operation rules (`RULES`), walked in the order of Def. 1.

    `output` is a recorded Tensor computed from the leaf `x` (which must require a gradient so the ops
    after it are recorded); `R_out` (output's shape, default `output.data` itself) is the relevance put in
    — usually the target logit, zeros elsewhere (`lrp`)."""
    if not isinstance(output, Tensor) or not isinstance(x, Tensor):
        raise TypeError(
            f"propagate: `output` and `x` must be Tensors, got {type(output).__name__}, {type(x).__name__}"
        )
    if not (np.isfinite(eps) and eps >= 0):
        raise ValueError(f"propagate: `eps` must be finite and ≥ 0, got {eps!r}")
    if rule not in LRP_RULES:
        raise ValueError(f"propagate: `rule` must be one of {LRP_RULES}, got {rule!r}")
    if add_rule not in ADD_RULES:
        raise ValueError(f"propagate: `add_rule` must be one of {ADD_RULES}, got {add_rule!r}")
    if not x.requires_grad or x._ctx is not None:
        raise ValueError(
            "propagate: `x` must be a leaf Tensor with requires_grad=True (so its ops are recorded)"
        )
    R0 = np.asarray(output.data if R_out is None else R_out, dtype=np.float64)
    if R0.shape != output.data.shape:
        raise ValueError(
            f"propagate: `R_out` must have the output's shape {output.data.shape}, got {R0.shape}"
        )
    if output is x:
        return LRPResult(R0.copy(), float(R0.sum()), 0.0, [])
    if output._ctx is None:
        raise ValueError("propagate: `output` was not computed from `x` (it has no recorded op)")
    nodes, dep, pending = _graph(output, x)
    if id(output) not in dep:
        raise ValueError("propagate: `output` does not depend on `x`")
    opts = {"eps": float(eps), "rule": rule, "add_rule": add_rule}
    rel = {id(output): R0}
    by_id = {id(t): t for t in nodes}
    stack, records = [output], []
    x_rel = np.zeros(x.data.shape)
    while stack:  # Def. 1: a node runs once all its consumers have handed it relevance
        node = stack.pop()
        R = rel.pop(id(node))
        name = type(node._ctx).__name__
        fn = RULES.get(name)
        if fn is None:
            raise NotImplementedError(
                f"dynamic_lrp: no relevance rule for op `{name}`; covered: {', '.join(sorted(RULES))}"
            )
        parents = node._ctx.parents
        flags = tuple(p is not None and id(p) in dep for p in parents)
        ins = fn(node, R, flags, opts)
        r_in = 0.0
        for p, r, d in zip(parents, ins, flags):
            if not d or r is None:
                continue
            r = np.asarray(r, dtype=np.float64)
            r_in += float(r.sum())
            if p is x:
                x_rel = x_rel + r
                continue
            pid = id(p)
            rel[pid] = r if pid not in rel else rel[pid] + r
            pending[pid] -= 1
            if pending[pid] == 0:
                stack.append(by_id[pid])
        records.append({"op": name, "R_out": float(R.sum()), "R_in": r_in, "leak": float(R.sum()) - r_in})
    total = float(R0.sum())
    return LRPResult(x_rel, total, total - float(x_rel.sum()), records)


def lrp(model, x, target=None, **kw) -> np.ndarray:
    """Per-example relevance of `x` (N, …) for the `target` logit of `model` (default: its argmax), in
    float64: the output's relevance is that logit, zeros elsewhere (`propagate`'s options in `kw`)."""
    X = Tensor(np.asarray(x, dtype=np.float64), requires_grad=True)
    out = model(X)
    if out.ndim != 2:
        raise ValueError(f"lrp: the model must return logits (N, classes), got shape {out.shape}")
    t = np.argmax(out.data, axis=1) if target is None else np.asarray(target)
    if t.shape != (out.shape[0],):
        raise ValueError(
            f"lrp: `target` must hold one class per example ({out.shape[0]}), got shape {t.shape}"
        )
    R0 = np.zeros(out.shape)
    R0[np.arange(len(t)), t] = out.data[np.arange(len(t)), t]
    return propagate(out, X, R0, **kw).relevance


def gradient(model, x, target=None) -> np.ndarray:
    """∂ logit_target / ∂x per example (float64): the saliency and gradient×input baselines."""
    X = Tensor(np.asarray(x, dtype=np.float64), requires_grad=True)
    out = model(X)
    t = np.argmax(out.data, axis=1) if target is None else np.asarray(target)
    mask = np.zeros(out.shape)
    mask[np.arange(len(t)), t] = 1.0
    out.backward(mask)
    return np.asarray(X.grad, dtype=np.float64)
