"""Reference cases of the prompt bound, by hand: a Bernoulli kl, the kl inverse at zero training error (closed
form 1 − e^(−c)), the square-root bound, a prompt's grammar log prior, and a rule's truth table."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from . import evaluate, kl_bernoulli, kl_inverse_upper, log_prior, mcallester_bound

_PATH = "refimpl.techniques.theory_generalization.prompt_pac_bayes"


def _kl(q, p):
    return {"kl": np.array([kl_bernoulli(q, p)])}


def _klinv(q, c):
    return {"p": np.array([kl_inverse_upper(q, c)])}


def _mca(train_error, log_p, n, delta):
    return {"bound": np.array([mcallester_bound(train_error, log_p, n, delta)])}


def _prior(prompt, n_vars):
    return {"log_prior": np.array([log_prior(prompt, n_vars)])}


def _truth(prompt, X):
    return {"pred": evaluate(prompt, np.asarray(X)).astype(np.float64)}


def reference_cases() -> list:
    return [
        ReferenceCase(
            name="kl_half_quarter",
            inputs={"q": 0.5, "p": 0.25},
            expected={"kl": [0.5 * np.log(4 / 3)]},
            compute=_kl,
            function=f"{_PATH}.kl_bernoulli",
            note="½ log(½/¼) + ½ log(½/¾) = ½ log 2 + ½ log ⅔ = ½ log 4/3.",
            atol=1e-15,
        ),
        ReferenceCase(
            name="kl_inverse_at_zero_error",
            inputs={"q": 0.0, "c": float(np.log(2))},
            expected={"p": [0.5]},
            compute=_klinv,
            function=f"{_PATH}.kl_inverse_upper",
            note="kl(0 ‖ p) = −log(1 − p) ≤ log 2 ⇔ p ≤ ½.",
            atol=1e-12,
        ),
        ReferenceCase(
            name="square_root_bound",
            inputs={"train_error": 0.1, "log_p": float(-np.log(2)), "n": 100, "delta": 0.05},
            expected={"bound": [0.1 + np.sqrt(np.log(800) / 200)]},
            compute=_mca,
            function=f"{_PATH}.mcallester_bound",
            note="log 1/P + log(2√n/δ) = log 2 + log 400 = log 800; R̂ + √(log 800 / (2·100)) ≈ 0.2828.",
            atol=1e-14,
        ),
        ReferenceCase(
            name="grammar_log_prior",
            inputs={"prompt": "AND x0 NOT x1", "n_vars": 4},
            expected={"log_prior": [np.log(0.2 * 0.125 * 0.1 * 0.125)]},
            compute=_prior,
            function=f"{_PATH}.log_prior",
            note="P(AND) · P(variable)/4 · P(NOT) · P(variable)/4 = 0.2 · ⅛ · 0.1 · ⅛ = 3.125·10⁻⁴.",
            atol=1e-13,
        ),
        ReferenceCase(
            name="truth_table_or_not",
            inputs={"prompt": "OR x0 NOT x1", "X": [[0, 0], [0, 1], [1, 0], [1, 1]]},
            expected={"pred": [1.0, 0.0, 1.0, 1.0]},
            compute=_truth,
            function=f"{_PATH}.evaluate",
            note="x0 ∨ ¬x1 on the four inputs: only (0, 1) is false.",
            atol=0.0,
        ),
    ]
