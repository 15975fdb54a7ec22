r"""Dilated Convolution with Learnable Spacings (DCLS): a few kernel elements, each with a weight and a
learnable real-valued position; the dense kernel is built from them by interpolation so positions get
gradients.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.

The method
----------
**Elements.**  A DCLS kernel of size S has M ≪ S elements, element m a weight :math:`w_m` and a real position
:math:`p_m\in[0, S-1)`.  A classic dilated kernel is the special case of fixed, evenly spaced integer positions.

**Interpolation (1-D linear).**  With :math:`\lfloor p_m\rfloor` the integer part and
:math:`f_m = p_m-\lfloor p_m\rfloor` the fractional part, the dense kernel is

.. math::  K[i] = \sum_m w_m\bigl[(1-f_m)\,\delta_{i,\lfloor p_m\rfloor} + f_m\,\delta_{i,\lfloor p_m\rfloor+1}\bigr],

so (away from integer positions) :math:`\partial K/\partial w_m` is the two interpolation weights and
:math:`\partial K/\partial p_m = w_m(\delta_{i,\lfloor p_m\rfloor+1}-\delta_{i,\lfloor p_m\rfloor})`.  The 2-D
version is bilinear (four corners, products of the 1-D weights); later versions of the method replace the
triangle by a Gaussian of learnable width.  Here only the 1-D linear kernel is built.

**Convolution.**  The kernel is then used as an ordinary (here causal) convolution,
:math:`y_t=\sum_{i} K[i]\,x_{t-i}`, implemented as a product of a constant lag matrix with K.

Everything is composed from refimpl autograd primitives: the integer parts and the one-hot matrices are
constants (computed from ``p.data``), the fractional part is the Tensor ``p - floor(p)``, so no custom
backward is needed.

What is read and what is ours
-----------------------------
``verified = "reconstructed"``: within this session's time box the paper's full text and the official code
(K-H-Ismail/Dilated-Convolution-with-Learnable-Spacings-PyTorch) were *not* read; the interpolation rule is the
one stated in the catalogue row (1-D linear: K[⌊p⌋] += w(1−f), K[⌊p⌋+1] += w·f; 2-D bilinear; later Gaussian)
and equations are cited by description, not by number.  Assumed by us: positions are clipped to
[0, S−1−10⁻⁹] after each step (so both interpolation taps stay inside the kernel); elements at the same cell
add; a 1-D causal convolution on a scalar signal (no channels, no bias), positions initialised on the
fixed-dilation grid.

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/architectures/dcls.ipynb
"""

from __future__ import annotations

import numpy as np

from .... import nn
from ....autograd.tensor import Tensor

CATALOG_ENTRY = {
    "slug": "dcls",
    "title": "Dilated convolution with learnable spacings",
    "authors": "Ismail Khalfaoui-Hassani, Thomas Pellegrini, Timothée Masquelier",
    "year": 2021,
    "arxiv": "2112.03740",
    "family": "architectures",
    "notebook": "notebooks/architectures/dcls.ipynb",
    "verified": "reconstructed",
    "verification_note": (
        "Reconstructed from the catalogue description (1-D linear interpolation K[⌊p⌋] += w(1−f), "
        "K[⌊p⌋+1] += w·f; bilinear in 2-D; Gaussian in later versions); the paper text and the official code "
        "(K-H-Ismail/Dilated-Convolution-with-Learnable-Spacings-PyTorch) were not read in this session, so no "
        "equation numbers are cited.  Ours: positions clipped to [0, S−1), 1-D causal scalar convolution, "
        "positions initialised on the fixed-dilation grid."
    ),
    "summary": (
        "Each kernel element has a weight w_m and a learnable real position p_m; the dense kernel of size S is "
        "built by linear interpolation between ⌊p_m⌋ and ⌊p_m⌋+1, so gradients reach the positions and the "
        "receptive field grows at a fixed parameter count.  Compared on a sparse far-lag regression with a "
        "dense kernel of size 32 and with the same elements at fixed dilated positions."
    ),
    "equations": [
        "f_m = p_m − ⌊p_m⌋",
        "K[i] = Σ_m w_m [ (1 − f_m) δ(i, ⌊p_m⌋) + f_m δ(i, ⌊p_m⌋ + 1) ]",
        "∂K/∂p_m = w_m [ δ(i, ⌊p_m⌋ + 1) − δ(i, ⌊p_m⌋) ]",
        "y_t = Σ_i K[i] x_{t−i}",
    ],
}


def _check_positions(p, size, fn):
    p = np.asarray(p, dtype=np.float64)
    if p.ndim != 1 or p.size == 0:
        raise ValueError(f"{fn}: `p` must be a non-empty 1-D array of positions, got shape {p.shape}")
    if not np.all(np.isfinite(p)) or p.min() < 0 or p.max() >= size - 1:
        raise ValueError(f"{fn}: `p` must lie in [0, size − 1) = [0, {size - 1}), got {p.tolist()}")
    return p


def _check_size(size, fn):
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 2:
        raise ValueError(f"{fn}: `size` must be an integer ≥ 2, got {size!r}")
    return int(size)


