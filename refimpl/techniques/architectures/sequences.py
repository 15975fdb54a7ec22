"""Sequence toys with a known rule, as integer token arrays (n, length) with targets.

Every generator takes an integer `seed`; the same seed gives the same data.  `split(...)` cuts one draw into
train / validation / test parts."""

from __future__ import annotations

import dataclasses

import numpy as np

__all__ = ["SequenceTask", "copy_task", "long_range_task", "associative_recall", "one_hot"]


@dataclasses.dataclass(frozen=True)
class SequenceTask:
    """Token sequences x (n, length) over `vocab` symbols and targets y: (n, out_length) tokens, or (n,) labels."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    vocab: int
    n_classes: int


def _positive(name, value, fn, minimum=1):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{fn}: `{name}` must be an integer ≥ {minimum}, got {value!r}")
    return int(value)


def _split(name, x, y, vocab, n_classes, fractions=(0.6, 0.2)):
    n = len(x)
    a, b = int(fractions[0] * n), int((fractions[0] + fractions[1]) * n)
    return SequenceTask(name, x[:a], y[:a], x[a:b], y[a:b], x[b:], y[b:], vocab, n_classes)


def copy_task(n: int, n_symbols: int, length: int, delay: int, seed: int) -> SequenceTask:
    """Copy after a delay: `length` random symbols from 1..n_symbols, then `delay` blanks (0), then a marker
    (n_symbols + 1) and `length` blanks; the target is the first `length` symbols (to emit in the last
    `length` positions).  vocab = n_symbols + 2."""
    fn = "copy_task"
    n, k, L, d = (
        _positive(a, v, fn)
        for a, v in (("n", n), ("n_symbols", n_symbols), ("length", length), ("delay", delay))
    )
    rng = np.random.default_rng(seed)
    sym = rng.integers(1, k + 1, (n, L))
    x = np.concatenate([sym, np.zeros((n, d), int), np.full((n, 1), k + 1), np.zeros((n, L), int)], axis=1)
    return _split("copy", x, sym, k + 2, k + 1)


def long_range_task(n: int, length: int, vocab: int, seed: int, positions: tuple = (0, -1)) -> SequenceTask:
    """Random tokens in 0..vocab−1; the binary label is whether the tokens at `positions` (default the first
    and the last) are equal — balanced by construction (half the sequences copy one token onto the other)."""
    fn = "long_range_task"
    n, L, V = _positive("n", n, fn), _positive("length", length, fn, 2), _positive("vocab", vocab, fn, 2)
    rng = np.random.default_rng(seed)
    x = rng.integers(0, V, (n, L))
    i, j = positions
    same = rng.random(n) < 0.5
    x[same, j] = x[same, i]
    differ = ~same & (x[:, j] == x[:, i])
    x[differ, j] = (x[differ, i] + rng.integers(1, V, differ.sum())) % V
    return _split("long-range", x, (x[:, i] == x[:, j]).astype(np.int64), V, 2)


def associative_recall(n: int, n_pairs: int, n_keys: int, n_values: int, seed: int) -> SequenceTask:
    """Key–value pairs then a query: tokens k₁ v₁ k₂ v₂ … k_m v_m q with distinct keys (ids 0..n_keys−1) and
    values (ids n_keys..n_keys+n_values−1); q is one of the keys and the target is its value's index
    (0..n_values−1).  vocab = n_keys + n_values."""
    fn = "associative_recall"
    n, m = _positive("n", n, fn), _positive("n_pairs", n_pairs, fn)
    K, V = _positive("n_keys", n_keys, fn, m), _positive("n_values", n_values, fn)
    rng = np.random.default_rng(seed)
    keys = np.argsort(rng.random((n, K)), axis=1)[:, :m]
    vals = rng.integers(0, V, (n, m))
    q = rng.integers(0, m, n)
    x = np.empty((n, 2 * m + 1), int)
    x[:, 0:-1:2], x[:, 1:-1:2], x[:, -1] = keys, K + vals, keys[np.arange(n), q]
    return _split("associative-recall", x, vals[np.arange(n), q].astype(np.int64), K + V, V)


def one_hot(tokens, vocab: int, dtype=np.float32) -> np.ndarray:
    """(…, vocab) one-hot encoding of integer tokens."""
    t = np.asarray(tokens)
    if t.size and (t.min() < 0 or t.max() >= vocab):
        raise ValueError(f"one_hot: tokens must lie in 0..{vocab - 1}, got {t.min()}..{t.max()}")
    return np.eye(vocab, dtype=dtype)[t]
