r"""Inductive bias complexity: how much information, beyond what the training data give, is needed to pick a
well-generalizing hypothesis — measured as minus the log of the fraction of data-fitting hypotheses that
generalize.  It grows exponentially with the intrinsic dimension of the input and only polynomially with the
resolution per dimension.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.

The measure
-----------
Fix a broad reference distribution over a hypothesis space.  Among the hypotheses that fit the n training
points, the fraction whose generalization error is at most ε measures how much extra information an inductive
bias must supply (`inductive_bias_bits`):

.. math::

    \tilde I = -\log_2 \Pr_\theta\big(e(\theta) \le \varepsilon \;\big|\; \theta \text{ fits the training data}\big).

A model-agnostic toy where this is exact
----------------------------------------
Inputs on the d-torus :math:`[0, 1)^d`; hypotheses :math:`f_\theta = \sum_{j=1}^{K} \theta_j \varphi_j` over the
real trigonometric basis with frequencies :math:`k \in \{-M, \dots, M\}^d` (`trig_basis`; orthonormal under the
uniform measure, :math:`K = (2M + 1)^d`: resolution M per dimension); reference :math:`\theta \sim \mathcal N(0,
\sigma^2 I_K)` with :math:`\sigma^2 = 1/K` (the same expected energy as a unit-norm task); the task is one
hypothesis :math:`\theta^*`, :math:`\lVert\theta^*\rVert = 1`; error :math:`e(\theta) = \mathbb E_x (f_\theta -
f_{\theta^*})^2 = \lVert\theta - \theta^*\rVert^2`.  Conditioning the reference on fitting the n points,
:math:`\Phi\theta = \Phi\theta^*`, centres it on the minimum-norm interpolant and leaves Gaussian freedom in the
null space of Φ (dimension :math:`K - r`, r = rank Φ), so :math:`\theta - \theta^* = P_{\mathrm{null}}(\xi -
\theta^*)` and (`fit_fraction`)

.. math::

    \Pr\big(e \le \varepsilon \mid \text{fit}\big) = F_{\chi'^2_{K-r}(\lambda)}\big(\varepsilon/\sigma^2\big),\qquad
    \lambda = \lVert P_{\mathrm{null}}\theta^*\rVert^2/\sigma^2,

a noncentral chi-square probability, summed as a Poisson mixture of central ones in log space (`log_ncx2_cdf`; the
probabilities can be astronomically small).  It depends on the K − r degrees of freedom the data leave free:
exponential in d through :math:`K = (2M+1)^d`, polynomial in M.  With no data (r = 0) it is the prior's own
fraction; the difference of the two Ĩ is the information the data provide.

What is reconstructed
---------------------
The definition (the information required to generalize minus the information from the data, as the fractional
volume of generalizing hypotheses among the data-fitting ones) and the exponential-in-dimension,
polynomial-in-resolution scaling are the paper's, from its abstract.  Its hypothesis space, reference
distribution and estimator were not read; the bandlimited trigonometric space with a Gaussian reference, in which
the fraction is an exact chi-square probability, is ours.

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/theory-generalization/inductive-bias-complexity.ipynb
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy import stats

CATALOG_ENTRY = {
    "slug": "inductive-bias-complexity",
    "title": "Model-agnostic Measure of Generalization Difficulty",
    "authors": "Akhilan Boopathy, Kevin Liu, Jaedong Hwang, Shu Ge, Asaad Mohammedsaleh, Ila Fiete",
    "year": 2023,
    "arxiv": "2305.01034",
    "family": "theory-generalization",
    "notebook": "notebooks/theory-generalization/inductive-bias-complexity.ipynb",
    "verified": "reconstructed",
    "verification_note": "arXiv id confirmed (ICML 2023).  From the abstract: the measure is the information "
    "required to generalize minus the information from the data, computed as the fractional volume of "
    "generalizing hypotheses among those fitting the training data, and it scales exponentially with intrinsic "
    "dimension and polynomially with resolution.  The paper's hypothesis space and estimator were not read; the "
    "bandlimited trigonometric hypotheses with a Gaussian reference (an exact chi-square fraction) are ours.",
    "summary": "Inductive bias complexity — minus the log of the fraction of data-fitting hypotheses that "
    "generalize — measures how much information a learner's inductive bias must supply; it grows exponentially "
    "with the task's intrinsic dimension and only polynomially with the resolution per dimension.",
    "equations": [
        "Ĩ = −log₂ P(e(θ) ≤ ε | θ fits the n training points)",
        "bandlimited hypotheses, K = (2M + 1)^d basis functions, θ ~ N(0, σ² I), σ² = 1/K, ‖θ*‖ = 1",
        "e | fit ~ σ² χ'²_{K−r}(λ),  λ = ‖P_null θ*‖²/σ²,  r = rank Φ   (derived here)",
        "Ĩ = −log₂ F_{χ'²_{K−r}(λ)}(ε/σ²)",
    ],
}

__all__ = [
    "CATALOG_ENTRY",
    "n_basis",
    "trig_basis",
    "log_ncx2_cdf",
    "fit_fraction",
    "inductive_bias_bits",
    "conditional_errors",
]


def n_basis(d: int, M: int) -> int:
    """K = (2M + 1)^d: the trigonometric basis functions with frequencies in {−M … M}^d."""
    if d < 1 or M < 0:
        raise ValueError(f"`d` must be ≥ 1 and `M` ≥ 0, got {d}, {M}")
    return (2 * M + 1) ** d


def trig_basis(X, M: int) -> np.ndarray:
    """The real orthonormal trigonometric basis at points X ∈ [0, 1)^d: 1, then √2 cos(2πk·x) and √2 sin(2πk·x)
    for each frequency k ≠ 0 with k > 0 lexicographically (one of each ± pair); (n, K) columns."""
    X = np.atleast_2d(np.asarray(X, dtype=np.float64))
    d = X.shape[1]
    cols = [np.ones(len(X))]
    for k in itertools.product(range(-M, M + 1), repeat=d):
        if k > (0,) * d:
            phase = 2 * np.pi * X @ np.array(k, dtype=np.float64)
            cols += [np.sqrt(2) * np.cos(phase), np.sqrt(2) * np.sin(phase)]
    return np.stack(cols, 1)


def log_ncx2_cdf(x: float, df: int, nc: float) -> float:
    """log F(x) of the noncentral chi-square χ'²_df(nc): log Σ_j Pois(j; nc/2) F_{χ²_{df+2j}}(x), in log space."""
    if x <= 0 or df < 1 or nc < 0:
        raise ValueError(f"`x` must be > 0, `df` ≥ 1 and `nc` ≥ 0, got {x}, {df}, {nc}")
    half = nc / 2
    j = np.arange(int(half + 12 * np.sqrt(half + 1) + 60))
    terms = stats.poisson.logpmf(j, half) + stats.chi2.logcdf(x, df + 2 * j)
    return float(np.logaddexp.reduce(terms))


