"""Reference cases of FinerCut: the Jensen-Shannon divergence and the angular distance by closed form on hand
distributions and vectors, and the greedy search on toy removal costs worked by hand and by brute force."""

from __future__ import annotations

import itertools
import math

import numpy as np

from ....catalog import ReferenceCase
from . import angular_distance, greedy_prune, js_divergence, one_shot_prune

_MOD = "refimpl.techniques.sparsity_pruning.finercut"


def _toy_distance(costs, pairs):
    """d(S) = Σ_{j∈S} costs[j] + Σ penalties of the pairs (i, j) both in S: a toy removal cost."""

    def d(removed):
        extra = sum(v for i, j, v in pairs if int(i) in removed and int(j) in removed)
        return sum(costs[j] for j in removed) + extra

    return d


def reference_cases() -> list:
    def js(logits_p, logits_q):
        return {"js": js_divergence(np.asarray(logits_p), np.asarray(logits_q))}

    def angle(a, b):
        return {"angle": angular_distance(np.asarray(a), np.asarray(b))}

    def greedy(costs, pairs, k):
        d = _toy_distance(list(costs), [tuple(p) for p in pairs])
        order, dists = greedy_prune(d, len(costs), int(k))
        once = one_shot_prune(d, len(costs), int(k))
        return {
            "order": np.array(order, dtype=np.int64),
            "distances": np.array(dists),
            "one_shot": np.array(once, dtype=np.int64),
        }

    def greedy_blocks(costs, k):
        n = len(costs)
        d = _toy_distance(list(costs), [])
        order, dists = greedy_prune(d, n, int(k), groups=[(2 * i, 2 * i + 1) for i in range(n // 2)])
        return {"blocks": np.array(sorted(order), dtype=np.int64), "distance": np.array(dists[-1])}

    # JS of p = (1/2, 1/2) and q = (3/4, 1/4): m = (5/8, 3/8), by the closed form
    kl_pm = 0.5 * math.log(0.5 / 0.625) + 0.5 * math.log(0.5 / 0.375)
    kl_qm = 0.75 * math.log(0.75 / 0.625) + 0.25 * math.log(0.25 / 0.375)
    js_half_quarter = 0.5 * kl_pm + 0.5 * kl_qm

    # the block-level search on additive costs is exact: brute force over all pairs of blocks
    bcosts = [0.30, 0.05, 0.02, 0.40, 0.10, 0.12]
    block_cost = [bcosts[2 * i] + bcosts[2 * i + 1] for i in range(3)]
    best = min(itertools.combinations(range(3), 2), key=lambda c: sum(block_cost[i] for i in c))

    return [
        ReferenceCase(
            "js_divergence_hand",
            {
                "logits_p": [[0.0, 0.0], [0.0, 0.0], [2.0, -1.0]],
                "logits_q": [[math.log(3.0), 0.0], [5.0, 5.0], [2.0, -1.0]],
            },
            {"js": np.array([js_half_quarter, 0.0, 0.0])},
            js,
            function=f"{_MOD}.js_divergence",
            note="closed form: softmax(0, 0) = (1/2, 1/2), softmax(ln 3, 0) = (3/4, 1/4), m = (5/8, 3/8), "
            "JS = ½[½ln(4/5) + ½ln(4/3)] + ½[¾ln(6/5) + ¼ln(2/3)]; logits equal up to a shift, or equal, give 0",
            conventions={"log": "natural log (nats)", "reduction": "per row (last axis), no mean"},
            atol=1e-12,
        ),
        ReferenceCase(
            "angular_distance_hand",
            {
                "a": [[1.0, 0.0], [1.0, 0.0], [2.0, 0.0], [3.0, 4.0]],
                "b": [[1.0, 1.0], [-1.0, 0.0], [3.0, 0.0], [-4.0, 3.0]],
            },
            {"angle": np.array([0.25, 1.0, 0.0, 0.5])},
            angle,
            function=f"{_MOD}.angular_distance",
            note="by hand: 45° = π/4 → 1/4; opposite → 1; parallel → 0; (3, 4) ⟂ (−4, 3) → 1/2",
            conventions={"scale": "arccos(cos)/π, in [0, 1]"},
            atol=1e-12,
        ),
        ReferenceCase(
            "greedy_vs_one_shot_toy",
            {"costs": [0.30, 0.10, 0.20, 0.40], "pairs": [[1, 2, 0.50]], "k": 2},
            {"order": np.array([1, 0]), "distances": np.array([0.10, 0.40]), "one_shot": np.array([1, 2])},
            greedy,
            function=f"{_MOD}.greedy_prune",
            note="by hand, d(S) = Σ costs + 0.5 if both 1 and 2 are removed: step 1 takes 1 (0.10); step 2 "
            "tries {1,0} = 0.40, {1,2} = 0.80, {1,3} = 0.50 and takes 0.  Scored alone, 1 and 2 are the "
            "cheapest, so the one-shot control removes them (jointly 0.80)",
            conventions={
                "reference": "every distance is taken against the original model (the empty set)",
                "ties": "equal distances: the lower candidate index is removed first",
            },
            atol=1e-12,
        ),
        ReferenceCase(
            "block_level_greedy_additive",
            {"costs": bcosts, "k": 2},
            {"blocks": np.array(best), "distance": np.array(sum(block_cost[i] for i in best))},
            greedy_blocks,
            function=f"{_MOD}.greedy_prune",
            note="brute force over the C(3, 2) pairs of blocks (sublayers 2i, 2i+1) with additive costs: blocks "
            "0 (0.30 + 0.05) and 2 (0.10 + 0.12) are the cheapest pair, 0.57 (block 1 costs 0.42); greedy is "
            "exact when costs add",
            conventions={"groups": "block i = sublayers (2i, 2i+1), removed together"},
            atol=1e-12,
        ),
    ]
