"""`refimpl.compile`: record a training step once as a flat tape of array operations, then replay it.

This is how tracing JITs work (``jax.jit``, ``torch.jit.trace``), at the size of one file.  The eager
engine pays, on every op, for things a repeated step does not need: wrapping arrays in Tensors,
linking nodes, sorting the graph before the backward pass, finding which parents want a gradient.
A step of a training loop does the same thing every time: same ops, same shapes, same order.  So:

1. **Record.**  Run the step eagerly while a tape listens.  Every `Function.apply` appends
   ``(op, where each input comes from, keyword arguments)``; every ``backward()`` appends the order in
   which the nodes are visited and where each input gradient goes; every *effect* (optimizer
   ``step``/``zero_grad``, scheduler ``step``, gradient clipping, batch-norm running statistics) appends
   the call.  An input of an op comes from one of four places: an argument of the step, the output of
   an earlier op (a *slot*), a leaf Tensor such as a parameter (read live: ``p.data`` at replay time), or
   a constant.
2. **Check.**  The second call records again and the two tapes must agree: same ops in the same
   order, and every constant either the same array object both times (a buffer, read live) or equal
   in value (frozen).  A constant whose value changed was computed *outside* the ops from something
   that changes (``x.data`` turned into a NumPy mask, a Python float from ``loss.item()``): replaying it
   would be silently wrong, so this raises `TraceError` and names the op.  So does a step that took a
   different path (Python control flow on data).  The third call then runs both ways from the same
   state — eagerly, and replayed — and requires bit-identical losses, gradients, parameters,
   optimizer states and buffers; this catches a side effect the tape cannot see (``p.data *= mask`` in
   NumPy inside the step).  (``check=False`` skips the third-call comparison.)
3. **Replay.**  The tape is then written out as the source of one Python function — straight-line
   code calling each op's ``forward``, then each VJP in the recorded order, with the effects in their
   places (``CompiledStep.source()`` prints it) — and compiled with Python's own ``compile``.  Nothing
   else runs: no Tensor objects for interior values, no graph, no topological sort, not even a loop
   over the tape.  Results are bit-identical to the eager step, because the same NumPy code runs on
   the same arrays in the same order.

A call with other argument shapes or dtypes records a new tape for them (``on_new_shape="retrace"``,
the default) or raises (``"raise"``).  What a replay cannot do: Python code of the step between ops is
not run again (a ``print``, a counter, a NumPy update of your own — make such updates effects with
`recorded_effect`, or keep them outside the compiled function); the step's returned Tensors carry no
graph; ``refimpl.grad`` and ``backward(create_graph=True)`` are refused while recording.  Buffers are
not preallocated: each op allocates its output as in eager mode, so the saving is the engine's own
bookkeeping (see ``benchmarks/bench_step.py`` and ``notebooks/03-tracing.ipynb`` for what it buys).
"""

from __future__ import annotations

import builtins
import functools
from collections.abc import Iterator

import numpy as np

from .tensor import Tensor, _accumulate, _interior_nodes

__all__ = ["compile", "CompiledStep", "TraceError", "recorded_effect"]

_SLOT, _LIVE, _CONST = 0, 1, 2  # where an op's input comes from (see the module docstring)


class TraceError(RuntimeError):
    """The step cannot be replayed from a recording (the message says which op and why)."""


