"""Per-example weights during training, on `refimpl.train.fit(sample_weight=...)` (no copied loop).

How a weight enters the loss.  `fit` weighs the per-example losses ℓᵢ = loss_fn(out, y, reduction="none")
of a minibatch B as Σ_{i∈B} cᵢℓᵢ with c = `refimpl.train.batch_weights`(w_B, norm):

- norm="sum" (the default): cᵢ = wᵢ / Σ_{j∈B} wⱼ, a weighted mean, invariant to the weights' scale.  This
  is the form of methods whose weights are normalised per batch (learning-to-reweight style
  meta-weights, coreset reweighting; loss-based reweighting's softmax weights sum to 1 in a batch).
- norm="count": cᵢ = wᵢ / |B|, the mean of wᵢℓᵢ, where the weights' scale matters (importance weights
  such as the Christoffel weights of weighted least squares, covariate-balancing weights normalised
  over the whole set rather than per batch).

A weight of zero removes the example from every batch's loss and gradient (its batch keeps its shuffle
position); uniform weights give plain ERM.  `EpochReweighting` changes the weights between epochs.
"""

from __future__ import annotations

import numpy as np

from ...train import batch_weights, weighted_loss

__all__ = ["batch_weights", "weighted_loss", "EpochReweighting"]


class EpochReweighting:
    """A `fit` callback: before every epoch, `state.sample_weight = update(state)` (an (n,) array ≥ 0;
    `state.epoch` says which epoch starts).  It hooks only `on_epoch_begin`, so a compiled step stays
    compiled (the weights are a step argument).  `history` keeps a copy of each epoch's weights when
    `keep=True`."""

    def __init__(self, update, keep: bool = False):
        if not callable(update):
            raise TypeError(f"EpochReweighting: `update` must be callable, got {type(update).__name__}")
        self.update, self.keep, self.history = update, keep, []

    def on_epoch_begin(self, state):
        w = np.asarray(self.update(state))
        state.sample_weight = w
        if self.keep:
            self.history.append(w.copy())
