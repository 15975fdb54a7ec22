"""Convolution and pooling layers: `Conv1d`, `Conv2d`, `MaxPool2d`, `AvgPool2d`.

Weights use PyTorch's layout (out_channels, in_channels/groups, *kernel) and its default
initialisation: W ~ kaiming-uniform with a = √5, i.e. U(−1/√fan_in, 1/√fan_in), and the bias
b ~ U(−1/√fan_in, 1/√fan_in), where fan_in = in_channels/groups · ∏kernel.
"""

from __future__ import annotations

import math

import numpy as np

from .. import functional as F
from .. import init
from ..module import Module, Parameter

__all__ = ["Conv1d", "Conv2d", "MaxPool2d", "AvgPool2d"]


def _tuple(v, n: int, name: str, cls: str, low: int = 1) -> tuple:
    t = (int(v),) * n if isinstance(v, (int, np.integer)) else tuple(int(a) for a in v)
    if len(t) != n or any(a < low for a in t):
        raise ValueError(f"{cls}: `{name}` must be an int ≥ {low} or a {n}-tuple of such ints, got {v!r}")
    return t


class _ConvNd(Module):
    _n = 2

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size,
        stride=1,
        padding=0,
        dilation=1,
        groups: int = 1,
        bias: bool = True,
        dtype=np.float32,
        rng=None,
    ):
        super().__init__()
        cls, n = type(self).__name__, self._n
        if in_channels < 1 or out_channels < 1:
            raise ValueError(
                f"{cls}: channels must be ≥ 1, got in_channels={in_channels}, out_channels={out_channels}"
            )
        if groups < 1 or in_channels % groups or out_channels % groups:
            raise ValueError(
                f"{cls}: `groups`={groups} must divide in_channels={in_channels} and "
                f"out_channels={out_channels}"
            )
        self.in_channels, self.out_channels, self.groups = int(in_channels), int(out_channels), int(groups)
        self.kernel_size = _tuple(kernel_size, n, "kernel_size", cls)
        self.stride = _tuple(stride, n, "stride", cls)
        self.dilation = _tuple(dilation, n, "dilation", cls)
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(
                    f"{cls}: `padding` must be an int, a tuple, 'same' or 'valid', got {padding!r}"
                )
            if padding == "same" and any(s != 1 for s in self.stride):
                raise ValueError(f"{cls}: padding='same' needs stride 1, got stride={self.stride}")
            if padding == "same" and any(d * (k - 1) % 2 for d, k in zip(self.dilation, self.kernel_size)):
                raise ValueError(
                    f"{cls}: padding='same' needs an odd effective kernel dilation·(k−1)+1, got "
                    f"kernel_size={self.kernel_size}, dilation={self.dilation}"
                )
            self.padding = padding
        else:
            self.padding = _tuple(padding, n, "padding", cls, low=0)
        shape = (self.out_channels, self.in_channels // groups) + self.kernel_size
        self.weight = Parameter(np.empty(shape, dtype=dtype))
        init.kaiming_uniform_(self.weight, a=math.sqrt(5), rng=rng)
        if bias:
            bound = 1 / math.sqrt(int(np.prod(shape[1:])))
            self.bias = Parameter(init.uniform_array((self.out_channels,), -bound, bound, dtype, rng))
        else:
            self.bias = None

    def _check(self, x):
        if x.ndim != self._n + 2 or x.shape[1] != self.in_channels:
            dims = "(N, C, L)" if self._n == 1 else "(N, C, H, W)"
            raise ValueError(
                f"{type(self).__name__}: expected input {dims} with C = in_channels = {self.in_channels}, "
                f"got shape {tuple(x.shape)}"
            )

    def extra_repr(self):
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0,) * self._n:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * self._n:
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        return s + ("" if self.bias is not None else ", bias=False")


class Conv2d(_ConvNd):
    """2-D convolution (cross-correlation): x (N, C_in, H, W) → (N, C_out, H', W'),
    H' = ⌊(H + 2p − d(k−1) − 1)/s⌋ + 1.  `padding` is an int, a pair, "valid" or "same" (stride 1)."""

    _n = 2

    def forward(self, x):
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            self._check(x)
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


class Conv1d(_ConvNd):
    """1-D convolution: x (N, C_in, L) → (N, C_out, L'), same arguments as Conv2d with one spatial axis."""

    _n = 1

    def forward(self, x):
        if x.ndim != 3 or x.shape[1] != self.in_channels:
            self._check(x)
        pad = self.padding if isinstance(self.padding, str) else self.padding[0]
        return F.conv1d(x, self.weight, self.bias, self.stride[0], pad, self.dilation[0], self.groups)


class _Pool2d(Module):
    def _check(self, x):
        if x.ndim != 4:
            raise ValueError(
                f"{type(self).__name__}: expected input (N, C, H, W), got shape {tuple(x.shape)}"
            )


class MaxPool2d(_Pool2d):
    """Max over kh×kw windows (stride defaults to the kernel size; padding counts as −∞)."""

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1):
        super().__init__()
        self.kernel_size = _tuple(kernel_size, 2, "kernel_size", "MaxPool2d")
        self.stride = self.kernel_size if stride is None else _tuple(stride, 2, "stride", "MaxPool2d")
        self.padding = _tuple(padding, 2, "padding", "MaxPool2d", low=0)
        self.dilation = _tuple(dilation, 2, "dilation", "MaxPool2d")
        if any(p > k // 2 for p, k in zip(self.padding, self.kernel_size)):
            raise ValueError(
                f"MaxPool2d: `padding` {self.padding} must be at most half the kernel_size {self.kernel_size}"
            )

    def forward(self, x):
        if x.ndim != 4:
            self._check(x)
        return F.max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool2d(_Pool2d):
    """Mean over kh×kw windows (zero padding is counted in the mean, PyTorch's count_include_pad=True)."""

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size = _tuple(kernel_size, 2, "kernel_size", "AvgPool2d")
        self.stride = self.kernel_size if stride is None else _tuple(stride, 2, "stride", "AvgPool2d")
        self.padding = _tuple(padding, 2, "padding", "AvgPool2d", low=0)
        if any(p > k // 2 for p, k in zip(self.padding, self.kernel_size)):
            raise ValueError(
                f"AvgPool2d: `padding` {self.padding} must be at most half the kernel_size {self.kernel_size}"
            )

    def forward(self, x):
        if x.ndim != 4:
            self._check(x)
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"
