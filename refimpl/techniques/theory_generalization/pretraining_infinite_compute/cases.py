"""Reference cases, by hand: the power law at round numbers, the ensemble cross-entropy of two hand-written
distributions, and the MLP's parameter count."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from . import ensemble_log_loss, n_params, power_law

_PATH = "refimpl.techniques.theory_generalization.pretraining_infinite_compute"


def _power(n, a, alpha, e):
    return {"loss": power_law(np.asarray(n), a, alpha, e)}


def _ens(probs, y):
    return {"loss": np.array([ensemble_log_loss(np.asarray(probs), np.asarray(y))])}


def _count(vocab, context, width):
    return {"n_params": np.array([n_params(vocab, context, width)])}


def reference_cases() -> list:
    return [
        ReferenceCase(
            name="power_law_round_numbers",
            inputs={"n": [1.0, 100.0, 10000.0], "a": 4.0, "alpha": 0.5, "e": 2.0},
            expected={"loss": [6.0, 2.4, 2.04]},
            compute=_power,
            function=f"{_PATH}.power_law",
            note="4/√1 + 2 = 6; 4/10 + 2 = 2.4; 4/100 + 2 = 2.04.",
            atol=1e-12,
        ),
        ReferenceCase(
            name="ensemble_of_two",
            inputs={"probs": [[[0.5, 0.5]], [[0.1, 0.9]]], "y": [0]},
            expected={"loss": [-np.log(0.3)]},
            compute=_ens,
            function=f"{_PATH}.ensemble_log_loss",
            note="average of p(y=0): (0.5 + 0.1)/2 = 0.3, loss −log 0.3 (members: 0.693, 2.303).",
            atol=1e-12,
        ),
        ReferenceCase(
            name="mlp_param_count",
            inputs={"vocab": 10, "context": 2, "width": 5},
            expected={"n_params": [(20 + 1) * 5 + (5 + 1) * 10]},
            compute=_count,
            function=f"{_PATH}.n_params",
            note="(C·V + 1)·h + (h + 1)·V = 105 + 60 = 165.",
            atol=0,
        ),
    ]
