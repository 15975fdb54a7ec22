"""Plain-NumPy twins of the hot loops: the readable reference and the fallback backend.

Every function here has exactly the signature of its Numba twin in ``_numba.py`` and returns
bit-identical results for the copy kernels (im2col, max-pool) and the same sums in the same order
for the scatter kernels (col2im, max-pool backward). Loops run over kernel offsets ``(i, j)`` only;
everything inside a loop is one strided NumPy slice over the whole batch.

Layouts (shared with the Numba twins and the public dispatcher in ``refimpl.kernels``)

* ``im2col2d(x)`` with ``x`` of shape ``(N, C, H, W)`` returns ``cols`` of shape
  ``(N, C*kh*kw, OH*OW)``; row ``c*kh*kw + i*kw + j`` holds ``x_pad[n, c, oh*sh + i*dh, ow*sw + j*dw]``
  at column ``oh*OW + ow`` -- the row order of a PyTorch conv weight ``(O, C, kh, kw)`` flattened to
  ``(O, C*kh*kw)``, so a convolution is ``w.reshape(O, -1) @ cols``.
* ``OH = (H + 2*ph - dh*(kh-1) - 1) // sh + 1`` (and likewise ``OW``).
* ``maxpool2d_forward`` returns ``argmax`` as an int64 flat index ``h*W + w`` into the unpadded
  ``H*W`` plane of the input (PyTorch's ``return_indices`` convention), ``-1`` for a window that
  covers padding only.

Only float32 and float64 are computed natively; other dtypes are converted to float64 first.
"""

import numpy as np

__all__ = [
    "im2col2d",
    "col2im2d",
    "im2col1d",
    "col2im1d",
    "maxpool2d_forward",
    "maxpool2d_backward",
]


# ---------------------------------------------------------------------------------------------
# argument handling, shared with _numba.py (kept here so the reference owns the definitions)
# ---------------------------------------------------------------------------------------------
def _pair(v, name):
    """An int or a length-2 sequence of ints -> a tuple of two Python ints."""
    if np.ndim(v) == 0:
        v = (v, v)
    a, b = v
    return _int(a, name), _int(b, name)


def _int(v, name):
    if int(v) != v:
        raise ValueError(f"{name} must be integral, got {v!r}")
    return int(v)


def _as_float(x):
    """float32/float64 pass through; anything else becomes float64 (ints, bools, float16)."""
    x = np.asarray(x)
    if x.dtype != np.float32 and x.dtype != np.float64:
        x = x.astype(np.float64)
    return x


def out_size(size, k, stride, pad, dil):
    """Output length of a sliding window: ``(size + 2*pad - dil*(k-1) - 1) // stride + 1``."""
    return (size + 2 * pad - dil * (k - 1) - 1) // stride + 1


def _conv_args(kh, kw, stride, padding, dilation):
    kh, kw = _int(kh, "kh"), _int(kw, "kw")
    (sh, sw), (ph, pw), (dh, dw) = (
        _pair(stride, "stride"),
        _pair(padding, "padding"),
        _pair(dilation, "dilation"),
    )
    if kh < 1 or kw < 1 or sh < 1 or sw < 1 or dh < 1 or dw < 1:
        raise ValueError("kernel size, stride and dilation must be >= 1")
    if ph < 0 or pw < 0:
        raise ValueError("padding must be >= 0")
    return kh, kw, sh, sw, ph, pw, dh, dw


def _out_hw(H, W, kh, kw, sh, sw, ph, pw, dh, dw):
    OH, OW = out_size(H, kh, sh, ph, dh), out_size(W, kw, sw, pw, dw)
    if OH < 1 or OW < 1:
        raise ValueError(
            f"window (kh={kh}, kw={kw}, dilation=({dh},{dw}), padding=({ph},{pw})) does not fit "
            f"an input of size {H}x{W}: output would be {OH}x{OW}"
        )
    return OH, OW