def dcls_kernel(w, p, size: int):
    """The dense kernel K (size,) from weights w (M,) and real positions p (M,) by 1-D linear interpolation.

    Tensors in, Tensor out (gradients reach w and p); arrays are wrapped as constants."""
    size = _check_size(size, "dcls_kernel")
    w = w if isinstance(w, Tensor) else Tensor(np.asarray(w, dtype=np.float64))
    p = p if isinstance(p, Tensor) else Tensor(np.asarray(p, dtype=np.float64))
    pd = _check_positions(p.data, size, "dcls_kernel")
    if w.shape != p.shape:
        raise ValueError(f"dcls_kernel: `w` and `p` must have the same shape, got {w.shape} and {p.shape}")
    lo = np.floor(pd).astype(np.int64)
    dt = p.data.dtype
    E0 = np.eye(size, dtype=dt)[lo]  # (M, S): one-hot of ⌊p_m⌋ (a constant)
    E1 = np.eye(size, dtype=dt)[lo + 1]  # one-hot of ⌊p_m⌋ + 1
    f = p - Tensor(lo.astype(dt))  # fractional part; ∂f/∂p = 1
    return (w * (1.0 - f)) @ Tensor(E0) + (w * f) @ Tensor(E1)


def lag_matrix(x, size: int) -> np.ndarray:
    """X (B, T − size + 1, size) with X[b, t, i] = x[b, t + size − 1 − i]: row t holds the lags 0..size−1 of the
    output position t + size − 1 (only positions with a full history are kept)."""
    size = _check_size(size, "lag_matrix")
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[1] < size:
        raise ValueError(f"lag_matrix: `x` must be (B, T) with T ≥ size = {size}, got shape {x.shape}")
    T = x.shape[1]
    idx = np.arange(size - 1, T)[:, None] - np.arange(size)[None, :]
    return x[:, idx]


def causal_conv_direct(x, k) -> np.ndarray:
    """The oracle: y[b, t] = Σ_i k[i] x[b, t − i] for t ≥ len(k) − 1 (plain loops)."""
    x, k = np.asarray(x, np.float64), np.asarray(k, np.float64)
    S, T = k.size, x.shape[1]
    y = np.zeros((x.shape[0], T - S + 1))
    for t in range(S - 1, T):
        for i in range(S):
            y[:, t - S + 1] += k[i] * x[:, t - i]
    return y


class DCLSConv1d(nn.Module):
    """A causal scalar 1-D convolution with kernel size `size` and `elements` kernel elements.

    ``mode``: ``"dcls"`` — weights and positions learned (the paper's layer); ``"fixed"`` — the same elements
    at frozen positions (a dilated convolution: the ablation); ``"dense"`` — a plain kernel of `size` free
    weights.  Positions start at `init_positions` (default: the evenly spaced dilation grid) and are clipped to
    [0, size − 1) by `clip_positions()` after each optimiser step."""

    def __init__(self, size=32, elements=3, mode="dcls", init_positions=None, dtype=np.float64, rng=None):
        super().__init__()
        fn = "DCLSConv1d"
        self.size = _check_size(size, fn)
        if mode not in ("dcls", "fixed", "dense"):
            raise ValueError(f"{fn}: `mode` must be 'dcls', 'fixed' or 'dense', got {mode!r}")
        if isinstance(elements, bool) or not isinstance(elements, (int, np.integer)) or elements < 1:
            raise ValueError(f"{fn}: `elements` must be an integer ≥ 1, got {elements!r}")
        rng = np.random.default_rng(rng)
        self.mode = mode
        if mode == "dense":
            self.k = nn.Parameter((rng.standard_normal(self.size) * 0.1).astype(dtype))
            return
        if init_positions is None:
            init_positions = np.linspace(0.0, self.size - 1.5, int(elements))
        p = _check_positions(init_positions, self.size, fn)
        if p.size != elements:
            raise ValueError(f"{fn}: `init_positions` must have {elements} entries, got {p.size}")
        self.w = nn.Parameter((rng.standard_normal(p.size) * 0.1).astype(dtype))
        if mode == "dcls":
            self.p = nn.Parameter(p.astype(dtype))
        else:
            self.p_fixed = p.astype(dtype)

    def positions(self) -> np.ndarray:
        return np.asarray(self.p.data if self.mode == "dcls" else self.p_fixed, dtype=np.float64)

    def kernel(self):
        if self.mode == "dense":
            return self.k
        return dcls_kernel(self.w, self.p if self.mode == "dcls" else Tensor(self.p_fixed), self.size)

    def clip_positions(self):
        if self.mode == "dcls":
            np.clip(self.p.data, 0.0, self.size - 1 - 1e-6, out=self.p.data)

    def forward(self, x):
        """x (B, T) array or Tensor → y (B, T − size + 1), y_t = Σ_i K[i] x_{t−i}."""
        xd = x.data if isinstance(x, Tensor) else np.asarray(x)
        if xd.ndim != 2 or xd.shape[1] < self.size:
            raise ValueError(f"DCLSConv1d: input must be (B, T) with T ≥ {self.size}, got shape {xd.shape}")
        if isinstance(x, Tensor):  # differentiable w.r.t. x: gather the lags with a constant selection matrix
            T = xd.shape[1]
            sel = np.zeros((T, (T - self.size + 1) * self.size), dtype=xd.dtype)
            idx = np.arange(self.size - 1, T)[:, None] - np.arange(self.size)[None, :]
            sel[idx.ravel(), np.arange(idx.size)] = 1.0
            X = (x @ Tensor(sel)).reshape(xd.shape[0], T - self.size + 1, self.size)
        else:
            X = Tensor(lag_matrix(xd, self.size))
        return X @ self.kernel()


def n_parameters(module) -> int:
    return int(sum(p.data.size for p in module.parameters()))
