r"""Pools of small models trained at several sizes — the raw material of the family's scaling and learning-curve
techniques — on the two bundled datasets.

* The character LM (`char_lm_onehot`, `init_mlp`, `train_mlp`, `mlp_probs`): the one-hot codes of the C previous
  characters, concatenated, one ReLU hidden layer of width h, a softmax over the vocabulary, trained full-batch
  with AdamW (decoupled weight decay :math:`\theta \leftarrow \theta - \eta(\hat m/(\sqrt{\hat v}+\epsilon) +
  \lambda\theta)` on the weight matrices, not the biases; `mlp_loss_and_grads` is the hand-written backward, checked
  against float64 finite differences in the tests).  `n_params` counts a width's parameters, the N of a scaling
  law.  Used by pretraining-infinite-compute.
* The digits (`digits_mlp_errors`): a one-hidden-layer `refimpl.nn` MLP trained on the first m training images
  of a shuffle, its validation and test error — one point of a learning curve.  Used by
  learning-curve-power-laws.
"""

from __future__ import annotations

import dataclasses

import numpy as np

__all__ = [
    "n_params",
    "one_hot_context",
    "char_lm_onehot",
    "init_mlp",
    "mlp_probs",
    "mlp_loss_and_grads",
    "train_mlp",
    "digits_mlp_errors",
]


def n_params(vocab: int, context: int, width: int) -> int:
    """Parameters of the character MLP: hidden (C·V + 1)·h, output (h + 1)·V."""
    return (context * vocab + 1) * width + (width + 1) * vocab


def one_hot_context(x, vocab: int, dtype=np.float32) -> np.ndarray:
    """(n, C) character ids -> (n, C·V) concatenated one-hot codes."""
    x = np.asarray(x)
    out = np.zeros((len(x), x.shape[1] * vocab), dtype)
    out[np.arange(len(x))[:, None], np.arange(x.shape[1]) * vocab + x] = 1.0
    return out


def init_mlp(in_dim: int, width: int, vocab: int, rng, dtype=np.float32) -> dict:
    """Weights N(0, 1/fan_in), zero biases."""
    rng = np.random.default_rng(rng)
    return {
        "w1": (rng.normal(0, 1, (in_dim, width)) / np.sqrt(in_dim)).astype(dtype),
        "b1": np.zeros(width, dtype),
        "w2": (rng.normal(0, 1, (width, vocab)) / np.sqrt(width)).astype(dtype),
        "b2": np.zeros(vocab, dtype),
    }


def _forward(params, x):
    pre = x @ params["w1"] + params["b1"]
    h = np.maximum(pre, 0)
    logits = h @ params["w2"] + params["b2"]
    logits = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(logits)
    p /= p.sum(axis=1, keepdims=True)
    return pre, h, p


def mlp_probs(params, x) -> np.ndarray:
    """Next-character distributions (n, V) from one-hot contexts x (n, C·V)."""
    return _forward(params, x)[2]


def mlp_loss_and_grads(params, x, y):
    """Mean cross-entropy and its gradient with respect to every parameter (hand-written backward)."""
    y = np.asarray(y)
    n = len(y)
    pre, h, p = _forward(params, x)
    loss = float(-np.mean(np.log(p[np.arange(n), y])))
    g = p.copy()
    g[np.arange(n), y] -= 1.0
    g /= n  # d loss / d logits = (softmax − onehot)/n
    grads = {"w2": h.T @ g, "b2": g.sum(0)}
    gh = (g @ params["w2"].T) * (pre > 0)
    grads["w1"], grads["b1"] = x.T @ gh, gh.sum(0)
    return loss, grads


DECAYED = ("w1", "w2")


def train_mlp(params, x, y, *, steps: int, lr: float, weight_decay: float, betas=(0.9, 0.99), eps=1e-8):
    """Full-batch AdamW for `steps` steps; decoupled weight decay on the weight matrices; returns params."""
    if weight_decay < 0 or lr <= 0:
        raise ValueError("train_mlp: `lr` must be > 0 and `weight_decay` ≥ 0")
    m = {k: np.zeros_like(v) for k, v in params.items()}
    v = {k: np.zeros_like(v) for k, v in params.items()}
    b1, b2 = betas
    for t in range(1, steps + 1):
        _, grads = mlp_loss_and_grads(params, x, y)
        for k in params:
            m[k] = b1 * m[k] + (1 - b1) * grads[k]
            v[k] = b2 * v[k] + (1 - b2) * grads[k] ** 2
            step = (m[k] / (1 - b1**t)) / (np.sqrt(v[k] / (1 - b2**t)) + eps)
            if k in DECAYED:
                step = step + weight_decay * params[k]  # AdamW: decoupled decay λθ
            params[k] = params[k] - lr * step
    return params


def char_lm_onehot(context: int, n_train: int, n_val: int, n_test: int):
    """`tasks.char_lm` with one-hot contexts: (vocab, x_train, y_train, x_val, y_val, x_test, y_test)."""
    from ...experiments import tasks

    t = tasks.char_lm(context=context, n_train=n_train, n_val=n_val, n_test=n_test)
    v = t.num_classes
    enc = lambda x: one_hot_context(x, v)  # noqa: E731
    return v, enc(t.x_train), t.y_train, enc(t.x_val), t.y_val, enc(t.x_test), t.y_test


def digits_mlp_errors(
    task, m: int, width: int, lr: float, seed: int, order, steps: int
) -> tuple[float, float]:
    """(validation error, test error) of a 64 → width → 10 ReLU MLP trained with Adam (batch 64) on the first m
    training images in `order`, for max(30, ⌈steps·64/m⌉) epochs (so small m is not under-trained)."""
    from ... import nn
    from ...experiments.training import split_metrics, train

    sub = dataclasses.replace(task, x_train=task.x_train[order[:m]], y_train=task.y_train[order[:m]])
    model = nn.Sequential(
        nn.Linear(64, width, rng=[seed, width, 1]), nn.ReLU(), nn.Linear(width, 10, rng=[seed, width, 2])
    )
    epochs = max(30, int(np.ceil(steps * 64 / m)))
    train(model, sub, lr=lr, epochs=epochs, seed=seed, batch_size=64)
    r = split_metrics(model, task)
    return 1 - r["val_accuracy"], 1 - r["test_accuracy"]
