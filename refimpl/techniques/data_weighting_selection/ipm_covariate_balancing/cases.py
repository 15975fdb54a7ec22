"""Reference cases of IPM covariate balancing, each from an independent computation: barycentric
coordinates for the linear-kernel (mean-balancing) weights, the KKT linear system of the ridge-regularised
Gaussian-kernel QP (interior solution), MMD² by a brute-force double sum, the simplex projection and the
ATT by hand."""

from __future__ import annotations

import math

import numpy as np

from ....catalog import ReferenceCase
from . import att_estimate, ipm_weights, mmd2, project_simplex

_MOD = "refimpl.techniques.data_weighting_selection.ipm_covariate_balancing"


def _gauss_loops(a, b, h):
    """k(a_i, b_j) = exp(−‖a_i − b_j‖²/(2h²)) by explicit loops (the oracle, not the code under test)."""
    return [[math.exp(-sum((p - q) ** 2 for p, q in zip(u, v)) / (2 * h * h)) for v in b] for u in a]


def _kkt_weights(x_c, x_t, h, lam):
    """Interior minimiser of wᵀ(K+λI)w − 2wᵀb on Σw = 1: w = Q⁻¹b + α Q⁻¹1, α = (1 − 1ᵀQ⁻¹b)/(1ᵀQ⁻¹1)."""
    Q = np.array(_gauss_loops(x_c, x_c, h)) + lam * np.eye(len(x_c))
    b = np.array(_gauss_loops(x_c, x_t, h)).mean(1)
    qb, q1 = np.linalg.solve(Q, b), np.linalg.solve(Q, np.ones(len(x_c)))
    w = qb + (1.0 - qb.sum()) / q1.sum() * q1
    assert (w > 0).all(), "the KKT case must have an interior solution"
    return w


def _mmd2_double_sum(w, x_c, x_t, h):
    kcc, kct, ktt = _gauss_loops(x_c, x_c, h), _gauss_loops(x_c, x_t, h), _gauss_loops(x_t, x_t, h)
    m, n = len(x_c), len(x_t)
    s = sum(w[i] * w[k] * kcc[i][k] for i in range(m) for k in range(m))
    s -= 2 * sum(w[i] * kct[i][j] / n for i in range(m) for j in range(n))
    s += sum(ktt[j][l] / (n * n) for j in range(n) for l in range(n))  # noqa: E741
    return s


def reference_cases() -> list:
    def weights_case(x_c, x_t, kernel, bandwidth, lam):
        return {"w": ipm_weights(np.asarray(x_c), np.asarray(x_t), kernel, bandwidth, lam)}

    def mmd_case(w, x_c, x_t, kernel, bandwidth):
        return {"mmd2": np.array(mmd2(np.asarray(w), np.asarray(x_c), np.asarray(x_t), kernel, bandwidth))}

    def proj_case(v):
        return {"w": project_simplex(np.asarray(v))}

    def att_case(y_t, y_c, w):
        return {"att": np.array(att_estimate(np.asarray(y_t), np.asarray(y_c), np.asarray(w)))}

    xk_c = [[0.0, 0.0], [1.0, 0.5], [-0.5, 1.0], [0.8, -0.7]]
    xk_t = [[0.3, 0.2], [0.6, 0.1]]
    h, lam = 1.0, 0.5
    wm = [0.1, 0.4, 0.2, 0.3]
    return [
        ReferenceCase(
            "linear_kernel_barycentric",
            {
                "x_c": np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]),
                "x_t": np.array([[0.1, 0.2], [0.3, 0.4]]),
                "kernel": "linear",
                "bandwidth": 1.0,
                "lam": 0.0,
            },
            {"w": np.array([0.5, 0.2, 0.3])},
            weights_case,
            note="linear kernel, λ = 0: MMD = ‖Σ w_i x_i − x̄_T‖ is zero exactly at the barycentric "
            "coordinates of x̄_T = (0.2, 0.3) in the triangle (0,0), (1,0), (0,1): w = (1 − 0.2 − 0.3, 0.2, 0.3)",
            function=f"{_MOD}.ipm_weights",
        ),
        ReferenceCase(
            "gaussian_ridge_kkt",
            {"x_c": np.array(xk_c), "x_t": np.array(xk_t), "kernel": "gaussian", "bandwidth": h, "lam": lam},
            {"w": _kkt_weights(xk_c, xk_t, h, lam)},
            weights_case,
            note="λ = 0.5 keeps the minimiser inside the simplex, so only Σw = 1 binds: the KKT system "
            "(K+λI)w − b = ν1 solved directly, K and b = K_CT 1/n_t by explicit loops",
            function=f"{_MOD}.ipm_weights",
        ),
        ReferenceCase(
            "mmd2_double_sum",
            {
                "w": np.array(wm),
                "x_c": np.array(xk_c),
                "x_t": np.array(xk_t),
                "kernel": "gaussian",
                "bandwidth": h,
            },
            {"mmd2": np.array(_mmd2_double_sum(wm, xk_c, xk_t, h))},
            mmd_case,
            note="Σ_ik w_i w_k k(x_i, x_k) − 2 Σ_ij w_i k(x_i, t_j)/n_t + Σ_jl k(t_j, t_l)/n_t², term by term",
            function=f"{_MOD}.mmd2",
        ),
        ReferenceCase(
            "project_simplex_shift_and_clip",
            {"v": np.array([0.4, 0.3, 0.1, 2.0, -1.0])},
            {"w": np.array([0.0, 0.0, 0.0, 1.0, 0.0])},
            proj_case,
            note="threshold θ = 1 (only 2.0 stays positive: 2.0 − 1 = 1), everything else clipped to 0",
            function=f"{_MOD}.project_simplex",
        ),
        ReferenceCase(
            "project_simplex_interior",
            {"v": np.array([0.4, 0.3, 0.1])},
            {"w": np.array([0.4, 0.3, 0.1]) + 0.2 / 3},
            proj_case,
            note="Σv = 0.8 and all stay positive: add (1 − 0.8)/3 to each",
            function=f"{_MOD}.project_simplex",
        ),
        ReferenceCase(
            "att_by_hand",
            {"y_t": np.array([3.0, 5.0]), "y_c": np.array([1.0, 2.0, 4.0]), "w": np.array([0.5, 0.25, 0.25])},
            {"att": np.array(2.0)},
            att_case,
            note="mean(3, 5) − (0.5·1 + 0.25·2 + 0.25·4) = 4 − 2 = 2",
            function=f"{_MOD}.att_estimate",
        ),
    ]
