"""The theory-dynamics family's contract over the registry (the form: `tests/techniques/contracts.py`).

Every technique of the family is a prediction against a simulation.  An adapter is {"predict": () → array,
"simulate": seed → array (same shape), "rtol": float}: a small instance of the technique's own setting (the
checks live in `contracts.py`, shared with theory-generalization).  Every technique must

* give a finite, deterministic prediction (the same array twice);
* give simulations that vary with the seed (a simulation, not a copy of the formula) and are reproducible
  for a fixed seed;
* agree with its prediction: the mean of `N_DRAWS` simulations is within `rtol` of it, elementwise
  (relative to each entry, or to the prediction's largest entry for entries near zero).
"""

import numpy as np
import pytest
from contracts import (
    check_prediction_is_deterministic,
    check_simulation_is_random_but_reproducible,
    check_simulations_agree_with_prediction,
    params,
)

from refimpl.techniques.theory_dynamics import advani_saxe_dynamics as AS
from refimpl.techniques.theory_dynamics import general_purpose_icl as GP
from refimpl.techniques.theory_dynamics import grok_corrupted_modular as GC
from refimpl.techniques.theory_dynamics import hierarchical_polynomials as HP
from refimpl.techniques.theory_dynamics import icl_linear_gd as ICL
from refimpl.techniques.theory_dynamics import li2_grokking as LI2
from refimpl.techniques.theory_dynamics import ntk as NTK
from refimpl.techniques.theory_dynamics import rf_more_is_better as RF
from refimpl.techniques.theory_dynamics import scale_mixture_nngp as SM
from refimpl.techniques.theory_dynamics import self_distillation_krr as SD
from refimpl.techniques.theory_dynamics import subgm_small_init as SG
from refimpl.techniques.theory_dynamics import transformers_as_svm as TS
from refimpl.techniques.theory_dynamics import wide_cnn_kernel as WC
from refimpl.techniques.theory_dynamics import wide_deep_optimal_classification as WD

FAMILY = "theory-dynamics"
N_DRAWS = 12


def _gc_simulate(seed):
    """The mean IPR of 400 neurons with i.i.d. Gaussian weights (p = 31)."""
    return np.array([GC.ipr(np.random.default_rng(seed).normal(size=(400, 62)), 31).mean()])


def _hp_simulate(seed):
    """E[g(z) z] for g(z) = z³ and z ~ N(0, 1) (the feature coefficient c of a Gaussian feature), 20 000 draws."""
    z = np.random.default_rng(seed).normal(size=20_000)
    return np.array([np.mean(HP.link(z) * z)])


def _advani_saxe_steps():
    return np.array([0, 5, 50, 500])


def _advani_saxe_predict():
    return AS.mp_error_curve(2.0, _advani_saxe_steps(), lr=0.1, noise=0.5, init=0.5)


def _advani_saxe_simulate(seed):
    d = AS.teacher_student(150, 300, noise=0.5, init=0.5, rng=seed)
    w = AS.gd_trajectory(d["X"], d["y"], d["w0"], 0.1, 500, record=_advani_saxe_steps())
    return AS.generalization_error(w, d["w_teacher"], 0.5)


_NTK_X = NTK.circle_points([0.0, 0.9, 2.2, 4.0])


def _ntk_simulate(seed):
    return NTK.TwoLayerReLU(2000, rng=seed).ntk(_NTK_X)


def _icl_predict():
    best = ICL.optimal_gd_step(10, 5, 0.1)
    return np.array([best["eta"], best["mse"]])


def _icl_simulate(seed):
    t = ICL.sample_tasks(20_000, 10, 5, noise=0.1, rng=seed)
    a = ICL.gd_prediction(t["X"], t["y"], t["xq"], 1.0)
    eta = np.sum(a * t["yq"]) / np.sum(a * a)
    return np.array([eta, np.mean((eta * a - t["yq"]) ** 2) / np.mean(t["yq"] ** 2)])


def _rf_teacher(X):
    return X[:, 0] + 2.0 * X[:, 1] * X[:, 2]


