"""A seeded differential fuzzer: random autograd graphs, run in refimpl and in PyTorch, compared.

Not a test file (pytest does not collect it); `test_xcheck_fuzz.py` drives it.  One seed gives one graph:

1. **Generate** (`generate(seed, dtype)`): 2–12 ops drawn from `OPS`, which covers the whole public op
   set (everything exported from `refimpl.autograd.ops`, the Tensor methods and operators, and the
   differentiable functions of `refimpl.nn.functional`; `test_fuzzer_covers_the_public_op_set` keeps it
   so).  Operands are earlier values (so values are reused, some twice in one op) or fresh leaves:
   broadcastable, 0-d, strided (a transposed, step-sliced or reversed NumPy view), some not requiring a
   gradient.  Some ops run under `no_grad` (first, in the middle or last: the result must not require
   grad and stops the gradient) or under `enable_grad` inside `no_grad`; some graphs call `backward`
   twice (`retain_graph=True` the first time) so gradients must accumulate.  Every candidate op is
   evaluated in PyTorch as it is drawn and kept only if its value is finite, bounded and away from
   kinks and domain edges (log/sqrt inputs ≥ 0.05, relu/abs/l1 inputs and max/min/clip/max-pool ties
   at least a margin apart, denominators away from 0, normalised groups not mere rounding noise, ...),
   so a disagreement is real.  The generator avoids exactly the `CONVENTIONS` cases, and graphs that
   PyTorch cannot run (`PYTORCH_BUGS_AVOIDED`, mixed dtypes it refuses): nothing else is skipped.
2. **Run** (`run(graph)`): the graph is rendered as Python source, once per side, and executed; every
   op's value (shape, dtype, `requires_grad`, numbers), every leaf's `.grad` after each backward pass,
   and the values again after backward (nothing saved for backward was overwritten) are compared.
   Both sides get the same random upstream gradient (never all ones).  None against zeros, decided: a
   leaf's `.grad` must be None exactly where PyTorch's is None (it was not reached, or only through
   `no_grad`/`detach`), and where PyTorch materialises zeros (a gradient through `sign`, an unselected
   element) ours must hold zeros too.  float64 is compared elementwise to ~1e-9 relative (`RTOL64`);
   float32 loosely: our float32 error against a float64 PyTorch run of the same graph may be at most
   `LOOSE32` times PyTorch's own float32 error (or a few float32 ulps of the graph's scale).
3. **Shrink** (`shrink(graph)`): while the graph still fails, remove ops (an op's value becomes a leaf
   holding that value, or the op is bypassed), drop `no_grad`, the second backward, strided views and
   `requires_grad`, and round input values.  `reproducer(graph)` is runnable Python source that builds
   the smallest failing graph in refimpl and in PyTorch and prints both sides' values and gradients.

Environment variables (read by the tests):

* ``REFIMPL_FUZZ_GRAPHS`` — graphs per dtype (default 240 float64 and 80 float32: a few seconds).
  ``REFIMPL_FUZZ_GRAPHS=5000 python -m pytest -q tests/xcheck/test_xcheck_fuzz.py`` hunts for real.
* ``REFIMPL_FUZZ_SEED`` — the first seed (default 0); graph *i* uses seed ``REFIMPL_FUZZ_SEED + i``, so
  ``REFIMPL_FUZZ_SEED=1234 REFIMPL_FUZZ_GRAPHS=1`` replays graph 1234 alone.

By hand: ``python tests/xcheck/graph_fuzz.py [first_seed] [count] [float64|float32]`` fuzzes and prints
the shrunk reproducer of each failure.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import sys
import warnings
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as TF

import refimpl
import refimpl.nn.functional as F
from refimpl.autograd import ops

# float64, elementwise: |ours − torch| ≤ RTOL64 (|torch| + 1e-3 max|torch| + 1e-4 S), S the graph's largest number
RTOL64 = 1e-9
# float32, per tensor: max|ours − ref64| ≤ LOOSE32 · max(max|torch32 − ref64|, 16 ε₃₂ max(max|ref64|, S))
LOOSE32 = 8.0
BOUND = 1e3  # every value of a generated graph stays within ±BOUND
MARGIN = {"float64": 1e-6, "float32": 1e-3}  # distance kept from kinks, relative to max(1, |x|)


# ---------------------------------------------------------------------------------------------------
# Convention differences: the one place they are listed.  The generator avoids exactly these cases
# (the `avoided_by` column says how); every other disagreement is reported as a failure.
# ---------------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Convention:
    op: str
    refimpl: str
    pytorch: str
    reason: str
    avoided_by: str


CONVENTIONS = {
    "softplus_threshold": Convention(
        "F.softplus",
        "log(1 + eˣ) computed exactly (stably) for every x",
        "returns x itself where x > threshold = 20 (gradient exactly 1)",
        "the exact form is the textbook function; PyTorch's switch is a speed shortcut (relative "
        "difference e⁻²⁰ ≈ 2e-9 in the gradient, above the float64 tolerance)",
        "softplus inputs stay below 19",
    ),
    "var_too_few_elements": Convention(
        "ops.var / Tensor.var",
        "raises ValueError when the number of reduced elements n ≤ correction",
        "returns NaN or inf (division by n − correction ≤ 0) with a warning",
        "a variance of one element with Bessel's correction is undefined: an error says so at once",
        "var is drawn only when n > correction",
    ),
    "no_grad_views": Convention(
        "every view op under no_grad (reshape, squeeze, permute, getitem, expand, ...)",
        "an op run under no_grad gives a result with requires_grad=False (refimpl has no views)",
        "a *view* of a tensor that requires grad, made under no_grad, has requires_grad=True: a new leaf "
        "of its own whose gradient never reaches the base",
        "no_grad means no graph; the view flag is PyTorch's guard for in-place writes, which refimpl has not. "
        "(PyTorch's flatten also returns its input itself when nothing changes; refimpl's is a new node)",
        "an op under no_grad is kept only if PyTorch's result does not require grad, or if it is one of "
        "RETURNS_INPUT and returns its input itself on both sides",
    ),
    "zero_d_type_promotion": Convention(
        "every op with a float32 and a float64 operand, one of them 0-d",
        "NumPy's promotion (NEP 50): a 0-d float64 array makes the result float64",
        "a 0-d tensor does not promote a higher-dimensional tensor of the same kind: float32",
        "refimpl computes with NumPy and keeps its rules; Python scalars take the tensor's dtype in both",
        "no op mixes dtypes when one of its tensor operands is 0-d (float32 graphs only)",
    ),
    "bce_result_dtype": Convention(
        "F.binary_cross_entropy_with_logits",
        "the loss has the promoted dtype of input and target (as cross_entropy, mse_loss, l1_loss)",
        "the loss has the target's dtype: float64 logits with a float32 target give a float32 loss",
        "NumPy's (and PyTorch's usual) type promotion; a loss should not lose the input's precision",
        "no float64 input meets a float32 target (float32 graphs only)",
    ),
    "group_norm_one_value": Convention(
        "F.group_norm",
        "a group of one value normalises to 0 (the output is the bias), as layer_norm of one value does",
        "raises ValueError: expected more than 1 value per channel when training",
        "(x − μ)/√(σ² + ε) is well defined for one value; only batch_norm's running variance needs two",
        "groups always hold more than one value",
    ),
    "rms_norm_dtype": Convention(
        "F.rms_norm",
        "x / rms(x) · w has the promoted dtype of x and w",
        "the result keeps the input's dtype (a float64 weight on a float32 input gives float32)",
        "NumPy's (and PyTorch's usual) type promotion, as layer_norm's affine step",
        "the weight has the input's dtype (float32 graphs only)",
    ),
    "sdpa_fully_masked_row": Convention(
        "F.scaled_dot_product_attention",
        "a query row whose every key is masked out gives NaN (softmax over no positions)",
        "the math kernel gives NaN, fused kernels may give 0",
        "0/0 is undefined; NaN makes the mistake visible instead of silently attending to nothing",
        "boolean masks keep at least one key per row (is_causal always keeps j = 0)",
    ),
    "sdpa_mask_and_causal": Convention(
        "F.scaled_dot_product_attention",
        "attn_mask and is_causal=True combine (both masks apply)",
        "raises: an explicit attn_mask may not be given with is_causal=True",
        "combining is the natural meaning; nothing to compare against",
        "a graph never passes both",
    ),
    "pow_exponent_grad_nonpositive_base": Convention(
        "ops.pow / Tensor.__pow__",
        "exponent gradient z·log x is 0 where x ≤ 0",
        "0 at x = 0, NaN for x < 0",
        "log x is undefined for x < 0; 0 keeps a masked-out negative base from poisoning the update",
        "a differentiated tensor exponent only meets bases ≥ 0.2",
    ),
    "getitem_int_and_array_apart": Convention(
        "ops.getitem / Tensor.__getitem__",
        "NumPy's rule: an int and an index array separated by a slice (x[1, :, idx]) are both advanced "
        "indices, so the broadcast index axis goes first",
        "the int is a basic index (applied first), so the index axis stays in place",
        "refimpl indexes like NumPy, which it is built on",
        "ints and index arrays in one index are adjacent",
    ),
    "getitem_negative_step": Convention(
        "ops.getitem / Tensor.__getitem__",
        "negative slice steps (x[::-1]) work as in NumPy",
        "not supported (use flip)",
        "nothing to compare against",
        "slices use positive steps (reversed NumPy views still appear as strided leaf data)",
    ),
    "max_min_values_only": Convention(
        "ops.max / ops.min / Tensor.max / Tensor.min",
        "return the values only, ties share the gradient evenly",
        "torch.max(x, dim) also returns indices and sends the gradient to one index; amax/amin match refimpl",
        "NumPy's max; an even split is the symmetric subgradient",
        "compared with torch.amax/amin; reductions with ties closer than the margin are not drawn",
    ),
    "conv_same_even_kernel": Convention(
        "F.conv1d / F.conv2d",
        "padding='same' with an even effective kernel raises ValueError",
        "pads asymmetrically (one more on the right)",
        "symmetric padding only, so conv2d keeps one padding per side",
        "'same' is drawn only with an odd effective kernel",
    ),
    "dropout_rng": Convention(
        "F.dropout",
        "draws its mask from a NumPy generator",
        "draws from torch's generator",
        "different random streams cannot give the same mask",
        "the PyTorch side multiplies by the mask refimpl draws for the same generator seed",
    ),
}


# Ops that return their input itself (no new node) on both sides: a cast to the tensor's own dtype, and
# dropout with p = 0 or training=False.  Under no_grad their result still requires grad, as in PyTorch.
RETURNS_INPUT = {"cast", "dropout"}

# PyTorch bugs the generator steps around (they are not refimpl's conventions).
PYTORCH_BUGS_AVOIDED = {
    "group_norm_bias_without_weight": "TF.group_norm(x, g, None, bias) fails in backward with 'tensor does "
    "not have a device' (torch 2.13): group_norm gets a bias only together with a weight",
    "batch_norm_strides": "TF.batch_norm (torch 2.13, CPU) gives wrong gradients for non-contiguous "
    "tensors: a weight or bias that is an expanded or strided view is read as if contiguous (the input "
    "gradient picks up values like 4e-316), and an input or upstream gradient with size-1 axes and "
    "ambiguous strides (an input (1, 2, 2, 1) with strides (4, 1, 2, 1), which also counts as "
    "channels-last; a permuted gradient of an output (1, 2, 3, 1) in eval mode) gives wrong weight and "
    "bias gradients.  With contiguous tensors PyTorch is right, and so is refimpl (checked by hand), so "
    "the PyTorch side makes every tensor argument and the upstream gradient contiguous "
    "(`contiguous_grad`), which changes no value or gradient",
}


# ---------------------------------------------------------------------------------------------------
# Graphs
# ---------------------------------------------------------------------------------------------------
class InvalidGraph(Exception):
    """The graph does not run in PyTorch, or a value crosses a kink, domain edge or bound."""


@dataclasses.dataclass
class Leaf:
    """An input: `base` (a contiguous array) seen through `view` (None, ("T",), ("step", axis) or
    ("flip", axis)), so the leaf's data may be a non-contiguous NumPy view."""

    base: np.ndarray
    view: tuple | None
    requires_grad: bool

    @property
    def values(self) -> np.ndarray:
        return _apply_view(self.base, self.view)


@dataclasses.dataclass
class Node:
    op: str
    args: tuple  # names of earlier values ("x0", "v3"); constants live in params
    params: dict
    mode: str = ""  # "" (grad on), "no_grad", or "enable_grad" (enable_grad() inside no_grad())


@dataclasses.dataclass
class Graph:
    seed: int
    dtype: str
    leaves: list
    nodes: list
    twice: bool  # backward twice, retain_graph=True the first time
    grad_seed: int
    # filled by validate(): values and requires_grad flags (PyTorch's), the sinks and upstream gradients
    values: dict = dataclasses.field(default_factory=dict, repr=False)
    flags: dict = dataclasses.field(default_factory=dict, repr=False)
    sinks: list = dataclasses.field(default_factory=list, repr=False)
    upstream: dict = dataclasses.field(default_factory=dict, repr=False)
    order: int = 1  # 2: differentiate the gradients again (refimpl.grad / torch.autograd.grad, create_graph)

    def copy(self) -> Graph:
        return Graph(
            self.seed,
            self.dtype,
            [dataclasses.replace(leaf) for leaf in self.leaves],
            [dataclasses.replace(n, params=dict(n.params)) for n in self.nodes],
            self.twice,
            self.grad_seed,
            order=self.order,
        )


