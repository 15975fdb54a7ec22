"""Minibatches over aligned arrays: `batches` (a generator) and `DataLoader` (re-iterable, per epoch).

Shuffling is seeded.  With an integer seed the permutation of epoch ``e`` comes from
``np.random.default_rng([seed, e])``, so every epoch has its own order and any epoch can be replayed
on its own; with a `np.random.Generator` the generator's state is used (and advanced).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import numpy as np

__all__ = ["Split", "batches", "DataLoader"]


class Split(NamedTuple):
    """A train/test split; unpacks as ``x_train, y_train, x_test, y_test``."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def _check_arrays(arrays) -> int:
    if not arrays:
        raise ValueError("arrays must be at least one array, got none")
    shapes = [np.shape(a) for a in arrays]
    if any(len(s) == 0 for s in shapes):
        raise ValueError(f"arrays must have a first (batch) dimension, got shapes {shapes}")
    if len({s[0] for s in shapes}) != 1:
        raise ValueError(f"arrays must all have the same first dimension, got shapes {shapes}")
    return shapes[0][0]


def _check_batch_size(batch_size) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")


def _rng(seed, epoch: int = 0) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative int or np.random.Generator, got {seed!r}")
    return np.random.default_rng([int(seed), int(epoch)])


def num_batches(n: int, batch_size: int, drop_last: bool = False) -> int:
    """How many minibatches `batches` yields for ``n`` rows."""
    return n // batch_size if drop_last else -(-n // batch_size)


def batches(
    *arrays,
    batch_size: int,
    shuffle: bool = True,
    drop_last: bool = False,
    seed: int | np.random.Generator = 0,
    epoch: int = 0,
) -> Iterator[tuple[np.ndarray, ...]]:
    """An iterator over aligned minibatches ``(a[idx], b[idx], ...)``, always tuples.

    Each row appears once per pass; with ``drop_last`` the final short batch is skipped.  ``epoch``
    only matters for an integer ``seed`` (see the module docstring).
    """
    n = _check_arrays(arrays)  # validated here, eagerly, not at the first next()
    _check_batch_size(batch_size)
    order = _rng(seed, epoch).permutation(n) if shuffle else np.arange(n)
    return _minibatches(
        tuple(np.asarray(a) for a in arrays), order, num_batches(n, batch_size, drop_last), batch_size
    )


def _minibatches(arrays, order, count, batch_size):
    for k in range(count):
        idx = order[k * batch_size : (k + 1) * batch_size]
        yield tuple(a[idx] for a in arrays)


class DataLoader:
    """Re-iterable `batches`: each ``iter()`` is a new epoch with its own seeded shuffle.

    ``epoch`` counts the passes started so far; set it to replay an epoch (or to resume).
    """

    def __init__(
        self, *arrays, batch_size: int, shuffle: bool = True, drop_last: bool = False, seed: int = 0
    ):
        self.n = _check_arrays(arrays)
        _check_batch_size(batch_size)
        if isinstance(seed, np.random.Generator):
            raise ValueError("seed must be an int for DataLoader (it seeds every epoch), got a Generator")
        _rng(seed)  # validate now rather than at the first epoch
        self.arrays = tuple(np.asarray(a) for a in arrays)
        self.batch_size, self.shuffle, self.drop_last, self.seed = batch_size, shuffle, drop_last, seed
        self.epoch = 0

    def __len__(self) -> int:
        return num_batches(self.n, self.batch_size, self.drop_last)

    def __iter__(self) -> Iterator[tuple[np.ndarray, ...]]:
        epoch, self.epoch = self.epoch, self.epoch + 1
        return batches(
            *self.arrays,
            batch_size=self.batch_size,
            shuffle=self.shuffle,
            drop_last=self.drop_last,
            seed=self.seed,
            epoch=epoch,
        )
