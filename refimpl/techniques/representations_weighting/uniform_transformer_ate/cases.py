"""Reference cases of the uniform-transformer ATT: the control ECDF, the reflected kernel and the unadjusted
contrast by hand, and the U-statistic against its explicit double sum."""

from __future__ import annotations

import math

import numpy as np

from ....catalog import ReferenceCase
from . import att_difference_in_means, att_uniform_transformer, control_ecdf, reflected_gaussian_kde

_P = "refimpl.techniques.representations_weighting.uniform_transformer_ate."


def _u_statistic_by_loops(x, t, y, h):
    """mean of treated Y − (1/(n0 n1)) Σ_j Σ_i K_h(U_j − U_i) Y_j with U the control ECDF and a reflected
    Gaussian kernel, written out element by element."""
    controls = sorted(xj for xj, tj in zip(x, t) if tj == 0)

    def F(v):
        return sum(c <= v for c in controls) / len(controls)

    def K(a, b):
        s = sum(math.exp(-0.5 * (d / h) ** 2) for d in (a - b, a + b, a - 2 + b))
        return s / (h * math.sqrt(2 * math.pi))

    treated = [(xi, yi) for xi, ti, yi in zip(x, t, y) if ti == 1]
    ctrl = [(xj, yj) for xj, tj, yj in zip(x, t, y) if tj == 0]
    total = sum(K(F(xj), F(xi)) * yj for xj, yj in ctrl for xi, _ in treated)
    return sum(yi for _, yi in treated) / len(treated) - total / (len(ctrl) * len(treated))


def reference_cases() -> list:
    x = np.array([0.1, 0.35, 0.4, 0.6, 0.8, 0.95])
    t = np.array([0, 1, 0, 1, 0, 1])
    y = np.array([1.0, 3.0, 2.0, 2.5, 0.5, 4.0])
    return [
        ReferenceCase(
            "control_ecdf_hand",
            {"controls": np.array([0.2, 0.5, 0.9]), "at": np.array([0.1, 0.5, 0.7, 1.0])},
            {"F": np.array([0.0, 2 / 3, 2 / 3, 1.0])},
            lambda controls, at: {"F": control_ecdf(controls)(at)},
            function=_P + "control_ecdf",
            note="by hand: the share of the controls 0.2, 0.5, 0.9 at or below each point",
            atol=1e-12,
        ),
        ReferenceCase(
            "reflected_kernel_at_the_boundary",
            {"points": np.array([0.0]), "at": np.array([0.0]), "h": 0.1},
            {"density": np.array([2 / (0.1 * math.sqrt(2 * math.pi))])},
            lambda points, at, h: {"density": reflected_gaussian_kde(points, at, h)},
            function=_P + "reflected_gaussian_kde",
            note="by hand: a point at 0 and its reflection both sit at 0 (the reflection at 1 adds e^{−200}), "
            "so the density doubles: 2/(h√(2π))",
            atol=1e-9,
        ),
        ReferenceCase(
            "difference_in_means_hand",
            {"x": x, "t": t, "y": y},
            {"att": np.array((3.0 + 2.5 + 4.0) / 3 - (1.0 + 2.0 + 0.5) / 3)},
            lambda x, t, y: {"att": np.array(att_difference_in_means(x, t, y))},
            function=_P + "att_difference_in_means",
            note="by hand: 9.5/3 − 3.5/3 = 2",
            atol=1e-12,
        ),
        ReferenceCase(
            "u_statistic_against_the_double_sum",
            {"x": x, "t": t, "y": y, "h": 0.3},
            {"att": np.array(_u_statistic_by_loops(x, t, y, 0.3))},
            lambda x, t, y, h: {"att": np.array(att_uniform_transformer(x, t, y, h))},
            function=_P + "att_uniform_transformer",
            note="independent computation: the ECDF, the reflected kernel and the double sum written out in "
            "scalar Python",
            atol=1e-12,
        ),
    ]
