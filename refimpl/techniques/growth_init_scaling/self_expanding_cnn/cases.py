"""Reference cases of the natural expansion score, worked by hand: a one-parameter and a two-parameter
linear least-squares model (per-example gradients written out, F and η in fractions), the diagonal score,
the regularised score (Eq. 3), the expansion rule, and one softmax-regression gradient."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from . import (
    diagonal_expansion_score,
    expansion_decision,
    mlp_per_example_grads,
    natural_expansion_score,
    regularized_score,
)

_MOD = "refimpl.techniques.growth_init_scaling.self_expanding_cnn"
_TOL = dict(atol=1e-12, rtol=1e-12, atol32=1e-6, rtol32=1e-5)
_LOSS = {"loss": "ℓᵢ = ½ (w·xᵢ − yᵢ)², gradient gᵢ = (w·xᵢ − yᵢ) xᵢ", "fisher": "empirical, 1/N Σ gᵢgᵢᵀ"}


def reference_cases() -> list:
    def score(G, damping):
        return {"eta": np.array(natural_expansion_score(np.asarray(G), float(damping)))}

    def diag(mean_grad, mean_sq_grad):
        return {"eta": np.array(diagonal_expansion_score(np.asarray(mean_grad), np.asarray(mean_sq_grad)))}

    def reg(eta, delta_p, lam):
        return {"eta_reg": np.array(regularized_score(float(eta), float(delta_p), float(lam)))}

    def decide(eta_current, names, scores, tau):
        choice, ratio = expansion_decision(float(eta_current), dict(zip(names, scores)), float(tau))
        return {"expands": np.array(choice is not None), "ratio": np.array(ratio)}

    def softmax_grad(W, b, x, y):
        return {"G": mlp_per_example_grads([np.asarray(W)], [np.asarray(b)], np.asarray(x), np.asarray(y))}

    # 1-parameter linear model w = 0, x = (1, 2, 3), y = (1, 1, 4): residuals r = −y, gᵢ = rᵢxᵢ = (−1, −2, −12)
    G1 = np.array([[-1.0], [-2.0], [-12.0]])
    # ḡ = −5, F = (1 + 4 + 144)/3 = 149/3, η = 25 · 3/149 = 75/149
    # 2-parameter model w = (0, 0), x₁ = (1, 0), x₂ = (0, 1), x₃ = (1, 1), y = (1, 2, 2): gᵢ = −yᵢxᵢ
    G2 = np.array([[-1.0, 0.0], [0.0, -2.0], [-2.0, -2.0]])
    # ḡ = (−1, −4/3); F = (1/3)[[5, 4], [4, 8]]; F⁻¹ = (3/24)[[8, −4], [−4, 5]]
    # η = (1/8)(8·1 − 2·4·(4/3) + 5·16/9) = (1/8)(72/9 − 96/9 + 80/9) = 56/72 = 7/9
    W = np.array([[1.0, 0.0], [0.0, 0.0]])  # softmax regression, 2 classes, logits z = W x + b
    x = np.array([[np.log(3.0), 0.0]])  # z = (ln 3, 0): softmax = (3/4, 1/4)
    return [
        ReferenceCase(
            "eta_one_parameter_linear",
            {"G": G1, "damping": 0.0},
            {"eta": np.array(75 / 149)},
            score,
            function=f"{_MOD}.natural_expansion_score",
            note="by hand: ḡ = −5, F = 149/3, η = ḡ²/F = 75/149 (= a/(1+a) with a = ḡ²/Var g = 75/74)",
            conventions=_LOSS,
            **_TOL,
        ),
        ReferenceCase(
            "eta_two_parameter_linear",
            {"G": G2, "damping": 0.0},
            {"eta": np.array(7 / 9)},
            score,
            function=f"{_MOD}.natural_expansion_score",
            note="by hand: ḡ = (−1, −4/3), F = [[5, 4], [4, 8]]/3, F⁻¹ = [[8, −4], [−4, 5]]/8, η = 7/9",
            conventions=_LOSS,
            **_TOL,
        ),
        ReferenceCase(
            "eta_one_parameter_damped",
            {"G": G1, "damping": 1.0},
            {"eta": np.array(75 / 152)},
            score,
            function=f"{_MOD}.natural_expansion_score",
            note="by hand: Tikhonov F + λ = 149/3 + 1 = 152/3, η = 25 · 3/152 = 75/152",
            conventions={**_LOSS, "damping": "F + damping · I"},
            **_TOL,
        ),
        ReferenceCase(
            "eta_more_parameters_than_examples_saturates",
            {"G": np.array([[1.0, 2.0, 0.0], [0.0, 1.0, -1.0]]), "damping": 0.0},
            {"eta": np.array(1.0)},
            score,
            function=f"{_MOD}.natural_expansion_score",
            note="by hand: 2 independent per-example gradients in 3-D: ḡ = Gᵀ1/N lies in their span, "
            "η = (1/N) 1ᵀ G (GᵀG)⁺ Gᵀ 1 = (1/N) 1ᵀ1 = 1 (pseudo-inverse)",
            conventions={"inverse": "Moore–Penrose pseudo-inverse when undamped"},
            **_TOL,
        ),
        ReferenceCase(
            "eta_diagonal",
            {
                "mean_grad": np.array([-1.0, -4.0 / 3.0, 0.0]),
                "mean_sq_grad": np.array([5.0 / 3, 8.0 / 3, 0.0]),
            },
            {"eta": np.array(19.0 / 15.0)},
            diag,
            function=f"{_MOD}.diagonal_expansion_score",
            note="by hand: the two-parameter model's diagonal F: 1/(5/3) + (16/9)/(8/3) = 3/5 + 2/3 = 19/15; "
            "a coordinate with F_jj = 0 contributes 0",
            conventions={"zero curvature": "coordinates with F_jj = 0 (no gradient) contribute 0"},
            **_TOL,
        ),
        ReferenceCase(
            "regularized_score_eq3",
            {"eta": 2.0, "delta_p": 10.0, "lam": 0.01},
            {"eta_reg": np.array(2.0 * np.exp(-1.0))},
            reg,
            function=f"{_MOD}.regularized_score",
            note="by hand: 2 · exp(−0.01 · 10²) = 2/e",
            **_TOL,
        ),
        ReferenceCase(
            "expansion_rule_tau_2",
            {"eta_current": 1.5, "names": ["widen 0", "deepen"], "scores": [3.3, 2.4], "tau": 2.0},
            {"expands": np.array(True), "ratio": np.array(2.2)},
            decide,
            function=f"{_MOD}.expansion_decision",
            note="by hand: best candidate 3.3, 3.3/1.5 = 2.2 > τ = 2: expand",
            **_TOL,
        ),
        ReferenceCase(
            "softmax_regression_per_example_gradient",
            {"W": W, "b": np.zeros(2), "x": x, "y": np.array([1])},
            {"G": np.array([[0.75 * np.log(3.0), 0.0, -0.75 * np.log(3.0), 0.0, 0.75, -0.75]])},
            softmax_grad,
            function=f"{_MOD}.mlp_per_example_grads",
            note="by hand: p = (3/4, 1/4), δ = p − e₁ = (3/4, −3/4), ∂ℓ/∂W = δ xᵀ (row-major), ∂ℓ/∂b = δ",
            conventions={"order": "W (row-major), then b", "loss": "softmax cross-entropy per example"},
            **_TOL,
        ),
    ]
