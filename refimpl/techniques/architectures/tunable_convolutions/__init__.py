r"""Tunable convolutions: a convolution holds P kernels and P biases and mixes them with a control vector ω on
the simplex; the same ω weights P training objectives, so that each kernel is pushed towards its own
objective and, at inference, ω becomes a knob that trades the objectives without retraining.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.

The method
----------
**Tunable convolution (Sec. 3.1–3.2, Fig. 2).**  A layer with P kernels :math:`K_1,\dots,K_P` and biases
:math:`b_1,\dots,b_P` (each of an ordinary convolution's shape) and a control
:math:`\omega\in\Delta^{P-1}=\{\omega\ge 0,\ \sum_p\omega_p=1\}` computes

.. math::

    \hat K(\omega) = \sum_{p=1}^{P}\omega_p K_p,\qquad \hat b(\omega)=\sum_{p=1}^{P}\omega_p b_p,\qquad
    y = \hat K(\omega) * x + \hat b(\omega).

Convolution is linear in the kernel, so :math:`y=\sum_p\omega_p\,(K_p*x+b_p)`: mixing the kernels first costs
one convolution, not P (the "virtually no extra cost" of the paper), and the layer's output is affine in ω
(`tunable_conv1d`; the reference cases pin this identity).  A network of such layers with nonlinearities in
between is no longer affine in ω — only each layer is.  ω is shared by every tunable layer of the network.

**Parametric multi-loss (Sec. 3.2).**  Given P objectives :math:`\mathcal L_1,\dots,\mathcal L_P` (one per
kernel), training minimises, for a control drawn at random per step,

.. math::

    \mathcal L(\omega) = \sum_{p=1}^{P}\omega_p\,\mathcal L_p\bigl(f(x;\omega),\,y\bigr),
    \qquad \omega\sim\mathcal U(\Delta^{P-1}),

so every point of the simplex — and hence every combination of objectives — is optimised explicitly.  At a
vertex :math:`\omega=e_p` only kernel set p is used and only objective p is trained, which is what ties each
kernel to its objective ("disentangles" them).  At inference ω is the user's input.

What is read and what is ours
-----------------------------
The paper's full text (beyond its abstract, introduction and the caption of Fig. 2) and its code were not
available here, so equations are cited by section, and this is **reconstructed**: the kernel and bias
mixtures with one shared ω, the matching mixture of objectives, and ω sampled at random during training are
stated in the abstract and Fig. 2.  Assumed: ω uniform on the simplex (a flat Dirichlet, `sample_simplex`)
and one ω per minibatch; ω is validated to lie on the simplex (`omega`).  Ours: the 1-D residual denoiser
(`TunableDenoiser`: three tunable conv layers, ReLU, output added to the input), the initialisation
(each kernel set He-scaled, drawn independently) and the toy of `experiment.py`.  Whether the layer belongs
in `refimpl.nn`: it is general (any convolution can be made tunable), but it is kept here until a second
technique needs it.

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/architectures/tunable-convolutions.ipynb
"""

from __future__ import annotations

import math

import numpy as np

from .... import nn
from ....autograd.tensor import Tensor
from ....nn import functional as F

CATALOG_ENTRY = {
    "slug": "tunable-convolutions",
    "title": "Tunable Convolutions with Parametric Multi-Loss Optimization",
    "authors": "Matteo Maggioni, Thomas Tanay, Francesca Babiloni, Steven McDonagh, Aleš Leonardis",
    "year": 2023,
    "arxiv": "2304.00898",
    "family": "architectures",
    "notebook": "notebooks/architectures/tunable-convolutions.ipynb",
    "verified": "reconstructed",
    "verification_note": (
        "Reconstructed from the abstract, introduction and Fig. 2 of the paper (CVPR 2023); the full text and "
        "code were not available, so formulas are cited by section.  Read: P kernels and biases mixed by a "
        "shared control ω, the same ω weighting P objectives, ω sampled at random in training and given by "
        "the user at inference.  Assumed: ω uniform on the simplex (flat Dirichlet), one ω per minibatch.  "
        "Ours: the 1-D residual denoiser, initialisation and toy."
    ),
    "summary": (
        "A tunable convolution holds P kernels and biases and uses K(ω) = Σ ω_p K_p, b(ω) = Σ ω_p b_p for a "
        "control ω on the simplex; training draws ω at random and minimises the matching mixture of P "
        "objectives Σ ω_p L_p, so at inference ω trades the objectives without retraining.  Convolution is "
        "linear in the kernel, so the mixture costs one convolution."
    ),
    "equations": [
        "K̂(ω) = Σ_p ω_p K_p,  b̂(ω) = Σ_p ω_p b_p,  ω ∈ Δ^{P−1}  (Sec. 3.2)",
        "y = K̂(ω) * x + b̂(ω) = Σ_p ω_p (K_p * x + b_p)  (linearity of convolution)",
        "L(ω) = Σ_p ω_p L_p(f(x; ω), y),  ω ~ U(Δ^{P−1}) per training step  (Sec. 3.2)",
    ],
}

SIMPLEX_TOL = 1e-9


def omega(w, P: int | None = None, fn: str = "omega") -> np.ndarray:
    """ω as a float64 vector, checked to lie on the simplex (≥ 0, Σ = 1) and, if P is given, to have P entries."""
    w = np.asarray(w, dtype=np.float64)
    if w.ndim != 1 or w.size == 0:
        raise ValueError(f"{fn}: `omega` must be a non-empty 1-D vector, got shape {w.shape}")
    if P is not None and w.size != P:
        raise ValueError(f"{fn}: `omega` must have P = {P} entries (one per kernel), got {w.size}")
    if not np.all(np.isfinite(w)) or w.min() < 0 or abs(w.sum() - 1.0) > SIMPLEX_TOL:
        raise ValueError(
            f"{fn}: `omega` must lie on the simplex (entries ≥ 0 summing to 1), got {w.tolist()}"
        )
    return w


