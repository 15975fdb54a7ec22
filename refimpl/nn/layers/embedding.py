"""`Embedding`: a lookup table, y = W[idx], initialised W ~ N(0, 1) as in PyTorch."""

from __future__ import annotations

import numpy as np

from ...autograd import ops
from ...autograd.tensor import Tensor
from .. import init
from ..module import Module, Parameter

__all__ = ["Embedding"]


class Embedding(Module):
    """Rows of `weight` (num_embeddings, embedding_dim) at integer indices of any shape → (*idx, dim).

    With `padding_idx`, that row starts at zero and receives no gradient (PyTorch's semantics); the
    lookup then outputs the row's current value without a gradient path.
    """

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        padding_idx: int | None = None,
        dtype=np.float32,
        rng=None,
    ):
        super().__init__()
        if num_embeddings < 1 or embedding_dim < 1:
            raise ValueError(
                f"Embedding: sizes must be ≥ 1, got num_embeddings={num_embeddings}, "
                f"embedding_dim={embedding_dim}"
            )
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(
                    f"Embedding: `padding_idx` must be in [-{num_embeddings}, {num_embeddings}), "
                    f"got {padding_idx}"
                )
            padding_idx = padding_idx % num_embeddings
        self.num_embeddings, self.embedding_dim, self.padding_idx = (
            int(num_embeddings),
            int(embedding_dim),
            padding_idx,
        )
        self.weight = Parameter(np.empty((num_embeddings, embedding_dim), dtype=dtype))
        init.normal_(self.weight, 0.0, 1.0, rng=rng)
        if padding_idx is not None:
            self.weight.data[padding_idx] = 0

    def forward(self, idx):
        idx = idx.data if isinstance(idx, Tensor) else np.asarray(idx)
        if idx.dtype.kind not in "iu":
            raise TypeError(f"Embedding: `idx` must hold integer indices, got dtype {idx.dtype}")
        if idx.size and (idx.min() < 0 or idx.max() >= self.num_embeddings):
            raise ValueError(
                f"Embedding: indices must be in [0, {self.num_embeddings - 1}] (num_embeddings="
                f"{self.num_embeddings}), got values {idx.min()}..{idx.max()}"
            )
        w = self.weight
        out = ops.getitem(w, idx)
        if self.padding_idx is not None:
            pad = (idx == self.padding_idx)[..., None]
            if pad.any():  # the padding row's value, as a constant: no gradient reaches it
                out = ops.where(~pad, out, w.data[self.padding_idx])
        return out

    def extra_repr(self):
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        return s if self.padding_idx is None else s + f", padding_idx={self.padding_idx}"