def recorded_effect(fn):
    """Mark a function (or method) with side effects outside the ops — an optimizer step, a scheduler
    step, a clip — so a recording step calls it again, in its place, at every replay."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        tape = Tensor._tape
        if tape is None:
            return fn(*args, **kwargs)
        return tape.run_effect(fn, args, kwargs)

    return wrapper


class _Op:
    __slots__ = ("ctx", "name", "refs", "kwargs", "dyn_kwargs", "out", "consts", "zero_d")

    def __init__(self, ctx, refs, kwargs, dyn_kwargs, out, zero_d=False):
        self.ctx, self.name = ctx, type(ctx).__name__
        self.refs, self.kwargs, self.dyn_kwargs, self.out = refs, kwargs, dyn_kwargs, out
        self.zero_d = zero_d  # NumPy may return a 0-d result as a scalar: the replay wraps it


class _Backward:
    __slots__ = ("root", "seed", "plan", "leaf_root")

    def __init__(self, root, seed, plan, leaf_root=None):
        self.root, self.seed, self.plan, self.leaf_root = root, seed, plan, leaf_root


class _Effect:
    __slots__ = ("fn", "args", "kwargs")

    def __init__(self, fn, args, kwargs):
        self.fn, self.args, self.kwargs = fn, args, kwargs


class _Tape:
    """What one recorded call did (see the module docstring)."""

    def __init__(self, inputs: list):
        self.vals = list(inputs)  # slot -> array (while recording: keeps every slot array alive)
        self.slot_of = {id(a): i for i, a in enumerate(inputs)}
        self.n_inputs = len(inputs)
        self.entries = []
        self.op_of_ctx = {}  # id(ctx) -> index of its _Op in entries
        self.outputs = None
        self.problem = None  # why this recording cannot be replayed (the call itself runs on, eagerly)
        self._replay_fn = self._source = None  # the generated replay (see `_generate`)

    def refuse(self, reason: str) -> None:
        """Note that the step did something a replay cannot redo; the call still completes eagerly."""
        if self.problem is None:
            self.problem = reason

    # --- recording -------------------------------------------------------------------------------
    def _ref(self, original, array):
        s = self.slot_of.get(id(array))
        if s is not None:
            return (_SLOT, s)
        if isinstance(original, Tensor):
            return (_LIVE, original)
        return (_CONST, array)

    def record_op(self, ctx, inputs, arrays, kwargs, out) -> None:
        refs = tuple(self._ref(o, a) for o, a in zip(inputs, arrays))
        dyn = []
        for key, value in kwargs.items():
            if isinstance(value, np.ndarray) and id(value) in self.slot_of:
                dyn.append((key, self.slot_of[id(value)]))
            elif isinstance(value, Tensor):
                self.refuse(
                    f"{type(ctx).__name__}: a Tensor passed as the keyword argument {key!r} cannot be recorded"
                )
        slot = len(self.vals)
        self.vals.append(out.data)
        self.slot_of[id(out.data)] = slot
        self.op_of_ctx[id(ctx)] = len(self.entries)
        self.entries.append(_Op(ctx, refs, dict(kwargs), tuple(dyn), slot, out.data.ndim == 0))

    def record_backward(self, root: Tensor, seed: np.ndarray) -> None:
        seed_ref = self._ref(None, seed)
        if root._ctx is None:
            self.entries.append(_Backward(None, seed_ref, (), leaf_root=root))
            return
        plan = []
        for node in reversed(_interior_nodes(root)):
            k = self._op_index(node)
            targets = []
            for p in node._ctx.parents:
                if p is None or not p.requires_grad:
                    targets.append(None)
                elif p._ctx is not None:
                    targets.append((True, self._op_index(p), p.data.shape))
                else:
                    targets.append((False, p, None))
            plan.append((k, tuple(targets)))
        self.entries.append(_Backward(self._op_index(root), seed_ref, tuple(plan)))

    def _op_index(self, t: Tensor) -> int:
        k = self.op_of_ctx.get(id(t._ctx))
        if k is None:
            self.refuse(
                "backward() reaches a node computed before the recorded call began; compute everything "
                "the loss depends on inside the compiled function"
            )
            return -1
        return k

    def run_effect(self, fn, args, kwargs):
        if kwargs.get("closure") is not None or (
            fn.__name__ == "step" and len(args) > 1 and callable(args[1])
        ):
            self.refuse(f"{fn.__qualname__}: a closure cannot be recorded; call it without one")
        # an iterator (model.parameters()) would be used up by this call: keep what it gives as a list
        args = tuple(list(a) if isinstance(a, Iterator) else a for a in args)
        kwargs = {k: list(v) if isinstance(v, Iterator) else v for k, v in kwargs.items()}
        Tensor._tape = None  # the effect's own ops (if any) are part of the effect, not of the tape
        try:
            result = fn(*args, **kwargs)
        finally:
            Tensor._tape = self
        self.entries.append(_Effect(fn, args, kwargs))
        return result

    def record_outputs(self, result) -> None:
        def one(t):
            if t is None:
                return None
            if not isinstance(t, Tensor):
                self.refuse(
                    "a compiled step must return a Tensor, a tuple or list of Tensors, or None; "
                    f"got {type(t).__name__}"
                )
                return None
            return self._ref(t, t.data)

        if isinstance(result, (tuple, list)):
            self.outputs = (type(result), tuple(one(t) for t in result))
        else:
            self.outputs = (None, one(result))

    def finish(self) -> None:
        """Drop the recording-time arrays (the generated replay keeps only what it needs)."""
        self.vals = None
        self.slot_of = None

    def describe(self) -> list:
        def ref(k, r):
            if k == _SLOT:
                return f"s{r}"
            if k == _LIVE:
                return f"leaf{tuple(r.data.shape)}"
            return f"const{tuple(np.shape(r))}"

        out = []
        for e in self.entries:
            if type(e) is _Op:
                out.append(f"s{e.out} = {e.name}({', '.join(ref(k, r) for k, r in e.refs)})")
            elif type(e) is _Effect:
                out.append(f"effect {e.fn.__qualname__}")
            elif e.leaf_root is not None:
                out.append("backward from a leaf")
            else:
                names = [self.entries[k].name for k, _ in e.plan]
                out.append(f"backward from s{self.entries[e.root].out}: {' → '.join(names)}")
        return out

    # --- replaying -------------------------------------------------------------------------------
    def source(self) -> str:
        """The replay as straight-line Python: one line per op, per VJP and per effect (see `replay`)."""
        if self._replay_fn is None:
            self._generate()
        return self._source

    def _generate(self) -> None:
        """Write the tape out as the source of one Python function and compile it.

        A loop that interprets the tape would look up, per op, where each input comes from, build the
        argument list and dispatch on the entry's kind; the generated function does that once, here.  Its
        locals are the slots (``s5``) and the gradients arriving at each node (``g5``); its globals, the
        ops' bound ``forward``/``backward``, leaf Tensors (read live: ``.data``, ``.grad``), constants and
        effects.  Every array operation is the one the eager step runs, in the same order, so a replay
        stays bit-identical to eager mode.
        """
        ns = {
            "ndarray": np.ndarray,
            "asarray": np.asarray,
            "_accumulate": _accumulate,
            "_unbroadcast": _unbroadcast,
        }
        body = []

        def name(prefix, obj):
            key = f"{prefix}{len(ns)}"
            ns[key] = obj
            return key

        def ref(k, r):
            if k == _SLOT:
                return f"s{r}"
            if k == _LIVE:
                return f"{name('leaf', r)}.data"
            return name("const", r)

        for j, e in enumerate(self.entries):
            if type(e) is _Op:
                args = [ref(k, r) for k, r in e.refs]
                dyn = dict(e.dyn_kwargs)
                args += [
                    f"{key}=s{dyn[key]}" if key in dyn else f"{key}={name('kw', v)}"
                    for key, v in e.kwargs.items()
                ]
                out = f"s{e.out}"
                body.append(f"{out} = {name(e.name + '_', e.ctx.forward)}({', '.join(args)})")
                if e.zero_d:
                    body.append(f"if type({out}) is not ndarray: {out} = asarray({out})")
            elif type(e) is _Effect:
                body.append(f"{name('effect', e.fn)}(*{name('args', e.args)}, **{name('kwargs', e.kwargs)})")
            else:
                body.extend(self._backward_source(j, e, ref, name))
        kind, outs = self.outputs
        refs = [None if o is None else ref(*o) for o in (outs if kind is not None else (outs,))]
        body.append(f"return ({''.join(f'{r}, ' for r in refs)})")
        self._source = "def replay(" + ", ".join(f"s{i}" for i in range(self.n_inputs)) + "):\n"
        self._source += "".join(f"    {line}\n" for line in body)
        exec(builtins.compile(self._source, "<refimpl.compile replay>", "exec"), ns)  # noqa: S102
        self._replay_fn = ns["replay"]

    def _backward_source(self, j, b: _Backward, ref, name) -> list:
        lines = [f"seed = {ref(*b.seed)}", "given = {id(seed)}"]
        if b.leaf_root is not None:
            return lines + [f"_accumulate({name('leaf', b.leaf_root)}, seed, given)"]
        g = lambda k: f"g{j}_{k}"  # noqa: E731  (the gradient arriving at op k, in backward pass j)
        lines += [f"{g(k)} = None" for k, _ in b.plan if k != b.root]
        lines.append(f"{g(b.root)} = seed")
        for k, targets in b.plan:
            lines.append(f"if {g(k)} is not None:")
            lines.append(
                f"    r = {name(self.entries[k].name + '_vjp', self.entries[k].ctx.backward)}({g(k)})"
            )
            lines.append("    if type(r) is not tuple: r = (r,)")
            lines.append(f"    {g(k)} = None")
            for i, t in enumerate(targets):
                if t is None:
                    continue
                interior, r, shape = t
                lines.append(f"    pg = r[{i}] if len(r) > {i} else None")
                lines.append("    if pg is not None:")
                if interior:
                    lines.append(f"        if pg.shape != {shape!r}: pg = _unbroadcast(pg, {shape!r})")
                    lines.append(f"        {g(r)} = pg if {g(r)} is None else {g(r)} + pg")
                else:
                    leaf, dtype = name("leaf", r), name("dtype", r.data.dtype)
                    lines.append(
                        f"        if pg.shape != {leaf}.data.shape: pg = _unbroadcast(pg, {leaf}.data.shape)"
                    )
                    # a leaf's first gradient, a fresh array of its dtype, is kept as it is (`_accumulate`
                    # inlined for that case, the usual one); anything else goes through `_accumulate`
                    lines.append(
                        f"        if {leaf}.grad is None and type(pg) is ndarray and pg.dtype is {dtype} "
                        "and pg.base is None and id(pg) not in given:"
                    )
                    lines.append("            given.add(id(pg))")
                    lines.append(f"            {leaf}.grad = pg")
                    lines.append("        else:")
                    lines.append(f"            _accumulate({leaf}, pg, given)")
        return lines

    def replay(self, inputs: list):
        """Run the generated function (`source`) on new input arrays; the outputs as Tensors."""
        if self._replay_fn is None:
            self._generate()
        arrays = self._replay_fn(*inputs)
        kind, outs = self.outputs
        if kind is None:
            return self._output(arrays[0])
        return kind(self._output(a) for a in arrays)

    @staticmethod
    def _output(data):
        if data is None:
            return None
        out = Tensor.__new__(Tensor)
        out.data, out.grad, out.requires_grad, out._ctx, out.name = data, None, False, None, None
        return out

    # --- what the replay touches (for the third-call check) --------------------------------------
    def state_holders(self):
        """Leaf Tensors, objects whose methods are effects (optimizers, schedulers), constant arrays
        (buffers) and random generators that the tape refers to."""
        leaves, owners, arrays = {}, {}, {}
        for e in self.entries:
            if type(e) is _Op:
                for k, r in e.refs:
                    if k == _LIVE:
                        leaves[id(r)] = r
                    elif k == _CONST and isinstance(r, np.ndarray) and r.size > 1:
                        arrays[id(r)] = r
                for v in e.kwargs.values():
                    if isinstance(v, np.ndarray) and v.size > 0:
                        arrays[id(v)] = v
            elif type(e) is _Effect:
                for a in (*e.args, *e.kwargs.values()):
                    if isinstance(a, (list, tuple)):
                        leaves.update((id(t), t) for t in a if isinstance(t, Tensor))
                    elif isinstance(a, Tensor):
                        leaves[id(a)] = a
                    elif hasattr(a, "__dict__") and not callable(a):
                        owners[id(a)] = a
                        for g in getattr(a, "param_groups", ()):
                            leaves.update((id(p), p) for p in g["params"])
            elif e.leaf_root is not None:
                leaves[id(e.leaf_root)] = e.leaf_root
            else:
                for _, targets in e.plan:
                    leaves.update((id(t[1]), t[1]) for t in targets if t is not None and not t[0])
        return list(leaves.values()), list(owners.values()), list(arrays.values()), _generators(self)


# --- comparing two recordings ----------------------------------------------------------------------
def _same_value(a, b) -> bool:
    if a is b:
        return True
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        return a.shape == b.shape and a.dtype == b.dtype and bool(np.array_equal(a, b, equal_nan=True))
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same_value(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same_value(a[k], b[k]) for k in a)
    try:
        return bool(a == b) and type(a) is type(b)
    except Exception:  # objects without a usable ==
        return False


def _agree(first: _Tape, second: _Tape) -> None:
    """Raise TraceError unless two recordings of the step did the same thing (see the docstring)."""
    if len(first.entries) != len(second.entries) or any(
        type(a) is not type(b) or (type(a) is _Op and type(a.ctx) is not type(b.ctx))
        for a, b in zip(first.entries, second.entries)
    ):
        raise TraceError(
            "the step did different things on its first two calls (other ops, or in another order): its "
            "Python control flow depends on the data, so one recording cannot stand for every call"
        )
    for i, (a, b) in enumerate(zip(first.entries, second.entries)):
        where = f"op {i} ({type(a.ctx).__name__ if type(a) is _Op else type(a).__name__.strip('_')})"
        if type(a) is _Op:
            for j, ((ka, ra), (kb, rb)) in enumerate(zip(a.refs, b.refs)):
                if ka != kb or (ka == _SLOT and ra != rb):
                    raise TraceError(f"{where}: input {j} came from a different place on the second call")
                if ka == _LIVE and ra is not rb and not _same_value(ra.data, rb.data):
                    raise TraceError(
                        f"{where}: input {j} is a Tensor made inside the step from data that changed "
                        "between calls, outside the ops; make it an argument of the compiled function"
                    )
                if ka == _CONST and ra is not rb and not _same_value(ra, rb):
                    raise TraceError(
                        f"{where}: input {j} is a constant computed outside the ops whose value changed "
                        "between calls (e.g. a NumPy array made from x.data, or a float from .item()); a "
                        "replay would reuse the old value"
                    )
            if a.dyn_kwargs != b.dyn_kwargs or a.kwargs.keys() != b.kwargs.keys():
                raise TraceError(f"{where}: its keyword arguments came from different places")
            for key in a.kwargs:
                va, vb = a.kwargs[key], b.kwargs[key]
                if any(key == k for k, _ in a.dyn_kwargs) or va is vb:
                    continue
                if not _same_value(va, vb):
                    raise TraceError(
                        f"{where}: its keyword argument {key!r} changed between calls ({va!r:.60} → {vb!r:.60})"
                    )
        elif type(a) is _Effect:
            if a.fn is not b.fn or not _same_value(a.args, b.args) or not _same_value(a.kwargs, b.kwargs):
                raise TraceError(f"{where}: the effect {a.fn.__qualname__} was called differently")
        elif not _same_backward(a, b):
            raise TraceError(f"{where}: the backward pass visited other nodes on the second call")
    if first.outputs[0] is not second.outputs[0]:
        raise TraceError("the step returned a different structure on its second call")


def _same_backward(a: _Backward, b: _Backward) -> bool:
    if a.root != b.root or a.leaf_root is not b.leaf_root or len(a.plan) != len(b.plan):
        return False
    (ka, ra), (kb, rb) = a.seed, b.seed
    if ka != kb or not (ra is rb or _same_value(getattr(ra, "data", ra), getattr(rb, "data", rb))):
        return False
    for (na, ta), (nb, tb) in zip(a.plan, b.plan):
        if na != nb or len(ta) != len(tb):
            return False
        for x, y in zip(ta, tb):
            if (x is None) != (y is None):
                return False
            if x is not None and (x[0] != y[0] or (x[1] != y[1] if x[0] else x[1] is not y[1])):
                return False
    return True


# --- the third-call comparison ---------------------------------------------------------------------
def _copy_tree(x):
    if isinstance(x, np.ndarray):
        return x.copy()
    if isinstance(x, dict):
        return {k: _copy_tree(v) for k, v in x.items()}  # keys (Parameters) are kept, not copied
    if isinstance(x, (list, tuple)):
        return type(x)(_copy_tree(v) for v in x)
    return x


def _generators(tape) -> list:
    """The random generators a replay draws from: the library's default and any passed to an op."""
    from ..random import default_generator

    gens = {id(default_generator()): default_generator()}
    for e in tape.entries:
        if type(e) is _Op:
            for v in e.kwargs.values():
                if isinstance(v, np.random.Generator):
                    gens[id(v)] = v
    return list(gens.values())


