r"""Toy data with a known density: isotropic Gaussian mixtures in the plane, and the 8×8 digits.

Every 2-D toy here — eight Gaussians on a circle, concentric rings, two moons, a grid — is a Gaussian mixture
:math:`p(x) = \sum_k w_k\,\mathcal N(x;\mu_k, s_k^2 I)` (a ring or a moon is many small components along a curve).
That makes everything a diffusion experiment needs exact: the log-density and the score, and — because a mixture
convolved with a Gaussian is again a mixture — the density of the *noised* data :math:`\alpha x + \sigma\varepsilon`
at every noise level,

.. math::

    p_{\alpha,\sigma}(x) = \sum_k w_k\,\mathcal N\big(x;\ \alpha\mu_k,\ (\alpha^2 s_k^2 + \sigma^2) I\big),

whose score gives the optimal denoiser (`GaussianMixture.noised`).  Techniques use it as the reference a learned
model is checked against, and to sample with the exact score when the sampler alone is under test.
"""

from __future__ import annotations

import numpy as np
from scipy import special

__all__ = ["GaussianMixture", "eight_gaussians", "rings", "moons", "grid", "digits_8x8"]


class GaussianMixture:
    """p(x) = Σ_k w_k N(x; μ_k, s_k² I) in d dimensions: sample, log_prob, score, and the noised mixture."""

    def __init__(self, means, stds, weights=None):
        means = np.atleast_2d(np.asarray(means, dtype=np.float64))
        k = means.shape[0]
        stds = np.broadcast_to(np.asarray(stds, dtype=np.float64), (k,)).copy()
        weights = np.full(k, 1.0 / k) if weights is None else np.asarray(weights, dtype=np.float64)
        if weights.shape != (k,) or np.any(weights < 0) or not np.isclose(weights.sum(), 1.0):
            raise ValueError(f"`weights` must be {k} non-negative numbers summing to 1, got {weights}")
        if np.any(stds <= 0):
            raise ValueError(f"`stds` must be > 0, got {stds}")
        self.means, self.stds, self.weights = means, stds, weights

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    def _points(self, x) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"`x` must have shape (n, {self.dim}), got {x.shape}")
        return x

    def sample(self, n: int, rng) -> tuple[np.ndarray, np.ndarray]:
        """n points and the component each came from."""
        rng = np.random.default_rng(rng)
        k = rng.choice(len(self.weights), size=n, p=self.weights)
        return self.means[k] + self.stds[k, None] * rng.standard_normal((n, self.dim)), k

    def _log_components(self, x) -> np.ndarray:
        """log w_k + log N(x; μ_k, s_k² I), shape (n, K)."""
        d2 = ((x[:, None, :] - self.means[None]) ** 2).sum(-1)
        var = self.stds**2
        return np.log(self.weights) - 0.5 * d2 / var - 0.5 * self.dim * np.log(2 * np.pi * var)

    def log_prob(self, x) -> np.ndarray:
        return special.logsumexp(self._log_components(self._points(x)), axis=1)

    def responsibilities(self, x) -> np.ndarray:
        """P(component k | x), shape (n, K)."""
        lc = self._log_components(self._points(x))
        return np.exp(lc - special.logsumexp(lc, axis=1, keepdims=True))

    def score(self, x) -> np.ndarray:
        """∇_x log p(x) = Σ_k P(k | x) (μ_k − x)/s_k²."""
        x = self._points(x)
        r = self.responsibilities(x) / self.stds**2
        return r @ self.means - r.sum(1, keepdims=True) * x

    def noised(self, alpha: float, sigma: float) -> GaussianMixture:
        """The law of αx + σε, x ~ p, ε ~ N(0, I): means αμ_k, variances α²s_k² + σ²."""
        if alpha < 0 or sigma < 0 or alpha == sigma == 0:
            raise ValueError(f"need alpha ≥ 0, sigma ≥ 0, not both 0; got {alpha}, {sigma}")
        return GaussianMixture(alpha * self.means, np.sqrt(alpha**2 * self.stds**2 + sigma**2), self.weights)


def eight_gaussians(radius: float = 2.0, std: float = 0.1) -> GaussianMixture:
    """Eight equal components on a circle (the usual flow-matching target)."""
    angles = np.arange(8) * np.pi / 4
    return GaussianMixture(radius * np.stack([np.cos(angles), np.sin(angles)], 1), std)


def rings(radii=(1.0, 2.0), per_unit_length: float = 8.0, std: float = 0.08) -> GaussianMixture:
    """Concentric rings, each a chain of small components (weights ∝ circumference: uniform along the rings)."""
    means = []
    for r in radii:
        n = max(8, int(round(2 * np.pi * r * per_unit_length)))
        a = 2 * np.pi * np.arange(n) / n
        means.append(r * np.stack([np.cos(a), np.sin(a)], 1))
    means = np.concatenate(means)
    return GaussianMixture(means, std)


def moons(per_moon: int = 24, std: float = 0.08) -> GaussianMixture:
    """Two interleaved half circles (scikit-learn's two moons, centred), as chains of small components."""
    a = np.linspace(0, np.pi, per_moon)
    upper = np.stack([np.cos(a), np.sin(a)], 1)
    lower = np.stack([1 - np.cos(a), 0.5 - np.sin(a)], 1)
    return GaussianMixture(np.concatenate([upper, lower]) - [0.5, 0.25], std)


def grid(k: int = 5, spacing: float = 1.0, std: float = 0.05) -> GaussianMixture:
    """k × k equal components on a square grid centred at the origin (many modes: a coverage test)."""
    c = (np.arange(k) - (k - 1) / 2) * spacing
    xx, yy = np.meshgrid(c, c)
    return GaussianMixture(np.stack([xx.ravel(), yy.ravel()], 1), std)


def digits_8x8(split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """The 8×8 digits of `refimpl.experiments.tasks.digits` as (n, 64) float32 in [−1, 1], and their labels."""
    from ...experiments.tasks import digits

    if split not in ("train", "val", "test"):
        raise ValueError(f"`split` must be 'train', 'val' or 'test', got {split!r}")
    task = digits()
    x, y = getattr(task, f"x_{split}"), getattr(task, f"y_{split}")
    return (2 * x - 1).astype(np.float32), y
