"""Reference cases of in-context linear regression: the catalogue's hand case for the constructed attention
layer, two GD steps and a ridge prediction on a two-example context by hand, and the best single step for
n = d = 1 by hand."""

from __future__ import annotations

import numpy as np

from .... import tensor
from ....catalog import ReferenceCase
from . import constructed_gd_layer, gd_prediction, optimal_gd_step, ridge_prediction, tokens

_PATH = "refimpl.techniques.theory_dynamics.icl_linear_gd"
_CTX = {"X": [[[1.0, 0.0], [0.0, 1.0]]], "y": [[2.0, -1.0]], "xq": [[1.0, 1.0]]}


def _constructed(X, y, xq, lr):
    model = constructed_gd_layer(2, lr)
    return {"y_hat": model(tensor(tokens(np.asarray(X), np.asarray(y), np.asarray(xq)))).data}


def _gd(X, y, xq, lr, steps):
    return {"y_hat": gd_prediction(np.asarray(X), np.asarray(y), np.asarray(xq), lr, steps)}


def _ridge(X, y, xq, lam):
    return {"y_hat": ridge_prediction(np.asarray(X), np.asarray(y), np.asarray(xq), lam)}


def _optimal(n_context, dim, noise):
    return optimal_gd_step(n_context, dim, noise)


def reference_cases() -> list:
    return [
        ReferenceCase(
            name="constructed_layer_is_one_gd_step",
            inputs={**_CTX, "lr": 0.5},
            expected={"y_hat": [0.5]},
            compute=_constructed,
            function=f"{_PATH}.constructed_gd_layer",
            note="x₁ = (1, 0), y₁ = 2, x₂ = (0, 1), y₂ = −1, x_q = (1, 1), η = 0.5: one GD step from 0 gives "
            "w₁ = 0.5·(2, −1) and the prediction 0.5·(2 − 1) = 0.5; the attention layer's query label slot "
            "must read the same.",
            atol=1e-15,
        ),
        ReferenceCase(
            name="two_gd_steps",
            inputs={**_CTX, "lr": 0.5, "steps": 2},
            expected={"y_hat": [0.75]},
            compute=_gd,
            function=f"{_PATH}.gd_prediction",
            note="XᵀX = I: w₂ = w₁ + 0.5 (y − w₁) per coordinate = (1, −0.5) + 0.5·(1, −0.5) = (1.5, −0.75); "
            "prediction 1.5 − 0.75 = 0.75.",
            atol=1e-15,
        ),
        ReferenceCase(
            name="ridge_on_an_orthonormal_context",
            inputs={**_CTX, "lam": 1.0},
            expected={"y_hat": [0.5]},
            compute=_ridge,
            function=f"{_PATH}.ridge_prediction",
            note="XᵀX = I, λ = 1: w = Xᵀy/2 = (1, −0.5); prediction 0.5.",
            atol=1e-15,
        ),
        ReferenceCase(
            name="best_single_step_n1_d1",
            inputs={"n_context": 1, "dim": 1, "noise": 0.0},
            expected={"eta": 1 / 3, "mse": 2 / 3},
            compute=_optimal,
            function=f"{_PATH}.optimal_gd_step",
            note="a = w x₁² x_q, b = w x_q: E[ab] = E[w²]E[x₁²]E[x_q²] = 1, E[a²] = 1·3·1 = 3 (E x⁴ = 3), so "
            "η* = 1/3 and the normalised error 1 − 1/(3·1) = 2/3.",
            atol=1e-15,
        ),
    ]
