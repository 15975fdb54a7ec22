r"""PRESTO: ordinal regression with one weight vector per decision boundary, shrunk towards proportional odds by an
L1 penalty on the differences of adjacent vectors — so that a rare top category borrows strength from the
abundant boundaries below it.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.

The model
---------
An ordinal response y ∈ {1, …, K} with features x ∈ ℝᵖ.  The cumulative logit model gives every boundary k
between categories k and k + 1 its own intercept and weights (`cumulative_probabilities`),

.. math::

    P(y \le k \mid x) = \sigma(\alpha_k + x^\top\beta_k),\qquad k = 1,\dots,K-1,

and P(y = k | x) = P(y ≤ k | x) − P(y ≤ k − 1 | x) (`class_probabilities`).  The proportional odds model (PO)
forces β₁ = … = β_{K−1}: one hyperplane shifted by K − 1 intercepts; logistic regression of the rare category
alone (y = K against the rest) estimates β_{K−1} from the few rare examples only.  PRESTO keeps separate β_k but
penalises the differences (the paper's estimator, Sec. 3; the official code fits it in the differences
ψ₁ = β₁, ψ_k = β_k − β_{k−1} as a lasso, `Simulations/method_functions.R`, ``getParamEstsMod``):

.. math::

    \min_{\alpha,\psi}\; -\frac1n\sum_{i=1}^n \log P(y_i\mid x_i;\alpha,\beta(\psi))
        + \lambda\Big(\lVert\psi_1\rVert_1 + \sum_{k=2}^{K-1}\lVert\psi_k\rVert_1\Big),
    \qquad \beta_k = \sum_{j\le k}\psi_j .

λ → ∞ (with the L1 on ψ₁ dropped) is PO; λ = 0 is the unrestricted cumulative logit model.  Sparse differences
are what the paper's consistency theorem assumes: boundaries that share most weights.

The fit (`fit_ordinal`) is proximal gradient descent with Nesterov momentum and backtracking (FISTA, Beck &
Teboulle 2009) on the mean negative log-likelihood, the L1 handled by soft thresholding (`soft_threshold`);
the official code uses a modified ordinalNet (coordinate descent) — same objective, another solver.  A fitted
class probability that is not positive (boundaries crossing, possible when the β_k differ) is floored at 1e-12
in the likelihood.  Binary logistic regression is the same code with K = 2 (`fit_logistic`).

What is read and what is ours
-----------------------------
Read in the official repository gregfaletto/presto: the data model (`Simulations/model_functions.R`,
``sim_relaxed_prop_odds_rand`` and ``sim_data``: X ~ U[−1, 1]ᵖ, base weights 1 kept with probability
`dev_prob`, each difference ±`dev_size` with probability `dev_prob`, a draw with a negative class probability
redrawn — `simulate_sparse_differences`), the methods compared (``logit_meth``: a logistic regression per
boundary; ``prop_odds_meth``: MASS::polr; ``fused_polr``: PRESTO with λ chosen by cross-validation over 20
values, lasso on ψ), the settings of `4_1_sparse_diffs.R` (n = 2500, p = 10, K = 4, intercepts (0, 3, 5) …
(0, 4, 6), dev_size 0.5, dev_prob 1/3) and the metric (``rare_prob_mse_gen``: mean squared error of the
estimated rare-category probability against the true one).  Only the paper's abstract and first page were
reachable here, so no equation numbers are cited.  Ours: the solver, the validation split (in place of
cross-validation) and the penalised baselines (PO and logistic regression get an L1 penalty on the same λ grid,
so every method has the same number of choices).

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/representations-weighting/presto.ipynb
"""

from __future__ import annotations

import dataclasses

import numpy as np

