"""Numba kernels of the sparsity-pruning family (imported lazily by `_select.py`; this is where numba
is imported).  Each kernel has a plain-NumPy twin in `_select.py` that is its test oracle.

`bottom_k_mask_loop(scores, k, out)`: mark in `out` (uint8, same length as `scores`) the k entries
that are smallest in the total order (score, index) — i.e. the k smallest scores, ties broken towards
the lower index, exactly as a stable ascending argsort's first k.  Quickselect (Hoare, 1961) on an index
array with a median-of-three pivot, average O(n); the comparison is lexicographic on (score, index), so
all keys are distinct and the selected set is unique.  NaN scores are rejected by the caller.
"""

import numpy as np
from numba import njit


@njit(cache=True, fastmath=False)
def _less(scores, a, b):
    """(scores[a], a) < (scores[b], b) lexicographically."""
    sa = scores[a]
    sb = scores[b]
    if sa < sb:
        return True
    if sa > sb:
        return False
    return a < b


@njit(cache=True, fastmath=False)
def bottom_k_mask_loop(scores, k, out):
    n = scores.shape[0]
    for i in range(n):
        out[i] = 0
    if k <= 0:
        return
    if k >= n:
        for i in range(n):
            out[i] = 1
        return
    idx = np.arange(n)
    lo = 0
    hi = n - 1
    target = k - 1  # after selection idx[:k] holds the k smallest keys (in any order)
    while lo < hi:
        mid = (lo + hi) // 2
        # median of three -> idx[hi] holds the pivot
        if _less(scores, idx[mid], idx[lo]):
            idx[mid], idx[lo] = idx[lo], idx[mid]
        if _less(scores, idx[hi], idx[lo]):
            idx[hi], idx[lo] = idx[lo], idx[hi]
        if _less(scores, idx[mid], idx[hi]):
            idx[mid], idx[hi] = idx[hi], idx[mid]
        pivot = idx[hi]
        store = lo
        for i in range(lo, hi):  # Lomuto partition; keys are distinct so it terminates
            if _less(scores, idx[i], pivot):
                idx[i], idx[store] = idx[store], idx[i]
                store += 1
        idx[store], idx[hi] = idx[hi], idx[store]
        if store == target:
            break
        if store < target:
            lo = store + 1
        else:
            hi = store - 1
    for i in range(k):
        out[idx[i]] = 1
