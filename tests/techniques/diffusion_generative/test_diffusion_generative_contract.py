"""The diffusion-generative family's contract over the registry (the form and the checks:
`tests/techniques/contracts.py`, the same prediction/simulation pair as the theory families).

Every toy density here is known, so each technique states one exact consequence of its mechanism on a small
instance — the prediction — and a Monte Carlo simulation of the mechanism that must agree with it on average
(e.g. the optimal denoiser given by Tweedie's formula against the local average of clean points around a
corrupted one).  An adapter is {"predict": () → array, "simulate": seed → array (same shape), "rtol": float}.
A technique without such a consequence is exempt with its reason.
"""

import numpy as np
import pytest
from contracts import (
    check_prediction_is_deterministic,
    check_simulation_is_random_but_reproducible,
    check_simulations_agree_with_prediction,
    params,
)

from refimpl.techniques.diffusion_generative import dae_score as DS
from refimpl.techniques.diffusion_generative import toys
from refimpl.techniques.diffusion_generative import weighted_cfm as WC

FAMILY = "diffusion-generative"
N_DRAWS = 12

_DS_MIX = toys.eight_gaussians(radius=2.0, std=0.3)
_DS_POINTS = np.array([[2.0, 0.0], [1.2, 1.2], [0.0, -1.7]])


def _ds_simulate(seed):
    """E[x | x̃ ≈ point] by averaging the clean points whose corruption (σ = 0.4) lands within 0.05 of it."""
    rng = np.random.default_rng(seed)
    x, _ = _DS_MIX.sample(400_000, rng)
    noisy = x + 0.4 * rng.standard_normal(x.shape)
    return np.stack([x[np.linalg.norm(noisy - p, axis=1) < 0.05].mean(0) for p in _DS_POINTS])


def _wc_simulate(seed):
    """The Gibbs-weighted mean and variance of N(0, 1) source points paired with N(1.5, 0.4²) data points
    (ε = 1.2): the tilted source marginal, by weighted sampling."""
    rng = np.random.default_rng(seed)
    x, y = rng.standard_normal(200_000), 1.5 + 0.4 * rng.standard_normal(200_000)
    w = WC.gibbs_weights(x[:, None], y[:, None], 1.2)
    mean = np.sum(w * x) / np.sum(w)
    return np.array([mean, np.sum(w * (x - mean) ** 2) / np.sum(w)])


CONTRACTS = {
    "dae-score": {
        "predict": lambda: DS.optimal_reconstruction(_DS_MIX, _DS_POINTS, 0.4),
        "simulate": _ds_simulate,
        "rtol": 0.04,
    },
    "weighted-cfm": {
        "predict": lambda: np.array(WC.tilted_source_gaussian(1.5, 0.4, 1.2)),
        "simulate": _wc_simulate,
        "rtol": 0.02,
    },
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
