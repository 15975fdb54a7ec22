"""Training and evaluation for experiments, on `refimpl.train.fit` (no family writes its own loop)."""

from __future__ import annotations

import contextvars

import numpy as np

from ..nn import functional as F
from ..train import evaluate, fit
from .tasks import Task

__all__ = [
    "make_optimizer",
    "train",
    "split_metrics",
    "sequence_cross_entropy",
    "LinearWarmup",
    "COMPILE_STEPS",
]

# set by the experiment runner: quick runs replay recorded steps (refimpl.compile, fit(compile="auto"))
COMPILE_STEPS = contextvars.ContextVar("refimpl_compile_steps", default=False)


def make_optimizer(
    params, name: str = "adam", *, lr: float, weight_decay: float = 0.0, momentum: float = 0.9
):
    """Adam, AdamW or SGD (with momentum) over `params`; the experiment tunes `lr`."""
    from .. import optim

    params = list(params)
    if lr <= 0:
        raise ValueError(f"make_optimizer: `lr` must be > 0, got {lr}")
    if name == "adam":
        return optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    if name == "sgd":
        return optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    raise ValueError(f"make_optimizer: `name` must be 'adam', 'adamw' or 'sgd', got {name!r}")


def train(
    model,
    task: Task,
    *,
    lr: float | None = None,
    epochs: int,
    seed: int,
    batch_size: int = 64,
    optimizer="adam",
    weight_decay: float = 0.0,
    cosine: bool = False,
    warmup_steps: int = 0,
    loss_fn=None,
    callbacks=(),
    clip_grad_norm=None,
    params=None,
    x=None,
    y=None,
    sample_weight=None,
    weight_norm: str = "sum",
):
    """Train `model` on `task`'s training split (or on `x`, `y`) with `fit`; returns the History.

    `cosine=True` decays the learning rate to 0 over the epochs (judging at convergence);
    `clip_grad_norm` clips the global gradient norm after every backward; `params` restricts the
    optimised parameters (default: all of the model's). `optimizer` is a name for `make_optimizer`
    (then `lr` is required) or a ready Optimizer (its own param groups and rates; then `lr`, `params`
    and `weight_decay` must be left unset). `warmup_steps` > 0 scales every group's rate linearly by
    (step + 1)/warmup_steps over the first optimizer steps, on top of the cosine schedule.
    `sample_weight` (aligned with the training arrays) and `weight_norm` weigh each example's loss, as
    in `fit`."""
    from ..optim import Optimizer
    from ..optim.lr_scheduler import CosineAnnealingLR

    if isinstance(optimizer, Optimizer):
        if lr is not None or params is not None or weight_decay:
            raise ValueError("train: with a ready `optimizer`, leave `lr`, `params` and `weight_decay` unset")
        opt = optimizer
    else:
        if lr is None:
            raise ValueError(f"train: `lr` is required with optimizer={optimizer!r}")
        opt = make_optimizer(
            model.parameters() if params is None else params, optimizer, lr=lr, weight_decay=weight_decay
        )
    if warmup_steps < 0:
        raise ValueError(f"train: `warmup_steps` must be ≥ 0, got {warmup_steps}")
    callbacks = list(callbacks)
    if warmup_steps:
        callbacks.insert(0, LinearWarmup(warmup_steps))
    sched = CosineAnnealingLR(opt, T_max=max(epochs, 1)) if cosine else None
    data = (task.x_train if x is None else x, task.y_train if y is None else y)
    return fit(
        model,
        loss_fn or F.cross_entropy,
        data,
        opt,
        epochs=epochs,
        batch_size=batch_size,
        seed=seed,
        progress=False,
        callbacks=callbacks,
        scheduler=sched,
        clip_grad_norm=clip_grad_norm,
        compile="auto" if COMPILE_STEPS.get() else False,
        sample_weight=sample_weight,
        weight_norm=weight_norm,
    )


class LinearWarmup:
    """Scale each param group's rate by (step + 1)/steps during the first `steps` optimizer steps; the
    unscaled rate (whatever a scheduler set) is restored after every step, so schedules compose."""

    def __init__(self, steps: int):
        self.steps = int(steps)
        self._saved = None

    def on_batch_begin(self, state):
        if state.step < self.steps:
            groups = state.optimizer.param_groups
            self._saved = [g["lr"] for g in groups]
            for g, lr in zip(groups, self._saved):
                g["lr"] = lr * (state.step + 1) / self.steps

    def on_step_end(self, state):
        if self._saved is not None:
            for g, lr in zip(state.optimizer.param_groups, self._saved):
                g["lr"] = lr
            self._saved = None


def sequence_cross_entropy(logits, y):
    """Mean cross-entropy over every position of (N, L, V) logits against (N, L) integer targets: the loss of a
    causal language model trained with `train` on `tasks.char_lm_sequences`."""
    from ..autograd import ops
    from ..autograd.tensor import Tensor

    y = y.data if isinstance(y, Tensor) else np.asarray(y)
    return F.cross_entropy(ops.reshape(logits, (-1, logits.shape[-1])), y.reshape(-1).astype(np.int64))


def split_metrics(model, task: Task, splits=("val", "test")) -> dict:
    """{"<split>_accuracy", "<split>_loss"} of a classifier on the named splits of `task`."""
    out = {}
    for s in splits:
        x, y = getattr(task, f"x_{s}"), getattr(task, f"y_{s}")
        ev = evaluate(model, x, y, loss_fn=F.cross_entropy)
        out[f"{s}_accuracy"], out[f"{s}_loss"] = float(ev["accuracy"]), float(ev["loss"])
    return {k: v for k, v in out.items() if np.isfinite(v)}
