"""Reference cases of sinkhorn-newton-sparse, each from an independent computation: the 2×2 entropic plan in
closed form (a quadratic), one Sinkhorn half step, the potential's value, gradient and Hessian, Sparsify and
the sparse Hessian-vector product, all worked by hand."""

from __future__ import annotations

import math

import numpy as np

from ....catalog import ReferenceCase
from . import gradient, hessian, lyapunov, plan, scale_rows, sinkhorn, sns, sparse_hvp, sparsify

_PATH = "refimpl.techniques.optimizers_training_rules.sinkhorn_newton_sparse"
_CONV = {"scheme": "P_ij = exp(η(−C_ij + x_i + y_j) − 1); f concave (ascent); entropy term (1/η) Σ P log P"}


def two_by_two_plan(a: float, b: float, eta: float) -> np.ndarray:
    """The entropic plan for C = [[0, 1], [1, 0]], r = (a, 1−a), c = (b, 1−b), in closed form.

    Optimality makes log P_ij + ηC_ij separable (= ηx_i + ηy_j − 1), so P11·P22 / (P12·P21) = e^{2η} =: K.
    With P11 = p the marginals fix P12 = a − p, P21 = b − p, P22 = 1 − a − b + p, and
    p(1 − a − b + p) = K(a − p)(b − p) is the quadratic (1−K)p² + (1 − a − b + K(a+b))p − Kab = 0, whose root
    in (max(0, a+b−1), min(a, b)) is p."""
    K = math.exp(2 * eta)
    A, B, Cq = 1 - K, 1 - a - b + K * (a + b), -K * a * b
    lo, hi = max(0.0, a + b - 1), min(a, b)
    roots = [(-B + s * math.sqrt(B * B - 4 * A * Cq)) / (2 * A) for s in (1, -1)]
    p = next(t for t in roots if lo < t < hi)
    return np.array([[p, a - p], [b - p, 1 - a - b + p]])


def _sinkhorn_plan(C, r, c, eta, tol, max_iter):
    s = sinkhorn(np.asarray(C), np.asarray(r), np.asarray(c), eta, tol=tol, max_iter=max_iter)
    return {"P": plan(np.asarray(C), s.x, s.y, eta)}


def _sns_plan(C, r, c, eta, n_sinkhorn, lam, tol, max_newton):
    s = sns(
        np.asarray(C),
        np.asarray(r),
        np.asarray(c),
        eta,
        n_sinkhorn=n_sinkhorn,
        lam=lam,
        tol=tol,
        max_newton=max_newton,
    )
    return {"P": plan(np.asarray(C), s.x, s.y, eta)}


def _row_step(C, eta, y, r):
    return {"x": scale_rows(np.asarray(C, dtype=np.float64), eta, np.asarray(y), np.log(r))}


def _derivatives(C, r, c, eta, x, y):
    C, r, c, x, y = (np.asarray(v, dtype=np.float64) for v in (C, r, c, x, y))
    P = plan(C, x, y, eta)
    gx, gy = gradient(P, r, c)
    return {"P": P, "f": lyapunov(C, r, c, eta, x, y), "grad": np.r_[gx, gy], "hessian": hessian(P, eta)}


def _sparse(P, lam, eta, u, v):
    P = np.asarray(P, dtype=np.float64)
    rows, cols, vals = sparsify(P, lam)
    hu, hv = sparse_hvp(rows, cols, vals, P.sum(1), P.sum(0), eta, np.asarray(u, float), np.asarray(v, float))
    return {"rows": rows, "cols": cols, "vals": vals, "hvp": np.r_[hu, hv]}


