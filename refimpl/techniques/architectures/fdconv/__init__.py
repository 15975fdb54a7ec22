r"""FDConv (Frequency Dynamic Convolution): a dynamic convolution whose K parallel kernels are carved out of ONE
parameter budget learned in the Fourier domain — the budget's frequencies are split into K disjoint groups and
each group's inverse DFT is one spatial kernel — so the kernels are frequency-diverse (their spectra do not
overlap) at the parameter cost of a single static kernel.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.

The method
----------
**Dynamic convolution (the setting, Sec. 1/3 of the paper; DY-Conv).**  K parallel kernels
:math:`W_1,\dots,W_K` are mixed per input by an attention computed from the globally pooled input:

.. math::

    y = \Bigl(\sum_{i=1}^{K} \pi_i(x)\, W_i\Bigr) * x + b,\qquad
    \pi(x) = \mathrm{act}\bigl(A\,\mathrm{GAP}(x) + a\bigr).

DY-Conv stores K independent spatial kernels (K times the parameters of one convolution); the paper's
premise is that these learn *similar* weights (it measures cosine similarity > 0.88 between ODConv's four
weights), so the K-fold cost buys little diversity.

**Fourier Disjoint Weight (FDW, Sec. 3).**  View the weight of a convolution with c_out outputs, c_in inputs
and a k-tap kernel as one matrix :math:`\Theta\in\mathbb{R}^{M\times N}`, M = c_out, N = c_in·k (the official
``FDConv.convert2dftweight`` reshapes a 2-D kernel to (c_out·k₁, c_in·k₂); for a 1-D kernel k₁ = 1).  Learn
its 2-D spectrum :math:`F = \mathrm{DFT}(\Theta)` instead of Θ.  Sort the frequencies :math:`(u, v)` by their
distance from the origin :math:`\rho(u,v)=\sqrt{f_u^2+f_v^2}` (``get_fft2freq``: ``fftfreq`` grid, sorted
distance) and cut the sorted list into K contiguous groups :math:`\mathcal{G}_1,\dots,\mathcal{G}_K` (low →
high frequency).  Kernel i is the inverse DFT of the spectrum restricted to its group:

.. math::

    W_i = \mathrm{iDFT}\bigl(F \odot \mathbb{1}_{\mathcal{G}_i}\bigr),\qquad
    \sum_i W_i = \mathrm{iDFT}(F) = \Theta .

Because the groups are disjoint, Parseval gives :math:`\langle W_i, W_j\rangle_F =
\tfrac{1}{MN}\langle F\odot\mathbb{1}_{\mathcal{G}_i}, F\odot\mathbb{1}_{\mathcal{G}_j}\rangle = 0` for i ≠ j:
the K kernels are exactly orthogonal (cosine similarity 0) and spectrally disjoint, and together they cost MN
numbers — one kernel's budget.  The official forward scales each group's coefficients by its attention and
takes one ``irfft2`` of the sum, which by linearity is :math:`\sum_i \pi_i(x) W_i`.

*Real form used here.*  A real Θ has a Hermitian spectrum, so we learn MN real coefficients θ on the real
orthonormal Fourier basis of :math:`\mathbb{R}^{M\times N}` — for each conjugate pair :math:`\{(u,v),(-u,-v)\}`
the modes :math:`\sqrt{2/MN}\cos(2\pi(um/M+vn/N))` and :math:`\sqrt{2/MN}\sin(\cdot)`, and only the cosine
:math:`\cos(\cdot)/\sqrt{MN}` for a self-conjugate frequency.  A conjugate pair is one group atom (it is one
``rfft2`` coefficient in the official code), so :math:`W_i=\sum_{b\in\mathcal{G}_i}\theta_b\varphi_b` is the
real iDFT of group i, with exactly MN parameters and no redundant ones.

**Kernel attention (KSM-global's kernel branch, official ``get_kernel_attention``, 'sigmoid').**  The official
default is :math:`\pi_i = 2\sigma(z_i/T)/K` with the kernels scaled by a constant α; we fold the constant in:
:math:`\pi_i = 2\sigma(z_i/T)`, so at initialisation (z ≈ 0) :math:`\sum_i\pi_iW_i\approx\Theta`.

**Not implemented** (say so in the notebook too): Kernel Spatial Modulation's dense element-wise and
channel/filter/spatial factors (``KernelSpatialModulation_Global/Local``) and Frequency Band Modulation
(``FrequencyBandModulation``, which splits the *feature map* into bands with spatially varying weights).  This
package implements the core, FDW + attention mixing; the experiment isolates exactly that idea.

What is read and what is ours
-----------------------------
Read: the abstract and a summary of the paper, and the authors' ``FDConv_initialversion.py``
(``get_fft2freq``, ``convert2dftweight``, ``FDConv.forward``, ``KernelSpatialModulation_Global``).  The paper's
full text with its equation numbers was not available here, so formulas are cited by section / module name
and official function.  Ours: the real orthonormal basis in place of ``rfft2`` coefficients (same span, no
redundant entries, ties in ρ broken by enumeration order), groups cut by counts of frequency atoms
(``np.array_split``, the official code requires divisibility), the attention from a single linear map of the
globally pooled input (official: FC → BN → StarReLU → FC), the constant α folded into π, the 1-D setting.

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/architectures/fdconv.ipynb
"""