def sample_simplex(rng, P: int, size: int | None = None) -> np.ndarray:
    """ω ~ U(Δ^{P−1}), the flat Dirichlet (assumed, Sec. 3.2): normalised i.i.d. Exp(1) draws.  Shape (P,) or
    (size, P)."""
    if not (isinstance(P, (int, np.integer)) and P >= 1):
        raise ValueError(f"sample_simplex: `P` must be an integer ≥ 1, got {P!r}")
    g = np.random.default_rng(rng)
    e = g.standard_exponential((P,) if size is None else (int(size), P))
    return e / e.sum(axis=-1, keepdims=True)


def _as_tensor(x):
    return x if isinstance(x, Tensor) else Tensor(np.asarray(x, dtype=np.float64))


def mix(params, w):
    """Σ_p ω_p θ_p over the leading axis of `params` (P, …): the tunable kernel or bias (Sec. 3.2)."""
    params = _as_tensor(params)
    w = omega(w, params.shape[0], "mix")
    shape = (params.shape[0],) + (1,) * (params.ndim - 1)
    return (params * Tensor(w.reshape(shape).astype(params.data.dtype))).sum(axis=0)


def tunable_conv1d(x, kernels, biases, w, padding: int = 0):
    """y = K̂(ω) * x + b̂(ω) for x (N, C, L), kernels (P, O, C, k), biases (P, O) (Sec. 3.2)."""
    kernels, biases = _as_tensor(kernels), _as_tensor(biases)
    if kernels.ndim != 4 or biases.ndim != 2 or biases.shape != kernels.shape[:2]:
        raise ValueError(
            "tunable_conv1d: `kernels` must be (P, O, C, k) and `biases` (P, O), got "
            f"{kernels.shape} and {biases.shape}"
        )
    return F.conv1d(_as_tensor(x), mix(kernels, w), mix(biases, w), padding=padding)


def multi_loss(losses, w):
    """L(ω) = Σ_p ω_p L_p: the parametric multi-loss (Sec. 3.2); `losses` is a sequence of P scalar Tensors."""
    losses = list(losses)
    w = omega(w, len(losses), "multi_loss")
    total = None
    for wp, lp in zip(w, losses):
        term = lp * float(wp)
        total = term if total is None else total + term
    return total


class TunableConv1d(nn.Module):
    """A 1-D convolution with P kernel sets mixed by ω (`tunable_conv1d`); 'same' padding for odd k.  ω is
    given to `forward` or, if omitted, read from `self.omega` (default: the simplex centre)."""

    def __init__(self, c_in: int, c_out: int, k: int, P: int, *, rng=None, dtype=np.float32):
        super().__init__()
        for name, v in (("c_in", c_in), ("c_out", c_out), ("P", P)):
            if not (isinstance(v, (int, np.integer)) and v >= 1):
                raise ValueError(f"TunableConv1d: `{name}` must be an integer ≥ 1, got {v!r}")
        if not (isinstance(k, (int, np.integer)) and k >= 1 and k % 2 == 1):
            raise ValueError(f"TunableConv1d: `k` must be an odd integer ≥ 1, got {k!r}")
        g = np.random.default_rng(rng)
        std = math.sqrt(2.0 / (c_in * k))  # He scale for each kernel set (ours)
        self.P, self.padding = int(P), k // 2
        self.kernels = nn.Parameter((g.standard_normal((P, c_out, c_in, k)) * std).astype(dtype))
        self.biases = nn.Parameter((g.standard_normal((P, c_out)) * 0.01).astype(dtype))
        self.omega = np.full(P, 1.0 / P)

    def forward(self, x, w=None):
        return tunable_conv1d(x, self.kernels, self.biases, self.omega if w is None else w, self.padding)


class TunableDenoiser(nn.Module):
    """The toy network (ours): signals (N, L) → (N, L), three TunableConv1d layers 1 → width → width → 1 with
    ReLU between, the output added to the input (a residual denoiser).  One ω drives every layer.  P = 1 is
    an ordinary (untunable) convolutional network of the same shape."""

    def __init__(self, width: int = 8, k: int = 5, P: int = 2, *, rng=None, dtype=np.float32):
        super().__init__()
        seed = 0 if rng is None else rng
        self.P = int(P)
        self.c1 = TunableConv1d(1, width, k, P, rng=[seed, 1], dtype=dtype)
        self.c2 = TunableConv1d(width, width, k, P, rng=[seed, 2], dtype=dtype)
        self.c3 = TunableConv1d(width, 1, k, P, rng=[seed, 3], dtype=dtype)
        self.omega = np.full(self.P, 1.0 / self.P)

    def forward(self, x, w=None):
        x = _as_tensor(x)
        if x.ndim != 2:
            raise ValueError(f"TunableDenoiser: `x` must be (N, L) signals, got shape {x.shape}")
        w = omega(self.omega if w is None else w, self.P, "TunableDenoiser")
        h = x.reshape(x.shape[0], 1, x.shape[1])
        h = self.c1(h, w).relu()
        h = self.c2(h, w).relu()
        h = self.c3(h, w)
        return x + h.reshape(x.shape[0], x.shape[1])


def n_parameters(model) -> int:
    return int(sum(p.data.size for _, p in model.named_parameters()))
