"""Activation layers and shape helpers: thin Modules over `refimpl.nn.functional` (PyTorch's names).

None of these has parameters; `Dropout` is here too because, like them, it is elementwise — it reads
`self.training` (inverted dropout in training, identity in eval).
"""

from __future__ import annotations

import math

from ...autograd import ops
from ...random import as_generator
from .. import functional as F
from ..module import Module

__all__ = [
    "ReLU",
    "GELU",
    "Tanh",
    "SiLU",
    "Sigmoid",
    "LeakyReLU",
    "Identity",
    "Flatten",
    "Dropout",
    "get_activation",
]


class ReLU(Module):
    """y = max(x, 0), with relu'(0) = 0 as in PyTorch."""

    def forward(self, x):
        return ops.relu(x)


class GELU(Module):
    """y = x Φ(x) (exact, via erf) or, with approximate="tanh",
    y = ½ x (1 + tanh(√(2/π) (x + 0.044715 x³)))  — PyTorch's two variants."""

    def __init__(self, approximate: str = "none"):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: `approximate` must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x):
        if self.approximate == "none":
            return ops.gelu(x)
        inner = (x + 0.044715 * (x * x * x)) * math.sqrt(2.0 / math.pi)
        return 0.5 * x * (1.0 + ops.tanh(inner))

    def extra_repr(self):
        return f"approximate={self.approximate!r}"


class Tanh(Module):
    def forward(self, x):
        return ops.tanh(x)


class SiLU(Module):
    """y = x σ(x) (also called swish)."""

    def forward(self, x):
        return ops.silu(x)


class Sigmoid(Module):
    def forward(self, x):
        return ops.sigmoid(x)


class LeakyReLU(Module):
    """y = x for x > 0, else negative_slope · x."""

    def __init__(self, negative_slope: float = 0.01):
        super().__init__()
        self.negative_slope = float(negative_slope)

    def forward(self, x):
        return ops.leaky_relu(x, self.negative_slope)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


class Identity(Module):
    """y = x (accepts and ignores constructor arguments, as PyTorch's does)."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, x):
        return x


class Flatten(Module):
    """Merge dimensions start_dim..end_dim into one (default: all but the batch dimension)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim, self.end_dim = int(start_dim), int(end_dim)

    def forward(self, x):
        nd = x.ndim
        s = self.start_dim + nd if self.start_dim < 0 else self.start_dim
        e = self.end_dim + nd if self.end_dim < 0 else self.end_dim
        if not 0 <= s <= e < max(nd, 1):
            raise ValueError(
                f"Flatten: start_dim={self.start_dim}, end_dim={self.end_dim} do not fit an input with "
                f"{nd} dimensions (shape {tuple(x.shape)})"
            )
        return ops.flatten(x, s, e)

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Dropout(Module):
    """Inverted dropout: in training, zero each element with probability p and scale the survivors
    by 1/(1−p), so E[y] = x; in eval, y = x.  `rng` (None, an int seed or a Generator) draws the masks;
    None uses the library's default generator at call time (so `refimpl.manual_seed` governs it)."""

    def __init__(self, p: float = 0.5, rng=None):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: `p` must be in [0, 1], got {p}")
        self.p = float(p)
        self.generator = None if rng is None else as_generator(rng)

    def forward(self, x):
        if not self.training or self.p == 0.0:
            return x
        return F.dropout(x, self.p, True, self.generator)

    def extra_repr(self):
        return f"p={self.p}"


_ACTIVATIONS = {
    "relu": ReLU,
    "gelu": GELU,
    "gelu_tanh": lambda: GELU("tanh"),
    "tanh": Tanh,
    "silu": SiLU,
    "swish": SiLU,
    "sigmoid": Sigmoid,
    "leaky_relu": LeakyReLU,
    "identity": Identity,
}


def get_activation(activation) -> Module:
    """A fresh activation Module from a name ("relu", "gelu", "gelu_tanh", "tanh", "silu", "sigmoid",
    "leaky_relu", "identity"), a Module subclass, or a zero-argument factory returning a Module."""
    if isinstance(activation, str):
        key = activation.lower()
        if key not in _ACTIVATIONS:
            raise ValueError(f"`activation` must be one of {sorted(_ACTIVATIONS)}, got {activation!r}")
        return _ACTIVATIONS[key]()
    if isinstance(activation, Module):
        raise TypeError(
            "`activation` must be a name or a factory (e.g. the class ReLU), not a Module instance, "
            f"so that each layer gets its own; got {activation!r}"
        )
    if callable(activation):
        m = activation()
        if not isinstance(m, Module):
            raise TypeError(f"`activation` factory must return a Module, got {type(m).__name__}")
        return m
    raise TypeError(f"`activation` must be a name or a Module factory, got {type(activation).__name__}")
