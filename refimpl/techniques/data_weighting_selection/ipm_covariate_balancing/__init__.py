r"""IPM covariate balancing: weights on the control units that make the weighted control covariate
distribution as close as possible, in an integral probability metric, to the treated one (for the ATT).

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.

The idea
--------
With treated units $\{x_j\}_{j \in T}$ ($n_t$ of them) and control units $\{x_i\}_{i \in C}$, the average
treatment effect on the treated is estimated by a weighted difference of means,

$$\hat\tau_{\mathrm{ATT}} = \frac{1}{n_t}\sum_{j \in T} Y_j - \sum_{i \in C} w_i Y_i,
\qquad w \in \Delta = \{w \ge 0,\ \textstyle\sum_i w_i = 1\}.$$

Its bias is $\sum_i w_i m_0(x_i) - \frac1{n_t}\sum_j m_0(x_j)$ for the control outcome regression
$m_0(x) = E[Y(0) \mid x]$.  If $m_0$ lies in a class $\mathcal F$ of "discriminators" (up to scale), the
bias is at most the integral probability metric

$$\mathrm{IPM}_{\mathcal F}(P_w, P_T) = \sup_{f \in \mathcal F}
\Big|\sum_{i \in C} w_i f(x_i) - \frac{1}{n_t}\sum_{j \in T} f(x_j)\Big| ,$$

so the weights are chosen to minimise it: neither a propensity model nor an outcome model is fitted, and
the estimator is consistent when $\mathcal F$ is rich enough to contain (approximately) $m_0$.

For the unit ball of an RKHS with kernel $k$ the supremum is in closed form, the maximum mean discrepancy:

$$\mathrm{MMD}^2(w) = w^\top K_{CC}\, w - \frac{2}{n_t} w^\top K_{CT}\mathbf 1
+ \frac{1}{n_t^2}\mathbf 1^\top K_{TT}\mathbf 1 ,$$

a convex quadratic in $w$.  We add a ridge $\lambda \|w\|_2^2$ (it keeps the weights spread out, i.e. the
effective sample size up, and makes the problem strongly convex) and solve

$$\hat w = \arg\min_{w \in \Delta}\ \mathrm{MMD}^2(w) + \lambda\|w\|_2^2$$

by accelerated projected gradient (FISTA with restarts) with the exact Euclidean projection onto the
simplex.  With the linear kernel $k(x, x') = x^\top x'$ the RKHS ball is the linear functions with
$\|\beta\| \le 1$ and $\mathrm{MMD}(w) = \|\sum_i w_i x_i - \bar x_T\|_2$: the minimiser equates the
weighted control means with the treated means (entropy-balancing-like moment balance) — the ablation that
lacks the paper's nonlinear discriminator class.

What is implemented, and deviations (verified level: reconstructed)
--------------------------------------------------------------------
* The paper was identified (arXiv 2305.13715, ICML 2023) and its abstract read: weights minimise the IPM
  between the weighted treated/control empirical distributions for a given set of discriminators, and the
  estimator is consistent without a correct propensity or outcome model.  Its full text (which function
  classes it uses — the paper also studies parametric discriminator families — its estimator's exact
  form, equation numbers, tuning rule) could not be read here, and no official code was found, so the
  discriminator class is the RKHS unit ball (closed-form MMD), the ATT form with weights on controls only
  is assumed, and the ridge $\lambda\|w\|^2$ and the hyperparameter rule (held-out balance, see
  `experiment.py`) are ours.
* Equation tags below are descriptive ("ATT", "IPM", "MMD", ...) — not the paper's numbers.

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/data-weighting-selection/ipm-covariate-balancing.ipynb
"""

from __future__ import annotations

import numpy as np

