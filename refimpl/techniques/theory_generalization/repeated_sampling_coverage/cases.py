"""Reference cases of pass@k and coverage, by hand: the unbiased estimator from binomial coefficients, its two
edge cases, the plug-in estimate, and the Beta closed form at k = 1 and 2."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from . import beta_coverage, pass_at_k, plugin_pass_at_k

_PATH = "refimpl.techniques.theory_generalization.repeated_sampling_coverage"


def _unbiased(n, c, k):
    return {"pass_at_k": pass_at_k(n, np.asarray(c), k)}


def _plugin(n, c, k):
    return {"pass_at_k": plugin_pass_at_k(n, np.asarray(c), k)}


def _beta(k, alpha, beta):
    return {"coverage": beta_coverage(np.asarray(k), alpha, beta)}


def reference_cases() -> list:
    return [
        ReferenceCase(
            name="unbiased_n10",
            inputs={"n": 10, "c": [3, 0], "k": 2},
            expected={"pass_at_k": [1 - 21 / 45, 0.0]},
            compute=_unbiased,
            function=f"{_PATH}.pass_at_k",
            note="1 − C(7, 2)/C(10, 2) = 1 − 21/45 = 24/45; with no correct sample, 0.",
            atol=1e-15,
        ),
        ReferenceCase(
            name="unbiased_every_subset_hits",
            inputs={"n": 5, "c": [4], "k": 2},
            expected={"pass_at_k": [1.0]},
            compute=_unbiased,
            function=f"{_PATH}.pass_at_k",
            note="n − c = 1 < k = 2: every pair of samples contains a correct one.",
            atol=0.0,
        ),
        ReferenceCase(
            name="plugin_n10",
            inputs={"n": 10, "c": [3], "k": 2},
            expected={"pass_at_k": [0.51]},
            compute=_plugin,
            function=f"{_PATH}.plugin_pass_at_k",
            note="1 − (1 − 0.3)² = 0.51 (below the unbiased 0.533).",
            atol=1e-15,
        ),
        ReferenceCase(
            name="beta_coverage_k1_k2",
            inputs={"k": [1, 2], "alpha": 1.0, "beta": 3.0},
            expected={"coverage": [0.25, 0.4]},
            compute=_beta,
            function=f"{_PATH}.beta_coverage",
            note="k = 1: E p = α/(α + β) = 1/4; k = 2: 1 − B(1, 5)/B(1, 3) = 1 − (1/5)/(1/3) = 0.4.",
            atol=1e-12,
        ),
    ]