def _check_4d(x, what="x"):
    if x.ndim != 4:
        raise ValueError(f"{what} must have shape (N, C, H, W), got {x.shape}")


def _check_cols(cols, N, C, kh, kw, OH, OW):
    want = (N, C * kh * kw, OH * OW)
    if cols.shape != want:
        raise ValueError(f"cols has shape {cols.shape}, expected {want}")


def _pool_args(kernel, stride, padding, dilation):
    kh, kw = _pair(kernel, "kernel")
    stride = (kh, kw) if stride is None else stride
    kh, kw, sh, sw, ph, pw, dh, dw = _conv_args(kh, kw, stride, padding, dilation)
    if ph > kh // 2 or pw > kw // 2:  # PyTorch's rule: padding at most half the kernel size
        raise ValueError(f"padding ({ph},{pw}) must be at most half the kernel size ({kh},{kw})")
    return kh, kw, sh, sw, ph, pw, dh, dw


def _window_slice(i, d, s, n):
    """Slice of the padded axis read by kernel offset ``i`` for all ``n`` output positions."""
    start = i * d
    return slice(start, start + s * (n - 1) + 1, s)


# ---------------------------------------------------------------------------------------------
# im2col / col2im
# ---------------------------------------------------------------------------------------------
def im2col2d(x, kh, kw, stride=(1, 1), padding=(0, 0), dilation=(1, 1)):
    """Unfold ``x`` (N, C, H, W) into ``cols`` (N, C*kh*kw, OH*OW); zero padding applied here.

    ``cols[n, (c*kh + i)*kw + j, oh*OW + ow] = x_pad[n, c, oh*sh + i*dh, ow*sw + j*dw]``.
    """
    x = _as_float(x)
    _check_4d(x)
    kh, kw, sh, sw, ph, pw, dh, dw = _conv_args(kh, kw, stride, padding, dilation)
    N, C, H, W = x.shape
    OH, OW = _out_hw(H, W, kh, kw, sh, sw, ph, pw, dh, dw)
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw))) if (ph or pw) else x
    cols = np.empty((N, C, kh, kw, OH, OW), dtype=x.dtype)
    for i in range(kh):
        rows = _window_slice(i, dh, sh, OH)
        for j in range(kw):
            cols[:, :, i, j] = xp[:, :, rows, _window_slice(j, dw, sw, OW)]
    return cols.reshape(N, C * kh * kw, OH * OW)


def col2im2d(cols, x_shape, kh, kw, stride=(1, 1), padding=(0, 0), dilation=(1, 1)):
    """Adjoint of :func:`im2col2d`: scatter-add ``cols`` (N, C*kh*kw, OH*OW) into ``x_shape``.

    ``dx[n, c, h, w] = sum over (i, j, oh, ow) with oh*sh + i*dh - ph = h, ow*sw + j*dw - pw = w``
    of ``cols[n, (c*kh + i)*kw + j, oh*OW + ow]``, summed in (i, j) order; padding is cropped.
    """
    cols = _as_float(cols)
    N, C, H, W = (int(s) for s in x_shape)
    kh, kw, sh, sw, ph, pw, dh, dw = _conv_args(kh, kw, stride, padding, dilation)
    OH, OW = _out_hw(H, W, kh, kw, sh, sw, ph, pw, dh, dw)
    _check_cols(cols, N, C, kh, kw, OH, OW)
    c6 = cols.reshape(N, C, kh, kw, OH, OW)
    dxp = np.zeros((N, C, H + 2 * ph, W + 2 * pw), dtype=cols.dtype)
    for i in range(kh):
        rows = _window_slice(i, dh, sh, OH)
        for j in range(kw):
            # within one offset (i, j) the target positions are distinct, so += is a true scatter
            dxp[:, :, rows, _window_slice(j, dw, sw, OW)] += c6[:, :, i, j]
    return dxp[:, :, ph : ph + H, pw : pw + W].copy() if (ph or pw) else dxp


