"""Reference cases of the residual expansion and the norm prediction, worked by hand: scalar blocks
(the binomial theorem), a 2×2 product of two residual factors, and (1 + λ²σ²)^L with its orders."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from . import predicted_order_sq_norms, predicted_sq_norm_ratio, residual_expansion, residual_product

_MOD = "refimpl.techniques.growth_init_scaling.residual_depth_scaling"


def reference_cases() -> list:
    def scalar_blocks(a, L, lam):
        T = residual_expansion([np.array([[float(a)]])] * int(L), float(lam))
        return {"orders": T[:, 0, 0], "output": T.sum(axis=0)[0, 0]}

    def expansion(A1, A2, lam):
        T = residual_expansion([np.asarray(A1), np.asarray(A2)], float(lam))
        return {"order0": T[0], "order1": T[1], "order2": T[2], "sum": T.sum(axis=0)}

    def product(A1, A2, lam):
        return {"product": residual_product([np.asarray(A1), np.asarray(A2)], float(lam))}

    def norm(L, lam, sigma2):
        return {
            "ratio": predicted_sq_norm_ratio(int(L), float(lam), float(sigma2)),
            "orders": predicted_order_sq_norms(int(L), float(lam), float(sigma2)),
        }

    A1 = [[1.0, 2.0], [0.0, 1.0]]
    A2 = [[0.0, 1.0], [1.0, 0.0]]
    conv = {"order": "blocks applied as listed: A_1 first, so a path's product is A_2 A_1 (later block left)"}
    return [
        ReferenceCase(
            "scalar_blocks_L3_a1_lam1",
            {"a": 1.0, "L": 3, "lam": 1.0},
            {"orders": np.array([1.0, 3.0, 3.0, 1.0]), "output": np.array(8.0)},
            scalar_blocks,
            function=f"{_MOD}.residual_expansion",
            note="by hand: (1+λa)^3 = Σ_k C(3,k)(λa)^k = 1 + 3 + 3 + 1 = 8 (the 8 = 2^3 subsets of 3 blocks)",
            atol=1e-12,
        ),
        ReferenceCase(
            "scalar_blocks_L3_a1_lam_third",
            {"a": 1.0, "L": 3, "lam": 1.0 / 3.0},
            {"orders": np.array([1.0, 1.0, 1.0 / 3.0, 1.0 / 27.0]), "output": np.array(64.0 / 27.0)},
            scalar_blocks,
            function=f"{_MOD}.residual_expansion",
            note="by hand: C(3,k)(1/3)^k = 1, 1, 1/3, 1/27; sum (4/3)^3 = 64/27 ≈ 2.370370",
            atol=1e-12,
        ),
        ReferenceCase(
            "two_blocks_2x2_orders",
            {"A1": A1, "A2": A2, "lam": 1.0},
            {
                "order0": np.eye(2),
                "order1": np.array([[1.0, 3.0], [1.0, 1.0]]),  # A1 + A2
                "order2": np.array([[0.0, 1.0], [1.0, 2.0]]),  # A2 A1
                "sum": np.array([[2.0, 4.0], [2.0, 4.0]]),  # I + A1 + A2 + A2 A1
            },
            expansion,
            function=f"{_MOD}.residual_expansion",
            note="by hand: (I+A2)(I+A1) = I + A1 + A2 + A2A1 with A2A1 = [[0,1],[1,2]]; "
            "(I+A1)(I+A2) = [[4,4],[2,2]] would differ: the order of the blocks matters",
            atol=1e-12,
            conventions=conv,
        ),
        ReferenceCase(
            "two_blocks_2x2_product",
            {"A1": A1, "A2": A2, "lam": 0.5},
            {"product": np.array([[1.5, 1.75], [0.75, 2.0]])},
            product,
            function=f"{_MOD}.residual_product",
            note="by hand: (I + A2/2)(I + A1/2) = [[1, .5], [.5, 1]]·[[1.5, 1], [0, 1.5]] = [[1.5, 1.75], "
            "[.75, 2]], equal to I + (A1 + A2)/2 + A2A1/4 term by term",
            atol=1e-12,
            conventions=conv,
        ),
        ReferenceCase(
            "norm_ratio_L3_lam_third",
            {"L": 3, "lam": 1.0 / 3.0, "sigma2": 1.0},
            {
                "ratio": np.array(1000.0 / 729.0),
                "orders": np.array([1.0, 1.0 / 3.0, 1.0 / 27.0, 1.0 / 729.0]),
            },
            norm,
            function=f"{_MOD}.predicted_sq_norm_ratio",
            note="by hand: (1 + 1/9)^3 = 1000/729; orders C(3,k)(1/9)^k = 1, 1/3, 1/27, 1/729",
            atol=1e-12,
        ),
        ReferenceCase(
            "norm_ratio_L64_lam1",
            {"L": 64, "lam": 1.0, "sigma2": 1.0},
            {"ratio": np.array(2.0**64), "orders": np.array([float(c) for c in _pascal_row(64)])},
            norm,
            function=f"{_MOD}.predicted_sq_norm_ratio",
            note="closed form: (1+1)^64 = 2^64; orders = row 64 of Pascal's triangle (built by additions)",
            rtol=1e-12,
            atol=0.0,
        ),
    ]


def _pascal_row(n: int) -> list:
    row = [1]
    for _ in range(n):
        row = [a + b for a, b in zip([0] + row, row + [0])]
    return row
