"""Reference cases of the linear student–teacher dynamics, each from a computation independent of the code
under test: two GD steps on a diagonal XᵀX by hand, the mode-wise error of a two-mode spectrum by hand,
the Marchenko–Pastur density's mass and mean, and its converged error against the exact inverse-Wishart
moment."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from . import converged_error, gd_trajectory, mode_error_curve, mp_density

_PATH = "refimpl.techniques.theory_dynamics.advani_saxe_dynamics"


def _two_steps(lr, steps):
    """XᵀX = diag(1, 0.1) (X = diag(1, √0.1)), teacher w* = (1, 1), no noise, w₀ = 0."""
    X = np.diag([1.0, np.sqrt(0.1)])
    w_star = np.array([1.0, 1.0])
    return {"w": gd_trajectory(X, X @ w_star, np.zeros(2), lr, steps)[-1]}


def _modes(eigvals, t, lr, noise, teacher, init):
    return {
        "E": mode_error_curve(
            np.asarray(eigvals), np.asarray(t), lr=lr, noise=noise, teacher=teacher, init=init
        )
    }


def _mp_moments(alpha):
    """Mass and mean of the continuous part by a plain Riemann sum on a fine grid (not the quadrature)."""
    lo, hi = (1 - np.sqrt(alpha)) ** 2, (1 + np.sqrt(alpha)) ** 2
    lam = np.linspace(lo, hi, 2_000_001)[1:-1]
    rho = mp_density(lam, alpha)
    dl = lam[1] - lam[0]
    return {"mass": rho.sum() * dl, "mean": (lam * rho).sum() * dl}


def _converged(alpha, noise_var):
    return {"E": converged_error(alpha, noise=np.sqrt(noise_var))}


def reference_cases() -> list:
    return [
        ReferenceCase(
            name="gd_two_steps_diagonal",
            inputs={"lr": 0.5, "steps": 2},
            expected={"w": [0.75, 0.0975]},
            compute=_two_steps,
            function=f"{_PATH}.gd_trajectory",
            note="Mode i after t steps from 0: w*_i (1 − (1 − ηλ_i)^t); λ = 1: 1 − 0.5² = 0.75; "
            "λ = 0.1: 1 − 0.95² = 0.0975.",
            atol=1e-14,
        ),
        ReferenceCase(
            name="mode_error_two_modes",
            inputs={
                "eigvals": [1.0, 0.0],
                "t": [0, 1, 2],
                "lr": 0.5,
                "noise": 0.5,
                "teacher": 1.0,
                "init": 0.0,
            },
            expected={"E": [1.25, 0.90625, 0.8515625]},
            compute=_modes,
            function=f"{_PATH}.mode_error_curve",
            note="N = 2, λ = (1, 0): the zero mode keeps σ̄² = 1; the other has r = 0.5^t and adds "
            "r² + 0.25 (1 − r)²; E = 0.25 + (1 + r² + 0.25(1 − r)²)/2: t = 0 → 0.25 + 1 = 1.25, "
            "t = 1 → 0.25 + (1 + 1/4 + 1/16)/2 = 0.90625, t = 2 → 0.25 + (1 + 1/16 + 9/64)/2 = 0.8515625.",
            atol=1e-14,
        ),
        ReferenceCase(
            name="mp_mass_and_mean_alpha_2",
            inputs={"alpha": 2.0},
            expected={"mass": 1.0, "mean": 2.0},
            compute=_mp_moments,
            function=f"{_PATH}.mp_density",
            note="For α > 1 the law has no atom: mass 1; E λ = tr(XᵀX)/N = P·(1/N)·N/N = α = 2.",
            atol=1e-5,
        ),
        ReferenceCase(
            name="mp_mass_and_mean_alpha_half",
            inputs={"alpha": 0.5},
            expected={"mass": 0.5, "mean": 0.5},
            compute=_mp_moments,
            function=f"{_PATH}.mp_density",
            note="For α < 1 the continuous part carries mass α = 0.5 (the rest is the atom at 0), and "
            "E λ = α = 0.5 over the whole law (the atom adds nothing).",
            atol=1e-5,
        ),
        ReferenceCase(
            name="converged_error_alpha_2",
            inputs={"alpha": 2.0, "noise_var": 0.2},
            expected={"E": 0.4},
            compute=_converged,
            function=f"{_PATH}.converged_error",
            note="Least squares with P = 2N: σ_ε²(1 + E tr((XᵀX)⁻¹)/N) and E tr((ZᵀZ)⁻¹) = N/(P − N − 1) for "
            "a P × N standard Gaussian Z, so → σ_ε²(1 + 1/(α − 1)) = 0.2 · 2 = 0.4.",
            atol=1e-12,
        ),
    ]