def _snapshot(holders):
    leaves, owners, arrays, gens = holders
    return (
        [
            (p.data.copy(), None if p.grad is None else np.array(getattr(p.grad, "data", p.grad)))
            for p in leaves
        ],
        [_copy_tree(vars(o)) for o in owners],
        [a.copy() for a in arrays],
        [g.bit_generator.state for g in gens],
    )


def _assign(current: dict, saved: dict) -> None:
    """Put `saved` back into `current` in place (arrays copied into, dicts and lists filled again), so
    references others hold to the optimizer's state stay valid."""
    for k in [k for k in current if k not in saved]:
        del current[k]
    for k, s in saved.items():
        c = current.get(k)
        if (
            isinstance(c, np.ndarray)
            and isinstance(s, np.ndarray)
            and c.shape == s.shape
            and c.dtype == s.dtype
        ):
            c[...] = s
        elif isinstance(c, dict) and isinstance(s, dict):
            _assign(c, s)
        elif isinstance(c, list) and isinstance(s, list) and len(c) == len(s):
            for i, (ci, si) in enumerate(zip(c, s)):
                if isinstance(ci, dict) and isinstance(si, dict):
                    _assign(ci, si)
                else:
                    c[i] = _copy_tree(si)
        else:
            current[k] = _copy_tree(s)


