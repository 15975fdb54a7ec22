r"""Structured Global Convolution (SGConv): a depthwise causal convolution whose kernel is as long as the
sequence, built from a few short sub-kernels at dyadic scales with decaying weights, applied by FFT.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.

The method
----------
**Two principles (Sec. 3 of the paper).**  A global convolution kernel works for long-range dependence when
(1) its parameter count grows sub-linearly with the length L, and (2) its weights decay with the lag, so that
near neighbours weigh more than far ones.  SGConv satisfies both by construction.

**The kernel (Sec. 3.2; official `gconv_standalone.py`, `GConv.forward`, mode ``cat``).**  Per channel h,
N sub-kernels :math:`w_0,\dots,w_{N-1}\in\mathbb{R}^d` are upsampled and concatenated,

.. math::

    \tilde k = \bigl[\ \alpha^{0}\,\mathrm{Up}_{1}(w_0),\ \alpha^{1}\,\mathrm{Up}_{1}(w_1),\
    \alpha^{2}\,\mathrm{Up}_{2}(w_2),\ \dots,\ \alpha^{i}\,\mathrm{Up}_{2^{\max(0,i-1)}}(w_i),\ \dots\bigr],

so block i covers :math:`d\,2^{\max(0,i-1)}` lags and the whole kernel :math:`d\,2^{N-1}` lags with only Nd
numbers: :math:`N = 1 + \lceil\log_2(L/d)\rceil` gives O(d log L) parameters for a length-L kernel
(principle 1).  The factor :math:`\alpha^i`, α < 1, makes the far, coarse blocks small (principle 2).  The
official code writes the decay as :math:`m^{N-1-i}` with m = 1/α (default m = 2, α = ½): the two differ by the
constant :math:`m^{N-1}`, which the normalisation below removes exactly.  The kernel is cut (or zero-padded) to
L and divided, per channel, by the norm it had at initialisation (a constant, not a learned quantity):

.. math::  k = \tilde k / \|\tilde k(w^{\mathrm{init}})\| .

Because every step is linear in w, we write :math:`k = (W P)\,/\,c` with W the (H, Nd) sub-kernels and P a
fixed (Nd, L) 0/α^i matrix (`structure_matrix`): upsampling, decay and concatenation in one product, so the
kernel's gradient is the ordinary matmul gradient.

**The convolution (official code: `rfft(k, n=2L)`, `rfft(u, n=2L)`, product, `irfft`, first L).**  Causal,
per channel: :math:`y_t = \sum_{s=0}^{t} k_s\,u_{t-s}`.  Padding to 2L makes the circular FFT product a linear
convolution, O(L log L).  Its VJP (`FFTConv.backward`) is a correlation, again by FFT: with ``rev`` the time
reversal, :math:`\bar u = \mathrm{rev}(\mathrm{rev}(\bar y) * k)` and :math:`\bar k = \sum_b
\mathrm{rev}(\mathrm{rev}(\bar y) * u)`.  The layer then adds the skip :math:`D\odot u`, applies GELU and a
position-wise Linear (as the official `GConv` does with its defaults: one channel per feature, no
bidirectional kernel, no LayerNorm).

What is read and what is ours
-----------------------------
Checked against the official code (`gconv_standalone.py`): scale factors :math:`2^{\max(0,i-1)}`, decay
:math:`m^{N-1-i}`, N = 1 + ⌈log₂(L/d)⌉, normalisation by the initial per-channel norm (a buffer), FFT with
n = 2L, skip D.  The paper's text (abstract, introduction, Sec. 3 principles) was read; its equation numbers
were not checked here, so formulas are cited by section and code function.  Ours: the upsampling is
**nearest** (the official code selects nearest with ``nearest`` in the mode string, otherwise linear
interpolation); one α for every channel (the code may spread m over channels); the official code shortens the
sub-kernels once L is known after the first call (they are cut to what the length needs) — we build the kernel
at the full :math:`d\,2^{N-1}` and cut it to L, which gives the same numbers.  The same layer with a dense
kernel (L free weights per channel) or a short local kernel is the baseline (`kernel=`).

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/architectures/sgconv.ipynb
"""

from __future__ import annotations

import math

import numpy as np

from .... import nn
from ....autograd.function import Function
from ....autograd.tensor import Tensor
from ....nn import functional as F

