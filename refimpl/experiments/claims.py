"""Claims and premises as data; verdicts from intervals over seeds, never from one run.

A **premise** is the condition the paper's method relies on (the baseline's failure, heavy-tailed
weights, a generalization gap...), measured per seed on the toy and compared with a threshold.  A
**claim** is a statement about a metric: "`method` − `baseline` > `margin`" (direction "greater") or
"< `margin`" (direction "less"); with no baseline it is about the method's metric itself.  Its
verdict comes from the 95 % t interval of the paired per-seed differences:

    holds            the whole interval is on the claimed side of the margin
    fails            the whole interval is on the other side
    inconclusive     the interval straddles the margin
    premise absent   a premise the claim depends on was not met, so the toy cannot test the claim
"""

from __future__ import annotations

import dataclasses

from .stats import Interval, mean_interval, paired_interval

__all__ = ["Premise", "Claim", "VERDICTS", "judge_premise", "judge_claim"]

VERDICTS = ("holds", "fails", "inconclusive", "premise absent")
DIRECTIONS = ("greater", "less")


def _check_direction(direction, what):
    if direction not in DIRECTIONS:
        raise ValueError(f"{what}: `direction` must be one of {DIRECTIONS}, got {direction!r}")


@dataclasses.dataclass(frozen=True)
class Premise:
    """`metric` of `method` (per seed) — or, with a `baseline`, the paired difference method − baseline —
    must be `direction` than `threshold`: judged on its interval when `strict` (the whole interval past
    the threshold), else on its mean.  "The ablation falls short of dense by a point" is
    ``Premise(..., metric="test_accuracy", method="dense", baseline="ablation", threshold=0.01)``."""

    statement: str
    metric: str
    method: str
    threshold: float
    direction: str = "greater"
    strict: bool = False
    baseline: str | None = None

    def __post_init__(self):
        _check_direction(self.direction, f"Premise {self.statement!r}")


@dataclasses.dataclass(frozen=True)
class Claim:
    """The paper's claim on the toy: `metric` of `method` minus that of `baseline` (paired by seed) is
    `direction` than `margin`; `baseline=None` compares the method's own metric with `margin`.
    `premises` names the premises (by statement) it depends on; by default all of them."""

    statement: str
    metric: str
    method: str
    baseline: str | None = None
    direction: str = "greater"
    margin: float = 0.0
    premises: tuple | None = None

    def __post_init__(self):
        _check_direction(self.direction, f"Claim {self.statement!r}")


def _side(iv: Interval, threshold: float, direction: str) -> str:
    """'yes' if the interval is wholly on the `direction` side of `threshold`, 'no' if wholly on the
    other, 'unsure' otherwise."""
    if direction == "greater":
        return "yes" if iv.low > threshold else "no" if iv.high <= threshold else "unsure"
    return "yes" if iv.high < threshold else "no" if iv.low >= threshold else "unsure"


def judge_premise(premise: Premise, values, baseline_values=None) -> dict:
    """{"statement", ..., "values", "interval", "present"} for the per-seed `values` of the premise,
    paired with `baseline_values` when the premise names a baseline."""
    if (premise.baseline is None) != (baseline_values is None):
        raise ValueError(
            f"premise {premise.statement!r}: give baseline values exactly when it names a baseline"
        )
    iv = mean_interval(values) if baseline_values is None else paired_interval(values, baseline_values)
    if premise.strict:
        present = _side(iv, premise.threshold, premise.direction) == "yes"
    else:
        present = (
            iv.mean > premise.threshold if premise.direction == "greater" else iv.mean < premise.threshold
        )
    return {
        **dataclasses.asdict(premise),
        "values": [float(v) for v in values],
        "baseline_values": None if baseline_values is None else [float(v) for v in baseline_values],
        "interval": dataclasses.asdict(iv),
        "present": bool(present),
    }


def judge_claim(claim: Claim, values, baseline_values=None, premises_met: bool = True) -> dict:
    """{"statement", ..., "interval", "verdict"}: the interval of the (paired) difference and the verdict."""
    if claim.baseline is None:
        iv = mean_interval(values)
    else:
        iv = paired_interval(values, baseline_values)
    side = _side(iv, claim.margin, claim.direction)
    verdict = {"yes": "holds", "no": "fails", "unsure": "inconclusive"}[side]
    if not premises_met:
        verdict = "premise absent"
    return {
        **dataclasses.asdict(claim),
        "values": [float(v) for v in values],
        "baseline_values": None if baseline_values is None else [float(v) for v in baseline_values],
        "interval": dataclasses.asdict(iv),
        "verdict": verdict,
    }
