r"""Scalable Neural Network Kernels (SNNK): a feed-forward layer :math:`x \mapsto f(Wx)` is rewritten as a dot
product between random features of the *input* and random features of the *parameters*, so that inputs and
weights meet only in a final inner product.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.

The method
----------
**Disentangling a layer (Sec. "Scalable neural network kernels").**  For an activation f, find two random maps
:math:`\phi(\cdot,\omega)` and :math:`\psi(\cdot,\omega)` with

.. math::

    f(w^\top x) = \mathbb{E}_{\omega}\bigl[\phi(x,\omega)\,\psi(w,\omega)\bigr].

Drawing m samples :math:`\omega_1,\dots,\omega_m` once and stacking them gives finite features
:math:`\Phi(x) = m^{-1/2}[\phi(x,\omega_r)]_r` and :math:`\Psi(w) = m^{-1/2}[\psi(w,\omega_r)]_r`, and the layer
with output rows :math:`w_1,\dots,w_l` becomes

.. math::

    \mathrm{SNNK}(x) = \Psi(W)\,\Phi(x) \approx f(Wx),\qquad \Psi(W)\in\mathbb{R}^{l\times m}.

The Monte Carlo error of one entry has variance :math:`\mathrm{Var}[\phi\psi]/m`, so the error falls as
:math:`1/\sqrt m`.  After this rewrite :math:`\Psi(W)` is a plain :math:`l\times m` matrix; the official
``NNK`` modules initialise it from :math:`\Psi(W_0)` of the layer's weights and then train it freely, so the
layer has :math:`l\,m` trainable weights instead of :math:`l\,d` — fewer when m < d.

**f = exp: positive random features (exact).**  With :math:`\omega\sim\mathcal N(0, I_d)`,
:math:`\mathbb E[e^{\omega^\top(x+w)}] = e^{\|x+w\|^2/2}`, hence

.. math::

    e^{w^\top x} = \mathbb E_\omega\Bigl[e^{\omega^\top x - \|x\|^2/2}\; e^{\omega^\top w - \|w\|^2/2}\Bigr],
    \qquad \phi(x,\omega) = e^{\omega^\top x-\|x\|^2/2}, \ \psi = \phi .

Both features are positive, and :math:`\mathrm{Var}[\phi\psi] = e^{2 w^\top x}\,(e^{\|x+w\|^2}-1)`: the
relative error is small only when :math:`\|x+w\|` is moderate.  This is the official
``input_to_rfs_torch_vectorized`` with :math:`a(\xi)=A(\xi)=1` (``src/nnk/nnk.py``); the paper's universal
random features (URFs) build φ, ψ for a general f from its Fourier transform by the same Gaussian trick with
complex coefficients a(ξ), A(ξ) integrated over ξ — not implemented here.

**ReLU features (the official ``NNK_Relu``).**  :math:`\phi(x,\omega) = \max(\omega^\top x, 0)`, ψ = φ.  Their
expectation is the first-order arc-cosine kernel,

.. math::

    \mathbb E_\omega[\mathrm{relu}(\omega^\top x)\,\mathrm{relu}(\omega^\top w)] =
    \frac{\|x\|\|w\|}{2\pi}\bigl(\sin\theta + (\pi-\theta)\cos\theta\bigr),\quad \cos\theta = \frac{x^\top w}{\|x\|\|w\|},

so ReLU-SNNK approximates a kernel *between* x and w, not relu(wᵀx): a different function class (the paper's
"beyond dot products" point).  `exact_layer(kind="relu")` returns this kernel.

**Input normalisation.**  Following the official ``normalize=True`` option, `SNNKLayer` feeds
:math:`\hat x = x/\|x\|` (times a constant c) to the features: without it the PRF variance
:math:`e^{\|x+w\|^2}` explodes for hidden activations of a network.

What is read and what is ours
-----------------------------
Checked against the official code (``arijitthegame/neural-network-kernels``, ``src/nnk/nnk.py``): the PRF map
``exp(gᵀx − ‖x‖²/2)/√m`` with g ~ N(0, I), the ReLU map ``max(gᵀx, 0)/√m``, the module structure (features of
the input weights become a trainable (l, m) matrix; output = Φ(x) Ψᵀ), the row normalisation option.  The
paper's abstract was read; its full text was not available here, so the derivation is cited by section name
and code file, not by equation number, and the general URF construction and the "bundling" closed forms
are not implemented.  Ours: the bias, the small ε in the norm, the toy network (experiment.py).

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/architectures/snnk.ipynb
"""

from __future__ import annotations

import math

import numpy as np

from .... import nn
from ....autograd import ops
from ....autograd.tensor import Tensor

