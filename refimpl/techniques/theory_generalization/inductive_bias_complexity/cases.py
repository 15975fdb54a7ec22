"""Reference cases of the inductive-bias measure, by hand: the basis size, the basis at a point, a noncentral
chi-square CDF with no noncentrality (a closed form), and the fraction with no data and a zero task."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from . import fit_fraction, log_ncx2_cdf, n_basis, trig_basis


def _size(d, M):
    return {"K": np.array([n_basis(d, M)], dtype=float)}


def _basis(x, M):
    return {"phi": trig_basis(np.array([[x]]), M)[0]}


def _cdf(x, df, nc):
    return {"cdf": np.array([np.exp(log_ncx2_cdf(x, df, nc))])}


def _fraction(K, eps, sigma2):
    return {"fraction": np.array([fit_fraction(np.zeros((0, K)), np.zeros(K), eps, sigma2)])}


_PATH = "refimpl.techniques.theory_generalization.inductive_bias_complexity"


def reference_cases() -> list:
    return [
        ReferenceCase(
            name="basis_size",
            inputs={"d": 3, "M": 2},
            expected={"K": [125.0]},
            compute=_size,
            function=f"{_PATH}.n_basis",
            note="(2·2 + 1)³ = 125 frequencies.",
            atol=0.0,
        ),
        ReferenceCase(
            name="basis_at_a_quarter",
            inputs={"x": 0.25, "M": 1},
            expected={"phi": [1.0, 0.0, np.sqrt(2)]},
            compute=_basis,
            function=f"{_PATH}.trig_basis",
            note="1, √2 cos(π/2) = 0, √2 sin(π/2) = √2.",
            atol=1e-15,
        ),
        ReferenceCase(
            name="central_chi2_two_dof",
            inputs={"x": 2.0, "df": 2, "nc": 0.0},
            expected={"cdf": [1 - np.exp(-1.0)]},
            compute=_cdf,
            function=f"{_PATH}.log_ncx2_cdf",
            note="χ²₂ is exponential with mean 2: F(2) = 1 − e⁻¹.",
            atol=1e-13,
        ),
        ReferenceCase(
            name="no_data_zero_task",
            inputs={"K": 2, "eps": 1.0, "sigma2": 0.5},
            expected={"fraction": [1 - np.exp(-1.0)]},
            compute=_fraction,
            function=f"{_PATH}.fit_fraction",
            note="θ* = 0, no data: e = ‖θ‖² = σ² χ²₂ ≤ 1 ⇔ χ²₂ ≤ 2: 1 − e⁻¹.",
            atol=1e-13,
        ),
    ]
