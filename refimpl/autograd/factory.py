"""Tensor factories with PyTorch's names: `zeros`, `ones`, `full`, `randn`, `rand`, `arange`, `cat`, `stack`.

Floating-point factories default to float32 (as `refimpl.tensor` and PyTorch do); random ones draw from
the library's default generator (`refimpl.manual_seed`) unless given `generator` (an int or a
np.random.Generator).
"""

from __future__ import annotations

import numpy as np

from ..random import as_generator
from .ops import cat, stack  # noqa: F401  (re-exported: refimpl.cat, refimpl.stack)
from .tensor import _FLOAT_DEFAULT, Tensor

__all__ = ["zeros", "ones", "full", "randn", "rand", "arange", "cat", "stack"]


def _shape(size) -> tuple:
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    for n in size:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise ValueError(f"expected a shape of non-negative whole numbers, got {size}")
    return tuple(int(n) for n in size)


def zeros(*size, dtype=_FLOAT_DEFAULT, requires_grad: bool = False) -> Tensor:
    return Tensor(np.zeros(_shape(size), dtype=dtype), requires_grad=requires_grad)


def ones(*size, dtype=_FLOAT_DEFAULT, requires_grad: bool = False) -> Tensor:
    return Tensor(np.ones(_shape(size), dtype=dtype), requires_grad=requires_grad)


def full(size, fill_value, dtype=_FLOAT_DEFAULT, requires_grad: bool = False) -> Tensor:
    return Tensor(np.full(_shape((size,)), fill_value, dtype=dtype), requires_grad=requires_grad)


def randn(*size, dtype=_FLOAT_DEFAULT, generator=None, requires_grad: bool = False) -> Tensor:
    """Standard normal samples."""
    return Tensor(
        as_generator(generator).standard_normal(_shape(size)).astype(dtype), requires_grad=requires_grad
    )


def rand(*size, dtype=_FLOAT_DEFAULT, generator=None, requires_grad: bool = False) -> Tensor:
    """Uniform samples on [0, 1)."""
    return Tensor(as_generator(generator).random(_shape(size)).astype(dtype), requires_grad=requires_grad)


def arange(start, end=None, step=1, dtype=None) -> Tensor:
    """[start, end) in steps of `step` (`arange(n)` is 0..n−1); integers stay int64, as in PyTorch."""
    if end is None:
        start, end = 0, start
    if step == 0:
        raise ValueError("arange: `step` must not be 0")
    values = np.arange(start, end, step)
    if dtype is None and values.dtype.kind == "f":
        dtype = _FLOAT_DEFAULT
    return Tensor(values if dtype is None else values.astype(dtype))