from __future__ import annotations

import math

import numpy as np

from .... import nn
from ....autograd import ops
from ....autograd.tensor import Tensor
from ....nn import functional as F

CATALOG_ENTRY = {
    "slug": "fdconv",
    "title": "Frequency Dynamic Convolution for Dense Image Prediction",
    "authors": "Linwei Chen, Lin Gu, Liang Li, Chenggang Yan, Ying Fu",
    "year": 2025,
    "arxiv": "2503.18783",
    "family": "architectures",
    "notebook": "notebooks/architectures/fdconv.ipynb",
    "verified": "official-code",
    "verification_note": (
        "Checked against the official code (Linwei-Chen/FDConv, FDConv_initialversion.py): the weight viewed as a "
        "(c_out·k₁, c_in·k₂) matrix, its rfft2 coefficients sorted by distance from the zero frequency "
        "(get_fft2freq) and cut into kernel_num disjoint groups, each group scaled by its kernel attention and "
        "one irfft2 of the sum (FDConv.forward).  The abstract and a summary were read; the full text was not "
        "available, so formulas are cited by section and official function, not equation number.  Ours: a real "
        "orthonormal Fourier basis for the rfft2 coefficients, groups by np.array_split, a one-layer attention "
        "2σ(z), 1-D kernels.  KSM and FBM are not implemented (core only: FDW + attention mixing)."
    ),
    "summary": (
        "Dynamic convolution whose K parallel kernels are carved from one Fourier-domain parameter budget: the "
        "frequencies are sorted by radius and split into K disjoint groups, each group's inverse DFT is one "
        "kernel, and an input-dependent attention mixes them.  The kernels are exactly orthogonal and "
        "spectrally disjoint at the parameter cost of one static kernel (DY-Conv pays K).  The paper adds "
        "kernel-spatial and frequency-band modulation (not implemented here)."
    ),
    "equations": [
        "y = (Σ_i π_i(x) W_i) * x + b,  π(x) = 2σ(A·GAP(x) + a)  (dynamic convolution, kernel attention)",
        "F = DFT(Θ), Θ ∈ ℝ^{c_out × c_in·k};  frequencies sorted by ρ = √(f_u² + f_v²), cut into K groups G_i",
        "W_i = iDFT(F ⊙ 1_{G_i}),  Σ_i W_i = Θ  (Fourier Disjoint Weight)",
        "⟨W_i, W_j⟩_F = 0 for i ≠ j  (Parseval: disjoint spectra)",
    ],
}


