"""Reference cases of Lion / Lion-𝒦 (one optimizer step, the box excess) and of the Lyapunov function,
worked by hand."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from . import LionK, box_excess, lyapunov

_PATH = "refimpl.techniques.optimizers_training_rules.lion_constrained"


def _opt_step(x, m, g, lr, betas, weight_decay, K="l1"):
    from ....nn import Parameter

    p = Parameter(np.asarray(x, dtype=np.float64))
    opt = LionK([p], lr=lr, betas=tuple(betas), weight_decay=weight_decay, K=K)
    opt.state[p] = {"exp_avg": np.asarray(m, dtype=np.float64).copy()}
    p.grad = np.asarray(g, dtype=np.float64)
    opt.step()
    return {"x": p.data.copy(), "m": opt.state[p]["exp_avg"].copy()}


def _lyapunov(x, m_tilde, f_value, lam, alpha, gamma, eps, K):
    return {"H": lyapunov(x, m_tilde, f_value, lam, alpha, gamma, eps, K)}


def _box(a, b, lam):
    return {"excess": box_excess([np.asarray(a), np.asarray(b)], lam)}


def reference_cases() -> list:
    step = {"lr": 0.1, "betas": [0.9, 0.99], "weight_decay": 0.5}
    return [
        ReferenceCase(
            name="lion_hand_step",
            inputs={"x": [1.0], "m": [0.0], "g": [2.0], **step, "K": "l1"},
            expected={"x": [0.85], "m": [0.02]},
            compute=_opt_step,
            function=f"{_PATH}.Lion",
            note="By hand: c = 0.1·2 = 0.2, x' = 1 − 0.1·(sign(0.2) + 0.5·1) = 0.85, m' = 0.01·2 = 0.02.",
            atol=1e-12,
        ),
        ReferenceCase(
            name="lion_k_l2_hand_step",
            inputs={"x": [1.0, 0.0], "m": [0.0, 1.0], "g": [3.0, 0.0], **step, "K": "l2"},
            expected={
                "x": [1 - 0.1 * (0.3 / np.hypot(0.3, 0.9) + 0.5), -0.1 * 0.9 / np.hypot(0.3, 0.9)],
                "m": [0.03, 0.99],
            },
            compute=_opt_step,
            function=f"{_PATH}.LionK",
            note="By hand: c = 0.9·[0,1] + 0.1·[3,0] = [0.3, 0.9]; ∇K(c) = c/‖c‖; x' = x − 0.1(c/‖c‖ + 0.5x); "
            "m' = 0.99·[0,1] + 0.01·[3,0].",
            atol=1e-12,
        ),
        ReferenceCase(
            name="lion_k_quadratic_hand_step",
            inputs={"x": [2.0], "m": [1.0], "g": [-1.0], **step, "K": "quadratic"},
            expected={"x": [2.0 - 0.1 * (0.8 + 1.0)], "m": [0.99 - 0.01]},
            compute=_opt_step,
            function=f"{_PATH}.LionK",
            note="By hand: c = 0.9·1 + 0.1·(−1) = 0.8 = ∇K(c); x' = 2 − 0.1·(0.8 + 0.5·2) = 1.82; m' = 0.98.",
            atol=1e-12,
        ),
        ReferenceCase(
            name="box_excess",
            inputs={"a": [[0.5, -1.5]], "b": [0.25], "lam": 0.5},
            expected={"excess": -0.25},
            compute=_box,
            function=f"{_PATH}.box_excess",
            note="By hand: max |x| = 1.5 over both arrays; λ·1.5 − 1 = −0.25 (inside the box of half-width 2).",
            atol=1e-12,
        ),
        ReferenceCase(
            name="lyapunov_value",
            inputs={
                "x": [1.0, 0.0],
                "m_tilde": [1.0, -2.0],
                "f_value": 1.5,
                "lam": 0.5,
                "alpha": 2.0,
                "gamma": 4.0,
                "eps": 0.4,
                "K": "l1",
            },
            expected={"H": 2.0 * 1.5 + 0.0 + (1 - 0.2) / (1 + 0.2) * (0.0 + 3.0 - 0.5 * 1.0)},
            compute=_lyapunov,
            function=f"{_PATH}.lyapunov",
            note="By hand: x=[1,0] inside the box (λ=0.5 → K*=0); K(m̃)=‖[1,−2]‖₁=3; λ m̃ᵀx = 0.5; "
            "(1−ελ)/(1+ελ) = 0.8/1.2; H = 2·1.5 + 0 + (2/3)·2.5.",
            atol=1e-12,
        ),
    ]
