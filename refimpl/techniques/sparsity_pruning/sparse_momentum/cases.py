"""Reference cases of sparse momentum: the redistribution, growth and pruning rules, worked by hand, and
medium-size random growth and pruning cases checked by a plain sort."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from . import prune_smallest, redistribute, regrow_by_momentum


def _flip_by_sort(mask, scores, n, eligible_value, new_value, largest):
    """Set to `new_value` the n entries of `mask` equal to `eligible_value` with the largest (or smallest)
    score, by sorting (score, index) pairs in plain Python (independent of the code under test)."""
    flat = np.asarray(mask, dtype=np.float64).ravel().copy()
    s = np.abs(np.asarray(scores, dtype=np.float64)).ravel()
    pool = sorted(((-s[i] if largest else s[i]), i) for i in range(flat.size) if flat[i] == eligible_value)
    for _, i in pool[:n]:
        flat[i] = new_value
    return flat.reshape(np.shape(mask))


def reference_cases() -> list:
    def alloc(mean_momenta, total, free):
        p = np.asarray(mean_momenta) / np.sum(mean_momenta)
        return {"regrowth": redistribute(p, int(total), np.asarray(free))}

    def grow(mask, momentum, n):
        return {"mask": regrow_by_momentum(np.asarray(mask), np.asarray(momentum), int(n))}

    def prune(w, mask, n):
        return {"mask": prune_smallest(np.asarray(w), np.asarray(mask), int(n))}

    rng = np.random.default_rng(2205)
    rw = rng.normal(0.0, 1.0, size=(8, 16))
    rmask = (rng.uniform(size=(8, 16)) < 0.5).astype(np.float64)  # 60 of 128 active
    rmom = rng.normal(0.0, 0.1, size=(8, 16))
    random_cases = [
        ReferenceCase(
            "random_8x16_prune_20_smallest",
            {"w": rw, "mask": rmask, "n": 20},
            {"mask": _flip_by_sort(rmask, rw, 20, 1.0, 0.0, largest=False)},
            prune,
            function="refimpl.techniques.sparsity_pruning.sparse_momentum.prune_smallest",
            note="plain sort: the 20 active entries (mask = 1) of smallest |w| set to 0 (w ~ N(0, 1), mask "
            "Bernoulli(0.5), seed 2205; no ties, same order in float32)",
            atol=0.0,
            rtol=0.0,
            atol32=0.0,
            rtol32=0.0,
        ),
        ReferenceCase(
            "random_8x16_regrow_20_by_momentum",
            {"mask": rmask, "momentum": rmom, "n": 20},
            {"mask": _flip_by_sort(rmask, rmom, 20, 0.0, 1.0, largest=True)},
            grow,
            function="refimpl.techniques.sparsity_pruning.sparse_momentum.regrow_by_momentum",
            note="plain sort: the 20 zero entries of largest |momentum| set to 1 (momentum ~ N(0, 0.1²), same "
            "mask as the pruning case; no ties, same order in float32)",
            atol=0.0,
            rtol=0.0,
            atol32=0.0,
            rtol32=0.0,
        ),
    ]
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
    ] + random_cases
