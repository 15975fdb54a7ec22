"""`MultiHeadAttention`: multi-head scaled dot-product attention with PyTorch's parameter layout.

    Q = X_q W_qᵀ + b_q,  K = X_k W_kᵀ + b_k,  V = X_v W_vᵀ + b_v    (W_q; W_k; W_v = in_proj_weight)
    head_h = softmax(Q_h K_hᵀ / √d_head + M) V_h,   h = 1..H,  d_head = E / H
    out = concat(head_1, …, head_H) W_oᵀ + b_o                           (out_proj)

The parameters are named and laid out exactly as in `torch.nn.MultiheadAttention`: `in_proj_weight`
(3E, E), `in_proj_bias` (3E,), `out_proj.weight` (E, E), `out_proj.bias` (E,), and initialised the
same way (xavier-uniform in_proj, zero biases, out_proj as a default Linear), so a torch state dict
loads unchanged.  Inputs are batch-first (N, L, E) (or unbatched (L, E)).

Masks follow `torch.nn.MultiheadAttention` (note: the *opposite* boolean convention from
`scaled_dot_product_attention`): a boolean `attn_mask` (L, S) or (N·H, L, S) is True where attention
is NOT allowed, a float one is added to the scores; a `key_padding_mask` (N, S) is True at keys to
ignore.  `is_causal=True` lets position i attend to j ≤ i only (needs no mask, unlike torch's hint).

Deviation: `forward` returns only the output (N, L, E), not torch's (output, weights) pair.
"""

from __future__ import annotations

import numpy as np

from ...autograd import ops
from ...autograd.tensor import Tensor
from ...random import as_generator
from .. import functional as F
from .. import init
from ..module import Module, Parameter
from .linear import Linear

__all__ = ["MultiHeadAttention"]


def _array(m):
    return None if m is None else np.asarray(m.data if isinstance(m, Tensor) else m)


class MultiHeadAttention(Module):
    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        bias: bool = True,
        dropout: float = 0.0,
        dtype=np.float32,
        rng=None,
    ):
        super().__init__()
        if embed_dim < 1 or num_heads < 1 or embed_dim % num_heads:
            raise ValueError(
                f"MultiHeadAttention: `num_heads`={num_heads} must be ≥ 1 and divide embed_dim={embed_dim}"
            )
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"MultiHeadAttention: `dropout` must be in [0, 1), got {dropout}")
        rng = as_generator(rng)
        self.embed_dim, self.num_heads, self.head_dim = int(embed_dim), int(num_heads), embed_dim // num_heads
        self.dropout = float(dropout)
        self.generator = None  # dropout masks: None → the library's default generator
        self.in_proj_weight = Parameter(np.empty((3 * embed_dim, embed_dim), dtype=dtype))
        init.xavier_uniform_(self.in_proj_weight, rng=rng)
        self.in_proj_bias = Parameter(np.zeros(3 * embed_dim, dtype=dtype)) if bias else None
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias, dtype=dtype, rng=rng)
        if bias:
            init.zeros_(self.out_proj.bias)

    def _project(self, x, i):
        e = self.embed_dim
        w = ops.getitem(self.in_proj_weight, slice(i * e, (i + 1) * e))
        b = None if self.in_proj_bias is None else ops.getitem(self.in_proj_bias, slice(i * e, (i + 1) * e))
        return F.linear(x, w, b)

    def _heads(self, t, n, length):  # (N, L, E) → (N, H, L, D)
        return ops.permute(ops.reshape(t, (n, length, self.num_heads, self.head_dim)), (0, 2, 1, 3))

    def _mask(self, attn_mask, key_padding_mask, n, lq, lk, dtype):
        """Combine both masks into one for scaled_dot_product_attention (bool True = keep, or additive)."""
        am, kpm = _array(attn_mask), _array(key_padding_mask)
        parts = []
        if am is not None:
            if am.shape == (n * self.num_heads, lq, lk):
                am = am.reshape(n, self.num_heads, lq, lk)
            elif am.shape != (lq, lk):
                raise ValueError(
                    f"MultiHeadAttention: `attn_mask` must have shape ({lq}, {lk}) or "
                    f"({n * self.num_heads}, {lq}, {lk}) (N·num_heads, L, S), got {am.shape}"
                )
            parts.append(am)
        if kpm is not None:
            if kpm.shape != (n, lk):
                raise ValueError(
                    f"MultiHeadAttention: `key_padding_mask` must have shape (N, S) = ({n}, {lk}), "
                    f"got {kpm.shape}"
                )
            parts.append(kpm.reshape(n, 1, 1, lk))
        if not parts:
            return None
        if all(p.dtype == bool for p in parts):
            keep = ~parts[0]
            for p in parts[1:]:
                keep = keep & ~p
            return keep
        add = 0.0
        for p in parts:
            add = add + (np.where(p, -np.inf, 0.0) if p.dtype == bool else p).astype(dtype)
        return add

    def forward(
        self, query, key=None, value=None, key_padding_mask=None, attn_mask=None, is_causal: bool = False
    ):
        """Self-attention when `key` and `value` are omitted; returns (N, L, E) (or (L, E) unbatched)."""
        e = self.embed_dim
        key = query if key is None else key
        value = key if value is None else value
        if query.shape[-1] != e or query.ndim not in (2, 3):
            raise ValueError(
                f"MultiHeadAttention: expected `query` (N, L, E) or (L, E) with E = embed_dim = {e}, "
                f"got shape {tuple(query.shape)}"
            )
        if (
            key.shape != value.shape
            or key.ndim != query.ndim
            or key.shape[-1] != e
            or key.shape[:-2] != query.shape[:-2]
        ):
            raise ValueError(
                f"MultiHeadAttention: `key` and `value` must both be (N, S, E) with query's N and E = {e}, "
                f"got key {tuple(key.shape)}, value {tuple(value.shape)} for query {tuple(query.shape)}"
            )
        self_attention = key is query and value is query
        unbatched = query.ndim == 2
        if unbatched:
            query, key, value = ops.unsqueeze(query, 0), ops.unsqueeze(key, 0), ops.unsqueeze(value, 0)
            if key_padding_mask is not None:
                key_padding_mask = _array(key_padding_mask)[None]
        n, lq, lk = query.shape[0], query.shape[1], key.shape[1]
        if self_attention:  # one packed projection
            qkv = F.linear(query, self.in_proj_weight, self.in_proj_bias)  # (N, L, 3E)
            qkv = ops.permute(ops.reshape(qkv, (n, lq, 3, self.num_heads, self.head_dim)), (2, 0, 3, 1, 4))
            q, k, v = qkv[0], qkv[1], qkv[2]
        else:
            q = self._heads(self._project(query, 0), n, lq)
            k = self._heads(self._project(key, 1), n, lk)
            v = self._heads(self._project(value, 2), n, lk)
        mask = self._mask(attn_mask, key_padding_mask, n, lq, lk, q.dtype)
        p = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, dropout_p=p, is_causal=is_causal, generator=self.generator
        )  # (N, H, L, D)
        y = self.out_proj(ops.reshape(ops.permute(y, (0, 2, 1, 3)), (n, lq, e)))
        return ops.squeeze(y, 0) if unbatched else y

    def extra_repr(self):
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, dropout={self.dropout}"
