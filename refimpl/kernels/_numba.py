"""Numba twins of the hot loops in ``_numpy.py`` (same signatures, same layouts, same results).

Importing this module imports numba, so ``refimpl.kernels`` only imports it on the first kernel call.
Each public function is a thin Python wrapper that validates arguments (with the helpers in
``_numpy.py``), makes the input C-contiguous float32/float64, allocates the output and calls one
module-level ``@njit(cache=True)`` loop (serial, ``fastmath=False``: no closures, no races, and the
scatter kernels add in the same order as their NumPy twins).

Loops run in the memory order of the array they write: im2col writes ``cols`` row by row, col2im
reads ``cols`` row by row, the pooling kernels walk the output plane. Padding is never materialised:
for each kernel offset the range of output positions that read inside the image is computed once,
and the inner loop over that range is branch-free.
"""

import numpy as np
from numba import njit, uintp

from ._numpy import (
    _as_float,
    _check_4d,
    _check_cols,
    _conv_args,
    _out_hw,
    _pool_args,
)

__all__ = [
    "im2col2d",
    "col2im2d",
    "im2col1d",
    "col2im1d",
    "maxpool2d_forward",
    "maxpool2d_backward",
]


@njit(cache=True, fastmath=False)
def _valid_range(start, step, n, size):
    """Half-open range [lo, hi) of t in [0, n) with 0 <= start + t*step < size (step >= 1)."""
    lo = 0 if start >= 0 else (-start + step - 1) // step
    hi = 0 if size - start <= 0 else (size - start + step - 1) // step
    if hi > n:
        hi = n
    if lo > hi:
        lo = hi
    return lo, hi


# The kernels take flat (1-D, C-contiguous) views and index them with unsigned offsets (``_u``).
# Numba wraps negative *signed* indices Python-style, a compare-and-select on every access that
# keeps LLVM from vectorising the inner loops; with unsigned indices it is skipped (4x on im2col).
# Every offset below is non-negative by construction (the valid ranges exclude the padding).
_u = uintp


@njit(cache=True, fastmath=False)
def _im2col2d_loop(x, cols, N, C, H, W, kh, kw, sh, sw, ph, pw, dh, dw, OH, OW):
    L = OH * OW
    for n in range(N):
        for c in range(C):
            plane = (n * C + c) * H * W  # start of x[n, c]
            for i in range(kh):
                for j in range(kw):
                    row = (n * C * kh * kw + (c * kh + i) * kw + j) * L  # start of cols[n, r]
                    w0 = j * dw - pw  # input column read by output column 0
                    lo, hi = _valid_range(w0, sw, OW, W)
                    for oh in range(OH):
                        h = oh * sh + i * dh - ph
                        o = _u(row + oh * OW)
                        if h < 0 or h >= H:  # the whole output row reads padding
                            for t in range(OW):
                                cols[o + _u(t)] = 0.0
                            continue
                        src = _u(plane + h * W + w0 + lo * sw)
                        for t in range(lo):
                            cols[o + _u(t)] = 0.0
                        for t in range(_u(hi - lo)):
                            cols[o + _u(lo) + t] = x[src + t * _u(sw)]
                        for t in range(hi, OW):
                            cols[o + _u(t)] = 0.0


@njit(cache=True, fastmath=False)
def _col2im2d_loop(cols, dx, N, C, H, W, kh, kw, sh, sw, ph, pw, dh, dw, OH, OW):
    L = OH * OW
    for n in range(N):
        for c in range(C):
            plane = (n * C + c) * H * W
            for i in range(kh):
                h_lo, h_hi = _valid_range(i * dh - ph, sh, OH, H)
                for j in range(kw):
                    row = (n * C * kh * kw + (c * kh + i) * kw + j) * L
                    w0 = j * dw - pw
                    lo, hi = _valid_range(w0, sw, OW, W)
                    for oh in range(h_lo, h_hi):
                        h = oh * sh + i * dh - ph
                        o = _u(row + oh * OW + lo)
                        dst = _u(plane + h * W + w0 + lo * sw)
                        for t in range(_u(hi - lo)):
                            dx[dst + t * _u(sw)] += cols[o + t]


@njit(cache=True, fastmath=False)
def _maxpool2d_fwd_loop(x, out, arg, N, C, H, W, kh, kw, sh, sw, ph, pw, dh, dw, OH, OW):
    # the in-image part of each window row/column, computed once rather than per window
    i_lo, i_hi = np.empty(OH, np.int64), np.empty(OH, np.int64)
    j_lo, j_hi = np.empty(OW, np.int64), np.empty(OW, np.int64)
    for oh in range(OH):
        i_lo[oh], i_hi[oh] = _valid_range(oh * sh - ph, dh, kh, H)
    for ow in range(OW):
        j_lo[ow], j_hi[ow] = _valid_range(ow * sw - pw, dw, kw, W)
    q = _u(0)  # flat output index, advanced in memory order
    for p in range(N * C):
        plane = p * H * W
        for oh in range(OH):
            h0 = oh * sh - ph
            for ow in range(OW):
                w0 = ow * sw - pw
                best = -np.inf
                where = -1
                for i in range(i_lo[oh], i_hi[oh]):
                    h = h0 + i * dh
                    for j in range(j_lo[ow], j_hi[ow]):
                        k = h * W + w0 + j * dw
                        v = x[_u(plane + k)]
                        # strict '>' keeps the first max; 'v != v' lets a NaN through (PyTorch)
                        if where < 0 or v > best or v != v:
                            best = v
                            where = k
                out[q] = best
                arg[q] = where
                q += _u(1)


