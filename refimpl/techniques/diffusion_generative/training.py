"""The family's training loop: Adam on a loss drawn fresh at every step (a new batch, new noise, new times)."""

from __future__ import annotations

import numpy as np

from ... import optim

__all__ = ["fit_generative"]


def fit_generative(model, loss_fn, *, steps: int, lr: float, seed, weight_decay: float = 0.0) -> list:
    """Run `steps` Adam steps on loss_fn(rng) (a scalar Tensor; rng a NumPy Generator seeded by `seed`);
    returns the loss per step."""
    if steps < 1 or lr <= 0:
        raise ValueError(f"need steps ≥ 1 and lr > 0, got {steps}, {lr}")
    rng = np.random.default_rng(seed)
    opt = optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_fn(rng)
        loss.backward()
        opt.step()
        losses.append(float(loss.data))
    if not np.isfinite(losses[-1]):
        raise FloatingPointError(f"fit_generative: the loss is {losses[-1]} after {steps} steps at lr = {lr}")
    return losses
