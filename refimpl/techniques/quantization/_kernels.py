"""Numba kernels of the quantization family (imported lazily through `quantizers.KERNELS`, a
`refimpl.kernels.NumbaTwin`; this is where numba is imported).  Each kernel has a NumPy twin that is its
test oracle:

    qdq_rows(x, s, z, inv, multiply, qmin, qmax, out)
                                              ↔ quantizers.fake_quant_numpy, one (s, z) per row of a 2-D x;
                                                multiply=False: round(x/s) ("divide"); True: round(x·inv)
                                                with inv = float32(1/s) ("torch" rounding)
    fp_qdq(x, scale, max_value, emin, M, out) ↔ fp_formats.fp_quantize_numpy, a scalar scale (x flat, float64)

Serial loops, `fastmath=False`: the kernels perform the same IEEE operations in the same order and
precision as the twins (division or multiplication, rint, clip, subtract, multiply), so they agree bit
for bit.
"""

import math

import numpy as np
from numba import njit


@njit(cache=True, fastmath=False)
def qdq_rows(x, s, z, inv, multiply, qmin, qmax, out):
    n, m = x.shape
    for i in range(n):
        si = s[i]
        zi = z[i]
        ii = inv[i]
        for j in range(m):
            if multiply:
                c = np.rint(x[i, j] * ii) + zi
            else:
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
