r"""Robust low-rank matrix recovery by the sub-gradient method: with an ℓ1 loss, a small initialization and
geometrically decaying steps, a factorization :math:`UU^\top` with more columns than the true rank still
converges to the true matrix, even when a fraction of the measurements are grossly corrupted.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.

The problem
-----------
A positive semidefinite :math:`X^\star = U^\star U^{\star\top}` of rank r in :math:`\mathbb R^{d\times d}` is measured
through m random matrices, :math:`y_i = \langle A_i, X^\star\rangle + s_i`, where a fraction p of the
:math:`s_i` are gross outliers (and the rest small noise).  The model is over-parameterized:
:math:`U\in\mathbb R^{d\times r'}` with :math:`r' > r`, and the loss is the mean absolute residual

.. math::

    f(U) = \frac1m\sum_{i=1}^m \big|\langle A_i, UU^\top\rangle - y_i\big| ,\qquad
    \partial f(U) \ni \frac1m\sum_i \mathrm{sign}\big(\langle A_i, UU^\top\rangle - y_i\big)\,(A_i + A_i^\top)\,U .

The method (`subgradient_method`): :math:`U_0 = \alpha B` for a random B with unit spectral norm (α small),
:math:`U_{t+1} = U_t - \eta_t\,g_t` with :math:`g_t\in\partial f(U_t)` and :math:`\eta_t = \eta_0\rho^t`.

Why small initialization matters
--------------------------------
Near :math:`U = 0` the sub-gradient is :math:`\approx (G + G^\top)U` with :math:`G = -\frac1m\sum_i
\mathrm{sign}(y_i)A_i` — the ℓ1 loss makes the outliers' pull bounded, so G is close to a multiple of
:math:`X^\star` (the paper's Sign-RIP): for Gaussian :math:`A`, :math:`\mathbb E[\mathrm{sign}(\langle A,X\rangle)A] =
\sqrt{2/\pi}\,X/\lVert X\rVert_F` (`expected_sign_measurement`), and an outlier's random sign only shrinks it.  Started tiny, U grows fastest along :math:`X^\star`'s top eigenvectors, like
a power method, and the r' − r extra columns stay small: the over-parameterization is never used to fit
noise.  A large start has no such phase: the extra directions carry their initial mass and the iterates can
settle on a wrong, higher-rank fit.  With the squared loss the outliers' pull is unbounded and the small
start does not help.

What is reconstructed
---------------------
The setting, the algorithm and its step rule are the paper's as the catalogue summarises them (the full text
was not read, so no theorem numbers are cited); the mechanism above is our reading.  The ℓ2 baseline is
plain gradient descent on :math:`\tfrac1{2m}\sum_i(\langle A_i,UU^\top\rangle - y_i)^2` with the same steps.

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/theory-dynamics/subgm-small-init.ipynb
"""

from __future__ import annotations

import numpy as np

CATALOG_ENTRY = {
    "slug": "subgm-small-init",
    "title": "Global Convergence of Sub-gradient Method for Robust Matrix Recovery: Small Initialization, "
    "Noisy Measurements, and Over-parameterization",
    "authors": "Jianhao Ma, Salar Fattahi",
    "year": 2022,
    "arxiv": "2202.08788",
    "family": "theory-dynamics",
    "notebook": "notebooks/theory-dynamics/subgm-small-init.ipynb",
    "verified": "reconstructed",
    "verification_note": "Paper confirmed (arXiv 2202.08788, JMLR 2023) from its abstract and the catalogue's "
    "summary: ℓ1 loss on UUᵀ with over-estimated rank, sub-gradient method from a small initialization with "
    "geometrically decaying steps, convergence despite outliers (Sign-RIP).  The full text was not read: no "
    "theorem numbers are cited, the mechanism in the docstring is our reading, and the measurement and "
    "outlier models (Gaussian A_i, outliers of ten times the signal's scale) are our choices.",
    "summary": "Over-parameterized robust matrix sensing: the sub-gradient method on the ℓ1 loss of UUᵀ, "
    "started from a small initialization with geometrically decaying steps, recovers the low-rank matrix "
    "despite gross outliers and extra columns; a large initialization or the squared loss does not.",
    "equations": [
        "y_i = ⟨A_i, X*⟩ + s_i,  X* = U*U*ᵀ (rank r),  U ∈ R^{d×r'}, r' > r   (robust matrix sensing)",
        "f(U) = (1/m) Σ_i |⟨A_i, UUᵀ⟩ − y_i|   (ℓ1 loss)",
        "∂f(U) ∋ (1/m) Σ_i sign(⟨A_i, UUᵀ⟩ − y_i) (A_i + A_iᵀ) U   (sub-gradient)",
        "U_0 = α B (‖B‖ = 1),  U_{t+1} = U_t − η_0 ρ^t g_t   (SubGM, small α, geometric steps)",
    ],
}

__all__ = [
    "CATALOG_ENTRY",
    "sensing_problem",
    "residuals",
    "subgradient",
    "l2_gradient",
    "subgradient_method",
    "relative_error",
]

