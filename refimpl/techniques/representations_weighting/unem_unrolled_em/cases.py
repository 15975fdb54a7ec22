"""Reference cases of UNEM: the generalised E-step and one full EM step (E then M) worked by hand in scalar
arithmetic, and the unrolled network with λ = T = 1 against a plain scalar-loop EM written here."""

from __future__ import annotations

import math

import numpy as np

from ....catalog import ReferenceCase
from . import e_step, gem_em, gem_layer

_P = "refimpl.techniques.representations_weighting.unem_unrolled_em."


def _one_step_by_hand():
    """1-D, K = 2, support −1 (class 0) and +1 (class 1), queries 0.5 and 2, π⁽⁰⁾ uniform, λ = T = 1."""
    zs, zq = [-1.0, 1.0], [0.5, 2.0]
    U = []
    for z in zq:
        e = [math.exp(-0.5 * (z - w) ** 2) for w in zs]  # uniform π cancels
        U.append([e[0] / sum(e), e[1] / sum(e)])
    pi = [(U[0][k] + U[1][k]) / 2 for k in range(2)]
    W = [(U[0][k] * zq[0] + U[1][k] * zq[1] + zs[k]) / (U[0][k] + U[1][k] + 1) for k in range(2)]
    return np.array(U), np.log(np.array(pi) + 1e-6), np.array(W)


def _scalar_em(zq, zs, ys, K, n_iter):
    """Textbook EM for the unit-variance mixture seeded by the support, written with Python loops."""
    W = [sum(zs[j] for j in range(len(zs)) if ys[j] == k) / sum(1 for y in ys if y == k) for k in range(K)]
    pi = [1.0 / K] * K
    U = None
    for _ in range(n_iter):
        U = []
        for z in zq:
            e = [pi[k] * math.exp(-0.5 * (z - W[k]) ** 2) for k in range(K)]
            U.append([v / sum(e) for v in e])
        pi = [sum(u[k] for u in U) / len(zq) + 1e-6 for k in range(K)]
        W = [
            (sum(U[i][k] * zq[i] for i in range(len(zq))) + sum(zs[j] for j in range(len(zs)) if ys[j] == k))
            / (sum(U[i][k] for i in range(len(zq))) + sum(1 for y in ys if y == k))
            for k in range(K)
        ]
    return np.array(U)


def reference_cases() -> list:
    def estep(logits, log_pi, lam, T):
        return {"U": e_step(np.asarray(logits)[None], np.asarray(log_pi)[None], lam, T).numpy()[0]}

    def layer(z_query, W, log_pi, onehot_support, z_support, lam, T):
        args = [
            np.asarray(a, dtype=np.float64)[None] for a in (z_query, W, log_pi, onehot_support, z_support)
        ]
        U, lp, W1 = gem_layer(*args, lam, T)
        return {"U": U.numpy()[0], "log_pi": lp.numpy()[0], "W": W1.numpy()[0]}

    def em(z_query, z_support, y_support, n_way, n_iter):
        return {
            "U": gem_em(
                np.asarray(z_query), np.asarray(z_support), np.asarray(y_support), n_way, 1.0, 1.0, n_iter
            )[0]
        }

    U1, lp1, W1 = _one_step_by_hand()
    zq = np.array([-1.3, -0.2, 0.1, 0.4, 0.9, 1.7, 2.2])
    zs, ys = np.array([-1.0, 0.3, 1.5]), np.array([0, 1, 2])
    return [
        ReferenceCase(
            "e_step_class_prior_and_temperature_hand",
            {"logits": np.array([[0.0, 0.0]]), "log_pi": np.log([0.75, 0.25]), "lam": 2.0, "T": 0.5},
            {"U": np.array([[81 / 82, 1 / 82]])},
            estep,
            function=_P + "e_step",
            note="by hand: equal likelihoods, so u ∝ exp(λ log π / T) = π^(λ/T) = π⁴: 0.75⁴ : 0.25⁴ = 81 : 1",
            atol=1e-12,
        ),
        ReferenceCase(
            "one_em_step_hand",
            {
                "z_query": np.array([[0.5], [2.0]]),
                "W": np.array([[-1.0], [1.0]]),
                "log_pi": np.log([0.5, 0.5]),
                "onehot_support": np.eye(2),
                "z_support": np.array([[-1.0], [1.0]]),
                "lam": 1.0,
                "T": 1.0,
            },
            {"U": U1, "log_pi": lp1, "W": W1[:, None]},
            layer,
            function=_P + "gem_layer",
            note="by hand in scalar arithmetic: u_ik ∝ exp(−½(z_i − w_k)²) (uniform π cancels), π_k = mean_i "
            "u_ik (+1e-6 inside the log, as the official layer), w_k = (Σ_i u_ik z_i + z_k^support)/(Σ_i u_ik + 1)",
            conventions={"log_pi": "log(π + 1e-6)", "initial_pi": "uniform"},
            atol=1e-12,
        ),
        ReferenceCase(
            "unrolled_em_lambda1_T1_is_textbook_em",
            {
                "z_query": zq[None, :, None],
                "z_support": zs[None, :, None],
                "y_support": ys[None],
                "n_way": 3,
                "n_iter": 6,
            },
            {"U": _scalar_em(list(zq), list(zs), list(ys), 3, 6)},
            em,
            function=_P + "gem_em",
            note="independent computation: six iterations of textbook EM (u ∝ π_k N(z; w_k, 1), π and centroids "
            "re-estimated with the support counted at weight 1) written with Python loops",
            conventions={"initial_pi": "uniform", "log_pi": "log(π + 1e-6)"},
            atol=1e-10,
        ),
    ]
