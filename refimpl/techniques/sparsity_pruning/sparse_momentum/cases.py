"""Reference cases of sparse momentum: the redistribution, growth and pruning rules, worked by hand."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from . import prune_smallest, redistribute, regrow_by_momentum


def reference_cases() -> list:
    def alloc(mean_momenta, total, free):
        p = np.asarray(mean_momenta) / np.sum(mean_momenta)
        return {"regrowth": redistribute(p, int(total), np.asarray(free))}

    def grow(mask, momentum, n):
        return {"mask": regrow_by_momentum(np.asarray(mask), np.asarray(momentum), int(n))}

    def prune(w, mask, n):
        return {"mask": prune_smallest(np.asarray(w), np.asarray(mask), int(n))}

    return [
        ReferenceCase(
            "redistribution_catalogue",
            {"mean_momenta": [0.3, 0.1], "total": 40, "free": [100, 100]},
            {"regrowth": np.array([30, 10])},
            alloc,
            function="refimpl.techniques.sparsity_pruning.sparse_momentum.redistribute",
            note="by hand: p = [0.75, 0.25] → ⌈0.75·40⌉ = 30, ⌈0.25·40⌉ = 10; caps (99) do not bind",
        ),
        ReferenceCase(
            "redistribution_capped",
            {"mean_momenta": [0.3, 0.1], "total": 40, "free": [20, 100]},
            {"regrowth": np.array([19, 21])},
            alloc,
            function="refimpl.techniques.sparsity_pruning.sparse_momentum.redistribute",
            note="by hand: layer 0 capped at ⌊0.99·20⌋ = 19; the other 21 go to layer 1",
        ),
        ReferenceCase(
            "regrow_largest_momentum",
            {"mask": [1, 0, 0, 0], "momentum": [9.0, 0.5, -0.9, 0.1], "n": 1},
            {"mask": np.array([1, 0, 1, 0])},
            grow,
            function="refimpl.techniques.sparsity_pruning.sparse_momentum.regrow_by_momentum",
            note="by hand: zero entries have momenta [0.5, −0.9, 0.1]; the largest |M| is −0.9",
        ),
        ReferenceCase(
            "prune_smallest_active",
            {"w": [0.0, 0.3, -0.1, 0.7], "mask": [0, 1, 1, 1], "n": 2},
            {"mask": np.array([0, 0, 0, 1])},
            prune,
            function="refimpl.techniques.sparsity_pruning.sparse_momentum.prune_smallest",
            note="by hand: active |w| = 0.3, 0.1, 0.7; remove the two smallest (0.1, 0.3)",
        ),
    ]