CATALOG_ENTRY = {
    "slug": "snnk",
    "title": "Scalable Neural Network Kernels",
    "authors": "Arijit Sehanobish, Krzysztof Choromanski, Yunfan Zhao, Avinava Dubey, Valerii Likhosherstov",
    "year": 2024,
    "arxiv": "2310.13225",
    "family": "architectures",
    "notebook": "notebooks/architectures/snnk.ipynb",
    "verified": "official-code",
    "verification_note": (
        "Checked against the official code (arijitthegame/neural-network-kernels, src/nnk/nnk.py): positive "
        "random features exp(gᵀx − ‖x‖²/2)/√m for f = exp (input_to_rfs_torch_vectorized with a = A = 1), "
        "ReLU features max(gᵀx, 0)/√m (NNK_Relu), the layer Φ(x) Ψᵀ with Ψ initialised from the features of "
        "the weights and then trained, optional row normalisation.  Abstract read (ICLR 2024); the full text "
        "was not available here, so no equation numbers; the general URF (Fourier) construction and bundling "
        "are not implemented.  Ours: bias, ε in the norm, the toy network."
    ),
    "summary": (
        "Replace a feed-forward layer f(Wx) by a dot product Ψ(W) Φ(x) of random features of the parameters "
        "and of the input, with E[φ(x,ω) ψ(w,ω)] = f(wᵀx) (exact for f = exp by positive random features). "
        "The Monte Carlo error falls as 1/√m; trained end to end, Ψ is an (l × m) matrix, fewer weights than "
        "(l × d) when m < d."
    ),
    "equations": [
        "f(wᵀx) = E_ω[φ(x, ω) ψ(w, ω)],  SNNK(x) = Ψ(W) Φ(x) with Φ(x) = m^{-1/2}[φ(x, ω_r)]_{r≤m}",
        "f = exp:  φ(x, ω) = ψ(x, ω) = exp(ωᵀx − ‖x‖²/2),  ω ~ N(0, I_d)",
        "Var[φψ] = e^{2wᵀx}(e^{‖x+w‖²} − 1):  error ∝ 1/√m",
        "ReLU-SNNK: φ = max(ωᵀx, 0) ⇒ E = ‖x‖‖w‖(sin θ + (π − θ) cos θ)/(2π)",
    ],
}

KINDS = ("exp", "relu")
EPS = 1e-12  # inside the row norm (a zero row would give 0/0; ours)


def _as_tensor(x):
    return x if isinstance(x, Tensor) else Tensor(np.asarray(x, dtype=np.float64))


def _check_kind(kind, fn):
    if kind not in KINDS:
        raise ValueError(f"{fn}: `kind` must be one of {KINDS}, got {kind!r}")


def draw_omegas(m: int, d: int, rng=None, dtype=np.float64) -> np.ndarray:
    """The m random directions ω_r ~ N(0, I_d), stacked as an (m, d) matrix G (drawn once, then fixed)."""
    for name, v in (("m", m), ("d", d)):
        if not (isinstance(v, (int, np.integer)) and v >= 1):
            raise ValueError(f"draw_omegas: `{name}` must be an integer ≥ 1, got {v!r}")
    return np.random.default_rng(rng).standard_normal((m, d)).astype(dtype)


def features(X, G, kind: str = "exp"):
    """Φ(X) = m^{-1/2}[φ(x, ω_r)]_r for every row x of X (…, d); G is (m, d).  Returns (…, m).
    'exp': exp(ωᵀx − ‖x‖²/2) (positive random features); 'relu': max(ωᵀx, 0)."""
    _check_kind(kind, "features")
    X = _as_tensor(X)
    G = np.asarray(G.data if isinstance(G, Tensor) else G)
    if G.ndim != 2 or X.shape[-1] != G.shape[1]:
        raise ValueError(
            f"features: `X` must end in d = G.shape[1] with `G` (m, d); got X {X.shape}, G {G.shape}"
        )
    m = G.shape[0]
    proj = X @ Tensor(G.T.astype(X.data.dtype))  # ωᵀx for every r
    if kind == "exp":
        sq = (X * X).sum(axis=-1, keepdims=True) * 0.5
        return ops.exp(proj - sq) * (1.0 / math.sqrt(m))
    return ops.relu(proj) * (1.0 / math.sqrt(m))


def snnk(X, W, G, kind: str = "exp"):
    """The SNNK estimate of the layer: Φ(X) Ψ(W)ᵀ, (…, d) × (l, d) → (…, l)."""
    W = _as_tensor(W)
    if W.ndim != 2:
        raise ValueError(f"snnk: `W` must be (l, d), got shape {W.shape}")
    return features(X, G, kind) @ features(W, G, kind).T


