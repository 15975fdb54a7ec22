r"""Learning-rate schedules with PyTorch's names and step semantics, computed in closed form.

Usage is torch's: build the scheduler after the optimizer (this sets every group's lr to the value
for step 0), then per iteration ``optimizer.step(); scheduler.step()``.  ``scheduler.last_epoch`` is
the number of ``scheduler.step()`` calls so far (:math:`e`), ``get_last_lr()`` the lrs now in the
groups.  The base rate :math:`\eta_0` of a group is its lr when the first scheduler was built (kept in
``group["initial_lr"]``).

Every schedule here is a closed form :math:`\eta(e)` of the base rate (torch updates most of them
recursively from the current lr; the values agree to rounding):

* `LambdaLR`:          :math:`\eta(e) = \eta_0\,\lambda(e)`
* `StepLR`:            :math:`\eta(e) = \eta_0\,\gamma^{\lfloor e / s \rfloor}`
* `MultiStepLR`:       :math:`\eta(e) = \eta_0\,\gamma^{\#\{m_i \le e\}}`
* `ExponentialLR`:     :math:`\eta(e) = \eta_0\,\gamma^{e}`
* `LinearLR`:          :math:`\eta(e) = \eta_0\,\big(f_s + (f_e - f_s)\min(e, T)/T\big)`
* `CosineAnnealingLR`: :math:`\eta(e) = \eta_{min} + \tfrac12(\eta_0 - \eta_{min})(1 + \cos(\pi e / T_{max}))`
  (periodic with period :math:`2T_{max}`, like torch's: past :math:`T_{max}` it rises again)
* `SequentialLR`:      scheduler :math:`k` runs from milestone :math:`M_{k-1}` on, restarted at 0:
  :math:`\eta(e) = \eta_k(e - M_{k-1})` for :math:`M_{k-1} \le e < M_k`
* `warmup_cosine(opt, warmup, total)`: `LinearLR` from ``start_factor`` (default 0) to 1 over
  ``warmup`` steps, then `CosineAnnealingLR` to ``eta_min`` over ``total - warmup`` steps.

Because each lr is a function of :math:`e` and the base rate only, the schedules do not compound:
two schedulers on one optimizer overwrite each other (use `SequentialLR` or `LambdaLR` instead of
torch's ChainedScheduler), and an lr set by hand is replaced at the next ``step()``.  Unlike torch,
`LinearLR` accepts ``start_factor = 0`` (a warm-up from 0 is well defined in closed form).
"""

from __future__ import annotations

import math
import numbers
from bisect import bisect_right

from ..autograd.trace import recorded_effect
from .optimizer import Optimizer

__all__ = [
    "LRScheduler",
    "LambdaLR",
    "StepLR",
    "MultiStepLR",
    "ExponentialLR",
    "LinearLR",
    "CosineAnnealingLR",
    "SequentialLR",
    "warmup_cosine",
]


