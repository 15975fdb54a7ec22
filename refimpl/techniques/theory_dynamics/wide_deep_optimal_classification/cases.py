"""Reference cases of the infinitely deep NTK: two layers of the recursion by hand, the singular exponent
of the four optimal duals by hand, the diagonal Σ a^k in closed form, the monomial-dual NTK by hand, and
the Hilbert rule on three points by hand (where the exponent decides the label)."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from . import (
    OPTIMAL,
    DualActivation,
    deep_ntk_log,
    hilbert_classifier,
    kernels,
    monomial_ntk_log,
    singular_exponent,
)

_PATH = "refimpl.techniques.theory_dynamics.wide_deep_optimal_classification"


def _kernels(rho, depth):
    s, t = kernels(np.asarray(rho), OPTIMAL["3d_opt"], depth)
    return {"nngp": s, "ntk": t}


def _alphas(coeffs):
    return {"alpha": [singular_exponent(DualActivation(c)) for c in coeffs]}


def _diag(depth):
    sign, logk = deep_ntk_log(np.array([1.0]), OPTIMAL["3d_opt"], depth)
    return {"sign": sign, "log_ntk": logk}


def _mono(rho, k, depth):
    sign, logk = monomial_ntk_log(np.asarray(rho), k, depth)
    return {"ntk": sign * np.exp(logk)}


def _hilbert(angles_train, y, alpha):
    X = np.stack([np.cos(angles_train), np.sin(angles_train)], axis=1)
    return {"label": hilbert_classifier(np.array([[1.0, 0.0]]), X, np.asarray(y), alpha)}


def reference_cases() -> list:
    return [
        ReferenceCase(
            name="two_layers_by_hand_3d_opt",
            inputs={"rho": [0.5], "depth": 2},
            expected={"nngp": [0.1715087890625], "ntk": [0.6563720703125]},
            compute=_kernels,
            function=f"{_PATH}.kernels",
            note="φ̌ = ρ³/2 + ρ/2, φ̌' = 3ρ²/2 + 1/2.  Layer 1: Σ = 1/16 + 1/4 = 0.3125, φ̌'(0.5) = 0.875, "
            "Θ = 0.3125 + 0.5·0.875 = 0.75.  Layer 2: Σ = 0.3125³/2 + 0.3125/2 = 0.1715087890625, "
            "φ̌'(0.3125) = 0.646484375, Θ = 0.1715087890625 + 0.75·0.646484375 = 0.6563720703125.",
            atol=1e-15,
            conventions={"recursion": "Σ_0 = Θ_0 = ρ (official ntk_kernel starts K at the input cosine)"},
        ),
        ReferenceCase(
            name="singular_exponents_of_the_optimal_duals",
            inputs={
                "coeffs": [
                    [0, 0.5, 0, 0, 0, 0, 0, 0.5],
                    [0, 0.5, 0, 0.5],
                    [0, 0.25, 0.5, 0.25],
                    [0, 1 / 16, 7 / 8, 1 / 16],
                ]
            },
            expected={"alpha": [1.0, 2.0, 4.0, 8.0]},
            compute=_alphas,
            function=f"{_PATH}.singular_exponent",
            note="The official 2d/3d/5d/9d_opt duals (Hermite weights c_k).  (a, b) = (φ̌'(1), φ̌'(0)) = (4, 1/2), (2, 1/2), (2, 1/4), (2, 1/16); α = 2 ln(1/b)/ln a = "
            "2 ln 2/ln 4 = 1, 2 ln 2/ln 2 = 2, 2 ln 4/ln 2 = 4, 2 ln 16/ln 2 = 8.",
            atol=1e-12,
        ),
        ReferenceCase(
            name="diagonal_is_a_geometric_sum",
            inputs={"depth": 300},
            expected={"sign": [1.0], "log_ntk": [301 * np.log(2.0)]},
            compute=_diag,
            function=f"{_PATH}.deep_ntk_log",
            note="At ρ = 1, Σ_l = 1 and φ̌'(1) = a = 2, so Θ_L = Σ_{k=0}^{L} 2^k = 2^{L+1} − 1; at L = 300 its log "
            "is 301 ln 2 to double precision (2^301 overflows nothing in log space).",
            atol=1e-12,
            conventions={"output": "(sign, natural log of |Θ_L|)"},
        ),
        ReferenceCase(
            name="monomial_dual_by_hand",
            inputs={"rho": [0.5, -0.5], "k": 2, "depth": 2},
            expected={"ntk": [0.4375, 0.4375]},
            compute=_mono,
            function=f"{_PATH}.monomial_ntk_log",
            note="φ̌ = ρ²: Σ = 0.5, 0.25, 0.0625; Θ_1 = 0.25 + 0.5·(2·0.5) = 0.75, Θ_2 = 0.0625 + 0.75·(2·0.25) "
            "= 0.4375; for ρ = −0.5 Σ_1 = 0.25, Θ_1 = 0.25 + (−0.5)(−1) = 0.75, and the rest is the same.",
            atol=1e-14,
        ),
        ReferenceCase(
            name="hilbert_rule_exponent_decides",
            inputs={"angles_train": [0.1, 0.3, -0.3], "y": [-1.0, 1.0, 1.0], "alpha": 1.0},
            expected={"label": [-1.0]},
            compute=_hilbert,
            function=f"{_PATH}.hilbert_classifier",
            note="Test point at angle 0; chord lengths 2 sin(0.05) = 0.09996 and 2 sin(0.15) = 0.29888.  "
            "α = 1: −1/0.09996 + 2/0.29888 = −10.00 + 6.69 < 0 → −1 (with α = 0.5 the sum is "
            "−3.163 + 3.658 > 0 → +1: the exponent decides).",
            atol=0.0,
        ),
    ]
