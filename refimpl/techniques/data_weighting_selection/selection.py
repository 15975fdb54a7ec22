"""Subset selection and resampling by score, shared by the family.

Every selector returns sorted int64 indices into the pool; deterministic for its `seed`; without repeats
unless it resamples with replacement.  Ties in a score are broken by the lower index first (a stable
sort), so a selection does not depend on the sort algorithm.

- `keep_count(n, fraction)`: how many examples a keep fraction means (round half up, at least 0).
- `keep_by_score(scores, size, order, offset)`: the `size` examples after skipping the `offset` most
  extreme in `order` ("highest": keep hard examples, skipping the hardest `offset`); the official
  data_diet/data.py:139-161 sorts ascending and keeps argsort()[-size:] ("keep_max_scores") or
  argsort()[o:o+size] ("offset"), which is order="highest" with offset = n − o − size.
- `class_balanced_keep(scores, y, fraction, order)`: the same rule within every class.
- `random_subset(n, size, seed)`: the ablation of the same size.
- `weighted_resample(weights, size, seed, replace)`: draws ∝ weights; without replacement by Gumbel-top-k
  (the k largest log wᵢ + Gᵢ, Gᵢ standard Gumbel), which is sequential sampling ∝ w without replacement.
"""

from __future__ import annotations

import numpy as np

__all__ = ["keep_count", "keep_by_score", "class_balanced_keep", "random_subset", "weighted_resample"]


def keep_count(n: int, fraction: float) -> int:
    """round(fraction · n), halves up: the number of examples a keep fraction in [0, 1] means."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"keep_count: `fraction` must be in [0, 1], got {fraction}")
    if n < 0:
        raise ValueError(f"keep_count: `n` must be ≥ 0, got {n}")
    return int(np.floor(fraction * n + 0.5))


def _scores(scores) -> np.ndarray:
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 1:
        raise ValueError(f"`scores` must be one score per example (1-D), got shape {s.shape}")
    if np.any(np.isnan(s)):
        raise ValueError("`scores` must not contain NaN")
    return s


def _ranked(s: np.ndarray, order: str) -> np.ndarray:
    """Indices from the most to the least extreme in `order`, ties by lower index first."""
    if order == "highest":
        return np.lexsort((np.arange(len(s)), -s))
    if order == "lowest":
        return np.lexsort((np.arange(len(s)), s))
    raise ValueError(f"`order` must be 'highest' or 'lowest', got {order!r}")


def keep_by_score(scores, size: int, order: str = "highest", offset: int = 0) -> np.ndarray:
    """Sorted indices of the `size` examples ranked `offset`..`offset+size−1` by `order`."""
    s = _scores(scores)
    if not 0 <= size <= len(s):
        raise ValueError(f"keep_by_score: `size` must be in [0, {len(s)}], got {size}")
    if not 0 <= offset <= len(s) - size:
        raise ValueError(
            f"keep_by_score: `offset` must be in [0, {len(s) - size}] for size {size}, got {offset}"
        )
    return np.sort(_ranked(s, order)[offset : offset + size]).astype(np.int64)


def class_balanced_keep(scores, y, fraction: float, order: str = "highest") -> np.ndarray:
    """Within each class c, the keep_count(n_c, fraction) examples first in `order`; sorted indices."""
    s = _scores(scores)
    y = np.asarray(y)
    if y.shape != s.shape:
        raise ValueError(f"class_balanced_keep: `y` must have shape {s.shape}, got {y.shape}")
    kept = []
    for c in np.unique(y):
        members = np.flatnonzero(y == c)
        k = keep_count(len(members), fraction)
        kept.append(members[keep_by_score(s[members], k, order)])
    return np.sort(np.concatenate(kept)).astype(np.int64) if kept else np.zeros(0, np.int64)


def random_subset(n: int, size: int, seed: int) -> np.ndarray:
    """Sorted indices of `size` distinct examples out of n, uniformly at random from `seed`."""
    if not 0 <= size <= n:
        raise ValueError(f"random_subset: `size` must be in [0, {n}], got {size}")
    return np.sort(np.random.default_rng(seed).choice(n, size=size, replace=False)).astype(np.int64)


def weighted_resample(weights, size: int, seed: int, replace: bool = True) -> np.ndarray:
    """Sorted indices drawn with probability ∝ weights (≥ 0): i.i.d. with replacement, or Gumbel-top-k
    without (then at most the number of positive weights)."""
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 1 or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise ValueError("weighted_resample: `weights` must be 1-D, finite, ≥ 0 and not all zero")
    rng = np.random.default_rng(seed)
    if replace:
        if size < 0:
            raise ValueError(f"weighted_resample: `size` must be ≥ 0, got {size}")
        return np.sort(rng.choice(len(w), size=size, replace=True, p=w / w.sum())).astype(np.int64)
    positive = int(np.count_nonzero(w))
    if not 0 <= size <= positive:
        raise ValueError(
            f"weighted_resample: without replacement `size` must be in [0, {positive}], got {size}"
        )
    with np.errstate(divide="ignore"):
        keys = np.log(w) + rng.gumbel(size=len(w))
    return np.sort(_ranked(keys, "highest")[:size]).astype(np.int64)
