"""Reference cases of Unified Normalization, all worked by hand: the geometric mean of a window, the outlier
test, the gradient compensation factor, the smoothed statistic along a sequence of second moments, the
exact backward of a window of one, the EMA'd backward statistic on the first step, and the fold."""

from __future__ import annotations

import math

import numpy as np

from ....autograd.tensor import Tensor
from ....catalog import ReferenceCase
from . import (
    UnifiedNorm,
    compensation,
    fold_affine_into_next_linear,
    geometric_mean,
    un_affine,
    unified_norm,
    window_is_outlier,
)

_MODULE = "refimpl.techniques.regularization_normalization.unified_normalization"


def _sequence(second_moments, window, momentum, eps):
    """Feed batches x = [[a], [−a]] with a² = s (so σ²_t = s) through a UN; return the divisor used at every
    step (x/y on the first row, γ = 1, β = 0) and the running statistic at the end."""
    un = UnifiedNorm(1, window=int(window), warmup=0, outlier_filtration=False, eps=eps, momentum=momentum)
    un.to(np.float64)
    used = []
    for s in second_moments:
        a = math.sqrt(s)
        y = unified_norm(Tensor(np.array([[a], [-a]])), un.weight, un.bias, un).data
        used.append((a / y[0, 0]) ** 2 - eps)  # y = a/√(σ̂² + ε)
    return {"smoothed": np.array(used), "running_var": un.running_var.copy()}


def _backward(x, grad_out, window, momentum):
    un = UnifiedNorm(1, window=int(window), warmup=0, outlier_filtration=False, eps=0.0, momentum=momentum)
    un.to(np.float64)
    xt = Tensor(np.asarray(x, dtype=np.float64), requires_grad=True)
    (unified_norm(xt, un.weight, un.bias, un) * Tensor(np.asarray(grad_out))).sum().backward()
    return {"grad_x": xt.grad}


def _fold(gamma, beta, running_var, eps, weight, bias):
    un = UnifiedNorm(len(gamma), eps=eps)
    un.to(np.float64)
    un.weight.data[...] = gamma
    un.bias.data[...] = beta
    un.running_var[...] = running_var
    a, c = un_affine(un)
    w, b = fold_affine_into_next_linear(a, c, np.asarray(weight, float), np.asarray(bias, float))
    return {"weight": w, "bias": b}


