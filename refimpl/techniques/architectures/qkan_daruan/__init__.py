r"""DARUAN and QKAN: a single-qubit data re-uploading circuit used as the learnable activation on every edge of a
Kolmogorov-Arnold network.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.

The method
----------
**DARUAN (Sec. 3 of the paper; official `src/qkan/daruan/daruan.py`, `torch_exact_solver`, ansatz
"pz_encoding").**  One qubit, r re-uploadings of the scalar input x.  The circuit is

.. math::

    U(x,\theta) = W^{(r+1)}\,S(w_r x + b_r)\,W^{(r)} \cdots S(w_1 x + b_1)\,W^{(1)}\,H ,
    \qquad S(\phi) = e^{-i\phi Z/2} = R_z(\phi),\qquad W^{(\ell)} = R_y(\theta_{\ell,2})\,R_z(\theta_{\ell,1}),

applied to :math:`|0\rangle` (the official code starts with a Hadamard), and the activation is the measured
expectation :math:`\phi(x) = \langle 0|U^\dagger Z U|0\rangle`.  The trainable pre-processing weights
:math:`w_\ell, b_\ell` (paper: "trainable weights in data pre-processing") are the paper's distinguishing idea;
the official default initialises them at w = 1, b = 0.  Parameters per activation: 2(r + 1) angles + 2r
pre-processing weights.

**Exact simulation with real arithmetic (ours).**  A pure one-qubit state is a point of the Bloch sphere,
:math:`\vec r = (\langle X\rangle, \langle Y\rangle, \langle Z\rangle)`, and a rotation gate
:math:`R_n(\phi) = e^{-i\phi\,\sigma_n/2}` rotates :math:`\vec r` by the angle φ about the axis n (an SO(3)
matrix).  So H|0⟩ is :math:`\vec r_0 = (1, 0, 0)`, every gate is a real 3×3 rotation, and
:math:`\phi(x) = r_z` after the last gate — exact, no complex numbers.  The gradient is by the adjoint rule:
with :math:`\vec r_{k+1} = R_k \vec r_k` and upstream :math:`\bar r_{k+1}`,
:math:`\partial/\partial\phi_k = \bar r_{k+1}\cdot(\hat n_k \times \vec r_{k+1})` and
:math:`\bar r_k = R_k^\top \bar r_{k+1}` (`BlochCircuit`; a float64 finite-difference check is in the tests).
The tests and the reference cases compare it with an independent 2×2 complex state-vector simulation.

**Frequency spectrum (Sec. 4).**  Each :math:`R_z(wx)` contributes phases :math:`e^{\pm i w x/2}` to the
amplitudes, so ⟨Z⟩ is a sum of :math:`e^{i\omega x}` with :math:`\omega \in \{\sum_\ell s_\ell w_\ell:
s_\ell\in\{-1,0,1\}\}`.  With w = 1 (fixed pre-processing) this is a trigonometric polynomial of degree ≤ r:
the spectrum grows linearly with r (`spectrum_bound`; checked by a DFT in the tests).  With trainable
:math:`w_\ell` up to :math:`(3^r - 1)/2` distinct positive frequencies are reachable, e.g.
:math:`w_\ell = 3^{\ell-1}` gives every integer up to :math:`(3^r-1)/2` — the "exponentially growing
spectrum" the paper credits with the exponential parameter saving over a Fourier activation with G
harmonics (2G coefficients).

**QKAN layer (Sec. 5; official `src/qkan/qkan.py`, `QKANLayer`).**  Each edge (j, i) carries its own DARUAN;
the layer output is :math:`y_j = \sum_i \big[\phi_{ji}(x_i) + c_{ji}\,\mathrm{silu}(x_i)\big]`, the trainable
residual :math:`c_{ji}` initialised at ½ as in the official layer (its `base_weight`; post-activation weights
fixed at 1, its default).  Angles θ are drawn N(0, 2/(fan_in+fan_out)) per edge block, like the official
Xavier-normal init of the (dim, r+1, 2) tensor.

**Baseline layer.**  `FourierKANLayer` (official `src/qkan/fourier_kan.py`): edge function
:math:`\sum_{k=1}^{G} a_k\cos kx + b_k\sin kx` (2G coefficients) plus the same silu residual and an output
bias.  `Harmonics` (cos kx, sin kx with its VJP) is a primitive local to this package.

What is read and what is ours
-----------------------------
The circuit, the gate order, the initial Hadamard, the initialisation of w, b and of the residual, and the
Fourier-KAN baseline were read in the official code (files above).  The paper's full text was not available
here: equations are cited by section (from the paper's abstract, figure captions and a review quoting
U(x, θ)), not by number.  Ours: the Bloch-vector simulation and its adjoint gradient, a fixed input scaling
x → πx in front of the first layer of every KAN (the official Fourier KAN's grid_range [-1, 1] → [-π, π]),
and the toy experiment (`experiment.py`).  Layer-extension and hybrid QKANs are not implemented.

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.  Should
`BlochCircuit` and `Harmonics` prove useful elsewhere they belong in `refimpl.nn` / the op set.

Notebook: notebooks/architectures/qkan-daruan.ipynb
"""

