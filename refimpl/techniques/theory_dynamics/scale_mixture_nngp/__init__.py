r"""Scale mixtures of NNGPs: an infinitely wide network whose last-layer weight variance is itself random
(inverse-gamma) is not a Gaussian process but a Student-t process — the same posterior mean as the NNGP,
heavier-tailed predictions whose scale adapts to the data.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.

From a wide network to a t-process
----------------------------------
A one-hidden-layer ReLU network :math:`f(x) = \frac{1}{\sqrt m}\sum_j v_j\,\mathrm{relu}(w_j^\top\tilde x)` with
:math:`w_j \sim \mathcal N(0, I)` and :math:`\tilde x = (x, 1)` (a bias input) tends, as m → ∞ with
:math:`v_j \sim \mathcal N(0, \sigma^2)`, to the NNGP :math:`f \sim \mathcal{GP}(0, \sigma^2 k)` with the first
arc-cosine kernel :math:`k(x,x') = \lVert\tilde x\rVert\lVert\tilde x'\rVert(\sin\vartheta + (\pi-\vartheta)\cos\vartheta)/2\pi`
(`nngp_kernel`).  The paper's step: put a prior on the last layer's scale, :math:`\sigma^2 \sim
\mathrm{InvGamma}(a, b)`.  Then f is a *scale mixture* of Gaussian processes — marginally a Student-t process
with :math:`2a` degrees of freedom and scale :math:`(b/a)\,k` (`sample_wide_networks` draws it from actual
networks).

Regression, in closed form
--------------------------
With observation noise on the same scale, :math:`y \mid \sigma^2 \sim \mathcal N(0, \sigma^2 C)`,
:math:`C = K + s^2 I`, the posterior of the scale is again inverse-gamma,
:math:`\sigma^2 \mid y \sim \mathrm{InvGamma}(a + n/2,\ b + y^\top C^{-1}y/2)`, and the predictive at a new
input is a Student-t (`t_process_predict`):

.. math::

    y_\ast \mid y \sim t_{2a+n}\Big(k_\ast^\top C^{-1}y,\ \ \frac{b + y^\top C^{-1}y/2}{a + n/2}\,
        \big(k_{\ast\ast} + s^2 - k_\ast^\top C^{-1}k_\ast\big)\Big).

The mean is the GP's (`gp_predict`, with a fixed σ²); what changes is the spread: it is rescaled by how large
the data turned out to be (:math:`y^\top C^{-1}y/n`), and its tails are t-shaped, so a surprising test point costs
less log-likelihood.

What is reconstructed
---------------------
The construction (NNGP with an inverse-gamma last-layer scale, Student-t process, closed-form posterior) is the
paper's as the catalogue summarises it; the full text was not read, so the formulas above are the standard
Student-t-process algebra written out here and checked by simulation.  One hidden layer and the conjugate noise
scaling are our choices.

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/theory-dynamics/scale-mixture-nngp.ipynb
"""

from __future__ import annotations

import numpy as np
from scipy.special import gammaln

from ..kernels import arc_cosine

CATALOG_ENTRY = {
    "slug": "scale-mixture-nngp",
    "title": "Scale Mixtures of Neural Network Gaussian Processes",
    "authors": "Hyungi Lee, Eunggu Yun, Hongseok Yang, Juho Lee",
    "year": 2021,
    "arxiv": "2107.01408",
    "family": "theory-dynamics",
    "notebook": "notebooks/theory-dynamics/scale-mixture-nngp.ipynb",
    "verified": "reconstructed",
    "verification_note": "arXiv id marked unconfirmed in the catalogue; confirmed here from the title and "
    "abstract (ICLR 2022).  The full text was not read: the Student-t process, its inverse-gamma posterior and "
    "predictive are standard conjugate algebra written out in the docstring and checked against simulated "
    "wide networks and against the Gaussian limit a → ∞.  One hidden ReLU layer with a bias input and the "
    "noise scaled with σ² are our choices.",
    "summary": "An infinitely wide network whose last-layer weight variance has an inverse-gamma prior is a "
    "Student-t process: the NNGP's posterior mean with a data-adapted, heavy-tailed predictive spread, robust "
    "where the Gaussian process is over-confident.",
    "equations": [
        "f(x) = (1/√m) Σ_j v_j relu(w_jᵀx̃),  v_j ~ N(0, σ²),  σ² ~ InvGamma(a, b)   (scale-mixture network)",
        "f | σ² ~ GP(0, σ² k),  k = arc-cosine kernel   (NNGP limit)",
        "f ~ TP(2a, 0, (b/a) k)   (Student-t process: the scale mixture)",
        "σ² | y ~ InvGamma(a + n/2, b + yᵀC⁻¹y/2),  C = K + s²I   (conjugate posterior)",
        "y* | y ~ t_{2a+n}(k*ᵀC⁻¹y, (b + yᵀC⁻¹y/2)/(a + n/2) · (k** + s² − k*ᵀC⁻¹k*))   (predictive)",
    ],
}

