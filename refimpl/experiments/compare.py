"""The fair comparison: every method tunes its own hyperparameters on the validation split, then runs
on every seed at the values it chose; test metrics are only read afterwards.

A `Method` is a name, a function ``run(seed, **hparams) -> {metric: float}`` and a grid.  The run
function trains and evaluates one configuration and returns *both* validation and test metrics (by
convention prefixed ``val_`` and ``test_``); `compare` looks only at the selection metric (a ``val_``
one) while choosing, so test data never steers a choice.  Every method gets the same seeds and the
same selection budget per grid point; a method with an empty grid has nothing to tune.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Sequence

import numpy as np

from ..train import progress_bar

__all__ = ["Method", "Comparison", "compare"]


@dataclasses.dataclass
class Method:
    """One arm of a comparison.

    `run(seed, **hparams)` returns a dict of finite metrics; `grid` maps each tuned hyperparameter to
    its candidates (full mode); `quick_grid` is the smaller grid quick mode uses (default: `grid`);
    `fixed` holds hyperparameters passed to `run` but not tuned; `limits` declares a grid end that is a
    natural limit, ``{name: ("lower" | "upper", why)}`` (a rank of 1, a penalty weight whose limit is no
    penalty): a choice there is reported as such rather than as a grid to widen (`Result.grid_edges`).
    """

    name: str
    run: Callable[..., dict]
    grid: dict = dataclasses.field(default_factory=dict)
    quick_grid: dict | None = None
    fixed: dict = dataclasses.field(default_factory=dict)
    limits: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        for name, limit in self.limits.items():
            if name not in self.grid:
                raise ValueError(f"Method {self.name!r}: `limits` names {name!r}, which is not in the grid")
            if not (isinstance(limit, (tuple, list)) and len(limit) == 2 and limit[0] in ("lower", "upper")):
                raise ValueError(
                    f"Method {self.name!r}: `limits[{name!r}]` must be ('lower' | 'upper', reason), got {limit!r}"
                )

    def points(self, quick: bool) -> list[dict]:
        grid = self.grid if not quick or self.quick_grid is None else self.quick_grid
        for name, values in grid.items():
            if not isinstance(values, (list, tuple)) or not values:
                raise ValueError(
                    f"Method {self.name!r}: grid entry {name!r} must be a non-empty list, got {values!r}"
                )
        names = list(grid)
        return [dict(zip(names, combo)) for combo in itertools.product(*(grid[n] for n in names))]


@dataclasses.dataclass
class Comparison:
    """What `compare` measured: the per-seed table at the selected values, and how they were selected."""

    methods: list[str]
    seeds: list[int]
    rows: list[dict]  # {"method", "seed", **metrics} at the selected hyperparameters
    selected: dict[str, dict]  # method -> the hyperparameters it runs with (tuned and fixed)
    selection: list[dict]  # {"method", **hparams, "score"}: every grid point's validation score
    select: str
    maximize: bool
    limits: dict = dataclasses.field(default_factory=dict)  # method -> {name: [side, why]} (Method.limits)

    def values(self, method: str, metric: str) -> list[float]:
        """`metric` of `method`, one value per seed in seed order."""
        if method not in self.methods:
            raise KeyError(f"no method {method!r} in this comparison; methods: {self.methods}")
        out = []
        for seed in self.seeds:
            row = next(r for r in self.rows if r["method"] == method and r["seed"] == seed)
            if metric not in row:
                raise KeyError(f"method {method!r} reported no metric {metric!r}; it has {sorted(row)}")
            out.append(float(row[metric]))
        return out

    def metrics(self) -> list[str]:
        return list(dict.fromkeys(k for r in self.rows for k in r if k not in ("method", "seed")))


def _check_metrics(name, hp, seed, metrics):
    if not isinstance(metrics, dict) or not metrics:
        raise TypeError(f"method {name!r}: run(seed={seed}, **{hp}) must return a non-empty dict of metrics")
    for k, v in metrics.items():
        if k in ("method", "seed"):
            raise ValueError(f"method {name!r}: metric name {k!r} is reserved")
        if not isinstance(v, (int, float, np.integer, np.floating)) or not np.isfinite(float(v)):
            raise ValueError(
                f"method {name!r}: metric {k!r} must be a finite number, got {v!r} (seed {seed}, {hp})"
            )
    return {k: float(v) for k, v in metrics.items()}


def compare(
    methods: Sequence[Method],
    seeds: Sequence[int],
    *,
    select: str = "val_accuracy",
    maximize: bool = True,
    quick: bool = False,
    selection_seeds: Sequence[int] | None = None,
    progress: bool = True,
) -> Comparison:
    """Tune each method on `select` (mean over `selection_seeds`, default the first seed), then run
    every seed at the chosen values.  Runs are cached by (method, hyperparameters, seed), so the
    selection runs are reused, never repeated."""
    seeds = [int(s) for s in seeds]
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"compare: `seeds` must be distinct and non-empty, got {seeds}")
    names = [m.name for m in methods]
    if len(set(names)) != len(names):
        raise ValueError(f"compare: method names must be unique, got {names}")
    if not select.startswith("val_"):
        raise ValueError(f"compare: select on a validation metric (a 'val_' name), got {select!r}")
    selection_seeds = [seeds[0]] if selection_seeds is None else [int(s) for s in selection_seeds]
    cache: dict = {}

    def run(m: Method, hp: dict, seed: int) -> dict:
        key = (m.name, tuple(sorted(hp.items())), seed)
        if key not in cache:
            cache[key] = _check_metrics(m.name, hp, seed, m.run(seed, **m.fixed, **hp))
        return cache[key]

    jobs = sum(len(m.points(quick)) * len(selection_seeds) for m in methods if len(m.points(quick)) > 1)
    jobs += len(methods) * len(seeds)
    bar = progress_bar(range(jobs), total=jobs, desc="runs", enabled=progress)
    ticks = iter(bar)
    selection, selected, rows = [], {}, []
    for m in methods:
        points = m.points(quick)
        best, best_score = points[0], None
        if len(points) > 1:
            for hp in points:
                scores = []
                for s in selection_seeds:
                    metrics = run(m, hp, s)
                    next(ticks, None)
                    if select not in metrics:
                        raise KeyError(
                            f"method {m.name!r} reported no selection metric {select!r}; it has {sorted(metrics)}"
                        )
                    scores.append(metrics[select])
                score = float(np.mean(scores))
                selection.append({"method": m.name, **hp, "score": score})
                if best_score is None or (score > best_score if maximize else score < best_score):
                    best, best_score = hp, score
        selected[m.name] = {**m.fixed, **best}
        for s in seeds:
            rows.append({"method": m.name, "seed": s, **run(m, best, s)})
            next(ticks, None)
    for _ in ticks:  # close the bar
        pass
    limits = {m.name: {k: list(v) for k, v in m.limits.items()} for m in methods if m.limits}
    return Comparison(names, seeds, rows, selected, selection, select, maximize, limits)