def reference_cases() -> list:
    C2 = [[0.0, 1.0], [1.0, 0.0]]
    a, b, eta = 0.3, 0.6, 1.0
    exact = two_by_two_plan(a, b, eta)
    e = math.e
    # the derivative case: C = [[0, 1], [1, 0]], x = (0.5, 0), y = (0, 0.25), η = 2 (exponents by hand)
    P_hand = np.array([[1.0, math.exp(-1.5)], [math.exp(-3.0), math.exp(-0.5)]])
    r3, c3 = [0.7, 0.3], [0.4, 0.6]
    rs, cs = P_hand.sum(1), P_hand.sum(0)
    H_hand = -2.0 * np.array(
        [
            [rs[0], 0.0, P_hand[0, 0], P_hand[0, 1]],
            [0.0, rs[1], P_hand[1, 0], P_hand[1, 1]],
            [P_hand[0, 0], P_hand[1, 0], cs[0], 0.0],
            [P_hand[0, 1], P_hand[1, 1], 0.0, cs[1]],
        ]
    )
    f_hand = -P_hand.sum() / 2.0 + 0.7 * 0.5 + 0.6 * 0.25
    return [
        ReferenceCase(
            name="sinkhorn_2x2_closed_form",
            inputs={"C": C2, "r": [a, 1 - a], "c": [b, 1 - b], "eta": eta, "tol": 1e-14, "max_iter": 1000},
            expected={"P": exact.tolist()},
            compute=_sinkhorn_plan,
            function=f"{_PATH}.sinkhorn",
            note="Closed form: P11·P22/(P12·P21) = e^{2η} with the marginals fixed gives a quadratic in P11 "
            "(`two_by_two_plan`).",
            atol=1e-12,
            rtol=1e-10,
            conventions=_CONV,
        ),
        ReferenceCase(
            name="sns_2x2_closed_form",
            inputs={
                "C": C2,
                "r": [a, 1 - a],
                "c": [b, 1 - b],
                "eta": eta,
                "n_sinkhorn": 2,
                "lam": 0.5,
                "tol": 1e-14,
                "max_newton": 50,
            },
            expected={"P": exact.tolist()},
            compute=_sns_plan,
            function=f"{_PATH}.sns",
            note="The same closed form: SNS (2 Sinkhorn steps, then Newton keeping 2 of the 4 plan entries) "
            "must land on the same plan.",
            atol=1e-12,
            rtol=1e-10,
            conventions=_CONV,
        ),
        ReferenceCase(
            name="sinkhorn_row_step_by_hand",
            inputs={"C": C2, "eta": 1.0, "y": [0.0, 0.0], "r": [0.25, 0.75]},
            expected={
                "x": [
                    math.log(0.25) + 1 - math.log(1 + 1 / e),
                    math.log(0.75) + 1 - math.log(1 + 1 / e),
                ]
            },
            compute=_row_step,
            function=f"{_PATH}.scale_rows",
            note="By hand: Σ_j exp(η(x_i − C_ij) − 1) = r_i with y = 0 gives x_i = log r_i + 1 − log(1 + e^{−1}).",
            atol=1e-13,
            conventions=_CONV,
        ),
        ReferenceCase(
            name="potential_gradient_hessian_by_hand",
            inputs={"C": C2, "r": r3, "c": c3, "eta": 2.0, "x": [0.5, 0.0], "y": [0.0, 0.25]},
            expected={
                "P": P_hand.tolist(),
                "f": f_hand,
                "grad": np.r_[np.array(r3) - rs, np.array(c3) - cs].tolist(),
                "hessian": H_hand.tolist(),
            },
            compute=_derivatives,
            function=f"{_PATH}.hessian",
            note="By hand: exponents η(−C_ij + x_i + y_j) − 1 = 0, −1.5, −3, −0.5; ∇f = (r − P1, c − Pᵀ1); "
            "∇²f = −η[[diag(P1), P], [Pᵀ, diag(Pᵀ1)]] (the tests also check it by finite differences).",
            atol=1e-13,
            conventions=_CONV,
        ),
        ReferenceCase(
            name="sparsify_and_sparse_hvp_by_hand",
            inputs={
                "P": [[0.5, 0.1], [0.05, 0.35]],
                "lam": 0.5,
                "eta": 1.0,
                "u": [1.0, 2.0],
                "v": [3.0, -1.0],
            },
            expected={
                "rows": [0, 1],
                "cols": [0, 1],
                "vals": [0.5, 0.35],
                "hvp": [2.1, 0.45, 2.15, 0.25],
            },
            compute=_sparse,
            function=f"{_PATH}.sparse_hvp",
            note="By hand: λ·nm = 2 keeps 0.5 and 0.35; −M(u, v) = (P1⊙u + P̃v, Pᵀ1⊙v + P̃ᵀu) with the full "
            "sums P1 = (0.6, 0.4), Pᵀ1 = (0.55, 0.45): (0.6 + 1.5, 0.8 − 0.35, 1.65 + 0.5, −0.45 + 0.7).",
            atol=1e-14,
            conventions={"sparsify": "keep the ⌈λ·nm⌉ largest plan entries; diagonal blocks exact"},
        ),
    ]