def _int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _float(name: str, value, minimum: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


class LRScheduler:
    """Base class: subclasses define `lr_at(epoch) -> list[float]` (one lr per group)."""

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"optimizer must be a refimpl.optim.Optimizer, got {type(optimizer).__name__}")
        self.optimizer = optimizer
        last_epoch = _int("last_epoch", last_epoch, -1)
        for i, group in enumerate(optimizer.param_groups):
            if last_epoch == -1:
                group.setdefault("initial_lr", group["lr"])
            elif "initial_lr" not in group:
                raise KeyError(
                    f"param_groups[{i}] has no 'initial_lr': resuming with last_epoch={last_epoch} needs "
                    "an optimizer restored from a state_dict saved while a scheduler was attached"
                )
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self.step()

    def lr_at(self, epoch: int) -> list[float]:
        """The closed-form learning rate of every group after `epoch` scheduler steps."""
        raise NotImplementedError

    def get_lr(self) -> list[float]:
        """The learning rates for the current ``last_epoch`` (use `get_last_lr` to read them)."""
        return self.lr_at(self.last_epoch)

    def get_last_lr(self) -> list[float]:
        """The learning rates the last `step` wrote into the optimizer's groups."""
        return list(self._last_lr)

    @recorded_effect
    def step(self) -> None:
        """Advance one step: ``last_epoch += 1`` and write the new lrs into the groups."""
        self.last_epoch += 1
        self._apply(self.get_lr())

    def _apply(self, lrs: list[float]) -> None:
        for group, lr in zip(self.optimizer.param_groups, lrs, strict=True):
            group["lr"] = lr
        self._last_lr = list(lrs)

    def state_dict(self) -> dict:
        """Every attribute except the optimizer (and, in LambdaLR, the functions)."""
        return {
            k: (list(v) if isinstance(v, list) else v) for k, v in self.__dict__.items() if k != "optimizer"
        }

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore attributes saved by `state_dict` (the optimizer's lrs come from its own state_dict)."""
        self.__dict__.update(state_dict)

    def __repr__(self):
        return f"{type(self).__name__}(last_epoch={self.last_epoch}, lr={self.get_last_lr()})"


class LambdaLR(LRScheduler):
    """lr = base_lr · lr_lambda(epoch); ``lr_lambda`` is a function or a list, one per group."""

    def __init__(self, optimizer: Optimizer, lr_lambda, last_epoch: int = -1):
        n = len(optimizer.param_groups)
        if isinstance(lr_lambda, (list, tuple)):
            if len(lr_lambda) != n:
                raise ValueError(f"lr_lambda: expected {n} functions (one per group), got {len(lr_lambda)}")
            self.lr_lambdas = list(lr_lambda)
        else:
            self.lr_lambdas = [lr_lambda] * n
        for i, f in enumerate(self.lr_lambdas):
            if not callable(f):
                raise TypeError(f"lr_lambda[{i}] must be callable, got {type(f).__name__}")
        super().__init__(optimizer, last_epoch)

    def lr_at(self, epoch):
        return [base * f(epoch) for base, f in zip(self.base_lrs, self.lr_lambdas)]

    def state_dict(self) -> dict:
        d = super().state_dict()
        d.pop("lr_lambdas")
        return d


class StepLR(LRScheduler):
    """lr = base_lr · gamma^(epoch // step_size)."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1):
        self.step_size = _int("step_size", step_size, 1)
        self.gamma = _float("gamma", gamma, 0.0)
        super().__init__(optimizer, last_epoch)

    def lr_at(self, epoch):
        return [base * self.gamma ** (epoch // self.step_size) for base in self.base_lrs]


class MultiStepLR(LRScheduler):
    """lr = base_lr · gamma^(number of milestones ≤ epoch)."""

    def __init__(self, optimizer: Optimizer, milestones, gamma: float = 0.1, last_epoch: int = -1):
        ms = [_int(f"milestones[{i}]", m, 0) for i, m in enumerate(milestones)]
        self.milestones = sorted(ms)
        self.gamma = _float("gamma", gamma, 0.0)
        super().__init__(optimizer, last_epoch)

    def lr_at(self, epoch):
        return [base * self.gamma ** bisect_right(self.milestones, epoch) for base in self.base_lrs]


class ExponentialLR(LRScheduler):
    """lr = base_lr · gamma^epoch."""

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1):
        self.gamma = _float("gamma", gamma, 0.0)
        super().__init__(optimizer, last_epoch)

    def lr_at(self, epoch):
        return [base * self.gamma**epoch for base in self.base_lrs]


class LinearLR(LRScheduler):
    """lr = base_lr · (start_factor + (end_factor − start_factor) · min(epoch, total_iters)/total_iters)."""

    def __init__(
        self,
        optimizer: Optimizer,
        start_factor: float = 1.0 / 3,
        end_factor: float = 1.0,
        total_iters: int = 5,
        last_epoch: int = -1,
    ):
        self.start_factor = _float("start_factor", start_factor, 0.0)
        self.end_factor = _float("end_factor", end_factor, 0.0)
        self.total_iters = _int("total_iters", total_iters, 1)
        super().__init__(optimizer, last_epoch)

    def lr_at(self, epoch):
        frac = min(epoch, self.total_iters) / self.total_iters
        factor = self.start_factor + (self.end_factor - self.start_factor) * frac
        return [base * factor for base in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    """lr = eta_min + (base_lr − eta_min)(1 + cos(π·epoch/T_max))/2 (SGDR without restarts)."""

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1):
        self.T_max = _int("T_max", T_max, 1)
        self.eta_min = _float("eta_min", eta_min, 0.0)
        super().__init__(optimizer, last_epoch)

    def lr_at(self, epoch):
        c = (1.0 + math.cos(math.pi * epoch / self.T_max)) / 2.0
        return [self.eta_min + (base - self.eta_min) * c for base in self.base_lrs]


class SequentialLR(LRScheduler):
    """Run ``schedulers[k]`` from ``milestones[k-1]`` on, each restarted at its own step 0.

    All schedulers must belong to ``optimizer``; ``len(milestones) == len(schedulers) - 1``, strictly
    increasing and ≥ 1.  Matches ``torch.optim.lr_scheduler.SequentialLR``.
    """

    def __init__(self, optimizer: Optimizer, schedulers, milestones, last_epoch: int = -1):
        schedulers = list(schedulers)
        milestones = [_int(f"milestones[{i}]", m, 1) for i, m in enumerate(milestones)]
        if not schedulers:
            raise ValueError("schedulers must hold at least one scheduler, got none")
        for i, s in enumerate(schedulers):
            if not isinstance(s, LRScheduler) or isinstance(s, SequentialLR):
                raise TypeError(
                    f"schedulers[{i}] must be a (non-sequential) LRScheduler, got {type(s).__name__}"
                )
            if s.optimizer is not optimizer:
                raise ValueError(f"schedulers[{i}] belongs to a different optimizer than `optimizer`")
        if len(milestones) != len(schedulers) - 1:
            raise ValueError(
                f"milestones must have len(schedulers) - 1 = {len(schedulers) - 1} entries, "
                f"got {len(milestones)}"
            )
        if any(b <= a for a, b in zip(milestones, milestones[1:])):
            raise ValueError(f"milestones must be strictly increasing, got {milestones}")
        self._schedulers = schedulers
        self._milestones = milestones
        super().__init__(optimizer, last_epoch)

    def _locate(self, epoch: int):
        """(the scheduler in charge at `epoch`, its own step count there)."""
        k = bisect_right(self._milestones, epoch)
        return self._schedulers[k], epoch - (self._milestones[k - 1] if k > 0 else 0)

    def lr_at(self, epoch):
        sched, local = self._locate(epoch)
        return sched.lr_at(local)

    @recorded_effect
    def step(self) -> None:
        self.last_epoch += 1
        sched, local = self._locate(self.last_epoch)
        sched.last_epoch = local  # keep the sub-scheduler's own count in step (for its state_dict)
        lrs = sched.lr_at(local)
        sched._last_lr = list(lrs)
        self._apply(lrs)

    def state_dict(self) -> dict:
        d = super().state_dict()
        d["_schedulers"] = [s.state_dict() for s in self._schedulers]
        return d

    def load_state_dict(self, state_dict: dict) -> None:
        state_dict = dict(state_dict)
        subs = state_dict.pop("_schedulers")
        super().load_state_dict(state_dict)
        for s, sd in zip(self._schedulers, subs, strict=True):
            s.load_state_dict(sd)


def warmup_cosine(
    optimizer: Optimizer,
    warmup: int,
    total: int,
    eta_min: float = 0.0,
    start_factor: float = 0.0,
) -> LRScheduler:
    r"""Linear warm-up then cosine decay: the usual transformer schedule.

    .. math::

        \eta(e) = \begin{cases}
            \eta_0\,(f_s + (1 - f_s)\, e / W) & e < W \\
            \eta_{min} + \tfrac12(\eta_0 - \eta_{min})(1 + \cos(\pi (e - W)/(N - W))) & W \le e \le N
        \end{cases}

    with W = ``warmup``, N = ``total`` (call ``scheduler.step()`` once per optimizer step; the lr of
    the last of N optimizer steps is η(N−1)).  With the defaults (start_factor 0, eta_min 0) this is
    the common "cosine schedule with warm-up" (lr 0 at step 0).  ``warmup=0`` gives a pure cosine.
    """
    warmup = _int("warmup", warmup, 0)
    total = _int("total", total, 1)
    if total <= warmup:
        raise ValueError(f"total must be > warmup, got total={total}, warmup={warmup}")
    cosine = CosineAnnealingLR(optimizer, T_max=total - warmup, eta_min=eta_min)
    if warmup == 0:
        return cosine
    linear = LinearLR(optimizer, start_factor=start_factor, end_factor=1.0, total_iters=warmup)
    return SequentialLR(optimizer, [linear, cosine], milestones=[warmup])
