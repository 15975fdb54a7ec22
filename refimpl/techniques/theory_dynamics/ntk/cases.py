"""Reference cases of the NTK: the limiting kernel at three angles, the empirical kernel of a width-2
network and one GD step on it, and one step of the linearized model, all worked by hand."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from . import TwoLayerReLU, analytic_ntk, empirical_ntk, kernel_prediction, train_gd

_PATH = "refimpl.techniques.theory_dynamics.ntk"
_W = [[1.0, 0.0], [0.0, 1.0]]
_A = [1.0, -2.0]
_S = 1 / np.sqrt(2)  # x' = (1, 1)/√2


def _analytic(X, Z):
    return {"theta": analytic_ntk(np.asarray(X), np.asarray(Z))}


def _empirical(W, a, X):
    return {"theta": empirical_ntk(np.asarray(W), np.asarray(a), np.asarray(X))}


def _step(W, a, X, y, lr):
    net = TwoLayerReLU(2, 2, rng=0)
    net.W, net.a = np.array(W, dtype=np.float64), np.array(a, dtype=np.float64)
    train_gd(net, np.asarray(X), np.asarray(y), lr, 1)
    return {"W": net.W, "a": net.a}


def _linearized(theta_xx, theta_zx, f0_x, f0_z, y, lr, steps):
    return {
        "f_z": kernel_prediction(*(np.asarray(v) for v in (theta_xx, theta_zx, f0_x, f0_z, y)), lr, steps)
    }


def reference_cases() -> list:
    r = _S - 1.0  # the residual f(x) − y of the width-2 net at x = (1, 0), y = 1
    moved = 1 - 0.5 * _S * r  # a₀ and W₀₀ after one step of 0.5: both get −η (1/√2) r
    return [
        ReferenceCase(
            name="analytic_ntk_three_angles",
            inputs={"X": [[1.0, 0.0]], "Z": [[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]]},
            expected={"theta": [[1.0, 1 / (2 * np.pi), 0.0]]},
            compute=_analytic,
            function=f"{_PATH}.analytic_ntk",
            note="ϑ = 0: (0 + π)/(2π) + 1·π/(2π) = ½ + ½ = 1; ϑ = π/2: (1 + 0)/(2π) + 0 = 1/(2π); "
            "ϑ = π: (0 + 0)/(2π) + (−1)·0 = 0.",
            atol=1e-15,
        ),
        ReferenceCase(
            name="empirical_ntk_width_2",
            inputs={"W": _W, "a": _A, "X": [[1.0, 0.0], [_S, _S]]},
            expected={"theta": [[1.0, _S], [_S, 3.0]]},
            compute=_empirical,
            function=f"{_PATH}.empirical_ntk",
            note="Θ = ½ Σ_j [relu(w_jᵀx) relu(w_jᵀx') + a_j² 1 1' xᵀx']: Θ(x, x) = ½(1 + 1) = 1; "
            "Θ(x, x') = ½(1/√2 + 1·1/√2) = 1/√2; Θ(x', x') = ½(½ + ½ + (1 + 4)·1) = 3.",
            atol=1e-14,
        ),
        ReferenceCase(
            name="gd_step_width_2",
            inputs={"W": _W, "a": _A, "X": [[1.0, 0.0]], "y": [1.0], "lr": 0.5},
            expected={"W": [[moved, 0.0], [0.0, 1.0]], "a": [moved, -2.0]},
            compute=_step,
            function=f"{_PATH}.train_gd",
            note="f(x) = (1/√2)(1·1 − 2·0) = 1/√2, r = 1/√2 − 1; only unit 1 is active: ∂a₁ = (1/√2)·1·r, "
            "∂W₁ = (1/√2)·a₁·r·x = ((1/√2) r, 0); both move to 1 − 0.5 (1/√2) r ≈ 1.1036.",
            atol=1e-14,
        ),
        ReferenceCase(
            name="linearized_one_step",
            inputs={
                "theta_xx": [[2.0]],
                "theta_zx": [[1.0]],
                "f0_x": [0.0],
                "f0_z": [0.1],
                "y": [1.0],
                "lr": 0.25,
                "steps": 1,
            },
            expected={"f_z": [0.35]},
            compute=_linearized,
            function=f"{_PATH}.kernel_prediction",
            note="One step of the linearized model moves f(z) by η Θ(z, x)(y − f(x)) = 0.25·1·1: 0.1 → 0.35.",
            atol=1e-15,
        ),
    ]