def _as_tensor(x):
    return x if isinstance(x, Tensor) else Tensor(np.asarray(x, dtype=np.float64))


def _check_int(name, v, fn, low=1):
    if not (isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= low):
        raise ValueError(f"{fn}: `{name}` must be an integer ≥ {low}, got {v!r}")


def real_fourier_basis(M: int, N: int):
    """The real orthonormal Fourier basis of ℝ^{M×N}, ordered by frequency radius (official ``get_fft2freq``).

    Returns ``(phi, radius, atom)``: phi (MN, M, N) orthonormal modes; radius (MN,) the distance
    √(f_u² + f_v²) of each mode's frequency (``np.fft.fftfreq``); atom (MN,) the index of its conjugate pair
    (a cos/sin pair shares one atom, i.e. one ``rfft2`` coefficient).  Modes are sorted by radius, ties in
    enumeration order."""
    _check_int("M", M, "real_fourier_basis")
    _check_int("N", N, "real_fourier_basis")
    m, n = np.meshgrid(np.arange(M), np.arange(N), indexing="ij")
    fu, fv = np.fft.fftfreq(M), np.fft.fftfreq(N)
    modes, radius, atom, seen = [], [], [], set()
    for u in range(M):
        for v in range(N):
            if (u, v) in seen:
                continue
            pair = ((-u) % M, (-v) % N)
            seen.update({(u, v), pair})
            phase = 2 * np.pi * (u * m / M + v * n / N)
            r = math.hypot(fu[u], fv[v])
            k = len(set(atom))
            if pair == (u, v):  # self-conjugate: the sine vanishes
                modes.append(np.cos(phase) / math.sqrt(M * N))
                radius.append(r), atom.append(k)
            else:
                s = math.sqrt(2.0 / (M * N))
                modes += [s * np.cos(phase), s * np.sin(phase)]
                radius += [r, r]
                atom += [k, k]
    order = np.argsort(np.asarray(radius), kind="stable")
    phi = np.asarray(modes)[order]
    return phi, np.asarray(radius)[order], np.asarray(atom)[order]


def frequency_groups(atom, K: int) -> np.ndarray:
    """Disjoint frequency groups (FDW, Sec. 3): the atoms (conjugate pairs, already sorted by radius) cut into K
    contiguous runs low → high frequency; returns the group label of every basis mode."""
    atom = np.asarray(atom)
    _check_int("K", K, "frequency_groups")
    uniq = list(dict.fromkeys(atom.tolist()))  # atoms in radius order
    if K > len(uniq):
        raise ValueError(
            f"frequency_groups: `K` must be ≤ the number of frequency atoms {len(uniq)}, got {K}"
        )
    label = {
        a: g
        for g, chunk in enumerate(np.array_split(np.arange(len(uniq)), K))
        for a in np.asarray(uniq)[chunk]
    }
    return np.array([label[a] for a in atom.tolist()], dtype=np.int64)


def fourier_disjoint_weights(theta, phi, groups, K: int):
    """W_i = Σ_{b ∈ G_i} θ_b φ_b = iDFT(F ⊙ 1_{G_i}) (FDW, Sec. 3; real form): θ (MN,) coefficients, phi (MN, M, N)
    the basis, groups (MN,) labels in [0, K).  Returns a Tensor (K, M, N); the K kernels sum to Θ."""
    theta = _as_tensor(theta)
    phi = np.asarray(phi)
    groups = np.asarray(groups)
    D = phi.shape[0]
    if theta.shape != (D,) or groups.shape != (D,):
        raise ValueError(
            f"fourier_disjoint_weights: `theta` and `groups` must be ({D},) like phi's first axis, got "
            f"{theta.shape} and {groups.shape}"
        )
    if groups.min() < 0 or groups.max() >= K:
        raise ValueError(
            f"fourier_disjoint_weights: `groups` must lie in [0, {K}), got [{groups.min()}, {groups.max()}]"
        )
    masks = Tensor((groups[None, :] == np.arange(K)[:, None]).astype(theta.data.dtype))  # (K, D)
    basis = Tensor(phi.reshape(D, -1).astype(theta.data.dtype))  # (D, MN)
    return ((masks * theta) @ basis).reshape(K, *phi.shape[1:])


