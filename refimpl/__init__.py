"""refimpl — reference implementations, in NumPy, of what deep-learning papers do to a network's weights.

`import refimpl` is cheap: the autograd core is imported eagerly; `nn`, `optim`, `data`, `train`,
`catalog`, `kernels`, `func` and `techniques` load on first attribute access.
"""

from __future__ import annotations

import importlib

from .autograd import (  # noqa: F401
    CompiledStep,
    Function,
    GradcheckError,
    Tensor,
    TraceError,
    compile,  # noqa: F401, A004  (refimpl.compile, as torch.compile)
    enable_grad,
    grad,
    gradcheck,
    gradgradcheck,
    is_grad_enabled,
    no_grad,
    straight_through,
    tensor,
)
from .autograd.factory import arange, cat, full, ones, rand, randn, stack, zeros  # noqa: F401
from .random import manual_seed  # noqa: F401

__version__ = "0.1.0"

_LAZY = {"nn", "optim", "data", "train", "catalog", "kernels", "techniques", "plotting", "cli", "func"}


def __getattr__(name):
    if name in _LAZY:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'refimpl' has no attribute {name!r}")
