"""Reference cases of PST: the score decomposition and the top-v mask by hand, the straight-through score
gradients in closed form, and a random top-v case by a brute-force Python sort."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from . import PSTWeight, pst_score, topv_mask

FN = "refimpl.techniques.sparsity_pruning.pst_param_efficient_sparsity"


def _brute_topv(scores, sparsity):
    flat = [(float(v), i) for i, v in enumerate(np.ravel(scores))]
    k = int(round(sparsity * len(flat)))
    mask = np.ones(len(flat))
    for _, i in sorted(flat)[:k]:
        mask[i] = 0.0
    return mask.reshape(np.shape(scores))


def _score_grads(w, a, b, r, c, u, v, g, sparsity):
    """Loss L = Σ G ⊙ W' through a float64 PSTWeight; returns the mask and the gradients of A, B, R, C."""
    from ....autograd.tensor import Tensor

    w, g = np.asarray(w, dtype=np.float64), np.asarray(g, dtype=np.float64)
    t = PSTWeight(
        w.shape, "lora", "pst", True, rank_w=np.shape(u)[1], rank_s=np.shape(a)[1], dtype=np.float64
    )
    for name, val in zip("ABRCUV", (a, b, r, c, u, v)):
        getattr(t, name).data = np.asarray(val, dtype=np.float64).reshape(getattr(t, name).data.shape)
    t.sparsity = float(sparsity)
    out = t(Tensor(w))
    (out * Tensor(g)).sum().backward()
    return {"mask": t.mask, "grad_A": t.A.grad, "grad_B": t.B.grad, "grad_R": t.R.grad, "grad_C": t.C.grad}


def reference_cases() -> list:
    def score(w, a, b, r, c, data_free):
        return {"S": pst_score(w, a, b, r, c, bool(data_free))}

    def topv(scores, sparsity):
        return {"mask": topv_mask(np.asarray(scores), float(sparsity))}

    w = [[1.0, -2.0], [0.0, 3.0]]
    a, b, r, c = [[1.0], [0.0]], [[0.5, -1.0]], [0.1, 0.2], [0.0, -0.5]
    # gradient case: W̃ = W + U V with U = [[1],[1]], V = [[0.5, 0]] → W̃ = [[1.5, -2], [0.5, 3]];
    # S = |W̃| + AB + R + C = [[1.5+0.5+0.1, 2−1+0.1−0.5], [0.5+0.2, 3+0.2−0.5]] = [[2.1, 0.6], [0.7, 2.7]]
    # 50 % sparsity prunes 0.6 and 0.7 → M = [[1, 0], [0, 1]].  With G = [[1, 2], [3, 4]] the
    # straight-through gradient of the score is D = G ⊙ W̃ = [[1.5, −4], [1.5, 12]];
    # ∂L/∂R = row sums [−2.5, 13.5]; ∂L/∂C = column sums [3, 8]; ∂L/∂A = D Bᵀ = [[0.75+4], [0.75−12]];
    # ∂L/∂B = Aᵀ D = [[1.5, −4]].
    u, v, g = [[1.0], [1.0]], [[0.5, 0.0]], [[1.0, 2.0], [3.0, 4.0]]
    rng = np.random.default_rng(2205)
    rs = rng.normal(size=(6, 7))
    return [
        ReferenceCase(
            "score_decomposition_by_hand",
            {"w": w, "a": a, "b": b, "r": r, "c": c, "data_free": 1},
            {"S": np.array([[1.6, 0.6], [0.2, 2.7]])},
            score,
            function=f"{FN}.pst_score",
            note="by hand: |W| = [[1,2],[0,3]], AB = [[0.5,−1],[0,0]], + R rows (0.1, 0.2), + C columns (0, −0.5)",
            atol=1e-6,
        ),
        ReferenceCase(
            "score_without_data_free_term",
            {"w": w, "a": a, "b": b, "r": r, "c": c, "data_free": 0},
            {"S": np.array([[0.6, -1.4], [0.2, -0.3]])},
            score,
            function=f"{FN}.pst_score",
            note="by hand: AB + R + C alone (the ablation's score)",
            atol=1e-6,
        ),
        ReferenceCase(
            "topv_half_by_hand",
            {"scores": [[0.3, -1.0, 2.0], [0.5, 0.1, 4.0]], "sparsity": 0.5},
            {"mask": np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 1.0]])},
            topv,
            function=f"{FN}.topv_mask",
            note="by hand: 3 of 6 pruned, the smallest scores −1, 0.1, 0.3; mask count v = 3",
            atol=0.0,
        ),
        ReferenceCase(
            "topv_random_6x7_70pct",
            {"scores": rs, "sparsity": 0.7},
            {"mask": _brute_topv(rs, 0.7)},
            topv,
            function=f"{FN}.topv_mask",
            note="brute force: Python sort of 42 normal scores (seed 2205); round(0.7·42) = 29 smallest pruned",
            atol=0.0,
        ),
        ReferenceCase(
            "straight_through_score_gradients",
            {"w": w, "a": a, "b": b, "r": r, "c": c, "u": u, "v": v, "g": g, "sparsity": 0.5},
            {
                "mask": np.array([[1.0, 0.0], [0.0, 1.0]]),
                "grad_A": np.array([[4.75], [-11.25]]),
                "grad_B": np.array([[1.5, -4.0]]),
                "grad_R": np.array([[-2.5], [13.5]]),
                "grad_C": np.array([[3.0, 8.0]]),
            },
            _score_grads,
            function=f"{FN}.PSTWeight",
            note="closed form (see the comment in cases.py): ∂L/∂S = G ⊙ (W + UV) passed straight through "
            "Top_v, then chained through AB + R + C",
            atol=1e-9,
        ),
    ]
