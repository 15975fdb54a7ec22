"""Reference cases of MixtureGrowth, worked by hand: a template mix, the official "diag" block layouts (from
the docstring of the authors' `get_params`), new coefficients from closed-form eigenvectors, and a grown
1-wide network whose every weight and activation is written out."""

from __future__ import annotations

import math

import numpy as np

from ....catalog import ReferenceCase
from . import TemplateMLP, diag_layout, grow_coefficients, mix, orthogonal_new_coefficients

_MOD = "refimpl.techniques.growth_init_scaling.mixturegrowth"
_EXACT = dict(atol=0.0, rtol=0.0, atol32=0.0, rtol32=0.0)
_SIGN = {
    "sign": "a singular vector's sign is arbitrary: its largest-magnitude entry is made positive, the "
    "first one on ties"
}


def _min_eigvec_2x2(a, b, c):
    """Unit eigenvector of the smaller eigenvalue of [[a, b], [b, c]] (b ≠ 0), by the quadratic formula."""
    lam = (a + c) / 2 - math.sqrt(((a - c) / 2) ** 2 + b * b)
    v = np.array([b, lam - a])  # (A − λI)v = 0: a·b + b(λ − a) − λb = 0 and b·b + (c − λ)(λ − a) = 0
    v = v / np.linalg.norm(v)
    return v * np.sign(v[np.argmax(np.abs(v))])


