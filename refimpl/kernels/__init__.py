"""Hot loops for convolution and pooling: a Numba kernel beside a plain-NumPy twin for each.

``refimpl.kernels.im2col2d`` and friends dispatch lazily. Importing this package imports NumPy
only; the first kernel call picks the backend once and for all:

* ``REFIMPL_DISABLE_NUMBA=1`` in the environment (any value but ``""``/``0``/``false``/``no``)
  -> the NumPy twins in :mod:`refimpl.kernels._numpy`;
* otherwise :mod:`refimpl.kernels._numba` (this is where ``import numba`` happens); if numba is not
  importable, the NumPy twins with one ``UserWarning``.

:func:`backend` reports the choice (``"numba"`` or ``"numpy"``), :func:`set_backend` overrides it
(benchmarks, tests). Both twins can always be called directly, e.g.
``refimpl.kernels._numpy.im2col2d`` and ``refimpl.kernels._numba.im2col2d``.

API (identical in both backends; the layouts are documented in ``_numpy.py``)::

    im2col2d(x, kh, kw, stride=(1, 1), padding=(0, 0), dilation=(1, 1))
        x (N, C, H, W) -> cols (N, C*kh*kw, OH*OW), row c*kh*kw + i*kw + j, column oh*OW + ow
    col2im2d(cols, x_shape, kh, kw, stride=(1, 1), padding=(0, 0), dilation=(1, 1))
        adjoint of im2col2d -> dx of shape x_shape (overlaps summed, padding cropped)
    im2col1d(x, k, stride=1, padding=0, dilation=1)      x (N, C, L) -> cols (N, C*k, OL)
    col2im1d(cols, x_shape, k, stride=1, padding=0, dilation=1)   -> dx (N, C, L)
    maxpool2d_forward(x, kernel, stride=None, padding=(0, 0), dilation=(1, 1))
        -> (out, argmax), both (N, C, OH, OW); argmax int64 = h*W + w in the input plane
    maxpool2d_backward(grad_out, argmax, x_shape) -> dx of shape x_shape

``OH = (H + 2*ph - dh*(kh-1) - 1) // sh + 1``. Scalars are accepted wherever a pair is. Outputs keep
the input dtype for float32/float64 (other dtypes are computed in float64); inputs need not be
contiguous. Average pooling is ``im2col2d`` followed by a mean over the ``kh*kw`` rows of each
channel (``cols.reshape(N, C, kh*kw, -1).mean(2)``), so it has no kernel of its own.
"""

import os
import warnings

__all__ = [
    "im2col2d",
    "col2im2d",
    "im2col1d",
    "col2im1d",
    "maxpool2d_forward",
    "maxpool2d_backward",
    "backend",
    "set_backend",
    "numba_disabled",
    "NumbaTwin",
]

ENV_DISABLE = "REFIMPL_DISABLE_NUMBA"
_impl = None  # the chosen backend module, resolved on first use


def numba_disabled() -> bool:
    """True when REFIMPL_DISABLE_NUMBA asks for the NumPy twins (every kernel dispatcher in the
    library, including those of technique families, consults this)."""
    return os.environ.get(ENV_DISABLE, "").strip().lower() not in ("", "0", "false", "no")


_numba_disabled = numba_disabled


class NumbaTwin:
    """The one dispatch helper for the Numba kernels of technique families.

    ``KERNELS = NumbaTwin("refimpl.techniques.quantization._kernels")`` at module level; ``KERNELS.get()``
    returns that module (imported on first use, so ``import refimpl`` never imports numba) or ``None``
    when REFIMPL_DISABLE_NUMBA is set or numba cannot be imported, in which case the caller runs its
    plain-NumPy twin.  ``KERNELS.backend(name)`` reports or forces ``"numba"``/``"numpy"`` (``"auto"``
    re-resolves), for tests and benchmarks.
    """

    def __init__(self, module: str):
        self.module = module
        self._mod = None  # None: not resolved yet; False: the NumPy twins

    def get(self):
        if self._mod is None:
            self._mod = False
            if not numba_disabled():
                import importlib

                try:
                    self._mod = importlib.import_module(self.module)
                except ImportError:  # numba missing: the twins give identical results
                    self._mod = False
        return self._mod or None

    def backend(self, name: str | None = None) -> str:
        if name == "numpy":
            self._mod = False
        elif name == "numba":
            import importlib

            self._mod = importlib.import_module(self.module)
        elif name == "auto":
            self._mod = None
        elif name is not None:
            raise ValueError(f"backend: `name` must be 'numba', 'numpy', 'auto' or None, got {name!r}")
        return "numba" if self.get() is not None else "numpy"


def _resolve():
    global _impl
    if _impl is None:
        if _numba_disabled():
            from . import _numpy as mod
        else:
            try:
                from . import _numba as mod
            except ImportError as err:  # numba (or llvmlite) missing or broken
                warnings.warn(
                    f"refimpl.kernels: numba unavailable ({err}); using the NumPy twins",
                    UserWarning,  # not RuntimeWarning: the test suite turns refimpl's into errors
                    stacklevel=3,
                )
                from . import _numpy as mod
        _impl = mod
    return _impl


def backend():
    """``"numba"`` or ``"numpy"``: the backend the public kernels use (resolving it if needed)."""
    return _resolve().__name__.rsplit(".", 1)[-1].lstrip("_")


def set_backend(name):
    """Force ``"numba"`` or ``"numpy"``; ``None`` re-runs the automatic choice on the next call.

    Asking for ``"numba"`` when it is not importable raises ``ImportError``.
    """
    global _impl
    if name is None:
        _impl = None
    elif name == "numpy":
        from . import _numpy as mod

        _impl = mod
    elif name == "numba":
        from . import _numba as mod

        _impl = mod
    else:
        raise ValueError(f"backend must be 'numba', 'numpy' or None, got {name!r}")


def im2col2d(x, kh, kw, stride=(1, 1), padding=(0, 0), dilation=(1, 1)):
    """x (N, C, H, W) -> cols (N, C*kh*kw, OH*OW); row ``c*kh*kw + i*kw + j``, column ``oh*OW + ow``."""
    return _resolve().im2col2d(x, kh, kw, stride, padding, dilation)


def col2im2d(cols, x_shape, kh, kw, stride=(1, 1), padding=(0, 0), dilation=(1, 1)):
    """Adjoint of :func:`im2col2d`: cols (N, C*kh*kw, OH*OW) -> dx of shape ``x_shape``."""
    return _resolve().col2im2d(cols, x_shape, kh, kw, stride, padding, dilation)


def im2col1d(x, k, stride=1, padding=0, dilation=1):
    """x (N, C, L) -> cols (N, C*k, OL); row ``c*k + i``."""
    return _resolve().im2col1d(x, k, stride, padding, dilation)


def col2im1d(cols, x_shape, k, stride=1, padding=0, dilation=1):
    """Adjoint of :func:`im2col1d`: cols (N, C*k, OL) -> dx (N, C, L)."""
    return _resolve().col2im1d(cols, x_shape, k, stride, padding, dilation)


def maxpool2d_forward(x, kernel, stride=None, padding=(0, 0), dilation=(1, 1)):
    """x (N, C, H, W) -> (out, argmax), both (N, C, OH, OW); PyTorch semantics, argmax = h*W + w."""
    return _resolve().maxpool2d_forward(x, kernel, stride, padding, dilation)


def maxpool2d_backward(grad_out, argmax, x_shape):
    """Scatter grad_out (N, C, OH, OW) to the argmax positions -> dx of shape ``x_shape``."""
    return _resolve().maxpool2d_backward(grad_out, argmax, x_shape)
