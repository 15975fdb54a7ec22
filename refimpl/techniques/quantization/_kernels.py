"""Numba kernels of the quantization family (imported lazily by `_base.py`; this is where numba is
imported).  Each kernel has a NumPy twin in `_base.py` that is its test oracle:

    qdq_rows(x, s, z, qmin, qmax, out)       ↔ fake_quant_numpy with one (s, z) per row of a 2-D x
    fp_qdq(x, scale, max_value, emin, M, out) ↔ fp_quantize_numpy with a scalar scale (x flat, float64)
    mse_clip_rows(x, bits, symmetric, ratios, best_r, best_e) ↔ mse_clip_search_numpy

Serial loops, `fastmath=False`: the element-wise kernels perform the same IEEE operations in the same
order as the twins (division, rint, clip, subtract, multiply), so they agree bit for bit; the MSE search
sums errors in a different order, so its errors agree to rounding and its chosen ratios agree except at
exact ties.
"""

import math

import numpy as np
from numba import njit


@njit(cache=True, fastmath=False)
def qdq_rows(x, s, z, qmin, qmax, out):
    n, m = x.shape
    for i in range(n):
        si = s[i]
        zi = z[i]
        for j in range(m):
            c = np.rint(x[i, j] / si) + zi
            if c < qmin:
                c = qmin
            elif c > qmax:
                c = qmax
            out[i, j] = (c - zi) * si


@njit(cache=True, fastmath=False)
def fp_qdq(x, scale, max_value, emin, man_bits, out):
    for i in range(x.shape[0]):
        y = x[i] / scale
        a = abs(y)
        if a > max_value:
            a = max_value
        f, ex = math.frexp(a)
        e = ex - 1
        if e < emin:
            e = emin
        step = math.ldexp(1.0, e - man_bits)
        q = np.rint(a / step) * step
        if q > max_value:
            q = max_value
        if math.copysign(1.0, y) < 0:
            q = -q
        out[i] = q * scale


@njit(cache=True, fastmath=False)
def _row_error(x, i, lo, hi, bits, symmetric):
    """Squared error of quantizing row i with min–max range [lo, hi] (lo ≤ 0 ≤ hi)."""
    if symmetric:
        qmin = -(2.0 ** (bits - 1))
        qmax = 2.0 ** (bits - 1) - 1.0
        amax = max(abs(lo), abs(hi))
        s = amax / qmax if amax > 0 else 1.0
        z = 0.0
    else:
        qmin = 0.0
        qmax = 2.0**bits - 1.0
        r = hi - lo
        s = r / qmax if r > 0 else 1.0
        z = np.rint(-lo / s)
        if z < qmin:
            z = qmin
        elif z > qmax:
            z = qmax
    err = 0.0
    for j in range(x.shape[1]):
        c = np.rint(x[i, j] / s) + z
        if c < qmin:
            c = qmin
        elif c > qmax:
            c = qmax
        d = x[i, j] - (c - z) * s
        err += d * d
    return err


@njit(cache=True, fastmath=False)
def mse_clip_rows(x, bits, symmetric, ratios, best_r, best_e):
    n, m = x.shape
    for i in range(n):
        lo = 0.0
        hi = 0.0
        for j in range(m):
            if x[i, j] < lo:
                lo = x[i, j]
            if x[i, j] > hi:
                hi = x[i, j]
        best_r[i] = 1.0
        best_e[i] = np.inf
        for k in range(ratios.shape[0]):
            r = ratios[k]
            e = _row_error(x, i, lo * r, hi * r, bits, symmetric)
            if e < best_e[i]:
                best_e[i] = e
                best_r[i] = r
