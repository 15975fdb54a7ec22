"""Initialisers, matching PyTorch's formulas (`torch.nn.init`).  In-place on a Parameter's data; each
takes `rng` (None → the library's default generator, see `refimpl.manual_seed`)."""

from __future__ import annotations

import math

import numpy as np

from ..random import as_generator


def _fans(shape):
    if len(shape) < 2:
        raise ValueError(f"fan in/out need a tensor with ≥ 2 dimensions, got shape {shape}")
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def calculate_gain(nonlinearity: str, param=None) -> float:
    if nonlinearity in ("linear", "sigmoid", "conv1d", "conv2d"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        a = 0.01 if param is None else param
        return math.sqrt(2.0 / (1 + a * a))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unknown nonlinearity {nonlinearity!r}")


def uniform_array(shape, low, high, dtype=np.float32, rng=None):
    return as_generator(rng).uniform(low, high, size=shape).astype(dtype)


def uniform_(t, a=0.0, b=1.0, rng=None):
    t.data[...] = as_generator(rng).uniform(a, b, size=t.shape)
    return t


def normal_(t, mean=0.0, std=1.0, rng=None):
    t.data[...] = as_generator(rng).normal(mean, std, size=t.shape)
    return t


def zeros_(t):
    t.data[...] = 0
    return t


def ones_(t):
    t.data[...] = 1
    return t


def constant_(t, value):
    t.data[...] = value
    return t


def kaiming_uniform_(t, a=0.0, mode="fan_in", nonlinearity="leaky_relu", rng=None):
    fan_in, fan_out = _fans(t.shape)
    fan = fan_in if mode == "fan_in" else fan_out
    bound = math.sqrt(3.0) * calculate_gain(nonlinearity, a) / math.sqrt(fan)
    return uniform_(t, -bound, bound, rng)


def kaiming_normal_(t, a=0.0, mode="fan_in", nonlinearity="leaky_relu", rng=None):
    fan_in, fan_out = _fans(t.shape)
    fan = fan_in if mode == "fan_in" else fan_out
    return normal_(t, 0.0, calculate_gain(nonlinearity, a) / math.sqrt(fan), rng)


def xavier_uniform_(t, gain=1.0, rng=None):
    fan_in, fan_out = _fans(t.shape)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(t, -bound, bound, rng)


def xavier_normal_(t, gain=1.0, rng=None):
    fan_in, fan_out = _fans(t.shape)
    return normal_(t, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), rng)