from __future__ import annotations

import numpy as np

from .... import nn
from ....autograd import ops
from ....autograd.function import Function
from ....autograd.tensor import Tensor

CATALOG_ENTRY = {
    "slug": "qkan-daruan",
    "title": "Quantum Variational Activation Functions Empower Kolmogorov-Arnold Networks",
    "authors": "Jiun-Cheng Jiang, Morris Yu-Chao Huang, Tianlong Chen, Hsi-Sheng Goan",
    "year": 2025,
    "arxiv": "2509.14026",
    "family": "architectures",
    "notebook": "notebooks/architectures/qkan-daruan.ipynb",
    "verified": "official-code",
    "verification_note": (
        "Checked against the official code (Jim137/qkan): src/qkan/daruan/daruan.py (torch_exact_solver, "
        "ansatz pz_encoding: H, then per repetition Rz(θ₁) Ry(θ₂) Rz(w x + b), a final Rz Ry, measure Z; w "
        "initialised to 1, b to 0), src/qkan/qkan.py (QKANLayer: per-edge DARUAN summed, silu residual with "
        "base_weight ½) and src/qkan/fourier_kan.py (the Fourier-KAN baseline).  The paper's abstract and figure "
        "captions were read, not its full text: equations are cited by section.  Ours: exact simulation on the "
        "Bloch sphere (real SO(3) rotations, adjoint gradient), 1-D and 2-D regression toys."
    ),
    "summary": (
        "A single-qubit data re-uploading circuit (DARUAN) as a learnable activation: φ(x) = ⟨Z⟩ after "
        "Π_ℓ Rz(w_ℓx + b_ℓ) Ry Rz(θ_ℓ) applied to H|0⟩; with trainable pre-processing weights w_ℓ its frequency "
        "spectrum grows exponentially with the repetitions r (degree ≤ r when w = 1).  Used on every edge of a "
        "KAN (QKAN).  Compared with a Fourier-series KAN, the same QKAN with fixed pre-processing and an MLP, "
        "all at (about) the same parameter count."
    ),
    "equations": [
        "U(x, θ) = W⁽ʳ⁺¹⁾ S(w_r x + b_r) W⁽ʳ⁾ ⋯ S(w_1 x + b_1) W⁽¹⁾ H,  S(φ) = Rz(φ),  W⁽ℓ⁾ = Ry(θ_ℓ2) Rz(θ_ℓ1)",
        "φ(x) = ⟨0|U† Z U|0⟩",
        "spectrum ⊆ {Σ_ℓ s_ℓ w_ℓ : s_ℓ ∈ {−1, 0, 1}}  (degree ≤ r when w = 1)",
        "QKAN: y_j = Σ_i φ_ji(x_i) + c_ji silu(x_i)",
    ],
}

