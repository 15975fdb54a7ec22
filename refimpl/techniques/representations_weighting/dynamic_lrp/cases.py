"""Reference cases of DynamicLRP, each worked out by hand (the relevance put in is the output itself)."""

from __future__ import annotations

import numpy as np

from ....autograd import Tensor
from ....autograd.ops import elementwise as E
from ....autograd.ops import linalg as L
from ....autograd.ops import reduce as Rd
from ....catalog import ReferenceCase
from . import propagate

_F = "refimpl.techniques.representations_weighting.dynamic_lrp.propagate"


def _leaf(v):
    return Tensor(np.asarray(v, dtype=np.float64), requires_grad=True)


def reference_cases() -> list:
    def matmul_case(a, W, eps):
        x = _leaf(a)
        r = propagate(L.matmul(x, _leaf(W)), x, eps=eps)
        return {"R": r.relevance, "leak": np.float64(r.leak)}

    def linear_case(a, W, b, eps):
        x = _leaf(a)
        r = propagate(L.linear(x, _leaf(W), _leaf(b)), x, eps=eps)
        return {"R": r.relevance, "leak": np.float64(r.leak)}

    def residual_case(a, add_rule):
        x = _leaf(a)
        r = propagate(E.add(E.relu(x), x), x, eps=0.0, add_rule=add_rule)
        return {"R": r.relevance}

    def two_layer_case(a, W1, W2, eps):
        x = _leaf(a)
        y = L.matmul(E.relu(L.matmul(x, _leaf(W1).T)), _leaf(W2).T)
        return {"R": propagate(y, x, eps=eps).relevance}

    def sum_case(a, add_rule):
        x = _leaf(a)
        return {"R": propagate(Rd.sum(x), x, eps=0.0, add_rule=add_rule).relevance}

    return [
        ReferenceCase(
            "catalogue hand case: a = [1, 2], W = [[1], [1]]",
            {"a": [[1.0, 2.0]], "W": [[1.0], [1.0]], "eps": 0.0},
            {"R": np.array([[1.0, 2.0]]), "leak": np.float64(0.0)},
            matmul_case,
            note="z = 3 = R_out; R_i = a_i w_i / z · R_out = a_i (Eq. 4, ε = 0)",
            function=_F,
        ),
        ReferenceCase(
            "Linear with a bias: the bias keeps b/z of the relevance",
            {"a": [[1.0, 2.0]], "W": [[1.0, 1.0]], "b": [1.0], "eps": 0.0},
            {"R": np.array([[1.0, 2.0]]), "leak": np.float64(1.0)},
            linear_case,
            note="z = 1 + 2 + 1 = 4 = R_out; R_i = a_i · 4/4; the bias keeps 1 (the leak)",
            function=_F,
            conventions={"bias": "a bias is not an input: its ε-rule share leaks"},
        ),
        ReferenceCase(
            "Linear, ε = 1: the stabiliser keeps a share",
            {"a": [[1.0, 2.0]], "W": [[1.0, 1.0]], "b": [1.0], "eps": 1.0},
            {"R": np.array([[0.8, 1.6]]), "leak": np.float64(1.6)},
            linear_case,
            note="z = 4, R_out = 4: R_i = a_i · 4/(4 + 1) = (0.8, 1.6); leak 4 − 2.4 = 1.6",
            function=_F,
            conventions={"stabiliser": "z + ε·sign(z), sign(0) = +1"},
        ),
        ReferenceCase(
            "residual relu(x) + x, |·| add rule (Eq. 9)",
            {"a": [2.0, -1.0], "add_rule": "abs"},
            {"R": np.array([4.0, -1.0])},
            residual_case,
            note="c = (2, 0) + (2, −1) = (4, −1) = R_c; shares |a|/(|a|+|b|): (2, 0) to relu(x) and (2, −1) "
            "to x; relu passes, so x gets (4, −1)",
            function=_F,
            conventions={"add": "R_a = |a| / (|a| + |b|) · R_c, even split where both are 0"},
        ),
        ReferenceCase(
            "two-layer ReLU net, LRP-0, a dead unit",
            {"a": [[1.0, 1.0]], "W1": [[1.0, -1.0], [2.0, 1.0]], "W2": [[1.0, 1.0]], "eps": 0.0},
            {"R": np.array([[2.0, 1.0]])},
            two_layer_case,
            note="h = relu((0, 3)) = (0, 3), y = 3; R_h = (0, 3); R_x = x ⊙ W1ᵀ (R_h / z) = (1, 1) ⊙ (2, 1)",
            function=_F,
            conventions={"zero": "R / z := 0 where z = 0 (ε = 0)"},
        ),
        ReferenceCase(
            "sum with the |·| share rule",
            {"a": [1.0, -3.0], "add_rule": "abs"},
            {"R": np.array([-0.5, -1.5])},
            sum_case,
            note="y = −2 = R_y; R_i = |x_i| / 4 · (−2)",
            function=_F,
        ),
    ]
