"""Reference cases of local and global kernels: the Laplace kernel at distance 5, the local kernel with
patches of size 1 and 2 on a 3-coordinate ring, and an exact power-law learning curve, all by hand."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from . import laplace_kernel, learning_curve, local_kernel

_PATH = "refimpl.techniques.theory_dynamics.wide_cnn_kernel"


def _laplace(X, Y):
    return {"k": laplace_kernel(np.asarray(X), np.asarray(Y))}


def _local(X, Y, patch):
    return {"k": local_kernel(np.asarray(X), np.asarray(Y), patch=patch)}


def _curve(ns, errors):
    return learning_curve(ns, errors)


def reference_cases() -> list:
    return [
        ReferenceCase(
            name="laplace_at_distance_5",
            inputs={"X": [[0.0, 0.0]], "Y": [[3.0, 4.0]]},
            expected={"k": [[np.exp(-5.0)]]},
            compute=_laplace,
            function=f"{_PATH}.laplace_kernel",
            note="‖(3, 4)‖ = 5: e⁻⁵.",
            atol=1e-15,
        ),
        ReferenceCase(
            name="local_kernel_patch_1",
            inputs={"X": [[0.0, 0.0, 0.0]], "Y": [[1.0, 0.0, 2.0]], "patch": 1},
            expected={"k": [[(np.exp(-1.0) + 1.0 + np.exp(-2.0)) / 3]]},
            compute=_local,
            function=f"{_PATH}.local_kernel",
            note="One coordinate per patch: (e⁻¹ + e⁰ + e⁻²)/3.",
            atol=1e-15,
        ),
        ReferenceCase(
            name="local_kernel_patch_2_ring",
            inputs={"X": [[0.0, 0.0, 0.0]], "Y": [[1.0, 0.0, 0.0]], "patch": 2},
            expected={"k": [[(2 * np.exp(-1.0) + 1.0) / 3]]},
            compute=_local,
            function=f"{_PATH}.local_kernel",
            note="Patches (x₀, x₁), (x₁, x₂), (x₂, x₀) (cyclic): distances 1, 0, 1, so (e⁻¹ + 1 + e⁻¹)/3.",
            atol=1e-15,
        ),
        ReferenceCase(
            name="exact_power_law",
            inputs={"ns": [1.0, 2.0, 4.0], "errors": [1.0, 0.5, 0.25]},
            expected={"beta": 1.0, "r2": 1.0},
            compute=_curve,
            function=f"{_PATH}.learning_curve",
            note="ε = 1/n exactly: slope −1 on the log-log axes, a perfect fit.",
            atol=1e-12,
        ),
    ]
