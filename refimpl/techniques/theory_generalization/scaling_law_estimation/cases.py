"""Reference cases of the scaling laws, by hand: the size law, the critical batch size, the S_min/E_min
conversion, an exact step/data trade-off, a hand-solvable implicit prediction, and one step of SGD's expected
loss and expected-optimal step for a single Gaussian feature."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from . import (
    critical_batch,
    examples_min,
    expected_loss_curve,
    expected_optimal_lr,
    fit_step_tradeoff,
    loss_of_size,
    predict_loss_curve,
    steps_min,
)

_PATH = "refimpl.techniques.theory_generalization.scaling_law_estimation"


def _size(N, N_c, alpha_N):
    return {"L": loss_of_size(np.asarray(N), N_c, alpha_N)}


def _crit(L, B_star, alpha_B):
    return {"B_crit": critical_batch(L, B_star, alpha_B)}


def _convert(S, E, B, L, B_star, alpha_B):
    return {"S_min": steps_min(S, B, L, B_star, alpha_B), "E_min": examples_min(E, B, L, B_star, alpha_B)}


def _tradeoff(B, S):
    f = fit_step_tradeoff(np.asarray(B), np.asarray(S))
    return {"S_min": f["S_min"], "E_min": f["E_min"], "B_crit": f["B_crit"]}


def _predict(N, B, S, consts):
    return {"L": predict_loss_curve(N, B, np.asarray(S), consts)}


def _sgd_one_step(lam, w_star, floor, B, lr):
    return {"L": expected_loss_curve(np.asarray(lam), np.asarray(w_star), floor, B, 1, lr)}


def _opt_lr(lam, c, floor, B):
    return {"lr": expected_optimal_lr(np.asarray(lam), np.asarray(c), floor, B)}


def reference_cases() -> list:
    return [
        ReferenceCase(
            name="size_law",
            inputs={"N": [10, 40], "N_c": 40.0, "alpha_N": 0.5},
            expected={"L": [2.0, 1.0]},
            compute=_size,
            function=f"{_PATH}.loss_of_size",
            note="(40/10)^0.5 = 2, (40/40)^0.5 = 1.",
            atol=1e-14,
        ),
        ReferenceCase(
            name="critical_batch",
            inputs={"L": 4.0, "B_star": 8.0, "alpha_B": 0.5},
            expected={"B_crit": 0.5},
            compute=_crit,
            function=f"{_PATH}.critical_batch",
            note="8 / 4^(1/0.5) = 8/16.",
            atol=1e-14,
        ),
        ReferenceCase(
            name="s_min_e_min_at_the_critical_batch",
            inputs={"S": 100.0, "E": 1000.0, "B": 10.0, "L": 4.0, "B_star": 160.0, "alpha_B": 0.5},
            expected={"S_min": 50.0, "E_min": 500.0},
            compute=_convert,
            function=f"{_PATH}.steps_min",
            note="B_crit = 160/16 = 10 = B: a run at the critical batch takes twice the minimum steps and twice "
            "the minimum examples.",
            atol=1e-12,
        ),
        ReferenceCase(
            name="exact_step_data_tradeoff",
            inputs={"B": [5.0, 10.0, 50.0], "S": [150.0, 100.0, 60.0]},
            expected={"S_min": 50.0, "E_min": 500.0, "B_crit": 10.0},
            compute=_tradeoff,
            function=f"{_PATH}.fit_step_tradeoff",
            note="S = 50 + 500/B exactly: S_min = 50, E_min = 500, B_crit = E_min/S_min = 10.",
            atol=1e-9,
        ),
        ReferenceCase(
            name="implicit_prediction",
            inputs={
                "N": 3.0,
                "B": 1.0,
                "S": [5.0],
                "consts": {
                    "N_c": 3.0,
                    "alpha_N": 1.0,
                    "S_c": 5.0,
                    "alpha_S": 1.0,
                    "B_star": 2.0,
                    "alpha_B": 1.0,
                },
            },
            expected={"L": [1.0 + np.sqrt(3.0)]},
            compute=_predict,
            function=f"{_PATH}.predict_loss_curve",
            note="L(N) = 1, S_c/S = 1, B_crit = 2/L: L = 1 + (1 + 2/L), i.e. L² − 2L − 2 = 0, L = 1 + √3.",
            atol=1e-12,
        ),
        ReferenceCase(
            name="sgd_expected_loss_one_feature",
            inputs={"lam": [1.0], "w_star": [1.0], "floor": 0.0, "B": 1, "lr": 0.5},
            expected={"L": [0.75]},
            compute=_sgd_one_step,
            function=f"{_PATH}.expected_loss_curve",
            note="δ' = −1 + 0.5 x², x ~ N(0, 1): E δ'² = 1 − E x² + 0.25 E x⁴ = 1 − 1 + 0.75.",
            atol=1e-14,
        ),
        ReferenceCase(
            name="expected_optimal_lr_one_feature",
            inputs={"lam": [1.0], "c": [1.0], "floor": 0.0, "B": 1},
            expected={"lr": 1.0 / 3.0},
            compute=_opt_lr,
            function=f"{_PATH}.expected_optimal_lr",
            note="E δ'² = (1 − η)² + 2η² is least at η = 1/3.",
            atol=1e-14,
        ),
    ]
