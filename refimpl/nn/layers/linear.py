"""`Linear`: y = x Wᵀ + b, initialised as PyTorch does (kaiming-uniform with a = √5)."""

from __future__ import annotations

import math

import numpy as np

from .. import functional as F
from .. import init
from ..module import Module, Parameter


class Linear(Module):
    def __init__(self, in_features: int, out_features: int, bias: bool = True, dtype=np.float32, rng=None):
        super().__init__()
        if in_features < 1 or out_features < 1:
            raise ValueError(
                f"Linear: features must be ≥ 1, got in_features={in_features}, out_features={out_features}"
            )
        self.in_features, self.out_features = in_features, out_features
        self.weight = Parameter(np.empty((out_features, in_features), dtype=dtype))
        init.kaiming_uniform_(self.weight, a=math.sqrt(5), rng=rng)
        if bias:
            bound = 1 / math.sqrt(in_features)
            self.bias = Parameter(init.uniform_array((out_features,), -bound, bound, dtype, rng))
        else:
            self.bias = None

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)  # checks the shapes and names them

    def extra_repr(self):
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"
        )
