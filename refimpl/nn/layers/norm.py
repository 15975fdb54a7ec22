"""Normalisation layers: `LayerNorm`, `BatchNorm1d`, `BatchNorm2d`, `GroupNorm`, `RMSNorm`.

All normalise with the biased variance, x̂ = (x − μ)/√(σ² + ε), then apply an optional affine
y = γ ⊙ x̂ + β (γ = 1, β = 0 at initialisation, as in PyTorch).  They differ only in the axes μ and
σ² are taken over: LayerNorm the trailing `normalized_shape`, BatchNorm every axis but the channel
axis 1, GroupNorm each group of channels (with its spatial axes) per sample.  RMSNorm divides by
√(mean(x²) + ε) without centring.

BatchNorm keeps running statistics as buffers (saved in the state dict, not learned):
    running_mean ← (1 − m) running_mean + m μ_B,    running_var ← (1 − m) running_var + m σ²_B · n/(n−1)
(the unbiased batch variance, as PyTorch does); with momentum=None, m = 1/num_batches_tracked (a
cumulative average).  Training uses the batch statistics, eval the running ones; with
track_running_stats=False there are no buffers and the batch statistics are used in both modes.
"""

from __future__ import annotations

import numpy as np

from .. import functional as F
from ..module import Module, Parameter

__all__ = ["LayerNorm", "BatchNorm1d", "BatchNorm2d", "GroupNorm", "RMSNorm"]


def _shape(normalized_shape, cls):
    shape = (
        (int(normalized_shape),)
        if isinstance(normalized_shape, (int, np.integer))
        else tuple(int(s) for s in normalized_shape)
    )
    if not shape or any(s < 1 for s in shape):
        raise ValueError(
            f"{cls}: `normalized_shape` must be a positive int or a tuple of them, got {normalized_shape!r}"
        )
    return shape


class LayerNorm(Module):
    """Normalise over the trailing dimensions `normalized_shape` of each sample."""

    def __init__(
        self,
        normalized_shape,
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
        dtype=np.float32,
        rng=None,
    ):
        super().__init__()
        self.normalized_shape = _shape(normalized_shape, "LayerNorm")
        self.eps = float(eps)
        self.elementwise_affine = elementwise_affine
        self.weight = Parameter(np.ones(self.normalized_shape, dtype=dtype)) if elementwise_affine else None
        self.bias = (
            Parameter(np.zeros(self.normalized_shape, dtype=dtype)) if elementwise_affine and bias else None
        )

    def forward(self, x):
        k = len(self.normalized_shape)
        if tuple(x.shape[-k:]) != self.normalized_shape:
            raise ValueError(
                f"LayerNorm: expected input whose last dimensions are "
                f"normalized_shape={self.normalized_shape}, "
                f"got shape {tuple(x.shape)}"
            )
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


class RMSNorm(Module):
    """y = x / √(mean(x²) + ε) ⊙ γ over the trailing `normalized_shape` (ε=None → the dtype's machine
    epsilon, as PyTorch's `torch.nn.RMSNorm`)."""

    def __init__(
        self,
        normalized_shape,
        eps: float | None = None,
        elementwise_affine: bool = True,
        dtype=np.float32,
        rng=None,
    ):
        super().__init__()
        self.normalized_shape = _shape(normalized_shape, "RMSNorm")
        self.eps = None if eps is None else float(eps)
        self.elementwise_affine = elementwise_affine
        self.weight = Parameter(np.ones(self.normalized_shape, dtype=dtype)) if elementwise_affine else None

    def forward(self, x):
        k = len(self.normalized_shape)
        if tuple(x.shape[-k:]) != self.normalized_shape:
            raise ValueError(
                f"RMSNorm: expected input whose last dimensions are "
                f"normalized_shape={self.normalized_shape}, "
                f"got shape {tuple(x.shape)}"
            )
        return F.rms_norm(x, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


class GroupNorm(Module):
    """Split the C channels into `num_groups` groups and normalise each group (over its channels and
    spatial positions) per sample; the affine γ, β are per channel."""

    def __init__(
        self,
        num_groups: int,
        num_channels: int,
        eps: float = 1e-5,
        affine: bool = True,
        dtype=np.float32,
        rng=None,
    ):
        super().__init__()
        if num_groups < 1 or num_channels < 1 or num_channels % num_groups:
            raise ValueError(
                f"GroupNorm: `num_groups`={num_groups} must be ≥ 1 and divide num_channels={num_channels}"
            )
        self.num_groups, self.num_channels, self.eps, self.affine = (
            int(num_groups),
            int(num_channels),
            float(eps),
            affine,
        )
        self.weight = Parameter(np.ones(num_channels, dtype=dtype)) if affine else None
        self.bias = Parameter(np.zeros(num_channels, dtype=dtype)) if affine else None

    def forward(self, x):
        if x.ndim < 2 or x.shape[1] != self.num_channels:
            raise ValueError(
                f"GroupNorm: expected input (N, C, ...) with C = num_channels = {self.num_channels}, "
                f"got shape {tuple(x.shape)}"
            )
        return F.group_norm(x, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}"


class _BatchNorm(Module):
    _ndims: tuple = ()
    _layout = ""

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        dtype=np.float32,
        rng=None,
    ):
        super().__init__()
        cls = type(self).__name__
        if num_features < 1:
            raise ValueError(f"{cls}: `num_features` must be ≥ 1, got {num_features}")
        if momentum is not None and not 0.0 <= momentum <= 1.0:
            raise ValueError(f"{cls}: `momentum` must be in [0, 1] or None, got {momentum}")
        self.num_features, self.eps, self.momentum = int(num_features), float(eps), momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        self.weight = Parameter(np.ones(num_features, dtype=dtype)) if affine else None
        self.bias = Parameter(np.zeros(num_features, dtype=dtype)) if affine else None
        if track_running_stats:
            self.register_buffer("running_mean", np.zeros(num_features, dtype=dtype))
            self.register_buffer("running_var", np.ones(num_features, dtype=dtype))
            self.register_buffer("num_batches_tracked", np.array(0, dtype=np.int64))
        else:
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                self.register_buffer(name, None)

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            self.running_mean[...] = 0
            self.running_var[...] = 1
            self.num_batches_tracked[...] = 0

    def forward(self, x):
        if x.ndim not in self._ndims or x.shape[1] != self.num_features:
            raise ValueError(
                f"{type(self).__name__}: expected input {self._layout} with C = num_features = "
                f"{self.num_features}, got shape {tuple(x.shape)}"
            )
        counting = self.training and self.track_running_stats  # the count (a 0-d array) goes up in place
        # without running statistics (track_running_stats=False) the batch statistics are used in eval too
        return F.batch_norm(
            x,
            self.running_mean,
            self.running_var,
            self.weight,
            self.bias,
            training=self.training or not self.track_running_stats,
            momentum=self.momentum,
            eps=self.eps,
            num_batches_tracked=self.num_batches_tracked if counting else None,
        )

    def extra_repr(self):
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
            f"track_running_stats={self.track_running_stats}"
        )


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of (N, C) or (N, C, L) inputs, per channel C."""

    _ndims = (2, 3)
    _layout = "(N, C) or (N, C, L)"


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of (N, C, H, W) inputs, per channel C."""

    _ndims = (4,)
    _layout = "(N, C, H, W)"