def _apply_view(base, view):
    if view is None:
        return base
    if view[0] == "T":
        return base.T
    idx = [slice(None)] * base.ndim
    idx[view[1]] = slice(None, None, 2) if view[0] == "step" else slice(None, None, -1)
    return base[tuple(idx)]


def _view_src(view) -> str:
    if view is None:
        return ""
    if view[0] == "T":
        return ".T"
    step = "::2" if view[0] == "step" else "::-1"
    return "[" + ", ".join([":"] * view[1] + [step]) + "]"


# ---------------------------------------------------------------------------------------------------
# Rendering values as source text
# ---------------------------------------------------------------------------------------------------
def _nested(a: np.ndarray) -> str:
    if a.dtype.kind == "f":
        item = lambda v: str(a.dtype.type(v))
    elif a.dtype.kind == "b":
        item = lambda v: "True" if v else "False"
    else:
        item = lambda v: str(int(v))

    def rec(x):
        if x.ndim == 0:
            return item(x[()])
        return "[" + ", ".join(rec(r) for r in x) + "]"

    return rec(a)


class Lit:
    """Renders a constant for one side: "ours" (NumPy), "torch", or "torch64" (the float64 reference
    run of a float32 graph: every float constant and cast becomes float64)."""

    def __init__(self, side: str):
        self.side = side

    def __call__(self, v) -> str:
        if isinstance(v, np.ndarray):
            body = _nested(v)
            if self.side == "ours":
                return (
                    f"np.array({body}, dtype=np.{v.dtype.name})"
                    if v.dtype.kind == "f"
                    else f"np.array({body})"
                )
            if v.dtype.kind == "f":
                dt = "float64" if self.side == "torch64" else v.dtype.name
                return f"torch.tensor({body}, dtype=torch.{dt})"
            return f"torch.tensor({body})"
        if isinstance(v, slice):
            return f"slice({v.start}, {v.stop}, {v.step})"
        if isinstance(v, tuple):
            return f"({self(v[0])},)" if len(v) == 1 else "(" + ", ".join(self(x) for x in v) + ")"
        if isinstance(v, list):
            return "[" + ", ".join(self(x) for x in v) + "]"
        if v is Ellipsis:
            return "..."
        if isinstance(v, float):
            return repr(float(v))
        return repr(v)

    def subscript(self, items: tuple) -> str:
        """An index tuple as subscript text: x[1, 0:2, None, ..., idx]."""
        out = []
        for i in items:
            if isinstance(i, slice):
                s = ("" if i.start is None else str(i.start)) + ":" + ("" if i.stop is None else str(i.stop))
                out.append(s + (f":{i.step}" if i.step not in (None, 1) else ""))
            elif isinstance(i, list):
                out.append("[" + ", ".join(str(int(j)) for j in i) + "]")
            else:
                out.append(self(i))
        return ", ".join(out) if out else "()"


# ---------------------------------------------------------------------------------------------------
# The op table
# ---------------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Op:
    """One kind of graph node.  `draw(gen)` picks operands and parameters (None: not possible now);
    `ours`/`theirs(args, params, lit)` give the expression on each side; `valid(xs, params, y, margin)`
    says whether the operand values xs and result y keep away from kinks and domain edges."""

    name: str
    draw: Callable
    ours: Callable
    theirs: Callable
    valid: Callable | None = None
    covers: tuple = ()
    weight: float = 1.0


OPS: dict[str, Op] = {}


def _op(name, draw, ours, theirs, valid=None, covers=(), weight=1.0):
    OPS[name] = Op(name, draw, ours, theirs, valid, tuple(covers), weight)


def _amin(x):
    return float(np.min(np.abs(x))) if x.size else math.inf


def _scale(*xs):
    return max([1.0] + [float(np.max(np.abs(x))) for x in xs if x.size])


def _away_from_zero(x, m):
    return _amin(x) > m * _scale(x)


def _styled(*templates):
    """An `ours`/`theirs` function choosing one template by params["style"] (modulo their number)."""

    def render(a, p, lit):
        t = templates[p.get("style", 0) % len(templates)]
        return t.format(*a, **{k: (lit(v) if not isinstance(v, str) else v) for k, v in p.items()})

    return render


# --- elementwise, unary -----------------------------------------------------------------------------
def _unary(name, ours, theirs, valid=None, kind="normal", covers=(), pred=None, weight=1.0):
    def draw(gen):
        x = gen.operand(pred=pred, kind=kind)
        return [x], {"style": int(gen.rng.integers(len(ours)))}

    _op(name, draw, _styled(*ours), _styled(*theirs), valid, covers, weight)


_unary("neg", ["-{0}", "ops.neg({0})"], ["-{0}", "torch.neg({0})"], covers=["ops.neg", "Tensor.__neg__"])
_unary(
    "exp",
    ["ops.exp({0})", "{0}.exp()"],
    ["torch.exp({0})", "{0}.exp()"],
    valid=lambda xs, p, y, m: xs[0].max(initial=-1) < 5,
    pred=lambda v: v.max(initial=-1) < 5,
    covers=["ops.exp", "Tensor.exp"],
)
_unary(
    "log",
    ["ops.log({0})", "{0}.log()"],
    ["torch.log({0})", "{0}.log()"],
    valid=lambda xs, p, y, m: xs[0].min(initial=1) >= 0.05,
    pred=lambda v: v.min(initial=1) >= 0.05,
    kind="positive",
    covers=["ops.log", "Tensor.log"],
)
_unary(
    "sqrt",
    ["ops.sqrt({0})", "{0}.sqrt()"],
    ["torch.sqrt({0})", "{0}.sqrt()"],
    valid=lambda xs, p, y, m: xs[0].min(initial=1) >= 0.05,
    pred=lambda v: v.min(initial=1) >= 0.05,
    kind="positive",
    covers=["ops.sqrt", "Tensor.sqrt"],
)
for _name, _covers in [("abs", ["ops.abs", "Tensor.abs"]), ("sign", ["ops.sign", "Tensor.sign"])]:
    _unary(
        _name,
        [f"ops.{_name}({{0}})", f"{{0}}.{_name}()"],
        [f"torch.{_name}({{0}})"],
        valid=lambda xs, p, y, m: _away_from_zero(xs[0], m),
        kind="nonzero",
        covers=_covers,
    )
_unary(
    "tanh",
    ["ops.tanh({0})", "{0}.tanh()", "F.tanh({0})"],
    ["torch.tanh({0})"],
    covers=["ops.tanh", "Tensor.tanh", "F.tanh"],
)
_unary(
    "sigmoid",
    ["ops.sigmoid({0})", "{0}.sigmoid()", "F.sigmoid({0})"],
    ["torch.sigmoid({0})"],
    covers=["ops.sigmoid", "Tensor.sigmoid", "F.sigmoid"],
)
_unary(
    "relu",
    ["ops.relu({0})", "{0}.relu()", "F.relu({0})"],
    ["torch.relu({0})", "TF.relu({0})"],
    valid=lambda xs, p, y, m: _away_from_zero(xs[0], m),
    covers=["ops.relu", "Tensor.relu", "F.relu"],
)
_unary("gelu", ["F.gelu({0})", "ops.gelu({0})"], ["TF.gelu({0})"], covers=["F.gelu", "ops.gelu"])
_unary("silu", ["F.silu({0})", "ops.silu({0})"], ["TF.silu({0})"], covers=["F.silu", "ops.silu"])
_unary(
    "softplus",
    ["F.softplus({0})", "ops.softplus({0})"],
    ["TF.softplus({0})"],
    valid=lambda xs, p, y, m: xs[0].max(initial=0) < 19,  # CONVENTIONS["softplus_threshold"]
    pred=lambda v: v.max(initial=0) < 19,
    covers=["F.softplus", "ops.softplus"],
)
_unary("detach", ["{0}.detach()"], ["{0}.detach()"], covers=["Tensor.detach"], weight=0.5)


def _draw_leaky(gen):
    x = gen.operand()
    return [x], {"slope": float(gen.rng.choice([0.01, 0.2, 1.5])), "style": int(gen.rng.integers(3))}


_op(
    "leaky_relu",
    _draw_leaky,
    _styled("F.leaky_relu({0}, {slope})", "ops.leaky_relu({0}, negative_slope={slope})", "F.leaky_relu({0})"),
    _styled("TF.leaky_relu({0}, {slope})", "TF.leaky_relu({0}, {slope})", "TF.leaky_relu({0})"),
    lambda xs, p, y, m: _away_from_zero(xs[0], m),
    ["F.leaky_relu", "ops.leaky_relu"],
)


def _draw_clip(gen):
    x = gen.operand()
    v = gen.val(x).ravel()
    lo, hi = np.sort(gen.rng.choice(np.concatenate([v, v - 0.3, v + 0.3]), 2))
    lo, hi = round(float(lo) - 0.01, 3), round(float(hi) + 0.01, 3)
    which = int(gen.rng.integers(4))
    lo, hi = (None if which == 1 else lo), (None if which == 2 else hi)
    return [x], {"lo": lo, "hi": hi, "style": int(gen.rng.integers(4))}


def _clip_valid(xs, p, y, m):
    x, mm = xs[0], m * _scale(xs[0])
    return all(b is None or _amin(x - b) > mm for b in (p["lo"], p["hi"]))


_op(
    "clip",
    _draw_clip,
    _styled(
        "ops.clip({0}, {lo}, {hi})",
        "{0}.clip({lo}, {hi})",
        "{0}.clamp({lo}, {hi})",
        "{0}.clip(min={lo}, max={hi})",
    ),
    _styled("torch.clamp({0}, {lo}, {hi})"),
    _clip_valid,
    ["ops.clip", "Tensor.clip", "Tensor.clamp"],
)


def _draw_pow_scalar(gen):
    e = float(gen.rng.choice([2.0, 3.0, 0.0, 1.0, -1.0, -2.0, 0.5, 1.5, -0.5, 2.5]))
    if e == int(e) and e >= 0:
        x = gen.operand()
    elif e == int(e):
        x = gen.operand(pred=lambda v: _amin(v) > 0.2, kind="nonzero")
    else:
        x = gen.operand(pred=lambda v: v.min(initial=1) > 0.2, kind="positive")
    e = int(e) if e == int(e) and gen.rng.random() < 0.5 else e
    return [x], {"e": e, "style": int(gen.rng.integers(3))}


def _pow_scalar_valid(xs, p, y, m):
    e = p["e"]
    if e == int(e):
        return e >= 0 or _amin(xs[0]) > 0.2
    return xs[0].min(initial=1) > 0.2


_op(
    "pow_scalar",
    _draw_pow_scalar,
    _styled("{0} ** {e}", "ops.pow({0}, {e})", "{0}.pow({e})"),
    _styled("{0} ** {e}", "torch.pow({0}, {e})"),
    _pow_scalar_valid,
    ["ops.pow", "Tensor.__pow__", "Tensor.pow"],
)


def _draw_rpow(gen):
    x = gen.operand(pred=lambda v: _amin(v) < 1e9 and np.abs(v).max(initial=0) < 6)
    return [x], {"c": float(gen.rng.choice([0.5, 2.0, 3.0])), "style": int(gen.rng.integers(2))}


_op(
    "rpow",
    _draw_rpow,
    _styled("{c} ** {0}", "ops.pow({c}, {0})"),
    _styled("{c} ** {0}", "torch.pow({c}, {0})"),
    lambda xs, p, y, m: np.abs(xs[0]).max(initial=0) < 6,
    ["Tensor.__rpow__"],
)


def _draw_cast(gen):
    x = gen.operand()
    src = gen.dtype_of(x)
    if gen.dtype == "float64":  # a float64 graph only casts to float64 (an identity: same Tensor back)
        to = "float64"
    else:
        to = "float64" if src == "float32" else "float32"
    return [x], {"to": to, "style": int(gen.rng.integers(3))}


def _cast_ours(a, p, lit):
    meth = "double" if p["to"] == "float64" else "float"
    return [f"{a[0]}.{meth}()", f"ops.cast({a[0]}, np.{p['to']})", f"{a[0]}.astype(np.{p['to']})"][
        p["style"] % 3
    ]


def _cast_theirs(a, p, lit):
    if lit.side == "torch64":  # the reference run keeps everything in float64
        return f"{a[0]}.double()"
    return f"{a[0]}.double()" if p["to"] == "float64" else f"{a[0]}.to(torch.float32)"


_op(
    "cast",
    _draw_cast,
    _cast_ours,
    _cast_theirs,
    covers=["ops.cast", "Tensor.astype", "Tensor.float", "Tensor.double"],
    weight=0.6,
)


def _draw_dropout(gen):
    x = gen.operand()
    r = gen.rng.random()
    if r < 0.15:
        return [x], {"p": 0.5, "training": False}
    if r < 0.25:
        return [x], {"p": float(gen.rng.choice([0.0, 1.0])), "training": True}
    p, g = float(gen.rng.choice([0.25, 0.5])), int(gen.rng.integers(1000))
    keep = np.random.default_rng(g).random(gen.shape(x)) >= p  # what F.dropout(generator=g) draws
    scaled = (keep * (1.0 / (1.0 - p))).astype(gen.dtype_of(x))
    return [x], {"p": p, "training": True, "g": g, "mask": scaled}


def _dropout_ours(a, p, lit):
    if not p["training"]:
        return f"F.dropout({a[0]}, {p['p']}, training=False)"
    if "g" not in p:
        return f"F.dropout({a[0]}, {p['p']})"
    return f"F.dropout({a[0]}, {p['p']}, generator={p['g']})"