LOSSES = ("l1", "l2")


def sensing_problem(
    d: int, rank: int, m: int, *, outlier_fraction: float, noise: float = 0.0, rng=None
) -> dict:
    """A (m, d, d) Gaussian measurement matrices, X* = U*U*ᵀ of the given rank (‖X*‖_F = 1), y with a fraction of
    gross outliers (Gaussian, 10× the clean measurements' scale) and small Gaussian noise on the rest."""
    if not 0 <= outlier_fraction < 1:
        raise ValueError(f"`outlier_fraction` must be in [0, 1), got {outlier_fraction}")
    if min(int(d), int(rank), int(m)) < 1 or rank > d:
        raise ValueError(f"need 1 ≤ rank ≤ d and m ≥ 1, got d={d}, rank={rank}, m={m}")
    rng = np.random.default_rng(rng)
    U_star = rng.normal(size=(d, rank))
    X_star = U_star @ U_star.T
    X_star /= np.linalg.norm(X_star)
    A = rng.normal(size=(m, d, d))
    clean = np.einsum("mij,ij->m", A, X_star)
    outlier = rng.random(m) < outlier_fraction
    y = clean + noise * rng.normal(size=m)
    y[outlier] = clean[outlier] + 10.0 * rng.normal(size=int(outlier.sum()))
    return {"A": A, "y": y, "X_star": X_star, "outlier": outlier}


def residuals(A, y, U) -> np.ndarray:
    """⟨A_i, UUᵀ⟩ − y_i for every measurement."""
    return np.einsum("mij,ij->m", A, U @ U.T) - y


def subgradient(A, y, U) -> np.ndarray:
    """(1/m) Σ_i sign(r_i)(A_i + A_iᵀ)U, with sign(0) = 0."""
    G = np.tensordot(np.sign(residuals(A, y, U)), A, axes=1) / len(A)
    return (G + G.T) @ U


def l2_gradient(A, y, U) -> np.ndarray:
    """∇ of (1/2m) Σ_i r_i²: (1/m) Σ_i r_i (A_i + A_iᵀ) U."""
    G = np.tensordot(residuals(A, y, U), A, axes=1) / len(A)
    return (G + G.T) @ U


def expected_sign_measurement(X) -> np.ndarray:
    """E[sign(⟨A, X⟩) A] for A with i.i.d. N(0, 1) entries: √(2/π) X/‖X‖_F.  (u = ⟨A, X⟩ ~ N(0, ‖X‖²) and
    E[A | u] = u X/‖X‖², so the mean is E|u| X/‖X‖².)  At U ≈ 0 the ℓ1 sub-gradient's matrix G is the sample
    mean of −sign(y_i) A_i, i.e. this direction for X*, shrunk by the outliers whose sign is random."""
    X = np.asarray(X, dtype=np.float64)
    return np.sqrt(2 / np.pi) * X / np.linalg.norm(X)


def relative_error(U, X_star) -> float:
    """‖UUᵀ − X*‖_F / ‖X*‖_F."""
    return float(np.linalg.norm(U @ U.T - X_star) / np.linalg.norm(X_star))


def subgradient_method(
    A,
    y,
    *,
    width: int,
    init_scale: float,
    lr: float,
    decay: float,
    steps: int,
    loss: str = "l1",
    rng=None,
    X_star=None,
):
    """Run SubGM (`loss="l1"`) or gradient descent on the squared loss (`"l2"`) from U₀ = α B, B a Gaussian
    d × width matrix scaled to spectral norm 1, with steps η₀ρ^t.  Returns (U, relative errors per step if
    X_star is given, else None)."""
    if loss not in LOSSES:
        raise ValueError(f"`loss` must be one of {LOSSES}, got {loss!r}")
    for name, v in (("init_scale", init_scale), ("lr", lr)):
        if not np.isfinite(v) or v <= 0:
            raise ValueError(f"`{name}` must be > 0, got {v}")
    if not 0 < decay <= 1:
        raise ValueError(f"`decay` must be in (0, 1], got {decay}")
    A, y = np.asarray(A, dtype=np.float64), np.asarray(y, dtype=np.float64)
    B = np.random.default_rng(rng).normal(size=(A.shape[1], int(width)))
    U = init_scale * B / np.linalg.norm(B, 2)
    step = subgradient if loss == "l1" else l2_gradient
    errors = [] if X_star is not None else None
    eta = float(lr)
    with np.errstate(over="ignore", invalid="ignore"):  # a diverging run stops at its first non-finite step
        for t in range(int(steps)):
            U_next = U - eta * step(A, y, U)
            if not np.all(np.isfinite(U_next)) or np.abs(U_next).max() > 1e6:
                return U_next, (None if errors is None else np.array(errors + [np.inf] * (int(steps) - t)))
            U = U_next
            eta *= decay
            if errors is not None:
                errors.append(relative_error(U, X_star))
    return U, (None if errors is None else np.array(errors))
