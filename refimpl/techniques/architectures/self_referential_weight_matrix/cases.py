"""Reference cases of the SRWM: one self-update step by hand (d = 2, numbers chosen so that every softmax and
sigmoid is a simple fraction), a three-step sequence against an independent loop over the four separate
sub-matrices (the layout of the official reference loop), and one fast-weight (delta-rule) step by hand."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from . import fast_weight_programmer, srwm_sequence, srwm_step

_P = "refimpl.techniques.architectures.self_referential_weight_matrix."
LN3 = float(np.log(3.0))

# W0 = [W_y | W_q | W_k | w_b] (rows: input coordinates), chosen so that with x = (0, 0):
# φ(x) = (½, ½); y = φ(x) W_y = (½, ½); q = (0, 0) → φ(q) = (½, ½); k = (ln 3, 0) → φ(k) = (¾, ¼); σ(0) = ½.
W_Y = np.eye(2)
W_Q = np.array([[1.0, -1.0], [-1.0, 1.0]])
W_K = np.array([[LN3, 0.0], [LN3, 0.0]])
W_B = np.zeros((2, 4))
W0 = np.concatenate([W_Y, W_Q, W_K, W_B], axis=1)

# By hand: v − v̄ = (φ(q) − φ(k)) W = (−¼, ¼) W per sub-matrix, times σ(β) = ½, outer product with φ(k):
#   W_y: (−¼, ¼)      → ΔW_y = (¾, ¼)ᵀ (−⅛, ⅛)  = [[−3/32, 3/32], [−1/32, 1/32]]
#   W_q: (−½, ½)      → ΔW_q = (¾, ¼)ᵀ (−¼, ¼)  = [[−3/16, 3/16], [−1/16, 1/16]]
#   W_k: (0, 0), w_b: (0, 0, 0, 0) → unchanged.
DELTA = np.zeros((2, 10))
DELTA[:, 0:2] = [[-3 / 32, 3 / 32], [-1 / 32, 1 / 32]]
DELTA[:, 2:4] = [[-3 / 16, 3 / 16], [-1 / 16, 1 / 16]]


def _softmax(z):
    e = np.exp(z - z.max())
    return e / e.sum()


def independent_srwm(Wy, Wq, Wk, wb, xs):
    """A plain loop over one sequence with four separate matrices (the official reference loop's layout)."""
    Wy, Wq, Wk, wb = (np.array(a, dtype=np.float64) for a in (Wy, Wq, Wk, wb))
    ys = []
    for x in xs:
        px = _softmax(x)
        ys.append(px @ Wy)
        q, k = _softmax(px @ Wq), _softmax(px @ Wk)
        b = 1.0 / (1.0 + np.exp(-(px @ wb)))
        Wy = Wy + np.outer(k, b[0] * (q @ Wy - k @ Wy))
        Wq = Wq + np.outer(k, b[1] * (q @ Wq - k @ Wq))
        Wk = Wk + np.outer(k, b[2] * (q @ Wk - k @ Wk))
        wb = wb + np.outer(k, b[3] * (q @ wb - k @ wb))
    return np.array(ys)


def _sequence_case():
    rng = np.random.default_rng(5)
    d, L = 3, 3
    Wy, Wq, Wk = (rng.normal(0, 1.0, (d, d)) for _ in range(3))
    wb = rng.normal(0, 1.0, (d, 4))
    xs = rng.normal(0, 1.0, (L, d))
    W = np.concatenate([Wy, Wq, Wk, wb], axis=1)
    return {"W0": W, "xs": xs[None]}, {"ys": independent_srwm(Wy, Wq, Wk, wb, xs)[None]}


def reference_cases() -> list:
    seq_in, seq_out = _sequence_case()
    return [
        ReferenceCase(
            "one_self_update_by_hand",
            {"W": W0, "x": np.zeros((1, 2))},
            {"y": np.array([[0.5, 0.5]]), "W_new": (W0 + DELTA)[None]},
            lambda W, x: dict(zip(("y", "W_new"), srwm_step(W, x), strict=True)),
            function=_P + "srwm_step",
            note="by hand: φ(x) = (½, ½), φ(q) = (½, ½), φ(k) = (¾, ¼), σ(β) = ½; the update is "
            "φ(k)ᵀ ½ (φ(q) − φ(k)) W per sub-matrix (worked out in the comments of cases.py)",
            atol=1e-12,
            conventions={
                "layout": "row vectors: [y, q, k, β] = φ(x) W, W of shape (d, 3d + 4), columns y | q | k | β",
                "rates": "σ(β) ∈ R⁴, one rate per sub-matrix y, q, k, β",
                "output": "y_t read with W_{t−1}, before the step's own update",
            },
        ),
        ReferenceCase(
            "three_steps_against_separate_matrices",
            seq_in,
            seq_out,
            lambda W0, xs: {"ys": srwm_sequence(W0, xs)},
            function=_P + "srwm_sequence",
            note="an independent NumPy loop over the four separate sub-matrices W_y, W_q, W_k, w_b (the "
            "layout of the official PyTorch reference loop in self_ref_v0/__init__.py)",
            atol=1e-12,
        ),
        ReferenceCase(
            "fast_weight_delta_step_by_hand",
            {
                "W_slow": np.array([[0.0, 0.0, 2.0, -2.0, 0.0, 0.0, 0.0], [1.0] * 7]),
                "xs": np.array([[[1.0, 0.0]]]),
            },
            {"ys": np.array([[[0.5, -0.5]]])},
            lambda W_slow, xs: {"ys": fast_weight_programmer(W_slow, xs)},
            function=_P + "fast_weight_programmer",
            note="by hand: k = (0, 0) → φ(k) = (½, ½), v = (2, −2), φ(q) = (½, ½), σ(0) = ½; from an empty "
            "fast matrix W₁ = ½ φ(k)ᵀ v, y = φ(q) W₁ = ½ (φ(q)·φ(k)) v = ¼ (2, −2)",
            atol=1e-12,
            conventions={
                "layout": "W_slow columns k | v | q | β",
                "read": "y_t = φ(q_t) W_t, after the write",
            },
        ),
    ]
