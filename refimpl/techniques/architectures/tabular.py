"""Tabular toys whose target depends on known feature interactions.

`interaction_regression` draws x ~ N(0, I_d) and y = Σ_pairs a·x_i x_j + Σ_triples b·x_i x_j x_k + c·xᵀw + noise
with the interacting index sets returned; `interaction_classification` thresholds the same signal at its median.
Train / validation / test splits are fixed by the seed."""

from __future__ import annotations

import dataclasses

import numpy as np

__all__ = ["TabularTask", "interaction_regression", "interaction_classification"]


@dataclasses.dataclass(frozen=True)
class TabularTask:
    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    pairs: tuple
    triples: tuple
    signal_test: np.ndarray  # the noiseless target on the test split


def _signal(x, pairs, triples, w, linear):
    s = linear * x @ w
    for i, j in pairs:
        s = s + x[:, i] * x[:, j]
    for i, j, k in triples:
        s = s + x[:, i] * x[:, j] * x[:, k]
    return s


def _draw(n, d, n_pairs, n_triples, linear, seed):
    if not (isinstance(d, int) and d >= 3 and n >= 10):
        raise ValueError(f"interaction toys: need d ≥ 3 and n ≥ 10, got d = {d!r}, n = {n!r}")
    rng = np.random.default_rng(seed)
    pairs = tuple(tuple(sorted(rng.choice(d, 2, replace=False).tolist())) for _ in range(n_pairs))
    triples = tuple(tuple(sorted(rng.choice(d, 3, replace=False).tolist())) for _ in range(n_triples))
    w = rng.standard_normal(d) / np.sqrt(d)
    x = rng.standard_normal((n, d))
    return rng, x, _signal(x, pairs, triples, w, linear), pairs, triples


def _split(name, x, y, s, pairs, triples):
    n = len(x)
    a, b = int(0.6 * n), int(0.8 * n)
    f = np.float32
    return TabularTask(
        name, x[:a].astype(f), y[:a], x[a:b].astype(f), y[a:b], x[b:].astype(f), y[b:], pairs, triples, s[b:]
    )


def interaction_regression(
    n: int,
    d: int,
    seed: int,
    *,
    n_pairs: int = 2,
    n_triples: int = 1,
    linear: float = 0.5,
    noise: float = 0.1,
) -> TabularTask:
    """Regression on x ~ N(0, I_d): y = linear·xᵀw + Σ pair products + Σ triple products + N(0, noise²)."""
    rng, x, s, pairs, triples = _draw(n, d, n_pairs, n_triples, linear, seed)
    y = (s + noise * rng.standard_normal(n)).astype(np.float32)
    return _split("interaction-regression", x, y, s, pairs, triples)


def interaction_classification(
    n: int, d: int, seed: int, *, n_pairs: int = 2, n_triples: int = 1, linear: float = 0.5
) -> TabularTask:
    """Binary labels: whether the interaction signal exceeds its median (balanced; no label noise)."""
    _, x, s, pairs, triples = _draw(n, d, n_pairs, n_triples, linear, seed)
    y = (s > np.median(s)).astype(np.int64)
    return _split("interaction-classification", x, y, s, pairs, triples)