def reference_cases() -> list:
    r5 = math.sqrt(5.0)
    x = [[1.0], [-1.0], [3.0], [-3.0]]  # σ² = (1 + 1 + 9 + 9)/4 = 5
    g = [[1.0], [0.0], [0.0], [0.0]]
    return [
        ReferenceCase(
            "geometric_mean_of_window",
            {"window": np.array([[1.0, 4.0], [4.0, 1.0], [2.0, 2.0], [8.0, 0.5]])},
            {"gm": np.array([2 * math.sqrt(2), math.sqrt(2)])},
            lambda window: {"gm": geometric_mean(np.asarray(window))},
            function=f"{_MODULE}.geometric_mean",
            note="by hand: (1·4·2·8)^(1/4) = 64^(1/4) = 2√2 and (4·1·2·0.5)^(1/4) = 4^(1/4) = √2",
            atol=1e-12,
        ),
        ReferenceCase(
            "outlier_test_fires",
            {"window": np.array([[1.0], [1.0], [1.0], [16.0]]), "recorded_var": 0.1},
            {"outlier": np.array(True)},
            lambda window, recorded_var: {
                "outlier": np.array(window_is_outlier(np.asarray(window), recorded_var))
            },
            function=f"{_MODULE}.window_is_outlier",
            note="by hand: AM = 19/4 = 4.75, GM = 16^(1/4) = 2, AM − GM = 2.75 > M·v = 0.4",
            atol=0,
        ),
        ReferenceCase(
            "outlier_test_quiet",
            {"window": np.array([[1.0], [1.0], [1.0], [16.0]]), "recorded_var": 1.0},
            {"outlier": np.array(False)},
            lambda window, recorded_var: {
                "outlier": np.array(window_is_outlier(np.asarray(window), recorded_var))
            },
            function=f"{_MODULE}.window_is_outlier",
            note="by hand: AM − GM = 2.75 ≤ M·v = 4",
            atol=0,
        ),
        ReferenceCase(
            "compensation_clipped",
            {"var": np.array([99.0, 3.0, 0.0]), "running_var": np.array([0.0, 0.0, 399.0]), "eps": 1.0},
            {"r": np.array([5.0, 2.0, 0.2])},
            lambda var, running_var, eps: {
                "r": compensation(np.asarray(var), np.asarray(running_var), eps, True)
            },
            function=f"{_MODULE}.compensation",
            note="by hand: √(100/1) = 10 → clipped to 5; √(4/1) = 2; √(1/400) = 1/20 → clipped to 1/5",
            atol=1e-12,
        ),
        ReferenceCase(
            "smoothing_on_a_sequence",
            {"second_moments": [1.0, 4.0, 16.0, 4.0], "window": 2, "momentum": 0.5, "eps": 0.0},
            {"smoothed": np.array([1.0, 4.0, 8.0, 8.0]), "running_var": np.array([6.625])},
            _sequence,
            function=f"{_MODULE}.unified_norm",
            note="by hand, M = 2: t ≤ M uses σ²_t (1, 4); then √(4·16) = 8 and √(16·4) = 8; running σ² "
            "(m = 0.5, from 1): 1, 2.5, 5.25, 6.625",
            atol=1e-10,
            conventions={
                "window": "geometric mean of the last M second moments from t > M (t counts from 1)"
            },
        ),
        ReferenceCase(
            "exact_backward_window_one",
            {"x": x, "grad_out": g, "window": 1, "momentum": 0.9},
            {"grad_x": np.array([[0.95], [0.05], [-0.15], [0.15]]) / r5},
            _backward,
            function=f"{_MODULE}.unified_norm",
            note="by hand: z = x/√5, ψ = mean(ȳ z) = 1/(4√5); x̄ = (ȳ − ψ z)/√5 = (ȳ − z/(4√5))/√5 → "
            "[1 − 1/20, 1/20, −3/20, 3/20]/√5",
            atol=1e-12,
            conventions={"gradient": "window 1: the exact gradient of x/√(mean x² + ε)"},
        ),
        ReferenceCase(
            "smoothed_backward_first_step",
            {"x": x, "grad_out": g, "window": 2, "momentum": 0.5},
            {"grad_x": np.array([[0.975], [0.025], [-0.075], [0.075]]) / r5},
            _backward,
            function=f"{_MODULE}.unified_norm",
            note="by hand: the EMA of ψ starts at 0, so ψ̃ = 0.5·ψ = 1/(8√5); x̄ = (ȳ − z/(8√5))/√5 → "
            "[1 − 1/40, 1/40, −3/40, 3/40]/√5",
            atol=1e-12,
            conventions={
                "gradient": "official: ψ̃ = EMA (momentum m, from 0) of the window mean of mean(ȳ γ r z)"
            },
        ),
        ReferenceCase(
            "fold_into_next_linear",
            {
                "gamma": [4.0],
                "beta": [1.0],
                "running_var": [3.0],
                "eps": 1.0,
                "weight": [[1.0], [2.0]],
                "bias": [0.0, 1.0],
            },
            {"weight": np.array([[2.0], [4.0]]), "bias": np.array([1.0, 3.0])},
            _fold,
            function=f"{_MODULE}.fold_affine_into_next_linear",
            note="by hand: a = 4/√(3+1) = 2, c = 1; W diag(a) = [[2], [4]], W c + b = [1, 2] + [0, 1]",
            atol=1e-12,
        ),
    ]