CATALOG_ENTRY = {
    "slug": "presto",
    "title": "Predicting Rare Events by Shrinking Towards Proportional Odds",
    "authors": "Gregory Faletto, Jacob Bien",
    "year": 2023,
    "arxiv": "2305.18700",
    "family": "representations-weighting",
    "notebook": "notebooks/representations-weighting/presto.ipynb",
    "verified": "official-code",
    "verification_note": (
        "arXiv id confirmed (ICML 2023).  Read in gregfaletto/presto: the simulation model "
        "(Simulations/model_functions.R: sim_relaxed_prop_odds_rand, sim_data), the methods "
        "(Simulations/method_functions.R: logit_meth, prop_odds_meth, fused_polr with getParamEstsMod's "
        "difference parameterisation β_k = Σ_{j≤k} ψ_j and a lasso on ψ), the settings of 4_1_sparse_diffs.R "
        "and the metric rare_prob_mse_gen.  The paper's full text was not reachable (abstract and first page "
        "only): no equation numbers.  Ours: a FISTA solver instead of the modified ordinalNet, a validation "
        "split instead of cross-validation, L1-penalised baselines on the same λ grid."
    ),
    "summary": (
        "Ordinal regression with a separate weight vector for each decision boundary and an L1 penalty on the "
        "differences of adjacent vectors, shrinking towards the proportional odds model: the rare top "
        "category borrows strength from the abundant boundaries below it.  Compared with proportional odds "
        "and with logistic regression on the rare category, by the error of the estimated rare probability."
    ),
    "equations": [
        "P(y ≤ k | x) = σ(α_k + xᵀβ_k),  k = 1..K−1;  P(y = k | x) = P(y ≤ k | x) − P(y ≤ k−1 | x)",
        "β_k = Σ_{j≤k} ψ_j  (ψ_1 = β_1, ψ_k = β_k − β_{k−1})",
        "min −(1/n) Σ_i log P(y_i | x_i) + λ Σ_k ‖ψ_k‖₁  (intercepts unpenalised)",
        "prox: ψ ← sign(ψ) max(|ψ| − tλ, 0)  (FISTA step t)",
    ],
}

PROB_FLOOR = 1e-12


def _sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # σ(z), stable for large |z|


def _check_xy(X, y, n_classes, fn):
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    if X.ndim != 2:
        raise ValueError(f"{fn}: `X` must be (n, p), got shape {X.shape}")
    if y.shape != (X.shape[0],) or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{fn}: `y` must be n = {X.shape[0]} integers, got dtype {y.dtype}, shape {y.shape}")
    if not isinstance(n_classes, (int, np.integer)) or n_classes < 2:
        raise ValueError(f"{fn}: `n_classes` must be an integer ≥ 2, got {n_classes!r}")
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(f"{fn}: `y` must hold categories 0..{n_classes - 1}, got {y.min()}..{y.max()}")
    if not np.all(np.isfinite(X)):
        raise ValueError(f"{fn}: `X` must be finite")
    return X, y.astype(np.int64)


def betas_from_differences(psi) -> np.ndarray:
    """β (p, K−1) from the differences ψ (p, K−1): β_k = Σ_{j≤k} ψ_j (the official parameterisation)."""
    return np.cumsum(np.asarray(psi, dtype=np.float64), axis=1)


def differences_from_betas(beta) -> np.ndarray:
    """ψ (p, K−1): ψ_1 = β_1, ψ_k = β_k − β_{k−1}."""
    b = np.asarray(beta, dtype=np.float64)
    return np.diff(b, axis=1, prepend=0.0)


def cumulative_probabilities(X, alpha, beta) -> np.ndarray:
    """F (n, K−1), F_k = P(y ≤ k | x) = σ(α_k + xᵀβ_k); categories are 0-based here (y ≤ k means y ∈ 0..k)."""
    return _sigmoid(np.asarray(alpha)[None, :] + np.asarray(X, dtype=np.float64) @ np.asarray(beta))


def class_probabilities(X, alpha, beta) -> np.ndarray:
    """P (n, K): P(y = k | x) = F_k − F_{k−1}, with F_{−1} = 0 and F_{K−1} = 1 (may be negative where the
    fitted boundaries cross)."""
    F = cumulative_probabilities(X, alpha, beta)
    n = F.shape[0]
    return np.diff(np.concatenate([np.zeros((n, 1)), F, np.ones((n, 1))], axis=1), axis=1)


def soft_threshold(v, t) -> np.ndarray:
    """sign(v)·max(|v| − t, 0): the proximal map of t‖·‖₁."""
    v = np.asarray(v, dtype=np.float64)
    return np.sign(v) * np.maximum(np.abs(v) - t, 0.0)