def im2col1d(x, k, stride=1, padding=0, dilation=1):
    """Unfold ``x`` (N, C, L) into ``cols`` (N, C*k, OL); row ``c*k + i``, column ``ol``."""
    x = _as_float(x)
    if x.ndim != 3:
        raise ValueError(f"x must have shape (N, C, L), got {x.shape}")
    return im2col2d(x[:, :, None, :], 1, k, (1, stride), (0, padding), (1, dilation))


def col2im1d(cols, x_shape, k, stride=1, padding=0, dilation=1):
    """Adjoint of :func:`im2col1d`: scatter-add ``cols`` (N, C*k, OL) into ``x_shape`` (N, C, L)."""
    N, C, L = (int(s) for s in x_shape)
    dx = col2im2d(cols, (N, C, 1, L), 1, k, (1, stride), (0, padding), (1, dilation))
    return dx.reshape(N, C, L)


# ---------------------------------------------------------------------------------------------
# max pooling
# ---------------------------------------------------------------------------------------------
def maxpool2d_forward(x, kernel, stride=None, padding=(0, 0), dilation=(1, 1)):
    """Max-pool ``x`` (N, C, H, W) -> ``(out, argmax)``, both (N, C, OH, OW); PyTorch semantics.

    ``stride=None`` means ``stride = kernel``. Padding is -inf padding (never selected); windows are
    scanned in row-major (i, j) order and a value replaces the running max only if it is strictly
    greater, or NaN -- so on ties the first maximum wins and a NaN propagates, as in PyTorch's CPU
    kernel. ``argmax`` is int64 ``h*W + w`` in the input plane.
    """
    x = _as_float(x)
    _check_4d(x)
    kh, kw, sh, sw, ph, pw, dh, dw = _pool_args(kernel, stride, padding, dilation)
    N, C, H, W = x.shape
    OH, OW = _out_hw(H, W, kh, kw, sh, sw, ph, pw, dh, dw)
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=-np.inf)
    best = np.full((N, C, OH, OW), -np.inf, dtype=x.dtype)
    arg = np.full((N, C, OH, OW), -1, dtype=np.int64)
    oh, ow = np.arange(OH)[:, None], np.arange(OW)[None, :]
    for i in range(kh):
        h = oh * sh + i * dh - ph  # (OH, 1) input row read by offset i
        for j in range(kw):
            w = ow * sw + j * dw - pw  # (1, OW)
            inside = (h >= 0) & (h < H) & (w >= 0) & (w < W)
            v = xp[:, :, _window_slice(i, dh, sh, OH), _window_slice(j, dw, sw, OW)]
            take = (v > best) | np.isnan(v) | ((arg < 0) & inside)  # first valid seeds the max
            np.copyto(best, v, where=take)
            np.copyto(arg, np.broadcast_to(h * W + w, take.shape), where=take)
    return best, arg


def maxpool2d_backward(grad_out, argmax, x_shape):
    """Route ``grad_out`` (N, C, OH, OW) to the argmax positions: ``dx`` of shape ``x_shape``.

    Overlapping windows that chose the same input add up (in output row-major order); ``argmax < 0``
    contributes nothing.
    """
    g = _as_float(grad_out)
    N, C, H, W = (int(s) for s in x_shape)
    argmax = np.asarray(argmax)
    if g.shape != argmax.shape or g.ndim != 4 or g.shape[:2] != (N, C):
        raise ValueError(f"grad_out {g.shape} and argmax {argmax.shape} must be (N={N}, C={C}, OH, OW)")
    a = argmax.reshape(N * C, -1).astype(np.int64, copy=False)
    plane = np.arange(N * C, dtype=np.int64)[:, None] * (H * W)
    keep = a >= 0
    dx = np.zeros(N * C * H * W, dtype=g.dtype)
    np.add.at(dx, (plane + a)[keep], g.reshape(N * C, -1)[keep])
    return dx.reshape(N, C, H, W)