def _dropout_theirs(a, p, lit):
    if "g" not in p:  # p = 0, p = 1 or eval mode: deterministic in PyTorch too
        return f"TF.dropout({a[0]}, {p['p']}, training={p['training']})"
    return f"{a[0]} * {lit(p['mask'])}"  # CONVENTIONS["dropout_rng"]: the mask refimpl draws


_op("dropout", _draw_dropout, _dropout_ours, _dropout_theirs, covers=["F.dropout"], weight=0.5)


# --- elementwise, binary (broadcasting) -------------------------------------------------------------
def _draw_second(gen, x, pred=None, kind="normal"):
    """The other operand of a broadcasting binary op: ("t", name) or ("c", constant); `side` says
    whether the constant goes left ("l") or right ("r")."""
    r = gen.rng.random()
    if r < 0.1 and (pred is None or pred(gen.val(x))):
        return ("t", x)  # the same value twice: x ∘ x
    if r < 0.25:
        c = round(float(gen.values_of(kind, ())), 3)
        return ("c", c)
    if r < 0.35:
        return ("c", gen.values_of(kind, gen.bshape(gen.shape(x))).astype(gen.dtype_of(x)))
    shape = gen.shape(x)
    fits = lambda v: _broadcasts(v.shape, shape) and (pred is None or pred(v))
    return (
        "t",
        gen.operand(
            pred=fits, shape=gen.bshape(shape) if gen.rng.random() < 0.7 else gen.bigger(shape), kind=kind
        ),
    )


def _broadcasts(a, b):
    try:
        np.broadcast_shapes(a, b)
        return True
    except ValueError:
        return False


def _binary(
    name,
    sym,
    fn,
    tfn,
    valid=None,
    pred_left=None,
    pred_right=None,
    kind_right="normal",
    covers=(),
    ties=False,
):
    """x ∘ y in the styles `x sym y`, `ops.fn(x, y)`, with a scalar or an ndarray on either side.
    `ties`: x ∘ x (one value twice) is exempt from `valid` (its ties are exact on both sides)."""

    def draw(gen):
        x = gen.operand(pred=pred_left)
        kind, other = _draw_second(gen, x, pred_right, kind_right)
        if kind == "t":
            swap = pred_left is None and pred_right is None and gen.rng.random() < 0.3
            p = {"style": int(gen.rng.integers(2))}
            if ties and other == x:
                p["same"] = True
            return ([other, x] if swap else [x, other]), p
        left = pred_right is None and gen.rng.random() < 0.4
        return [x], {"c": other, "left": left, "style": int(gen.rng.integers(2))}

    def render(a, p, lit, ours):
        if len(a) == 2:
            x, y = a
        else:
            c = lit(p["c"])
            if not ours and not sym and isinstance(p["c"], float):  # torch.maximum takes Tensors only
                c = f"torch.tensor({c}, dtype={a[0]}.dtype)"
            x, y = (c, a[0]) if p["left"] else (a[0], c)
        if sym and p["style"] == 0:
            return f"{x} {sym} {y}"
        return f"{fn if ours else tfn}({x}, {y})"

    def valid_(xs, p, y, m):
        if valid is None or p.get("same"):
            return True
        if len(xs) == 2:
            return valid(xs[0], xs[1], m)
        c = np.asarray(p["c"], dtype=float)
        return valid(c, xs[0], m) if p["left"] else valid(xs[0], c, m)

    _op(
        name,
        draw,
        lambda a, p, lit: render(a, p, lit, True),
        lambda a, p, lit: render(a, p, lit, False),
        valid_,
        covers,
    )


_binary("add", "+", "ops.add", "torch.add", covers=["ops.add", "Tensor.__add__", "Tensor.__radd__"])
_binary("sub", "-", "ops.sub", "torch.sub", covers=["ops.sub", "Tensor.__sub__", "Tensor.__rsub__"])
_binary("mul", "*", "ops.mul", "torch.mul", covers=["ops.mul", "Tensor.__mul__", "Tensor.__rmul__"])
_binary(
    "div",
    "/",
    "ops.div",
    "torch.div",
    valid=lambda x, y, m: _amin(y) > 0.2,
    pred_right=lambda v: _amin(v) > 0.2,
    kind_right="nonzero",
    covers=["ops.div", "Tensor.__truediv__", "Tensor.__rtruediv__"],
)
# bases ≥ 0.2 where the exponent is a tensor: CONVENTIONS["pow_exponent_grad_nonpositive_base"]
_binary(
    "pow_tensor",
    "**",
    "ops.pow",
    "torch.pow",
    valid=lambda x, y, m: np.min(x, initial=1) >= 0.2 and np.abs(y).max(initial=0) <= 3,
    pred_left=lambda v: v.min(initial=1) >= 0.2,
    pred_right=lambda v: np.abs(v).max(initial=0) <= 3,
    covers=["ops.pow"],
)
for _name in ("maximum", "minimum"):
    _binary(
        _name,
        None,
        f"ops.{_name}",
        f"torch.{_name}",
        valid=lambda x, y, m: _amin(np.subtract(x, y)) > m * _scale(x, y),
        covers=[f"ops.{_name}"],
        ties=True,
    )


def _draw_where(gen):
    x = gen.operand()
    kind, y = _draw_second(gen, x)
    shape = np.broadcast_shapes(gen.shape(x), np.shape(y) if kind == "c" else gen.shape(y))
    cond = np.asarray(gen.rng.random(gen.bshape(shape)) < 0.5)
    p = {"cond": cond, "style": int(gen.rng.integers(2))}
    if kind == "c":
        p["c"] = y
        return [x], p
    return [x, y], p


def _where_render(a, p, lit, ours):
    cond = lit(p["cond"])
    if ours and p["style"] == 1:
        cond = f"refimpl.tensor({cond})"
    y = a[1] if len(a) == 2 else lit(p["c"])
    return f"{'ops' if ours else 'torch'}.where({cond}, {a[0]}, {y})"


_op(
    "where",
    _draw_where,
    lambda a, p, lit: _where_render(a, p, lit, True),
    lambda a, p, lit: _where_render(a, p, lit, False),
    covers=["ops.where"],
)


# --- reductions -------------------------------------------------------------------------------------
def _draw_axis(gen, ndim):
    r = gen.rng.random()
    if ndim == 0:
        return [None, 0, -1, (0,), (-1,)][int(gen.rng.integers(5))]
    if r < 0.25:
        return None
    if r < 0.65:
        return int(gen.rng.integers(-ndim, ndim))
    k = int(gen.rng.integers(1, ndim + 1))
    axes = gen.rng.permutation(ndim)[:k]
    return tuple(int(a) - (ndim if gen.rng.random() < 0.3 else 0) for a in axes)


