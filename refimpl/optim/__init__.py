"""Optimizers, learning-rate schedules and gradient clipping, with PyTorch's names and update rules.

* `Optimizer` — base class: parameter groups, per-parameter state, ``zero_grad``, ``state_dict`` /
  ``load_state_dict``, ``add_param_group``, ``register_step_post_hook`` and ``mask_`` (for sparsity
  techniques that keep pruned weights and their state at zero).
* `SGD` (momentum, dampening, Nesterov, weight decay, maximize), `Adam` (AMSGrad, L2 or decoupled
  decay), `AdamW` — each module docstring gives its update rule; the rules match torch.optim's step for
  step (tests/xcheck/test_xcheck_optim.py checks this to 1e-12 in float64).
* `lr_scheduler` — `LambdaLR`, `StepLR`, `MultiStepLR`, `ExponentialLR`, `LinearLR`,
  `CosineAnnealingLR`, `SequentialLR`, `warmup_cosine`.
* `clip_grad_norm_`, `clip_grad_value_`.

Typical loop::

    opt = refimpl.optim.AdamW(model.parameters(), lr=3e-3)
    sched = refimpl.optim.warmup_cosine(opt, warmup=100, total=2000)
    for x, y in batches:
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        refimpl.optim.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
"""

from . import lr_scheduler
from .adam import Adam, AdamW
from .clip import clip_grad_norm_, clip_grad_value_
from .lr_scheduler import (
    CosineAnnealingLR,
    ExponentialLR,
    LambdaLR,
    LinearLR,
    LRScheduler,
    MultiStepLR,
    SequentialLR,
    StepLR,
    warmup_cosine,
)
from .optimizer import Optimizer
from .sgd import SGD

__all__ = [
    "Optimizer",
    "SGD",
    "Adam",
    "AdamW",
    "lr_scheduler",
    "LRScheduler",
    "LambdaLR",
    "StepLR",
    "MultiStepLR",
    "ExponentialLR",
    "LinearLR",
    "CosineAnnealingLR",
    "SequentialLR",
    "warmup_cosine",
    "clip_grad_norm_",
    "clip_grad_value_",
]
