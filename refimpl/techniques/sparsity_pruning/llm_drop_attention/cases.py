"""Reference cases of the similarity-based drop: the score 1 − cos(X, Y) on hand vectors, on random tokens
by explicit sums, and the one-shot and joint selections worked by hand and by brute force."""

from __future__ import annotations

import itertools
import math

import numpy as np

from ....catalog import ReferenceCase
from . import importance, joint_select, select_drop, token_cosine

_MOD = "refimpl.techniques.sparsity_pruning.llm_drop_attention"


def reference_cases() -> list:
    def score(X, Y):
        return {"cos": token_cosine(np.asarray(X), np.asarray(Y)), "S": np.array(importance(X, Y))}

    def select(scores, k):
        return {"dropped": np.array(select_drop(scores, int(k)), dtype=np.int64)}

    def joint(attn, mlp, k):
        a, m = joint_select(attn, mlp, int(k))
        return {"attn": np.array(a, dtype=np.int64), "mlp": np.array(m, dtype=np.int64)}

    # random tokens (2 sequences × 3 positions × 4 features): cosines by explicit sums
    rng = np.random.default_rng(2406)
    rX = rng.normal(size=(2, 3, 4))
    rY = rX + 0.5 * rng.normal(size=(2, 3, 4))  # a residual update: Y = X + small branch
    cos = np.zeros((2, 3))
    for n in range(2):
        for t in range(3):
            dot = sum(rX[n, t, i] * rY[n, t, i] for i in range(4))
            nx = math.sqrt(sum(rX[n, t, i] ** 2 for i in range(4)))
            ny = math.sqrt(sum(rY[n, t, i] ** 2 for i in range(4)))
            cos[n, t] = dot / (nx * ny)

    # brute force of Joint Layer Drop: the k-subset of the 2L modules with the least total score
    ja = np.array([0.30, 0.04, 0.02, 0.11])
    jm = np.array([0.05, 0.20, 0.03, 0.25])
    both = np.concatenate([ja, jm])
    best = min(itertools.combinations(range(8), 3), key=lambda c: sum(both[list(c)]))

    return [
        ReferenceCase(
            "score_hand_vectors",
            {"X": [[1.0, 0.0], [0.0, 1.0], [3.0, 4.0]], "Y": [[1.0, 1.0], [0.0, 2.0], [-3.0, -4.0]]},
            {
                "cos": np.array([1 / math.sqrt(2), 1.0, -1.0]),
                "S": np.array(1 - (1 / math.sqrt(2) + 1.0 - 1.0) / 3),
            },
            score,
            function=f"{_MOD}.importance",
            note="by hand: cos((1,0),(1,1)) = 1/√2; (0,1),(0,2) point the same way (1); (3,4),(−3,−4) are "
            "opposite (−1); S = 1 − mean = 1 − (1/√2)/3",
            conventions={"reduction": "cosine per token (last axis), mean over every token"},
            atol=1e-12,
        ),
        ReferenceCase(
            "score_random_tokens",
            {"X": rX, "Y": rY},
            {"cos": cos, "S": np.array(1 - cos.mean())},
            score,
            function=f"{_MOD}.importance",
            note="explicit sums: cos = Σ x_i y_i / (√Σx_i² √Σy_i²) per (sequence, position), S = 1 − mean over "
            "the 6 tokens; X ~ N(0, 1), Y = X + 0.5·N(0, 1) (seed 2406)",
            conventions={"reduction": "cosine per token (last axis), mean over every token"},
            atol=1e-12,
            rtol=1e-12,
            atol32=1e-6,
            rtol32=1e-6,
        ),
        ReferenceCase(
            "one_shot_selection",
            {"scores": [0.30, 0.10, 0.20, 0.10, 0.05], "k": 3},
            {"dropped": np.array([1, 3, 4])},
            select,
            function=f"{_MOD}.select_drop",
            note="by hand: the three lowest scores are 0.05 (4) and the tie 0.10 (1, 3); returned sorted",
            conventions={"ties": "equal scores: the lower index is dropped first"},
        ),
        ReferenceCase(
            "joint_layer_drop",
            {"attn": ja, "mlp": jm, "k": 3},
            {
                "attn": np.array([i for i in best if i < 4]),
                "mlp": np.array([i - 4 for i in best if i >= 4]),
            },
            joint,
            function=f"{_MOD}.joint_select",
            note="brute force over all C(8, 3) subsets of the 4 attention + 4 MLP scores: the least total "
            "score is attention 1, 2 (0.04, 0.02) and MLP 2 (0.03)",
            conventions={"ranking": "attention and MLP scores ranked together; ties to attention"},
        ),
    ]
