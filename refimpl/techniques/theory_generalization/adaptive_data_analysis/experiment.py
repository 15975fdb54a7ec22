"""The experiment: an adaptive analyst builds a classifier from variables that look correlated with the label
on a training set and a holdout set, then asks the holdout how accurate the classifier is — with the holdout
answered plainly (reused) or through Thresholdout; fresh data tell the truth.

Setup.  n = `N` examples in each of the training, holdout and fresh sets, d = `D` standard-normal variables,
random ±1 labels; with no signal, or with `SIGNAL` variables shifted by 6/√n · y (a weak real correlation).
The analyst (`select_and_classify`) keeps variables whose training and holdout correlations agree in sign and
exceed 1/√n, and for k in `KS` classifies by the sign of the sum of the k strongest.  Thresholdout's T = 4/√n
and σ = 1/√n are the reusable-holdout demonstration's values (T = 0.04, σ = 0.01 at n = 10⁴) rescaled to this
n; nothing is tuned (the fixed settings are the method).  `SEEDS` seeds.
Premise.  Without signal there is nothing to find: the fresh accuracy of the naive analyst's best-looking
classifier is within 0.03 of chance.
Claims (margins fixed before the first full run).  (1) Reusing the holdout overfits it: with no signal, the
naive analyst's reported accuracy exceeds the fresh accuracy by more than 0.05 at its most optimistic k.
(2) Thresholdout's reports are closer to the fresh accuracy than the naive ones (mean gap over k).  (3) With
no signal Thresholdout's mean gap over k is below 0.05.  (4) With signal, the classifier Thresholdout's reports
pick has a fresh accuracy above 0.55.
"""

from __future__ import annotations

import numpy as np

from ....experiments import Claim, Method, Premise, compare, experiment, finish
from . import Thresholdout, make_data, naive_holdout, select_and_classify

SLUG = "adaptive-data-analysis"
N, D, SIGNAL = 2000, 2000, 20
QUICK_N, QUICK_D = 500, 300
KS = (10, 25, 50, 100, 200, 300, 500)
OVERFIT_MARGIN, THRESHOLDOUT_MARGIN, SIGNAL_MARGIN, PREMISE_CHANCE = 0.05, 0.05, 0.55, 0.03


def _analyst(mechanism: str, signal: bool, n: int, d: int, keep: dict):
    def run(seed):
        rng = np.random.default_rng([seed, int(signal), 71])
        sets = [
            make_data(n, d, signal=SIGNAL if signal else 0, strength=6 / np.sqrt(n), rng=rng)
            for _ in range(3)
        ]
        if mechanism == "naive":
            answer = naive_holdout
        else:
            answer = Thresholdout(4 / np.sqrt(n), 1 / np.sqrt(n), rng=[seed, int(signal), 72]).query
        out = select_and_classify(*sets, answer, KS)
        gap = out["reported"] - out["fresh"]
        best = int(np.argmax(out["reported"]))
        keep[(mechanism, signal, seed)] = (out["reported"], out["fresh"])
        return {
            "val_reported_best": float(out["reported"][best]),
            "fresh_at_best": float(out["fresh"][best]),
            "max_gap": float(gap.max()),
            "mean_gap": float(gap.mean()),
            "chance_distance": float(abs(out["fresh"][best] - 0.5)),
            "variables_kept": float(out["kept"]),
        }

    return run


@experiment(SLUG, seeds=tuple(range(8)), quick_seeds=(0, 1, 2))
def run(quick, seeds, progress):
    n, d = (QUICK_N, QUICK_D) if quick else (N, D)
    keep: dict = {}
    arms = {
        "naive reuse, no signal": ("naive", False),
        "Thresholdout, no signal": ("thresholdout", False),
        "naive reuse, signal": ("naive", True),
        "Thresholdout, signal": ("thresholdout", True),
    }
    methods = [Method(name, _analyst(m, s, n, d, keep)) for name, (m, s) in arms.items()]
    comparison = compare(
        methods, seeds, select="val_reported_best", maximize=True, quick=quick, progress=progress
    )
    premise = Premise(
        f"without signal there is nothing to find: the naive analyst's best-looking classifier is within "
        f"{PREMISE_CHANCE:g} of chance on fresh data",
        "chance_distance",
        "naive reuse, no signal",
        threshold=PREMISE_CHANCE,
        direction="less",
    )
    claims = [
        Claim(
            f"reusing the holdout overfits it: the naive reported accuracy exceeds the fresh one by more than "
            f"{OVERFIT_MARGIN:g} at its most optimistic k (no signal)",
            "max_gap",
            "naive reuse, no signal",
            margin=OVERFIT_MARGIN,
        ),
        Claim(
            "Thresholdout's reports are closer to the fresh accuracy than the naive ones (mean gap over k, no signal)",
            "mean_gap",
            "Thresholdout, no signal",
            "naive reuse, no signal",
            direction="less",
        ),
        Claim(
            f"with no signal Thresholdout's reports exceed the fresh accuracy by less than {THRESHOLDOUT_MARGIN:g} on "
            "average over k",
            "mean_gap",
            "Thresholdout, no signal",
            direction="less",
            margin=THRESHOLDOUT_MARGIN,
        ),
        Claim(
            f"with signal, the classifier Thresholdout's reports pick is above {SIGNAL_MARGIN:g} on fresh data",
            "fresh_at_best",
            "Thresholdout, signal",
            margin=SIGNAL_MARGIN,
            premises=(),
        ),
    ]
    arrays = {"ks": np.array(KS, dtype=np.float64)}
    for m, s in arms.values():
        arrays[f"reported_{m}_{int(s)}"] = np.array([keep[(m, s, k)][0] for k in comparison.seeds])
        arrays[f"fresh_{m}_{int(s)}"] = np.array([keep[(m, s, k)][1] for k in comparison.seeds])
    return finish(
        SLUG,
        comparison,
        premises=[premise],
        claims=claims,
        quick=quick,
        smoke=quick,
        arrays=arrays,
        notes={"n": n, "d": d},
    )


def plot(result) -> dict:
    from ....plotting import pyplot

    plt = pyplot()
    a = result.arrays
    ks = a["ks"]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4), sharey=True)
    for ax, s, title in ((axes[0], 0, "no signal"), (axes[1], 1, f"signal in {SIGNAL} variables")):
        for m, color in (("naive", "C3"), ("thresholdout", "C0")):
            label = "reused holdout" if m == "naive" else "Thresholdout"
            ax.plot(ks, a[f"reported_{m}_{s}"].mean(0), "-", color=color, label=f"{label}: reported")
            ax.plot(ks, a[f"fresh_{m}_{s}"].mean(0), "--", color=color, label=f"{label}: fresh data")
        ax.axhline(0.5, color="0.6", lw=0.8)
        ax.set_xscale("log")
        ax.set_xlabel("number of variables k in the classifier")
        ax.set_title(f"{title} (mean over seeds)", fontsize=9)
        ax.legend(fontsize=7)
    axes[0].set_ylabel("accuracy")
    fig.tight_layout()
    return {SLUG: fig}
