"""Reference cases of DARUAN: R_y(x)|0⟩ gives ⟨Z⟩ = cos x; the one-repetition circuit against its closed form
worked out by hand; a three-repetition circuit against an independent 2×2 complex state-vector simulation; the
degree bound (a DFT of the fixed-encoding activation has no energy above frequency r); the spectrum of
w = (1, 3, 9)."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from . import bloch_circuit, daruan, spectrum_bound

_P = "refimpl.techniques.architectures.qkan_daruan."
_CONV = {
    "scheme": "pz_encoding: H|0⟩, per repetition Rz(θ_ℓ1) Ry(θ_ℓ2) Rz(w_ℓ x + b_ℓ), then Rz(θ_r+1,1) Ry(θ_r+1,2)",
    "rotation": "R_n(φ) = exp(−iφσ_n/2); output ⟨Z⟩ = |ψ₀|² − |ψ₁|²",
}


def one_rep_closed_form(x, theta, w, b):
    """By hand on the Bloch sphere, r = 1: with a = θ₀₁, β = θ₀₂, φ = w x + b + θ₁₁, γ = θ₁₂,
    ⟨Z⟩ = −sin γ (cos a cos β cos φ − sin a sin φ) − cos γ cos a sin β."""
    a, beta, gamma = theta[0, 0], theta[0, 1], theta[1, 1]
    phi = w[0] * x + b[0] + theta[1, 0]
    return -np.sin(gamma) * (np.cos(a) * np.cos(beta) * np.cos(phi) - np.sin(a) * np.sin(phi)) - np.cos(
        gamma
    ) * np.cos(a) * np.sin(beta)


def statevector_daruan(x, theta, w, b):
    """An independent simulation: 2×2 complex gates on the state vector, ⟨Z⟩ = |ψ₀|² − |ψ₁|²."""

    def rz(p):
        return np.array([[np.exp(-0.5j * p), 0.0], [0.0, np.exp(0.5j * p)]])

    def ry(p):
        c, s = np.cos(p / 2), np.sin(p / 2)
        return np.array([[c, -s], [s, c]], dtype=complex)

    out = []
    r = len(w)
    for xi in np.atleast_1d(x):
        psi = np.array([1.0, 1.0], dtype=complex) / np.sqrt(2.0)  # H|0⟩
        for ell in range(r):
            psi = rz(w[ell] * xi + b[ell]) @ ry(theta[ell, 1]) @ rz(theta[ell, 0]) @ psi
        psi = ry(theta[r, 1]) @ rz(theta[r, 0]) @ psi
        out.append(abs(psi[0]) ** 2 - abs(psi[1]) ** 2)
    return np.array(out)


def _daruan(x, theta, w, b):
    n = len(x)
    return {
        "z": daruan(
            np.asarray(x), np.broadcast_to(theta, (n, *theta.shape)), np.tile(w, (n, 1)), np.tile(b, (n, 1))
        ).data
    }


def _energy_above(theta, r, m):
    x = 2 * np.pi * np.arange(m) / m
    f = daruan(x, np.broadcast_to(theta, (m, *theta.shape))).data
    P = np.abs(np.fft.rfft(f)) ** 2
    return {
        "energy_above_r": np.array(P[r + 1 :].sum() / P.sum()),
        "energy_at_r_positive": np.array(P[r] > 1e-12),
    }


_R1 = np.array([[0.3, -0.8], [1.1, 0.6]])
_R3 = np.array([[0.2, 1.3], [-0.7, 0.4], [2.1, -1.5], [0.9, 0.35]])
_X = np.linspace(-2.0, 2.0, 9)


def reference_cases() -> list:
    return [
        ReferenceCase(
            "ry_x_on_zero_gives_cos_x",
            {"x": np.array([0.0, 0.5, 1.0, np.pi / 2, 3.0])},
            {"z": np.cos(np.array([0.0, 0.5, 1.0, np.pi / 2, 3.0]))},
            lambda x: {"z": bloch_circuit([np.full_like(x, -np.pi / 2), x], "yy").data},
            function=_P + "bloch_circuit",
            note="by hand: Ry(−π/2) takes H|0⟩ = |+⟩ back to |0⟩; Ry(x)|0⟩ = cos(x/2)|0⟩ + sin(x/2)|1⟩, "
            "⟨Z⟩ = cos²(x/2) − sin²(x/2) = cos x",
            atol=1e-12,
            conventions=_CONV,
        ),
        ReferenceCase(
            "one_repetition_closed_form",
            {"x": _X, "theta": _R1, "w": np.array([1.7]), "b": np.array([-0.4])},
            {"z": one_rep_closed_form(_X, _R1, np.array([1.7]), np.array([-0.4]))},
            _daruan,
            function=_P + "daruan",
            note="closed form worked out by hand on the Bloch sphere (cases.one_rep_closed_form): "
            "A cos(w x + b + δ) + D — a single frequency w",
            atol=1e-12,
            conventions=_CONV,
        ),
        ReferenceCase(
            "three_repetitions_vs_statevector",
            {"x": _X, "theta": _R3, "w": np.array([1.0, 2.5, -0.6]), "b": np.array([0.1, -0.3, 0.8])},
            {"z": statevector_daruan(_X, _R3, np.array([1.0, 2.5, -0.6]), np.array([0.1, -0.3, 0.8]))},
            _daruan,
            function=_P + "daruan",
            note="an independent 2×2 complex state-vector simulation (cases.statevector_daruan)",
            atol=1e-12,
            conventions=_CONV,
        ),
        ReferenceCase(
            "degree_bound_fixed_encoding",
            {"theta": _R3, "r": 3, "m": 64},
            {"energy_above_r": np.array(0.0), "energy_at_r_positive": np.array(True)},
            _energy_above,
            function=_P + "daruan",
            note="closed form: with w = 1 each Rz(x) contributes e^{±ix/2} to the amplitudes, so ⟨Z⟩ is a "
            "trigonometric polynomial of degree ≤ r = 3; a 64-point DFT over one period has no energy above "
            "frequency 3 (and some at 3 for these angles)",
            atol=1e-20,
            conventions=_CONV,
        ),
        ReferenceCase(
            "spectrum_of_ternary_weights",
            {"w": np.array([1.0, 3.0, 9.0])},
            {"freqs": np.arange(14.0)},
            lambda w: {"freqs": spectrum_bound(w)},
            function=_P + "spectrum_bound",
            note="by hand: Σ s_ℓ 3^(ℓ−1), s_ℓ ∈ {−1, 0, 1}, is balanced ternary — every integer in [−13, 13]",
            atol=0.0,
        ),
    ]
