"""Ready-made parametrizations (transforms for `refimpl.nn.parametrize.register_parametrization`)."""

from __future__ import annotations

import numpy as np

from ..autograd import ops
from .module import Module, Parameter
from .parametrize import register_parametrization

__all__ = ["WeightNorm", "weight_norm"]


def _norm_axes(ndim, dim):
    return tuple(a for a in range(ndim) if a != dim % ndim)


class WeightNorm(Module):
    """w = g · v / ‖v‖ with the norm over every axis but `dim` (Salimans & Kingma, 2016, arXiv 1602.07868, Eq. 2).

    θ = v is the parametrization's `original`; the magnitude g is this transform's own parameter,
    initialised to ‖w‖ so that registering it leaves the layer's weight unchanged.
    """

    def __init__(self, weight: np.ndarray, dim: int = 0):
        super().__init__()
        self.dim = dim
        axes = _norm_axes(weight.ndim, dim)
        self.g = Parameter(np.sqrt(np.sum(weight * weight, axis=axes, keepdims=True)).astype(weight.dtype))

    def forward(self, v):
        axes = _norm_axes(v.ndim, self.dim)
        norm = ops.sqrt(ops.sum(v * v, axis=axes, keepdims=True))
        return v * (self.g / norm)

    def right_inverse(self, w):
        return w


def weight_norm(module: Module, name: str = "weight", dim: int = 0) -> Module:
    """Reparameterize `module.<name>` as g · v/‖v‖ (like torch.nn.utils.parametrizations.weight_norm)."""
    return register_parametrization(module, name, WeightNorm(getattr(module, name).data, dim))
