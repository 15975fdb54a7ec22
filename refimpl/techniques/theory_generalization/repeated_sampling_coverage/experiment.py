"""The experiment: a simulated benchmark of problems with Beta-distributed solve rates, n samples per problem;
coverage estimated by the unbiased and the plug-in pass@k against the truth, its growth in k, and the
exponentiated power law's extrapolation.

Setup.  `N_PROBLEMS` problems with solve rates p ~ Beta(`ALPHA`, `BETA`) per seed (many very hard problems),
n = `N_SAMPLES` attempts each (the number correct is Binomial(n, p)); the true coverage of the seed's problems is
mean(1 − (1 − p)^k).  k in `KS`.  Nothing is tuned; the selection metric is the unbiased estimate at k = 1.
`SEEDS` seeds.
Premise.  Difficulty is heterogeneous: more than a fifth of the problems have p < 0.01.
Claims (margins fixed before the first full run).  (1–2) The unbiased pass@k is within ±2 % of the true coverage
at k = n.  (3) The plug-in estimate is more than 2 % low there.  (4) Coverage grows log-linearly over
k = 1 … n: a straight line in log k has R² above 0.95.  (5) An exponentiated power law fitted on k ≤ 32 predicts
the coverage at k = n within 5 %.
"""

from __future__ import annotations

import numpy as np

from ....experiments import Claim, Method, Premise, compare, experiment, finish
from . import beta_coverage, fit_exponentiated_power_law, pass_at_k, plugin_pass_at_k

SLUG = "repeated-sampling-coverage"
ALPHA, BETA = 0.3, 3.0
N_PROBLEMS, N_SAMPLES = 500, 256
QUICK_PROBLEMS, QUICK_SAMPLES = 100, 64
FIT_UP_TO = 32
EST_MARGIN, PLUGIN_MARGIN, R2_MARGIN, EXTRAP_MARGIN, PREMISE_HARD = 0.02, -0.02, 0.95, 0.05, 0.2


def ks_for(n: int) -> np.ndarray:
    return 2 ** np.arange(int(np.log2(n)) + 1)


def _benchmark(n_problems: int, n: int, keep: dict):
    def run(seed):
        rng = np.random.default_rng([seed, 81])
        p = rng.beta(ALPHA, BETA, n_problems)
        c = rng.binomial(n, p)
        ks = ks_for(n)
        truth = np.array([np.mean(1 - (1 - p) ** k) for k in ks])
        unbiased = np.array([pass_at_k(n, c, k).mean() for k in ks])
        plugin = np.array([plugin_pass_at_k(n, c, k).mean() for k in ks])
        line = np.polyfit(np.log(ks), truth, 1)
        r2 = 1 - np.sum((truth - np.polyval(line, np.log(ks))) ** 2) / np.sum((truth - truth.mean()) ** 2)
        fit_k = ks[ks <= FIT_UP_TO]
        fit = fit_exponentiated_power_law(fit_k, unbiased[: len(fit_k)])
        keep[seed] = {"truth": truth, "unbiased": unbiased, "plugin": plugin, "extrap": fit["predict"](ks)}
        return {
            "val_pass_at_1": float(unbiased[0]),
            "unbiased_rel_err": float(unbiased[-1] / truth[-1] - 1),
            "plugin_rel_err": float(plugin[-1] / truth[-1] - 1),
            "loglinear_r2": float(r2),
            "extrapolation_abs_err": float(abs(fit["predict"](ks[-1]) / truth[-1] - 1)),
            "beta_formula_rel_err": float(beta_coverage(ks[-1], ALPHA, BETA) / truth[-1] - 1),
            "hard_fraction": float(np.mean(p < 0.01)),
        }

    return run