def _rf_predict():
    XM = RF.sphere(1500, 4, 100)
    lam, v = RF.nystrom_eigensystem(RF.relu_kernel(XM), _rf_teacher(XM))
    return np.array([RF.omniscient_risk(lam, v, 64, 0.05, 0.1)["test"]])


def _rf_simulate(seed):
    rng = np.random.default_rng(seed)
    X, Z = RF.sphere(64, 4, rng), RF.sphere(2000, 4, rng)
    y, yz = (_rf_teacher(A) + np.sqrt(0.1) * rng.normal(size=len(A)) for A in (X, Z))
    return np.array([np.mean((RF.krr(RF.relu_kernel(X), RF.relu_kernel(Z, X), y, 0.05) - yz) ** 2)])


_SD_K = SD.rbf_kernel(np.linspace(0, 1, 15), bandwidth=0.15)
_SD_ROUNDS = (1, 3, 10)


def _sd_predict():
    """E‖f_t(X)‖² for labels y ~ N(0, I): Σ_i c_{t,i}² (each eigencomponent of y has unit variance)."""
    c = SD.distillation_factors(np.linalg.eigvalsh(_SD_K), 0.1, 0.3, max(_SD_ROUNDS))
    return np.array([np.sum(c[t - 1] ** 2) for t in _SD_ROUNDS])


def _sd_simulate(seed):
    y = np.random.default_rng(seed).normal(size=(200, 15))
    fits = np.array([SD.self_distill(_SD_K, _SD_K, yy, 0.1, 0.3, max(_SD_ROUNDS)) for yy in y])
    return np.array([np.mean(np.sum(fits[:, t - 1] ** 2, axis=1)) for t in _SD_ROUNDS])


_SG_X = np.array([[2.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 0.5]])


def _sg_simulate(seed):
    A = np.random.default_rng(seed).normal(size=(20_000, 3, 3))
    return np.tensordot(np.sign(np.einsum("mij,ij->m", A, _SG_X)), A, axes=1) / len(A)


_TS = (np.array([[[1.0, 0.0], [0.0, 1.0]]]), np.array([[1.0, 0.0]]), np.array([1.0]), np.array([1.0, 0.0]))


def _ts_simulate(seed):
    X, z, y, v = _TS
    init = 0.1 * np.random.default_rng(seed).normal(size=(2, 2))
    W, _ = TS.train_attention(X, z, y, v, lr=0.01, steps=2000, init=init)
    return W / np.linalg.norm(W)


_SM_X = np.array([-1.0, 0.5])


def _sm_predict():
    """Var f(x) = E σ² · k(x, x) = b k/(a − 1) for σ² ~ InvGamma(a = 4, b = 3)."""
    return 3.0 * np.diag(SM.nngp_kernel(_SM_X)) / 3.0


def _sm_simulate(seed):
    return np.var(SM.sample_wide_networks(_SM_X, 4000, 300, a=4.0, b=3.0, rng=seed), axis=0)


_WC_X = np.random.default_rng(7).uniform(-1, 1, size=(3, 6))


def _wc_simulate(seed):
    """The empirical covariance of 400 teacher draws: its mean over seeds is the local kernel."""
    draws = np.array([WC.sample_local_teacher(_WC_X, patch=2, rng=[seed, k]) for k in range(400)])
    return draws.T @ draws / 400


_GP_X = np.array([1.0, -2.0, 0.5, 3.0])


def _gp_simulate(seed):
    """2000 tasks (A, ρ): the mean of ‖A x‖² for a fixed x, and how often ρ keeps label 0 in place
    (E‖Ax‖² = ‖x‖² for A_jk ~ N(0, 1/N_x); P(ρ(0) = 0) = 1/C): the task generator's two exact moments."""
    A, perm = GP.sample_tasks(2000, 4, 3, rng=seed)
    return np.array([np.mean(np.sum((A @ _GP_X) ** 2, axis=1)), np.mean(perm[:, 0] == 0)])


_LI2_M = 11
_LI2_X, _LI2_Y = LI2.modular_addition(_LI2_M)


