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
from scipy import stats

from refimpl.techniques.diffusion_generative import cfg_weight_schedulers as CW
from refimpl.techniques.diffusion_generative import dae_score as DS
from refimpl.techniques.diffusion_generative import debiased_diffusion_weighting as DW
from refimpl.techniques.diffusion_generative import fqgan_factorized_vq as FQ
from refimpl.techniques.diffusion_generative import maskunet as MU
from refimpl.techniques.diffusion_generative import rece_concept_erasure as RC
from refimpl.techniques.diffusion_generative import retrieval_augmented_diffusion as RD
from refimpl.techniques.diffusion_generative import schedules, toys
from refimpl.techniques.diffusion_generative import weighted_cfm as WC
from refimpl.techniques.diffusion_generative.samplers import exact_eps

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


_CW_MEANS = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])
_CW_FULL, _CW_CLS = toys.GaussianMixture(_CW_MEANS, 0.3), toys.GaussianMixture(_CW_MEANS[[0, 2]], 0.3)
_CW_ABAR, _CW_POINTS = np.array([0.5]), np.array([[0.5, 0.2], [-0.3, 0.6], [0.1, -0.8]])
_CW_W = CW.guidance_weights("linear-increasing", 2.0, 5)[3]  # = 3


def _cw_predict():
    """The guided noise prediction at a point from the exact conditional and unconditional predictors."""
    eps = CW.scheduled_cfg_eps(exact_eps(_CW_CLS, _CW_ABAR), exact_eps(_CW_FULL, _CW_ABAR), [_CW_W], [0])
    return eps(_CW_POINTS, 0)


def _cw_simulate(seed):
    """The same by Tweedie, ε = (x_t − √a E[x0 | x_t])/√(1 − a), E[x0 | x_t] importance-sampled from clean draws."""
    rng, a = np.random.default_rng(seed), _CW_ABAR[0]

    def tweedie_eps(mixture):
        x0, _ = mixture.sample(100_000, rng)
        lw = -((_CW_POINTS[:, None] - np.sqrt(a) * x0[None]) ** 2).sum(-1) / (2 * (1 - a))
        w = np.exp(lw - lw.max(1, keepdims=True))
        return (_CW_POINTS - np.sqrt(a) * (w @ x0 / w.sum(1, keepdims=True))) / np.sqrt(1 - a)

    return CW.cfg_combine(tweedie_eps(_CW_FULL), tweedie_eps(_CW_CLS), _CW_W)


_DW_ABAR, _DW_S2 = schedules.alpha_bars([0.1, 0.2, 0.3, 0.4]), 0.5  # data N(0, s²I) in 2-D


def _dw_predict():
    """Per step: the 1/√SNR-weighted ε-MSE of the exact predictor, then its x₀ MSE (the posterior variance)."""
    a, v = _DW_ABAR, _DW_ABAR * _DW_S2 + 1 - _DW_ABAR
    return np.concatenate([2 * DW.debiased_weights(a) * a * _DW_S2 / v, 2 * _DW_S2 * (1 - a) / v])


def _dw_simulate(seed):
    """The same by Monte Carlo with the exact linear ε*(x_t) = √(1 − ᾱ) x_t/(ᾱs² + 1 − ᾱ)."""
    rng = np.random.default_rng(seed)
    e, x = [], []
    for a, lam in zip(_DW_ABAR, DW.debiased_weights(_DW_ABAR)):
        x0 = np.sqrt(_DW_S2) * rng.standard_normal((50_000, 2))
        eps = rng.standard_normal(x0.shape)
        xt = np.sqrt(a) * x0 + np.sqrt(1 - a) * eps
        eh = np.sqrt(1 - a) * xt / (a * _DW_S2 + 1 - a)
        e.append(lam * np.mean(np.sum((eps - eh) ** 2, 1)))
        x.append(np.mean(np.sum((DW.x0_from_eps(xt, eh, a) - x0) ** 2, 1)))
    return np.array(e + x)


