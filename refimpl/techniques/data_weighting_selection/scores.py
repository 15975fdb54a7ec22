"""Per-example scores recorded during training, shared by the family (EL2N, GraNd, forgetting events).

Each scorer maps a model and the training arrays to one finite (or, for never-learned examples, +inf
forgetting) score per example, aligned with the training set; a higher score means a harder example.

- `el2n(logits, y)`: ‖softmax(f(x)) − onehot(y)‖₂ (Paul et al. 2021, Def. 2; official code
  data_diet/scores.py:10-15, `ord=2`).
- `grand(model, x, y)`: ‖∇_θ ℓ(f(x), y)‖₂ over *all* parameters, per example and exact (official code
  data_diet/scores.py:37-46 takes the Jacobian of the per-example losses over every parameter).
- `last_layer_grand(logits, y, features)`: the same norm restricted to a final Linear layer, in closed
  form ‖p − e_y‖₂·√(‖h‖² + 1): EL2N times a feature-norm factor.
- `ForgettingEvents`: a `fit` callback counting correct → incorrect transitions of each example's
  minibatch prediction (official data_diet/forgetting.py:13-17; never-correct examples score +inf, :20-23).
- `ScoreRecorder`: a `fit` callback that scores the whole training set at chosen epochs.
- `mean_over_runs`: the average over independent initialisations (official scripts/get_mean_score.py:21-25).
"""

from __future__ import annotations

import numpy as np

from ...autograd.tensor import Tensor
from ...nn import functional as F
from ...train import predict

__all__ = [
    "softmax",
    "el2n",
    "grand",
    "last_layer_grand",
    "example_losses",
    "ForgettingEvents",
    "ScoreRecorder",
    "mean_over_runs",
]


def _labels(y, n: int, num_classes: int) -> np.ndarray:
    y = np.asarray(y)
    if y.shape != (n,) or y.dtype.kind not in "iu":
        raise ValueError(f"`y` must be {n} integer class labels, got shape {y.shape} and dtype {y.dtype}")
    if n and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(f"`y` must lie in [0, {num_classes}), got values in [{y.min()}, {y.max()}]")
    return y


def softmax(logits) -> np.ndarray:
    """Row-wise softmax in float64 (max-shifted)."""
    z = np.asarray(logits, dtype=np.float64)
    if z.ndim != 2:
        raise ValueError(f"`logits` must be (N, C), got shape {z.shape}")
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def el2n(logits, y) -> np.ndarray:
    """EL2N score of each example: ‖softmax(zᵢ) − onehot(yᵢ)‖₂ (float64, shape (N,))."""
    p = softmax(logits)
    y = _labels(y, p.shape[0], p.shape[1])
    err = p.copy()
    err[np.arange(len(y)), y] -= 1.0  # p − e_y
    return np.linalg.norm(err, axis=1)


def last_layer_grand(logits, y, features) -> np.ndarray:
    """‖∇_(W,b) CE‖₂ of a final layer z = W h + b: the gradient is ((p − e_y) hᵀ, p − e_y), whose norm is
    ‖p − e_y‖₂ · √(‖h‖₂² + 1) — EL2N scaled by the feature norm."""
    h = np.asarray(features, dtype=np.float64)
    if h.ndim != 2 or h.shape[0] != np.asarray(logits).shape[0]:
        raise ValueError(f"`features` must be (N, d) with N = len(logits), got shape {h.shape}")
    return el2n(logits, y) * np.sqrt((h**2).sum(axis=1) + 1.0)