def _restore(holders, snap) -> None:
    leaves, owners, arrays, gens = holders
    for p, (d, g) in zip(leaves, snap[0]):
        p.data = d.copy()
        p.grad = None if g is None else g.copy()
    for o, saved in zip(owners, snap[1]):
        _assign(vars(o), saved)
    for a, saved in zip(arrays, snap[2]):
        a[...] = saved
    for g, state in zip(gens, snap[3]):
        g.bit_generator.state = state


def _first_difference(holders, snap_a, snap_b, out_a, out_b) -> str | None:
    leaves, owners, arrays, gens = holders
    for i, (a, b) in enumerate(zip(out_a, out_b)):
        if not _same_value(a, b):
            return f"returned value {i}"
    for p, (da, ga), (db, gb) in zip(leaves, snap_a[0], snap_b[0]):
        name = p.name or f"a leaf of shape {p.data.shape}"
        if not _same_value(da, db):
            return f"the data of {name}"
        if not _same_value(ga, gb):
            return f"the gradient of {name}"
    for o, a, b in zip(owners, snap_a[1], snap_b[1]):
        if not _same_value(a, b):
            return f"the state of {type(o).__name__}"
    for arr, a, b in zip(arrays, snap_a[2], snap_b[2]):
        if not _same_value(a, b):
            return f"a buffer of shape {arr.shape}"
    if not _same_value(snap_a[3], snap_b[3]):
        return "the state of a random generator (the replay drew other random numbers)"
    return None