_AXES = {"z": 2, "y": 1}


def _rotate(r, phi, axis: str, sign: float = 1.0):
    """Rotate Bloch vectors r (..., 3) by sign·φ about the z or y axis (R_n(φ) = e^{-iφσ_n/2} on states)."""
    c, s = np.cos(phi), sign * np.sin(phi)
    x, y, z = r[..., 0], r[..., 1], r[..., 2]
    if axis == "z":
        return np.stack([c * x - s * y, s * x + c * y, z], axis=-1)
    return np.stack([c * x + s * z, y, -s * x + c * z], axis=-1)


def _cross_axis(r, axis: str):
    """n × r for n = ẑ or ŷ."""
    x, y, z = r[..., 0], r[..., 1], r[..., 2]
    if axis == "z":
        return np.stack([-y, x, np.zeros_like(z)], axis=-1)
    return np.stack([z, np.zeros_like(y), -x], axis=-1)


class BlochCircuit(Function):
    """⟨Z⟩ of the state H|0⟩ after the gates R_{axes[k]}(φ_k), k = 0, 1, …, on the Bloch sphere.

    Forward: r₀ = (1, 0, 0), r_{k+1} = R_k r_k, output r_z.  VJP (adjoint rule): φ̄_k = r̄_{k+1}·(n_k × r_{k+1}),
    r̄_k = R_kᵀ r̄_{k+1}, starting from r̄ = (0, 0, ḡ).  The angles broadcast against each other; gradients are
    returned in the broadcast shape.  Not twice differentiable (no `backward_graph`)."""

    def forward(ctx, *phis, axes: str):
        shape = np.broadcast_shapes(*(np.shape(p) for p in phis))
        dtype = np.result_type(*phis)
        phis = [np.broadcast_to(p, shape) for p in phis]
        r = np.zeros(shape + (3,), dtype=dtype)
        r[..., 0] = 1.0
        states = []
        for phi, a in zip(phis, axes):
            r = _rotate(r, phi, a)
            states.append(r)
        ctx.phis, ctx.states, ctx.axes = phis, states, axes
        return r[..., 2].copy()

    def backward(ctx, g):
        rbar = np.zeros(g.shape + (3,), dtype=g.dtype)
        rbar[..., 2] = g
        grads = [None] * len(ctx.phis)
        for k in range(len(ctx.phis) - 1, -1, -1):
            a = ctx.axes[k]
            grads[k] = np.sum(rbar * _cross_axis(ctx.states[k], a), axis=-1)
            rbar = _rotate(rbar, ctx.phis[k], a, sign=-1.0)
        return tuple(grads)


def bloch_circuit(phis, axes: str):
    """The functional form of `BlochCircuit`: `phis` a list of angle arrays/Tensors, `axes` a string of 'z'/'y'."""
    if len(phis) != len(axes) or not all(a in _AXES for a in axes):
        raise ValueError(
            f"bloch_circuit: `axes` must be a string of 'z'/'y' with one letter per angle, "
            f"got {axes!r} for {len(phis)} angles"
        )
    return BlochCircuit.apply(*phis, axes=axes)


def daruan_axes(reps: int) -> str:
    """The gate axes of the pz_encoding ansatz: per repetition Rz(θ) Ry(θ) Rz(wx+b), then a final Rz Ry."""
    return "zyz" * reps + "zy"