@experiment(SLUG, seeds=tuple(range(10)), quick_seeds=(0, 1, 2))
def run(quick, seeds, progress):
    n_problems, n = (QUICK_PROBLEMS, QUICK_SAMPLES) if quick else (N_PROBLEMS, N_SAMPLES)
    keep: dict = {}
    name = "simulated benchmark, p ~ Beta(0.3, 3)"
    comparison = compare(
        [Method(name, _benchmark(n_problems, n, keep))],
        seeds,
        select="val_pass_at_1",
        quick=quick,
        progress=progress,
    )
    premise = Premise(
        f"difficulty is heterogeneous: more than {PREMISE_HARD:.0%} of the problems have p < 0.01",
        "hard_fraction",
        name,
        threshold=PREMISE_HARD,
    )
    claims = [
        Claim(
            f"the unbiased pass@k is within −{EST_MARGIN:.0%} of the true coverage at k = n",
            "unbiased_rel_err",
            name,
            margin=-EST_MARGIN,
            premises=(),
        ),
        Claim(
            f"the unbiased pass@k is within +{EST_MARGIN:.0%} of the true coverage at k = n",
            "unbiased_rel_err",
            name,
            direction="less",
            margin=EST_MARGIN,
            premises=(),
        ),
        Claim(
            f"the plug-in estimate is more than {-PLUGIN_MARGIN:.0%} low at k = n",
            "plugin_rel_err",
            name,
            direction="less",
            margin=PLUGIN_MARGIN,
            premises=(),
        ),
        Claim(
            f"coverage grows log-linearly over k = 1 … n (R² of a line in log k above {R2_MARGIN:g})",
            "loglinear_r2",
            name,
            margin=R2_MARGIN,
        ),
        Claim(
            f"an exponentiated power law fitted on k ≤ {FIT_UP_TO} predicts the coverage at k = n within {EXTRAP_MARGIN:.0%}",
            "extrapolation_abs_err",
            name,
            direction="less",
            margin=EXTRAP_MARGIN,
        ),
    ]
    s = comparison.seeds
    arrays = {"ks": ks_for(n).astype(np.float64)}
    for key in ("truth", "unbiased", "plugin", "extrap"):
        arrays[key] = np.array([keep[k][key] for k in s])
    arrays["beta_formula"] = beta_coverage(arrays["ks"], ALPHA, BETA)
    return finish(
        SLUG,
        comparison,
        premises=[premise],
        claims=claims,
        quick=quick,
        smoke=quick,
        arrays=arrays,
        notes={"n": n, "fit_up_to": FIT_UP_TO},
    )


def plot(result) -> dict:
    from ....plotting import pyplot

    plt = pyplot()
    a = result.arrays
    ks = a["ks"]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    ax = axes[0]
    ax.plot(ks, a["truth"].mean(0), "k-", lw=2, label="true coverage of the simulated problems")
    ax.plot(ks, a["unbiased"].mean(0), "o", label="unbiased pass@k")
    ax.plot(ks, a["plugin"].mean(0), "x", label="plug-in 1 − (1 − c/n)^k")
    ax.plot(ks, a["beta_formula"], ":", color="0.4", label="Beta closed form")
    ax.plot(
        ks,
        a["extrap"].mean(0),
        "--",
        label=f"exponentiated power law fitted on k ≤ {result.notes['fit_up_to']}",
    )
    ax.set_xscale("log")
    ax.set_xlabel("samples per problem k")
    ax.set_ylabel("coverage (mean over seeds)")
    ax.set_title(f"n = {result.notes['n']} samples per problem", fontsize=9)
    ax.legend(fontsize=7)
    ax = axes[1]
    ax.plot(ks, (a["unbiased"] / a["truth"] - 1).mean(0), "o-", label="unbiased")
    ax.plot(ks, (a["plugin"] / a["truth"] - 1).mean(0), "x-", label="plug-in")
    ax.axhline(0, color="0.6", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("k")
    ax.set_ylabel("relative error of the estimate")
    ax.set_title("estimating pass@k from n samples", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return {SLUG: fig}
