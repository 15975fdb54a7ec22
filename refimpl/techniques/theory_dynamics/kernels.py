r"""The arc-cosine kernels (Cho & Saul 2009), shared by the family: for w ~ N(0, I) and ϑ the angle between
x and z,

.. math::

    \mathbb E\,\big[\mathbb 1[w^\top x > 0]\,\mathbb 1[w^\top z > 0]\big] = \frac{\pi - \vartheta}{2\pi},\qquad
    \mathbb E\,\big[\mathrm{relu}(w^\top x)\,\mathrm{relu}(w^\top z)\big]
        = \lVert x\rVert\lVert z\rVert\,\frac{\sin\vartheta + (\pi - \vartheta)\cos\vartheta}{2\pi}.

The second is the NNGP kernel of a one-hidden-layer ReLU network; with the first it makes its NTK.
"""

from __future__ import annotations

import numpy as np

__all__ = ["arc_cosine"]


def arc_cosine(X, Z=None) -> tuple:
    """(k0, k1) for all pairs of rows of X and Z (Z = X if omitted): the step-function and the ReLU
    arc-cosine kernels above.  Rows must be nonzero (the angle is undefined at 0)."""
    X = np.asarray(X, dtype=np.float64)
    Z = X if Z is None else np.asarray(Z, dtype=np.float64)
    nx, nz = np.linalg.norm(X, axis=1), np.linalg.norm(Z, axis=1)
    if np.any(nx == 0) or np.any(nz == 0):
        raise ValueError("arc-cosine kernels: inputs must be nonzero (the angle is undefined at 0)")
    norms = np.outer(nx, nz)
    cos = np.clip((X @ Z.T) / norms, -1.0, 1.0)
    th = np.arccos(cos)
    return (np.pi - th) / (2 * np.pi), norms * (np.sin(th) + (np.pi - th) * cos) / (2 * np.pi)
