r"""Samplers of discrete-time diffusion, given a noise predictor ε̂(x_t, t).

``eps_fn(x, t)`` takes a batch x of shape (n, d) and a 0-based step index t (an int: every row is at the same
step) and returns ε̂ of shape (n, d) — a trained network or the exact predictor of a known density
(`exact_eps`), which lets a test check a sampler apart from any learning.

* DDPM ancestral sampling (Ho et al., arXiv 2006.11239, Algorithm 2):
  :math:`x_{t-1} = \frac{1}{\sqrt{\alpha_t}}\big(x_t - \frac{\beta_t}{\sqrt{1 - \bar\alpha_t}}\hat\varepsilon\big) +
  \sigma_t z`, with :math:`\sigma_t^2 = \beta_t` or the posterior variance
  :math:`\tilde\beta_t = \frac{1 - \bar\alpha_{t-1}}{1 - \bar\alpha_t}\beta_t` (their two choices, Sec. 3.2).
* DDIM (Song, Meng & Ermon, arXiv 2010.02502, Eq. 12) on a sub-sequence of steps τ:
  :math:`\hat x_0 = (x_t - \sqrt{1 - \bar\alpha_t}\,\hat\varepsilon)/\sqrt{\bar\alpha_t}`,
  :math:`x_{\rm prev} = \sqrt{\bar\alpha_{\rm prev}}\,\hat x_0 + \sqrt{1 - \bar\alpha_{\rm prev} - \sigma^2}\,\hat\varepsilon
  + \sigma z`, :math:`\sigma = \eta\sqrt{(1 - \bar\alpha_{\rm prev})/(1 - \bar\alpha_t)}\sqrt{1 - \bar\alpha_t/\bar\alpha_{\rm
  prev}}` (Eq. 16); η = 0 is deterministic, η = 1 matches DDPM's variance.
"""

from __future__ import annotations

import numpy as np

from .schedules import alpha_bars

__all__ = ["exact_eps", "ddpm_sample", "ddim_sample"]


def exact_eps(mixture, alpha_bar):
    """The optimal noise predictor for data from `mixture` (a `toys.GaussianMixture`):
    ε*(x, t) = −√(1 − ᾱ_t) ∇ log p_t(x), p_t the law of √ᾱ_t x_0 + √(1 − ᾱ_t) ε."""
    alpha_bar = np.asarray(alpha_bar, dtype=np.float64)

    def eps(x, t):
        a = alpha_bar[t]
        return -np.sqrt(1 - a) * mixture.noised(np.sqrt(a), np.sqrt(1 - a)).score(x)

    return eps


def _start(shape, rng, x_T):
    rng = np.random.default_rng(rng)
    x = rng.standard_normal(shape) if x_T is None else np.array(x_T, dtype=np.float64)
    return rng, x


def ddpm_sample(eps_fn, shape, betas, rng, *, variance: str = "beta", x_T=None, return_path: bool = False):
    """Ancestral sampling from x_T ~ N(0, I) through all T steps; the samples (and the path x_T … x_0)."""
    if variance not in ("beta", "posterior"):
        raise ValueError(f"`variance` must be 'beta' or 'posterior', got {variance!r}")
    betas = np.asarray(betas, dtype=np.float64)
    abar = alpha_bars(betas)
    rng, x = _start(shape, rng, x_T)
    path = [x.copy()] if return_path else None
    for t in range(len(betas) - 1, -1, -1):
        eps = eps_fn(x, t)
        mean = (x - betas[t] / np.sqrt(1 - abar[t]) * eps) / np.sqrt(1 - betas[t])
        if t > 0:
            var = betas[t] if variance == "beta" else (1 - abar[t - 1]) / (1 - abar[t]) * betas[t]
            x = mean + np.sqrt(var) * rng.standard_normal(x.shape)
        else:
            x = mean
        if return_path:
            path.append(x.copy())
    return (x, np.stack(path)) if return_path else x


def ddim_sample(eps_fn, shape, alpha_bar, steps: int, rng, *, eta: float = 0.0, x_T=None, return_path=False):
    """DDIM on `steps` evenly spaced steps of the T in `alpha_bar` (Song et al. 2021, Eq. 12 and 16)."""
    alpha_bar = np.asarray(alpha_bar, dtype=np.float64)
    T = len(alpha_bar)
    if not 1 <= steps <= T:
        raise ValueError(f"`steps` must be in 1..{T}, got {steps}")
    if eta < 0:
        raise ValueError(f"`eta` must be ≥ 0, got {eta}")
    taus = np.unique(np.round(np.linspace(0, T - 1, steps)).astype(int))[::-1]
    rng, x = _start(shape, rng, x_T)
    path = [x.copy()] if return_path else None
    for i, t in enumerate(taus):
        a = alpha_bar[t]
        a_prev = alpha_bar[taus[i + 1]] if i + 1 < len(taus) else 1.0
        eps = eps_fn(x, t)
        x0 = (x - np.sqrt(1 - a) * eps) / np.sqrt(a)
        sigma = eta * np.sqrt((1 - a_prev) / (1 - a)) * np.sqrt(1 - a / a_prev)
        x = np.sqrt(a_prev) * x0 + np.sqrt(max(1 - a_prev - sigma**2, 0.0)) * eps
        if sigma > 0:
            x = x + sigma * rng.standard_normal(x.shape)
        if return_path:
            path.append(x.copy())
    return (x, np.stack(path)) if return_path else x
