"""Reference cases of global magnitude pruning: the catalogue's hand case, worked by hand, and medium-size
random cases checked by a brute-force sort."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from . import global_magnitude_masks, layerwise_magnitude_masks, official_mt_sparsities


def _brute_force_masks(layers, sparsity, min_keep):
    """Masks by plain sorting (independent of `global_magnitude_masks`): protect each layer's `min_keep`
    largest |w|, then prune the round(s·N) smallest of the rest over all layers."""
    flat = [(abs(float(v)), li, i) for li, w in enumerate(layers) for i, v in enumerate(np.ravel(w))]
    protected = set()
    for li in range(len(layers)):
        mine = sorted((e for e in flat if e[1] == li), reverse=True)
        protected |= {(e[1], e[2]) for e in mine[:min_keep]}
    candidates = sorted(e for e in flat if (e[1], e[2]) not in protected)
    k = int(round(sparsity * len(flat)))
    masks = [np.ones(np.size(w)) for w in layers]
    for _, li, i in candidates[:k]:
        masks[li][i] = 0.0
    return [m.reshape(np.shape(w)) for m, w in zip(masks, layers)]


def reference_cases() -> list:
    def gmp(l1, l2, sparsity, min_keep):
        m = global_magnitude_masks([np.asarray(l1), np.asarray(l2)], float(sparsity), min_keep=int(min_keep))
        return {"mask_l1": m[0], "mask_l2": m[1]}

    def uniform(l1, l2, sparsity):
        m = layerwise_magnitude_masks([np.asarray(l1), np.asarray(l2)], float(sparsity))
        return {"mask_l1": m[0], "mask_l2": m[1]}

    def official(layer_sizes, global_sparsities, min_keep, target):
        return {
            "sparsities": official_mt_sparsities(layer_sizes, global_sparsities, int(min_keep), float(target))
        }

    l1, l2 = [0.1, 0.5, 0.9], [0.2, 0.3]
    rng = np.random.default_rng(2201)
    r1 = rng.normal(0.0, 1.0, size=(8, 16))  # a wide layer
    r2 = rng.normal(0.0, 0.3, size=(48,))  # a small-scale layer, the one global pruning empties first
    random_cases = [
        ReferenceCase(
            f"random_8x16_and_48_global_75pct_mt{mt}",
            {"l1": r1, "l2": r2, "sparsity": 0.75, "min_keep": mt},
            dict(zip(("mask_l1", "mask_l2"), _brute_force_masks([r1, r2], 0.75, mt))),
            gmp,
            function="refimpl.techniques.sparsity_pruning.global_magnitude_pruning.global_magnitude_masks",
            note="brute force: Python sort of all 176 |w|; the min_keep largest of each layer protected, then "
            "the round(0.75·176) = 132 smallest unprotected pruned (random normal weights, seed 2201, "
            "L2 at scale 0.3; no ties, and the order is the same in float32)",
            atol=0.0,
            rtol=0.0,
            atol32=0.0,
            rtol32=0.0,
        )
        for mt in (0, 6)
    ]
    return [
        ReferenceCase(
            "global_60pct_collapses_l2",
            {"l1": l1, "l2": l2, "sparsity": 0.6, "min_keep": 0},
            {"mask_l1": np.array([0.0, 1.0, 1.0]), "mask_l2": np.array([0.0, 0.0])},
            gmp,
            function="refimpl.techniques.sparsity_pruning.global_magnitude_pruning.global_magnitude_masks",
            note="by hand: 3 of 5 pruned; the three smallest |w| are 0.1, 0.2, 0.3 → L2 loses both",
        ),
        ReferenceCase(
            "global_60pct_mt1_keeps_l2",
            {"l1": l1, "l2": l2, "sparsity": 0.6, "min_keep": 1},
            {"mask_l1": np.array([0.0, 0.0, 1.0]), "mask_l2": np.array([0.0, 1.0])},
            gmp,
            function="refimpl.techniques.sparsity_pruning.global_magnitude_pruning.global_magnitude_masks",
            note="by hand: MT=1 protects 0.9 (L1) and 0.3 (L2); the 3 smallest unprotected are 0.1, 0.2, 0.5",
        ),
        ReferenceCase(
            "uniform_40pct",
            {"l1": l1, "l2": l2, "sparsity": 0.4},
            {"mask_l1": np.array([0.0, 1.0, 1.0]), "mask_l2": np.array([0.0, 1.0])},
            uniform,
            function="refimpl.techniques.sparsity_pruning.global_magnitude_pruning.layerwise_magnitude_masks",
            note="by hand: L1 prunes round(0.4·3)=1 (0.1), L2 prunes round(0.4·2)=1 (0.2)",
        ),
        ReferenceCase(
            "official_mt_procedure",
            {"layer_sizes": [3, 2], "global_sparsities": [1 / 3, 1.0], "min_keep": 1, "target": 0.6},
            {"sparsities": np.array([2 / 3, 0.5])},
            official,
            function="refimpl.techniques.sparsity_pruning.global_magnitude_pruning.official_mt_sparsities",
            note="by hand: L2 clamped to 1−1/2; proportional rescaling of L1 converges to (3−1)/3 "
            "so that (3·2/3 + 2·1/2)/5 = 0.6",
            atol=1e-6,
        ),
    ] + random_cases