def _axes_of(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    items = (axis,) if isinstance(axis, int) else axis
    return tuple(sorted(a % ndim for a in items)) if ndim else ()


def _group_rows(x, axis):
    """x with the reduced axes moved last and flattened: one row per reduction group."""
    axes = _axes_of(axis, x.ndim)
    keep = [a for a in range(x.ndim) if a not in axes]
    return np.transpose(x, keep + list(axes)).reshape(-1, max(1, int(np.prod([x.shape[a] for a in axes]))))


def _top_gap_ok(rows, m, lowest=False):
    if rows.shape[1] < 2:
        return True
    s = np.sort(rows, axis=1)
    gap = (s[:, 1] - s[:, 0]) if lowest else (s[:, -1] - s[:, -2])
    return float(gap.min()) > m * _scale(rows)


def _reduction(name, theirs_fmt, covers, valid=None, extra=None):
    def draw(gen):
        x = gen.operand()
        nd = len(gen.shape(x))
        p = {
            "axis": _draw_axis(gen, nd),
            "keepdims": bool(gen.rng.random() < 0.4),
            "style": int(gen.rng.integers(4)),
        }
        if extra:
            p.update(extra(gen, x, p))
        return [x], p

    def ours(a, p, lit):
        kw = f", correction={p['correction']}" if "correction" in p else ""
        ax, kd = lit(p["axis"]), p["keepdims"]
        return [
            f"ops.{name}({a[0]}, {ax}, {kd}{kw})",
            f"{a[0]}.{name}({ax}, {kd}{kw})",
            f"{a[0]}.{name}(dim={ax}, keepdim={kd}{kw})",
            f"{a[0]}.{name}(axis={ax}, keepdims={kd}{kw})"
            if name != "logsumexp"
            else f"F.logsumexp({a[0]}, {ax}, {kd})",
        ][p["style"] % 4]

    def theirs(a, p, lit):
        dims = p["axis"]
        if dims is None:
            dims = tuple(range(len(p["_shape"]))) if "_shape" in p else None
        return theirs_fmt.format(a[0], dims=lit(dims), k=p["keepdims"], c=p.get("correction"))

    _op(name, draw, ours, theirs, valid, covers)


def _with_shape(gen, x, p):
    return {"_shape": gen.shape(x)}


def _var_extra(gen, x, p):
    n = int(np.prod([gen.shape(x)[a] for a in _axes_of(p["axis"], len(gen.shape(x)))]))
    c = int(gen.rng.integers(0, min(n, 3)))  # CONVENTIONS["var_too_few_elements"]: n > correction
    return {"_shape": gen.shape(x), "correction": c}


_reduction("sum", "{0}.sum(dim={dims}, keepdim={k})", ["ops.sum", "Tensor.sum"], extra=_with_shape)
_reduction("mean", "{0}.mean(dim={dims}, keepdim={k})", ["ops.mean", "Tensor.mean"], extra=_with_shape)
_reduction(
    "var",
    "{0}.var(dim={dims}, correction={c}, keepdim={k})",
    ["ops.var", "Tensor.var"],
    valid=lambda xs, p, y, m: _group_rows(xs[0], p["axis"]).shape[1] > p["correction"],
    extra=_var_extra,
)
# max/min compare with amax/amin: CONVENTIONS["max_min_values_only"]
_reduction(
    "max",
    "{0}.amax(dim={dims}, keepdim={k})",
    ["ops.max", "Tensor.max"],
    valid=lambda xs, p, y, m: _top_gap_ok(_group_rows(xs[0], p["axis"]), m),
    extra=_with_shape,
)
_reduction(
    "min",
    "{0}.amin(dim={dims}, keepdim={k})",
    ["ops.min", "Tensor.min"],
    valid=lambda xs, p, y, m: _top_gap_ok(_group_rows(xs[0], p["axis"]), m, lowest=True),
    extra=_with_shape,
)
_reduction(
    "logsumexp",
    "torch.logsumexp({0}, dim={dims}, keepdim={k})",
    ["ops.logsumexp", "Tensor.logsumexp", "F.logsumexp"],
    extra=_with_shape,
)


# --- shape ------------------------------------------------------------------------------------------
def _factor_shape(gen, n):
    primes, k, d = [], n, 2
    while k > 1:
        while k % d == 0:
            primes.append(d)
            k //= d
        d += 1
    ndim = int(gen.rng.integers(0 if n == 1 else 1, 4))
    dims = [1] * max(ndim, 1)
    for q in primes:
        dims[int(gen.rng.integers(len(dims)))] *= q
    return tuple(dims) if ndim or n != 1 else ()


def _draw_reshape(gen):
    x = gen.operand()
    shape = _factor_shape(gen, int(np.prod(gen.shape(x))))
    if shape and gen.rng.random() < 0.3:
        i = int(gen.rng.integers(len(shape)))
        shape = shape[:i] + (-1,) + shape[i + 1 :]
    return [x], {"shape": shape, "style": int(gen.rng.integers(4))}


def _reshape_ours(a, p, lit):
    s = p["shape"]
    star = ", ".join(str(d) for d in s)
    return [
        f"ops.reshape({a[0]}, {s})",
        f"{a[0]}.reshape({s})",
        f"{a[0]}.reshape({star})" if s else f"{a[0]}.reshape(())",
        f"{a[0]}.view({s})",
    ][p["style"] % 4]


_op(
    "reshape",
    _draw_reshape,
    _reshape_ours,
    _styled("{0}.reshape({shape})"),
    covers=["ops.reshape", "Tensor.reshape", "Tensor.view"],
)


def _draw_flatten(gen):
    x = gen.operand()
    nd = len(gen.shape(x))
    if nd == 0:
        return [x], {"s": 0, "e": -1, "style": int(gen.rng.integers(2))}
    s, e = sorted(int(v) for v in gen.rng.integers(0, nd, 2))
    s, e = (s - nd if gen.rng.random() < 0.3 else s), (e - nd if gen.rng.random() < 0.5 else e)
    return [x], {"s": s, "e": e, "style": int(gen.rng.integers(3))}


_op(
    "flatten",
    _draw_flatten,
    _styled("{0}.flatten({s}, {e})", "ops.flatten({0}, {s}, {e})", "{0}.flatten()"),
    _styled("{0}.flatten({s}, {e})", "{0}.flatten({s}, {e})", "{0}.flatten()"),
    covers=["ops.flatten", "Tensor.flatten"],
)


def _draw_transpose(gen):
    x = gen.operand(pred=lambda v: v.ndim >= 1, shape=gen.rand_shape(1))
    nd = len(gen.shape(x))
    d0, d1 = (int(v) for v in gen.rng.integers(-nd, nd, 2))
    return [x], {"d0": d0, "d1": d1, "rev": tuple(range(nd))[::-1], "style": int(gen.rng.integers(4))}


_op(
    "transpose",
    _draw_transpose,
    _styled("{0}.transpose({d0}, {d1})", "ops.transpose({0}, {d0}, {d1})", "{0}.T", "{0}.transpose()"),
    _styled(
        "{0}.transpose({d0}, {d1})", "{0}.transpose({d0}, {d1})", "{0}.permute({rev})", "{0}.permute({rev})"
    ),
    covers=["ops.transpose", "Tensor.transpose", "Tensor.T"],
)


def _draw_permute(gen):
    x = gen.operand(pred=lambda v: v.ndim >= 1, shape=gen.rand_shape(1))
    nd = len(gen.shape(x))
    dims = tuple(int(d) - (nd if gen.rng.random() < 0.3 else 0) for d in gen.rng.permutation(nd))
    return [x], {"dims": dims, "star": ", ".join(map(str, dims)), "style": int(gen.rng.integers(3))}


_op(
    "permute",
    _draw_permute,
    _styled("{0}.permute({dims})", "ops.permute({0}, {dims})", "{0}.permute({star})"),
    _styled("{0}.permute({dims})"),
    covers=["ops.permute", "Tensor.permute"],
)


def _draw_unsqueeze(gen):
    x = gen.operand()
    nd = len(gen.shape(x))
    return [x], {"d": int(gen.rng.integers(-nd - 1, nd + 1)), "style": int(gen.rng.integers(2))}


_op(
    "unsqueeze",
    _draw_unsqueeze,
    _styled("{0}.unsqueeze({d})", "ops.unsqueeze({0}, {d})"),
    _styled("{0}.unsqueeze({d})"),
    covers=["ops.unsqueeze", "Tensor.unsqueeze"],
)


def _draw_squeeze(gen):
    x = gen.operand()
    shape = gen.shape(x)
    nd = len(shape)
    ones = [i for i, n in enumerate(shape) if n == 1]
    r = gen.rng.random()
    if r < 0.3:
        d = None
    elif nd == 0:
        d = int(gen.rng.choice([0, -1]))
    elif ones and r < 0.8:
        d = int(gen.rng.choice(ones)) - (nd if gen.rng.random() < 0.3 else 0)
    else:
        d = int(gen.rng.integers(-nd, nd))
    return [x], {"d": d, "style": int(gen.rng.integers(2))}


def _squeeze_render(a, p, ours):
    if p["d"] is None:
        return f"{a[0]}.squeeze()" if p["style"] == 0 or not ours else f"ops.squeeze({a[0]})"
    return f"{a[0]}.squeeze({p['d']})" if p["style"] == 0 or not ours else f"ops.squeeze({a[0]}, {p['d']})"


_op(
    "squeeze",
    _draw_squeeze,
    lambda a, p, lit: _squeeze_render(a, p, True),
    lambda a, p, lit: _squeeze_render(a, p, False),
    covers=["ops.squeeze", "Tensor.squeeze"],
)


def _draw_expand(gen):
    x = gen.operand()
    shape = gen.shape(x)
    new = tuple(int(n) for n in gen.rng.integers(1, 4, int(gen.rng.integers(0, 3))))
    target = new + tuple(int(gen.rng.integers(1, 4)) if n == 1 else n for n in shape)
    return [x], {"shape": target, "star": ", ".join(map(str, target)), "style": int(gen.rng.integers(4))}


_op(
    "expand",
    _draw_expand,
    _styled(
        "{0}.expand({shape})",
        "{0}.expand({star})",
        "ops.broadcast_to({0}, {shape})",
        "ops.expand({0}, {shape})",
    ),
    _styled("{0}.expand({shape})"),
    covers=["ops.broadcast_to", "ops.expand", "Tensor.expand"],
)


def _draw_getitem_basic(gen):
    x = gen.operand()
    shape = gen.shape(x)
    if not shape:
        return [x], {"idx": [(None,), (Ellipsis,), ()][int(gen.rng.integers(3))], "style": 0}
    items = []
    for n in shape:
        r = gen.rng.random()
        if r < 0.25:
            items.append(int(gen.rng.integers(-n, n)))
        elif r < 0.6:
            start = int(gen.rng.integers(0, n))
            stop = int(gen.rng.integers(start + 1, n + 1))
            step = int(gen.rng.integers(1, 3))  # > 0: CONVENTIONS["getitem_negative_step"]
            items.append(
                slice(start if start or gen.rng.random() < 0.5 else None, stop if stop < n else None, step)
            )
        else:
            items.append(slice(None))
    while items and items[-1] == slice(None) and gen.rng.random() < 0.5:
        items.pop()
    if gen.rng.random() < 0.25:
        items.insert(int(gen.rng.integers(len(items) + 1)), None)
    if gen.rng.random() < 0.2 and items and items[0] == slice(None):
        items[0] = Ellipsis
    return [x], {"idx": tuple(items), "style": int(gen.rng.integers(2))}


def _getitem_render(a, p, lit, ours):
    if ours and p["style"] == 1:
        return f"ops.getitem({a[0]}, {lit(p['idx'])})"
    return f"{a[0]}[{lit.subscript(p['idx'])}]"


_op(
    "getitem",
    _draw_getitem_basic,
    lambda a, p, lit: _getitem_render(a, p, lit, True),
    lambda a, p, lit: _getitem_render(a, p, lit, False),
    covers=["ops.getitem", "Tensor.__getitem__"],
)


def _draw_getitem_advanced(gen):
    x = gen.operand(pred=lambda v: v.ndim >= 1, shape=gen.rand_shape(1))
    shape = gen.shape(x)
    nd = len(shape)
    r = gen.rng.random()
    style = int(gen.rng.integers(3))
    if r < 0.35:  # one index array (repeats, negative entries) on one axis
        ax = int(gen.rng.integers(nd))
        n = shape[ax]
        idx = gen.rng.integers(
            -n, n, tuple(int(k) for k in gen.rng.integers(1, 4, int(gen.rng.integers(1, 3))))
        )
        items = (slice(None),) * ax + (idx,)
        if style == 2 and idx.ndim == 1 and ax == 0:
            items = (idx.tolist(),)  # a plain list index
    elif r < 0.6:  # a boolean mask over the leading dimensions
        k = int(gen.rng.integers(1, nd + 1))
        mask = gen.rng.random(shape[:k]) < 0.6
        mask.flat[int(gen.rng.integers(mask.size))] = True
        items = (mask,)
    elif r < 0.8 and nd >= 2:  # two adjacent index arrays, broadcast against each other
        ax = int(gen.rng.integers(nd - 1))
        i = gen.rng.integers(0, shape[ax], (int(gen.rng.integers(1, 3)), 1))
        j = gen.rng.integers(-shape[ax + 1], shape[ax + 1], (int(gen.rng.integers(1, 4)),))
        items = (slice(None),) * ax + (i, j)
    else:  # an int next to an index array (adjacent: CONVENTIONS["getitem_int_and_array_apart"])
        if nd < 2:
            return None
        ax = int(gen.rng.integers(nd - 1))
        n0, n1 = shape[ax], shape[ax + 1]
        k = (int(gen.rng.integers(1, 4)),)
        if gen.rng.random() < 0.5:
            pair = (int(gen.rng.integers(-n0, n0)), gen.rng.integers(0, n1, k))
        else:
            pair = (gen.rng.integers(-n0, n0, k), int(gen.rng.integers(-n1, n1)))
        items = (slice(None),) * ax + pair
    return [x], {"idx": items, "style": style}


def _getitem_adv_render(a, p, lit, ours):
    idx = p["idx"]
    if ours and p["style"] == 1:
        idx_src = lit(idx) if not isinstance(idx[0], list) else "np.array(" + str(idx[0]) + ")"
        return f"ops.getitem({a[0]}, {idx_src})"
    if ours and p["style"] == 2 and len(idx) == 1 and isinstance(idx[0], np.ndarray):
        return f"{a[0]}[refimpl.tensor({lit(idx[0])})]"
    return f"{a[0]}[{lit.subscript(idx)}]"


_op(
    "getitem_advanced",
    _draw_getitem_advanced,
    lambda a, p, lit: _getitem_adv_render(a, p, lit, True),
    lambda a, p, lit: _getitem_adv_render(a, p, lit, False),
    covers=["ops.getitem", "Tensor.__getitem__"],
)


def _draw_cat(gen, stack=False):
    x = gen.operand(pred=None if stack else (lambda v: v.ndim >= 1), shape=gen.rand_shape(0 if stack else 1))
    shape = gen.shape(x)
    nd = len(shape)
    axis = int(gen.rng.integers(-nd - 1, nd + 1)) if stack else int(gen.rng.integers(-nd, nd))
    args = [x]
    for _ in range(int(gen.rng.integers(1, 3))):
        if gen.rng.random() < 0.25:
            args.append(x)
            continue
        if stack:
            args.append(gen.operand(pred=lambda v: v.shape == shape, shape=shape))
        else:
            want = list(shape)
            want[axis] = int(gen.rng.integers(1, 4))
            same = lambda v: v.ndim == nd and all(v.shape[i] == shape[i] for i in range(nd) if i != axis % nd)
            args.append(gen.operand(pred=same, shape=tuple(want)))
    gen.rng.shuffle(args)
    return args, {"axis": axis, "style": int(gen.rng.integers(2))}


def _cat_render(a, p, ours, stack):
    lst = "[" + ", ".join(a) + "]"
    if stack:
        return f"ops.stack({lst}, {p['axis']})" if ours else f"torch.stack({lst}, dim={p['axis']})"
    if ours:
        return (
            f"ops.cat({lst}, axis={p['axis']})" if p["style"] == 0 else f"ops.concatenate({lst}, {p['axis']})"
        )
    return f"torch.cat({lst}, dim={p['axis']})"


_op(
    "cat",
    _draw_cat,
    lambda a, p, lit: _cat_render(a, p, True, False),
    lambda a, p, lit: _cat_render(a, p, False, False),
    covers=["ops.cat", "ops.concatenate"],
)
_op(
    "stack",
    lambda gen: _draw_cat(gen, stack=True),
    lambda a, p, lit: _cat_render(a, p, True, True),
    lambda a, p, lit: _cat_render(a, p, False, True),
    covers=["ops.stack"],
)


def _draw_pad(gen):
    x = gen.operand(pred=lambda v: v.ndim >= 1, shape=gen.rand_shape(1))
    nd = len(gen.shape(x))
    widths = tuple((int(a), int(b)) for a, b in gen.rng.integers(0, 3, (nd, 2)))
    flat = tuple(w for pair in reversed(widths) for w in pair)
    return [x], {"widths": widths, "flat": flat, "value": float(gen.rng.choice([0.0, 0.5, -1.25]))}


_op(
    "pad",
    _draw_pad,
    _styled("ops.pad({0}, {widths}, {value})"),
    _styled("TF.pad({0}, {flat}, value={value})"),
    covers=["ops.pad"],
)


# --- matmul, linear ---------------------------------------------------------------------------------
def _draw_matmul(gen):
    x = gen.operand(pred=lambda v: 1 <= v.ndim <= 4, shape=gen.rand_shape(1, 3))
    xs = gen.shape(x)
    k = xs[-1]
    r = gen.rng.random()
    n = int(gen.rng.integers(1, 5))
    if r < 0.2:
        want = (k,)
    elif r < 0.6 or len(xs) < 2:
        want = (k, n)
    else:
        batch = xs[:-2]
        batch = tuple(1 if gen.rng.random() < 0.3 else b for b in batch)
        if gen.rng.random() < 0.3:
            batch = (int(gen.rng.integers(1, 3)),) + batch
        want = batch + (k, n)
    style = int(gen.rng.integers(4))
    if style == 3:  # an ndarray on the left: ndarray @ Tensor must reach Tensor.__rmatmul__
        y = x
        if len(xs) == 1:
            return [y], {
                "c": gen.values_of("normal", (int(gen.rng.integers(1, 4)), k)).astype(gen.dtype_of(x)),
                "style": 3,
            }
        return [y], {
            "c": gen.values_of("normal", (int(gen.rng.integers(1, 4)), xs[-2])).astype(gen.dtype_of(x)),
            "style": 3,
        }
    if want == xs and gen.rng.random() < 0.5:
        y = x
    else:
        y = gen.operand(pred=lambda v: v.shape == want, shape=want)
    return [x, y], {"style": style}


def _matmul_render(a, p, lit, ours):
    if p["style"] == 3:
        return f"{lit(p['c'])} @ {a[0]}"
    if p["style"] == 0 or not ours:
        return f"{a[0]} @ {a[1]}"
    return f"ops.matmul({a[0]}, {a[1]})" if p["style"] == 1 else f"{a[0]}.matmul({a[1]})"


_op(
    "matmul",
    _draw_matmul,
    lambda a, p, lit: _matmul_render(a, p, lit, True),
    lambda a, p, lit: _matmul_render(a, p, lit, False),
    covers=["ops.matmul", "Tensor.__matmul__", "Tensor.__rmatmul__", "Tensor.matmul"],
)


def _draw_linear(gen):
    x = gen.operand(pred=lambda v: 1 <= v.ndim <= 3, shape=gen.rand_shape(1, 3))
    k = gen.shape(x)[-1]
    o = int(gen.rng.integers(1, 5))
    w = gen.operand(pred=lambda v: v.ndim == 2 and v.shape[1] == k, shape=(o, k))
    o = gen.shape(w)[0]
    args = [x, w]
    if gen.rng.random() < 0.6:
        args.append(gen.operand(pred=lambda v: v.shape == (o,), shape=(o,)))
    return args, {"style": int(gen.rng.integers(2))}


_op(
    "linear",
    _draw_linear,
    lambda a, p, lit: f"{'F' if p['style'] == 0 else 'ops'}.linear({', '.join(a)})",
    lambda a, p, lit: f"TF.linear({', '.join(a)})",
    covers=["ops.linear", "F.linear"],
)


# --- softmax family ---------------------------------------------------------------------------------
def _draw_softmax(gen):
    x = gen.operand()
    nd = len(gen.shape(x))
    d = int(gen.rng.choice([0, -1])) if nd == 0 else int(gen.rng.integers(-nd, nd))
    return [x], {"d": d, "style": int(gen.rng.integers(3))}


for _name in ("softmax", "log_softmax"):
    _op(
        _name,
        _draw_softmax,
        _styled(f"ops.{_name}({{0}}, {{d}})", f"F.{_name}({{0}}, {{d}})", f"{{0}}.{_name}({{d}})"),
        _styled(f"TF.{_name}({{0}}, {{d}})", f"torch.{_name}({{0}}, {{d}})", f"{{0}}.{_name}({{d}})"),
        covers=[
            f"ops.{_name}",
            f"F.{_name}",
            f"Tensor.{_name}",
            "ops.Softmax" if _name == "softmax" else "ops.LogSoftmax",
        ],
    )


# --- losses -----------------------------------------------------------------------------------------
def _kw(p, names, lit):
    return "".join(f", {k}={lit(p[k])}" for k in names if k in p)


def _draw_ce(gen, probs=False):
    def ok(v):
        return 1 <= v.ndim <= 3 and (v.shape[0] if v.ndim == 1 else v.shape[1]) >= 2

    z = gen.operand(pred=ok, shape=gen.pick_shape([(5, 4), (3, 3, 2), (4,), (2, 3)]))
    shape = gen.shape(z)
    c = shape[0] if len(shape) == 1 else shape[1]
    dt = gen.dtype_of(z)
    p = {"reduction": str(gen.rng.choice(["mean", "sum", "none"])), "tt": bool(gen.rng.random() < 0.2)}
    args = [z]
    if gen.rng.random() < 0.3:
        p["label_smoothing"] = float(gen.rng.choice([0.1, 0.25]))
    if probs:
        cax = 0 if len(shape) == 1 else 1
        args.append(gen.operand(pred=lambda v: v.shape == shape, shape=shape, kind=("prob", cax)))
    r = gen.rng.random()
    if r < 0.2:
        p["weight"] = gen.values_of("positive", (c,)).astype(dt)
    elif r < 0.35:  # a Tensor weight: differentiated with probability targets (PyTorch refuses otherwise)
        w = (
            gen.operand(pred=lambda v: v.shape == (c,), shape=(c,), kind="positive")
            if probs
            else gen.leaf((c,), "positive", False)
        )
        args.append(w)
        p["w_arg"] = True
    if probs:
        return args, p
    tshape = () if len(shape) == 1 else (shape[0],) + shape[2:]
    target = np.asarray(gen.rng.integers(0, c, tshape))
    if tshape and gen.rng.random() < 0.3:  # some entries ignored, never all
        ign = int(gen.rng.choice([-100, 1, -1]))
        target.flat[gen.rng.random(target.size) < 0.3] = ign
        if (target == ign).all():
            target.flat[0] = 0 if ign != 0 else 1
        if ign != -100:
            p["ignore_index"] = ign
    p["target"] = target
    return args, p


def _ce_render(a, p, lit, ours):
    f = "F" if ours else "TF"
    if "target" in p:  # class indices
        tgt = lit(p["target"])
        tgt = f"refimpl.tensor({tgt})" if ours and p.get("tt") else tgt
    else:
        tgt = a[1]
    w = f", weight={a[-1]}" if p.get("w_arg") else ""
    kw = _kw(p, ["weight", "ignore_index", "reduction", "label_smoothing"], lit)
    return f"{f}.cross_entropy({a[0]}, {tgt}{w}{kw})"


_op(
    "cross_entropy",
    _draw_ce,
    lambda a, p, lit: _ce_render(a, p, lit, True),
    lambda a, p, lit: _ce_render(a, p, lit, False),
    covers=["F.cross_entropy"],
)
_op(
    "cross_entropy_probs",
    lambda gen: _draw_ce(gen, probs=True),
    lambda a, p, lit: _ce_render(a, p, lit, True),
    lambda a, p, lit: _ce_render(a, p, lit, False),
    covers=["F.cross_entropy"],
)


def _draw_nll(gen):
    z = gen.operand(
        pred=lambda v: v.ndim == 2 and v.shape[1] >= 2,
        shape=(int(gen.rng.integers(2, 6)), int(gen.rng.integers(2, 5))),
    )
    n, c = gen.shape(z)
    p = {"reduction": str(gen.rng.choice(["mean", "sum", "none"])), "target": gen.rng.integers(0, c, (n,))}
    args = [z]
    r = gen.rng.random()
    if r < 0.2:
        p["weight"] = gen.values_of("positive", (c,)).astype(gen.dtype_of(z))
    elif r < 0.3:  # a Tensor weight that does not require grad (PyTorch refuses one that does)
        args.append(gen.leaf((c,), "positive", False))
    if n > 1 and gen.rng.random() < 0.3:
        p["target"][int(gen.rng.integers(1, n))] = -100  # entry 0 keeps a valid target
    return args, p


def _nll_render(fn):
    def render(a, p, lit):
        w = f", weight={a[1]}" if len(a) == 2 else ""
        return f"{fn}({a[0]}, {lit(p['target'])}{w}{_kw(p, ['weight', 'reduction'], lit)})"

    return render


_op("nll_loss", _draw_nll, _nll_render("F.nll_loss"), _nll_render("TF.nll_loss"), covers=["F.nll_loss"])


def _draw_pair_loss(gen, kind="normal", pred_pair=None):
    x = gen.operand()
    shape = gen.shape(x)
    p = {"reduction": str(gen.rng.choice(["mean", "sum", "none"]))}
    if gen.rng.random() < 0.25:
        p["c"] = gen.values_of(kind, shape).astype(gen.dtype_of(x))
        return [x], p
    y = gen.operand(pred=lambda v: v.shape == shape, shape=shape, kind=kind)
    return [x, y], p


def _pair_loss_render(fn):
    def render(a, p, lit):
        y = a[1] if len(a) == 2 else lit(p["c"])
        return f"{fn}({a[0]}, {y}, reduction={lit(p['reduction'])})"

    return render


_op(
    "mse_loss",
    _draw_pair_loss,
    _pair_loss_render("F.mse_loss"),
    _pair_loss_render("TF.mse_loss"),
    covers=["F.mse_loss"],
)
_op(
    "l1_loss",
    _draw_pair_loss,
    _pair_loss_render("F.l1_loss"),
    _pair_loss_render("TF.l1_loss"),
    lambda xs, p, y, m: _away_from_zero(xs[0] - (xs[1] if len(xs) == 2 else p["c"]), m),
    covers=["F.l1_loss"],
)


def _draw_bce(gen):
    x = gen.operand()
    shape = gen.shape(x)
    p = {"reduction": str(gen.rng.choice(["mean", "sum", "none"]))}
    r = gen.rng.random()
    wt = None
    if r < 0.2:
        p["weight"] = gen.values_of("positive", gen.bshape(shape)).astype(gen.dtype_of(x))
    elif r < 0.3:  # a Tensor weight that does not require grad (PyTorch refuses one that does)
        wt = gen.leaf(gen.bshape(shape), "positive", False)
    if gen.rng.random() < 0.25:
        p["c"] = gen.values_of("unit", shape).astype(gen.dtype_of(x))
        args = [x]
    else:
        y = gen.operand(pred=lambda v: v.shape == shape, shape=shape, kind="unit")
        if gen.dtype_of(x) == "float64" and gen.dtype_of(y) == "float32":  # CONVENTIONS["bce_result_dtype"]
            return None
        args = [x, y]
    if wt is not None:
        args.append(wt)
        p["w_arg"] = True
    return args, p


def _bce_render(fn):
    def render(a, p, lit):
        y = lit(p["c"]) if "c" in p else a[1]
        w = f", weight={a[-1]}" if p.get("w_arg") else ""
        return f"{fn}({a[0]}, {y}{w}{_kw(p, ['weight', 'reduction'], lit)})"

    return render


_op(
    "bce_with_logits",
    _draw_bce,
    _bce_render("F.binary_cross_entropy_with_logits"),
    _bce_render("TF.binary_cross_entropy_with_logits"),
    covers=["F.binary_cross_entropy_with_logits"],
)


# --- normalisation ----------------------------------------------------------------------------------
def _affine_args(gen, shape, bias=True):
    args = []
    for _ in range(2 if bias else 1):
        if gen.rng.random() < 0.6:
            args.append(gen.operand(pred=lambda v: v.shape == shape, shape=shape))
        else:
            args.append(None)
    return args


def _draw_layer_norm(gen, rms=False):
    x = gen.operand(pred=lambda v: v.ndim >= 1, shape=gen.rand_shape(1))
    shape = gen.shape(x)
    k = int(gen.rng.integers(1, min(2, len(shape)) + 1))
    ns = shape[-k:]
    args = [x] + _affine_args(gen, ns, bias=not rms)
    if (
        rms and args[1] is not None and gen.dtype_of(args[1]) != gen.dtype_of(x)
    ):  # CONVENTIONS["rms_norm_dtype"]
        return None
    names = [a for a in args if a is not None]
    p = {"ns": ns, "which": tuple(a is not None for a in args[1:]), "style": int(gen.rng.integers(2))}
    if gen.rng.random() < 0.3:
        p["eps"] = 1e-3
    return names, p


def _spread(x, axes):
    """Each normalisation group's variance is at least 1e-3 of its mean square: x − μ is not mostly
    rounding noise (which normalising would blow up to O(1))."""
    var = np.var(x, axis=axes)
    return bool(np.all(var >= 1e-3 * np.mean(x * x, axis=axes)))


def _norm_args(a, p):
    it = iter(a[1:])
    return [next(it) if present else "None" for present in p["which"]]


def _layer_norm_render(a, p, lit, ours):
    ns = p["ns"][0] if ours and p["style"] == 1 and len(p["ns"]) == 1 else p["ns"]
    w, b = _norm_args(a, p)
    return f"{'F' if ours else 'TF'}.layer_norm({a[0]}, {ns}, {w}, {b}{_kw(p, ['eps'], lit)})"


_op(
    "layer_norm",
    _draw_layer_norm,
    lambda a, p, lit: _layer_norm_render(a, p, lit, True),
    lambda a, p, lit: _layer_norm_render(a, p, lit, False),
    lambda xs, p, y, m: _spread(xs[0], tuple(range(-len(p["ns"]), 0))),
    covers=["F.layer_norm"],
)


def _rms_norm_render(a, p, lit, ours):
    ns = p["ns"][0] if ours and p["style"] == 1 and len(p["ns"]) == 1 else p["ns"]
    (w,) = _norm_args(a, p)
    return f"{'F' if ours else 'TF'}.rms_norm({a[0]}, {ns}, {w}{_kw(p, ['eps'], lit)})"


_op(
    "rms_norm",
    lambda gen: _draw_layer_norm(gen, rms=True),
    lambda a, p, lit: _rms_norm_render(a, p, lit, True),
    lambda a, p, lit: _rms_norm_render(a, p, lit, False),
    lambda xs, p, y, m: (
        float(np.min(np.mean(xs[0] ** 2, axis=tuple(range(-len(p["ns"]), 0))), initial=1)) > 1e-2
    ),
    covers=["F.rms_norm"],
)


def _draw_group_norm(gen):
    x = gen.operand(pred=lambda v: v.ndim >= 2, shape=gen.rand_shape(2))
    shape = gen.shape(x)
    c = shape[1]
    per_channel = int(np.prod(shape[2:]))
    # CONVENTIONS["group_norm_one_value"]: every group holds more than one value
    g = int(gen.rng.choice([d for d in range(1, c + 1) if c % d == 0 and c // d * per_channel > 1] or [0]))
    if not g:
        return None
    args = [x] + _affine_args(gen, (c,))
    if args[1] is None:  # PYTORCH_BUGS_AVOIDED["group_norm_bias_without_weight"]
        args[2] = None
    p = {"g": g, "which": tuple(a is not None for a in args[1:])}
    if gen.rng.random() < 0.3:
        p["eps"] = 1e-3
    return [a for a in args if a is not None], p


_op(
    "group_norm",
    _draw_group_norm,
    lambda a, p, lit: "F.group_norm({}, {}, {}, {}{})".format(
        a[0], p["g"], *_norm_args(a, p), _kw(p, ["eps"], lit)
    ),
    lambda a, p, lit: "TF.group_norm({}, {}, {}, {}{})".format(
        a[0], p["g"], *_norm_args(a, p), _kw(p, ["eps"], lit)
    ),
    lambda xs, p, y, m: _spread(xs[0].reshape(xs[0].shape[0], p["g"], -1), 2),
    covers=["F.group_norm"],
)


def _draw_batch_norm(gen):
    x = gen.operand(
        pred=lambda v: v.ndim >= 2 and v.size // v.shape[1] > 1,
        shape=gen.pick_shape([(4, 3), (2, 3, 2), (3, 2, 2, 2)]),
    )
    c = gen.shape(x)[1]
    args = [x] + _affine_args(gen, (c,))
    p = {"which": tuple(a is not None for a in args[1:]), "training": bool(gen.rng.random() < 0.6)}
    dt = gen.dtype_of(x)
    if not p["training"] or gen.rng.random() < 0.3:
        p["rm"] = gen.values_of("normal", (c,)).astype(dt)
        p["rv"] = gen.values_of("positive", (c,)).astype(dt)
    if gen.rng.random() < 0.3:
        p["eps"] = 1e-3
    return [a for a in args if a is not None], p


def _batch_norm_render(a, p, lit, ours):
    if not ours:  # PYTORCH_BUGS_AVOIDED["batch_norm_strides"]: contiguous tensors only
        a = [f"{name}.contiguous()" for name in a]
    w, b = _norm_args(a, p)
    rm, rv = (lit(p["rm"]), lit(p["rv"])) if "rm" in p else ("None", "None")
    train = ", training=True" if p["training"] else ""
    expr = f"batch_norm({a[0]}, {rm}, {rv}, {w}, {b}{train}{_kw(p, ['eps'], lit)})"
    if ours:
        return "F." + expr
    return f"contiguous_grad(TF.{expr})"  # and a contiguous upstream gradient


_op(
    "batch_norm",
    _draw_batch_norm,
    lambda a, p, lit: _batch_norm_render(a, p, lit, True),
    lambda a, p, lit: _batch_norm_render(a, p, lit, False),
    lambda xs, p, y, m: not p["training"] or _spread(xs[0], (0,) + tuple(range(2, xs[0].ndim))),
    covers=["F.batch_norm"],
)


# --- convolution and pooling ------------------------------------------------------------------------
def _draw_conv(gen, nd):
    def ok(v):
        return v.ndim == nd + 2 and all(s >= 3 for s in v.shape[2:]) and v.shape[1] <= 4

    x = gen.operand(
        pred=ok,
        shape=(int(gen.rng.integers(1, 3)), int(gen.rng.integers(1, 5)))
        + tuple(int(s) for s in gen.rng.integers(3, 7, nd)),
    )
    shape = gen.shape(x)
    c = shape[1]
    groups = int(gen.rng.choice([d for d in range(1, c + 1) if c % d == 0])) if gen.rng.random() < 0.3 else 1
    o = groups * int(gen.rng.integers(1, 3))
    ks = tuple(int(k) for k in gen.rng.integers(1, 4, nd))
    dil = int(gen.rng.choice([1, 1, 2]))
    stride = int(gen.rng.choice([1, 1, 2]))
    r = gen.rng.random()
    if (
        r < 0.15 and stride == 1 and all((dil * (k - 1)) % 2 == 0 for k in ks)
    ):  # CONVENTIONS["conv_same_even_kernel"]
        pad = "same"
    elif r < 0.25:
        pad = "valid"
    else:
        pad = int(gen.rng.integers(0, 2))
    padv = 0 if pad in ("same", "valid") else pad
    if pad == "same":
        padv = max(dil * (k - 1) // 2 for k in ks)
    if any(s + 2 * padv < dil * (k - 1) + 1 for s, k in zip(shape[2:], ks)):
        return None
    wshape = (o, c // groups) + ks
    args = [x, gen.operand(pred=lambda v: v.shape == wshape, shape=wshape)]
    if gen.rng.random() < 0.5:
        args.append(gen.operand(pred=lambda v: v.shape == (o,), shape=(o,)))
    return args, {"stride": stride, "padding": pad, "dilation": dil, "groups": groups}


def _conv_render(fn):
    def render(a, p, lit):
        b = a[2] if len(a) == 3 else "None"
        geometry = (
            f"stride={p['stride']}, padding={p['padding']!r}, dilation={p['dilation']}, groups={p['groups']}"
        )
        return f"{fn}({a[0]}, {a[1]}, {b}, {geometry})"

    return render


_op(
    "conv2d",
    lambda gen: _draw_conv(gen, 2),
    _conv_render("F.conv2d"),
    _conv_render("TF.conv2d"),
    covers=["F.conv2d"],
)
_op(
    "conv1d",
    lambda gen: _draw_conv(gen, 1),
    _conv_render("F.conv1d"),
    _conv_render("TF.conv1d"),
    covers=["F.conv1d"],
)


def _draw_pool(gen, kind):
    x = gen.operand(
        pred=lambda v: v.ndim == 4 and min(v.shape[2:]) >= 2,
        shape=(
            int(gen.rng.integers(1, 3)),
            int(gen.rng.integers(1, 3)),
            int(gen.rng.integers(2, 7)),
            int(gen.rng.integers(2, 7)),
        ),
    )
    h, w = gen.shape(x)[2:]
    k = int(gen.rng.integers(1 if kind == "avg" else 2, 4))
    stride = None if gen.rng.random() < 0.4 else int(gen.rng.integers(1, 3))
    pad = int(gen.rng.integers(0, k // 2 + 1))
    dil = int(gen.rng.choice([1, 1, 2])) if kind == "max" else 1
    if min(h, w) + 2 * pad < dil * (k - 1) + 1:
        return None
    return [x], {"k": k, "stride": stride, "pad": pad, "dil": dil}


def _max_pool_valid(xs, p, y, m):
    x = torch.from_numpy(np.ascontiguousarray(xs[0], dtype=np.float64))
    n, c, h, w = x.shape
    k, pad, dil = p["k"], p["pad"], p["dil"]
    stride = p["stride"] or k
    padded = TF.pad(x.reshape(n * c, 1, h, w), (pad,) * 4, value=-math.inf)
    cols = TF.unfold(padded, k, dilation=dil, stride=stride)  # (N·C, k·k, L)
    s = torch.sort(cols, dim=1).values
    gap = (s[:, -1] - s[:, -2]).numpy()
    return bool(np.all(np.isfinite(s[:, -1].numpy()))) and float(gap.min()) > m * _scale(xs[0])


_op(
    "max_pool2d",
    lambda gen: _draw_pool(gen, "max"),
    lambda a, p, lit: f"F.max_pool2d({a[0]}, {p['k']}, {p['stride']}, {p['pad']}, {p['dil']})",
    lambda a, p, lit: f"TF.max_pool2d({a[0]}, {p['k']}, {p['stride']}, {p['pad']}, {p['dil']})",
    _max_pool_valid,
    covers=["F.max_pool2d"],
)
_op(
    "avg_pool2d",
    lambda gen: _draw_pool(gen, "avg"),
    lambda a, p, lit: f"F.avg_pool2d({a[0]}, {p['k']}, {p['stride']}, {p['pad']})",
    lambda a, p, lit: f"TF.avg_pool2d({a[0]}, {p['k']}, {p['stride']}, {p['pad']})",
    covers=["F.avg_pool2d"],
)
_op(
    "adaptive_avg_pool2d_1",
    lambda gen: ([gen.operand(pred=lambda v: v.ndim == 4, shape=(1, 2, 3, 2))], {}),
    lambda a, p, lit: f"F.adaptive_avg_pool2d_1({a[0]})",
    lambda a, p, lit: f"TF.adaptive_avg_pool2d({a[0]}, 1)",
    covers=["F.adaptive_avg_pool2d_1"],
    weight=0.5,
)


def _draw_embedding(gen):
    w = gen.operand(
        pred=lambda v: v.ndim == 2, shape=(int(gen.rng.integers(2, 6)), int(gen.rng.integers(1, 4)))
    )
    n = gen.shape(w)[0]
    idx = gen.rng.integers(0, n, tuple(int(k) for k in gen.rng.integers(1, 4, int(gen.rng.integers(1, 3)))))
    return [w], {"idx": idx, "style": int(gen.rng.integers(2))}


_op(
    "embedding",
    _draw_embedding,
    lambda a, p, lit: (
        f"F.embedding({'refimpl.tensor(' + lit(p['idx']) + ')' if p['style'] else lit(p['idx'])}, {a[0]})"
    ),
    lambda a, p, lit: f"TF.embedding({lit(p['idx'])}, {a[0]})",
    covers=["F.embedding"],
)


# --- attention --------------------------------------------------------------------------------------
def _draw_sdpa(gen):
    q = gen.operand(pred=lambda v: 2 <= v.ndim <= 4, shape=gen.rand_shape(2, 3))
    qs = gen.shape(q)
    batch, lq, e = qs[:-2], qs[-2], qs[-1]
    s = lq if gen.rng.random() < 0.3 else int(gen.rng.integers(1, 5))
    k = (
        q
        if s == lq and gen.rng.random() < 0.3
        else gen.operand(pred=lambda v: v.shape == batch + (s, e), shape=batch + (s, e))
    )
    ev = int(gen.rng.integers(1, 4))
    v = (
        k
        if gen.shape(k)[-1] == ev and gen.rng.random() < 0.3
        else gen.operand(pred=lambda t: t.shape == batch + (s, ev), shape=batch + (s, ev))
    )
    p = {}
    r = gen.rng.random()
    dt = gen.dtype_of(q)
    if r < 0.2:  # CONVENTIONS["sdpa_fully_masked_row"]: every row keeps a key
        mshape = (lq, s) if gen.rng.random() < 0.6 or not batch else batch + (lq, s)
        mask = gen.rng.random(mshape) < 0.6
        mask[..., int(gen.rng.integers(s))] = True
        p["mask"] = mask
    elif r < 0.35:
        p["mask"] = gen.values_of("normal", (lq, s)).astype(dt)
    elif r < 0.5:
        args = [q, k, v, gen.operand(pred=lambda t: t.shape == (lq, s), shape=(lq, s))]
        p["fmask"] = True
        if gen.rng.random() < 0.3:
            p["scale"] = 0.7
        return args, p
    elif r < 0.65:
        p["causal"] = True  # never with a mask: CONVENTIONS["sdpa_mask_and_causal"]
    if gen.rng.random() < 0.3:
        p["scale"] = 0.7
    return [q, k, v], p


def _sdpa_render(fn):
    def render(a, p, lit):
        extra = ""
        if p.get("fmask"):
            extra += f", attn_mask={a[3]}"
        elif "mask" in p:
            extra += f", attn_mask={lit(p['mask'])}"
        if p.get("causal"):
            extra += ", is_causal=True"
        if "scale" in p:
            extra += f", scale={p['scale']}"
        return f"{fn}({a[0]}, {a[1]}, {a[2]}{extra})"

    return render


_op(
    "sdpa",
    _draw_sdpa,
    _sdpa_render("F.scaled_dot_product_attention"),
    _sdpa_render("TF.scaled_dot_product_attention"),
    covers=["F.scaled_dot_product_attention"],
)


# What the fuzzer deliberately does not draw, with the reason (the coverage test reads this).
NOT_FUZZED = {
    "F.one_hot": "returns a plain ndarray (not differentiable)",
    "Tensor.backward": "called by every graph (the runner)",
    "Tensor.numpy": "not an op (returns .data)",
    "Tensor.item": "not an op (a Python number)",
    "Tensor.requires_grad_": "sets a flag (the generator makes leaves with and without it)",
    "Tensor.zero_grad": "not an op",
    "Tensor.numel": "not an op",
    "Tensor.dim": "not an op",
    "Tensor.__lt__": "comparisons return plain boolean arrays (masks); no gradient",
    "Tensor.__le__": "comparisons return plain boolean arrays (masks); no gradient",
    "Tensor.__gt__": "comparisons return plain boolean arrays (masks); no gradient",
    "Tensor.__ge__": "comparisons return plain boolean arrays (masks); no gradient",
    "Tensor.argmax": "returns an index array (no gradient flows through an index)",
    "Tensor.argmin": "returns an index array (no gradient flows through an index)",
}


# ---------------------------------------------------------------------------------------------------
# Generation
# ---------------------------------------------------------------------------------------------------
# PYTORCH_BUGS_AVOIDED["batch_norm_strides"]: the identity, whose backward hands on a contiguous
# gradient.  The same source text defines it in a reproducer that needs it.
_CONTIGUOUS_GRAD_SRC = """\
class _ContiguousGrad(torch.autograd.Function):
    forward = staticmethod(lambda ctx, x: x.view_as(x))
    backward = staticmethod(lambda ctx, g: g.contiguous())


contiguous_grad = _ContiguousGrad.apply
"""
_TORCH_GLOBALS = {"torch": torch, "TF": TF, "np": np, "math": math}
exec(_CONTIGUOUS_GRAD_SRC, _TORCH_GLOBALS)


class _Gen:
    """The state of one graph being drawn: its leaves and nodes, and their PyTorch values."""

    def __init__(self, seed: int, dtype: str):
        self.rng = np.random.default_rng([seed, 64 if dtype == "float64" else 32])
        self.dtype = dtype
        self.graph = Graph(
            seed, dtype, [], [], twice=bool(self.rng.random() < 0.35), grad_seed=int(self.rng.integers(2**31))
        )
        self.ns: dict[str, torch.Tensor] = {}
        self.uses: dict[str, int] = {}

    # values of the pool
    def val(self, name) -> np.ndarray:
        return self.ns[name].detach().numpy()

    def shape(self, name) -> tuple:
        return tuple(self.ns[name].shape)

    def dtype_of(self, name) -> str:
        return str(self.ns[name].dtype).replace("torch.", "")

    def pick(self, pred=None):
        names = [n for n in self.ns if pred is None or pred(self.val(n))]
        if not names:
            return None
        w = np.array([1.0 + 2.0 * n.startswith("v") + 1.5 * (self.uses.get(n, 0) > 0) for n in names])
        w[-1] += 2.0  # the newest value is the likeliest: chains grow deep
        return names[int(self.rng.choice(len(names), p=w / w.sum()))]

    def operand(self, pred=None, shape=None, kind="normal", fresh=0.25) -> str:
        if self.rng.random() >= fresh:
            name = self.pick(pred)
            if name is not None:
                return name
        return self.leaf(self.rand_shape() if shape is None else shape, kind)

    # shapes
    def rand_shape(self, lo=0, hi=4) -> tuple:
        nd = int(self.rng.choice(np.arange(lo, hi + 1), p=_ndim_weights(lo, hi)))
        return tuple(int(self.rng.choice([1, 2, 3, 4], p=[0.2, 0.3, 0.3, 0.2])) for _ in range(nd))

    def pick_shape(self, options):
        return options[int(self.rng.integers(len(options)))]

    def bshape(self, shape) -> tuple:
        """A shape that broadcasts against `shape` without growing it."""
        if self.rng.random() < 0.15:
            return ()
        drop = int(self.rng.integers(0, len(shape) + 1)) if self.rng.random() < 0.5 else 0
        return tuple(1 if self.rng.random() < 0.3 else n for n in shape[drop:])

    def bigger(self, shape) -> tuple:
        """A shape that `shape` broadcasts into."""
        lead = tuple(int(n) for n in self.rng.integers(1, 4, int(self.rng.integers(0, 2))))
        return lead + tuple(int(self.rng.integers(2, 4)) if n == 1 else n for n in shape)

    # leaves
    def values_of(self, kind, shape) -> np.ndarray:
        r = self.rng
        if kind == "positive":
            v = r.uniform(0.3, 2.0, shape)
        elif kind == "nonzero":
            v = r.uniform(0.2, 2.0, shape) * r.choice([-1.0, 1.0], shape)
        elif kind == "unit":
            v = r.uniform(0.05, 0.95, shape)
        elif isinstance(kind, tuple) and kind[0] == "prob":  # rows of probabilities along an axis
            v = r.uniform(0.1, 1.0, shape)
            v = v / v.sum(axis=kind[1], keepdims=True) if len(shape) else np.ones(())
        else:
            v = r.standard_normal(shape)
        return np.asarray(np.round(v, 4))

    def leaf(self, shape, kind="normal", requires_grad=None) -> str:
        values = self.values_of(kind, shape).astype(self.dtype)
        if requires_grad is None:
            requires_grad = bool(self.rng.random() < 0.85)
        view = None
        if values.ndim and self.rng.random() < 0.35:
            r = self.rng.random()
            if r < 0.4 and values.ndim >= 2:
                view = ("T",)
            elif r < 0.8:
                view = ("step", int(self.rng.integers(values.ndim)))
            else:
                view = ("flip", int(self.rng.integers(values.ndim)))
        base = _base_for(values, view, self.rng)
        self.graph.leaves.append(Leaf(base, view, requires_grad))
        name = f"x{len(self.graph.leaves) - 1}"
        self.ns[name] = _torch_leaf(self.graph.leaves[-1])
        return name


def _ndim_weights(lo, hi):
    w = np.array([0.1, 0.25, 0.35, 0.2, 0.1])[lo : hi + 1]
    return w / w.sum()


def _base_for(values, view, rng):
    """A contiguous array whose `view` is `values`."""
    if view is None:
        return np.array(values, order="C")  # (ascontiguousarray makes 0-d arrays 1-d)
    if view[0] == "T":
        return np.ascontiguousarray(values.T)
    ax = view[1]
    if view[0] == "flip":
        return np.ascontiguousarray(np.flip(values, ax))
    shape = list(values.shape)
    shape[ax] *= 2
    base = np.round(rng.standard_normal(shape), 4).astype(values.dtype)
    idx = [slice(None)] * values.ndim
    idx[ax] = slice(None, None, 2)
    base[tuple(idx)] = values
    return base


def _torch_leaf(leaf: Leaf, dtype=None) -> torch.Tensor:
    t = torch.tensor(leaf.values.copy(), dtype=dtype)
    return t.requires_grad_() if leaf.requires_grad else t


@contextlib.contextmanager
def _grad_mode(lib, mode):
    if not mode:
        yield
        return
    with lib.no_grad(), lib.enable_grad() if mode == "enable_grad" else contextlib.nullcontext():
        yield


def _eval_node(node: Node, ns: dict, margin: float, side="torch") -> torch.Tensor:
    """Evaluate one node in PyTorch and check it keeps away from kinks, domain edges and the bound."""
    spec = OPS[node.op]
    expr = spec.theirs(list(node.args), node.params, Lit(side))
    with _grad_mode(torch, node.mode), warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            y = eval(expr, _TORCH_GLOBALS, ns)
        except Exception as e:
            raise InvalidGraph(f"PyTorch cannot run {expr}: {type(e).__name__}: {e}") from None
    if not isinstance(y, torch.Tensor) or not y.is_floating_point() or y.numel() == 0:
        raise InvalidGraph(f"{expr} gives no float values")
    dtypes = {ns[a].dtype for a in node.args}
    if len(dtypes) > 1 and any(ns[a].ndim == 0 for a in node.args):
        raise InvalidGraph(f"{expr} mixes dtypes with a 0-d tensor (CONVENTIONS['zero_d_type_promotion'])")
    if (
        node.mode == "no_grad"
        and y.requires_grad
        and not (node.op in RETURNS_INPUT and any(y is ns[a] for a in node.args))
    ):
        raise InvalidGraph(f"{expr} is a view made under no_grad (CONVENTIONS['no_grad_views'])")
    yv = y.detach().numpy()
    if not np.all(np.isfinite(yv)) or np.abs(yv).max() > BOUND:
        raise InvalidGraph(f"{expr} leaves [-{BOUND}, {BOUND}]")
    if spec.valid is not None:
        xs = [ns[a].detach().numpy().astype(np.float64) for a in node.args]
        if not spec.valid(xs, node.params, yv.astype(np.float64), margin):
            raise InvalidGraph(f"{expr} is too close to a kink or domain edge")
    return y


def _node_name(i):
    return f"v{i}"


def generate(seed: int, dtype: str = "float64", n_ops: int | None = None) -> Graph:
    """The graph of one seed: `n_ops` (default 2–12) ops, each valid where it is drawn."""
    gen = _Gen(seed, dtype)
    n_ops = int(gen.rng.integers(2, 13)) if n_ops is None else n_ops
    names = list(OPS)
    weights = np.array([OPS[n].weight for n in names])
    weights /= weights.sum()
    margin = MARGIN[dtype]
    tries = 0
    while len(gen.graph.nodes) < n_ops and tries < 40 * n_ops:
        tries += 1
        spec = OPS[names[int(gen.rng.choice(len(names), p=weights))]]
        n_leaves = len(gen.graph.leaves)
        drawn = spec.draw(gen)
        if drawn is not None:
            args, params = drawn
            r = gen.rng.random()
            node = Node(
                spec.name,
                tuple(args),
                params,
                mode="no_grad" if r < 0.1 else "enable_grad" if r < 0.13 else "",
            )
            try:
                y = _eval_node(node, gen.ns, margin)
            except InvalidGraph:
                y = None
            if y is not None:
                gen.graph.nodes.append(node)
                gen.ns[_node_name(len(gen.graph.nodes) - 1)] = y
                for a in args:
                    gen.uses[a] = gen.uses.get(a, 0) + 1
                continue
        # drop the leaves this failed draw made
        for i in range(n_leaves, len(gen.graph.leaves)):
            gen.ns.pop(f"x{i}", None)
        del gen.graph.leaves[n_leaves:]
    validate(gen.graph)
    return gen.graph


def validate(graph: Graph) -> Graph:
    """Evaluate `graph` in PyTorch (its own dtype), check every node, and fill in its values, flags,
    sinks and upstream gradients.  Raises InvalidGraph."""
    if not graph.nodes:
        raise InvalidGraph("no ops")
    ns = {f"x{i}": _torch_leaf(leaf) for i, leaf in enumerate(graph.leaves)}
    margin = MARGIN[graph.dtype]
    for i, node in enumerate(graph.nodes):
        ns[_node_name(i)] = _eval_node(node, ns, margin)
    graph.values = {k: v.detach().numpy().copy() for k, v in ns.items()}
    graph.flags = {k: bool(v.requires_grad) for k, v in ns.items()}
    used = {a for n in graph.nodes for a in n.args}
    graph.sinks = [
        _node_name(i)
        for i in range(len(graph.nodes))
        if _node_name(i) not in used and graph.flags[_node_name(i)]
    ]
    # Upstream gradients, random (|g| in [0.5, 1.5], either sign), the same on both sides.  One sink is
    # the root itself (G0, G1: its gradient in pass 1 and 2); several are combined into a scalar root
    # Σⱼ ⟨sinkⱼ, Wⱼ⟩, so sink j receives Wⱼ·G (G0, G1: the root's scalar gradients).
    rng = np.random.default_rng(graph.grad_seed)
    draw = lambda shape, dt: np.asarray(
        np.round(rng.uniform(0.5, 1.5, shape) * rng.choice([-1.0, 1.0], shape), 3), dtype=dt
    )
    up = {}
    if len(graph.sinks) > 1:
        for j, s in enumerate(graph.sinks):
            up[f"W{j}"] = draw(graph.values[s].shape, graph.values[s].dtype)
        up["G0"], up["G1"] = draw((), _root_dtype(graph)), draw((), _root_dtype(graph))
    elif graph.sinks:
        v = graph.values[graph.sinks[0]]
        up["G0"], up["G1"] = draw(v.shape, v.dtype), draw(v.shape, v.dtype)
    for i, leaf in enumerate(graph.leaves):  # second order: the gradient of leaf i is weighted by H{i}
        if leaf.requires_grad:
            v = graph.values[f"x{i}"]
            up[f"H{i}"] = draw(v.shape, v.dtype)
    graph.upstream = up
    return graph


def _root_dtype(graph):
    dts = {graph.values[s].dtype for s in graph.sinks}
    return np.dtype(np.float64) if np.dtype(np.float64) in dts or not dts else np.dtype(np.float32)


# ---------------------------------------------------------------------------------------------------
# Rendering a graph as a program, and running it
# ---------------------------------------------------------------------------------------------------
def _program(graph: Graph, side: str) -> list:
    """Source sections of one side ("ours", "torch", "torch64"): forward, backward pass 1, pass 2."""
    lit = Lit(side)
    ours = side == "ours"
    lines = []
    for i, leaf in enumerate(graph.leaves):
        src = f"X{i}{_view_src(leaf.view)}"
        rg = ", requires_grad=True" if leaf.requires_grad else ""
        tsrc = f"{src}.copy()" if leaf.view else src  # (PyTorch takes no negative strides)
        lines.append(f"x{i} = refimpl.tensor({src}{rg})" if ours else f"x{i} = torch.tensor({tsrc}{rg})")
    spec_of = OPS
    for i, node in enumerate(graph.nodes):
        expr = (spec_of[node.op].ours if ours else spec_of[node.op].theirs)(list(node.args), node.params, lit)
        lib = "refimpl" if ours else "torch"
        if node.mode == "no_grad":
            lines += [f"with {lib}.no_grad():", f"    v{i} = {expr}"]
        elif node.mode == "enable_grad":
            lines += [f"with {lib}.no_grad():", f"    with {lib}.enable_grad():", f"        v{i} = {expr}"]
        else:
            lines.append(f"v{i} = {expr}")
    values = ", ".join(f"v{i}=v{i}" for i in range(len(graph.nodes)))
    lines.append(f'record("forward", {values})')
    forward = "\n".join(lines)
    if not graph.sinks:
        return [forward, "", "", f'record("after", {values})']
    arr = (lambda n: n) if ours else (lambda n: f"torch.tensor({n})")  # a copy: torch may write into it
    if len(graph.sinks) == 1:
        root = f"out = {graph.sinks[0]}"
    else:
        root = "out = " + " + ".join(f"({s} * {arr(f'W{j}')}).sum()" for j, s in enumerate(graph.sinks))
    grads = ", ".join(f"x{i}=x{i}.grad" for i in range(len(graph.leaves)))
    if graph.order == 2:
        return [forward, _second_order_pass(graph, root, ours, arr), "", f'record("after", {values})']
    retain = ", retain_graph=True" if graph.twice else ""
    pass1 = f'{root}\nout.backward({arr("G0")}{retain})\nrecord("grad1", {grads})'
    pass2 = f'out.backward({arr("G1")})\nrecord("grad2", {grads})' if graph.twice else ""
    return [forward, pass1, pass2, f'record("after", {values})']


def _second_order_pass(graph: Graph, root: str, ours: bool, arr) -> str:
    """grad1: ∂out/∂leaves (upstream G0) as a graph; grad2: ∂(Σᵢ ⟨grad1ᵢ, Hᵢ⟩)/∂leaves."""
    grad = "refimpl.grad" if ours else "torch.autograd.grad"
    idx = [i for i, leaf in enumerate(graph.leaves) if leaf.requires_grad]
    names = ", ".join(f"x{i}" for i in idx)
    rec = lambda var: ", ".join(f"x{i}={var}[{k}]" for k, i in enumerate(idx))  # noqa: E731
    lines = [
        root,
        f"_g = {grad}(out, [{names}], {arr('G0')}, create_graph=True, allow_unused=True)",
        f'record("grad1", {rec("_g")})',
        "_t = [(_g[k] * H).sum() for k, H in enumerate(["
        + ", ".join(arr(f"H{i}") for i in idx)
        + "]) if _g[k] is not None and _g[k].requires_grad]",
        f"_h = {grad}(sum(_t[1:], _t[0]), [{names}], allow_unused=True) if _t else [None] * {len(idx)}",
        f'record("grad2", {rec("_h")})',
    ]
    return "\n".join(lines)


class _Recorder:
    """The `record` function a program calls: keeps (array copy, requires_grad, dtype) per name."""

    def __init__(self):
        self.stages: dict[str, dict] = {}

    def __call__(self, stage, **items):
        out = self.stages.setdefault(stage, {})
        for name, t in items.items():
            if t is None:
                out[name] = None
            elif isinstance(t, torch.Tensor):
                if t._is_zerotensor():  # (PyTorch's lazily materialised zeros, from some double backwards)
                    t = torch.zeros(t.shape, dtype=t.dtype)
                out[name] = (
                    t.detach().numpy().copy(),
                    bool(t.requires_grad),
                    str(t.dtype).replace("torch.", ""),
                )
            elif isinstance(t, refimpl.Tensor):
                out[name] = (np.array(t.data, copy=True), bool(t.requires_grad), t.data.dtype.name)
            elif isinstance(t, np.ndarray):
                out[name] = (t.copy(), None, t.dtype.name)
            else:
                out[name] = (np.asarray(t), "not a Tensor or ndarray: " + type(t).__name__, "")


_OURS_GLOBALS = {"np": np, "refimpl": refimpl, "ops": ops, "F": F, "math": math}


def _execute(sections, arrays, ours: bool) -> _Recorder:
    rec = _Recorder()
    ns = dict(_OURS_GLOBALS if ours else _TORCH_GLOBALS)
    ns.update(arrays, record=rec)
    errstate = (
        np.errstate(over="raise", divide="raise", invalid="raise") if ours else contextlib.nullcontext()
    )
    with errstate, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if ours:
            warnings.simplefilter("error", RuntimeWarning)
        for src in sections:
            if src:
                exec(compile(src, "<fuzz graph>", "exec"), ns)
    return rec


def _arrays(graph: Graph, dtype=None) -> dict:
    """Fresh copies of the input and upstream arrays (neither side may touch the graph's own)."""
    arrays = {f"X{i}": leaf.base for i, leaf in enumerate(graph.leaves)}
    arrays.update(graph.upstream)
    return {k: np.array(v, dtype=dtype or v.dtype, copy=True) for k, v in arrays.items()}


@dataclasses.dataclass
class Failure:
    kind: str  # "exception", "forward", "grad", "after", ...
    message: str


def run(graph: Graph) -> Failure | None:
    """Run a validated graph in refimpl and PyTorch and compare; None when they agree."""
    try:
        theirs = _execute(_program(graph, "torch"), _arrays(graph), ours=False)
    except Exception as e:
        raise InvalidGraph(f"PyTorch cannot run this graph: {type(e).__name__}: {e}") from None
    try:
        ours = _execute(_program(graph, "ours"), _arrays(graph), ours=True)
    except Exception as e:  # PyTorch ran this graph: refimpl must too
        return Failure("exception", f"refimpl raised {type(e).__name__}: {e} (PyTorch runs this graph)")
    ref = None
    if graph.dtype == "float32":
        ref = _execute(_program(graph, "torch64"), _arrays(graph, np.float64), ours=False)
    return _compare(graph, ours, theirs, ref)


def _describe(graph, name):
    if name.startswith("v"):
        node = graph.nodes[int(name[1:])]
        return f"{name} = {OPS[node.op].ours(list(node.args), node.params, Lit('ours'))}"
    return f"{name}.grad"


def _compare(graph, ours, theirs, ref) -> Failure | None:
    # the graph's scale: rounding errors of cancelling sums are relative to the largest numbers around
    scale = max(
        [1.0]
        + [float(np.abs(e[0]).max(initial=0)) for st in theirs.stages.values() for e in st.values() if e]
    )
    for stage in ("forward", "grad1", "grad2", "after"):
        want_stage = theirs.stages.get(stage, {})
        got_stage = ours.stages.get(stage, {})
        for name, want in want_stage.items():
            got = got_stage.get(name)
            what = f"{stage}: {_describe(graph, name)}"
            if graph.order == 2 and stage == "grad2" and (want is None) != (got is None):
                # second order: PyTorch keeps a graph through ops whose derivative is locally constant
                # (relu, abs, max, ...) and returns zeros where refimpl's gradient is a constant (None)
                present = want if got is None else got
                if not np.any(present[0]):
                    continue
            if want is None or got is None:
                if (want is None) != (got is None):
                    return Failure(
                        stage,
                        f"{what}: refimpl gives {'None' if got is None else 'a gradient'}, PyTorch "
                        f"{'None' if want is None else 'a gradient'}",
                    )
                continue
            (g, g_rg, g_dt), (w, w_rg, w_dt) = got, want
            if isinstance(g_rg, str):
                return Failure(stage, f"{what}: refimpl returns {g_rg}")
            if g.shape != w.shape:
                return Failure(stage, f"{what}: shape {g.shape}, PyTorch {w.shape}")
            if g_dt != w_dt:
                return Failure(stage, f"{what}: dtype {g_dt}, PyTorch {w_dt}")
            if stage in ("forward", "after") and g_rg != w_rg:
                return Failure(stage, f"{what}: requires_grad={g_rg}, PyTorch {w_rg}")
            r = None if ref is None else ref.stages[stage][name]
            msg = _mismatch(g, w, None if r is None else r[0], scale)
            if msg:
                return Failure(stage, f"{what}: {msg}")
    return None


def _mismatch(got, want, ref, graph_scale) -> str | None:
    got, want = got.astype(np.float64), want.astype(np.float64)
    err = np.abs(got - want)
    if ref is None:  # float64: elementwise, tight
        scale = float(np.abs(want).max(initial=0))
        bad = ~(err <= RTOL64 * (np.abs(want) + 1e-3 * scale + 1e-4 * graph_scale))
    else:  # float32: our error against the float64 run, within LOOSE32 × PyTorch's own
        scale = float(np.abs(ref).max(initial=0))
        theirs = float(np.abs(want - ref).max(initial=0))
        tol = LOOSE32 * max(theirs, 16 * float(np.finfo(np.float32).eps) * max(scale, graph_scale))
        bad = ~(np.abs(got - ref) <= tol)
    if not bad.any():
        return None
    k = (
        tuple(int(i) for i in np.unravel_index(int(np.argmax(np.where(bad, err, -1))), err.shape))
        if err.ndim
        else ()
    )
    rel = float((err / np.maximum(np.abs(want), 1e-300)).max())
    return (
        f"max abs error {float(err.max()):.3e}, max rel error {rel:.3e}; at {k}: refimpl {float(got[k])!r}, "
        f"PyTorch {float(want[k])!r}" + ("" if ref is None else f", float64 reference {float(ref[k])!r}")
    )


# ---------------------------------------------------------------------------------------------------
# Shrinking
# ---------------------------------------------------------------------------------------------------
def _rename(graph: Graph, mapping: dict) -> None:
    for node in graph.nodes:
        node.args = tuple(mapping.get(a, a) for a in node.args)


def _compact(graph: Graph) -> Graph:
    """Drop leaves nothing uses and number leaves and nodes from 0 again."""
    used = {a for n in graph.nodes for a in n.args}
    keep = [i for i in range(len(graph.leaves)) if f"x{i}" in used]
    mapping = {f"x{i}": f"x{j}" for j, i in enumerate(keep)}
    graph.leaves = [graph.leaves[i] for i in keep]
    _rename(graph, mapping)
    return graph


def _without_node(graph: Graph, k: int, replacement: str | None) -> Graph:
    """`graph` with node k removed: its users read `replacement` (a name), or a new leaf holding
    its value (replacement None)."""
    g = graph.copy()
    name = _node_name(k)
    if replacement is None:
        value = graph.values[name]
        g.leaves.append(Leaf(np.array(value, order="C"), None, graph.flags[name]))
        replacement = f"x{len(g.leaves) - 1}"
    del g.nodes[k]
    mapping = {name: replacement}
    mapping.update({_node_name(i): _node_name(i - 1) for i in range(k + 1, len(graph.nodes))})
    _rename(g, mapping)
    return _compact(g)


def _candidates(graph: Graph):
    """Smaller or simpler variants of `graph`, the most promising first."""
    for k in reversed(range(len(graph.nodes))):
        name = _node_name(k)
        node = graph.nodes[k]
        for a in dict.fromkeys(node.args):  # bypass: the users read an operand of the same shape/dtype
            if (
                graph.values[a].shape == graph.values[name].shape
                and graph.values[a].dtype == graph.values[name].dtype
            ):
                yield _without_node(graph, k, a)
        yield _without_node(graph, k, None)
    if graph.twice:
        g = graph.copy()
        g.twice = False
        yield g
    for k, node in enumerate(graph.nodes):
        if node.mode:
            g = graph.copy()
            g.nodes[k].mode = ""
            yield g
    for i, leaf in enumerate(graph.leaves):
        if leaf.view is not None:
            g = graph.copy()
            g.leaves[i] = Leaf(np.array(leaf.values, order="C"), None, leaf.requires_grad)
            yield g
        if leaf.requires_grad:
            g = graph.copy()
            g.leaves[i].requires_grad = False
            yield g
        for digits in (1, 2):
            rounded = np.round(leaf.base, digits)
            if not np.array_equal(rounded, leaf.base):
                g = graph.copy()
                g.leaves[i].base = rounded.astype(leaf.base.dtype)
                yield g
                break


def shrink(graph: Graph, failure: Failure, budget: int = 400) -> tuple[Graph, Failure]:
    """Greedy shrinking: take the first candidate that is still valid and still fails, until none is."""
    best = graph
    progress = True
    while progress and budget > 0:
        progress = False
        for cand in _candidates(best):
            budget -= 1
            if budget <= 0:
                break
            try:
                validate(cand)
                f = run(cand)
            except InvalidGraph:
                continue
            if f is not None:
                best, failure, progress = cand, f, True
                break
    return best, failure


# ---------------------------------------------------------------------------------------------------
# The reproducer
# ---------------------------------------------------------------------------------------------------
_REPRO_HEAD = """\
# refimpl against PyTorch: {title}
# run: python this_file.py  (prints both sides' values and gradients)
import numpy as np
import torch
import torch.nn.functional as TF

import refimpl
import refimpl.nn.functional as F
from refimpl.autograd import ops

{arrays}

results = {{}}


def record(stage, **items):
    for name, t in items.items():
        if isinstance(t, torch.Tensor):
            t = t.detach().numpy()
        elif isinstance(t, refimpl.Tensor):
            t = t.data
        results.setdefault(SIDE, {{}})[f"{{stage}} {{name}}"] = None if t is None else np.array(t, copy=True)

"""

_REPRO_TAIL = """
np.set_printoptions(precision=10, linewidth=110)
for key, ours in results["refimpl"].items():
    theirs = results["torch"][key]
    if ours is None or theirs is None:
        print(f"{key}: refimpl {ours}, torch {theirs}")
        continue
    diff = "shapes differ"
    if ours.shape == theirs.shape:
        diff = np.abs(ours.astype(np.float64) - theirs.astype(np.float64)).max(initial=0.0)
    print(f"{key}: max |refimpl - torch| = {diff}\\n  refimpl {ours!r}\\n  torch   {theirs!r}")
"""


def reproducer(graph: Graph, title: str = "") -> str:
    """Runnable Python source: the graph in refimpl and in PyTorch, printing both sides' results."""
    arrays = []
    for name, a in _arrays(graph).items():
        if name != "G1" or graph.twice:
            arrays.append(f"{name} = {Lit('ours')(np.asarray(a))}")
    head = _REPRO_HEAD.format(
        title=title or f"graph of seed {graph.seed} ({graph.dtype})", arrays="\n".join(arrays)
    )
    if any(n.op == "batch_norm" for n in graph.nodes):
        head += "\n" + _CONTIGUOUS_GRAD_SRC + "\n"
    body = []
    for side, label in (("ours", "refimpl"), ("torch", "torch")):
        body.append(f'SIDE = "{label}"')
        body.extend(s for s in _program(graph, side) if s)
        body.append("")
    return head + "\n".join(body) + _REPRO_TAIL


# ---------------------------------------------------------------------------------------------------
# Driving
# ---------------------------------------------------------------------------------------------------
def check_seed(seed: int, dtype: str, order: int = 1) -> tuple[Graph, Failure] | None:
    graph = generate(seed, dtype)
    graph.order = order
    failure = run(graph)
    return None if failure is None else (graph, failure)


def report(graph: Graph, failure: Failure) -> str:
    """Shrink a failing graph and describe it, the reproducer included."""
    small, f = shrink(graph, failure)
    title = f"seed {graph.seed} ({graph.dtype}), shrunk from {len(graph.nodes)} ops to {len(small.nodes)}"
    return (
        f"fuzz graph seed {graph.seed} ({graph.dtype}): {failure.message}\n"
        f"shrunk to {len(small.nodes)} op(s): {f.message}\n"
        f"--- reproducer ---\n{reproducer(small, title)}"
    )


def main(argv) -> int:  # pragma: no cover - a command-line convenience
    first = int(argv[1]) if len(argv) > 1 else 0
    count = int(argv[2]) if len(argv) > 2 else 200
    dtypes = [argv[3]] if len(argv) > 3 else ["float64", "float32"]
    bad = 0
    for dtype in dtypes:
        for seed in range(first, first + count):
            found = check_seed(seed, dtype)
            if found:
                bad += 1
                print(report(*found), "\n")
    print(f"{bad} failing graph(s) of {count * len(dtypes)}")
    return 1 if bad else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv))
