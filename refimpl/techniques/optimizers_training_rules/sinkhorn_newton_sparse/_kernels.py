"""Numba kernels of sinkhorn-newton-sparse (imported lazily through the package's `KERNELS`, a
`refimpl.kernels.NumbaTwin`; this is where numba is imported).  Each has a NumPy twin in `__init__.py` that
is its test oracle:

    scale_rows(C, eta, y, log_r, out)              ↔ _scale_rows_numpy: the log-domain half Sinkhorn step
                                                     x_i = (log r_i + 1 − LSE_j η(y_j − C_ij)) / η
    sparse_hvp(rows, cols, vals, u, v, pu, pv)     ↔ _sparse_hvp_numpy: pu = P̃ v, pv = P̃ᵀ u for the kept
                                                     entries (rows, cols, vals) of the plan

Serial loops, `fastmath=False`.  The twins sum in a different order (NumPy's pairwise sums, bincount), so the
two agree to rounding (a test bounds the difference), not bit for bit.
"""

import math

import numpy as np
from numba import njit


@njit(cache=True, fastmath=False)
def scale_rows(C, eta, y, log_r, out):
    n, m = C.shape
    for i in range(n):
        mx = -np.inf
        for j in range(m):
            a = eta * (y[j] - C[i, j])
            if a > mx:
                mx = a
        s = 0.0
        for j in range(m):
            s += math.exp(eta * (y[j] - C[i, j]) - mx)
        out[i] = (log_r[i] + 1.0 - (mx + math.log(s))) / eta


@njit(cache=True, fastmath=False)
def sparse_hvp(rows, cols, vals, u, v, pu, pv):
    pu[:] = 0.0
    pv[:] = 0.0
    for k in range(vals.shape[0]):
        i = rows[k]
        j = cols[k]
        pu[i] += vals[k] * v[j]
        pv[j] += vals[k] * u[i]
