"""A minimal SGD step for the short hand-written training loops of several regularization-normalization
demos (so that each loop reads in one screen)."""

from __future__ import annotations

__all__ = ["sgd_step"]


def sgd_step(
    params, lr: float, momentum: float = 0.0, buffers: dict | None = None, weight_decay: float = 0.0
) -> None:
    """p ← p − lr · v with v = μ v + (∇p + λ p) (PyTorch's SGD convention; v = ∇p + λ p on the first
    step).  `buffers` (a dict, keyed by id(p)) keeps the momentum between calls; params without a
    gradient are skipped.  The family's demos use it so that their loops read in one screen."""
    for p in params:
        if p.grad is None:
            continue
        g = p.grad + weight_decay * p.data if weight_decay else p.grad
        if momentum:
            if buffers is None:
                raise ValueError("sgd_step: `buffers` (a dict) is needed when momentum > 0")
            v = buffers.get(id(p))
            v = g.copy() if v is None else momentum * v + g
            buffers[id(p)] = v
            g = v
        p.data -= (lr * g).astype(p.data.dtype)
