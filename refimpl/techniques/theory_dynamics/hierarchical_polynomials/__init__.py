r"""Learning a hierarchical polynomial h = g ∘ p with a three-layer network trained layer by layer: the middle
layer first learns the hidden degree-k feature p from Õ(d^k) samples, then the top layer fits the one-dimensional
g — where a kernel method needs on the order of d^{kq} samples.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.

The target
----------
Gaussian inputs :math:`x \sim \mathcal N(0, I_d)`; a degree-2 feature :math:`p(x) = \beta^\top \psi(x)` over the
orthonormal degree-2 Hermite features (`hermite2_features`)

.. math::

    \psi(x) = \Big(\tfrac{x_j^2 - 1}{\sqrt 2}\Big)_{j} \,\cup\, \big(x_j x_l\big)_{j < l},\qquad
    D = \tfrac{d(d+1)}{2},\quad \lVert\beta\rVert = 1\ \Rightarrow\ \mathbb E p = 0,\ \mathbb E p^2 = 1,

and a univariate degree-q link, here :math:`g(z) = z^3` (q = 3, `link`): :math:`h = g(p)`.  (About 40 % of
Var h lies beyond degree 2 — a link dominated by its linear term would hand the task to any quadratic model.)

Layer-wise training (the three-layer network, reduced to its two learned layers)
--------------------------------------------------------------------------------
The first layer supplies degree-2 features (here exactly ψ; in the paper random features whose kernel contains
them).  Stage 1, the middle layer: one gradient step on the square loss from zero initialisation gives
(`learn_feature`)

.. math::

    \hat\beta = \frac{1}{n_1}\sum_{i} h(x_i)\,\psi(x_i) \;\xrightarrow{\;n_1\to\infty\;}\; c\,\beta,
    \qquad c = \mathbb E[g(p)\,p],

because the degree-2 part of :math:`h` is its projection on span ψ, which for this class is :math:`c\,p`: the
network has learned the feature, :math:`\hat p = \hat\beta^\top\psi`.  Stage 2, the top layer: a degree-q
polynomial of :math:`\hat p` fitted by least squares on fresh samples (`fit_link`).  The estimation noise of
:math:`\hat\beta` has covariance :math:`(\mathbb E[h^2\psi\psi^\top] - c^2\beta\beta^\top)/n_1`, so the learned feature
correlates with p as (`feature_alignment`, derived here; to first order)

.. math::

    \mathbb E\,\mathrm{corr}^2(\hat p, p) \approx \frac{c^2}{c^2 + (T - c^2)/n_1},\qquad T = \mathbb E\big[h^2\lVert\psi\rVert^2\big]:

the feature is recovered once :math:`n_1 \gg T/c^2 = O(D) = O(d^2)`, the paper's Õ(d^k) with k = 2.

What is reconstructed
---------------------
The target class, the layer-wise training, the Õ(d^k) feature-learning sample complexity against the kernel
methods' d^{kq}, are the paper's (abstract).  Its network (random first layer, ReLU-type activations, the exact
step sizes) and proofs were not read; the exact degree-2 first layer, the one-step feature estimate, the cubic
top-layer fit and the alignment formula are our reduction.

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/theory-dynamics/hierarchical-polynomials.ipynb
"""

from __future__ import annotations

import numpy as np

