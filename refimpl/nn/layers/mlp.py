"""`MLP`: a convenience Sequential Linear → [norm] → activation → [Dropout] → … → Linear."""

from __future__ import annotations

import numpy as np

from ...random import as_generator
from .activation import Dropout, get_activation
from .container import Sequential
from .linear import Linear
from .norm import BatchNorm1d, LayerNorm, RMSNorm

__all__ = ["MLP"]

_NORMS = {"layer": LayerNorm, "batch": BatchNorm1d, "rms": RMSNorm}


class MLP(Sequential):
    """sizes = [d_in, h₁, …, h_k, d_out] gives k hidden layers, each Linear, then the norm (None,
    "layer", "batch" or "rms"), the activation (a name or a Module factory, see `get_activation`) and
    Dropout(p=dropout) if dropout > 0; the last Linear has nothing after it (it returns logits).
    Children are numbered as in a Sequential, so `mlp[0]` is the first Linear."""

    def __init__(
        self,
        sizes,
        activation="relu",
        dropout: float = 0.0,
        norm: str | None = None,
        bias: bool = True,
        dtype=np.float32,
        rng=None,
    ):
        sizes = [int(s) for s in sizes]
        if len(sizes) < 2 or any(s < 1 for s in sizes):
            raise ValueError(
                f"MLP: `sizes` must list at least 2 positive widths [d_in, ..., d_out], got {sizes}"
            )
        if norm is not None and norm not in _NORMS:
            raise ValueError(f"MLP: `norm` must be None or one of {sorted(_NORMS)}, got {norm!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"MLP: `dropout` must be in [0, 1), got {dropout}")
        get_activation(activation)  # validate before building anything
        rng = as_generator(rng)
        layers = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(Linear(a, b, bias=bias, dtype=dtype, rng=rng))
            if i < len(sizes) - 2:
                if norm is not None:
                    layers.append(_NORMS[norm](b, dtype=dtype))
                layers.append(get_activation(activation))
                if dropout > 0:
                    layers.append(Dropout(dropout))
        super().__init__(*layers)
        self.sizes = tuple(sizes)

    def extra_repr(self):
        return f"sizes={list(self.sizes)}"
