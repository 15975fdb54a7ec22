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
from scipy import integrate, stats

from refimpl.autograd.higher_order import grad
from refimpl.autograd.ops import elementwise as _E
from refimpl.autograd.ops import linalg as _L
from refimpl.autograd.tensor import Tensor
from refimpl.nn import functional as F
from refimpl.techniques.representations_weighting import class_weighted_f1 as CW
from refimpl.techniques.representations_weighting import depict as DP
from refimpl.techniques.representations_weighting import dynamic_lrp as DL
from refimpl.techniques.representations_weighting import equiangular_basis_vectors as EBV
from refimpl.techniques.representations_weighting import magnitude_applications as MA
from refimpl.techniques.representations_weighting import magnitude_weighting_vector as MW
from refimpl.techniques.representations_weighting import presto as PR
from refimpl.techniques.representations_weighting import ripple_weight_poisoning as RP
from refimpl.techniques.representations_weighting import spark_sparse_masked_modeling as SK
from refimpl.techniques.representations_weighting import unem_unrolled_em as UN
from refimpl.techniques.representations_weighting import uniform_transformer_ate as UT
from refimpl.techniques.representations_weighting.uniform_transformer_ate import experiment as UTX

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


_MW_L, _MW_T = 10.0, 1.0


def _mw_simulate(seed):
    """The magnitude of a dense finite sample of [0, L] (its two ends and 198 uniform points), by solving Zw = 1."""
    x = np.r_[0.0, np.random.default_rng(seed).uniform(0, _MW_L, 198), _MW_L]
    return np.array([MW.magnitude(x, _MW_T)])


def _rp_setting():
    rng = np.random.default_rng(2004)
    model = RP.BagOfWordsClassifier(6, 3, 0, dtype=np.float64)
    xp, yp = rng.poisson(1.0, (16, 6)).astype(float), rng.integers(0, 2, 16)
    xf, yf = rng.poisson(1.0, (400, 6)).astype(float), rng.integers(0, 2, 400)
    return model, xp, yp, xf, yf


_RP_ETA = 1e-3


def _rp_predict():
    """The first-order change of the poisoning loss under one fine-tuning step: −η ∇L_Pᵀ∇L_FT (full batch)."""
    model, xp, yp, xf, yf = _rp_setting()
    params = list(model.parameters())
    g_p = grad(F.cross_entropy(model(Tensor(xp)), yp), params)
    g_ft = grad(F.cross_entropy(model(Tensor(xf)), yf), params)
    return np.array([-_RP_ETA * sum(float(np.sum(a.data * b.data)) for a, b in zip(g_p, g_ft))])


def _rp_simulate(seed):
    """The actual change of L_P after a fine-tuning step on a random minibatch of 40, averaged over 50 steps."""
    model, xp, yp, xf, yf = _rp_setting()
    params = list(model.parameters())
    start = [p.data.copy() for p in params]
    base = float(F.cross_entropy(model(Tensor(xp)), yp).data)
    rng, changes = np.random.default_rng(seed), []
    for _ in range(50):
        idx = rng.choice(len(yf), 40, replace=False)
        for p, g in zip(params, grad(F.cross_entropy(model(Tensor(xf[idx])), yf[idx]), params)):
            p.data -= _RP_ETA * g.data
        changes.append(float(F.cross_entropy(model(Tensor(xp)), yp).data) - base)
        for p, s in zip(params, start):
            p.data[...] = s
    return np.array([np.mean(changes)])


_UN_PI, _UN_MEANS = np.array([0.6, 0.3, 0.1]), np.array([[0.0, 0.0], [1.5, 0.0], [0.0, 1.5]])


def _un_simulate(seed):
    """UNEM's E-step with λ = T = 1, the true centroids and proportions is the Bayes posterior, so its average
    over query points drawn from the mixture is π itself (E_x p(k | x) = π_k)."""
    rng = np.random.default_rng(seed)
    y = rng.choice(3, 20_000, p=_UN_PI)
    z = _UN_MEANS[y] + rng.standard_normal((20_000, 2))
    logits = UN.gaussian_logits(z[None], _UN_MEANS[None])
    return UN.e_step(logits, np.log(_UN_PI)[None], 1.0, 1.0).numpy()[0].mean(0)


