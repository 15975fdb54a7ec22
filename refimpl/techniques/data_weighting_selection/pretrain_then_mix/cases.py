"""Reference cases of pre-train-then-mix, worked by hand: the temperature sampler's proportions for
n = [100, 1] at T = 1, 2, 5, ∞ and for three tasks, the two-phase schedule, and the mixture sampler in
its deterministic corner (all mass on one task of one example)."""

from __future__ import annotations

import math

import numpy as np

from . import mixture_indices, schedule, temperature_proportions

_MOD = "refimpl.techniques.data_weighting_selection.pretrain_then_mix"


def reference_cases() -> list:
    from ....catalog import ReferenceCase

    def props(sizes, temperature):
        return {"p": temperature_proportions(sizes, temperature)}

    def sched(sizes, temperature, total_steps, pretrain_steps, high):
        phases = schedule(sizes, temperature, total_steps, pretrain_steps, high)
        return {"steps": np.array([s for s, _ in phases]), "p": np.stack([p for _, p in phases])}

    def draws(sizes, proportions, num_draws, seed):
        return {"indices": mixture_indices(sizes, proportions, num_draws, seed)}

    conv = {"scheme": "p_i = n_i^(1/T) / Σ_j n_j^(1/T); T = inf → uniform"}
    r5 = 10.0**0.4  # 100^(1/5) = 10^(2/5) = 2.5118864...
    cases = []
    for name, t, expected, note in [
        ("n100_1_T1", 1.0, [100 / 101, 1 / 101], "T = 1: proportional, (100, 1)/101 = (0.990099, 0.009901)"),
        ("n100_1_T2", 2.0, [10 / 11, 1 / 11], "T = 2: √100 = 10 → (10, 1)/11 = (0.909091, 0.090909)"),
        (
            "n100_1_T5",
            5.0,
            [r5 / (r5 + 1), 1 / (r5 + 1)],
            "T = 5: 100^0.2 = 10^0.4 = 2.511886 → (0.715253, 0.284747)",
        ),
        ("n100_1_Tinf", math.inf, [0.5, 0.5], "T → ∞: n_i^0 = 1 → uniform (0.5, 0.5)"),
    ]:
        cases.append(
            ReferenceCase(
                name,
                {"sizes": np.array([100.0, 1.0]), "temperature": t},
                {"p": np.array(expected)},
                props,
                note=note,
                function=f"{_MOD}.temperature_proportions",
                conventions=conv,
            )
        )
    cases.append(
        ReferenceCase(
            "three_tasks_T2",
            {"sizes": np.array([16.0, 4.0, 4.0]), "temperature": 2.0},
            {"p": np.array([0.5, 0.25, 0.25])},
            props,
            note="√(16, 4, 4) = (4, 2, 2) → /8 = (0.5, 0.25, 0.25)",
            function=f"{_MOD}.temperature_proportions",
            conventions=conv,
        )
    )
    cases.append(
        ReferenceCase(
            "schedule_100_1_T2_4_of_10",
            {
                "sizes": np.array([100.0, 1.0]),
                "temperature": 2.0,
                "total_steps": 10,
                "pretrain_steps": 4,
                "high": [0],
            },
            {"steps": np.array([4, 6]), "p": np.array([[1.0, 0.0], [10 / 11, 1 / 11]])},
            sched,
            note="4 steps on task 0 alone (p = (1, 0)), then 6 steps on p(T=2) = (10, 1)/11",
            function=f"{_MOD}.schedule",
            conventions={"scheme": "phase 1: high task(s) alone, proportional among them; phase 2: p(T)"},
        )
    )
    cases.append(
        ReferenceCase(
            "draws_all_mass_on_task1",
            {"sizes": np.array([5, 1]), "proportions": np.array([0.0, 1.0]), "num_draws": 4, "seed": 0},
            {"indices": np.array([5, 5, 5, 5])},
            draws,
            note="p = (0, 1) and task 1 has one example, at offset 5 of the concatenation: every draw is 5",
            function=f"{_MOD}.mixture_indices",
            conventions={
                "scheme": "indices into the concatenation of the tasks' training sets, task by task"
            },
        )
    )
    return cases
