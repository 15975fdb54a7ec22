"""Toy data of the representations-weighting family: 2-D point clouds whose boundary and outliers are known,
and Gaussian few-shot classification tasks whose Bayes classifier is known.

Every generator takes an integer `seed` and returns float64 arrays; the same seed gives the same data."""

from __future__ import annotations

import dataclasses

import numpy as np

__all__ = ["POINT_CLOUDS", "point_cloud", "with_outliers", "FewShotTask", "few_shot_gaussian_task"]

POINT_CLOUDS = ("disk", "annulus", "moons", "square")


def _positive_int(name, value, fn, minimum=1):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{fn}: `{name}` must be an integer ≥ {minimum}, got {value!r}")
    return int(value)


def point_cloud(kind: str, n: int, seed: int, noise: float = 0.0) -> np.ndarray:
    """n points (n, 2) drawn uniformly from a shape: "disk" (unit disk), "annulus" (radii 0.5–1), "moons"
    (two interleaved half circles, radius 1) or "square" ([−1, 1]²), plus N(0, noise²) per coordinate."""
    if kind not in POINT_CLOUDS:
        raise ValueError(f"point_cloud: `kind` must be one of {POINT_CLOUDS}, got {kind!r}")
    n = _positive_int("n", n, "point_cloud")
    if not noise >= 0:
        raise ValueError(f"point_cloud: `noise` must be ≥ 0, got {noise!r}")
    rng = np.random.default_rng(seed)
    if kind in ("disk", "annulus"):
        r_in = 0.0 if kind == "disk" else 0.5
        r = np.sqrt(rng.uniform(r_in**2, 1.0, n))  # uniform in area
        a = rng.uniform(0, 2 * np.pi, n)
        x = np.stack([r * np.cos(a), r * np.sin(a)], 1)
    elif kind == "moons":
        t, upper = rng.uniform(0, np.pi, n), rng.random(n) < 0.5
        x = np.where(
            upper[:, None], np.stack([np.cos(t), np.sin(t)], 1), np.stack([1 - np.cos(t), 0.5 - np.sin(t)], 1)
        )
    else:
        x = rng.uniform(-1, 1, (n, 2))
    return x + noise * rng.standard_normal(x.shape)


def with_outliers(x, n_outliers: int, seed: int, radius: tuple = (1.5, 2.5)) -> tuple[np.ndarray, np.ndarray]:
    """(points, is_outlier): `x` with `n_outliers` points added uniformly at distances `radius` = (lo, hi)
    from the centre of x's bounding box (outside the cloud when lo exceeds its half-diagonal), shuffled."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"with_outliers: `x` must be (n, 2), got shape {x.shape}")
    k = _positive_int("n_outliers", n_outliers, "with_outliers", minimum=0)
    lo, hi = radius
    if not 0 <= lo <= hi:
        raise ValueError(f"with_outliers: `radius` must be (lo, hi) with 0 ≤ lo ≤ hi, got {radius!r}")
    rng = np.random.default_rng(seed)
    centre = (x.min(0) + x.max(0)) / 2
    r, a = rng.uniform(lo, hi, k), rng.uniform(0, 2 * np.pi, k)
    out = centre + np.stack([r * np.cos(a), r * np.sin(a)], 1)
    pts = np.concatenate([x, out])
    flag = np.r_[np.zeros(len(x), bool), np.ones(k, bool)]
    order = rng.permutation(len(pts))
    return pts[order], flag[order]


@dataclasses.dataclass(frozen=True)
class FewShotTask:
    """One episode: support (x_support, y_support) with `n_shot` labelled points per class, query
    (x_query, y_query), and the class means the data came from (identity covariance × `std`²)."""

    x_support: np.ndarray
    y_support: np.ndarray
    x_query: np.ndarray
    y_query: np.ndarray
    means: np.ndarray
    std: float

    def bayes_predict(self, x) -> np.ndarray:
        """The Bayes classifier of the query distribution when the class proportions are uniform: the
        nearest class mean."""
        d2 = ((np.asarray(x)[:, None, :] - self.means[None]) ** 2).sum(-1)
        return np.argmin(d2, axis=1)


def few_shot_gaussian_task(
    n_way: int,
    n_shot: int,
    n_query: int,
    dim: int,
    seed: int,
    *,
    separation: float = 2.0,
    std: float = 1.0,
    query_proportions=None,
) -> FewShotTask:
    """A Gaussian few-shot episode: `n_way` class means drawn from N(0, (separation²/2)·I_dim), so that the
    difference of two means is N(0, separation²·I) per coordinate; points N(μ_c, std²·I).  The support has
    `n_shot` points per class; the query `n_query` points in all, split by `query_proportions` (default
    uniform; a non-uniform split is the class imbalance a transductive method must estimate)."""
    fn = "few_shot_gaussian_task"
    n_way, n_shot = _positive_int("n_way", n_way, fn, 2), _positive_int("n_shot", n_shot, fn)
    n_query, dim = _positive_int("n_query", n_query, fn, n_way), _positive_int("dim", dim, fn)
    if not (separation > 0 and std > 0):
        raise ValueError(f"{fn}: `separation` and `std` must be > 0, got {separation!r}, {std!r}")
    p = np.full(n_way, 1.0 / n_way) if query_proportions is None else np.asarray(query_proportions, float)
    if p.shape != (n_way,) or np.any(p < 0) or not np.isclose(p.sum(), 1.0):
        raise ValueError(
            f"{fn}: `query_proportions` must be {n_way} non-negative numbers summing to 1, got {p}"
        )
    rng = np.random.default_rng(seed)
    means = rng.normal(0, separation / np.sqrt(2), (n_way, dim))
    counts = np.floor(p * n_query).astype(int)
    counts[np.argsort(-(p * n_query - counts))[: n_query - counts.sum()]] += 1  # largest remainders
    ys = np.repeat(np.arange(n_way), n_shot)
    yq = np.repeat(np.arange(n_way), counts)
    xs = means[ys] + std * rng.standard_normal((len(ys), dim))
    xq = means[yq] + std * rng.standard_normal((len(yq), dim))
    order = rng.permutation(len(yq))
    return FewShotTask(xs, ys, xq[order], yq[order], means, float(std))
