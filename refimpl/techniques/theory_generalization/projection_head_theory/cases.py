"""Reference cases of the linear contrastive model, by hand: the optimal gain, the loss of the identity map, the
population moments, and the geometric-mean weighting."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from . import layer_weights, optimal_gains, population_moments, spectral_contrastive_loss

_PATH = "refimpl.techniques.theory_generalization.projection_head_theory"


def _gains(a, rho, sigma):
    return {"gains": optimal_gains(a, rho, sigma)}


def _loss(W, T, S):
    return {"loss": np.array([spectral_contrastive_loss(np.asarray(W), np.asarray(T), np.asarray(S))])}


def _moments(a, rho, sigma, n_noise):
    T, S = population_moments(a, rho, sigma, n_noise)
    return {"T": np.diag(T), "S": np.diag(S)}


def _weights(a, gains):
    w = layer_weights(a, gains)
    return {"input": w["input"], "pre": w["pre"], "post": w["post"]}


def reference_cases() -> list:
    return [
        ReferenceCase(
            name="optimal_gains",
            inputs={"a": [1.0, 2.0], "rho": [1.0, 0.25], "sigma": 1.0},
            expected={"gains": [0.5, 0.2]},
            compute=_gains,
            function=f"{_PATH}.optimal_gains",
            note="a√ρ/(a² + σ²): 1·1/2 = 0.5 and 2·0.5/5 = 0.2.",
            atol=1e-15,
        ),
        ReferenceCase(
            name="loss_of_identity",
            inputs={"W": np.eye(2).tolist(), "T": [[1.0, 0.0], [0.0, 0.5]], "S": [[2.0, 0.0], [0.0, 1.0]]},
            expected={"loss": [2.0]},
            compute=_loss,
            function=f"{_PATH}.spectral_contrastive_loss",
            note="−2 tr T + tr Σ² = −2·1.5 + (4 + 1) = 2.",
            atol=1e-15,
        ),
        ReferenceCase(
            name="population_moments",
            inputs={"a": [2.0], "rho": [0.5], "sigma": 1.0, "n_noise": 1},
            expected={"T": [2.0, 0.0], "S": [5.0, 1.0]},
            compute=_moments,
            function=f"{_PATH}.population_moments",
            note="T = a²ρ = 2 on the feature, 0 on noise; Σ = a² + σ² = 5 and σ² = 1.",
            atol=1e-15,
        ),
        ReferenceCase(
            name="geometric_mean_weighting",
            inputs={"a": [4.0], "gains": [0.25]},
            expected={"input": [4.0], "pre": [2.0], "post": [1.0]},
            compute=_weights,
            function=f"{_PATH}.layer_weights",
            note="pre = a√s = 4·½ = 2 = √(input · post) = √(4·1).",
            atol=1e-15,
        ),
    ]
