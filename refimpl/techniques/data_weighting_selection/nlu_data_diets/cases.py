"""Reference cases of dynamic data pruning, worked by hand: the official round structure, the kept window
with an offset, the cost in examples of a run, and EL2N under the current model of a linear softmax."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from . import diet_cost, diet_schedule, el2n_scores, keep_top

_MOD = "refimpl.techniques.data_weighting_selection.nlu_data_diets"
_EXACT = {"atol": 0.0, "rtol": 0.0, "atol32": 0.0, "rtol32": 0.0}


def reference_cases() -> list:
    from ....nn import Linear

    def schedule_case(epochs, prune_epoch, frequency):
        rounds = diet_schedule(int(epochs), int(prune_epoch), int(frequency))
        return {
            "pruned": np.array([k == "pruned" for k, _ in rounds], dtype=np.int64),
            "epochs": np.array([e for _, e in rounds], dtype=np.int64),
        }

    def keep_case(scores, keep_fraction, offset_fraction):
        return {"kept": keep_top(np.asarray(scores), float(keep_fraction), float(offset_fraction))}

    def cost_case(n, epochs, prune_epoch, frequency, keep_fraction):
        c = diet_cost(int(n), int(epochs), int(prune_epoch), int(frequency), float(keep_fraction))
        return {k: np.array(c[k], dtype=np.int64) for k in ("train_examples", "score_forwards")}

    def el2n_case(W, x, y):
        lin = Linear(len(W[0]), len(W), bias=False, dtype=np.float64)
        lin.weight.data[...] = np.asarray(W)
        return {"el2n": el2n_scores(lin, np.asarray(x), np.asarray(y))}

    return [
        ReferenceCase(
            "schedule_E10_E0_2_F3",
            {"epochs": 10, "prune_epoch": 2, "frequency": 3},
            {"pruned": np.array([0, 1, 1, 1]), "epochs": np.array([2, 3, 3, 2])},
            schedule_case,
            note="2 full epochs; rest 8 > F = 3 → int(8/3) = 2 rounds of 3; 10 − 8 = 2 epochs remain → "
            "one more round of 2",
            function=f"{_MOD}.diet_schedule",
            conventions={"scheme": "official trainer_manager.run: full phase, int(rest/F) rounds, rest"},
            **_EXACT,
        ),
        ReferenceCase(
            "schedule_static_E10_E0_2_F10",
            {"epochs": 10, "prune_epoch": 2, "frequency": 10},
            {"pruned": np.array([0, 1]), "epochs": np.array([2, 8])},
            schedule_case,
            note="F = 10 ≥ rest 8: no periodic round; the 8 remaining epochs are one round (static pruning)",
            function=f"{_MOD}.diet_schedule",
            **_EXACT,
        ),
        ReferenceCase(
            "keep_top_fifth_after_offset",
            {
                "scores": np.array([0.05, 0.9, 0.3, 0.7, 0.2, 0.8, 0.1, 0.6, 0.4, 0.5]),
                "keep_fraction": 0.3,
                "offset_fraction": 0.1,
            },
            {"kept": np.array([3, 5, 7])},
            keep_case,
            note="descending: 1(.9) 5(.8) 3(.7) 7(.6) 9(.5) …; offset round(0.1·10) = 1 skips index 1, "
            "keep round(0.3·10) = 3: indices 5, 3, 7, sorted",
            function=f"{_MOD}.keep_top",
            conventions={"rounding": "counts round(f·N), halves up; ties: lower index first"},
            **_EXACT,
        ),
        ReferenceCase(
            "cost_N100_E10_E0_2_F2_half",
            {"n": 100, "epochs": 10, "prune_epoch": 2, "frequency": 2, "keep_fraction": 0.5},
            {"train_examples": np.array(600), "score_forwards": np.array(400)},
            cost_case,
            note="2·100 full + 4 rounds × 2 epochs × 50 kept = 200 + 400 = 600; 4 scorings × 100 forwards",
            function=f"{_MOD}.diet_cost",
            **_EXACT,
        ),
        ReferenceCase(
            "el2n_current_model",
            {
                "W": np.array([[0.0, 0.0], [0.0, np.log(3.0)]]),
                "x": np.array([[1.0, 1.0]]),
                "y": np.array([0]),
            },
            {"el2n": np.array([np.sqrt(2.0) * 0.75])},
            el2n_case,
            note="z = (0, ln 3) → p = (¼, ¾); p − e₀ = (−¾, ¾): ‖·‖ = ¾√2 = 1.060660",
            function=f"{_MOD}.el2n_scores",
        ),
    ]
