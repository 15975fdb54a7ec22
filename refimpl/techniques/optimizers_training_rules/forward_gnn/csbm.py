"""The synthetic graph: a contextual stochastic block model (CSBM; Deshpande et al. 2018), generated from a
seed, nothing downloaded.  C equal communities; an edge inside a community with probability p_in, across
with p_out; node features are the community's mean (a random direction of norm `mu`) plus N(0, I) noise,
so features alone classify a node only in part and the graph carries the rest."""

from __future__ import annotations

import dataclasses

import numpy as np

__all__ = ["Graph", "contextual_sbm"]


@dataclasses.dataclass(frozen=True)
class Graph:
    A: np.ndarray  # (n, n) symmetric 0/1, no self-loops
    x: np.ndarray  # (n, d) features
    y: np.ndarray  # (n,) labels
    train: np.ndarray  # node indices of each split
    val: np.ndarray
    test: np.ndarray
    n_classes: int


def contextual_sbm(
    seed: int,
    *,
    n_per_class: int = 100,
    n_classes: int = 4,
    n_features: int = 16,
    p_in: float = 0.05,
    p_out: float = 0.006,
    mu: float = 1.5,
    n_train_per_class: int = 10,
    n_val_per_class: int = 20,
    dtype=np.float32,
) -> Graph:
    """One CSBM graph and its splits (per class: `n_train_per_class` training, `n_val_per_class`
    validation nodes, the rest test), all from `seed`."""
    if not (0 <= p_out <= 1 and 0 <= p_in <= 1):
        raise ValueError(f"p_in and p_out must be probabilities, got {p_in}, {p_out}")
    if n_train_per_class + n_val_per_class >= n_per_class:
        raise ValueError("n_train_per_class + n_val_per_class must leave test nodes in every class")
    rng = np.random.default_rng(seed)
    n = n_per_class * n_classes
    y = np.repeat(np.arange(n_classes), n_per_class)
    p = np.where(y[:, None] == y[None, :], p_in, p_out)
    upper = np.triu(rng.random((n, n)) < p, 1)
    A = (upper | upper.T).astype(np.float64)
    means = rng.normal(size=(n_classes, n_features))
    means *= mu / np.linalg.norm(means, axis=1, keepdims=True)
    x = (means[y] + rng.normal(size=(n, n_features))).astype(dtype)
    train, val, test = [], [], []
    for c in range(n_classes):
        idx = rng.permutation(np.flatnonzero(y == c))
        train.append(idx[:n_train_per_class])
        val.append(idx[n_train_per_class : n_train_per_class + n_val_per_class])
        test.append(idx[n_train_per_class + n_val_per_class :])
    return Graph(A, x, y, *(np.sort(np.concatenate(s)) for s in (train, val, test)), n_classes)
