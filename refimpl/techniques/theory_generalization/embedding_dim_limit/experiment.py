"""The experiment: free embeddings of dimension d = 2 … 6 asked to return every pair of n documents as some
query's top-2, the largest solvable n found for two optimization budgets.

Setup.  For each d, n grows from d + 1 until free embeddings (Adam, rates 0.05 and 0.2, `STEPS` steps; a success
with either rate counts) fail; the last success is the critical n.  The search is repeated with a 4× budget,
starting one below the first critical n.  Nothing else is tuned; `SEEDS` seeds (initializations).
Premise.  The limit is a property of d: with the larger budget, every d's critical n is at least the smaller
budget's (the search is monotone, not a lucky run).
Claims (margins fixed before the first full run).  (1) A 4× step budget moves the critical n by less than 1 on
average over d (the limit is the dimension's, not the optimizer's).  (2) The critical n grows with d faster than
linearly: the log–log slope of critical n on d is above 1.  (The paper's cubic fit is drawn, not claimed: five
dimensions cannot tell a cubic from other fast growth.)
"""

from __future__ import annotations

import numpy as np

from ....experiments import Claim, Method, Premise, compare, experiment, finish
from . import critical_n

SLUG = "embedding-dim-limit"
DIMS, QUICK_DIMS = (2, 3, 4, 5, 6), (2, 3, 4)
STEPS, QUICK_STEPS = 3000, 600
SHIFT_MARGIN, SLOPE_MARGIN = 1.0, 1.0


def _search(dims, steps, keep):
    def run(seed):
        base = np.array([critical_n(d, steps=steps, rng=[seed, d, 1]) for d in dims], dtype=np.float64)
        more = np.array(
            [
                critical_n(d, steps=4 * steps, rng=[seed, d, 2], start=max(int(b), d + 1))
                for d, b in zip(dims, base)
            ],
            dtype=np.float64,
        )
        more = np.maximum(
            more, base
        )  # a start above a failing n reports start − 1: never below the first search
        dims_a = np.array(dims, dtype=np.float64)
        keep[seed] = {"base": base, "more": more}
        return {
            "val_critical_n_largest_d": float(more[-1]),
            "mean_budget_shift": float(np.mean(more - base)),
            "min_budget_shift": float(np.min(more - base)),
            "loglog_slope": float(np.polyfit(np.log(dims_a), np.log(more), 1)[0]),
        }

    return run


@experiment(SLUG, seeds=(0, 1, 2), quick_seeds=(0, 1, 2))
def run(quick, seeds, progress):
    dims, steps = (QUICK_DIMS, QUICK_STEPS) if quick else (DIMS, STEPS)
    keep: dict = {}
    name = "free embeddings (Adam)"
    comparison = compare(
        [Method(name, _search(dims, steps, keep))],
        seeds,
        select="val_critical_n_largest_d",
        quick=quick,
        progress=progress,
    )
    premise = Premise(
        "the search is monotone: the larger budget's critical n is never below the smaller budget's",
        "min_budget_shift",
        name,
        threshold=-0.5,
    )
    claims = [
        Claim(
            f"a 4× step budget moves the critical n by less than {SHIFT_MARGIN:g} on average over d",
            "mean_budget_shift",
            name,
            direction="less",
            margin=SHIFT_MARGIN,
        ),
        Claim(
            f"the critical n grows faster than linearly in d (log–log slope above {SLOPE_MARGIN:g})",
            "loglog_slope",
            name,
            margin=SLOPE_MARGIN,
        ),
    ]
    s = comparison.seeds
    arrays = {
        "dims": np.array(dims, dtype=np.float64),
        "base": np.array([keep[k]["base"] for k in s]),
        "more": np.array([keep[k]["more"] for k in s]),
    }
    return finish(
        SLUG,
        comparison,
        premises=[premise],
        claims=claims,
        quick=quick,
        smoke=quick,
        arrays=arrays,
        notes={"steps": steps},
    )


def plot(result) -> dict:
    from ....plotting import pyplot

    plt = pyplot()
    a = result.arrays
    d = a["dims"]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for k, (key, lab) in enumerate(
        (("base", f"{result.notes['steps']} steps"), ("more", f"{4 * result.notes['steps']} steps"))
    ):
        for row in a[key]:
            ax.plot(d + 0.05 * (k - 0.5), row, "o", color=f"C{k}", alpha=0.5, ms=5)
        ax.plot(d, a[key].mean(0), "-", color=f"C{k}", label=f"critical n, {lab} (mean; dots: seeds)")
    if len(d) >= 4:
        grid = np.linspace(d.min(), d.max(), 100)
        ax.plot(
            grid,
            np.polyval(np.polyfit(d, a["more"].mean(0), 3), grid),
            "k:",
            lw=1,
            label="cubic fit (the paper's form)",
        )
    ax.set_yscale("log")
    ax.set_xlabel("embedding dimension d")
    ax.set_ylabel("largest n with every pair a top-2")
    ax.set_title("free embeddings: the dimension limit", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return {SLUG: fig}