CATALOG_ENTRY = {
    "slug": "sgconv",
    "title": "What Makes Convolutional Models Great on Long Sequence Modeling?",
    "authors": "Yuhong Li, Tianle Cai, Yi Zhang, Deming Chen, Debadeepta Dey",
    "year": 2022,
    "arxiv": "2210.09298",
    "family": "architectures",
    "notebook": "notebooks/architectures/sgconv.ipynb",
    "verified": "official-code",
    "verification_note": (
        "Checked against the official code (ctlllll/SGConv, gconv_standalone.py, GConv.forward in mode 'cat'): "
        "dyadic scale factors 2^max(0,i−1), decay multiplier^(N−1−i) (= α^i up to a constant the normalisation "
        "removes, α = 1/multiplier), N = 1 + ⌈log2(L/d)⌉, division by the initial per-channel kernel norm, "
        "causal FFT convolution with n = 2L, skip term D.  The paper's abstract, introduction and principles "
        "(Sec. 3) were read; equation numbers not checked.  Ours: nearest upsampling (the code's 'nearest' "
        "mode), one α for all channels, NumPy FFT op with a hand-written VJP."
    ),
    "summary": (
        "A global (length-L) causal depthwise convolution whose kernel is the concatenation of N = O(log L) "
        "short sub-kernels upsampled by 2^max(0,i−1) and scaled by α^i (α < 1), normalised by its initial norm "
        "and applied by FFT in O(L log L): sub-linear parameters and a decaying kernel.  Compared with the same "
        "layer with a dense length-L kernel, with no decay (α = 1), and with a short local kernel."
    ),
    "equations": [
        "k̃ = concat_i [ α^i · Up_{2^max(0,i−1)}(w_i) ],  w_i ∈ R^d,  i = 0..N−1,  N = 1 + ⌈log2(L/d)⌉",
        "k = k̃[:L] / ‖k̃(w_init)‖  (per channel)",
        "y_t = Σ_{s≤t} k_s u_{t−s} = irfft(rfft(k, 2L) · rfft(u, 2L))[:L]",
        "out = Linear(GELU(y + D ⊙ u))",
    ],
}


def _int(name, value, fn, minimum=1):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{fn}: `{name}` must be an integer ≥ {minimum}, got {value!r}")
    return int(value)


def n_scales(length: int, d: int) -> int:
    """N = 1 + ⌈log₂(L/d)⌉ (at least 1): the number of sub-kernels whose blocks cover L lags."""
    L, d = _int("length", length, "n_scales"), _int("d", d, "n_scales")
    return 1 + max(0, math.ceil(math.log2(L / d)))


def scale_factors(n: int) -> list:
    """The upsampling factor of each block: 2^max(0, i−1) for i = 0..N−1 (blocks of d, d, 2d, 4d, ...)."""
    return [2 ** max(0, i - 1) for i in range(_int("n", n, "scale_factors"))]


def structure_matrix(n: int, d: int, alpha: float, length: int | None = None) -> np.ndarray:
    """P (N·d, L): row i·d + j has α^i on the lags that nearest-upsampling copies w_i[j] to, so that the kernel
    of concatenated, upsampled, decayed blocks is w_flat @ P (Sec. 3.2).  L defaults to d·2^{N−1} (the full
    kernel); a shorter L cuts it, a longer one zero-pads."""
    fn = "structure_matrix"
    n, d = _int("n", n, fn), _int("d", d, fn)
    if not (isinstance(alpha, (int, float, np.floating)) and 0.0 < alpha <= 1.0):
        raise ValueError(f"{fn}: `alpha` must be a number in (0, 1], got {alpha!r}")
    full = d * 2 ** (n - 1)
    L = full if length is None else _int("length", length, fn)
    P = np.zeros((n * d, max(L, full)))
    offset = 0
    for i, s in enumerate(scale_factors(n)):
        for j in range(d):
            P[i * d + j, offset + j * s : offset + (j + 1) * s] = float(alpha) ** i  # Up_s by repetition
        offset += d * s
    return P[:, :L]


def sgconv_kernel(w, alpha: float, length: int) -> np.ndarray:
    """The unnormalised SGConv kernel k̃[:L] from sub-kernels w of shape (N, d) or (H, N, d) (NumPy)."""
    w = np.asarray(w, dtype=np.float64)
    if w.ndim not in (2, 3):
        raise ValueError(f"sgconv_kernel: `w` must be (N, d) or (H, N, d), got shape {w.shape}")
    n, d = w.shape[-2:]
    return w.reshape(*w.shape[:-2], n * d) @ structure_matrix(n, d, alpha, length)


def causal_conv_direct(u, k) -> np.ndarray:
    """The O(L²) oracle: y[..., t, h] = Σ_{s ≤ t} k[h, s] u[..., t − s, h] for u (B, L, H), k (H, L)."""
    u, k = np.asarray(u, np.float64), np.asarray(k, np.float64)
    L = u.shape[-2]
    y = np.zeros_like(u)
    for t in range(L):
        for s in range(t + 1):
            y[..., t, :] += k[:, s] * u[..., t - s, :]
    return y


def _fft_causal(u, k):
    """Causal convolution along axis −2 of u (B, L, H) with k (H, L) per channel, via rfft of length 2L."""
    L = u.shape[-2]
    U = np.fft.rfft(u, n=2 * L, axis=-2)
    K = np.fft.rfft(k.T, n=2 * L, axis=0)
    return np.fft.irfft(U * K, n=2 * L, axis=-2)[..., :L, :].astype(u.dtype, copy=False)