CATALOG_ENTRY = {
    "slug": "ipm-covariate-balancing",
    "title": "Covariate balancing using the integral probability metric for causal inference",
    "authors": "Insung Kong, Yuha Park, Joonhyuk Jung, Kwonsang Lee, Yongdai Kim",
    "year": 2023,
    "arxiv": "2305.13715",
    "family": "data-weighting-selection",
    "notebook": "notebooks/data-weighting-selection/ipm-covariate-balancing.ipynb",
    "verified": "reconstructed",
    "verification_note": (
        "Paper confirmed (arXiv 2305.13715, ICML 2023; title and authors from the arXiv abstract page). Only "
        "the abstract was read; no official code was found. Assumed: the RKHS unit ball as discriminator "
        "class (closed-form MMD), weights on the simplex over controls for the ATT, a ridge λ‖w‖² and the "
        "held-out energy-distance rule for the kernel bandwidth and λ. Equation tags are descriptive, not "
        "the paper's numbers. Reference cases: barycentric weights by hand, the regularised QP's KKT linear "
        "solve, and MMD² by a brute-force double sum."
    ),
    "summary": (
        "Estimate the ATT by a weighted difference of means whose control weights (on the simplex) minimise "
        "an integral probability metric between the weighted control and the treated covariate "
        "distributions over a class of discriminators; over an RKHS ball the IPM is the MMD, a quadratic "
        "in the weights. No propensity or outcome model is fitted."
    ),
    "equations": [
        "ATT: τ̂ = (1/n_t) Σ_{j∈T} Y_j − Σ_{i∈C} w_i Y_i,   w ∈ Δ (w ≥ 0, Σ w = 1)",
        "IPM: IPM_F(w) = sup_{f∈F} |Σ_{i∈C} w_i f(x_i) − (1/n_t) Σ_{j∈T} f(x_j)|",
        "MMD (F = RKHS unit ball): MMD²(w) = wᵀK_CC w − (2/n_t) wᵀK_CT 1 + (1/n_t²) 1ᵀK_TT 1",
        "weights: ŵ = argmin_{w∈Δ} MMD²(w) + λ‖w‖²   (ridge λ: ours)",
        "linear kernel (ablation): MMD(w) = ‖Σ w_i x_i − x̄_T‖₂ → weighted means = treated means",
    ],
}

__all__ = [
    "gaussian_kernel",
    "linear_kernel",
    "kernel_matrix",
    "mmd2",
    "project_simplex",
    "ipm_weights",
    "att_estimate",
    "sample_weights",
]

KERNELS = ("gaussian", "linear")


def gaussian_kernel(a, b, bandwidth: float) -> np.ndarray:
    """k(a_i, b_j) = exp(−‖a_i − b_j‖² / (2 h²)) for rows of a (n, d) and b (m, d)."""
    if not bandwidth > 0:
        raise ValueError(f"gaussian_kernel: `bandwidth` must be > 0, got {bandwidth!r}")
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    sq = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.exp(-np.maximum(sq, 0.0) / (2.0 * bandwidth**2))


def linear_kernel(a, b) -> np.ndarray:
    """k(a_i, b_j) = a_iᵀ b_j: its RKHS unit ball is {x ↦ βᵀx : ‖β‖ ≤ 1}."""
    return np.asarray(a, np.float64) @ np.asarray(b, np.float64).T


def kernel_matrix(a, b, kernel: str = "gaussian", bandwidth: float = 1.0) -> np.ndarray:
    if kernel == "gaussian":
        return gaussian_kernel(a, b, bandwidth)
    if kernel == "linear":
        return linear_kernel(a, b)
    raise ValueError(f"kernel_matrix: `kernel` must be one of {KERNELS}, got {kernel!r}")


def _check_groups(fn, x_c, x_t):
    x_c, x_t = np.asarray(x_c, np.float64), np.asarray(x_t, np.float64)
    if x_c.ndim != 2 or x_t.ndim != 2 or x_c.shape[1] != x_t.shape[1]:
        raise ValueError(
            f"{fn}: `x_c` and `x_t` must be (n, d) arrays with the same d, got {x_c.shape}, {x_t.shape}"
        )
    if len(x_c) == 0 or len(x_t) == 0:
        raise ValueError(f"{fn}: `x_c` and `x_t` must each hold at least one unit")
    return x_c, x_t


def mmd2(w, x_c, x_t, kernel: str = "gaussian", bandwidth: float = 1.0) -> float:
    """MMD² between Σ w_i δ_{x_c,i} and the uniform empirical distribution of x_t  # MMD"""
    x_c, x_t = _check_groups("mmd2", x_c, x_t)
    w = np.asarray(w, np.float64)
    if w.shape != (len(x_c),):
        raise ValueError(f"mmd2: `w` must have one weight per control unit ({len(x_c)}), got {w.shape}")
    v = np.full(len(x_t), 1.0 / len(x_t))
    k = lambda a, b: kernel_matrix(a, b, kernel, bandwidth)  # noqa: E731
    return float(w @ k(x_c, x_c) @ w - 2.0 * w @ k(x_c, x_t) @ v + v @ k(x_t, x_t) @ v)  # MMD


