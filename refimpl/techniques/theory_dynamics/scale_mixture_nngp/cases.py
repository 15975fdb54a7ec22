"""Reference cases of the scale-mixture NNGP: the ReLU NNGP kernel at two input pairs, the Student-t
predictive of a one-point data set, and the Cauchy density at its centre, all by hand."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from . import nngp_kernel, student_t_nll, t_process_predict

_PATH = "refimpl.techniques.theory_dynamics.scale_mixture_nngp"
_C = (1 + 3 * np.pi / 4) / (2 * np.pi)


def _kernel(x, z):
    return {"k": nngp_kernel(np.asarray(x), np.asarray(z))}


def _predict(K, K_star, k_star_diag, y, noise, a, b):
    mean, scale2, dof = t_process_predict(
        np.asarray(K), np.asarray(K_star), np.asarray(k_star_diag), np.asarray(y), noise=noise, a=a, b=b
    )
    return {"mean": mean, "scale2": scale2, "dof": np.asarray(dof, dtype=np.float64)}


def _nll(y, mean, scale2, dof):
    return {"nll": student_t_nll(np.asarray(y), np.asarray(mean), np.asarray(scale2), dof)}


def reference_cases() -> list:
    return [
        ReferenceCase(
            name="nngp_kernel_two_pairs",
            inputs={"x": [0.0, 1.0], "z": [0.0, -1.0]},
            expected={"k": [[0.5, _C], [_C, 1 / np.pi]]},
            compute=_kernel,
            function=f"{_PATH}.nngp_kernel",
            note="x̃ = (x, 1). k(0, 0): ‖(0, 1)‖²·π/(2π) = ½.  k(0, −1) and k(1, 0): norms 1 and √2, cos = 1/√2, "
            "ϑ = π/4: √2 (sin ϑ + (π − ϑ) cos ϑ)/(2π) = (1 + 3π/4)/(2π).  k(1, −1): norms √2, cos 0, ϑ = π/2: 2/(2π) = 1/π.",
            atol=1e-14,
        ),
        ReferenceCase(
            name="t_predictive_one_point",
            inputs={
                "K": [[1.0]],
                "K_star": [[0.5]],
                "k_star_diag": [1.0],
                "y": [2.0],
                "noise": 1.0,
                "a": 1.0,
                "b": 1.0,
            },
            expected={"mean": [0.5], "scale2": [2.5], "dof": 3.0},
            compute=_predict,
            function=f"{_PATH}.t_process_predict",
            note="C = 1 + 1 = 2: mean = 0.5·2/2 = 0.5; k** + s² − k*²/C = 1 + 1 − 0.125 = 1.875; yᵀC⁻¹y = 2; "
            "scale² = (1 + 2/2)/(1 + 1/2)·1.875 = 2.5; dof = 2a + n = 3.",
            atol=1e-14,
        ),
        ReferenceCase(
            name="cauchy_at_its_centre",
            inputs={"y": [0.0], "mean": [0.0], "scale2": [1.0], "dof": 1.0},
            expected={"nll": [np.log(np.pi)]},
            compute=_nll,
            function=f"{_PATH}.student_t_nll",
            note="t with one degree of freedom is the Cauchy, density 1/π at 0: NLL = log π.",
            atol=1e-14,
        ),
    ]
