"""Reference cases of SN-Netv2 stitching: the least-squares stitching layer against hand fits and the normal
equations, route costs counted by hand, the FLOPs grouping and the group probabilities worked by hand."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from . import group_by_flops, group_probabilities, least_squares_stitch, route_flops, stitch_routes

_PKG = "refimpl.techniques.merging_averaging.sn_netv2_stitching"


def _ls_case(a, b):
    w, bias = least_squares_stitch(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64))
    return {"weight": w, "bias": bias}


def _normal_equations():
    """A full-column-rank example whose answer comes from the normal equations (ÃᵀÃ) M = ÃᵀB, solved
    with np.linalg.solve — not the pseudoinverse the code uses."""
    rng = np.random.default_rng(7)
    a = rng.standard_normal((12, 3))
    b = rng.standard_normal((12, 2))
    a1 = np.concatenate([a, np.ones((12, 1))], axis=1)
    m = np.linalg.solve(a1.T @ a1, a1.T @ b)
    return a, b, m[:-1].T, m[-1]


def reference_cases() -> list:
    a_ne, b_ne, w_ne, bias_ne = _normal_equations()
    return [
        ReferenceCase(
            "ls_stitch_exact_line",
            {"a": [[0.0], [1.0], [2.0]], "b": [[1.0], [3.0], [5.0]]},
            {"weight": np.array([[2.0]]), "bias": np.array([1.0])},
            _ls_case,
            function=f"{_PKG}.least_squares_stitch",
            note="by hand: b = 2a + 1 exactly, so W = 2, bias = 1",
            conventions={"bias": "a ones column appended to A (ps_inv); the bias is the last row of M"},
            atol=1e-12,
        ),
        ReferenceCase(
            "ls_stitch_regression_line",
            {"a": [[0.0], [1.0], [2.0], [3.0]], "b": [[0.0], [1.0], [1.0], [3.0]]},
            {"weight": np.array([[0.9]]), "bias": np.array([-0.1])},
            _ls_case,
            function=f"{_PKG}.least_squares_stitch",
            note="by hand, simple regression: mean a = 1.5, mean b = 1.25, Sab = 4.5, Saa = 5, slope 0.9, "
            "intercept 1.25 − 0.9·1.5 = −0.1",
            atol=1e-12,
        ),
        ReferenceCase(
            "ls_stitch_normal_equations",
            {"a": a_ne.tolist(), "b": b_ne.tolist()},
            {"weight": w_ne, "bias": bias_ne},
            _ls_case,
            function=f"{_PKG}.least_squares_stitch",
            note="12 × 3 Gaussian activations to 2 outputs: the normal equations (ÃᵀÃ)M = ÃᵀB solved directly",
            atol=1e-10,
        ),
        ReferenceCase(
            "route_flops_by_hand",
            {"widths": [2, 3], "d_in": 4, "d_out": 5},
            {
                "flops": np.array(
                    [4 * 2 + 2 * 2 + 2 * 5, 4 * 3 + 3 * 3 + 3 * 5, 4 * 2 + 2 * 3 + 3 * 3 + 3 * 5, 38]
                )
            },
            lambda widths, d_in, d_out: {
                "flops": np.array(
                    [route_flops(r, widths, d_in, d_out) for r in stitch_routes(2)[:3]]
                    + [route_flops(((0, 0, 1), (1, 1, 2)), widths, d_in, d_out)]
                )
            },
            function=f"{_PKG}.route_flops",
            note="D = 2: S = 4·2 + 2·2 + 2·5 = 22, L = 12 + 9 + 15 = 36, S→L at e = 1: S block 8, stitch 2·3 = 6, "
            "L block 9, L head 15 = 38",
            conventions={"flops": "multiply-accumulates of every Linear run, the stitching Linear included"},
            atol=0,
        ),
        ReferenceCase(
            "group_by_flops_by_hand",
            {"flops": [10.0, 1.0, 12.0, 30.0, 2.0], "gap": 5.0},
            {"sizes": np.array([2, 2, 1]), "members": np.array([1, 4, 0, 2, 3])},
            lambda flops, gap: {
                "sizes": np.array([len(g) for g in group_by_flops(flops, gap)]),
                "members": np.concatenate(group_by_flops(flops, gap)),
            },
            function=f"{_PKG}.group_by_flops",
            note="by hand: sorted 1 (#1), 2 (#4) | 10 (#0), 12 (#2) | 30 (#3); a new group when the FLOPs "
            "differ from the group's first by more than 5",
            conventions={
                "grouping": "compared with the first route of the current group (group_subnets_by_flops)"
            },
            atol=0,
        ),
        ReferenceCase(
            "group_probabilities_rising",
            {"n_groups": 3, "k": 2.0},
            {"p": np.array([2 / 15, 1 / 3, 8 / 15])},
            lambda n_groups, k: {"p": group_probabilities(n_groups, k)},
            function=f"{_PKG}.group_probabilities",
            note="by hand: g/k + 1/G = 1/3, 5/6, 4/3; total 5/2; normalised 2/15, 1/3, 8/15",
            atol=1e-12,
        ),
    ]
