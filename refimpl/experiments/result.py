"""The typed result of an experiment, its JSON form, and how it renders (text, Markdown).

`Result` is what every migrated technique's experiment returns and what `refimpl record` writes to
`refimpl/results/<slug>.json`.  Numbers and verdicts that prose quotes are rendered from it
(`Result.markdown()`, `Result.verdict_lines()`), never typed by hand.
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

import numpy as np

from .claims import VERDICTS, Claim, Premise, judge_claim, judge_premise
from .compare import Comparison
from .stats import mean_interval

__all__ = ["Result", "finish", "SCHEMA_VERSION"]

SCHEMA_VERSION = 1


@dataclasses.dataclass
class Result:
    slug: str
    quick: bool
    smoke: bool  # quick mode that does not reach the claim's regime: its verdicts are not evidence
    seeds: list
    select: str
    table: list  # {"method", "seed", **metrics} at the selected hyperparameters
    selected: dict  # method -> hyperparameters
    selection: list  # {"method", **hparams, "score"} for every grid point
    summary: list  # {"method", "metric", "mean", "std", "n", "low", "high"}
    premises: list  # judged premises (claims.judge_premise)
    claims: list  # judged claims (claims.judge_claim)
    arrays: dict = dataclasses.field(default_factory=dict)  # name -> ndarray (plots)
    notes: dict = dataclasses.field(default_factory=dict)  # name -> small JSON value
    source_hash: str = ""
    seconds: float = 0.0
    schema: int = SCHEMA_VERSION
    maximize: bool = True  # whether a higher `select` score was the better one
    grid_limits: dict = dataclasses.field(default_factory=dict)  # method -> {name: [side, why]}
    environment: dict = dataclasses.field(default_factory=dict)  # where a full run was recorded (store.py)

    # --- access ---------------------------------------------------------------------------------
    def values(self, method: str, metric: str) -> list[float]:
        out = [
            float(r[metric])
            for s in self.seeds
            for r in self.table
            if r["method"] == method and r["seed"] == s
        ]
        if len(out) != len(self.seeds):
            raise KeyError(f"{self.slug}: no {metric!r} for every seed of method {method!r}")
        return out

    def stat(self, method: str, metric: str) -> dict:
        for row in self.summary:
            if row["method"] == method and row["metric"] == metric:
                return row
        raise KeyError(f"{self.slug}: no summary of {metric!r} for {method!r}")

    def claim(self, statement_start: str = "") -> dict:
        """The judged claim whose statement starts with `statement_start` (the first one by default)."""
        for c in self.claims:
            if c["statement"].startswith(statement_start):
                return c
        raise KeyError(f"{self.slug}: no claim starting with {statement_start!r}")

    def grid_edges(self) -> list[str]:
        """One line per selected hyperparameter that sits at the lowest or highest of ≥ 3 numeric values
        tried for it (from `selection`): its optimum may lie outside the grid, so the grid should be
        widened before the verdict is trusted.  Empty when every choice is inside its grid."""
        return [line for line, declared in self._edges() if not declared]

    def declared_limits(self) -> list[str]:
        """One line per selected hyperparameter at a grid end its method declared a natural limit
        (`Method(limits=...)`), with the reason: reported, not a grid to widen."""
        return [line for line, declared in self._edges() if declared]

    def _edges(self) -> list[tuple[str, bool]]:
        out = []
        for method, chosen in self.selected.items():
            rows = [r for r in self.selection if r["method"] == method]
            for name, value in chosen.items():
                tried = {r[name] for r in rows if name in r}
                if len(tried) < 3 or not all(isinstance(v, (int, float)) for v in tried | {value}):
                    continue
                lo, hi = min(tried), max(tried)
                if value in (lo, hi):
                    side = "lowest" if value == lo else "highest"
                    line = f"{method}: {name} = {value:g} is the {side} of the {len(tried)} values tried"
                    limit = self.grid_limits.get(method, {}).get(name)
                    declared = limit is not None and limit[0] == ("lower" if value == lo else "upper")
                    out.append((f"{line}, a declared limit: {limit[1]}" if declared else line, declared))
        return out

    @property
    def methods(self) -> list[str]:
        return list(dict.fromkeys(r["method"] for r in self.table))

    # --- checks -----------------------------------------------------------------------------------
    def validate(self) -> None:
        """Raise ValueError if the result is not well formed (the registry tests call this)."""
        if not self.slug or not self.seeds or not self.table:
            raise ValueError(f"result of {self.slug!r}: slug, seeds and table must be non-empty")
        for row in self.table:
            for k, v in row.items():
                if k not in ("method", "seed") and not math.isfinite(float(v)):
                    raise ValueError(
                        f"result of {self.slug!r}: {row['method']} seed {row['seed']}: {k} = {v}"
                    )
        if not self.claims:
            raise ValueError(f"result of {self.slug!r}: at least one claim")
        for c in self.claims:
            if c["verdict"] not in VERDICTS:
                raise ValueError(
                    f"result of {self.slug!r}: verdict {c['verdict']!r} is not one of {VERDICTS}"
                )
        for p in self.premises:
            if not isinstance(p["present"], bool):
                raise ValueError(
                    f"result of {self.slug!r}: premise {p['statement']!r} lacks a boolean 'present'"
                )
        for name, a in self.arrays.items():
            if not isinstance(a, np.ndarray):
                raise ValueError(f"result of {self.slug!r}: array {name!r} is not an ndarray")

    # --- JSON -----------------------------------------------------------------------------------
    def to_json(self) -> str:
        d = dataclasses.asdict(self)
        d["arrays"] = {
            k: {"dtype": str(v.dtype), "shape": list(v.shape), "data": v.ravel().tolist()}
            for k, v in self.arrays.items()
        }
        return json.dumps(d, indent=1, sort_keys=False, default=_jsonable) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Result:
        d = json.loads(text)
        if d.get("schema") != SCHEMA_VERSION:
            raise ValueError(f"result schema {d.get('schema')!r}, this refimpl reads {SCHEMA_VERSION}")
        d["arrays"] = {
            k: np.asarray(v["data"], dtype=v["dtype"]).reshape(v["shape"]) for k, v in d["arrays"].items()
        }
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in fields})

    # --- rendering --------------------------------------------------------------------------------
    def verdict_lines(self) -> list[str]:
        lines = []
        for c in self.claims:
            iv = c["interval"]
            what = f"{c['method']} − {c['baseline']}" if c["baseline"] else c["method"]
            op = ">" if c["direction"] == "greater" else "<"
            lines.append(
                f"{c['verdict'].upper()}: {c['statement']} — {c['metric']} of {what} = {iv['mean']:+.4f}, "
                f"95 % CI [{iv['low']:+.4f}, {iv['high']:+.4f}] over {iv['n']} seeds (claimed {op} {c['margin']:+g})"
            )
        if self.smoke:
            lines.append(
                "(smoke run: quick mode does not reach the claim's regime; these verdicts are not evidence)"
            )
        return lines

    def summary_rows(self, metrics=None) -> list[dict]:
        """One row per method: mean ± std of each metric (the table `refimpl run` prints)."""
        metrics = metrics or list(dict.fromkeys(r["metric"] for r in self.summary))
        rows = []
        for m in self.methods:
            row: dict[str, Any] = {"method": m}
            for k in metrics:
                try:
                    s = self.stat(m, k)
                except KeyError:
                    continue
                row[k] = f"{s['mean']:.4g} ± {s['std']:.2g}"
            rows.append(row)
        return rows

    def markdown(self, metrics=None) -> str:
        """Premises, selected hyperparameters, the per-method table and the verdicts, as Markdown."""
        out = [f"**{self.slug}** — {'quick' if self.quick else 'full'} run, seeds {self.seeds}"]
        if self.premises:
            out.append("\n**Premise**\n")
            for p in self.premises:
                iv = p["interval"]
                op = ">" if p["direction"] == "greater" else "<"
                out.append(
                    f"- {'present' if p['present'] else 'ABSENT'}: {p['statement']} ({p['metric']} of "
                    f"{p['method']}{' − ' + p['baseline'] if p.get('baseline') else ''} = {iv['mean']:.4g} ± {iv['std']:.2g}; "
                    f"needs {op} {p['threshold']:g})"
                )
        out.append("\n**Selected on the validation split** (`" + self.select + "`)\n")
        for m, hp in self.selected.items():
            out.append(
                f"- {m}: "
                + (
                    ", ".join(f"{k} = {v:g}" if isinstance(v, float) else f"{k} = {v}" for k, v in hp.items())
                    or "nothing to tune"
                )
            )
        rows = self.summary_rows(metrics)
        cols = list(dict.fromkeys(k for r in rows for k in r))
        out.append("\n| " + " | ".join(cols) + " |\n|" + "---|" * len(cols))
        out.extend("| " + " | ".join(str(r.get(c, "")) for c in cols) + " |" for r in rows)
        out.append("\n**Verdict**\n")
        out.extend(f"- {line}" for line in self.verdict_lines())
        return "\n".join(out)

    def _repr_markdown_(self) -> str:  # Jupyter shows a Result as its Markdown
        return self.markdown()


def _jsonable(v):
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating,)):
        return float(v)
    if isinstance(v, np.bool_):
        return bool(v)
    if isinstance(v, np.ndarray):
        return v.tolist()
    raise TypeError(f"not JSON-serialisable: {type(v).__name__}")


def finish(
    slug: str,
    comparison: Comparison,
    *,
    claims: list[Claim],
    premises: list[Premise] = (),
    quick: bool,
    smoke: bool,
    arrays: dict | None = None,
    notes: dict | None = None,
    metrics: list[str] | None = None,
) -> Result:
    """Judge premises and claims on the comparison's per-seed values and build the `Result`.
    `metrics` limits the summary to these names (default: every metric the methods reported)."""
    judged_p = [
        judge_premise(
            p,
            comparison.values(p.method, p.metric),
            None if p.baseline is None else comparison.values(p.baseline, p.metric),
        )
        for p in premises
    ]
    present = {p["statement"]: p["present"] for p in judged_p}
    judged_c = []
    for c in claims:
        needed = c.premises if c.premises is not None else tuple(present)
        unknown = [s for s in needed if s not in present]
        if unknown:
            raise ValueError(f"claim {c.statement!r} names premises that were not measured: {unknown}")
        base = None if c.baseline is None else comparison.values(c.baseline, c.metric)
        judged_c.append(
            judge_claim(c, comparison.values(c.method, c.metric), base, all(present[s] for s in needed))
        )
    summary = []
    for m in comparison.methods:
        for k in metrics or comparison.metrics():
            try:
                iv = mean_interval(comparison.values(m, k))
            except KeyError:
                continue
            summary.append(
                {
                    "method": m,
                    "metric": k,
                    "mean": iv.mean,
                    "std": iv.std,
                    "n": iv.n,
                    "low": iv.low,
                    "high": iv.high,
                }
            )
    result = Result(
        slug=slug,
        quick=bool(quick),
        smoke=bool(smoke),
        seeds=list(comparison.seeds),
        select=comparison.select,
        maximize=comparison.maximize,
        table=comparison.rows,
        selected=comparison.selected,
        selection=comparison.selection,
        summary=summary,
        premises=judged_p,
        claims=judged_c,
        arrays={k: np.asarray(v) for k, v in (arrays or {}).items()},
        notes=dict(notes or {}),
        grid_limits=dict(comparison.limits),
    )
    result.validate()
    return result
