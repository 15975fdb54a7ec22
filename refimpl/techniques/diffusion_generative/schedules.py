r"""Noise schedules of discrete-time diffusion: the variances β_t and the signal level ᾱ_t = Π_{s≤t}(1 − β_s).

The forward process noises data in T steps, :math:`q(x_t \mid x_0) = \mathcal N(\sqrt{\bar\alpha_t}\,x_0,\ (1 -
\bar\alpha_t) I)` (Ho, Jain & Abbeel, *Denoising Diffusion Probabilistic Models*, arXiv 2006.11239, Eq. 4).  Two
schedules are standard:

* linear (Ho et al. Sec. 4): β_t rising linearly from 10⁻⁴ to 0.02 over T = 1000 steps;
* cosine (Nichol & Dhariwal, *Improved Denoising Diffusion Probabilistic Models*, arXiv 2102.09672, Eq. 17):
  :math:`\bar\alpha_t = f(t)/f(0)`, :math:`f(t) = \cos^2\big(\tfrac{t/T + s}{1 + s}\cdot\tfrac{\pi}{2}\big)`, s = 0.008,
  with β_t = 1 − ᾱ_t/ᾱ_{t−1} clipped at 0.999.

Arrays are indexed by t − 1 (entry 0 is the first noising step).  The signal-to-noise ratio
:math:`\mathrm{SNR}(t) = \bar\alpha_t/(1 - \bar\alpha_t)` is what loss weightings are written in.
"""

from __future__ import annotations

import numpy as np

__all__ = ["linear_betas", "cosine_betas", "alpha_bars", "snr", "q_sample"]


def _steps(T) -> int:
    if int(T) != T or T < 1:
        raise ValueError(f"`T` must be a positive integer, got {T}")
    return int(T)


def linear_betas(T: int = 1000, beta_1: float = 1e-4, beta_T: float = 0.02) -> np.ndarray:
    """β_1..β_T evenly spaced (Ho et al. 2020, Sec. 4; their values for T = 1000)."""
    T = _steps(T)
    if not 0 < beta_1 <= beta_T < 1:
        raise ValueError(f"need 0 < beta_1 ≤ beta_T < 1, got {beta_1}, {beta_T}")
    return np.linspace(beta_1, beta_T, T)


def cosine_betas(T: int = 1000, s: float = 0.008, max_beta: float = 0.999) -> np.ndarray:
    """β_t = 1 − ᾱ_t/ᾱ_{t−1} of the cosine schedule (Nichol & Dhariwal 2021, Eq. 17), clipped at `max_beta`."""
    T = _steps(T)
    f = np.cos((np.arange(T + 1) / T + s) / (1 + s) * np.pi / 2) ** 2
    abar = f / f[0]  # ᾱ_0 = 1 … ᾱ_T
    return np.minimum(1 - abar[1:] / abar[:-1], max_beta)


def alpha_bars(betas) -> np.ndarray:
    """ᾱ_t = Π_{s≤t} (1 − β_s)."""
    betas = np.asarray(betas, dtype=np.float64)
    if betas.ndim != 1 or np.any(betas <= 0) or np.any(betas >= 1):
        raise ValueError("`betas` must be a 1-d array of values in (0, 1)")
    return np.cumprod(1 - betas)


def snr(alpha_bar) -> np.ndarray:
    """SNR = ᾱ/(1 − ᾱ)."""
    a = np.asarray(alpha_bar, dtype=np.float64)
    return a / (1 - a)


def q_sample(x0, t, eps, alpha_bar) -> np.ndarray:
    """x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε for integer steps t (0-based, one per row)."""
    a = np.asarray(alpha_bar)[np.asarray(t)]
    a = a.reshape(a.shape + (1,) * (np.ndim(x0) - np.ndim(a)))
    return np.sqrt(a) * x0 + np.sqrt(1 - a) * eps
