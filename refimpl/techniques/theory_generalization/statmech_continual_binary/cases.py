"""Reference cases of the field-space perceptron, by hand: the preactivation moments of a tiny example, the
Bernoulli KL, the overlap-to-error relation, and the teacher pair's overlap; and of the replica equations, by
closed forms: the energetic term at β = 1 (a one-dimensional integral by `scipy.integrate.quad`) and the single
magnetisation in a pure field r̂ (the Langevin function)."""

from __future__ import annotations

import numpy as np
from scipy import integrate, special

from ....catalog import ReferenceCase
from . import (
    bernoulli_kl,
    generalization_error,
    preactivation_moments,
    replica_energy,
    replica_site,
    teacher_pair,
)

_PATH = "refimpl.techniques.theory_generalization.statmech_continual_binary"


def _moments(m, X):
    mu, s2 = preactivation_moments(np.asarray(m), np.asarray(X))
    return {"mu": mu, "s2": s2 - 1e-6}


def _kl(m, m_prior):
    return {"kl": np.array([bernoulli_kl(m, m_prior)])}


def _err(w, teacher):
    return {"error": np.array([generalization_error(w, teacher)])}


def _pair(N, flip_fraction):
    t1, t2 = teacher_pair(N, flip_fraction, 0)
    return {"overlap": np.array([t1 @ t2 / N])}


def _energy(q, r, q_star, beta):
    return {"G_E": np.array([replica_energy(q, r, q_star, beta)])}


def _energy_at_beta_one(q, r):
    """At β = 1 the inner integral closes, ∫Dx Φ(−(ax + b)/c) = Φ(−b/√(a² + c²)) with a² + c² = 1 − q, leaving
    G_E = 2∫Dz Φ(−rz/√(q − r²)) log Φ(−√q z/√(1 − q)): one integral, done here by adaptive quadrature."""

    def integrand(z):
        weight = np.exp(-0.5 * z * z) / np.sqrt(2 * np.pi)
        return (
            weight
            * special.ndtr(-r * z / np.sqrt(q - r * r))
            * special.log_ndtr(-np.sqrt(q) * z / np.sqrt(1 - q))
        )

    return 2 * integrate.quad(integrand, -np.inf, np.inf, epsabs=1e-13)[0]


def _site(q_hat, r_hat, q_star_hat):
    out = replica_site(q_hat, r_hat, q_star_hat)
    return {k: np.array([out[k]]) for k in ("r", "q", "q_star", "sign_overlap")}


def _langevin(b):
    """m on [−1, 1] with density ∝ e^{bm}: ⟨m⟩ = coth b − 1/b, Var m = 1/b² − 1/sinh² b, ⟨sign m⟩ = tanh(b/2)."""
    mean = 1 / np.tanh(b) - 1 / b
    return {
        "r": [mean],
        "q": [mean**2],
        "q_star": [1 / b**2 - 1 / np.sinh(b) ** 2 + mean**2],
        "sign_overlap": [np.tanh(b / 2)],
    }


def reference_cases() -> list:
    return [
        ReferenceCase(
            name="preactivation_moments",
            inputs={"m": [1.0, 0.0, -0.5, 0.5], "X": [[1.0, 2.0, 2.0, 0.0]]},
            expected={"mu": [0.0], "s2": [(0 + 4 + 4 * 0.75 + 0) / 4]},
            compute=_moments,
            function=f"{_PATH}.preactivation_moments",
            note="μ = (1·1 + 0·2 − 0.5·2 + 0)/√4 = 0; s² = (0·1 + 1·4 + 0.75·4 + 0.75·0)/4 = 7/4 (floor 10⁻⁶ removed).",
            atol=1e-12,
        ),
        ReferenceCase(
            name="bernoulli_kl",
            inputs={"m": [0.0], "m_prior": [0.5]},
            expected={"kl": [0.5 * np.log(0.5 / 0.75) + 0.5 * np.log(0.5 / 0.25)]},
            compute=_kl,
            function=f"{_PATH}.bernoulli_kl",
            note="p = ½ against p' = ¾: ½ log(⅔) + ½ log 2 = ½ log(4/3).",
            atol=1e-12,
        ),
        ReferenceCase(
            name="error_from_overlap",
            inputs={"w": [1.0, 1.0, 1.0, 1.0], "teacher": [1.0, 1.0, 1.0, -1.0]},
            expected={"error": [1 / 3]},
            compute=_err,
            function=f"{_PATH}.generalization_error",
            note="R = 2/4 = ½; arccos(½)/π = ⅓.",
            atol=1e-15,
        ),
        ReferenceCase(
            name="teacher_pair_overlap",
            inputs={"N": 50, "flip_fraction": 0.2},
            expected={"overlap": [0.6]},
            compute=_pair,
            function=f"{_PATH}.teacher_pair",
            note="10 of 50 signs flipped: overlap (40 − 10)/50 = 0.6.",
            atol=1e-15,
        ),
        ReferenceCase(
            name="replica_energy_at_beta_one",
            inputs={"q": 0.5, "r": 0.3, "q_star": 0.7, "beta": 1.0},
            expected={"G_E": [_energy_at_beta_one(0.5, 0.3)]},
            compute=_energy,
            function=f"{_PATH}.replica_energy",
            note="At β = 1 the x-integral is Φ(−√q z/√(1 − q)) whatever q*; the z-integral by quad.",
            atol=1e-9,
        ),
        ReferenceCase(
            name="replica_site_in_a_pure_field",
            inputs={"q_hat": 0.0, "r_hat": 1.7, "q_star_hat": 0.0},
            expected=_langevin(1.7),
            compute=_site,
            function=f"{_PATH}.replica_site",
            note="q̂ = q̂* = 0: p(m) ∝ e^{1.7 m} on [−1, 1] for every z; the Langevin moments and tanh(0.85) "
            "(sign m is discontinuous at 0, so Gauss–Legendre is accurate to ~10⁻⁵ there).",
            atol=1e-5,
        ),
    ]
