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


CONTRACTS = {"presto": {"predict": _pr_predict, "simulate": _pr_simulate, "rtol": 0.01}}
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
