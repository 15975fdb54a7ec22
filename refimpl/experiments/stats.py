"""Summaries over seeds: mean ± std and a paired confidence interval (Student's t).

With n seeds the interval of a mean difference d̄ is  d̄ ± t_{n−1, 1−α/2} · s_d / √n,  s_d the sample
standard deviation of the per-seed differences.  Few seeds give wide intervals, and that is the point:
a verdict from three seeds must survive a t quantile of 4.30.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

__all__ = ["Interval", "mean_interval", "paired_interval"]

CONFIDENCE = 0.95


@dataclasses.dataclass(frozen=True)
class Interval:
    """mean, sample std, n, and the two-sided `confidence` interval of the mean."""

    mean: float
    std: float
    n: int
    low: float
    high: float
    confidence: float = CONFIDENCE

    def __str__(self) -> str:
        return f"{self.mean:+.4f} [{self.low:+.4f}, {self.high:+.4f}]"


def mean_interval(values, confidence: float = CONFIDENCE) -> Interval:
    """The t interval of the mean of `values` (one per seed); n = 1 gives an infinite interval."""
    from scipy.stats import t

    v = np.asarray(values, dtype=np.float64).ravel()
    if v.size == 0:
        raise ValueError("mean_interval: needs at least one value, got none")
    if not np.all(np.isfinite(v)):
        raise ValueError(f"mean_interval: values must be finite, got {v.tolist()}")
    if not 0 < confidence < 1:
        raise ValueError(f"mean_interval: `confidence` must be in (0, 1), got {confidence}")
    mean = float(v.mean())
    if v.size == 1:
        return Interval(mean, 0.0, 1, -math.inf, math.inf, confidence)
    std = float(v.std(ddof=1))
    half = float(t.ppf(0.5 + confidence / 2, v.size - 1)) * std / math.sqrt(v.size)
    return Interval(mean, std, int(v.size), mean - half, mean + half, confidence)


def paired_interval(a, b, confidence: float = CONFIDENCE) -> Interval:
    """The t interval of mean(a − b) for values paired by seed (a[i] and b[i] share seed i)."""
    a, b = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(
            f"paired_interval: `a` and `b` need one value per seed each, got {a.size} and {b.size}"
        )
    return mean_interval(a - b, confidence)