def exact_layer(X, W, kind: str = "exp") -> np.ndarray:
    """What SNNK estimates, in closed form (NumPy): exp(X Wᵀ) for 'exp', the arc-cosine kernel for 'relu'."""
    _check_kind(kind, "exact_layer")
    X, W = np.asarray(X, dtype=np.float64), np.asarray(W, dtype=np.float64)
    if kind == "exp":
        return np.exp(X @ W.T)
    nx = np.linalg.norm(X, axis=-1, keepdims=True)
    nw = np.linalg.norm(W, axis=-1)
    c = np.clip((X @ W.T) / np.maximum(nx * nw, EPS), -1.0, 1.0)
    th = np.arccos(c)
    return nx * nw * (np.sin(th) + (np.pi - th) * c) / (2 * np.pi)


def normalize_rows(x, c: float = 1.0):
    """c · x/‖x‖ on the last axis (the official ``normalize`` option), with ε under the root."""
    x = _as_tensor(x)
    return x / ((x * x).sum(axis=-1, keepdims=True) + EPS).sqrt() * c


class SNNKLayer(nn.Module):
    """A layer d_in → d_out computing Φ(c·x̂) Ψᵀ + b, with x̂ = x/‖x‖.  G (m, d_in) is fixed; Ψ (d_out, m) is
    trainable and starts at Ψ(W₀) for W₀ ~ N(0, I/d_in) (so at init it estimates exp(c·x̂ᵀW₀ᵀ) for 'exp')."""

    def __init__(
        self, d_in: int, d_out: int, m: int, *, kind: str = "exp", c: float = 1.0, rng=None, dtype=np.float32
    ):
        super().__init__()
        for name, v in (("d_in", d_in), ("d_out", d_out), ("m", m)):
            if not (isinstance(v, (int, np.integer)) and v >= 1):
                raise ValueError(f"SNNKLayer: `{name}` must be an integer ≥ 1, got {v!r}")
        _check_kind(kind, "SNNKLayer")
        g = np.random.default_rng(rng)
        self.kind, self.c = kind, float(c)
        W0 = g.standard_normal((d_out, d_in)) / math.sqrt(d_in)  # drawn first: ExpLayer draws the same W₀
        self.G = draw_omegas(m, d_in, g, np.float64)
        self.W0 = W0  # the weights whose layer Ψ starts from (kept for the approximation check)
        self.psi = nn.Parameter(features(W0, self.G, kind).data.astype(dtype))
        self.bias = nn.Parameter(np.zeros(d_out, dtype))

    def forward(self, x):
        x = _as_tensor(x)
        return (
            features(normalize_rows(x, self.c), self.G.astype(x.data.dtype), self.kind) @ self.psi.T
            + self.bias
        )


class ExpLayer(nn.Module):
    """The layer SNNK replaces: exp(c·x̂ Wᵀ) + b with a trainable W (d_out, d_in); for the same rng its W
    starts at SNNKLayer's W₀."""

    def __init__(self, d_in: int, d_out: int, *, c: float = 1.0, rng=None, dtype=np.float32):
        super().__init__()
        g = np.random.default_rng(rng)
        self.c = float(c)
        self.weight = nn.Parameter((g.standard_normal((d_out, d_in)) / math.sqrt(d_in)).astype(dtype))
        self.bias = nn.Parameter(np.zeros(d_out, dtype))

    def forward(self, x):
        return ops.exp(normalize_rows(x, self.c) @ self.weight.T) + self.bias


class Net(nn.Module):
    """The toy regressor d → GELU(Linear(d, H)) → [layer H → H] → Linear(H, 1); the middle layer is the exact
    exp layer (`ExpLayer`) or its SNNK with m features (`SNNKLayer`)."""

    def __init__(self, d: int, H: int, m: int | None = None, *, rng=None, dtype=np.float32):
        super().__init__()
        g = np.random.default_rng(rng)
        self.W1 = nn.Parameter((g.standard_normal((d, H)) / math.sqrt(d)).astype(dtype))
        self.b1 = nn.Parameter(np.zeros(H, dtype))
        sub = int(g.integers(2**31))
        self.mid = (
            ExpLayer(H, H, rng=sub, dtype=dtype) if m is None else SNNKLayer(H, H, m, rng=sub, dtype=dtype)
        )
        self.W3 = nn.Parameter((g.standard_normal((H, 1)) / math.sqrt(H)).astype(dtype))
        self.b3 = nn.Parameter(np.zeros(1, dtype))

    def forward(self, x):
        x = _as_tensor(x)
        h = ops.gelu(x @ self.W1 + self.b1)
        return (self.mid(h) @ self.W3).reshape(x.shape[0]) + self.b3