def kernel_attention(x, A, a, T: float = 1.0):
    """π(x) = 2σ((A·GAP(x) + a)/T) for x (B, C, L), A (K, C), a (K,): one weight per kernel and sample (B, K)
    (the official 'sigmoid' kernel attention with its 1/K folded into the kernels)."""
    x, A, a = _as_tensor(x), _as_tensor(A), _as_tensor(a)
    if not T > 0:
        raise ValueError(f"kernel_attention: `T` must be > 0, got {T!r}")
    z = x.mean(axis=-1) @ A.T + a
    return ops.sigmoid(z / T) * 2.0


def dynamic_conv1d(x, kernels, pi, bias=None, padding: int = 0):
    """y_b = (Σ_i π_{b,i} W_i) * x_b + bias for x (B, C, L), kernels (K, O, C, k), π (B, K): one mixed kernel
    per sample, run as a grouped convolution (groups = B)."""
    x, kernels, pi = _as_tensor(x), _as_tensor(kernels), _as_tensor(pi)
    if x.ndim != 3 or kernels.ndim != 4 or kernels.shape[2] != x.shape[1]:
        raise ValueError(
            f"dynamic_conv1d: `x` must be (B, C, L) and `kernels` (K, O, C, k) with the same C, got {x.shape} "
            f"and {kernels.shape}"
        )
    B, C, L = x.shape
    K, O, _, k = kernels.shape
    if pi.shape != (B, K):
        raise ValueError(f"dynamic_conv1d: `pi` must be (B, K) = ({B}, {K}), got {pi.shape}")
    W = (pi @ kernels.reshape(K, O * C * k)).reshape(B * O, C, k)  # Σ_i π_i W_i per sample
    y = F.conv1d(x.reshape(1, B * C, L), W, padding=padding, groups=B)
    y = y.reshape(B, O, y.shape[-1])
    return y if bias is None else y + _as_tensor(bias).reshape(1, O, 1)


def mean_pairwise_cosine(kernels) -> float:
    """The mean cosine similarity of the K flattened kernels over the K(K−1)/2 pairs (the paper's diversity
    measure); by Parseval it equals the cosine similarity of their spectra."""
    W = np.asarray(kernels.data if isinstance(kernels, Tensor) else kernels, dtype=np.float64)
    W = W.reshape(W.shape[0], -1)
    if W.shape[0] < 2:
        raise ValueError(f"mean_pairwise_cosine: needs ≥ 2 kernels, got {W.shape[0]}")
    U = W / np.maximum(np.linalg.norm(W, axis=1, keepdims=True), 1e-300)
    G = U @ U.T
    return float(G[np.triu_indices(W.shape[0], 1)].mean())


class _Conv1dBase(nn.Module):
    def _init_common(self, c_in, c_out, k, K, padding, rng, dtype, name):
        nn.Module.__init__(self)
        for nm, v in (("c_in", c_in), ("c_out", c_out), ("k", k), ("K", K)):
            _check_int(nm, v, name)
        _check_int("padding", padding, name, low=0)
        self.c_in, self.c_out, self.k, self.K, self.padding = c_in, c_out, k, K, padding
        g = np.random.default_rng(rng)
        self.bias = nn.Parameter(np.zeros(c_out, dtype=dtype))
        self.att_w = nn.Parameter((0.5 * g.standard_normal((K, c_in)) / math.sqrt(c_in)).astype(dtype))
        self.att_b = nn.Parameter(np.zeros(K, dtype=dtype))
        return g

    def attention(self, x):
        return kernel_attention(x, self.att_w, self.att_b)

    def forward(self, x):
        x = _as_tensor(x)
        return dynamic_conv1d(x, self.kernels(), self.attention(x), self.bias, self.padding)


