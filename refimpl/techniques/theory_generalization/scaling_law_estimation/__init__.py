r"""Scaling-law estimation: every constant of the OpenAI-style laws — the size law, the size-and-steps law
and the critical batch size — is estimated from small models only, and the estimated laws then predict the
whole loss curve (and the critical batch size) of a much larger model before it is trained.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.

The laws
--------
The paper keeps the functional forms of Kaplan et al. (2020) and re-estimates their constants.  Equation
numbers below are Kaplan et al.'s, which the paper quotes; N counts the (non-embedding) parameters, S the
optimisation steps, B the batch size, E = B S the examples seen:

.. math::

    L(N) = (N_c/N)^{\alpha_N}                                              \qquad (1.1)

    L(N, S_{\min}) = (N_c/N)^{\alpha_N} + (S_c/S_{\min})^{\alpha_S}        \qquad (1.6)

    B_{\mathrm{crit}}(L) = B^{*} / L^{1/\alpha_B}                           \qquad (1.4, 5.3)

Training at batch B takes S steps and E examples to reach a loss L; the step/data trade-off is the
hyperbola :math:`(S/S_{\min} - 1)(E/E_{\min} - 1) = 1` (5.1), equivalently :math:`S = S_{\min} + E_{\min}/B`,
whose two constants define :math:`B_{\mathrm{crit}}(L) = E_{\min}/S_{\min}` (5.2).  A run at any batch is
converted to the steps it would have needed at a very large batch,

.. math::

    S_{\min}(S) = S / \big(1 + B_{\mathrm{crit}}(L)/B\big)                   \qquad (5.4)

    E_{\min}(E) = E / \big(1 + B/B_{\mathrm{crit}}(L)\big)                   \qquad (5.5)

so that one law (1.6) covers runs at every batch size.

The estimation procedure (as reconstructed here)
------------------------------------------------
1. *Critical batch size.*  Train small models at several batch sizes; for each target loss L read off the
   steps S(B) needed, fit S = S_min + E_min / B by least squares (`fit_step_tradeoff`), set
   B_crit = E_min / S_min, and fit log B_crit = log B* − (1/α_B) log L over all targets and small models
   (`fit_critical_batch`).
2. *Size and steps.*  Convert every logged point (N, B, S, L) of every small run to S_min with (5.4) and fit
   the four constants N_c, α_N, S_c, α_S of (1.6) by least squares on log L (`fit_loss_surface`).
3. *Prediction.*  For a new (N, B), the loss after S steps solves the implicit equation
   L = (N_c/N)^α_N + (S_c/S_min(S, L))^α_S (`predict_loss_curve`; B_crit depends on L, so the equation is
   solved for L by bisection — its right side falls as L grows, so the root is unique).  The minimum
   reachable loss of the model is (1.1); the predicted critical batch size at a loss is (1.4).

What is reconstructed
---------------------
The full text of the paper could not be read here; only its abstract (the claim that the OpenAI forms hold,
that their constants vary with the set-up, and that all of them can be estimated from 1M–60M-parameter models
and predict the test-loss trajectory of much larger ones).  The formulas are Kaplan et al.'s, which the paper
adopts; the three-step fitting order above (B_crit first, then the surface on S_min) follows Kaplan et al.
Sec. 5 and is assumed to be the paper's.  The paper's specific recipes (learning-rate schedule, context length,
how the converged loss is estimated) are not reproduced.

The toy is a solvable stand-in, not a language model: a linear student of width N trained by minibatch SGD on
a Gaussian teacher with power-law spectrum (`teacher`, `train_curve`).  Its learning rate is set each step
to the value minimising the expected next loss (`expected_optimal_lr`, McCandlish et al.'s optimal step),
which is the setting in which the critical-batch relation (5.1) is derived; the minibatch gradient noise
is drawn with the exact mean and covariance of a batch of B Gaussian examples (`exact_minibatch=True` draws
the examples themselves), and the expected loss of fixed-rate SGD obeys a closed recursion
(`expected_loss_curve`) that the tests and the family contract hold the simulation against.

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/theory-generalization/scaling-law-estimation.ipynb
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import least_squares

from .. import fitting

CATALOG_ENTRY = {
    "slug": "scaling-law-estimation",
    "title": "Unraveling the Mystery of Scaling Laws: Part I",
    "authors": "Hui Su, Zhi Tian, Xiaoyu Shen, Xunliang Cai",
    "year": 2024,
    "arxiv": "2403.06563",
    "family": "theory-generalization",
    "notebook": "notebooks/theory-generalization/scaling-law-estimation.ipynb",
    "verified": "reconstructed",
    "verification_note": "arXiv id confirmed from the title, authors and abstract (arxiv.org/html/2403.06563); the "
    "full text and any official code were not available, so the laws are Kaplan et al. (2020)'s, which the paper "
    "adopts (their Eqs. 1.1, 1.4, 1.6, 5.1–5.5), and the estimation order (critical batch size first, then the "
    "size-and-steps surface on S_min) follows Kaplan et al. Sec. 5.  The toy is a linear student of width N on a "
    "power-law Gaussian teacher trained by SGD at the expected-optimal step, not a language model.",
    "summary": "The OpenAI scaling-law forms L(N), L(N, S_min) and B_crit(L) hold, but their constants depend "
    "on the set-up; all of them can be estimated from small models (batch sweeps and loss curves) and then "
    "predict the loss curve, minimum loss and critical batch size of a much larger model before training it.",
    "equations": [
        "L(N) = (N_c/N)^α_N   (Kaplan Eq. 1.1)",
        "L(N, S_min) = (N_c/N)^α_N + (S_c/S_min)^α_S   (Kaplan Eq. 1.6)",
        "B_crit(L) = B*/L^(1/α_B)   (Kaplan Eqs. 1.4, 5.3)",
        "(S/S_min − 1)(E/E_min − 1) = 1,  B_crit = E_min/S_min   (Kaplan Eqs. 5.1, 5.2)",
        "S_min = S/(1 + B_crit(L)/B),  E_min = E/(1 + B/B_crit(L))   (Kaplan Eqs. 5.4, 5.5)",
    ],
}

__all__ = [
    "CATALOG_ENTRY",
    "loss_of_size",
    "loss_of_size_and_steps",
    "critical_batch",
    "steps_min",
    "examples_min",
    "fit_power_law",
    "fit_step_tradeoff",
    "fit_critical_batch",
    "fit_loss_surface",
    "predict_loss_curve",
    "steps_to_reach",
    "teacher",
    "expected_optimal_lr",
    "expected_loss_curve",
    "train_curve",
]


# --- the laws ------------------------------------------------------------------------------------------
def loss_of_size(N, N_c: float, alpha_N: float) -> np.ndarray:
    """The loss of a model of N parameters trained to convergence."""
    return (N_c / np.asarray(N, dtype=np.float64)) ** alpha_N  # Eq. 1.1


def loss_of_size_and_steps(N, S_min, N_c: float, alpha_N: float, S_c: float, alpha_S: float) -> np.ndarray:
    """The loss of a model of N parameters after S_min steps at a very large batch."""
    return loss_of_size(N, N_c, alpha_N) + (S_c / np.asarray(S_min, dtype=np.float64)) ** alpha_S  # Eq. 1.6


def critical_batch(L, B_star: float, alpha_B: float) -> np.ndarray:
    """The critical batch size at loss L."""
    return B_star / np.asarray(L, dtype=np.float64) ** (1.0 / alpha_B)  # Eq. 1.4 / 5.3


def steps_min(S, B, L, B_star: float, alpha_B: float) -> np.ndarray:
    """The steps a run at batch B that reached loss L after S steps would have needed at a very large batch."""
    return np.asarray(S, dtype=np.float64) / (1.0 + critical_batch(L, B_star, alpha_B) / B)  # Eq. 5.4


def examples_min(E, B, L, B_star: float, alpha_B: float) -> np.ndarray:
    """The examples a run at batch B that reached L after E examples would have needed at a very small batch."""
    return np.asarray(E, dtype=np.float64) / (1.0 + B / critical_batch(L, B_star, alpha_B))  # Eq. 5.5


# --- the estimation ------------------------------------------------------------------------------------
def fit_power_law(N, L) -> dict:
    """Fit L = (N_c/N)^α_N by least squares on log L = α_N log N_c − α_N log N; {"N_c", "alpha_N"}."""
    N, L = np.asarray(N, dtype=np.float64), np.asarray(L, dtype=np.float64)
    if N.size < 2 or np.any(N <= 0) or np.any(L <= 0):
        raise ValueError("fit_power_law: needs ≥ 2 points with positive N and L")
    pure = fitting.fit_power_law(N, L, floor=False)  # L = a·N^(−α): the family's pure law, a = N_c^α
    return {"N_c": float(pure["a"] ** (1 / pure["alpha"])), "alpha_N": pure["alpha"]}


def fit_step_tradeoff(B, S) -> dict:
    """For one target loss, fit the steps needed at each batch size to S = S_min + E_min/B (Eq. 5.1 rewritten;
    least squares, linear in 1/B); {"S_min", "E_min", "B_crit" = E_min/S_min (Eq. 5.2)}."""
    B, S = np.asarray(B, dtype=np.float64), np.asarray(S, dtype=np.float64)
    if B.size < 2 or np.unique(B).size < 2:
        raise ValueError("fit_step_tradeoff: needs ≥ 2 distinct batch sizes")
    E_min, S_min = np.polyfit(1.0 / B, S, 1)  # S = S_min + E_min · (1/B)
    if S_min <= 0 or E_min <= 0:
        raise ValueError(
            f"fit_step_tradeoff: the fit is not a step/data trade-off (S_min={S_min:.3g}, E_min={E_min:.3g})"
        )
    return {"S_min": float(S_min), "E_min": float(E_min), "B_crit": float(E_min / S_min)}  # Eq. 5.2


def fit_critical_batch(L, B_crit) -> dict:
    """Fit B_crit = B*/L^(1/α_B) on log B_crit = log B* − (1/α_B) log L; {"B_star", "alpha_B"}."""
    L, B_crit = np.asarray(L, dtype=np.float64), np.asarray(B_crit, dtype=np.float64)
    if L.size < 2 or np.any(L <= 0) or np.any(B_crit <= 0):
        raise ValueError("fit_critical_batch: needs ≥ 2 points with positive L and B_crit")
    slope, intercept = np.polyfit(np.log(L), np.log(B_crit), 1)  # Eq. 1.4 in logs
    return {"B_star": float(np.exp(intercept)), "alpha_B": float(-1.0 / slope)}


def fit_loss_surface(N, S_min, L, init: dict | None = None) -> dict:
    """Fit N_c, α_N, S_c, α_S of Eq. 1.6 to points (N, S_min, L) by least squares on log L (positive constants
    through their logarithms); {"N_c", "alpha_N", "S_c", "alpha_S", "rms_log_residual"}."""
    N, S_min, L = (np.asarray(a, dtype=np.float64).ravel() for a in (N, S_min, L))
    if not (N.size == S_min.size == L.size) or N.size < 4:
        raise ValueError("fit_loss_surface: N, S_min and L must have the same length ≥ 4")
    init = init or {}
    p0 = np.array(
        [
            np.log(init.get("N_c", 1.0)),
            np.log(init.get("alpha_N", 0.5)),
            np.log(init.get("S_c", 1.0)),
            np.log(init.get("alpha_S", 0.5)),
        ]
    )

    def unpack(p):
        return np.exp(p[0]), np.exp(p[1]), np.exp(p[2]), np.exp(p[3])

    def residual(p):
        return np.log(loss_of_size_and_steps(N, S_min, *unpack(p))) - np.log(L)

    sol = least_squares(residual, p0, method="lm", xtol=1e-12, ftol=1e-12, max_nfev=20_000)
    N_c, alpha_N, S_c, alpha_S = unpack(sol.x)
    return {
        "N_c": float(N_c),
        "alpha_N": float(alpha_N),
        "S_c": float(S_c),
        "alpha_S": float(alpha_S),
        "rms_log_residual": float(np.sqrt(np.mean(sol.fun**2))),
    }


def predict_loss_curve(N: float, B: float, S, c: dict, *, iters: int = 100) -> np.ndarray:
    """The loss after each of the steps S of a model of N parameters trained at batch B, from the constants
    `c` (N_c, α_N, S_c, α_S, B_star, α_B): the root of L = L(N) + (S_c/S_min(S, L))^α_S (Eqs. 1.6, 5.4), by
    bisection on log L between L(N) and the right side at L(N)."""
    S = np.asarray(S, dtype=np.float64)
    L_N = float(loss_of_size(N, c["N_c"], c["alpha_N"]))  # Eq. 1.1: the floor

    def rhs(L):
        s_min = steps_min(S, B, L, c["B_star"], c["alpha_B"])  # Eq. 5.4
        return L_N + (c["S_c"] / s_min) ** c["alpha_S"]  # Eq. 1.6

    lo = np.full(S.shape, np.log(L_N))
    hi = np.log(rhs(np.full(S.shape, L_N)))
    for _ in range(iters):  # rhs falls as L grows, so L − rhs(L) is increasing: one root in [lo, hi]
        mid = 0.5 * (lo + hi)
        above = np.exp(mid) > rhs(np.exp(mid))
        hi, lo = np.where(above, mid, hi), np.where(above, lo, mid)
    return np.exp(0.5 * (lo + hi))


def steps_to_reach(curve, target: float) -> float:
    """The (fractional) step at which the running minimum of `curve` (curve[t − 1] is the loss after step t)
    first reaches `target`, interpolated in log loss; inf if never."""
    run = np.minimum.accumulate(np.asarray(curve, dtype=np.float64))
    hit = np.flatnonzero(run <= target)
    if hit.size == 0:
        return float("inf")
    t = int(hit[0])
    if t == 0:
        return 1.0
    a, b = np.log(run[t - 1]), np.log(run[t])
    frac = (a - np.log(target)) / (a - b) if a > b else 1.0
    return float(t + frac)  # step t is index t − 1; between steps t and t + 1


# --- the toy: a linear student of width N on a power-law teacher ----------------------------------------
def teacher(D: int, a: float, beta: float, seed) -> tuple[np.ndarray, np.ndarray]:
    """Feature variances λ_k = k^(−a) and teacher weights w*_k = z_k sqrt(k^(−β)/λ_k), z ~ N(0, 1), so that
    feature k carries λ_k w*_k² = z_k² k^(−β) of the loss.  A student of width N learns features 1..N; the
    rest are a floor Σ_{k>N} λ_k w*_k² it cannot reduce."""
    k = np.arange(1, D + 1, dtype=np.float64)
    lam = k**-a
    z = np.random.default_rng(seed).normal(size=D)
    return lam, z * np.sqrt(k**-beta / lam)


def expected_optimal_lr(lam, c, floor: float, B: float, lr_max: float = 1.0) -> float:
    """The step size minimising the expected next loss of SGD at batch B, given the expected squared errors
    c_k of the learned features (capped at `lr_max`): from E[L'] = Σ λ_k[(1 − ηλ_k)² c_k + η²/B (λ_k L + λ_k² c_k)]
    + floor, η* = Σλ²c / (Σλ³c (1 + 1/B) + (L/B) Σλ²) — McCandlish et al.'s ε_max/(1 + B_noise/B)."""
    L = lam @ c + floor
    return float(min(lr_max, (lam**2 @ c) / ((lam**3 @ c) * (1 + 1 / B) + L / B * np.sum(lam**2))))


def expected_loss_curve(lam, w_star, floor: float, B: int, steps: int, lr) -> np.ndarray:
    """The exact expected loss after each of `steps` SGD steps from w = 0 (Gaussian features, batch B):
    c_k ← (1 − ηλ_k)² c_k + η²/B (λ_k L + λ_k² c_k), L = Σ λ_k c_k + floor.  `lr` is a number (fixed step) or
    "optimal" (the expected-optimal step of `expected_optimal_lr` at each step)."""
    c = np.asarray(w_star, dtype=np.float64) ** 2
    out = np.empty(steps)
    for t in range(steps):
        L = lam @ c + floor
        eta = expected_optimal_lr(lam, c, floor, B) if lr == "optimal" else float(lr)
        c = (1 - eta * lam) ** 2 * c + eta**2 / B * (lam * L + lam**2 * c)
        out[t] = lam @ c + floor
    return out


def train_curve(lam, w_star, floor: float, B: int, steps: int, seed, *, lr="optimal", exact_minibatch=False):
    """Minibatch SGD on the squared error of a linear student (the first len(lam) features) from w = 0; the
    population loss after each step.  The gradient of a batch is the mean over B Gaussian examples
    (`exact_minibatch=True`, B × N draws a step) or a draw with the same mean Λδ and covariance
    (L Λ + Λδδ^TΛ)/B (default, N + 1 draws a step).  The step size is `lr`, or with "optimal" the
    expected-optimal step computed from the expected errors (`expected_optimal_lr`) — a schedule fixed in
    advance, the same for every seed."""
    lam = np.asarray(lam, dtype=np.float64)
    rng = np.random.default_rng(seed)
    d = -np.asarray(w_star, dtype=np.float64).copy()  # δ = w − w*
    c = d**2
    sq = np.sqrt(lam)
    out = np.empty(steps)
    for t in range(steps):
        if lr == "optimal":
            L_exp = lam @ c + floor
            eta = expected_optimal_lr(lam, c, floor, B)
            c = (1 - eta * lam) ** 2 * c + eta**2 / B * (lam * L_exp + lam**2 * c)
        else:
            eta = float(lr)
        if exact_minibatch:
            x = rng.standard_normal((B, lam.size)) * sq
            r = x @ d - rng.standard_normal(B) * np.sqrt(floor)  # the unlearned features act as label noise
            g = x.T @ r / B
        else:
            L_now = lam @ d**2 + floor
            g = lam * d + (
                np.sqrt(L_now) * sq * rng.standard_normal(lam.size) + lam * d * rng.standard_normal()
            ) / np.sqrt(B)
        d = d - eta * g
        out[t] = lam @ d**2 + floor
    return out