def negative_log_likelihood(X, y, alpha, psi) -> tuple[float, np.ndarray, np.ndarray]:
    """(mean −log P(y_i | x_i), its gradient in α (K−1,), its gradient in ψ (p, K−1)); y in 0..K−1."""
    X, y = np.asarray(X, dtype=np.float64), np.asarray(y)
    n = len(y)
    beta = betas_from_differences(psi)
    F = cumulative_probabilities(X, alpha, beta)  # (n, K−1)
    Fpad = np.concatenate([np.zeros((n, 1)), F, np.ones((n, 1))], axis=1)  # F_{−1} = 0, F_{K−1} = 1
    rows = np.arange(n)
    upper, lower = Fpad[rows, y + 1], Fpad[rows, y]  # P(y = k) = F_k − F_{k−1}
    prob = upper - lower
    safe = np.maximum(prob, PROB_FLOOR)
    loss = -np.mean(np.log(safe))
    dF = F * (1 - F)  # dF_k/dη_k
    G = np.zeros((n, F.shape[1] + 2))  # d(−log P)/dF_j, padded like Fpad
    w = np.where(prob > PROB_FLOOR, 1.0 / safe, 0.0) / n
    G[rows, y + 1] -= w
    G[rows, y] += w
    g_eta = G[:, 1:-1] * dF  # (n, K−1): gradient in η_k = α_k + xᵀβ_k
    g_alpha = g_eta.sum(0)
    g_beta = X.T @ g_eta  # (p, K−1)
    g_psi = np.cumsum(g_beta[:, ::-1], axis=1)[:, ::-1]  # ψ_j enters every β_k with k ≥ j
    return float(loss), g_alpha, g_psi


@dataclasses.dataclass(frozen=True)
class OrdinalFit:
    """A fitted cumulative logit model: intercepts α (K−1,), weights β (p, K−1), the λ used and the
    iterations taken.  `proportional` fits share one β."""

    alpha: np.ndarray
    beta: np.ndarray
    lam: float
    iterations: int
    proportional: bool

    def probabilities(self, X) -> np.ndarray:
        return class_probabilities(X, self.alpha, self.beta)

    def rare_probability(self, X) -> np.ndarray:
        """P(y = K | x), the top category's probability, clipped to [0, 1]."""
        return np.clip(1.0 - cumulative_probabilities(X, self.alpha, self.beta)[:, -1], 0.0, 1.0)


def fit_ordinal(
    X, y, n_classes: int, lam: float, *, proportional: bool = False, max_iter: int = 3000, tol: float = 1e-8
) -> OrdinalFit:
    """PRESTO's estimator (`proportional=False`): minimise the mean negative log-likelihood + λ Σ_k ‖ψ_k‖₁ by
    FISTA with backtracking.  `proportional=True` fits proportional odds (ψ_k = 0 for k ≥ 2) with the L1 on
    β₁ alone; with `n_classes=2` both are L1-penalised logistic regression."""
    X, y = _check_xy(X, y, n_classes, "fit_ordinal")
    if not (np.isfinite(lam) and lam >= 0):
        raise ValueError(f"fit_ordinal: `lam` must be finite and ≥ 0, got {lam!r}")
    K1, p = n_classes - 1, X.shape[1]
    counts = np.bincount(y, minlength=n_classes)
    cum = np.clip(np.cumsum(counts)[:-1] / len(y), 1e-3, 1 - 1e-3)
    alpha = np.log(cum / (1 - cum))  # start at the marginal cumulative logits
    psi = np.zeros((p, K1))
    keep = np.ones((p, K1)) if not proportional else np.eye(1, K1)[0][None, :].repeat(p, 0)

    def objective(a, s):
        value, ga, gs = negative_log_likelihood(X, y, a, s)
        return value, ga, gs * keep

    za, zs, t, tk = alpha.copy(), psi.copy(), 1.0, 1.0
    f_old = objective(alpha, psi)[0] + lam * np.abs(psi).sum()
    iterations = 0
    for it in range(1, max_iter + 1):
        iterations = it
        f, ga, gs = objective(za, zs)
        while True:  # backtracking on the smooth part
            a_new = za - t * ga
            s_new = soft_threshold(zs - t * gs, t * lam) * keep
            f_new = objective(a_new, s_new)[0]
            da, ds = a_new - za, s_new - zs
            if f_new <= f + np.sum(ga * da) + np.sum(gs * ds) + (np.sum(da**2) + np.sum(ds**2)) / (2 * t):
                break
            t *= 0.5
        tk_next = (1 + np.sqrt(1 + 4 * tk**2)) / 2
        za = a_new + (tk - 1) / tk_next * (a_new - alpha)
        zs = s_new + (tk - 1) / tk_next * (s_new - psi)
        alpha, psi, tk = a_new, s_new, tk_next
        f_total = f_new + lam * np.abs(psi).sum()
        if f_total > f_old:  # restart momentum when the objective goes up
            za, zs, tk = alpha.copy(), psi.copy(), 1.0
        if abs(f_old - f_total) <= tol * max(1.0, abs(f_total)):
            break
        f_old = f_total
    return OrdinalFit(alpha, betas_from_differences(psi), float(lam), iterations, bool(proportional))


