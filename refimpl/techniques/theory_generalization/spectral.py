r"""Spectral tools shared by the family: the empirical spectral density (ESD) of a weight matrix, the heavy-tail
exponent of its upper half by maximum likelihood (the Hill estimator), and the Marchenko–Pastur law that a matrix
of i.i.d. entries follows, against which heavy tails are judged.

The ESD of an N × M matrix W is the distribution of the eigenvalues of WᵀW (the squared singular values).  A
power-law tail ρ(λ) ∝ λ^(−α) above λ_min has the maximum-likelihood exponent

.. math::

    \hat\alpha = 1 + \frac{n}{\sum_{i:\,\lambda_i \ge \lambda_{\min}} \log(\lambda_i/\lambda_{\min})},

n the number of eigenvalues at or above λ_min (`hill_alpha`).  For unit-variance i.i.d. entries and side ratio
q = N/M ≤ 1 the eigenvalues of W Wᵀ/M fill the Marchenko–Pastur density on [(1 − √q)², (1 + √q)²]
(`mp_density`), whose large-matrix Hill exponent `mp_alpha` depends on q alone — the aspect-ratio bias that FARMS
removes.
"""

from __future__ import annotations

import numpy as np
from scipy import integrate, optimize

__all__ = ["eigenvalues", "hill_alpha", "mp_edges", "mp_density", "mp_alpha"]


def _matrix(W, name="W") -> np.ndarray:
    W = np.asarray(W, dtype=np.float64)
    if W.ndim != 2 or min(W.shape) < 1:
        raise ValueError(f"`{name}` must be a non-empty 2-D matrix, got shape {W.shape}")
    if not np.all(np.isfinite(W)):
        raise ValueError(f"`{name}` holds non-finite values")
    return W


def eigenvalues(W) -> np.ndarray:
    """The ESD's eigenvalues: the squared singular values of W, ascending."""
    return np.sort(np.linalg.svd(_matrix(W), compute_uv=False) ** 2)


def hill_alpha(eigs, xmin_pos: int = 2) -> float:
    """The power-law exponent of the eigenvalues at and above λ_min = sorted(eigs)[⌊N/xmin_pos⌋] (maximum
    likelihood, WeightWatcher's 'xmin_mid' rule; xmin_pos = 2 puts λ_min at the median)."""
    e = np.sort(np.asarray(eigs, dtype=np.float64).ravel())
    if xmin_pos < 1:
        raise ValueError(f"`xmin_pos` must be ≥ 1, got {xmin_pos}")
    if e.size < 3 or e[0] <= 0 or not np.all(np.isfinite(e)):
        raise ValueError(
            f"`eigs` must hold at least 3 positive finite values, got {e.size} (min {e.min():g})"
        )
    i = int(e.size / xmin_pos)
    tail = np.log(e[i:] / e[i])
    if tail.sum() <= 0:
        raise ValueError("`eigs`: the values above λ_min are all equal; no tail to fit")
    return float(1.0 + tail.size / tail.sum())


def mp_edges(q: float) -> tuple[float, float]:
    """The Marchenko–Pastur support [(1 − √q)², (1 + √q)²] for the side ratio q in (0, 1]."""
    if not 0 < q <= 1:
        raise ValueError(f"`q` (the short side over the long side) must be in (0, 1], got {q}")
    return (1 - np.sqrt(q)) ** 2, (1 + np.sqrt(q)) ** 2


def mp_density(x, q: float) -> np.ndarray:
    """ρ_q(x) = √((b − x)(x − a)) / (2π q x) on [a, b], zero outside (the eigenvalues of W Wᵀ/M, N ≤ M, q = N/M,
    unit-variance entries)."""
    a, b = mp_edges(q)
    x = np.asarray(x, dtype=np.float64)
    inside = (x > a) & (x < b) & (x > 0)
    out = np.zeros_like(x)
    out[inside] = np.sqrt((b - x[inside]) * (x[inside] - a)) / (2 * np.pi * q * x[inside])
    return out


def mp_alpha(q: float) -> float:
    """The large-matrix limit of `hill_alpha` (λ_min at the median) on a Marchenko–Pastur spectrum of ratio q."""
    a, b = mp_edges(q)

    def cdf(t):
        return integrate.quad(lambda x: mp_density(x, q), a, t, limit=200)[0]

    med = optimize.brentq(lambda t: cdf(t) - 0.5, a + 1e-12, b, xtol=1e-13)
    mean_log = 2 * integrate.quad(lambda x: np.log(x / med) * mp_density(x, q), med, b, limit=200)[0]
    return float(1.0 + 1.0 / mean_log)
