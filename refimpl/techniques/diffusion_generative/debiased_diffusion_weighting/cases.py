"""Reference cases of the weightings, by hand: the catalogue's four-step schedule (β = 0.1…0.4, so
ᾱ = 0.9, 0.72, 0.504, 0.3024 and SNR = 9, 2.571429, 1.016129, 0.433486), its debiased, Min-SNR-5 and P2 weights,
and the x₀ an exact ε implies."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from ..schedules import alpha_bars
from . import debiased_weights, min_snr_weights, p2_weights, x0_from_eps

_PATH = "refimpl.techniques.diffusion_generative.debiased_diffusion_weighting"


def _debiased(betas):
    return {"weight": debiased_weights(alpha_bars(betas))}


def _min_snr(betas, gamma):
    return {"weight": min_snr_weights(alpha_bars(betas), gamma)}


def _p2(betas, gamma, k):
    return {"weight": p2_weights(alpha_bars(betas), gamma, k)}


def _x0(x_t, eps, alpha_bar_t):
    return {"x0": x0_from_eps(np.array(x_t), np.array(eps), alpha_bar_t)}


def reference_cases() -> list:
    betas = [0.1, 0.2, 0.3, 0.4]
    return [
        ReferenceCase(
            name="debiased_weights_four_steps",
            inputs={"betas": betas},
            expected={"weight": [1 / 3, 0.623610, 0.992032, 1.518841]},
            compute=_debiased,
            function=f"{_PATH}.debiased_weights",
            note="√((1 − ᾱ)/ᾱ): √(0.1/0.9) = 1/3, √(0.28/0.72) = 0.623610, √(0.496/0.504) = 0.992032, "
            "√(0.6976/0.3024) = 1.518841.",
            atol=1e-6,
        ),
        ReferenceCase(
            name="min_snr5_weights_four_steps",
            inputs={"betas": betas, "gamma": 5.0},
            expected={"weight": [5 / 9, 1.0, 1.0, 1.0]},
            compute=_min_snr,
            function=f"{_PATH}.min_snr_weights",
            note="min(5/SNR, 1): 5/9 at SNR = 9; SNR ≤ 5 afterwards, so the cap 1.",
            atol=1e-12,
        ),
        ReferenceCase(
            name="p2_weights_four_steps",
            inputs={"betas": betas, "gamma": 1.0, "k": 1.0},
            expected={"weight": [0.1, 0.28, 0.496, 0.6976]},
            compute=_p2,
            function=f"{_PATH}.p2_weights",
            note="1/(1 + SNR) = 1 − ᾱ for k = γ = 1.",
            atol=1e-12,
        ),
        ReferenceCase(
            name="x0_from_exact_eps",
            inputs={"x_t": [1.1, -1.0], "eps": [0.5, 1.0], "alpha_bar_t": 0.64},
            expected={"x0": [1.0, -2.0]},
            compute=_x0,
            function=f"{_PATH}.x0_from_eps",
            note="x_t = 0.8·(1, −2) + 0.6·(0.5, 1) = (1.1, −1.0); removing the same ε returns x₀ = (1, −2).",
            atol=1e-12,
        ),
    ]