def fit_logistic(X, y_binary, lam: float, **kw) -> OrdinalFit:
    """L1-penalised logistic regression of a 0/1 response (the cumulative logit model with K = 2):
    P(y = 1 | x) = 1 − σ(α + xᵀβ)."""
    return fit_ordinal(X, np.asarray(y_binary).astype(np.int64), 2, lam, **kw)


def simulate_sparse_differences(
    n: int, p: int, intercepts, seed, *, dev_size: float = 0.5, dev_prob: float = 1 / 3, beta=None
) -> dict:
    """The official sparse-differences model (`sim_relaxed_prop_odds_rand`, `sim_data`): X ~ U[−1, 1]ᵖ; β₁ =
    `beta` (default ones) with each entry kept with probability `dev_prob` (else 0); each difference
    β_k − β_{k−1} is ±`dev_size` (random sign) with probability `dev_prob`, else 0.  The official code redraws
    the weights when a sampled class probability is negative; here they are redrawn unless no two boundaries
    cross anywhere on the cube (α_{k+1} − α_k ≥ ‖β_{k+1} − β_k‖₁), which is slightly stricter.  Returns
    {"X", "y" (0-based), "probs" (n, K), "alpha", "beta" (p, K−1)}; `sample_from` draws more data (a
    validation or test set) from the same weights."""
    a = np.asarray(intercepts, dtype=np.float64)
    if a.ndim != 1 or a.size < 2 or np.any(np.diff(a) < 0):
        raise ValueError(
            f"simulate_sparse_differences: `intercepts` must be ≥ 2 sorted values, got {intercepts}"
        )
    if not (0 <= dev_prob <= 1):
        raise ValueError(f"simulate_sparse_differences: `dev_prob` must be in [0, 1], got {dev_prob!r}")
    rng = np.random.default_rng(seed)
    K1 = a.size
    base = np.ones(p) if beta is None else np.asarray(beta, dtype=np.float64)
    for _ in range(100):
        B = np.zeros((p, K1))
        B[:, 0] = np.where(rng.random(p) < dev_prob, base, 0.0)
        dev = np.where(rng.random((p, K1 - 1)) < dev_prob, dev_size, 0.0) * rng.choice(
            [-1.0, 1.0], (p, K1 - 1)
        )
        B[:, 1:] = B[:, :1] + np.cumsum(dev, axis=1)
        # the boundaries must not cross anywhere on the cube: check its vertices' worst case per pair
        gaps = np.diff(a) - np.abs(np.diff(B, axis=1)).sum(0)
        if np.all(gaps >= 0):
            break
    else:
        raise RuntimeError("simulate_sparse_differences: no non-crossing draw in 100 tries")
    return {"alpha": a, "beta": B, **sample_from(a, B, n, rng)}


def sample_from(alpha, beta, n: int, rng) -> dict:
    """n draws (X ~ U[−1, 1]ᵖ, y ~ the model) from known weights: {"X", "y", "probs"}."""
    X = rng.uniform(-1, 1, (n, np.shape(beta)[0]))
    P = class_probabilities(X, alpha, beta)
    u = rng.random(n)[:, None]
    y = (u > np.cumsum(P, axis=1)[:, :-1]).sum(1)
    return {"X": X, "y": y.astype(np.int64), "probs": P}
