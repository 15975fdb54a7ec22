r"""Repeated sampling: the fraction of problems solved by at least one of k attempts (coverage, pass@k) keeps
growing with k — roughly log-linearly over orders of magnitude — and it must be estimated without bias from
a finite number of samples.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.

Coverage
--------
A problem that one attempt solves with probability p is solved by at least one of k independent attempts with
probability :math:`1-(1-p)^k`.  Over a population of problems, coverage is the average,
:math:`C(k) = \mathbb E_p[1-(1-p)^k]`.  It grows for as long as there are hard problems left: with a
:math:`\mathrm{Beta}(\alpha, \beta)` spread of difficulties (`beta_coverage`),

.. math::

    C(k) = 1 - \frac{B(\alpha, \beta + k)}{B(\alpha, \beta)} \;\approx\; 1 - \frac{\Gamma(\alpha+\beta)}{\Gamma(\beta)}\,k^{-\alpha}
    \quad(k \to \infty),

a power law in k towards 1 — slow when α is small (many very hard problems).  The paper models coverage
curves with an *exponentiated power law*, :math:`\log C(k) \approx a\,k^{b}` (`fit_exponentiated_power_law`),
and finds them close to log-linear in k over several orders of magnitude.

Estimating pass@k
-----------------
From n ≥ k samples of which c are correct, the plug-in :math:`1-(1-c/n)^k` is biased low (Jensen: the mean of
:math:`(1-\hat p)^k` exceeds :math:`(1-p)^k`).  The unbiased estimator (`pass_at_k`; introduced by Chen et al.
2021 and used by the paper) is the probability that a random k-subset of the n samples contains a correct one:

.. math::

    \widehat{\mathrm{pass@}k} = 1 - \binom{n-c}{k}\Big/\binom{n}{k}
        = 1 - \prod_{i=n-c+1}^{n}\Big(1-\frac{k}{i}\Big).

What is reconstructed
---------------------
The unbiased estimator and the exponentiated power law are as the catalogue summarises the paper; the full
text was not read.  The population of problems is simulated (Beta-distributed solve rates), a stand-in for an
LLM on a benchmark; the Beta closed form is derived here.

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/theory-generalization/repeated-sampling-coverage.ipynb
"""

from __future__ import annotations

import numpy as np
from scipy.special import betaln

CATALOG_ENTRY = {
    "slug": "repeated-sampling-coverage",
    "title": "Large Language Monkeys: Scaling Inference Compute with Repeated Sampling",
    "authors": "Bradley Brown, Jordan Juravsky, Ryan Ehrlich, Ronald Clark, Quoc V. Le, Christopher Ré, "
    "Azalia Mirhoseini",
    "year": 2024,
    "arxiv": "2407.21787",
    "family": "theory-generalization",
    "notebook": "notebooks/theory-generalization/repeated-sampling-coverage.ipynb",
    "verified": "reconstructed",
    "verification_note": "arXiv id marked unconfirmed in the catalogue; confirmed here from the title and "
    "abstract.  The full text was not read: the unbiased pass@k estimator (Chen et al. 2021) and the "
    "exponentiated power-law model log C(k) ≈ a k^b follow the catalogue's summary; the problems are simulated "
    "with Beta-distributed solve rates, whose closed-form coverage is derived here.",
    "summary": "Coverage — the fraction of problems solved by at least one of k samples — keeps growing with k, "
    "close to log-linearly, as long as hard problems remain; pass@k must be estimated with the unbiased "
    "combinatorial formula, since the plug-in estimate is biased low.",
    "equations": [
        "C(k) = E_p[1 − (1 − p)^k]   (coverage over problems with solve rate p)",
        "p ~ Beta(α, β):  C(k) = 1 − B(α, β + k)/B(α, β)   (closed form, derived here)",
        "pass@k = 1 − C(n − c, k)/C(n, k) = 1 − Π_{i=n−c+1}^{n} (1 − k/i)   (unbiased, from n samples, c correct)",
        "log C(k) ≈ a k^b   (exponentiated power law)",
    ],
}

__all__ = ["CATALOG_ENTRY", "pass_at_k", "plugin_pass_at_k", "beta_coverage", "fit_exponentiated_power_law"]


def pass_at_k(n, c, k) -> np.ndarray:
    """The unbiased estimate 1 − C(n − c, k)/C(n, k) (elementwise over arrays of c), as a stable product."""
    n, k = int(n), int(k)
    c = np.asarray(c, dtype=np.int64)
    if not 1 <= k <= n:
        raise ValueError(f"`k` must be in 1..n = {n}, got {k}")
    if np.any((c < 0) | (c > n)):
        raise ValueError(f"`c` must be in 0..n = {n}")
    out = np.ones(c.shape, dtype=np.float64)
    flat, res = c.ravel(), out.ravel()
    for j, cj in enumerate(flat):
        if n - cj >= k:  # otherwise every k-subset holds a correct sample
            res[j] = 1.0 - np.prod(1.0 - k / np.arange(n - cj + 1, n + 1))
    return out


def plugin_pass_at_k(n, c, k) -> np.ndarray:
    """The plug-in estimate 1 − (1 − c/n)^k (biased low)."""
    return 1.0 - (1.0 - np.asarray(c, dtype=np.float64) / n) ** k


def beta_coverage(k, alpha: float, beta: float) -> np.ndarray:
    """C(k) = 1 − B(α, β + k)/B(α, β) for solve rates p ~ Beta(α, β)."""
    if alpha <= 0 or beta <= 0:
        raise ValueError(f"`alpha` and `beta` must be > 0, got {alpha}, {beta}")
    k = np.asarray(k, dtype=np.float64)
    return 1.0 - np.exp(betaln(alpha, beta + k) - betaln(alpha, beta))


def fit_exponentiated_power_law(k, coverage) -> dict:
    """Fit log C(k) = a k^b by least squares on log(−log C) = log(−a) + b log k; {"a", "b", "predict"}."""
    k, cov = np.asarray(k, dtype=np.float64), np.asarray(coverage, dtype=np.float64)
    if np.any((cov <= 0) | (cov >= 1)):
        raise ValueError("fit_exponentiated_power_law: coverage values must lie strictly between 0 and 1")
    b, log_minus_a = np.polyfit(np.log(k), np.log(-np.log(cov)), 1)
    a = -np.exp(log_minus_a)
    return {
        "a": float(a),
        "b": float(b),
        "predict": lambda kk: np.exp(a * np.asarray(kk, dtype=np.float64) ** b),
    }
