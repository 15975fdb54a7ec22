"""Reference cases of Head-wise Shareable Attention: the similarity matrix, the greedy pairing, the matching
vector's rows and the PostShare penalty, each on a hand-made example."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from ....nn.layers.attention import MultiHeadAttention
from . import cosine_matrix, earlier_layer_mask, greedy_pairs, matching_vector, share_penalty

_MOD = "refimpl.techniques.lowrank_peft_sharing.headwise_shareable_attention"


def _attn(weight):
    w = np.asarray(weight, dtype=np.float64)
    e = w.shape[1]
    a = MultiHeadAttention(e, 2 if e % 2 == 0 else 1, dtype=np.float64, rng=np.random.default_rng(0))
    a.in_proj_weight.data[...] = w
    return a


def reference_cases() -> list:
    def similarity_and_pairs(vectors, n_layers, n_heads, k):
        S = cosine_matrix(vectors)
        pairs = greedy_pairs(S, earlier_layer_mask(int(n_layers), int(n_heads)), int(k))
        return {"S": S, "pairs": np.array(pairs, dtype=np.int64).reshape(-1, 2)}

    def rows_case(in_proj_weight, h, strategy):
        return {"s": matching_vector(_attn(in_proj_weight), int(h), str(strategy))}

    def penalty_case(w_layer0, w_layer1, pairs):
        attns = [_attn(w_layer0), _attn(w_layer1)]
        return {"R": share_penalty(attns, [tuple(p) for p in np.asarray(pairs)])}

    vec3 = np.array([[1.0, 0.0], [1.0, 1.0], [1.0, 3.0]])
    r2, r5, r10 = np.sqrt(2.0), np.sqrt(5.0), np.sqrt(10.0)
    S3 = np.array([[1.0, 1 / r2, 1 / r10], [1 / r2, 1.0, 2 / r5], [1 / r10, 2 / r5, 1.0]])
    w4 = np.arange(48.0).reshape(12, 4)
    return [
        ReferenceCase(
            "three_heads_similarity_and_greedy_pairing",
            {"vectors": vec3, "n_layers": 3, "n_heads": 1, "k": 2},
            {"S": S3, "pairs": np.array([[2, 1]])},
            similarity_and_pairs,
            function=f"{_MOD}.greedy_pairs",
            note="by hand: heads 0, 1, 2 in layers 0, 1, 2 with s = (1,0), (1,1), (1,3); cos = 1/√2, 1/√10, "
            "2/√5.  Candidates (target, source) with an earlier source, in descending cosine: (2,1) 0.894 "
            "accepted; (1,0) 0.707 rejected (head 1 is now a source); (2,0) 0.316 rejected (head 2 is "
            "replaced) — so k = 2 yields one pair",
            atol=1e-12,
            conventions={
                "candidates": "a head is matched only with heads of earlier layers",
                "conflicts": "a replaced head cannot be a source, a source cannot be replaced",
            },
        ),
        ReferenceCase(
            "matching_vector_rows_qk",
            {"in_proj_weight": w4, "h": 1, "strategy": "qk"},
            {"s": np.concatenate([w4[2:4].ravel(), w4[6:8].ravel()])},
            rows_case,
            function=f"{_MOD}.matching_vector",
            note="by hand: E = 4, H = 2, d_h = 2; head 1's query rows are 2–3 and key rows 4+2–4+3 of the "
            "packed (3E, E) in_proj_weight, flattened row-major and concatenated q then k",
            atol=0,
            conventions={"layout": "PyTorch packed in_proj_weight (3E, E): q rows, then k, then v"},
        ),
        ReferenceCase(
            "postshare_penalty_one_pair",
            {"w_layer0": np.zeros((6, 2)), "w_layer1": np.ones((6, 2)), "pairs": np.array([[2, 1]])},
            {"R": np.array(3 * np.sqrt(2.0))},
            penalty_case,
            function=f"{_MOD}.share_penalty",
            note="by hand: E = 2, H = 2, d_h = 1; pair (layer 1 head 0, layer 0 head 1): each of the q, k, v "
            "differences is a 1×2 row of ones, Frobenius norm √2; the sum over q, k, v is 3√2 (one pair)",
            atol=1e-12,
            conventions={"norm": "Frobenius norm, not squared, summed over q, k, v; mean over pairs"},
        ),
    ]
