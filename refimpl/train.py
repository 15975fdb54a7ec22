"""A small training loop with hooks: `fit`, `train_step`, `evaluate`, `predict`.

Techniques plug into the loop through callbacks instead of copying it.  A callback is any object with
some of these methods (each receives the mutable `TrainState`):

    on_train_begin, on_epoch_begin, on_batch_begin,
    after_backward   — gradients are in p.grad: clip, mask or replace them here (masks, SAM, ...)
    on_step_end      — after optimizer.step(): re-apply masks, prune, regrow, average ...
    on_epoch_end, on_train_end

Set `state.stop = True` to end training early.

Per-example weights: `fit(..., sample_weight=w)` with w aligned with the training arrays weighs each
minibatch's loss as Σ wᵢℓᵢ / Σ wᵢ (`weight_norm="sum"`) or Σ wᵢℓᵢ / B (`"count"`, B the batch size); see
`batch_weights`.  `state.indices` holds the training-set indices of the current minibatch (None for a
DataLoader), and a callback may replace `state.sample_weight` in `on_epoch_begin` to reweight per epoch.
"""

from __future__ import annotations

import dataclasses
import functools
import sys
from collections import defaultdict
from collections.abc import Iterator

import numpy as np

from .autograd.tensor import Tensor, gc_paused, no_grad
from .data import batches

__all__ = [
    "fit",
    "train_step",
    "evaluate",
    "predict",
    "History",
    "TrainState",
    "LambdaCallback",
    "progress_bar",
    "batch_weights",
    "weighted_loss",
]

_HOOKS = (
    "on_train_begin",
    "on_epoch_begin",
    "on_batch_begin",
    "after_backward",
    "on_step_end",
    "on_epoch_end",
    "on_train_end",
)


class History(defaultdict):
    """name → list of values (per epoch, or per step for names starting with 'step_')."""

    def __init__(self):
        super().__init__(list)

    def last(self, name: str):
        return self[name][-1]


@dataclasses.dataclass
class TrainState:
    model: object
    optimizer: object
    history: History
    epoch: int = 0
    step: int = 0
    x: object = None
    y: object = None
    output: object = None
    loss: object = None
    stop: bool = False
    indices: object = None  # training-set indices of the minibatch (array data only)
    sample_weight: object = None  # per-example weights of the whole training set (fit(sample_weight=))


class LambdaCallback:
    """A callback from plain functions: `LambdaCallback(on_step_end=lambda s: ...)`."""

    def __init__(self, **hooks):
        unknown = set(hooks) - set(_HOOKS)
        if unknown:
            raise ValueError(f"LambdaCallback: unknown hooks {sorted(unknown)}; known: {_HOOKS}")
        for name, fn in hooks.items():
            setattr(self, name, fn)


def _call(callbacks, hook, state):
    for cb in callbacks:
        fn = getattr(cb, hook, None)
        if fn is not None:
            fn(state)


def progress_bar(iterable, total=None, desc=None, enabled=True):
    """tqdm when enabled and stderr is a terminal (or a notebook); the bare iterable otherwise."""
    if not enabled or not (sys.stderr.isatty() or "ipykernel" in sys.modules):
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, leave=False)


def _as_tensor(x):
    return x if isinstance(x, Tensor) else Tensor(np.asarray(x))


def train_step(model, loss_fn, x, y, optimizer, callbacks=(), state=None) -> float:
    """One step: forward, loss, backward, (after_backward hooks), optimizer.step(), (on_step_end hooks).
    The graph is built with the garbage collector paused (`refimpl.autograd.gc_paused`)."""
    optimizer.zero_grad()
    with gc_paused():
        out = model(_as_tensor(x))
        loss = loss_fn(out, y)
        loss.backward()
    if state is not None:
        state.output, state.loss = out, loss
        _call(callbacks, "after_backward", state)
    optimizer.step()
    if state is not None:
        _call(callbacks, "on_step_end", state)
    return float(loss.data)


def _is_array_pair(data) -> bool:
    return (
        isinstance(data, (tuple, list))
        and len(data) == 2
        and all(isinstance(a, (np.ndarray, list, Tensor)) for a in data)
    )


def _batches_of(data, batch_size, seed, epoch):
    """(x, y, indices) minibatches of epoch `epoch` from an (x, y) pair (arrays, lists or Tensors; indices
    into the training set) or a re-iterable such as a `DataLoader` (indices None) — the forms `fit`
    accepts; `_check_data` rejects the rest before training starts.  The index array rides along in
    `batches` as a third aligned array, so the shuffle (a permutation of n) is the one without it."""
    if _is_array_pair(data):
        x, y = (_as_array(a) for a in data)
        return batches(x, y, np.arange(len(x)), batch_size=batch_size, shuffle=True, seed=seed, epoch=epoch)
    return ((xb, yb, None) for xb, yb in data)


