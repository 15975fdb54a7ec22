"""BLAS threading for toy-sized work.

The matrices of the toy experiments are tiny; a multi-threaded BLAS spends more time synchronising its
threads than multiplying (measured on a 2-core machine: one step of a 64-128-128-10 MLP took 19 ms of
CPU with the default threads and 0.3 ms with one).  Demos therefore run with BLAS on one thread.
Results do not depend on it.  The test suite also sets OPENBLAS_NUM_THREADS=1 (tests/conftest.py).
"""

from __future__ import annotations

import contextlib
import functools

__all__ = ["blas_single_thread", "one_blas_thread"]


@contextlib.contextmanager
def blas_single_thread():
    """Context manager: BLAS limited to one thread inside (threadpoolctl; a no-op without it)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl is a declared dependency
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def one_blas_thread(fn):
    """Decorator form of `blas_single_thread` (for `demo` functions)."""

    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        with blas_single_thread():
            return fn(*args, **kwargs)

    return wrapped