def daruan(x, theta, w=None, b=None):
    """DARUAN activation φ(x) (Sec. 3): ⟨Z⟩ of Ry Rz Π_ℓ[Rz(w_ℓ x + b_ℓ) Ry(θ_ℓ2) Rz(θ_ℓ1)] H|0⟩.

    x (...,) input; theta (..., r + 1, 2) angles; w, b (..., r) pre-processing weights (default 1 and 0, the
    fixed encoding).  Leading axes broadcast.  Returns a Tensor of the broadcast shape."""
    theta = theta if isinstance(theta, Tensor) else Tensor(np.asarray(theta, dtype=np.float64))
    if theta.ndim < 2 or theta.shape[-1] != 2 or theta.shape[-2] < 2:
        raise ValueError(f"daruan: `theta` must have shape (..., r + 1, 2) with r ≥ 1, got {theta.shape}")
    reps = theta.shape[-2] - 1
    for name, v in (("w", w), ("b", b)):
        if v is not None and np.shape(v.data if isinstance(v, Tensor) else v)[-1:] != (reps,):
            raise ValueError(f"daruan: `{name}` must have last axis r = {reps}, got shape {np.shape(v)}")
    phis = []
    for l in range(reps):
        phis += [theta[..., l, 0], theta[..., l, 1]]
        enc = x if w is None else x * w[..., l]  # the ℓ-th encoding S(w_ℓ x + b_ℓ)
        phis.append(enc if b is None else enc + b[..., l])
    phis += [theta[..., reps, 0], theta[..., reps, 1]]
    return bloch_circuit(phis, daruan_axes(reps))


def spectrum_bound(w) -> np.ndarray:
    """All frequencies ≥ 0 that ⟨Z⟩ may contain: {|Σ_ℓ s_ℓ w_ℓ| : s_ℓ ∈ {−1, 0, 1}} (Sec. 4), sorted."""
    w = np.asarray(w, dtype=np.float64).ravel()
    freqs = np.zeros(1)
    for wl in w:
        freqs = np.concatenate([freqs - wl, freqs, freqs + wl])
    return np.unique(np.round(np.abs(freqs), 12))


def _int(name, v, fn, low=1):
    if not (isinstance(v, (int, np.integer)) and v >= low):
        raise ValueError(f"{fn}: `{name}` must be an integer ≥ {low}, got {v!r}")
    return int(v)


class QKANLayer(nn.Module):
    """One QKAN layer (Sec. 5): (B, in) → (B, out), y_j = Σ_i φ_ji(x_i) + c_ji silu(x_i), a DARUAN per edge.

    `preact_trainable=True` learns w, b (the paper's DARUAN); False keeps w = 1, b = 0 fixed (the ablation)."""

    def __init__(self, in_dim, out_dim, reps=2, preact_trainable=True, dtype=np.float32, rng=None):
        super().__init__()
        fn = "QKANLayer"
        i, o, r = _int("in_dim", in_dim, fn), _int("out_dim", out_dim, fn), _int("reps", reps, fn)
        rng = np.random.default_rng(rng)
        std = np.sqrt(2.0 / (i * (r + 1) * 2 + o * (r + 1) * 2))  # Xavier-normal of the (o·i, r+1, 2) block
        self.in_dim, self.out_dim, self.reps, self.preact_trainable = i, o, r, bool(preact_trainable)
        self.theta = nn.Parameter((rng.standard_normal((o, i, r + 1, 2)) * std).astype(dtype))
        if preact_trainable:
            self.w = nn.Parameter(np.ones((o, i, r), dtype=dtype))
            self.b = nn.Parameter(np.zeros((o, i, r), dtype=dtype))
        self.base = nn.Parameter(np.full((o, i), 0.5, dtype=dtype))

    def forward(self, x):
        x = x if isinstance(x, Tensor) else Tensor(x)
        if x.ndim != 2 or x.shape[1] != self.in_dim:
            raise ValueError(f"QKANLayer: input must be (B, {self.in_dim}), got {x.shape}")
        xe = x.reshape(x.shape[0], 1, self.in_dim)  # (B, 1, in) against edges (out, in)
        w = self.w if self.preact_trainable else None
        b = self.b if self.preact_trainable else None
        phi = daruan(xe, self.theta, w, b)  # (B, out, in)
        return (phi + self.base * ops.silu(xe)).sum(axis=2)