def _fq_simulate(seed):
    """Nearest-code assignment of z ~ N(0.3, 1) to the codebook {−1, +1}: how often +1 wins."""
    z = np.random.default_rng(seed).normal(0.3, 1.0, (4000, 1))
    return np.array([np.mean(FQ.quantize(z, np.array([[-1.0], [1.0]]))[0] == 1)])


def _rd_simulate(seed):
    """Mean squared distance from the query 0 to its 1st..4th retrieved neighbour, over 2000 databases of 50
    points from N(0, I₂)."""
    rng = np.random.default_rng(seed)
    d2 = []
    for _ in range(2000):
        db = rng.standard_normal((50, 2))
        d2.append(np.sum(db[RD.knn(np.zeros((1, 2)), db, 4)[0]] ** 2, axis=1))
    return np.mean(d2, axis=0)


_MU_RNG = np.random.default_rng(2505)
_MU_W, _MU_B = _MU_RNG.standard_normal((3, 4)), _MU_RNG.standard_normal(3)
_MU_H, _MU_L = _MU_RNG.standard_normal((2, 4)), _MU_RNG.standard_normal((3, 4))


def _mu_predict():
    """The mean output of a layer under the official Gumbel-sigmoid mask, m ~ Bernoulli(σ(L)):
    E[(W ⊙ m) h + b] = (W ⊙ σ(L)) h + b."""
    return _MU_H @ (_MU_W / (1 + np.exp(-_MU_L))).T + _MU_B


def _mu_simulate(seed):
    """The same by averaging the masked layer over 4000 Gumbel-sigmoid masks (τ = 0.5)."""
    rng = np.random.default_rng(seed)
    outs = [
        MU.masked_linear(_MU_H, _MU_W, _MU_B, MU.gumbel_sigmoid_mask(_MU_L, rng, 0.5)).data
        for _ in range(4000)
    ]
    return np.mean(outs, axis=0)


_RC_WE, _RC_W = np.array([[0.5, 0.2], [-0.1, 1.0]]), np.array([[1.0, 0.0], [0.3, 1.0]])
_RC_C, _RC_GAMMA, _RC_S2 = np.array([1.0, 0.8]), 1.0, 0.5


def _rc_simulate(seed):
    """RECE's derived embedding (W'ᵀW' + γI)⁻¹W'ᵀWc is the posterior mean of c' under the prior N(0, σ²/γ I) and
    the observation Wc = W'c' + N(0, σ²I): self-normalised importance sampling from the prior (σ² = 0.5)."""
    rng = np.random.default_rng(seed)
    draws = np.sqrt(_RC_S2 / _RC_GAMMA) * rng.standard_normal((400_000, 2))
    lw = -np.sum((draws @ _RC_WE.T - _RC_W @ _RC_C) ** 2, axis=1) / (2 * _RC_S2)
    w = np.exp(lw - lw.max())
    return w @ draws / w.sum()


CONTRACTS = {
    "rece-concept-erasure": {
        "predict": lambda: RC.regenerating_embedding(_RC_WE, _RC_W, _RC_C, gamma=_RC_GAMMA),
        "simulate": _rc_simulate,
        "rtol": 0.02,
    },
    "maskunet": {"predict": _mu_predict, "simulate": _mu_simulate, "rtol": 0.05},
    "retrieval-augmented-diffusion": {
        "predict": lambda: RD.kth_neighbour_sq_distance_gaussian(50, 4),
        "simulate": _rd_simulate,
        "rtol": 0.03,
    },
    "fqgan-factorized-vq": {
        "predict": lambda: np.array([stats.norm.cdf(0.3)]),
        "simulate": _fq_simulate,
        "rtol": 0.02,
    },
    "debiased-diffusion-weighting": {"predict": _dw_predict, "simulate": _dw_simulate, "rtol": 0.01},
    "cfg-weight-schedulers": {"predict": _cw_predict, "simulate": _cw_simulate, "rtol": 0.05},
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