_DL_W = np.array([[1.0, -0.5, 0.3, 0.8], [-0.7, 0.9, 0.4, -0.2], [0.5, 0.5, -1.0, 0.6]])
_DL_V, _DL_MU = np.array([1.2, -0.4, 0.9]), np.array([0.5, 1.0, -0.3, 0.8])


def _dl_predict():
    """DynamicLRP conserves relevance op by op: at ε = 0 on the bias-free net f(x) = v·relu(Wx) the input
    relevance sums to f(x), so its mean over x ~ N(μ, I) is Σ_k v_k E relu(z_k), z_k ~ N(m_k, s_k²), m = Wμ,
    s_k = ‖w_k‖: E relu(z) = m Φ(m/s) + s φ(m/s)."""
    m, s = _DL_W @ _DL_MU, np.linalg.norm(_DL_W, axis=1)
    return np.array([np.sum(_DL_V * (m * stats.norm.cdf(m / s) + s * stats.norm.pdf(m / s)))])


def _dl_simulate(seed):
    """The mean, over 20 000 draws of x, of the relevance DynamicLRP puts on x's entries."""
    x = Tensor(np.random.default_rng(seed).normal(_DL_MU, 1.0, (20_000, 4)), requires_grad=True)
    out = _L.matmul(_E.relu(_L.matmul(x, _DL_W.T)), _DL_V[:, None])
    return np.array([DL.propagate(out, x, eps=0.0).relevance.sum(axis=1).mean()])


def _sk_predict():
    """A sparse 3×3 all-ones conv on an all-ones 8×8 image with 2×2 patches, 6 of 16 kept: pixel (3, 3) is in
    patch (1, 1), its window holds 4 pixels of that patch, 2 of (1, 2), 2 of (2, 1) and 1 of (2, 2); re-masking
    zeroes it unless its patch is visible (6/16), and each other patch is then visible with probability 5/15:
    E S₁(3, 3) = (6/16)(4 + 5·5/15)."""
    return np.array([6 / 16 * (4 + 5 * 5 / 15)])


def _sk_simulate(seed):
    enc = SK.SparseEncoder(sparse=True, widths=(1, 1), dtype=np.float64)
    enc.w1.data, enc.b1.data = np.ones((1, 1, 3, 3)), np.zeros(1)
    a = SK.random_patch_masks(4000, 4, 0.6, np.random.default_rng(seed))
    s1 = enc(Tensor(np.ones((4000, 1, 8, 8))), a)[0].data
    return np.array([s1[:, 0, 3, 3].mean()])


def _ut_predict():
    """E[Y(0) | T = 1] = ∫ m₀ e / ∫ e on the experiment's design, by quadrature."""
    num = integrate.quad(
        lambda x: UTX.m0(x) * UTX.propensity(x), 0, 1, points=[0.3, 1 / 3, 2 / 3], limit=200
    )[0]
    return np.array([num / integrate.quad(UTX.propensity, 0, 1, points=[1 / 3, 2 / 3], limit=200)[0]])


def _ut_simulate(seed):
    """The uniform transformer's weighted control mean (1/n₀) Σ ĝ(U_j) Y_j on one data set of 4000."""
    x, t, y = UTX.study([seed, 99], n=4000)
    return np.array([np.mean(UT.transformed_weights(x, t, 0.005) * y[t == 0])])


_EBV_K, _EBV_D = 60, 8


def _ebv_predict():
    """The random fixed head (the EBV ablation) of k unit vectors in ℝ^d: by symmetry E[cos] = 0 and, since the
    d squared coordinates of a uniform unit vector sum to 1, E[cos²] = 1/d."""
    return np.array([0.0, 1.0 / _EBV_D])


