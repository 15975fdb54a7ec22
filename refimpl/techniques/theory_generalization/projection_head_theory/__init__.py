r"""Why the representation *before* the projection head transfers better: in a two-layer linear encoder trained
with a spectral contrastive loss from small initialisation, each layer weights the input features progressively
more like the training objective does, and the pre-projection layer sits exactly half-way (a geometric mean)
between the input's weighting and the objective's.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.

The model
---------
Features :math:`k = 1 \dots K` with latent :math:`z_k \sim \mathcal N(0, 1)` enter the input along orthogonal directions
:math:`e_k` with scale :math:`a_k`; the other input directions hold only noise; every direction carries isotropic
noise of variance :math:`\sigma^2`.  An augmented view keeps feature k with correlation :math:`\rho_k`
(:math:`z_k^+ = \rho_k z_k + \sqrt{1-\rho_k^2}\,\xi`) and fresh noise.  The encoder is
:math:`f(x) = W_2 W_1 x` (:math:`W_1`: the encoder, :math:`W_2`: the projection head), trained on the spectral
contrastive loss, whose population value for a linear map :math:`W = W_2 W_1` is (`spectral_contrastive_loss`)

.. math::

    \mathcal L(W) = -2\,\mathbb E[f(x)^\top f(x^+)] + \mathbb E_{x, x'}\big[(f(x)^\top f(x'))^2\big]
                  = -2\,\mathrm{tr}(W T W^\top) + \mathrm{tr}\big((W\Sigma W^\top)^2\big),

with :math:`T = \mathbb E[x x^{+\top}] = \mathrm{diag}(a_k^2\rho_k, 0)` and :math:`\Sigma = \mathbb E[x x^\top] =
\mathrm{diag}(a_k^2 + \sigma^2, \sigma^2)` (`population_moments`).

The end-to-end optimum and the layer-wise weighting
---------------------------------------------------
With enough output dimensions the minimiser acts on feature k with gain (`optimal_gains`, derived here by
minimising :math:`-2 s^2 a^2\rho + s^4 (a^2 + \sigma^2)^2` per direction)

.. math::

    s_k = \|W e_k\| = \frac{a_k\sqrt{\rho_k}}{a_k^2 + \sigma^2},\qquad \text{noise directions: } 0.

Gradient descent from small initialisation keeps the layers balanced, :math:`W_1 W_1^\top - W_2^\top W_2 =` its
(tiny) initial value, so for each feature :math:`\|W_1 e_k\| = \sqrt{s_k}`.  The weight of feature k in a
representation (its gain times its input scale) is then

.. math::

    \text{input: } a_k,\qquad \text{pre-projection: } a_k\sqrt{s_k} = \sqrt{a_k \cdot a_k s_k},\qquad
    \text{output: } a_k s_k = \frac{a_k^2\sqrt{\rho_k}}{a_k^2 + \sigma^2}:

the output weights features by their invariance to augmentation (√ρ), the input by their scale, and the
pre-projection layer by the geometric mean of the two (`layer_weights`) — "progressive feature weighting".  A
feature that is strong in the input but destroyed by augmentation (small ρ) is nearly gone at the output and
still well represented before the head; one that is weak in the input but invariant is the reverse.

What is reconstructed
---------------------
From the abstract and public summaries only (no official code was found): a two-layer linear model, the
spectral contrastive loss, layer-wise progressive feature weighting through the training algorithm's implicit
bias, and the interplay of augmentation and input features.  The data model, the closed-form optimum, the
geometric-mean statement (from balancedness) and the population-gradient training are ours; the paper's
theorems and their conditions were not read.

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/theory-generalization/projection-head-theory.ipynb
"""

from __future__ import annotations

import numpy as np

CATALOG_ENTRY = {
    "slug": "projection-head-theory",
    "title": "Investigating the Benefits of Projection Head for Representation Learning",
    "authors": "Yihao Xue, Eric Gan, Jiayi Ni, Siddharth Joshi, Baharan Mirzasoleiman",
    "year": 2024,
    "arxiv": "2403.11391",
    "family": "theory-generalization",
    "notebook": "notebooks/theory-generalization/projection-head-theory.ipynb",
    "verified": "reconstructed",
    "verification_note": "arXiv id confirmed (ICLR 2024).  Only the abstract and public summaries were read; no "
    "official code was found.  The two-layer linear model with the spectral contrastive loss and the layer-wise "
    "progressive feature weighting are the paper's; the data model, the closed-form optimum, the geometric-mean "
    "form of the pre-projection weighting (from balancedness) and the training on the population loss are ours.",
    "summary": "Training implicitly balances the layers, so each layer weights features progressively more like the "
    "objective: the pre-projection representation keeps features the contrastive objective suppresses "
    "(destroyed by augmentation) that the projection head's output has nearly lost.",
    "equations": [
        "L(W) = −2 tr(W T Wᵀ) + tr((W Σ Wᵀ)²),  T = E[x x⁺ᵀ],  Σ = E[x xᵀ]   (spectral contrastive loss, linear f)",
        "s_k = ‖W e_k‖ = a_k √ρ_k / (a_k² + σ²)   (end-to-end optimum, derived here)",
        "W₁W₁ᵀ − W₂ᵀW₂ = const ≈ 0  ⇒  ‖W₁ e_k‖ = √s_k   (balancedness from small initialisation)",
        "weight of feature k: input a_k, pre-projection a_k √s_k = √(a_k · a_k s_k), output a_k s_k",
    ],
}

