"""Training and evaluation for experiments, on `refimpl.train.fit` (no family writes its own loop)."""

from __future__ import annotations

import numpy as np

from ..nn import functional as F
from ..train import evaluate, fit
from .tasks import Task

__all__ = ["make_optimizer", "train", "split_metrics"]


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
    lr: float,
    epochs: int,
    seed: int,
    batch_size: int = 64,
    optimizer: str = "adam",
    weight_decay: float = 0.0,
    cosine: bool = False,
    loss_fn=None,
    callbacks=(),
    clip_grad_norm=None,
    params=None,
    x=None,
    y=None,
):
    """Train `model` on `task`'s training split (or on `x`, `y`) with `fit`; returns the History.

    `cosine=True` decays the learning rate to 0 over the epochs (judging at convergence);
    `clip_grad_norm` clips the global gradient norm after every backward; `params` restricts the
    optimised parameters (default: all of the model's)."""
    from ..optim.lr_scheduler import CosineAnnealingLR

    opt = make_optimizer(
        model.parameters() if params is None else params, optimizer, lr=lr, weight_decay=weight_decay
    )
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
        callbacks=list(callbacks),
        scheduler=sched,
        clip_grad_norm=clip_grad_norm,
    )


def split_metrics(model, task: Task, splits=("val", "test")) -> dict:
    """{"<split>_accuracy", "<split>_loss"} of a classifier on the named splits of `task`."""
    out = {}
    for s in splits:
        x, y = getattr(task, f"x_{s}"), getattr(task, f"y_{s}")
        ev = evaluate(model, x, y, loss_fn=F.cross_entropy)
        out[f"{s}_accuracy"], out[f"{s}_loss"] = float(ev["accuracy"]), float(ev["loss"])
    return {k: v for k, v in out.items() if np.isfinite(v)}
