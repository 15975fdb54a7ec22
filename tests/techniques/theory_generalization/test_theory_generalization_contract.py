"""The theory-generalization family's contract over the registry (the form and the checks:
`tests/techniques/contracts.py`, shared with theory-dynamics).

An adapter is {"predict": () → array, "simulate": seed → array (same shape), "rtol": float}: a small instance of
the technique's own setting.  Every technique must give a finite, deterministic prediction; simulations that
vary with the seed and repeat for a fixed one; and agree with its prediction on average.
"""

import numpy as np
import pytest
from contracts import (
    check_prediction_is_deterministic,
    check_simulation_is_random_but_reproducible,
    check_simulations_agree_with_prediction,
    params,
)

from refimpl.techniques.theory_generalization import adaptive_data_analysis as AD
from refimpl.techniques.theory_generalization import embedding_dim_limit as ED
from refimpl.techniques.theory_generalization import farms as FA
from refimpl.techniques.theory_generalization import inductive_bias_complexity as IB
from refimpl.techniques.theory_generalization import learning_curve_power_laws as LC
from refimpl.techniques.theory_generalization import memorization_long_tail as ML
from refimpl.techniques.theory_generalization import pretraining_infinite_compute as PI
from refimpl.techniques.theory_generalization import projection_head_theory as PH
from refimpl.techniques.theory_generalization import prompt_pac_bayes as PB
from refimpl.techniques.theory_generalization import repeated_sampling_coverage as RS
from refimpl.techniques.theory_generalization import scaling_law_estimation as SL
from refimpl.techniques.theory_generalization import statmech_continual_binary as SC
from refimpl.techniques.theory_generalization import universality_lens as UL

FAMILY = "theory-generalization"
N_DRAWS = 12


def _ad_simulate(seed):
    """Mean |answer − holdout mean| of Thresholdout when every query overflows: E|Lap(σ)| = σ."""
    mech = AD.Thresholdout(0.0, 0.05, rng=seed)
    return np.array([np.mean([abs(mech.query([0.0], [10.0]) - 10.0) for _ in range(500)])])


_RS_KS = np.array([1, 4, 16])


def _rs_simulate(seed):
    p = np.random.default_rng(seed).beta(0.5, 2.0, 4000)
    return np.array([np.mean(1 - (1 - p) ** k) for k in _RS_KS])


def _lc_simulate(seed):
    """The fitted exponent of a noisy power law 2 m^(−1/2) (log-normal noise, unbiased on the log scale)."""
    m = np.geomspace(10, 1000, 8)
    err = 2 * m**-0.5 * np.exp(0.05 * np.random.default_rng(seed).normal(size=8))
    return np.array([LC.fit_pure_power_law(m, err)["beta"]])


_ML_PSI = ML.zipf_frequencies(200)


def _ml_simulate(seed):
    """The mean singleton mass of 400 samples of n = 100 draws from 200 Zipf subpopulations."""
    rng = np.random.default_rng(seed)
    return np.array(
        [
            np.mean(
                [
                    ML.singleton_mass(_ML_PSI, np.bincount(rng.choice(200, 100, p=_ML_PSI), minlength=200))
                    for _ in range(400)
                ]
            )
        ]
    )


def _pb_simulate(seed):
    """Among 10⁴ prompts drawn from the grammar (d = 4): the share that is `x0`, and the shares rooted at NOT and AND."""
    prompts = PB.sample_prompts(10_000, 4, seed)
    return np.array(
        [
            np.mean([p == ("x0",) for p in prompts]),
            np.mean([p[0] == "NOT" for p in prompts]),
            np.mean([p[0] == "AND" for p in prompts]),
        ]
    )


def _ph_simulate(seed):
    """The sample cross-view moments E[x_k x⁺_k] of two features (a = 1, 2; ρ = 0.9, 0.5) from 4000 pairs."""
    x, xp, _ = PH.sample_views([1.0, 2.0], [0.9, 0.5], 0.5, 0, 4000, seed)
    return np.mean(x * xp, axis=0)


_ED_X = np.stack([np.cos(np.deg2rad([90.0, 210.0, 330.0])), np.sin(np.deg2rad([90.0, 210.0, 330.0]))], 1)


def _ed_simulate(seed):
    """For three documents 120° apart in d = 2, the share of random query directions whose top-2 is each pair:
    a third each (the arcs between bisectors of the far sides are 120° wide)."""
    Q = np.random.default_rng(seed).normal(size=(3000, 2))
    pairs = ED.all_pairs(3)
    top = np.sort(np.argsort(-(Q @ _ED_X.T), axis=1)[:, :2], axis=1)
    return np.array([np.mean(np.all(top == p, axis=1)) for p in pairs])


def _fa_simulate(seed):
    """The Hill α of a 200 × 400 Gaussian matrix's spectrum against the Marchenko–Pastur limit α_MP(½)."""
    return np.array([FA.hill_alpha(FA.eigenvalues(np.random.default_rng(seed).normal(size=(200, 400))))])


_IB_RNG = np.random.default_rng(11)
_IB_THETA = _IB_RNG.normal(size=9) / 3
_IB_PHI = IB.trig_basis(_IB_RNG.uniform(size=(3, 2)), 1)


