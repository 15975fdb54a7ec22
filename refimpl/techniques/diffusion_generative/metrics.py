r"""Sample-quality metrics, each exact or a well-known estimator, for comparing generated samples with data.

* `sliced_wasserstein` — :math:`\mathrm{SW}_2(a, b)^2 = \mathbb E_{\theta\sim U(S^{d-1})} W_2^2(\theta^\top a,
  \theta^\top b)`; in one dimension W₂ between equal-size samples pairs the sorted values, so the estimator is
  exact per direction and Monte Carlo over directions (a fixed set of directions from `seed`).
* `mmd2` — the unbiased estimate of the squared maximum mean discrepancy with a Gaussian kernel of fixed
  bandwidth (Gretton et al. 2012, Lemma 6): within-set means over pairs i ≠ j, minus twice the cross mean.
* `nll` — −mean log p(x) of the samples under the known toy density (how much of the samples lies where the
  data do; it rewards collapse onto the modes, so read it beside coverage).
* `mode_coverage`, `mode_precision` — the fraction of the mixture's modes that received at least `min_count`
  samples within `radius`, and the fraction of samples within `radius` of some mode.
"""

from __future__ import annotations

import numpy as np

__all__ = ["sliced_wasserstein", "mmd2", "nll", "mode_coverage", "mode_precision"]


def _pair(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(
            f"`a` and `b` must be (n, d) and (m, d) arrays of one d, got {a.shape} and {b.shape}"
        )
    return a, b


def sliced_wasserstein(a, b, n_projections: int = 256, seed=0) -> float:
    """SW₂ between two equal-size samples (directions drawn from `seed`, the same for every call)."""
    a, b = _pair(a, b)
    if len(a) != len(b):
        raise ValueError(f"sliced_wasserstein: equal sample sizes needed, got {len(a)} and {len(b)}")
    theta = np.random.default_rng(seed).standard_normal((a.shape[1], n_projections))
    theta /= np.linalg.norm(theta, axis=0)
    pa, pb = np.sort(a @ theta, axis=0), np.sort(b @ theta, axis=0)
    return float(np.sqrt(np.mean((pa - pb) ** 2)))


def mmd2(a, b, bandwidth: float) -> float:
    """Unbiased MMD² with k(x, y) = exp(−‖x − y‖²/(2 bandwidth²))."""
    a, b = _pair(a, b)
    if bandwidth <= 0 or len(a) < 2 or len(b) < 2:
        raise ValueError(f"need bandwidth > 0 and ≥ 2 samples per set, got {bandwidth}, {len(a)}, {len(b)}")

    def k(x, y):
        d2 = (x**2).sum(1)[:, None] + (y**2).sum(1)[None] - 2 * x @ y.T
        return np.exp(-np.maximum(d2, 0) / (2 * bandwidth**2))

    kaa, kbb = k(a, a), k(b, b)
    n, m = len(a), len(b)
    within = (kaa.sum() - np.trace(kaa)) / (n * (n - 1)) + (kbb.sum() - np.trace(kbb)) / (m * (m - 1))
    return float(within - 2 * k(a, b).mean())


def nll(mixture, samples) -> float:
    """−mean log p(samples) under the known mixture."""
    return float(-np.mean(mixture.log_prob(samples)))


def _near(samples, modes, radius):
    samples, modes = _pair(samples, modes)
    if radius <= 0:
        raise ValueError(f"`radius` must be > 0, got {radius}")
    return ((samples[:, None, :] - modes[None]) ** 2).sum(-1) <= radius**2  # (n, K)


def mode_coverage(samples, modes, radius: float, min_count: int = 1) -> float:
    """Fraction of modes with at least `min_count` samples within `radius`."""
    return float(np.mean(_near(samples, modes, radius).sum(0) >= min_count))


def mode_precision(samples, modes, radius: float) -> float:
    """Fraction of samples within `radius` of some mode."""
    return float(np.mean(_near(samples, modes, radius).any(1)))
