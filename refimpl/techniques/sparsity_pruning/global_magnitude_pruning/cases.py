"""Reference cases of global magnitude pruning: the catalogue's hand case, worked by hand."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from . import global_magnitude_masks, layerwise_magnitude_masks, official_mt_sparsities


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
    ]