def reference_cases() -> list:
    def mixed(templates, coefficients):
        return {"W": mix(np.asarray(templates), np.asarray(coefficients))}

    def layout(n_out, n_in):
        return {"members": diag_layout(int(n_out), int(n_in))}

    def new_coefs(previous, scale):
        return {"alpha": orthogonal_new_coefficients(np.asarray(previous), float(scale))}

    def grown_coefs(coefficients, rule, scale):
        return {
            f"alpha_{i}": c for i, c in enumerate(grow_coefficients(list(coefficients), rule, float(scale)))
        }

    def grown_forward(x, member_x, **params):
        """A 1 → 1 → 1 → 1 TemplateMLP (depth 2, K = 2) with every parameter given (templates t{layer}_{set},
        coefficients a{layer}_{member}, biases b{layer}_{member}), grown; the new members' coefficients are
        given too (set after growth), so no growth rule enters."""
        model = TemplateMLP(1, 1, 1, depth=2, num_templates=2, dtype=np.float64, rng=0)
        new = ("a1_2", "a1_3")
        for name, v in params.items():
            if name not in new:
                getattr(model, name).data[...] = np.asarray(v, np.float64).reshape(getattr(model, name).shape)
        member = model(np.asarray(member_x, np.float64).reshape(-1, 1), member=0).data.ravel()
        model.grow("zero")
        for name in new:
            getattr(model, name).data[...] = params[name]
        out = model(np.asarray(x, np.float64).reshape(-1, 1)).data.ravel()
        return {"member0_out": member, "out": out, "W1": model.effective_weights()[1][0]}

    v_tilted = _min_eigvec_2x2(4.0 + 0.36, 0.48, 1.0 + 0.64)  # PᵀP of P = [[2, 0], [0, 1], [0.6, 0.8]]
    params = {
        "t0_0": [1.0, 2.0],
        "t0_1": [-1.0, 1.0],
        "t1_0": [1.0, 2.0],
        "t1_1": [3.0, -1.0],
        "t2_0": [1.0, 1.0],
        "t2_1": [2.0, 0.0],
        "a0_0": [1.0, 1.0],
        "a0_1": [2.0, 1.0],
        "a1_0": [1.0, 0.0],
        "a1_1": [0.0, 1.0],
        "a1_2": [0.5, 0.5],
        "a1_3": [1.0, 1.0],
        "a2_0": [1.0, 2.0],
        "a2_1": [0.5, 3.0],
        "b0_0": 0.5,
        "b0_1": 0.0,
        "b1_0": 0.0,
        "b1_1": 1.0,
        "b2_0": 0.25,
        "b2_1": -0.5,
    }
    return [
        ReferenceCase(
            "mix_two_2x2_templates",
            {
                "templates": np.array([[[1.0, 2.0], [3.0, 4.0]], [[0.0, 1.0], [1.0, 0.0]]]),
                "coefficients": np.array([2.0, -1.0]),
            },
            {"W": np.array([[2.0, 3.0], [5.0, 8.0]])},
            mixed,
            function=f"{_MOD}.mix",
            note="by hand: 2·[[1, 2], [3, 4]] − [[0, 1], [1, 0]]",
            **_EXACT,
        ),
        *[
            ReferenceCase(
                f"diag_layout_{n_out}x{n_in}",
                {"n_out": n_out, "n_in": n_in},
                {"members": np.array(members)},
                layout,
                function=f"{_MOD}.diag_layout",
                note="the layouts written out in the docstring of the official SModule.get_params "
                "(models/layers.py:443-470), member 0 top left, member 1 bottom right",
                **_EXACT,
            )
            for n_out, n_in, members in [
                (2, 2, [[0, 2], [3, 1]]),
                (3, 3, [[0, 2, 3], [4, 5, 6], [7, 8, 1]]),
                (4, 4, [[0, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12], [13, 14, 15, 1]]),
                (2, 3, [[0, 2, 3], [4, 5, 1]]),
                (2, 1, [[0], [1]]),
                (1, 2, [[0, 1]]),
            ]
        ],
        ReferenceCase(
            "orthogonal_new_coefficients_axis",
            {"previous": np.array([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0]]), "scale": 2.0},
            {"alpha": np.array([0.0, 0.0, 2.0])},
            new_coefs,
            function=f"{_MOD}.orthogonal_new_coefficients",
            note="by hand: the null space of the rows is the third axis; scale 2",
            conventions=_SIGN,
            atol=1e-12,
            rtol=0.0,
        ),
        ReferenceCase(
            "orthogonal_new_coefficients_tie",
            {"previous": np.array([[1.0, 1.0]]), "scale": 1.0},
            {"alpha": np.array([1.0, -1.0]) / math.sqrt(2.0)},
            new_coefs,
            function=f"{_MOD}.orthogonal_new_coefficients",
            note="by hand: the orthogonal complement of (1, 1) is ±(1, −1)/√2; both entries tie in magnitude, "
            "the first is made positive",
            conventions=_SIGN,
            atol=1e-12,
            rtol=0.0,
        ),
        ReferenceCase(
            "grow_coefficients_orthogonal_k2",
            {
                "coefficients": np.array([[2.0, 0.0], [0.0, 1.0], [0.6, 0.8], [9.0, 9.0]]),
                "rule": "orthogonal",
                "scale": 1.0,
            },
            {
                "alpha_0": np.array([2.0, 0.0]),
                "alpha_1": np.array([0.0, 1.0]),
                "alpha_2": np.array([0.6, 0.8]),
                "alpha_3": v_tilted,
            },
            grown_coefs,
            function=f"{_MOD}.grow_coefficients",
            note="members 0, 1 kept; member 2 keeps its vector (layers.py:373-374); member 3 = eigenvector of "
            "the smaller eigenvalue of PᵀP = [[4.36, 0.48], [0.48, 1.64]] (P = the three rows above), by the "
            "2 × 2 quadratic formula ≈ (−0.1688, 0.9856) — three vectors in R² cannot all be orthogonal",
            conventions=_SIGN,
            atol=1e-12,
            rtol=1e-12,
        ),
        ReferenceCase(
            "grow_coefficients_zero",
            {
                "coefficients": np.array([[2.0, 0.0], [0.0, 1.0], [0.6, 0.8], [9.0, 9.0]]),
                "rule": "zero",
                "scale": 1.0,
            },
            {
                "alpha_0": np.array([2.0, 0.0]),
                "alpha_1": np.array([0.0, 1.0]),
                "alpha_2": np.zeros(2),
                "alpha_3": np.zeros(2),
            },
            grown_coefs,
            function=f"{_MOD}.grow_coefficients",
            note="by hand: the official 'zero' rule sets every new member to 0 (layers.py:386-388)",
            **_EXACT,
        ),
        ReferenceCase(
            "grown_1wide_depth2_forward",
            {
                "x": np.array([2.0, -1.0]),
                "member_x": np.array([2.0]),
                **{k: np.asarray(v, np.float64) for k, v in params.items()},
            },
            {
                "member0_out": np.array([19.75]),
                "out": np.array([33.25, 4.25]),
                "W1": np.array([[1.0, 1.5], [2.0, -1.0]]),
            },
            grown_forward,
            function=f"{_MOD}.TemplateMLP",
            note="by hand. Mixed weights: layer 0 members (1·1 + 1·2, 2·(−1) + 1·1) = (3, −1); layer 1 members "
            "0..3 = (1, −1, 0.5·1 + 0.5·2, 1·3 + 1·(−1)) = (1, −1, 1.5, 2) placed [[W₀, W₂], [W₃, W₁]]; "
            "classifier (1 + 2, 0.5·2 + 0) = (3, 1). Member 0 at x = 2: relu(6.5), relu(6.5), 3·6.5 + 0.25 = "
            "19.75. Grown, x = 2: h₁ = relu(6.5, −2) = (6.5, 0), h₂ = relu(6.5, 14) = (6.5, 14), out = 19.5 + "
            "14 − 0.25 = 33.25; x = −1: h₁ = (0, 1), h₂ = relu(1.5, 0) = (1.5, 0), out = 4.5 − 0.25 = 4.25 "
            "(hidden biases concatenated, classifier biases summed)",
            conventions={
                "biases": "per member; grown hidden layers concatenate them, the classifier sums them"
            },
            atol=1e-12,
            rtol=1e-12,
        ),
    ]