def _li2_simulate(seed):
    """2000 random nodes w ~ N(0, I/(2M)): their mean energy (E E = (M − 1)/(2M)); and 40 unit nodes under weight
    decay η = 10⁴ λ_max(FᵀF): the cosine of the backpropagated hidden gradient with ∇E (→ 1, the independent
    stage)."""
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(2000, 2 * _LI2_M)) / np.sqrt(2 * _LI2_M)
    U = W[:40] / np.linalg.norm(W[:40], axis=1, keepdims=True)
    F = (_LI2_X @ U.T) ** 2
    eta = 1e4 * np.linalg.eigvalsh(F.T @ F)[-1]
    cos = LI2.gradient_alignment(
        LI2.hidden_gradient(U, _LI2_X, _LI2_Y, eta), LI2.energy_gradient(U, _LI2_X, _LI2_Y)
    )
    return np.array([np.mean(LI2.energy(W, _LI2_X, _LI2_Y)), cos])


_WD_DUALS = ("2d_opt", "5d_opt")


def _wd_simulate(seed):
    """The singular exponent of the depth-10⁸ NTK fitted on the pairs of 60 random points of the Dirichlet arc
    with 1 − ρ in [1e-4, 1e-1]; predicted α = 2 log(1/φ̌'(0)) / log φ̌'(1) = 1 and 4."""
    X, _, _ = WD.dirichlet_arc(60, rng=seed)
    rho = np.clip(X @ X.T, -1.0, 1.0)[np.triu_indices(60, 1)]
    rho = rho[(1 - rho >= 1e-4) & (1 - rho <= 1e-1)]
    return np.array(
        [WD.local_exponent(rho, WD.deep_ntk_log(rho, WD.OPTIMAL[k], 10**8)[1]) for k in _WD_DUALS]
    )


CONTRACTS = {
    "wide-deep-optimal-classification": {
        "predict": lambda: np.array([WD.singular_exponent(WD.OPTIMAL[k]) for k in _WD_DUALS]),
        "simulate": _wd_simulate,
        "rtol": 0.03,
    },
    "li2-grokking": {
        "predict": lambda: np.array([LI2.random_energy(_LI2_M), 1.0]),
        "simulate": _li2_simulate,
        "rtol": 0.03,
    },
    "general-purpose-icl": {
        "predict": lambda: np.array([_GP_X @ _GP_X, 1 / 3]),
        "simulate": _gp_simulate,
        "rtol": 0.05,
    },
    "advani-saxe-dynamics": {
        "predict": _advani_saxe_predict,
        "simulate": _advani_saxe_simulate,
        "rtol": 0.05,
    },
    "grok-corrupted-modular": {
        "predict": lambda: np.array([GC.random_ipr(31)]),
        "simulate": _gc_simulate,
        "rtol": 0.02,
    },
    "hierarchical-polynomials": {"predict": lambda: np.array([3.0]), "simulate": _hp_simulate, "rtol": 0.05},
    "icl-linear-gd": {"predict": _icl_predict, "simulate": _icl_simulate, "rtol": 0.02},
    "rf-more-is-better": {"predict": _rf_predict, "simulate": _rf_simulate, "rtol": 0.05},
    "scale-mixture-nngp": {"predict": _sm_predict, "simulate": _sm_simulate, "rtol": 0.05},
    "self-distillation-krr": {"predict": _sd_predict, "simulate": _sd_simulate, "rtol": 0.05},
    "subgm-small-init": {
        "predict": lambda: SG.expected_sign_measurement(_SG_X),
        "simulate": _sg_simulate,
        "rtol": 0.03,
    },
    "transformers-as-svm": {
        "predict": lambda: np.array([[1.0, 0.0], [-1.0, 0.0]]) / np.sqrt(2),  # the hand Att-SVM, normalized
        "simulate": _ts_simulate,
        "rtol": 0.03,
    },
    "wide-cnn-kernel": {
        "predict": lambda: WC.local_kernel(_WC_X, patch=2),
        "simulate": _wc_simulate,
        "rtol": 0.03,
    },
    "ntk": {"predict": lambda: NTK.analytic_ntk(_NTK_X), "simulate": _ntk_simulate, "rtol": 0.02},
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