def batch_weights(w, norm: str = "sum", dtype=np.float32) -> np.ndarray:
    """The coefficients cᵢ of a minibatch's weighted loss Σ cᵢℓᵢ from its raw weights wᵢ ≥ 0:
    cᵢ = wᵢ / Σⱼ wⱼ (`norm="sum"`: a weighted mean, invariant to the weights' scale; an all-zero batch
    gets cᵢ = 0, a zero gradient) or cᵢ = wᵢ / B (`norm="count"`: the mean of wᵢℓᵢ, where the weights'
    scale acts as a learning-rate factor).  Computed in NumPy outside the step (a step argument)."""
    w = np.asarray(w, dtype=np.float64)
    if norm == "sum":
        total = w.sum()
        c = w / total if total > 0 else np.zeros_like(w)
    elif norm == "count":
        c = w / max(len(w), 1)
    else:
        raise ValueError(f"fit: `weight_norm` must be 'sum' or 'count', got {norm!r}")
    return c.astype(dtype)


def weighted_loss(loss_fn, output, target, coef):
    """Σᵢ cᵢ ℓᵢ with ℓ = loss_fn(output, target, reduction="none") (averaged over any trailing axes, so
    cᵢ = 1/B gives back the "mean" loss) and `coef` an array or Tensor of shape (B,)."""
    try:
        per = loss_fn(output, target, reduction="none")
    except TypeError as e:
        raise TypeError(
            "fit: with `sample_weight`, `loss_fn` must accept reduction='none' (per-example losses), "
            f"as refimpl.nn.functional.cross_entropy does: {e}"
        ) from None
    if per.ndim > 1:
        per = per.reshape((per.shape[0], -1)).mean(axis=1)
    return (per * (coef if isinstance(coef, Tensor) else Tensor(coef))).sum()


def _check_sample_weight(w, n: int, name: str = "sample_weight") -> np.ndarray:
    w = np.asarray(w)
    if w.shape != (n,):
        raise ValueError(
            f"fit: `{name}` must have shape ({n},) (one weight per training example), got {w.shape}"
        )
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError(f"fit: `{name}` must be finite and ≥ 0")
    return w


def _as_array(a):
    """An array from an ndarray, a Tensor or a list; lists of Python floats become float32, as `tensor`."""
    if isinstance(a, Tensor):
        return a.data
    arr = np.asarray(a)
    return arr.astype(np.float32) if isinstance(a, list) and arr.dtype == np.float64 else arr


def _check_data(data, epochs: int) -> None:
    if _is_array_pair(data):
        return
    if not hasattr(data, "__iter__"):  # (no iter() here: it would start an epoch of a DataLoader)
        raise TypeError(
            f"fit: `data` must be an (x, y) pair of arrays or an iterable of (x, y) batches such as a "
            f"DataLoader, got {type(data).__name__}"
        )
    if isinstance(data, Iterator) and epochs > 1:  # a generator: empty from the second epoch on
        raise ValueError(
            f"fit: `data` is a one-shot iterator ({type(data).__name__}) but epochs={epochs}; pass the (x, y) "
            "arrays or a DataLoader, which start a new pass every epoch"
        )


