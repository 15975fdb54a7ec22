"""The representations-weighting family's contract over the registry (the form and the checks:
`tests/techniques/contracts.py`, the same prediction/simulation pair as the theory families).

Each technique states one exact consequence of its mechanism on a small instance — the prediction — and a
Monte Carlo or brute-force computation of it that must agree on average (e.g. the category shares of an
ordinal model in closed form against samples drawn from it).  An adapter is {"predict": () → array,
"simulate": seed → array (same shape), "rtol": float}.  A technique without such a consequence is exempt with
its reason.
"""

import numpy as np
import pytest
from contracts import (
    check_prediction_is_deterministic,
    check_simulation_is_random_but_reproducible,
    check_simulations_agree_with_prediction,
    params,
)

from refimpl.techniques.representations_weighting import depict as DP
from refimpl.techniques.representations_weighting import presto as PR

FAMILY = "representations-weighting"
N_DRAWS = 12

_PR_ALPHA, _PR_BETA = np.array([0.0, 1.5]), np.array([[1.0, 0.5]])  # one feature x ~ U[−1, 1], K = 3


def _pr_predict():
    """E_x P(y ≤ k | x) = ∫ σ(α_k + β_k x) dx/2 = (softplus(α_k + β_k) − softplus(α_k − β_k)) / (2β_k), so the
    category shares are its successive differences."""
    a, b = _PR_ALPHA, _PR_BETA[0]
    F = (np.logaddexp(0, a + b) - np.logaddexp(0, a - b)) / (2 * b)
    return np.diff(np.r_[0.0, F, 1.0])


def _pr_simulate(seed):
    d = PR.sample_from(_PR_ALPHA, _PR_BETA, 20_000, np.random.default_rng(seed))
    return np.bincount(d["y"], minlength=3) / len(d["y"])


def _dp_predict():
    """DEPICT's target for an undecided point (½, ½) when a share π = 0.7 of N points is sure of cluster 0 and
    the rest undecided: column sums c₀ = N(π + (1 − π)/2), c₁ = N(1 − π)/2, so q₁ = √c₀ / (√c₀ + √c₁)."""
    c0, c1 = 0.7 + 0.15, 0.15
    return np.array([np.sqrt(c0) / (np.sqrt(c0) + np.sqrt(c1))])


def _dp_simulate(seed):
    """The same with each of N = 4000 points sure (probability 0.7) or undecided at random."""
    sure = np.random.default_rng(seed).random(4000) < 0.7
    P = np.where(sure[:, None], [1.0, 0.0], [0.5, 0.5])
    return np.array([DP.depict_target(P)[~sure][0, 1]])


CONTRACTS = {
    "depict": {"predict": _dp_predict, "simulate": _dp_simulate, "rtol": 0.005},
    "presto": {"predict": _pr_predict, "simulate": _pr_simulate, "rtol": 0.01},
}
EXEMPT = {}


@pytest.mark.parametrize("key, adapter", params(FAMILY, CONTRACTS, EXEMPT))
def test_prediction_is_finite_and_deterministic(key, adapter):
    check_prediction_is_deterministic(key, adapter)


@pytest.mark.parametrize("key, adapter", params(FAMILY, CONTRACTS, EXEMPT))
def test_simulation_is_random_but_reproducible(key, adapter):
    check_simulation_is_random_but_reproducible(key, adapter)


@pytest.mark.parametrize("key, adapter", params(FAMILY, CONTRACTS, EXEMPT))
def test_simulations_agree_with_the_prediction_on_average(key, adapter):
    check_simulations_agree_with_prediction(key, adapter, N_DRAWS)
