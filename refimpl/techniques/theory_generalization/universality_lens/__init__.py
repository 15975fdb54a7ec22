r"""The universality lens: a Bayesian mixture over a hypothesis class, scored by log-loss, never does worse than
any hypothesis in the class by more than −log of that hypothesis's prior weight — however large the class.  A
huge, over-parameterized class costs nothing for a truth that the prior treats as simple.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.

The bound
---------
Hypotheses h ∈ H predict the next symbol with :math:`p_h(x_t \mid x_{<t})`; the mixture with prior weights
:math:`w_h` predicts with :math:`p_{\mathrm{mix}} = \sum_h w_h p_h(x_{\le t}) / \sum_h w_h p_h(x_{<t})`, i.e. its
probability of a whole sequence is :math:`\sum_h w_h p_h(x_{1:n})`.  Since a sum exceeds any of its terms,

.. math::

    -\log p_{\mathrm{mix}}(x_{1:n}) \le -\log p_h(x_{1:n}) - \log w_h \qquad \text{for every } h \text{ and every sequence:}

the mixture's cumulative log-loss *regret* against any hypothesis is at most :math:`-\log w_h` (`mixture_log_loss`,
`regret`).  Against a truth outside the class, the same argument on a set B of hypotheses close to it gives
:math:`\text{regret} \le -\log w(B) + n\,\max_{h\in B}\mathrm{KL}`.  Simplicity, in this lens, is prior weight.

The paper's point: with an (almost) uniform prior over an *expansive* class of N hypotheses the naive bound
log N is useless, but the relevant quantity is the *weight* :math:`w(B_\varepsilon)` of the hypotheses within
KL distance ε of the truth — the paper's notion of simplicity — and it does not shrink as the class grows finer
(`ball_weight`, `weight_bound` = :math:`\min_\varepsilon[-\log w(B_\varepsilon) + n\varepsilon]`).

The toy
-------
Bernoulli sources :math:`p_\theta(x=1)=\theta` on a uniform grid of N values (the prior uniform over the grid).
The KL ball around θ* is wide where the Fisher information is small (θ* near ½) and narrow near 0 or 1, so with the
same uniform prior some truths are "simpler" than others.  The regret depends on a sequence only through its
number of ones, so its expectation over sequences is computed exactly (`expected_regret`); sampled sequences are
the simulation.

What is reconstructed
---------------------
The paper (arXiv 2506.07661) was read in its abstract only: the weight-of-a-KL-ball bound is written here from
the classical mixture argument, and the Bernoulli toy is ours.

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/theory-generalization/universality-lens.ipynb
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp
from scipy.stats import binom

CATALOG_ENTRY = {
    "slug": "universality-lens",
    "title": "The Universality Lens: Why Even Highly Over-Parametrized Models Learn Well",
    "authors": "Meir Feder, Ruediger Urbanke, Yaniv Fogel",
    "year": 2025,
    "arxiv": "2506.07661",
    "family": "theory-generalization",
    "notebook": "notebooks/theory-generalization/universality-lens.ipynb",
    "verified": "reconstructed",
    "verification_note": "The catalogue had no arXiv id; the paper was found and confirmed here (arXiv 2506.07661, "
    "abstract read): a Bayesian mixture with log-loss and an almost uniform prior over an expansive class has "
    "regret set by the weight of the hypotheses KL-close to the truth, not by the class size.  The full text "
    "was not read: the bounds are the classical mixture argument written out in the docstring; the Bernoulli "
    "toy and its grids are ours.",
    "summary": "A Bayesian mixture scored by log-loss pays, in regret, −log of the prior weight of the hypotheses "
    "KL-close to the truth — not log of the class size — so an enormous, finely grained class costs little: "
    "simplicity is prior weight near the truth.",
    "equations": [
        "p_mix(x_{1:n}) = Σ_h w_h p_h(x_{1:n})   (Bayesian mixture)",
        "−log p_mix(x_{1:n}) ≤ −log p_h(x_{1:n}) − log w_h  for every h and sequence   (the mixture bound)",
        "regret vs the truth ≤ min_ε [−log w(B_ε) + n ε],  B_ε = {h : KL(truth ‖ h) ≤ ε}   (the weight bound)",
    ],
}

__all__ = [
    "CATALOG_ENTRY",
    "log_likelihoods",
    "mixture_regret",
    "expected_regret",
    "kl_bernoulli",
    "ball_weight",
    "weight_bound",
]


def _grid(thetas, weights):
    thetas, w = np.asarray(thetas, dtype=np.float64), np.asarray(weights, dtype=np.float64)
    if np.any((thetas <= 0) | (thetas >= 1)):
        raise ValueError("every θ must lie strictly between 0 and 1")
    if w.shape != thetas.shape or np.any(w < 0) or w.sum() <= 0:
        raise ValueError("`weights` must be non-negative, not all zero, one per θ")
    return thetas, w / w.sum()


def log_likelihoods(k, n: int, thetas) -> np.ndarray:
    """log p_θ(x_{1:n}) of a sequence with k ones among n symbols, for every θ (rows: k, columns: θ)."""
    k = np.asarray(k, dtype=np.float64)[..., None]
    thetas = np.asarray(thetas, dtype=np.float64)
    return k * np.log(thetas) + (n - k) * np.log1p(-thetas)


def mixture_regret(k, n: int, thetas, weights, theta_ref: float) -> np.ndarray:
    """The mixture's log-loss minus the reference source's, for sequences with k ones (in nats).  Computed once
    per distinct count, in chunks of hypotheses (a fine grid times many sequences would not fit in memory)."""
    thetas, w = _grid(thetas, weights)
    k = np.asarray(k)
    counts, inverse = np.unique(k, return_inverse=True)
    with np.errstate(divide="ignore"):
        log_w = np.log(w)
    parts = []
    for start in range(0, len(thetas), 20_000):
        sl = slice(start, start + 20_000)
        parts.append(logsumexp(log_w[sl] + log_likelihoods(counts, n, thetas[sl]), axis=-1))
    mix = -logsumexp(np.stack(parts, axis=-1), axis=-1)
    per_count = mix + log_likelihoods(counts, n, [theta_ref])[..., 0]
    return per_count[inverse].reshape(k.shape)


def expected_regret(theta_star: float, n: int, thetas, weights) -> float:
    """E over sequences from θ* of the regret against θ*: exact, summing over the Binomial(n, θ*) count."""
    k = np.arange(int(n) + 1)
    return float(np.sum(binom.pmf(k, int(n), theta_star) * mixture_regret(k, n, thetas, weights, theta_star)))


def kl_bernoulli(a, b) -> np.ndarray:
    """KL(Ber(a) ‖ Ber(b)) in nats."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return a * np.log(a / b) + (1 - a) * np.log((1 - a) / (1 - b))


def ball_weight(theta_star: float, eps: float, thetas, weights) -> float:
    """w(B_ε): the prior mass of the hypotheses within KL(θ* ‖ θ) ≤ ε."""
    thetas, w = _grid(thetas, weights)
    return float(w[kl_bernoulli(theta_star, thetas) <= eps].sum())


def weight_bound(theta_star: float, n: int, thetas, weights, eps_grid=None) -> float:
    """min over ε of −log w(B_ε) + nε (ε on a log grid; balls with no mass are skipped).  The KL divergences are
    computed once and sorted, so every ball's weight is a cumulative sum."""
    thetas, w = _grid(thetas, weights)
    eps_grid = np.geomspace(1e-7, 1.0, 200) if eps_grid is None else np.asarray(eps_grid, dtype=np.float64)
    kl = kl_bernoulli(theta_star, thetas)
    order = np.argsort(kl)
    mass = np.cumsum(w[order])
    idx = np.searchsorted(kl[order], eps_grid, side="right")  # how many hypotheses lie in each ball
    inside = idx > 0
    if not inside.any():
        return float("inf")
    return float(np.min(-np.log(mass[idx[inside] - 1]) + n * eps_grid[inside]))
