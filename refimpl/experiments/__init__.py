"""The fair-comparison harness every technique's experiment uses.

* `tasks` — shared tasks with fixed train / validation / test splits, weight generators;
* `training` — `train` and `split_metrics` on `refimpl.train.fit`;
* `Method`, `compare` — each method tunes its own hyperparameters on validation, then runs every seed;
* `Premise`, `Claim` — the condition the method relies on and the paper's claim, as data;
* `finish` → `Result` — verdicts from 95 % intervals over seeds, a typed result with JSON and Markdown;
* `@experiment` — seeds, quick mode, the smoke label, BLAS threads, the source hash;
* `recorded(slug)`, `freshness(slug)`, `record(slug)` — full results on record (`refimpl record`).

CONTRIBUTING.md walks through adding a technique with it.
"""

from . import tasks
from .claims import VERDICTS, Claim, Premise
from .compare import Comparison, Method, compare
from .result import Result, finish
from .runner import experiment
from .stats import Interval, mean_interval, paired_interval
from .store import freshness, record, recorded
from .training import make_optimizer, split_metrics, train

__all__ = [
    "tasks",
    "VERDICTS",
    "Claim",
    "Premise",
    "Comparison",
    "Method",
    "compare",
    "freshness",
    "record",
    "recorded",
    "Result",
    "finish",
    "experiment",
    "Interval",
    "mean_interval",
    "paired_interval",
    "make_optimizer",
    "split_metrics",
    "train",
]