def project_simplex(v) -> np.ndarray:
    """The Euclidean projection of v onto {w ≥ 0, Σ w = 1} (sort and threshold)."""
    v = np.asarray(v, np.float64)
    u = np.sort(v)[::-1]
    css = np.cumsum(u) - 1.0
    rho = np.nonzero(u - css / np.arange(1, len(v) + 1) > 0)[0][-1]
    theta = css[rho] / (rho + 1.0)
    return np.maximum(v - theta, 0.0)


def ipm_weights(
    x_c,
    x_t,
    kernel: str = "gaussian",
    bandwidth: float = 1.0,
    lam: float = 1e-3,
    max_iter: int = 5000,
    tol: float = 1e-10,
) -> np.ndarray:
    """ŵ = argmin_{w ∈ Δ} MMD²(w) + λ‖w‖² over the control units (a convex QP), by FISTA with adaptive
    restart and the exact simplex projection; stops when an iterate moves by less than `tol` (max-norm)."""
    x_c, x_t = _check_groups("ipm_weights", x_c, x_t)
    if not lam >= 0:
        raise ValueError(f"ipm_weights: `lam` must be ≥ 0, got {lam!r}")
    if max_iter < 1:
        raise ValueError(f"ipm_weights: `max_iter` must be ≥ 1, got {max_iter!r}")
    n_c = len(x_c)
    Q = kernel_matrix(x_c, x_c, kernel, bandwidth) + lam * np.eye(n_c)  # objective: wᵀQw − 2wᵀb + c
    b = kernel_matrix(x_c, x_t, kernel, bandwidth).mean(1)
    step = 1.0 / (2.0 * np.linalg.eigvalsh(Q)[-1])  # 1 / Lipschitz constant of ∇ = 2(Qw − b)
    w = np.full(n_c, 1.0 / n_c)
    z, t = w.copy(), 1.0
    f_old = np.inf
    for _ in range(max_iter):
        w_new = project_simplex(z - step * 2.0 * (Q @ z - b))
        f_new = w_new @ Q @ w_new - 2.0 * w_new @ b
        if f_new > f_old:  # adaptive restart: drop the momentum when the objective goes up
            z, t = w.copy(), 1.0
            continue
        t_new = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * t * t))
        z = w_new + ((t - 1.0) / t_new) * (w_new - w)
        moved = np.max(np.abs(w_new - w))
        w, t, f_old = w_new, t_new, f_new
        if moved < tol:
            break
    return w


def att_estimate(y_t, y_c, w) -> float:
    """τ̂ = mean of the treated outcomes − Σ w_i Y_i over the controls  # ATT"""
    y_t, y_c, w = (np.asarray(a, np.float64) for a in (y_t, y_c, w))
    if y_c.shape != w.shape:
        raise ValueError(f"att_estimate: `w` must match `y_c` in shape, got {w.shape} and {y_c.shape}")
    if y_t.size == 0:
        raise ValueError("att_estimate: `y_t` must hold at least one treated outcome")
    return float(y_t.mean() - w @ y_c)


def sample_weights(x, treated, kernel: str = "gaussian", bandwidth: float = 1.0, lam: float = 1e-3):
    """Per-unit weights over the whole sample: 1/n_t on each treated unit, the IPM weights on the controls
    (each group sums to 1), e.g. to fit a weighted outcome model on the balanced sample."""
    x, treated = np.asarray(x, np.float64), np.asarray(treated, bool)
    if treated.shape != (len(x),):
        raise ValueError(
            f"sample_weights: `treated` must be a boolean mask of length {len(x)}, got {treated.shape}"
        )
    if treated.all() or not treated.any():
        raise ValueError("sample_weights: `treated` must mark at least one treated and one control unit")
    out = np.empty(len(x))
    out[treated] = 1.0 / treated.sum()
    out[~treated] = ipm_weights(x[~treated], x[treated], kernel, bandwidth, lam)
    return out