class FFTConv(Function):
    """y = causal per-channel convolution of u (B, L, H) with k (H, L) by FFT.

    VJP (the map is bilinear; each adjoint is a correlation): ū = rev(rev(ȳ) ∗ k),
    k̄[h, s] = Σ_b Σ_t ȳ[b, t, h] u[b, t − s, h] = Σ_b rev(rev(ȳ) ∗ u)[b, s, h]ᵀ."""

    def forward(ctx, u, k):
        ctx.u, ctx.k = u, k
        return _fft_causal(u, k)

    def backward(ctx, g):
        gr = g[..., ::-1, :]
        gu = _fft_causal(gr, ctx.k)[..., ::-1, :] if ctx.needs_input_grad[0] else None
        gk = None
        if ctx.needs_input_grad[1]:
            L, H = ctx.u.shape[-2:]
            Lg = np.fft.rfft(gr.reshape(-1, L, H), n=2 * L, axis=1)
            Uf = np.fft.rfft(ctx.u.reshape(-1, L, H), n=2 * L, axis=1)
            gk = np.fft.irfft((Lg * Uf).sum(0), n=2 * L, axis=0)[:L][::-1].T.astype(ctx.k.dtype, copy=False)
        return gu, gk


def fft_conv(u, k):
    """Causal depthwise convolution of u (B, L, H) by k (H, L) (Tensors or arrays), O(L log L)."""
    if u.ndim != 3 or k.ndim != 2 or k.shape != (u.shape[2], u.shape[1]):
        raise ValueError(
            f"fft_conv: needs u (B, L, H) and k (H, L), got u {tuple(u.shape)}, k {tuple(k.shape)}"
        )
    return FFTConv.apply(u, k)


class GlobalConv(nn.Module):
    """The SGConv layer on (B, L, H): kernel k (H, L) from its parametrisation, y = k ∗ u + D ⊙ u, GELU, then a
    position-wise Linear(H, H).

    `kernel` chooses the parametrisation of k = (θ P) / c:
      * ``"sgconv"`` — θ (H, N·d) sub-kernels, P the structure matrix with decay α (the paper's layer);
      * ``"dense"``  — θ (H, L) free weights, P = I (a global kernel with L parameters per channel);
      * ``"local"``  — θ (H, d) weights on the first d lags, P = [I 0] (a short convolution, window d).
    c is θ P's per-channel norm at initialisation (θ ~ N(0, 1)), so every kernel starts with unit norm."""

    def __init__(self, channels, length, kernel="sgconv", d=8, alpha=0.5, dtype=np.float32, rng=None):
        super().__init__()
        fn = "GlobalConv"
        H, L, d = _int("channels", channels, fn), _int("length", length, fn), _int("d", d, fn)
        if kernel not in ("sgconv", "dense", "local"):
            raise ValueError(f"{fn}: `kernel` must be 'sgconv', 'dense' or 'local', got {kernel!r}")
        rng = np.random.default_rng(rng)
        if kernel == "sgconv":
            P = structure_matrix(n_scales(L, d), d, alpha, L)
        elif kernel == "dense":
            P = np.eye(L)
        else:
            P = np.eye(min(d, L), L)
        theta = rng.standard_normal((H, P.shape[0]))
        self.kernel_kind, self.length = kernel, L
        self.theta = nn.Parameter(theta.astype(dtype))
        self.P = P.astype(dtype)
        norm = np.linalg.norm(theta @ P, axis=1, keepdims=True)
        self.inv_norm = (1.0 / np.maximum(norm, 1e-12)).astype(dtype)  # a buffer: fixed at initialisation
        self.D = nn.Parameter(rng.standard_normal(H).astype(dtype))
        self.out = nn.Linear(H, H, dtype=dtype, rng=rng)

    def kernel(self):
        return (self.theta @ Tensor(self.P)) * Tensor(self.inv_norm)

    def forward(self, u):
        if u.ndim != 3 or u.shape[1] != self.length:
            raise ValueError(f"GlobalConv: input must be (B, {self.length}, H), got shape {tuple(u.shape)}")
        y = fft_conv(u, self.kernel()) + u * self.D
        return self.out(F.gelu(y))


class SequenceClassifier(nn.Module):
    """Linear embedding of the input features → one GlobalConv layer (with a residual) → the last position's
    features → Linear to the classes.  The causal kernel lets the last position see the whole sequence."""

    def __init__(self, in_features, channels, length, n_classes, dtype=np.float32, seed=0, **conv):
        super().__init__()
        self.embed = nn.Linear(in_features, channels, dtype=dtype, rng=[seed, 1])
        self.conv = GlobalConv(channels, length, dtype=dtype, rng=[seed, 2], **conv)
        self.head = nn.Linear(channels, n_classes, dtype=dtype, rng=[seed, 3])

    def forward(self, x):
        h = self.embed(x)
        h = h + self.conv(h)
        return self.head(h[:, -1, :])


def n_parameters(module) -> int:
    return int(sum(p.data.size for p in module.parameters()))