@njit(cache=True, fastmath=False)
def _maxpool2d_bwd_loop(g, arg, dx, NC, K, HW):
    for p in range(NC):
        for k in range(K):
            a = arg[_u(p * K + k)]
            if a >= 0:
                dx[_u(p * HW + a)] += g[_u(p * K + k)]


# ---------------------------------------------------------------------------------------------
# Python wrappers: validation, contiguity, allocation (identical signatures to _numpy.py)
# ---------------------------------------------------------------------------------------------
def im2col2d(x, kh, kw, stride=(1, 1), padding=(0, 0), dilation=(1, 1)):
    """Unfold ``x`` (N, C, H, W) into ``cols`` (N, C*kh*kw, OH*OW); see ``_numpy.im2col2d``."""
    x = np.ascontiguousarray(_as_float(x))
    _check_4d(x)
    kh, kw, sh, sw, ph, pw, dh, dw = _conv_args(kh, kw, stride, padding, dilation)
    N, C, H, W = x.shape
    OH, OW = _out_hw(H, W, kh, kw, sh, sw, ph, pw, dh, dw)
    cols = np.empty((N, C * kh * kw, OH * OW), dtype=x.dtype)
    _im2col2d_loop(x.reshape(-1), cols.reshape(-1), N, C, H, W, kh, kw, sh, sw, ph, pw, dh, dw, OH, OW)
    return cols


def col2im2d(cols, x_shape, kh, kw, stride=(1, 1), padding=(0, 0), dilation=(1, 1)):
    """Adjoint of :func:`im2col2d`: scatter-add ``cols`` into ``x_shape``; see ``_numpy.col2im2d``."""
    cols = np.ascontiguousarray(_as_float(cols))
    N, C, H, W = (int(s) for s in x_shape)
    kh, kw, sh, sw, ph, pw, dh, dw = _conv_args(kh, kw, stride, padding, dilation)
    OH, OW = _out_hw(H, W, kh, kw, sh, sw, ph, pw, dh, dw)
    _check_cols(cols, N, C, kh, kw, OH, OW)
    dx = np.zeros((N, C, H, W), dtype=cols.dtype)
    _col2im2d_loop(cols.reshape(-1), dx.reshape(-1), N, C, H, W, kh, kw, sh, sw, ph, pw, dh, dw, OH, OW)
    return dx


def im2col1d(x, k, stride=1, padding=0, dilation=1):
    """Unfold ``x`` (N, C, L) into ``cols`` (N, C*k, OL); see ``_numpy.im2col1d``."""
    x = _as_float(x)
    if x.ndim != 3:
        raise ValueError(f"x must have shape (N, C, L), got {x.shape}")
    return im2col2d(x[:, :, None, :], 1, k, (1, stride), (0, padding), (1, dilation))


def col2im1d(cols, x_shape, k, stride=1, padding=0, dilation=1):
    """Adjoint of :func:`im2col1d`; see ``_numpy.col2im1d``."""
    N, C, L = (int(s) for s in x_shape)
    dx = col2im2d(cols, (N, C, 1, L), 1, k, (1, stride), (0, padding), (1, dilation))
    return dx.reshape(N, C, L)


def maxpool2d_forward(x, kernel, stride=None, padding=(0, 0), dilation=(1, 1)):
    """Max-pool ``x`` (N, C, H, W) -> ``(out, argmax)``; see ``_numpy.maxpool2d_forward``."""
    x = np.ascontiguousarray(_as_float(x))
    _check_4d(x)
    kh, kw, sh, sw, ph, pw, dh, dw = _pool_args(kernel, stride, padding, dilation)
    N, C, H, W = x.shape
    OH, OW = _out_hw(H, W, kh, kw, sh, sw, ph, pw, dh, dw)
    out = np.empty((N, C, OH, OW), dtype=x.dtype)
    arg = np.empty((N, C, OH, OW), dtype=np.int64)
    _maxpool2d_fwd_loop(
        x.reshape(-1), out.reshape(-1), arg.reshape(-1), N, C, H, W, kh, kw, sh, sw, ph, pw, dh, dw, OH, OW
    )
    return out, arg


def maxpool2d_backward(grad_out, argmax, x_shape):
    """Route ``grad_out`` to the argmax positions; see ``_numpy.maxpool2d_backward``."""
    g = _as_float(grad_out)
    N, C, H, W = (int(s) for s in x_shape)
    argmax = np.asarray(argmax)
    if g.shape != argmax.shape or g.ndim != 4 or g.shape[:2] != (N, C):
        raise ValueError(f"grad_out {g.shape} and argmax {argmax.shape} must be (N={N}, C={C}, OH, OW)")
    g1 = np.ascontiguousarray(g).reshape(-1)
    a1 = np.ascontiguousarray(argmax, dtype=np.int64).reshape(-1)
    if a1.size and a1.max() >= H * W:  # the jitted loop does no bounds checks
        raise ValueError(f"argmax holds an index >= H*W = {H * W}")
    dx = np.zeros(N * C * H * W, dtype=g.dtype)
    _maxpool2d_bwd_loop(g1, a1, dx, N * C, g1.size // max(N * C, 1), H * W)
    return dx.reshape(N, C, H, W)