def _null_space(Phi, K: int) -> np.ndarray:
    Phi = np.asarray(Phi, dtype=np.float64).reshape(-1, K)
    if Phi.shape[0] == 0:
        return np.eye(K)
    _, s, Vt = np.linalg.svd(Phi, full_matrices=True)
    rank = int(np.sum(s > 1e-10 * s.max()))
    if rank >= K:
        raise ValueError(
            f"`Phi` has rank {rank} = K: the data pin the hypothesis down; nothing is left to measure"
        )
    return Vt[rank:].T


def _fit_parameters(Phi, theta_star, eps, sigma2):
    theta_star = np.asarray(theta_star, dtype=np.float64)
    if theta_star.ndim != 1:
        raise ValueError(f"`theta_star` must be a vector, got shape {theta_star.shape}")
    if eps <= 0 or sigma2 <= 0:
        raise ValueError(f"`eps` and `sigma2` must be > 0, got {eps}, {sigma2}")
    N = _null_space(Phi, theta_star.size)
    return eps / sigma2, N.shape[1], float(np.sum((N.T @ theta_star) ** 2) / sigma2)


def fit_fraction(Phi, theta_star, eps: float, sigma2: float) -> float:
    """P(‖θ − θ*‖² ≤ ε | Φθ = Φθ*) under θ ~ N(0, σ² I) (Phi with zero rows: no data)."""
    return float(np.exp(log_ncx2_cdf(*_fit_parameters(Phi, theta_star, eps, sigma2))))


def inductive_bias_bits(Phi, theta_star, eps: float, sigma2: float) -> float:
    """Ĩ = −log₂ P(e ≤ ε | fit), through the log-CDF."""
    return -log_ncx2_cdf(*_fit_parameters(Phi, theta_star, eps, sigma2)) / np.log(2)


def conditional_errors(Phi, theta_star, sigma2: float, n_samples: int, rng) -> np.ndarray:
    """Errors ‖θ − θ*‖² of draws from N(0, σ² I) conditioned on Φθ = Φθ*, by the Gaussian-conditioning formula
    (mean Φᵀ(ΦΦᵀ)⁻¹Φθ*, covariance σ²(I − Φᵀ(ΦΦᵀ)⁻¹Φ)) — a route independent of the null-space basis."""
    Phi = np.asarray(Phi, dtype=np.float64)
    theta_star = np.asarray(theta_star, dtype=np.float64)
    G = Phi.T @ np.linalg.solve(Phi @ Phi.T, Phi)
    xi = np.random.default_rng(rng).normal(scale=np.sqrt(sigma2), size=(n_samples, theta_star.size))
    theta = G @ theta_star + xi @ (np.eye(theta_star.size) - G)  # the projector is symmetric
    return np.sum((theta - theta_star) ** 2, axis=1)
