r"""More is better: in random-feature ridge regression, with the ridge tuned, more features never hurt, the
infinite-feature limit (kernel ridge regression) is best, and on natural, power-law-structured tasks the
best ridge is so small that the model fits its training data far better than its test data.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.

The model
---------
N random ReLU features of the input, :math:`\phi(x) = \mathrm{relu}(Wx)/\sqrt N` with :math:`W_{ij}\sim\mathcal N(0,1)`,
and a linear readout fitted by ridge regression on n examples (`rf_ridge`):

.. math::

    \hat a = (\Phi^\top\Phi + \delta I)^{-1}\Phi^\top y,\qquad \hat f(x) = \phi(x)^\top\hat a .

As N → ∞ the feature kernel :math:`\phi(x)^\top\phi(x')` tends to the first arc-cosine kernel
:math:`k(x,x') = \lVert x\rVert\lVert x'\rVert\,(\sin\vartheta + (\pi-\vartheta)\cos\vartheta)/(2\pi)` (`relu_kernel`), and the
model becomes kernel ridge regression with k (`krr`).  The paper's Theorem 1 (as summarised in the catalogue):
with δ tuned, the test risk falls monotonically in N (and in n), so the infinite-feature limit is optimal.

The omniscient risk estimate
----------------------------
Kernel ridge regression's test error has a closed-form estimate in the kernel's eigensystem — eigenvalues
:math:`\lambda_i` of the integral operator on the data distribution, target coefficients :math:`v_i` in its
orthonormal eigenfunctions, noise :math:`\sigma^2` ("omniscient" because it needs the true
:math:`\lambda_i, v_i`; `omniscient_risk`).  With the *effective regularization* κ solving

.. math::

    \sum_i \frac{\lambda_i}{\lambda_i+\kappa} + \frac{\delta}{\kappa} = n,\qquad
    \mathcal L_i = \frac{\lambda_i}{\lambda_i+\kappa},\qquad
    \mathcal E_0 = \frac{n}{n-\sum_i\mathcal L_i^2},

the expected test MSE (on noisy labels) is
:math:`\mathcal E_0\big(\sum_i(1-\mathcal L_i)^2v_i^2 + \sigma^2\big)` and the training MSE is
:math:`(\delta/(n\kappa))^2` times it.  (This is the eigenlearning / kernel-alignment estimator of Jacot
et al. 2020, Bordelon et al. 2020 and Simon et al. 2021, which the paper builds on; we take it in that form.)
Its last formula is the point of "overfitting is obligatory": when the best δ is small, κ stays near its
floor set by the spectrum, δ/(nκ) ≪ 1 and the training error is a small fraction of the test error.

We estimate :math:`\lambda_i, v_i` by the Nyström method: the eigendecomposition of the kernel matrix on M
fresh inputs, :math:`\lambda_i \approx \mathrm{eig}_i(K_M)/M` and :math:`v_i \approx u_i^\top f^*(X_M)/\sqrt M`
(`nystrom_eigensystem`).

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/theory-dynamics/rf-more-is-better.ipynb
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import brentq

from ..kernels import arc_cosine

CATALOG_ENTRY = {
    "slug": "rf-more-is-better",
    "title": "More is Better in Modern Machine Learning: when Infinite Overparameterization is Optimal and "
    "Overfitting is Obligatory",
    "authors": "James B. Simon, Dhruva Karkada, Nikhil Ghosh, Mikhail Belkin",
    "year": 2023,
    "arxiv": "2311.14646",
    "family": "theory-dynamics",
    "notebook": "notebooks/theory-dynamics/rf-more-is-better.ipynb",
    "verified": "reconstructed",
    "verification_note": "Paper confirmed (arXiv 2311.14646, ICLR 2024) from its abstract and the catalogue's "
    "summary: with optimally tuned ridge, random-feature regression's test risk falls monotonically in the "
    "number of features and samples; on power-law tasks the optimal ridge is small and training error ≪ test "
    "error.  The full text was not read; the risk estimate used is the kernel (N → ∞) eigenlearning "
    "estimator the paper builds on, written out in the docstring, not the paper's finite-N random-feature "
    "formula.  ReLU features, inputs on the sphere and the teacher are our choices.",
    "summary": "Random-feature ridge regression with the ridge tuned on validation data: more features never "
    "hurt and the infinite-feature kernel limit is best; on power-law-structured tasks the best ridge is "
    "small, so the model fits its training set much better than its test set — overfitting is obligatory.",
    "equations": [
        "φ(x) = relu(Wx)/√N,  â = (ΦᵀΦ + δI)⁻¹Φᵀy   (random-feature ridge regression)",
        "k(x, x') = ‖x‖‖x'‖ (sin ϑ + (π − ϑ) cos ϑ)/(2π)   (N → ∞: the arc-cosine kernel)",
        "Σ_i λ_i/(λ_i + κ) + δ/κ = n,  𝓛_i = λ_i/(λ_i + κ),  𝓔₀ = n/(n − Σ_i 𝓛_i²)   (effective ridge κ)",
        "test MSE ≈ 𝓔₀ (Σ_i (1 − 𝓛_i)² v_i² + σ²),  train MSE ≈ (δ/(nκ))² · test MSE   (omniscient risk)",
    ],
}

__all__ = [
    "CATALOG_ENTRY",
    "sphere",
    "relu_features",
    "relu_kernel",
    "rf_ridge",
    "krr",
    "nystrom_eigensystem",
    "effective_ridge",
    "omniscient_risk",
]


def sphere(n: int, dim: int, rng) -> np.ndarray:
    """n points uniform on the unit sphere in R^dim."""
    x = np.random.default_rng(rng).normal(size=(int(n), int(dim)))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def relu_features(X, W) -> np.ndarray:
    """φ(X) = relu(X Wᵀ)/√N for N = len(W) random directions."""
    return np.maximum(np.asarray(X) @ np.asarray(W).T, 0.0) / np.sqrt(len(W))


def relu_kernel(X, Z=None) -> np.ndarray:
    """E_w[relu(wᵀx) relu(wᵀz)] for w ~ N(0, I): the first arc-cosine kernel (`..kernels.arc_cosine`)."""
    return arc_cosine(X, Z)[1]


def _ridge(name, delta):
    delta = float(delta)
    if not np.isfinite(delta) or delta < 0:
        raise ValueError(f"`{name}` must be ≥ 0, got {delta}")
    return delta


def rf_ridge(Phi, y, delta: float) -> np.ndarray:
    """The ridge readout â = (ΦᵀΦ + δI)⁻¹Φᵀy, solved in whichever of the two equivalent forms is smaller."""
    Phi, y, delta = np.asarray(Phi, dtype=np.float64), np.asarray(y, dtype=np.float64), _ridge("delta", delta)
    n, N = Phi.shape
    if N <= n:
        return np.linalg.solve(Phi.T @ Phi + delta * np.eye(N), Phi.T @ y)
    return Phi.T @ np.linalg.solve(Phi @ Phi.T + delta * np.eye(n), y)


def krr(K_train, K_test_train, y, delta: float) -> np.ndarray:
    """Kernel ridge regression predictions k(Z, X)(K + δI)⁻¹y."""
    delta = _ridge("delta", delta)
    K = np.asarray(K_train, dtype=np.float64)
    return np.asarray(K_test_train) @ np.linalg.solve(
        K + delta * np.eye(len(K)), np.asarray(y, dtype=np.float64)
    )


def nystrom_eigensystem(K_M, f_M) -> tuple:
    """(λ_i, v_i), largest first: eigenvalues of the kernel's integral operator and the target's coefficients
    in its orthonormal eigenfunctions, estimated from the kernel matrix K_M and target values f_M on M samples."""
    K_M, f_M = np.asarray(K_M, dtype=np.float64), np.asarray(f_M, dtype=np.float64)
    M = len(K_M)
    evals, U = np.linalg.eigh(K_M)
    order = np.argsort(evals)[::-1]
    lam = np.clip(evals[order], 0.0, None) / M
    v = U[:, order].T @ f_M / np.sqrt(M)
    return lam, v


def effective_ridge(lam, n: int, delta: float) -> float:
    """κ > 0 solving Σ_i λ_i/(λ_i + κ) + δ/κ = n (exists when δ > 0, or when more than n eigenvalues are > 0)."""
    lam, delta = np.asarray(lam, dtype=np.float64), _ridge("delta", delta)
    if int(n) < 1:
        raise ValueError(f"`n` must be ≥ 1, got {n}")

    def excess(kappa):
        return np.sum(lam / (lam + kappa)) + delta / kappa - n

    lo, hi = 1e-300, 1.0
    while excess(hi) > 0:
        hi *= 2
    if excess(lo) < 0:
        raise ValueError(
            f"effective_ridge: no κ > 0 for n = {n} with δ = 0 and {np.sum(lam > 0)} nonzero eigenvalues"
        )
    return float(brentq(excess, lo, hi, xtol=1e-300, rtol=1e-14, maxiter=500))


def omniscient_risk(lam, v, n: int, delta: float, noise_var: float) -> dict:
    """The eigenframework's expected test and train MSE of kernel ridge regression (module docstring)."""
    lam, v = np.asarray(lam, dtype=np.float64), np.asarray(v, dtype=np.float64)
    kappa = effective_ridge(lam, n, delta)
    L = lam / (lam + kappa)
    e0 = n / (n - np.sum(L**2))
    test = e0 * (np.sum((1 - L) ** 2 * v**2) + noise_var)
    return {"kappa": kappa, "e0": e0, "test": float(test), "train": float((delta / (n * kappa)) ** 2 * test)}