__all__ = [
    "CATALOG_ENTRY",
    "nngp_kernel",
    "sample_wide_networks",
    "gp_predict",
    "t_process_predict",
    "gaussian_nll",
    "student_t_nll",
]


def _with_bias(x):
    x = np.atleast_2d(np.asarray(x, dtype=np.float64).T).T
    return np.concatenate([x, np.ones((len(x), 1))], axis=1)


def nngp_kernel(x, z=None) -> np.ndarray:
    """E_w[relu(wᵀx̃) relu(wᵀz̃)], x̃ = (x, 1): the one-hidden-layer ReLU NNGP kernel (first arc-cosine,
    `..kernels.arc_cosine`)."""
    return arc_cosine(_with_bias(x), None if z is None else _with_bias(z))[1]


def _positive(name, value):
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"`{name}` must be > 0, got {value}")
    return float(value)


def sample_wide_networks(x, n_networks: int, width: int, *, a: float, b: float, rng=None) -> np.ndarray:
    """Outputs (n_networks, len(x)) of random width-m networks with σ² ~ InvGamma(a, b) per network and
    v_j ~ N(0, σ²) — the simulation whose limit is the Student-t process."""
    a, b = _positive("a", a), _positive("b", b)
    rng = np.random.default_rng(rng)
    X = _with_bias(x)
    out = np.empty((int(n_networks), len(X)))
    for k in range(int(n_networks)):
        sigma2 = b / rng.gamma(a)  # 1/Gamma(a, rate b) is InvGamma(a, b)
        W = rng.normal(size=(int(width), X.shape[1]))
        v = rng.normal(0.0, np.sqrt(sigma2), size=int(width))
        out[k] = np.maximum(X @ W.T, 0.0) @ v / np.sqrt(width)
    return out


def _posterior_parts(K, K_star, k_star_diag, y, noise):
    C = np.asarray(K, dtype=np.float64) + noise * np.eye(len(K))
    L = np.linalg.cholesky(C)
    alpha = np.linalg.solve(L.T, np.linalg.solve(L, np.asarray(y, dtype=np.float64)))
    V = np.linalg.solve(L, np.asarray(K_star, dtype=np.float64).T)
    mean = np.asarray(K_star) @ alpha
    var = np.asarray(k_star_diag) + noise - np.sum(V**2, axis=0)
    return mean, var, float(np.asarray(y) @ alpha)


def gp_predict(K, K_star, k_star_diag, y, *, noise: float, scale: float = 1.0) -> tuple:
    """NNGP regression with kernel scale·k and noise scale·s²: predictive mean and variance of y*."""
    noise, scale = _positive("noise", noise), _positive("scale", scale)
    mean, var, _ = _posterior_parts(K, K_star, k_star_diag, y, noise)
    return mean, scale * var


def t_process_predict(K, K_star, k_star_diag, y, *, noise: float, a: float, b: float) -> tuple:
    """The scale mixture's predictive: (mean, squared scale, degrees of freedom) of the Student-t for y*."""
    noise, a, b = _positive("noise", noise), _positive("a", a), _positive("b", b)
    mean, var, quad = _posterior_parts(K, K_star, k_star_diag, y, noise)
    n = len(K)
    return mean, (b + quad / 2) / (a + n / 2) * var, 2 * a + n


def gaussian_nll(y, mean, var) -> np.ndarray:
    """−log N(y; mean, var) per point."""
    var = np.asarray(var, dtype=np.float64)
    return 0.5 * (np.log(2 * np.pi * var) + (np.asarray(y) - np.asarray(mean)) ** 2 / var)


def student_t_nll(y, mean, scale2, dof) -> np.ndarray:
    """−log t_ν(y; mean, scale²) per point."""
    nu, s2 = float(dof), np.asarray(scale2, dtype=np.float64)
    z2 = (np.asarray(y) - np.asarray(mean)) ** 2 / s2
    return -(
        gammaln((nu + 1) / 2)
        - gammaln(nu / 2)
        - 0.5 * np.log(nu * np.pi * s2)
        - (nu + 1) / 2 * np.log1p(z2 / nu)
    )
