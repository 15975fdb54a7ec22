r"""Gradient clipping, in place, with PyTorch's formulas.

`clip_grad_norm_` rescales all gradients together by one factor so that their *global* norm (the norm
of all gradients concatenated into one vector) is at most ``max_norm``:

.. math::

    \|g\|_p = \Big\| \big(\|g_1\|_p, \dots, \|g_k\|_p\big) \Big\|_p, \qquad
    c = \min\!\Big(1, \frac{\text{max\_norm}}{\|g\|_p + 10^{-6}}\Big), \qquad g_i \leftarrow c\, g_i

(:math:`p = \infty`: the largest absolute entry).  The :math:`10^{-6}` is torch's guard against a zero
norm; it also means a gradient whose norm is exactly ``max_norm`` is scaled by slightly less than 1.
Returns the norm *before* clipping, as torch does (useful to log).

`clip_grad_value_` clamps every gradient entry to ``[-clip_value, clip_value]``.
Parameters whose ``grad`` is None are skipped by both.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from ..autograd.tensor import Tensor
from ..autograd.trace import recorded_effect

__all__ = ["clip_grad_norm_", "clip_grad_value_"]


def _grads(parameters, name="parameters") -> list[np.ndarray]:
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    grads = []
    for i, p in enumerate(parameters):
        if not isinstance(p, Tensor):
            raise TypeError(f"{name}[{i}] must be a Parameter (a refimpl Tensor), got {type(p).__name__}")
        if p.grad is not None:  # (a Tensor after backward(create_graph=True): its array)
            grads.append(p.grad if isinstance(p.grad, np.ndarray) else p.grad.data)
    return grads


def _norm(g: np.ndarray, p: float) -> float:
    a = np.abs(g.ravel()).astype(np.float64, copy=False)
    if a.size == 0:
        return 0.0
    if p == math.inf:
        return float(a.max())
    if p == 2.0:
        return math.sqrt(float(np.dot(a, a)))
    if p == 1.0:
        return float(a.sum())
    return float(np.sum(a**p) ** (1.0 / p))


@recorded_effect
def clip_grad_norm_(
    parameters, max_norm: float, norm_type: float = 2.0, error_if_nonfinite: bool = False
) -> float:
    """Scale the gradients of ``parameters`` in place so their global ``norm_type``-norm is ≤ max_norm.

    Returns the global norm before clipping (a float; 0.0 if no parameter has a gradient).
    """
    if isinstance(max_norm, bool) or not isinstance(max_norm, numbers.Real) or not max_norm >= 0:
        raise ValueError(f"max_norm must be a real number >= 0, got {max_norm!r}")
    if isinstance(norm_type, bool) or not isinstance(norm_type, numbers.Real) or not norm_type > 0:
        raise ValueError(f"norm_type must be a real number > 0 or math.inf, got {norm_type!r}")
    norm_type = float(norm_type)
    grads = _grads(parameters)
    if not grads:
        return 0.0
    norms = np.array([_norm(g, norm_type) for g in grads])
    total = _norm(norms, norm_type)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(
            f"the total norm of order {norm_type} of the gradients is {total}; "
            "pass error_if_nonfinite=False to clip anyway"
        )
    coef = float(max_norm) / (total + 1e-6)
    if coef > 1.0:  # clamp; a NaN norm gives NaN gradients, as in torch
        coef = 1.0
    for g in grads:
        g *= coef
    return total


@recorded_effect
def clip_grad_value_(parameters, clip_value: float) -> None:
    """Clamp every gradient entry of ``parameters`` to [-clip_value, clip_value], in place."""
    if isinstance(clip_value, bool) or not isinstance(clip_value, numbers.Real) or not clip_value >= 0:
        raise ValueError(f"clip_value must be a real number >= 0, got {clip_value!r}")
    c = float(clip_value)
    for g in _grads(parameters):
        np.clip(g, -c, c, out=g)