class Harmonics(Function):
    """h = [cos kx, sin kx]_{k=1..G} on a new last axis (2G);  x̄ = Σ_k k(−ḡ_cos,k sin kx + ḡ_sin,k cos kx)."""

    def forward(ctx, x, G: int):
        k = np.arange(1, G + 1, dtype=x.dtype)
        kx = x[..., None] * k
        ctx.k, ctx.c, ctx.s = k, np.cos(kx), np.sin(kx)
        return np.concatenate([ctx.c, ctx.s], axis=-1)

    def backward(ctx, g):
        G = len(ctx.k)
        return (np.sum(ctx.k * (-g[..., :G] * ctx.s + g[..., G:] * ctx.c), axis=-1),)


class FourierKANLayer(nn.Module):
    """Fourier-series KAN layer (official fourier_kan.py): φ_ji(x) = Σ_k a_jik cos kx + b_jik sin kx, plus the
    same silu residual c_ji and an output bias.  2G + 1 parameters per edge."""

    def __init__(self, in_dim, out_dim, grid=5, dtype=np.float32, rng=None):
        super().__init__()
        fn = "FourierKANLayer"
        i, o, G = _int("in_dim", in_dim, fn), _int("out_dim", out_dim, fn), _int("grid", grid, fn)
        rng = np.random.default_rng(rng)
        self.in_dim, self.out_dim, self.grid = i, o, G
        scale = 1.0 / np.sqrt(i * G)  # official: coefficients ~ N(0, 1/(in·G))
        self.coef = nn.Parameter((rng.standard_normal((o, i, 2 * G)) * scale).astype(dtype))
        self.base = nn.Parameter(np.full((o, i), 0.5, dtype=dtype))
        self.bias = nn.Parameter(np.zeros(o, dtype=dtype))

    def forward(self, x):
        x = x if isinstance(x, Tensor) else Tensor(x)
        if x.ndim != 2 or x.shape[1] != self.in_dim:
            raise ValueError(f"FourierKANLayer: input must be (B, {self.in_dim}), got {x.shape}")
        h = Harmonics.apply(x, G=self.grid)  # (B, in, 2G)
        B = x.shape[0]
        four = h.reshape(B, 1, self.in_dim, 2 * self.grid) * self.coef  # (B, out, in, 2G)
        res = self.base * ops.silu(x.reshape(B, 1, self.in_dim))
        return four.sum(axis=3).sum(axis=2) + res.sum(axis=2) + self.bias


class KAN(nn.Module):
    """A stack of KAN layers with widths `dims`; the input is scaled by `in_scale` (π maps [-1, 1] to [-π, π],
    the official Fourier KAN's grid range) before the first layer.  `kind` 'qkan' (trainable pre-processing),
    'qkan-fixed' (w = 1, b = 0) or 'fourier'; `size` is r (QKAN) or G (Fourier)."""

    def __init__(self, dims, kind="qkan", size=2, in_scale=np.pi, dtype=np.float32, rng=None):
        super().__init__()
        if kind not in ("qkan", "qkan-fixed", "fourier"):
            raise ValueError(f"KAN: `kind` must be 'qkan', 'qkan-fixed' or 'fourier', got {kind!r}")
        if len(dims) < 2:
            raise ValueError(f"KAN: `dims` needs ≥ 2 widths, got {dims!r}")
        rng = np.random.default_rng(rng)
        self.in_scale = float(in_scale)
        layers = []
        for a, c in zip(dims[:-1], dims[1:]):
            if kind == "fourier":
                layers.append(FourierKANLayer(a, c, grid=size, dtype=dtype, rng=rng))
            else:
                layers.append(
                    QKANLayer(a, c, reps=size, preact_trainable=kind == "qkan", dtype=dtype, rng=rng)
                )
        self.layers = nn.ModuleList(layers) if hasattr(nn, "ModuleList") else nn.Sequential(*layers)

    def forward(self, x):
        h = (x if isinstance(x, Tensor) else Tensor(x)) * self.in_scale
        for layer in self.layers:
            h = layer(h)
        return h


def n_params(module) -> int:
    """The number of trainable scalars of a module."""
    return int(sum(p.data.size for p in module.parameters()))