def _ib_simulate(seed):
    """The share of 20 000 conditioned reference draws (d = 2, M = 1, three points) with error ≤ 0.5."""
    return np.array([np.mean(IB.conditional_errors(_IB_PHI, _IB_THETA, 1 / 9, 20_000, seed) <= 0.5)])


_SC_T1, _SC_T2 = SC.teacher_pair(60, 0.25, 0)


def _sc_simulate(seed):
    """The disagreement rate of two teachers (overlap 0.5) on 20 000 Gaussian inputs."""
    X = np.random.default_rng(seed).normal(size=(20_000, 60))
    return np.array([np.mean(np.sign(X @ _SC_T1) != np.sign(X @ _SC_T2))])


_PI_N = np.geomspace(1e3, 1e6, 8)
_PI_TRUE = np.array([0.4, 1.7])


def _pi_simulate(seed):
    """Fitted (α, E) of 30 N^(−0.4) + 1.7 with 0.2 % multiplicative noise."""
    loss = PI.power_law(_PI_N, 30.0, *_PI_TRUE) * (
        1 + 0.002 * np.random.default_rng(seed).normal(size=_PI_N.size)
    )
    fit = PI.fit_power_law(_PI_N, loss)
    return np.array([fit["alpha"], fit["e"]])


_SL_LAM, _SL_W = SL.teacher(256, 1.2, 1.5, [5, 5])
_SL_N, _SL_B, _SL_LR, _SL_STEPS = 32, 4, 0.3, np.array([1, 10, 40])
_SL_FLOOR = float(_SL_LAM[_SL_N:] @ _SL_W[_SL_N:] ** 2)


def _sl_simulate(seed):
    """The mean loss of 100 exact-minibatch SGD runs (N = 32, B = 4, η = 0.3) after 1, 10 and 40 steps."""
    runs = [
        SL.train_curve(
            _SL_LAM[:_SL_N], _SL_W[:_SL_N], _SL_FLOOR, _SL_B, 40, [seed, r], lr=_SL_LR, exact_minibatch=True
        )
        for r in range(100)
    ]
    return np.mean(runs, axis=0)[_SL_STEPS - 1]


def _sl_predict():
    return SL.expected_loss_curve(_SL_LAM[:_SL_N], _SL_W[:_SL_N], _SL_FLOOR, _SL_B, 40, _SL_LR)[_SL_STEPS - 1]


_UL_GRID = ((np.arange(1000) + 0.5) / 1000, np.ones(1000))


def _ul_simulate(seed):
    """The mean regret over 2000 sampled sequences (n = 100, θ* = 0.2) against the exact expectation."""
    k = np.random.default_rng(seed).binomial(100, 0.2, 2000)
    return np.array([np.mean(UL.mixture_regret(k, 100, *_UL_GRID, 0.2))])


CONTRACTS = {
    "adaptive-data-analysis": {"predict": lambda: np.array([0.05]), "simulate": _ad_simulate, "rtol": 0.03},
    "embedding-dim-limit": {"predict": lambda: np.full(3, 1 / 3), "simulate": _ed_simulate, "rtol": 0.03},
    "farms": {"predict": lambda: np.array([FA.mp_alpha(0.5)]), "simulate": _fa_simulate, "rtol": 0.02},
    "inductive-bias-complexity": {
        "predict": lambda: np.array([IB.fit_fraction(_IB_PHI, _IB_THETA, 0.5, 1 / 9)]),
        "simulate": _ib_simulate,
        "rtol": 0.03,
    },
    "learning-curve-power-laws": {
        "predict": lambda: np.array([-0.5]),
        "simulate": _lc_simulate,
        "rtol": 0.03,
    },
    "memorization-long-tail": {
        "predict": lambda: np.array([ML.expected_singleton_mass(_ML_PSI, 100)]),
        "simulate": _ml_simulate,
        "rtol": 0.02,
    },
    "pretraining-infinite-compute": {
        "predict": lambda: _PI_TRUE.copy(),
        "simulate": _pi_simulate,
        "rtol": 0.05,
    },
    "projection-head-theory": {
        "predict": lambda: np.diag(PH.population_moments([1.0, 2.0], [0.9, 0.5], 0.5)[0]),
        "simulate": _ph_simulate,
        "rtol": 0.03,
    },
    "prompt-pac-bayes": {
        "predict": lambda: np.array([PB.P_LEAF / 4, PB.P_NOT, PB.P_AND]),
        "simulate": _pb_simulate,
        "rtol": 0.04,
    },
    "repeated-sampling-coverage": {
        "predict": lambda: RS.beta_coverage(_RS_KS, 0.5, 2.0),
        "simulate": _rs_simulate,
        "rtol": 0.02,
    },
    "scaling-law-estimation": {"predict": _sl_predict, "simulate": _sl_simulate, "rtol": 0.03},
    "statmech-continual-binary": {
        "predict": lambda: np.array([SC.generalization_error(_SC_T1, _SC_T2)]),
        "simulate": _sc_simulate,
        "rtol": 0.03,
    },
    "universality-lens": {
        "predict": lambda: np.array([UL.expected_regret(0.2, 100, *_UL_GRID)]),
        "simulate": _ul_simulate,
        "rtol": 0.03,
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