def _flat_outputs(result):
    items = result if isinstance(result, (tuple, list)) else (result,)
    return [None if t is None else np.array(t.data) for t in items]


# --- the user-facing wrapper -----------------------------------------------------------------------
class CompiledStep:
    """A step function that records itself on its first calls and is replayed afterwards (see the
    module docstring).  `.stats` counts ``{"recorded": …, "replayed": …, "checked": …}`` calls."""

    def __init__(self, fn, *, check: bool = True, on_new_shape: str = "retrace", watch=(), fallback=False):
        if not callable(fn):
            raise TypeError(f"compile: `fn` must be callable, got {type(fn).__name__}")
        if on_new_shape not in ("retrace", "raise"):
            raise ValueError(f"compile: `on_new_shape` must be 'retrace' or 'raise', got {on_new_shape!r}")
        self.fn, self.check, self.on_new_shape = fn, bool(check), on_new_shape
        self.watch, self.fallback = tuple(watch), bool(fallback)
        self._tapes = {}  # signature -> [first tape, replayable tape or None, checked?]
        self.stats = {"recorded": 0, "replayed": 0, "checked": 0, "eager": 0}
        self.fallback_reason = None  # why a fallback=True step went back to eager mode for good
        self._last = None  # ((shape, dtype) per argument, tape) of the last replay with arrays only
        functools.update_wrapper(self, fn)

    def source(self) -> str:
        """The Python source generated for each replayable recording (what a replay runs)."""
        parts = [
            f"# recording for {key}\n{tape.source()}" for key, (_, tape, _) in self._tapes.items() if tape
        ]
        return "\n".join(parts) if parts else "# nothing replayable recorded yet: call the step twice"

    def describe(self) -> str:
        """The replayable tape(s) as text, one line per entry: ``s5 = Linear(s0, leaf(8, 4), leaf(8,))``
        for an op (``sK`` a slot: an argument or an earlier op's output), ``effect SGD.step`` for an
        effect, ``backward from s9`` with the ops whose VJPs run, in order."""
        lines = []
        for key, (_, tape, _) in self._tapes.items():
            if tape is None:
                continue
            lines.append(f"recording for {key}:")
            lines.extend(f"  {line}" for line in tape.describe())
        return "\n".join(lines) if lines else "(nothing replayable recorded yet: call the step twice)"

    def _signature(self, args, kwargs):
        arrays, sig = [], []
        for a in args:
            if isinstance(a, Tensor):
                if a.requires_grad:
                    raise TypeError(
                        "compile: arguments of a compiled step are data (arrays or Tensors without a "
                        "gradient); reach parameters through the model the step closes over"
                    )
                a = a.data
            if isinstance(a, np.ndarray):
                arrays.append(a)
                sig.append(("array", a.shape, a.dtype.str))
            else:
                sig.append(("static", a))
        for key in sorted(kwargs):
            if isinstance(kwargs[key], (np.ndarray, Tensor)):
                raise TypeError(f"compile: pass arrays positionally, got the keyword argument {key!r}")
            sig.append(("kw", key, kwargs[key]))
        try:
            key = tuple(sig)
            hash(key)
        except TypeError:
            raise TypeError("compile: non-array arguments of a compiled step must be hashable") from None
        return key, arrays

    def _record(self, args, kwargs, arrays):
        if Tensor._tape is not None:
            raise TraceError("compile: a compiled step cannot be called while another one is recording")
        tape = _Tape(arrays)
        Tensor._tape = tape
        try:
            result = self.fn(*args, **kwargs)
            tape.record_outputs(result)
        finally:
            Tensor._tape = None
        self.stats["recorded"] += 1
        if tape.problem is not None:
            raise _with_result(TraceError(f"compile: {tape.problem}"), result)
        return tape, result

    def __call__(self, *args, **kwargs):
        last = self._last
        if last is not None and not kwargs and len(args) == len(last[0]):
            # the common case, a loop calling the step on same-shaped arrays: skip building the signature
            for a, (shape, dtype) in zip(args, last[0]):
                if type(a) is not np.ndarray or a.shape != shape or a.dtype != dtype:
                    break
            else:
                self.stats["replayed"] += 1
                return last[1].replay(args)
        if self.fallback_reason is not None:
            self.stats["eager"] += 1
            return self.fn(*args, **kwargs)
        if not self.fallback:
            return self._call(args, kwargs)
        try:
            return self._call(args, kwargs)
        except TraceError as e:  # raised only after a complete eager call: its result stands
            self.fallback_reason = str(e)
            self._tapes.clear()
            self._last = None
            return e.result

    def _call(self, args, kwargs):
        key, arrays = self._signature(args, kwargs)
        entry = self._tapes.get(key)
        if entry is None:
            if self._tapes and self.on_new_shape == "raise":
                raise TraceError(
                    f"compile: the step was recorded for other argument shapes/dtypes; got {key} "
                    "(on_new_shape='raise')"
                )
            tape, result = self._record(args, kwargs, arrays)
            self._tapes[key] = [tape, None, False]
            return result
        first, tape, checked = entry
        if tape is None:  # second call: record again, the two must agree
            second, result = self._record(args, kwargs, arrays)
            try:
                _agree(first, second)
            except TraceError as e:
                raise _with_result(e, result) from None
            second.finish()
            entry[0], entry[1], entry[2] = None, second, not self.check
            return result
        if not checked:
            entry[2] = True
            self.stats["checked"] += 1
            return self._replay_checked(tape, args, kwargs, arrays)
        self.stats["replayed"] += 1
        if not kwargs and len(arrays) == len(args) and all(type(a) is np.ndarray for a in args):
            self._last = (tuple((a.shape, a.dtype) for a in arrays), tape)
        return tape.replay(arrays)

    def _replay_checked(self, tape, args, kwargs, arrays):
        holders = tape.state_holders()
        owners = holders[1]
        for obj in self.watch:  # objects (models) whose attributes the step may change
            for m in obj.modules() if hasattr(obj, "modules") else (obj,):
                if all(m is not o for o in owners):
                    owners.append(m)
        before = _snapshot(holders)
        eager = self.fn(*args, **kwargs)
        out_eager = _flat_outputs(eager)
        after_eager = _snapshot(holders)
        _restore(holders, before)
        replayed = tape.replay(arrays)
        out_replay = _flat_outputs(replayed)
        diff = _first_difference(holders, after_eager, _snapshot(holders), out_eager, out_replay)
        if diff is not None:
            _restore(holders, after_eager)
            raise _with_result(
                TraceError(
                    f"compile: the replayed step differs from the eager one in {diff}: the step changes "
                    "state outside the ops and effects the tape records (e.g. a NumPy update of a "
                    "parameter or buffer); make it a recorded_effect or keep it outside the compiled function"
                ),
                eager,
            )
        return replayed


def _with_result(error: TraceError, result) -> TraceError:
    error.result = result  # the eager call's result, which stands (fallback=True returns it)
    return error


def compile(fn=None, *, check: bool = True, on_new_shape: str = "retrace", watch=(), fallback: bool = False):
    """Record `fn` (a training or evaluation step taking arrays) and replay it; usable as a decorator
    with or without arguments.  See the module docstring for what is recorded and checked.

    `check`: run the third call both ways and require identical results; `on_new_shape`: "retrace" or
    "raise" for arguments of other shapes/dtypes; `watch`: objects (a model) whose attributes the check
    also compares, so a step that changes a Python attribute is caught; `fallback`: instead of raising
    TraceError, go back to eager mode for good (`.fallback_reason` says why) — safe, because every
    TraceError comes after a complete eager call whose result is returned."""
    options = dict(check=check, on_new_shape=on_new_shape, watch=watch, fallback=fallback)
    if fn is None:
        return lambda f: CompiledStep(f, **options)
    return CompiledStep(fn, **options)


_unbroadcast = None  # function.unbroadcast, set by refimpl/autograd/__init__.py