def grand(model, x, y, loss_fn=F.cross_entropy) -> np.ndarray:
    """GraNd score of each example: ‖∇_θ loss_fn(model(xᵢ), yᵢ)‖₂ over all of the model's parameters,
    by one backward pass per example (exact; the model is put in eval mode and restored; gradients
    already in p.grad are saved and restored)."""
    x = np.asarray(x)
    y = np.asarray(y)
    if len(x) != len(y):
        raise ValueError(f"`x` and `y` must have the same length, got {len(x)} and {len(y)}")
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("grand: `model` has no parameters that require grad")
    saved = [p.grad for p in params]
    was_training = model.training
    model.eval()
    out = np.empty(len(x))
    try:
        for i in range(len(x)):
            for p in params:
                p.grad = None
            loss = loss_fn(model(Tensor(x[i : i + 1])), y[i : i + 1])
            loss.backward()
            out[i] = np.sqrt(
                sum(float(np.sum(np.square(p.grad, dtype=np.float64))) for p in params if p.grad is not None)
            )
    finally:
        for p, g in zip(params, saved):
            p.grad = g
        model.train(was_training)
    return out


def example_losses(model, x, y) -> np.ndarray:
    """Per-example cross-entropy of the model's logits (eval mode, float64)."""
    p = softmax(predict(model, x))
    y = _labels(y, p.shape[0], p.shape[1])
    return -np.log(np.maximum(p[np.arange(len(y)), y], 1e-300))


class ForgettingEvents:
    """Counts, per training example, how often its prediction went from correct to incorrect between two
    of its minibatches (Toneva et al. 2019, as tracked by the official data_diet/forgetting.py:13-17: the
    prediction is the training step's forward pass on the minibatch).  `scores()` gives the counts, with
    +inf for examples never predicted correctly (forgetting.py:20-23).  Needs `fit` on arrays (it reads
    `state.indices`) and the eager step (it reads `state.output`; hooking `on_step_end` keeps
    `fit(compile="auto")` eager)."""

    def __init__(self, n: int):
        if n < 1:
            raise ValueError(f"ForgettingEvents: `n` must be ≥ 1, got {n}")
        self.prev = np.zeros(n, dtype=bool)
        self.forgets = np.zeros(n)
        self.ever_correct = np.zeros(n, dtype=bool)

    def update(self, idx, correct) -> None:
        idx, correct = np.asarray(idx), np.asarray(correct, dtype=bool)
        self.forgets[idx[self.prev[idx] & ~correct]] += 1
        self.prev[idx] = correct
        self.ever_correct[idx[correct]] = True

    def on_step_end(self, state):
        if state.indices is None or state.output is None:
            raise ValueError("ForgettingEvents needs fit on (x, y) arrays and an eager step (state.output)")
        pred = np.argmax(state.output.data, axis=-1)
        self.update(state.indices, pred == np.asarray(state.y))

    def scores(self) -> np.ndarray:
        s = self.forgets.copy()
        s[~self.ever_correct] = np.inf
        return s


class ScoreRecorder:
    """A `fit` callback that calls `score_fn(model) -> (N,) array` after the epochs in `epochs` (counted
    from 1: epoch 1 is the end of the first pass) and keeps `scores[epoch]`; epoch 0 (at initialisation)
    is recorded at the start of training."""

    def __init__(self, score_fn, epochs):
        self.score_fn = score_fn
        self.epochs = sorted({int(e) for e in epochs})
        if not self.epochs or self.epochs[0] < 0:
            raise ValueError(f"ScoreRecorder: `epochs` must be non-empty and ≥ 0, got {epochs}")
        self.scores = {}

    def _record(self, state, epoch):
        s = np.asarray(self.score_fn(state.model), dtype=np.float64)
        if s.ndim != 1:
            raise ValueError(
                f"ScoreRecorder: `score_fn` must return one score per example, got shape {s.shape}"
            )
        self.scores[epoch] = s

    def on_train_begin(self, state):
        if 0 in self.epochs:
            self._record(state, 0)

    def on_epoch_end(self, state):
        if state.epoch + 1 in self.epochs:
            self._record(state, state.epoch + 1)


def mean_over_runs(scores) -> np.ndarray:
    """The per-example mean of scores from independent runs (a list of (N,) arrays, or (runs, N))."""
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 2 or s.shape[0] < 1:
        raise ValueError(f"mean_over_runs: `scores` must be (runs, N), got shape {s.shape}")
    return s.mean(axis=0)
