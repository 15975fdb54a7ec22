"""`Optimizer`: the base class of every optimizer in refimpl, with PyTorch's names and layout.

An optimizer holds

* ``param_groups`` — a list of dicts; each has ``"params"`` (a list of Parameters) and that group's
  hyperparameters (``"lr"``, ``"momentum"``, ...).  Groups let layers use different learning rates or
  weight decay, exactly as ``torch.optim`` does: pass a list of dicts instead of a list of Parameters,
  and any hyperparameter a dict leaves out takes the optimizer's default.
* ``state`` — a dict keyed by the Parameter object; ``state[p]`` is a small dict of what the update
  rule carries from step to step (``"momentum_buffer"``, ``"exp_avg"``, ``"exp_avg_sq"``, ``"step"``).

**State is per element.**  Every array in ``state[p]`` has ``p``'s shape, and entry ``[i]`` belongs to
weight ``p.data[i]`` alone.  A sparsity technique that keeps pruned weights at zero therefore zeroes the
same entries of the state too (otherwise momentum or Adam's first moment would push a pruned weight
away from zero on the next step).  `Optimizer.mask_` does both; `register_step_post_hook` runs it (or
anything else) after every step::

    opt.register_step_post_hook(lambda o: [o.mask_(p, m) for p, m in masks.items()])

Updates are written in place into ``p.data`` (the array object is kept, so views of it and references
held elsewhere stay valid) with NumPy ufuncs and ``out=``; temporaries come from a small per-shape
workspace, so a step allocates no parameter-sized arrays after the first.  ``p.grad`` is only read.

Learning rates: the project rejects ``lr <= 0`` when an optimizer or a group is created (PyTorch allows
``lr = 0``).  A scheduler may still drive ``group["lr"]`` to 0 later (a cosine to ``eta_min=0``, a
warm-up from 0); that is not checked at step time.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable

import numpy as np

from ..autograd.tensor import Tensor
from ..autograd.trace import recorded_effect

__all__ = ["Optimizer", "required"]


class _Required:
    """Sentinel for a hyperparameter without a default (SGD's lr)."""

    def __repr__(self):
        return "<required parameter>"


required = _Required()


class _HookHandle:
    """Returned by `register_step_post_hook`; `.remove()` unregisters the hook."""

    def __init__(self, hooks: dict, key: int):
        self._hooks = hooks
        self._key = key

    def remove(self) -> None:
        self._hooks.pop(self._key, None)


# --- hyperparameter checks shared by the optimizers ------------------------------------------------
def _real(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return value


def check_positive(name: str, value) -> float:
    value = _real(name, value)
    if value <= 0:
        raise ValueError(f"{name} must be > 0, got {value}")
    return value


def check_nonnegative(name: str, value) -> float:
    value = _real(name, value)
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return value


def check_unit_interval(name: str, value) -> float:
    """Check ``0 <= value < 1`` (a decay rate such as Adam's betas)."""
    value = _real(name, value)
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value}")
    return value


class Optimizer:
    """Base class: parameter groups, per-parameter state, `zero_grad`, `state_dict`, step hooks.

    Subclasses pass their defaults (a dict of hyperparameters) to ``__init__``, implement
    `_check_group(group)` (validate and normalise one group's hyperparameters, raising ValueError /
    TypeError that names the argument) and `_update(group)` (apply the rule to the group's
    parameters that have a gradient).  `step` calls `_update` for every group and then the post hooks.
    """

    def __init__(self, params, defaults: dict):
        self.defaults = dict(defaults)
        self.param_groups: list[dict] = []
        self.state: dict = {}
        self._step_post_hooks: dict = {}
        self._next_hook_id = 0
        self._workspace: dict = {}

        if isinstance(params, Tensor) or isinstance(params, dict):
            raise TypeError(
                "params must be an iterable of Parameters or of dicts (parameter groups), "
                f"got a single {type(params).__name__}; wrap it in a list"
            )
        if not isinstance(params, Iterable):
            raise TypeError(
                f"params must be an iterable of Parameters or of dicts, got {type(params).__name__}"
            )
        params = list(params)
        if len(params) == 0:
            raise ValueError("params is empty: the optimizer got no parameters to optimise")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        for group in groups:
            self.add_param_group(group)

    # --- groups --------------------------------------------------------------------------------
    def add_param_group(self, param_group: dict) -> None:
        """Append a parameter group (a dict with "params" and optional hyperparameters)."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, got {type(param_group).__name__}")
        if "params" not in param_group:
            raise ValueError("param_group must have a 'params' entry")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, (set, frozenset)):
            raise TypeError("param_group['params'] must be an ordered iterable (a list), not a set")
        else:
            params = list(params)
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(f"params[{i}] must be a Parameter (a refimpl Tensor), got {type(p).__name__}")
            if p.data.dtype.kind != "f":
                raise TypeError(f"params[{i}] must hold floating-point data, got dtype {p.data.dtype}")
        if len({id(p) for p in params}) != len(params):
            raise ValueError("param_group['params'] contains the same parameter more than once")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in params):
            raise ValueError("some parameters appear in more than one parameter group")

        group = {k: v for k, v in param_group.items() if k != "params"}
        for name, default in self.defaults.items():
            if name not in group:
                if default is required:
                    raise ValueError(f"parameter group didn't specify a value of required argument {name!r}")
                group[name] = default
        self._check_group(group)
        group["params"] = params
        self.param_groups.append(group)

    def _check_group(self, group: dict) -> None:
        """Validate (and normalise in place) one group's hyperparameters. Subclasses override."""

    # --- gradients -----------------------------------------------------------------------------
    @recorded_effect
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Drop every parameter's gradient (``grad = None``), or zero it in place if not set_to_none."""
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none:
                    p.grad = None
                elif type(p.grad) is np.ndarray:
                    p.grad.fill(0)
                elif p.grad is not None:  # a Tensor left by backward(create_graph=True)
                    p.grad = np.zeros_like(p.data)

    # --- the step ------------------------------------------------------------------------------
    @recorded_effect
    def step(self, closure=None):
        """Update every parameter that has a gradient; parameters with ``grad is None`` are skipped.

        ``closure`` (optional) re-evaluates the model and returns the loss (it should zero the
        gradients and call backward); its return value is returned.
        """
        loss = None
        if closure is not None:
            loss = closure()
        for group in self.param_groups:
            self._update(group)
        if self._step_post_hooks:
            for hook in list(self._step_post_hooks.values()):
                hook(self)
        return loss

    def _update(self, group: dict) -> None:
        raise NotImplementedError

    @staticmethod
    def _with_grads(group: dict):
        """(parameter, gradient, data) for every parameter of `group` that has a gradient."""
        for p in group["params"]:
            g = p.grad
            if g is None:
                continue
            if type(g) is not np.ndarray:  # a Tensor left by backward(create_graph=True)
                g = g.data
            x = p.data
            if g.shape != x.shape:
                raise ValueError(f"a parameter of shape {x.shape} has a gradient of shape {g.shape}")
            yield p, g, x

    def register_step_post_hook(self, hook) -> _HookHandle:
        """Call ``hook(optimizer)`` after every `step`; returns a handle whose ``.remove()`` unhooks it.

        The intended use is a sparsity mask that must keep pruned weights (and their optimizer state,
        see `mask_`) at zero.
        """
        if not callable(hook):
            raise TypeError(f"hook must be callable, got {type(hook).__name__}")
        key = self._next_hook_id
        self._next_hook_id += 1
        self._step_post_hooks[key] = hook
        return _HookHandle(self._step_post_hooks, key)

    @recorded_effect
    def mask_(self, param: Tensor, mask) -> None:
        """Multiply ``param.data`` and every per-element array of ``state[param]`` by ``mask`` in place.

        ``mask`` is broadcastable to the parameter (0/1 or bool).  Scalars in the state (the step
        count) are left alone.
        """
        mask = np.asarray(mask.data if isinstance(mask, Tensor) else mask)
        try:
            np.broadcast_shapes(mask.shape, param.data.shape)
        except ValueError:
            raise ValueError(
                f"mask must be broadcastable to the parameter's shape {param.data.shape}, got {mask.shape}"
            ) from None
        param.data *= mask
        for value in self.state.get(param, {}).values():
            if isinstance(value, np.ndarray) and value.shape == param.data.shape:
                value *= mask

    def _scratch(self, x: np.ndarray, k: int = 0) -> np.ndarray:
        """The k-th reusable temporary with x's shape and dtype (never part of the state)."""
        key = (x.shape, x.dtype, k)
        buf = self._workspace.get(key)
        if buf is None:
            buf = self._workspace[key] = np.empty(x.shape, dtype=x.dtype)
        return buf

    # --- saving and resuming -------------------------------------------------------------------
    def state_dict(self) -> dict:
        """``{"state": {index: {name: value}}, "param_groups": [{hyper..., "params": [index, ...]}]}``.

        As in torch, parameters are identified by their position across the groups (0, 1, ...), so
        the dict can be loaded into a new optimizer built over new Parameter objects in the same order.
        Arrays are copies.
        """
        index = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            packed["params"] = []
            for p in group["params"]:
                index.setdefault(id(p), len(index))
                packed["params"].append(index[id(p)])
            groups.append(packed)
        state = {}
        for group in self.param_groups:
            for p in group["params"]:
                if p in self.state:
                    state[index[id(p)]] = {
                        k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in self.state[p].items()
                    }
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore hyperparameters and state saved by `state_dict` (arrays are copied in).

        Raises ValueError when the number of groups, the number of parameters in a group, or the shape
        of a state array does not match this optimizer's parameters.
        """
        if not isinstance(state_dict, dict) or "param_groups" not in state_dict or "state" not in state_dict:
            raise ValueError(
                "state_dict must be a dict with 'state' and 'param_groups' (from Optimizer.state_dict())"
            )
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(
                f"state_dict has {len(saved_groups)} parameter groups, "
                f"this optimizer has {len(self.param_groups)}"
            )
        by_index = {}
        for gi, (saved, group) in enumerate(zip(saved_groups, self.param_groups)):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(
                    f"parameter group {gi}: state_dict has {len(saved['params'])} parameters, "
                    f"this optimizer has {len(group['params'])}"
                )
            for idx, p in zip(saved["params"], group["params"]):
                by_index[idx] = p
        new_state = {}
        for idx, pstate in state_dict["state"].items():
            if idx not in by_index:
                raise ValueError(f"state_dict has state for parameter index {idx}, which no group lists")
            p = by_index[idx]
            restored = {}
            for name, value in pstate.items():
                if isinstance(value, np.ndarray):
                    if value.shape != p.data.shape:
                        raise ValueError(
                            f"state {name!r} of parameter {idx} has shape {value.shape}, "
                            f"the parameter has shape {p.data.shape}"
                        )
                    value = value.astype(p.data.dtype, copy=True)
                restored[name] = value
            new_state[p] = restored
        for saved, group in zip(saved_groups, self.param_groups):
            params = group["params"]
            group.clear()
            group.update({k: v for k, v in saved.items() if k != "params"})
            group["params"] = params
        self.state = new_state

    # --- display -------------------------------------------------------------------------------
    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for k in sorted(group):
                if k != "params":
                    lines.append(f"    {k}: {group[k]}")
        lines.append(")")
        return "\n".join(lines)