CATALOG_ENTRY = {
    "slug": "hierarchical-polynomials",
    "title": "Learning Hierarchical Polynomials with Three-Layer Neural Networks",
    "authors": "Zihao Wang, Eshaan Nichani, Jason D. Lee",
    "year": 2024,
    "arxiv": "2311.13774",
    "family": "theory-dynamics",
    "notebook": "notebooks/theory-dynamics/hierarchical-polynomials.ipynb",
    "verified": "reconstructed",
    "verification_note": "arXiv id and authors confirmed (ICLR 2024 poster page).  "
    "From the abstract: targets h = g ∘ p with p of degree k and g of degree q over Gaussian inputs, a three-layer "
    "network trained layer-wise learning p from Õ(d^k) samples, against Θ̃(d^{kq}) for kernel methods.  The "
    "network is reduced here to an exact degree-2 first layer, a one-step middle layer and a polynomial top layer; "
    "the alignment formula is derived here.",
    "summary": "A three-layer network trained layer by layer first learns the hidden polynomial feature p of a "
    "hierarchical target g(p(x)) from about d^k samples and then fits the one-dimensional g, beating kernel "
    "methods that must learn the whole degree-kq polynomial.",
    "equations": [
        "h(x) = g(p(x)),  p = βᵀψ(x),  ψ = degree-2 Hermite features, ‖β‖ = 1",
        "β̂ = (1/n₁) Σ_i h(x_i) ψ(x_i) → c β,  c = E[g(p) p]   (one gradient step on the middle layer)",
        "E corr²(β̂ᵀψ, p) ≈ c² / (c² + (T − c²)/n₁),  T = E[h² ‖ψ‖²]   (derived here)",
        "top layer: least-squares degree-q polynomial of p̂ = β̂ᵀψ",
    ],
}

__all__ = [
    "CATALOG_ENTRY",
    "hermite2_features",
    "link",
    "learn_feature",
    "fit_link",
    "predict",
    "feature_alignment",
    "polynomial_kernel_ridge",
]


def hermite2_features(X) -> np.ndarray:
    """ψ(x): (x_j² − 1)/√2 for each j, then x_j x_l for j < l — orthonormal under N(0, I); shape (n, d(d+1)/2)."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"`X` must be a 2-D array (samples, d), got shape {X.shape}")
    j, l = np.triu_indices(X.shape[1], 1)
    return np.hstack([(X**2 - 1) / np.sqrt(2), X[:, j] * X[:, l]])


def link(z) -> np.ndarray:
    """g(z) = z³."""
    return np.asarray(z, dtype=np.float64) ** 3


def learn_feature(Psi, h) -> np.ndarray:
    """β̂ = mean_i h_i ψ_i: one gradient step (unit step, square loss) on a zero-initialised middle layer."""
    Psi, h = np.asarray(Psi, float), np.asarray(h, float)
    if Psi.ndim != 2 or h.shape != (Psi.shape[0],):
        raise ValueError(f"`Psi` (n, D) and `h` (n,) must agree, got {Psi.shape} and {h.shape}")
    return Psi.T @ h / len(h)


def fit_link(z, h, degree: int = 3) -> np.ndarray:
    """Least-squares coefficients (highest power first) of a degree-`degree` polynomial of z."""
    if degree < 1:
        raise ValueError(f"`degree` must be ≥ 1, got {degree}")
    return np.linalg.lstsq(np.vander(np.asarray(z, float), degree + 1), np.asarray(h, float), rcond=None)[0]


def predict(Psi, beta_hat, scale: float, coef) -> np.ndarray:
    """The two learned layers: polyval(coef, ψᵀβ̂ / scale)."""
    return np.polyval(coef, np.asarray(Psi) @ beta_hat / scale)


def feature_alignment(c: float, T: float, n1: int) -> float:
    """c² / (c² + (T − c²)/n₁): the predicted squared correlation of the learned feature with p."""
    if n1 < 1 or T < c * c:
        raise ValueError(f"need `n1` ≥ 1 and `T` ≥ c², got {n1}, {T}, c² = {c * c}")
    return float(c * c / (c * c + (T - c * c) / n1))


def polynomial_kernel_ridge(X, y, X_test, degree: int, lam: float) -> np.ndarray:
    """Kernel ridge regression with k(x, z) = (1 + xᵀz/d)^degree: predictions at X_test."""
    X, X_test = np.asarray(X, float), np.asarray(X_test, float)
    d = X.shape[1]
    K = (1 + X @ X.T / d) ** degree
    alpha = np.linalg.solve(K + lam * len(X) * np.eye(len(X)), np.asarray(y, float))
    return ((1 + X_test @ X.T / d) ** degree) @ alpha