def _ebv_simulate(seed):
    G = EBV.cosine_matrix(EBV.random_unit_vectors(_EBV_K, _EBV_D, seed))
    off = G[~np.eye(_EBV_K, dtype=bool)]
    return np.array([off.mean(), (off**2).mean()])


_MA_T, _MA_G = 1.0, 2.0  # scale and the gap a point is inserted into


def _ma_predict():
    """On ℝ, |tX| = 1 + Σ tanh(t·gap/2) (Leinster), so inserting q at u into a gap g changes only that term:
    gain(u) = tanh(tu/2) + tanh(t(g − u)/2) − tanh(tg/2); over u ~ U(0, g) its mean is
    (4/(tg)) ln cosh(tg/2) − tanh(tg/2)."""
    a = _MA_T * _MA_G / 2
    return np.array([2 / a * np.log(np.cosh(a)) - np.tanh(a)])


def _ma_simulate(seed):
    """The magnitude gain (Schur-complement form) of 500 points inserted uniformly into the gap, averaged."""
    X = np.array([-1.0, 0.0, _MA_G, _MA_G + 0.7])[:, None]
    u = np.random.default_rng(seed).uniform(0, _MA_G, 500)[:, None]
    return np.array([MA.magnitude_gain(X, u, _MA_T).mean()])


_CW_N = np.array([20_000, 4000, 800, 160])  # a long tail of supports
_CW_Q = np.array(
    [[0.9, 0.05, 0.03, 0.02], [0.2, 0.7, 0.05, 0.05], [0.3, 0.1, 0.5, 0.1], [0.4, 0.1, 0.1, 0.4]]
)
_CW_SCHEMES = ("micro", "weighted", "dodrans", "entropy", "macro")


def _cw_predict():
    """With the supports fixed, every scheme's recall is linear in the counts (R_c = C_cc/n_c, weights w(n_c)
    fixed), so its mean is Σ w(n_c) Q_cc / Σ w(n_c) exactly; micro recall is the n-weighted one."""
    return np.array([CW.expected_recall(_CW_N, _CW_Q, s) for s in _CW_SCHEMES])


def _cw_simulate(seed):
    """The schemes' recall on one confusion matrix whose rows are drawn Multinomial(n_c, Q_c)."""
    rng = np.random.default_rng(seed)
    C = np.array([rng.multinomial(n, q) for n, q in zip(_CW_N, _CW_Q)])
    return np.array([CW.scheme_scores(C, s)["recall"] for s in _CW_SCHEMES])


CONTRACTS = {
    "class-weighted-f1": {"predict": _cw_predict, "simulate": _cw_simulate, "rtol": 0.01},
    "depict": {"predict": _dp_predict, "simulate": _dp_simulate, "rtol": 0.005},
    "dynamic-lrp": {"predict": _dl_predict, "simulate": _dl_simulate, "rtol": 0.01},
    "equiangular-basis-vectors": {"predict": _ebv_predict, "simulate": _ebv_simulate, "rtol": 0.05},
    "magnitude-applications": {"predict": _ma_predict, "simulate": _ma_simulate, "rtol": 0.02},
    "magnitude-weighting-vector": {
        "predict": lambda: np.array([MW.interval_magnitude(_MW_L, _MW_T)]),
        "simulate": _mw_simulate,
        "rtol": 0.01,
    },
    "presto": {"predict": _pr_predict, "simulate": _pr_simulate, "rtol": 0.01},
    "ripple-weight-poisoning": {"predict": _rp_predict, "simulate": _rp_simulate, "rtol": 0.05},
    "spark-sparse-masked-modeling": {"predict": _sk_predict, "simulate": _sk_simulate, "rtol": 0.02},
    "uniform-transformer-ate": {"predict": _ut_predict, "simulate": _ut_simulate, "rtol": 0.03},
    "unem-unrolled-em": {"predict": lambda: _UN_PI.copy(), "simulate": _un_simulate, "rtol": 0.01},
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
