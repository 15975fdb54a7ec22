"""Reference cases of the DAE's score, by hand: the catalogue's Gaussian example, Tweedie's posterior mean for one
Gaussian component, and for a symmetric two-component mixture at an off-centre point."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from ..toys import GaussianMixture
from . import gaussian_optimal_dae, optimal_reconstruction, score_estimate

_PATH = "refimpl.techniques.diffusion_generative.dae_score"


def _gaussian_score(s, sigma, x):
    gain = gaussian_optimal_dae(s, sigma)
    return {"score": score_estimate(lambda z: gain * z, np.array([[x]]), sigma)[0]}


def _tweedie(means, std, sigma, x):
    mixture = GaussianMixture(np.asarray(means, dtype=float)[:, None], std)
    return {"r": optimal_reconstruction(mixture, np.array([[x]]), sigma)[0]}


def _two_component_by_hand(s, sigma, x):
    """E[x | x̃] for ½N(−1, s²) + ½N(1, s²): each component's posterior mean ±1 + s²/v (x̃ ∓ 1), v = s² + σ²,
    weighted by the components' likelihoods of x̃ under N(±1, v)."""
    v = s**2 + sigma**2
    w_plus, w_minus = np.exp(-((x - 1) ** 2) / (2 * v)), np.exp(-((x + 1) ** 2) / (2 * v))
    m_plus, m_minus = 1 + s**2 / v * (x - 1), -1 + s**2 / v * (x + 1)
    return (w_plus * m_plus + w_minus * m_minus) / (w_plus + w_minus)


def reference_cases() -> list:
    return [
        ReferenceCase(
            name="gaussian_dae_score",
            inputs={"s": 1.0, "sigma": 0.1, "x": 2.0},
            expected={"score": [-2 / 1.01]},
            compute=_gaussian_score,
            function=f"{_PATH}.score_estimate",
            note="N(0, 1) data, σ = 0.1: r*(x) = x/1.01, (r*(2) − 2)/0.01 = −2/1.01 = −1.980198 (true score −2).",
            atol=1e-12,
        ),
        ReferenceCase(
            name="tweedie_one_component",
            inputs={"means": [1.0], "std": 0.5, "sigma": 0.5, "x": 3.0},
            expected={"r": [2.0]},
            compute=_tweedie,
            function=f"{_PATH}.optimal_reconstruction",
            note="m + s²/(s² + σ²)(x̃ − m) = 1 + 0.25/0.5 · 2 = 2.",
            atol=1e-12,
        ),
        ReferenceCase(
            name="tweedie_two_components",
            inputs={"means": [-1.0, 1.0], "std": 0.3, "sigma": 0.4, "x": 0.5},
            expected={"r": [_two_component_by_hand(0.3, 0.4, 0.5)]},
            compute=_tweedie,
            function=f"{_PATH}.optimal_reconstruction",
            note="v = 0.25; weights ∝ e^{−0.5}, e^{−4.5}; component means 0.82 and −0.46.",
            atol=1e-12,
        ),
    ]
