"""Reference cases of Li₂ on modular addition, by hand: the energy of a spike node (M = 3) summed class by class,
the energy of a Fourier feature (M/4, the derived maximum), the random-node mean, G_F on a two-sample instance,
and the frequency share of a flat spectrum."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from . import (
    backpropagated_gradient,
    energy,
    fourier_feature,
    frequency_share,
    modular_addition,
    random_energy,
)

_PATH = "refimpl.techniques.theory_dynamics.li2_grokking"


def _energy_spike(M):
    X, Yt = modular_addition(M)
    w = np.zeros(2 * M)
    w[0] = w[M] = 1.0
    return {"energy": energy(w, X, Yt)}


def _energy_fourier(M, k):
    X, Yt = modular_addition(M)
    return {"energy": energy(fourier_feature(M, k, (0.4, 1.3)), X, Yt)}


def _random(M):
    return {"energy": np.array([random_energy(M)])}


def _gf(eta):
    return {"G_F": backpropagated_gradient(np.array([[1.0], [0.0]]), np.array([[1.0], [-1.0]]), eta)}


def _share_flat(M):
    w = np.zeros(2 * M)
    w[0] = w[M] = 1.0
    return {"share": frequency_share(w, M)}


def reference_cases() -> list:
    return [
        ReferenceCase(
            name="energy_spike_node_M3",
            inputs={"M": 3},
            expected={"energy": [4 / 3]},
            compute=_energy_spike,
            function=f"{_PATH}.energy",
            note="u = v = e₀: σ = 4 at (0,0), 1 at (0,b≠0) and (a≠0,0); class sums 4, 2, 2, minus 3·8/9 each: "
            "(4/3, −2/3, −2/3), E = ½ · 24/9 = 4/3.",
            conventions={
                "targets": "one-hot of (a + b) mod M, centred over the M² samples",
                "energy": "½‖Ỹᵀσ‖²",
            },
            atol=1e-12,
        ),
        ReferenceCase(
            name="energy_fourier_feature_M7",
            inputs={"M": 7, "k": 2},
            expected={"energy": [7 / 4]},
            compute=_energy_fourier,
            function=f"{_PATH}.energy",
            note="Unit-norm u, v ∝ cos(2π·2·/7 + φ): |û_{±2}|² = |v̂_{±2}|² = M/4, E = (2/M)·2·(M/4)² = M/4.",
            atol=1e-12,
        ),
        ReferenceCase(
            name="random_node_energy_M11",
            inputs={"M": 11},
            expected={"energy": [10 / 22]},
            compute=_random,
            function=f"{_PATH}.random_energy",
            note="w ~ N(0, I/(2M)): E|û_k|² = 1/2, so E E = (2/M)(M − 1)/4 = (M − 1)/(2M).",
            atol=1e-15,
        ),
        ReferenceCase(
            name="backpropagated_gradient_two_samples",
            inputs={"eta": 1.0},
            expected={"G_F": [[0.25], [-0.5]]},
            compute=_gf,
            function=f"{_PATH}.backpropagated_gradient",
            note="F = (1, 0)ᵀ, Ỹ = (1, −1)ᵀ, η = 1: V* = 1/2, residual (1/2, −1), G_F = residual · V* = (1/4, −1/2).",
            atol=1e-15,
        ),
        ReferenceCase(
            name="frequency_share_flat_M5",
            inputs={"M": 5},
            expected={"share": [0.5]},
            compute=_share_flat,
            function=f"{_PATH}.frequency_share",
            note="A spike has power 1 at every k in u and in v: pairs ±1 and ±2 hold 4 each, share 4/8.",
            atol=1e-12,
        ),
    ]