__all__ = [
    "CATALOG_ENTRY",
    "population_moments",
    "spectral_contrastive_loss",
    "loss_gradient",
    "optimal_gains",
    "layer_weights",
    "train_two_layer",
    "sample_views",
]


def _check(a, rho, sigma):
    a, rho = np.asarray(a, dtype=np.float64), np.asarray(rho, dtype=np.float64)
    if a.shape != rho.shape or a.ndim != 1:
        raise ValueError(f"`a` and `rho` must be 1-D of one length, got {a.shape} and {rho.shape}")
    if np.any(a <= 0) or np.any((rho < 0) | (rho > 1)) or sigma < 0:
        raise ValueError("`a` must be > 0, `rho` in [0, 1] and `sigma` ≥ 0")
    return a, rho


def population_moments(a, rho, sigma: float, n_noise: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(T, Σ): the cross-view moment E[x x⁺ᵀ] and the covariance E[x xᵀ], features first, then noise directions."""
    a, rho = _check(a, rho, sigma)
    T = np.diag(np.concatenate([a**2 * rho, np.zeros(n_noise)]))
    S = np.diag(np.concatenate([a**2 + sigma**2, np.full(n_noise, sigma**2)]))
    return T, S


def spectral_contrastive_loss(W, T, S) -> float:
    """−2 tr(W T Wᵀ) + tr((W Σ Wᵀ)²)."""
    G = W @ S @ W.T
    return float(-2 * np.trace(W @ T @ W.T) + np.sum(G * G))


def loss_gradient(W, T, S) -> np.ndarray:
    """∂L/∂W = −2 W (T + Tᵀ) + 4 (W Σ Wᵀ) W Σ."""
    return -2 * W @ (T + T.T) + 4 * (W @ S @ W.T) @ W @ S


def optimal_gains(a, rho, sigma: float) -> np.ndarray:
    """s_k = a_k √ρ_k / (a_k² + σ²): the minimiser's gain on each feature direction (enough output dimensions)."""
    a, rho = _check(a, rho, sigma)
    return a * np.sqrt(rho) / (a**2 + sigma**2)


def layer_weights(a, gains) -> dict:
    """The weight of each feature in the input, before the head (balanced: gain √s) and after it (gain s)."""
    a, s = np.asarray(a, dtype=np.float64), np.asarray(gains, dtype=np.float64)
    return {"input": a, "pre": a * np.sqrt(s), "post": a * s}


def train_two_layer(T, S, width: int, out_dim: int, init: float, lr: float, steps: int, rng):
    """Gradient descent on the population loss of W = W₂ W₁ from N(0, init²) weights; returns (W₁, W₂)."""
    d = T.shape[0]
    rng = np.random.default_rng(rng)
    W1, W2 = init * rng.normal(size=(width, d)), init * rng.normal(size=(out_dim, width))
    with np.errstate(over="ignore", invalid="ignore"):  # divergence is caught below and named
        for _ in range(steps):
            G = loss_gradient(W2 @ W1, T, S)
            W1, W2 = W1 - lr * (W2.T @ G), W2 - lr * (G @ W1.T)
            if not (np.all(np.isfinite(W1)) and np.all(np.isfinite(W2))):
                raise FloatingPointError(f"train_two_layer diverged at lr = {lr}; lower `lr`")
    return W1, W2


def sample_views(a, rho, sigma: float, n_noise: int, n: int, rng):
    """(x, x⁺, z): n inputs, their augmented views and the feature latents."""
    a, rho = _check(a, rho, sigma)
    rng = np.random.default_rng(rng)
    K = a.size
    z = rng.normal(size=(n, K))
    zp = rho * z + np.sqrt(1 - rho**2) * rng.normal(size=(n, K))
    pad = np.zeros((n, n_noise))
    x = np.hstack([a * z, pad]) + sigma * rng.normal(size=(n, K + n_noise))
    xp = np.hstack([a * zp, pad]) + sigma * rng.normal(size=(n, K + n_noise))
    return x, xp, z
