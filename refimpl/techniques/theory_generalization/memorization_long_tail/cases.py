"""Reference cases of the long-tail memorization quantities, by hand: τ₁ and the expected singleton mass of a
two-value list, the Good–Turing estimate of a small sample, and the excess error of not memorizing."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from . import expected_singleton_mass, good_turing_singleton_mass, memorization_cost, singleton_tau

_PATH = "refimpl.techniques.theory_generalization.memorization_long_tail"


def _tau(psi, n):
    return {"tau": np.array([singleton_tau(psi, n)])}


def _mass(psi, n):
    return {"mass": np.array([expected_singleton_mass(psi, n)])}


def _gt(counts):
    return {"mass": np.array([good_turing_singleton_mass(counts)])}


def _cost(psi, n, n_classes, noise):
    return {"cost": np.array([memorization_cost(psi, n, n_classes, noise)])}


def reference_cases() -> list:
    return [
        ReferenceCase(
            name="tau_two_frequencies_n2",
            inputs={"psi": [0.5, 0.5], "n": 2},
            expected={"tau": [0.5]},
            compute=_tau,
            function=f"{_PATH}.singleton_tau",
            note="Both frequencies are ½: a subpopulation seen once has frequency ½.",
            atol=1e-15,
        ),
        ReferenceCase(
            name="singleton_mass_quarter_three_quarters_n2",
            inputs={"psi": [0.25, 0.75], "n": 2},
            expected={"mass": [0.375]},
            compute=_mass,
            function=f"{_PATH}.expected_singleton_mass",
            note="Two draws: both subpopulations are seen once with probability 2·¼·¾ = ⅜, then M₁ = 1; "
            "otherwise M₁ = 0.  Formula: 2(¼)²(¾) + 2(¾)²(¼) = 3/32 + 9/32 = ⅜.",
            atol=1e-15,
        ),
        ReferenceCase(
            name="good_turing_small_sample",
            inputs={"counts": [3, 2, 2, 1, 0, 1, 1]},
            expected={"mass": [0.4]},
            compute=_gt,
            function=f"{_PATH}.good_turing_singleton_mass",
            note="n = 10 draws, N₂ = 2 subpopulations seen twice: 2·2/10.",
            atol=1e-15,
        ),
        ReferenceCase(
            name="cost_with_noise",
            inputs={"psi": [0.25, 0.75], "n": 2, "n_classes": 4, "noise": 0.2},
            expected={"cost": [0.8 * 0.75 * 0.375]},
            compute=_cost,
            function=f"{_PATH}.memorization_cost",
            note="(1 − η)(1 − 1/k)·E[M₁] = 0.8 · 0.75 · ⅜ = 0.225.",
            atol=1e-15,
        ),
    ]
