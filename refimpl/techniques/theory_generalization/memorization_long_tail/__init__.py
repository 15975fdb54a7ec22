r"""Memorization is necessary on a long tail: when many subpopulations of the data are seen once, a learner that
does not fit those single examples pays for each of them about its expected frequency, and these add up to a
constant excess error — even when the single labels are noisy.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.

The model
---------
The data is a mixture of N subpopulations (here: N distinct points); subpopulation i has frequency
:math:`D_i` and one label drawn uniformly from k classes.  The frequencies come from a *list prior*: a fixed list
:math:`\psi_1, \dots, \psi_N` (here Zipf, :math:`\psi_j \propto 1/j`: a long tail) assigned to the subpopulations
in random order, so the frequency of any one subpopulation is uniform over the list.  A training set holds n
draws.  Conditioned on a subpopulation appearing exactly once, its expected frequency is

.. math::

    \tau_1 = \frac{\mathbb E_\alpha[\alpha^2(1-\alpha)^{n-1}]}{\mathbb E_\alpha[\alpha(1-\alpha)^{n-1}]}
           = \frac{\sum_j \psi_j^2(1-\psi_j)^{n-1}}{\sum_j \psi_j(1-\psi_j)^{n-1}},

(`singleton_tau`).  The paper's theorem bounds the error of any algorithm A by
:math:`\mathrm{err}(A) \ge \mathrm{opt} + \tau_1\,\mathrm{errn}_S(A, 1)` (plus terms for examples seen more
often), where :math:`\mathrm{errn}_S(A, 1)` counts the training examples seen once that A gets wrong.  On a long tail
:math:`\tau_1` is of order 1/n and a constant fraction of the n examples are singletons, so not fitting them costs
a constant.

In this toy the bound is met with equality
------------------------------------------
A label seen once is the Bayes prediction for its subpopulation.  The *memorizer* predicts every seen label; the
*non-memorizer* (the ablation) predicts only labels seen at least twice and guesses uniformly elsewhere, so it gets
a singleton wrong with probability :math:`1 - 1/k` and its expected excess error is (`memorization_cost`)

.. math::

    \mathbb E[\mathrm{err}_{\text{skip}} - \mathrm{err}_{\text{mem}}]
    = (1-\eta)\Big(1-\frac1k\Big)\,\mathbb E[M_1],\qquad
    \mathbb E[M_1] = \tau_1\,\mathbb E[\#\text{singletons}] = \sum_j n\,\psi_j^2(1-\psi_j)^{n-1},

where :math:`M_1` is the singleton mass (the total frequency of the subpopulations seen once; `expected_singleton_mass`)
and η the rate at which a training label is replaced by a uniform random one: a memorized noisy singleton is still
right with probability :math:`1 - \eta + \eta/k`, better than a guess.  The singleton mass can be estimated from the
sample alone by Good–Turing, :math:`\hat M_1 = 2 N_2/n` with :math:`N_2` the number of subpopulations seen twice
(`good_turing_singleton_mass`).

What is reconstructed
---------------------
τ₁ and the shape of the bound are taken from the paper as remembered (its Theorem on the cost of not fitting
singletons; the full text was not read here, so no equation number is cited).  The lookup-table learners, the
list prior with Zipf frequencies, the label-noise variant's closed form and the use of Good–Turing are ours.

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/theory-generalization/memorization-long-tail.ipynb
"""

from __future__ import annotations

import numpy as np

CATALOG_ENTRY = {
    "slug": "memorization-long-tail",
    "title": "Does Learning Require Memorization? A Short Tale about a Long Tail",
    "authors": "Vitaly Feldman",
    "year": 2020,
    "arxiv": "1906.05271",
    "family": "theory-generalization",
    "notebook": "notebooks/theory-generalization/memorization-long-tail.ipynb",
    "verified": "reconstructed",
    "verification_note": "arXiv id confirmed from the title and abstract (STOC 2020).  The full text was not read "
    "here: τ₁ (the expected frequency of a subpopulation seen once) and the bound err ≥ opt + τ₁·errn(A, 1) are "
    "as remembered from the paper; the lookup learners, the Zipf list prior, the noisy-label closed form and the "
    "Good–Turing estimate of the singleton mass are ours.",
    "summary": "With a long-tailed distribution of subpopulation frequencies, a constant fraction of the training "
    "set is seen only once, and each such example stands for a subpopulation of frequency about τ₁ ~ 1/n: a "
    "learner that does not fit (memorize) them — even their noisy labels — pays a constant excess error.",
    "equations": [
        "τ₁ = E[α²(1 − α)^{n−1}] / E[α(1 − α)^{n−1}]   (expected frequency of a subpopulation seen once)",
        "err(A) ≥ opt + τ₁ · errn_S(A, 1)   (errn: singletons A gets wrong)",
        "E[M₁] = Σ_j n ψ_j² (1 − ψ_j)^{n−1} = τ₁ · E[#singletons]   (expected singleton mass, list prior ψ)",
        "E[err_skip − err_mem] = (1 − η)(1 − 1/k) E[M₁]   (lookup learners, label noise η; derived here)",
        "M̂₁ = 2 N₂ / n   (Good–Turing, N₂ = subpopulations seen twice)",
    ],
}