def fit(
    model,
    loss_fn,
    data,
    optimizer,
    epochs: int = 1,
    *,
    batch_size: int = 64,
    eval_data=None,
    callbacks=(),
    scheduler=None,
    seed: int = 0,
    progress: bool = True,
    clip_grad_norm=None,
    compile=False,
    sample_weight=None,
    weight_norm: str = "sum",
) -> History:
    """Train `model` for `epochs` passes over `data` and return the per-epoch History.

    `data` is an (x, y) pair of arrays, lists or Tensors (minibatched and reshuffled each epoch from
    `seed`) or a re-iterable of (x, y) batches such as a `DataLoader` (a one-shot generator is refused
    when epochs > 1); `loss_fn(output, target)` returns a scalar Tensor; `eval_data` = (x, y) is
    evaluated after every epoch ("val_loss", "val_accuracy"); `scheduler.step()` runs once per epoch.

    `compile=True` runs the training step through `refimpl.compile` (recorded once, then replayed;
    bit-identical to eager mode, see refimpl/autograd/trace.py): callbacks may not hook `after_backward`,
    and `state.output` is None in `on_step_end`.  `compile="auto"` does so only when no callback could
    notice, and goes back to eager mode if the step cannot be replayed (the experiment harness uses it
    for quick runs).

    `sample_weight` (array data only; shape (n,), ≥ 0) weighs each example's loss: a minibatch's loss is
    Σ cᵢ loss_fn(out, y, reduction="none")ᵢ with c = `batch_weights`(w[batch], `weight_norm`), which
    enters the step as an argument (so compiled and eager steps agree).  A callback may assign a new
    array to `state.sample_weight` in `on_epoch_begin`.  Without `sample_weight` nothing changes.
    """
    if epochs < 0:
        raise ValueError(f"fit: `epochs` must be ≥ 0, got {epochs}")
    if batch_size < 1:
        raise ValueError(f"fit: `batch_size` must be ≥ 1, got {batch_size}")
    _check_data(data, epochs)
    weighted = sample_weight is not None
    if weighted:
        if not _is_array_pair(data):
            raise ValueError("fit: `sample_weight` needs `data` as an (x, y) pair of arrays (to index it)")
        batch_weights([], weight_norm)  # validates weight_norm now
        sample_weight = _check_sample_weight(sample_weight, len(data[0]))
        wdtype = next((p.data.dtype for g in optimizer.param_groups for p in g["params"]), np.float32)
    callbacks = list(callbacks)
    step_fn = (
        _compiled_step(model, loss_fn, optimizer, callbacks, clip_grad_norm, compile, weighted)
        if compile
        else None
    )
    if clip_grad_norm is not None and step_fn is None:
        from .optim import clip_grad_norm_

        params = [p for g in optimizer.param_groups for p in g["params"]]
        callbacks.insert(0, LambdaCallback(after_backward=lambda s: clip_grad_norm_(params, clip_grad_norm)))
    history = History()
    state = TrainState(model=model, optimizer=optimizer, history=history, sample_weight=sample_weight)
    model.train()
    _call(callbacks, "on_train_begin", state)
    for epoch in progress_bar(range(epochs), total=epochs, desc="epochs", enabled=progress):
        state.epoch = epoch
        _call(callbacks, "on_epoch_begin", state)
        if weighted:
            state.sample_weight = _check_sample_weight(
                state.sample_weight, len(data[0]), "state.sample_weight"
            )
        losses = []
        for xb, yb, idx in _batches_of(data, batch_size, seed, epoch):
            state.x, state.y, state.indices = xb, yb, idx
            _call(callbacks, "on_batch_begin", state)
            args = [xb, yb]
            if weighted:
                args.append(batch_weights(state.sample_weight[idx], weight_norm, wdtype))
            if step_fn is None:
                lf = loss_fn if not weighted else functools.partial(weighted_loss, loss_fn, coef=args[2])
                loss = train_step(model, lf, xb, yb, optimizer, callbacks, state)
            else:
                state.loss = step_fn(*(a.data if isinstance(a, Tensor) else np.asarray(a) for a in args))
                loss = float(state.loss.data)
                _call(callbacks, "on_step_end", state)
            if not np.isfinite(loss):
                raise FloatingPointError(f"fit: the loss became {loss} at epoch {epoch}, step {state.step}")
            losses.append(loss)
            history["step_loss"].append(loss)
            state.step += 1
            if state.stop:
                break
        history["epoch"].append(epoch)
        history["loss"].append(float(np.mean(losses)) if losses else float("nan"))
        if scheduler is not None:
            scheduler.step()
        if eval_data is not None:
            ev = evaluate(model, eval_data[0], eval_data[1], loss_fn=loss_fn)
            history["val_loss"].append(ev["loss"])
            history["val_accuracy"].append(ev["accuracy"])
        _call(callbacks, "on_epoch_end", state)
        if state.stop:
            break
    _call(callbacks, "on_train_end", state)
    return history


def _compiled_step(model, loss_fn, optimizer, callbacks, clip_grad_norm, mode, weighted=False):
    """The training step of `fit` under refimpl.compile, or None ("auto" and a callback could notice)."""
    if mode not in (True, "auto"):
        raise ValueError(f"fit: `compile` must be False, True or 'auto', got {mode!r}")
    from .autograd.trace import compile as compile_step
    from .experiments.training import LinearWarmup

    hooked = [type(cb).__name__ for cb in callbacks if getattr(cb, "after_backward", None) is not None]
    if mode == "auto" and (
        hooked
        or any(getattr(cb, "on_step_end", None) and not isinstance(cb, LinearWarmup) for cb in callbacks)
    ):
        return None
    if hooked:
        raise ValueError(f"fit: compile=True cannot run after_backward callbacks ({', '.join(hooked)})")
    params = [p for g in optimizer.param_groups for p in g["params"]]

    def step(x, y, *coef):  # coef: the minibatch's loss coefficients (fit(sample_weight=)), an argument
        optimizer.zero_grad()
        out = model(Tensor(x))
        loss = weighted_loss(loss_fn, out, y, coef[0]) if weighted else loss_fn(out, y)
        loss.backward()
        if clip_grad_norm is not None:
            from .optim import clip_grad_norm_

            clip_grad_norm_(params, clip_grad_norm)
        optimizer.step()
        return loss

    return compile_step(step, watch=(model,), fallback=mode == "auto")


def predict(model, x, batch_size: int = 1024) -> np.ndarray:
    """model(x) in eval mode without a graph, batched; restores the previous mode."""
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            outs = [
                model(Tensor(np.asarray(x[i : i + batch_size]))).data for i in range(0, len(x), batch_size)
            ]
    finally:
        model.train(was_training)
    return np.concatenate(outs, axis=0)


def evaluate(model, x, y, loss_fn=None, batch_size: int = 1024) -> dict:
    """{"loss", "accuracy"} of a classifier (accuracy = argmax over the last axis equals y)."""
    logits = predict(model, x, batch_size)
    y = np.asarray(y)
    result = {
        "accuracy": float(np.mean(np.argmax(logits, axis=-1) == y)) if y.dtype.kind in "iu" else float("nan")
    }
    if loss_fn is not None:
        with no_grad():
            result["loss"] = float(loss_fn(Tensor(logits), y).data)
    else:
        result["loss"] = float("nan")
    return result