class FDConv1d(_Conv1dBase):
    """Frequency dynamic convolution (FDW + kernel attention): MN = c_out·c_in·k Fourier coefficients θ, cut into
    K disjoint frequency groups; θ ~ N(0, 1/(c_in·k)) so Θ = Σ_i W_i has the usual per-entry variance."""

    def __init__(self, c_in, c_out, k, K, *, padding=0, rng=None, dtype=np.float32):
        g = self._init_common(c_in, c_out, k, K, padding, rng, dtype, "FDConv1d")
        self.phi, _, atom = real_fourier_basis(c_out, c_in * k)
        self.groups = frequency_groups(atom, K)
        self.theta = nn.Parameter((g.standard_normal(self.phi.shape[0]) / math.sqrt(c_in * k)).astype(dtype))

    def kernels(self):
        W = fourier_disjoint_weights(self.theta, self.phi, self.groups, self.K)  # (K, c_out, c_in·k)
        return W.reshape(self.K, self.c_out, self.c_in, self.k)


class DynamicConv1d(_Conv1dBase):
    """DY-Conv: K independent spatial kernels (K·c_out·c_in·k weights), each N(0, 1/(K·c_in·k)), mixed by the same
    attention — the ablation without the Fourier disjoint construction."""

    def __init__(self, c_in, c_out, k, K, *, padding=0, rng=None, dtype=np.float32):
        g = self._init_common(c_in, c_out, k, K, padding, rng, dtype, "DynamicConv1d")
        std = 1.0 / math.sqrt(K * c_in * k)
        self.weight = nn.Parameter((std * g.standard_normal((K, c_out, c_in, k))).astype(dtype))

    def kernels(self):
        return self.weight


class StaticConv1d(nn.Module):
    """A plain convolution with one kernel (c_out·c_in·k weights, the FDConv budget), N(0, 1/(c_in·k))."""

    def __init__(self, c_in, c_out, k, K=1, *, padding=0, rng=None, dtype=np.float32):
        super().__init__()
        for nm, v in (("c_in", c_in), ("c_out", c_out), ("k", k)):
            _check_int(nm, v, "StaticConv1d")
        g = np.random.default_rng(rng)
        self.padding = padding
        self.weight = nn.Parameter((g.standard_normal((c_out, c_in, k)) / math.sqrt(c_in * k)).astype(dtype))
        self.bias = nn.Parameter(np.zeros(c_out, dtype=dtype))

    def kernels(self):
        return ops.unsqueeze(self.weight, 0)

    def forward(self, x):
        return F.conv1d(_as_tensor(x), self.weight, self.bias, padding=self.padding)


CONVS = {"fdconv": FDConv1d, "dyconv": DynamicConv1d, "static": StaticConv1d}


class SignalClassifier(nn.Module):
    """The toy network: conv (C → width, k taps, 'same' padding) → ReLU → mean over time → Linear(width → classes).
    `conv` is "fdconv", "dyconv" or "static"."""

    def __init__(self, conv, c_in, width, k, K, n_classes, *, rng=None, dtype=np.float32):
        super().__init__()
        if conv not in CONVS:
            raise ValueError(f"SignalClassifier: `conv` must be one of {tuple(CONVS)}, got {conv!r}")
        seed = 0 if rng is None else rng
        self.conv = CONVS[conv](c_in, width, k, K, padding=k // 2, rng=[seed, 1], dtype=dtype)
        g = np.random.default_rng([seed, 2])
        self.head_w = nn.Parameter((g.standard_normal((n_classes, width)) / math.sqrt(width)).astype(dtype))
        self.head_b = nn.Parameter(np.zeros(n_classes, dtype=dtype))

    def forward(self, x):
        h = ops.relu(self.conv(x)).mean(axis=-1)
        return h @ self.head_w.T + self.head_b


def n_parameters(model) -> int:
    return int(sum(p.data.size for p in model.parameters()))