__all__ = [
    "CATALOG_ENTRY",
    "zipf_frequencies",
    "singleton_tau",
    "expected_singletons",
    "expected_singleton_mass",
    "memorization_cost",
    "singleton_mass",
    "good_turing_singleton_mass",
    "lookup_predict",
]


def _frequencies(psi) -> np.ndarray:
    psi = np.asarray(psi, dtype=np.float64).ravel()
    if psi.size < 1 or np.any(psi < 0) or not np.isclose(psi.sum(), 1.0, atol=1e-9):
        raise ValueError(f"`psi` must be non-negative frequencies summing to 1, got sum {psi.sum():g}")
    return psi


def _n(n) -> int:
    if int(n) != n or n < 1:
        raise ValueError(f"`n` (the training-set size) must be a positive integer, got {n}")
    return int(n)


def zipf_frequencies(n_subpops: int, exponent: float = 1.0) -> np.ndarray:
    """ψ_j ∝ j^(−exponent), j = 1 … N, normalised: the long-tailed list."""
    if n_subpops < 1 or exponent < 0:
        raise ValueError(f"`n_subpops` must be ≥ 1 and `exponent` ≥ 0, got {n_subpops}, {exponent}")
    w = np.arange(1, n_subpops + 1, dtype=np.float64) ** -exponent
    return w / w.sum()


def singleton_tau(psi, n) -> float:
    """τ₁: the expected frequency of a subpopulation that appears exactly once in n draws (list prior ψ)."""
    psi, n = _frequencies(psi), _n(n)
    once = psi * (1 - psi) ** (n - 1)
    return float(np.sum(psi * once) / np.sum(once))


def expected_singletons(psi, n) -> float:
    """E[#subpopulations seen exactly once] = Σ n ψ (1 − ψ)^(n−1)."""
    psi, n = _frequencies(psi), _n(n)
    return float(np.sum(n * psi * (1 - psi) ** (n - 1)))


def expected_singleton_mass(psi, n) -> float:
    """E[M₁] = Σ n ψ² (1 − ψ)^(n−1): the expected total frequency of the subpopulations seen once."""
    psi, n = _frequencies(psi), _n(n)
    return float(np.sum(n * psi**2 * (1 - psi) ** (n - 1)))


def memorization_cost(psi, n, n_classes: int, noise: float = 0.0) -> float:
    """The expected excess error of not fitting singletons: (1 − η)(1 − 1/k) E[M₁]."""
    if n_classes < 2:
        raise ValueError(f"`n_classes` must be ≥ 2, got {n_classes}")
    if not 0 <= noise <= 1:
        raise ValueError(f"`noise` (the label-noise rate η) must be in [0, 1], got {noise}")
    return (1 - noise) * (1 - 1 / n_classes) * expected_singleton_mass(psi, n)


def singleton_mass(freqs, counts) -> float:
    """M₁ of one sample: the total frequency of the subpopulations whose count is exactly 1."""
    freqs, counts = np.asarray(freqs, dtype=np.float64), np.asarray(counts)
    if freqs.shape != counts.shape:
        raise ValueError(f"`freqs` and `counts` must have one shape, got {freqs.shape} and {counts.shape}")
    return float(freqs[counts == 1].sum())


def good_turing_singleton_mass(counts) -> float:
    """Good–Turing's estimate of M₁ from the counts alone: 2 N₂ / n."""
    counts = np.asarray(counts)
    if counts.ndim != 1 or np.any(counts < 0) or counts.sum() < 1:
        raise ValueError("`counts` must be a 1-D array of non-negative counts with a positive total")
    return float(2 * np.sum(counts == 2) / counts.sum())


def lookup_predict(subpops, labels, n_subpops: int, n_classes: int, min_count: int, rng) -> np.ndarray:
    """A lookup-table learner: for each subpopulation seen at least `min_count` times, the most frequent training
    label (ties to the smallest); elsewhere a uniform guess.  min_count = 1 memorizes every example."""
    subpops, labels = np.asarray(subpops), np.asarray(labels)
    if subpops.shape != labels.shape or subpops.ndim != 1:
        raise ValueError(
            f"`subpops` and `labels` must be 1-D of one length, got {subpops.shape}, {labels.shape}"
        )
    if min_count < 1:
        raise ValueError(f"`min_count` must be ≥ 1, got {min_count}")
    table = np.zeros((n_subpops, n_classes), dtype=np.int64)
    np.add.at(table, (subpops, labels), 1)
    pred = np.random.default_rng(rng).integers(0, n_classes, n_subpops)
    fitted = table.sum(1) >= min_count
    pred[fitted] = table[fitted].argmax(1)
    return pred
