"""The experiment: iterations and plan passes to a fixed marginal error for SNS, plain Sinkhorn (the ablation
without Newton) and Newton with the dense Hessian (the ablation without sparsification).

Problems (`problem`).  n = m = `N` (quick: `QUICK_N`), two kinds, each at the regularisations `ETAS`
(costs scaled to max 1, so η·C is dimensionless):
* "cloud": two independent uniform point clouds in [0, 1]², squared Euclidean cost, histogram weights
  uniform in [0.5, 1.5] (normalised);
* "grid": 1-d histograms on a uniform grid of [0, 1], each a mixture of three Gaussian bumps plus a 5 % floor,
  cost (s_i − t_j)².
The problem seed is the run's seed (test problems); the validation problems use seed 10_000 + seed, so
every selection is made on problems the reported numbers never see.

Budget and stop.  Every solver starts at x = y = 0 and stops when ‖P1 − r‖₁ + ‖Pᵀ1 − c‖₁ ≤ `TOL` (or at
`MAX_SINKHORN` Sinkhorn / `MAX_NEWTON` Newton iterations: "reached" 0).  Cost is counted in passes over the
n×m plan (see the package docstring): machine independent, no timings.

Grids (selected on `val_log10_cost`, the mean over the validation problems of log10(passes), plus one decade
for each problem not solved to `TOL`; lower is better).  SNS: warm-up N₁ × kept entries per row κ (λ = κ/n);
dense Newton: N₁; Sinkhorn has no hyperparameter.  The κ grid was {2, 4, 8, 16, 32} in the first recording,
which chose κ = 32, its top; it was widened to κ = 80 = n (everything kept: SNS becomes dense Newton), so the
choice is bracketed whatever it is, and recorded again.  One (N₁, κ) serves every η and both kinds.

Premises (thresholds fixed before the first full run).  (1) Sinkhorn is slow at the weakest regularisation:
over 1000 iterations at η = `ETA_MAX`.  (2) The plan is approximately sparse where Newton starts: at the
selected λ the kept entries carry ≥ 99 % of the plan's mass (η = `ETA_MAX`).
Claims (margins fixed before the first full run, from the paper's statements).  At η = `ETA_MAX`:
(1) SNS needs ≥ 10× fewer iterations than Sinkhorn (log10 difference < −1) and (2) ≥ 3× fewer plan passes;
(3) sparsification costs little convergence: SNS's Newton iterations are at most 2× dense Newton's, and
(4) it is cheaper: ≥ 2× fewer passes than dense Newton; (5) the Newton phase is super-exponential: the log10
contraction of the last Newton step is at least one decade below that of the first.  At η = `ETA_MIN` (strong
regularisation, a denser plan): (6) SNS still takes fewer iterations than Sinkhorn.
"""

from __future__ import annotations

import math

import numpy as np

from ....experiments import Claim, Method, Premise, compare, experiment, finish
from . import sinkhorn, sns

SLUG = "sinkhorn-newton-sparse"
N, QUICK_N = 80, 40
ETAS = (100.0, 300.0, 1000.0)
QUICK_ETAS = (100.0, 1000.0)
ETA_MIN, ETA_MAX = 100.0, 1000.0
KINDS = ("cloud", "grid")
TOL = 1e-10
MAX_SINKHORN, MAX_NEWTON = 50_000, 100
VAL_OFFSET = 10_000
GRIDS = {
    "SNS": {"n_sinkhorn": [2, 5, 10, 20, 50, 100], "kappa": [2, 4, 8, 16, 32, 48, 64, 80]},
    "dense Newton": {"n_sinkhorn": [2, 5, 10, 20, 50, 100]},
    "Sinkhorn": {},
}
QUICK_GRIDS = {
    "SNS": {"n_sinkhorn": [20], "kappa": [8]},
    "dense Newton": {"n_sinkhorn": [20]},
    "Sinkhorn": {},
}


def problem(kind: str, n: int, seed: int):
    """(C, r, c) of one OT problem: `kind` "cloud" or "grid", size n × n, from `seed`."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    rng = np.random.default_rng(seed)
    if kind == "cloud":
        a, b = rng.uniform(0, 1, (n, 2)), rng.uniform(0, 1, (n, 2))
        C = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
        C = C / C.max()
        r, c = rng.uniform(0.5, 1.5, n), rng.uniform(0.5, 1.5, n)
    else:
        s = np.linspace(0, 1, n)
        C = (s[:, None] - s[None, :]) ** 2

        def density():
            mu, sd, w = rng.uniform(0.1, 0.9, 3), rng.uniform(0.05, 0.15, 3), rng.uniform(0.5, 1.5, 3)
            d = (w[:, None] * np.exp(-0.5 * ((s[None, :] - mu[:, None]) / sd[:, None]) ** 2)).sum(0)
            return d / d.sum() + 0.05 / n

        r, c = density(), density()
    return C, r / r.sum(), c / c.sum()


def _contraction_drop(errors, start: int) -> float:
    """log10(e_K/e_{K−1}) − log10(e_{s+1}/e_s) over the Newton phase (s = `start`); 0 with < 2 Newton steps."""
    e = np.maximum(np.asarray(errors[start:], dtype=np.float64), 1e-300)
    if len(e) < 3:
        return 0.0
    rates = np.log10(e[1:] / e[:-1])
    return float(rates[-1] - rates[0])


def _solve(name: str, C, r, c, eta, hp: dict, n: int):
    if name == "Sinkhorn":
        return sinkhorn(C, r, c, eta, tol=TOL, max_iter=MAX_SINKHORN)
    lam = 1.0 if name == "dense Newton" else min(1.0, hp["kappa"] / n)
    return sns(C, r, c, eta, n_sinkhorn=hp["n_sinkhorn"], lam=lam, tol=TOL, max_newton=MAX_NEWTON)


def _method(name: str, quick: bool) -> Method:
    n = QUICK_N if quick else N
    etas = QUICK_ETAS if quick else ETAS

    def run(seed, **hp):
        out, val = {}, []
        for eta in etas:
            tag = f"eta{eta:g}"
            logs = {k: [] for k in ("iters", "cost", "newton", "drop", "kept", "reached")}
            for kind in KINDS:
                s = _solve(name, *problem(kind, n, seed), eta, hp, n)
                ok = s.reached(TOL)
                logs["iters"].append(math.log10(s.iterations))
                logs["cost"].append(math.log10(s.costs[-1]))
                logs["newton"].append(math.log10(max(s.newton_iterations, 1)))
                logs["drop"].append(_contraction_drop(s.errors, s.n_sinkhorn))
                logs["kept"].append(1.0 if np.isnan(s.kept_mass) else s.kept_mass)
                logs["reached"].append(float(ok))
                out[f"test_iters_{kind}_{tag}"] = float(s.iterations)
                out[f"test_cost_{kind}_{tag}"] = float(s.costs[-1])
                if name != "Sinkhorn":  # Sinkhorn has nothing to select
                    v = _solve(name, *problem(kind, n, VAL_OFFSET + seed), eta, hp, n)
                    val.append(math.log10(v.costs[-1]) + (0.0 if v.reached(TOL) else 1.0))
            out[f"test_log10_iters_{tag}"] = float(np.mean(logs["iters"]))
            out[f"test_log10_cost_{tag}"] = float(np.mean(logs["cost"]))
            out[f"test_log10_newton_{tag}"] = float(np.mean(logs["newton"]))
            out[f"test_rate_drop_{tag}"] = float(np.mean(logs["drop"]))
            out[f"kept_mass_{tag}"] = float(np.min(logs["kept"]))
            out[f"reached_{tag}"] = float(np.mean(logs["reached"]))
        if val:
            out["val_log10_cost"] = float(np.mean(val))
        return out

    return Method(name, run, grid=GRIDS[name], quick_grid=QUICK_GRIDS[name])


def traces(selected: dict, seed: int, n: int, eta: float) -> dict:
    """Error and cumulative-pass traces of every method at its selected hyperparameters (for the plot)."""
    out = {}
    for kind in KINDS:
        C, r, c = problem(kind, n, seed)
        for name, hp in selected.items():
            s = _solve(name, C, r, c, eta, hp, n)
            key = f"{kind}|{name}"
            out[f"err|{key}"] = np.asarray(s.errors)
            out[f"cost|{key}"] = np.asarray(s.costs)
            out[f"start|{key}"] = np.asarray([s.n_sinkhorn])
    return out


@experiment(SLUG, seeds=range(10), quick_seeds=(0, 1))
def run(quick, seeds, progress):
    names = list(GRIDS)
    methods = [_method(name, quick) for name in names]
    comparison = compare(
        methods,
        seeds,
        select="val_log10_cost",
        maximize=False,
        quick=quick,
        progress=progress,
        selection_seeds=seeds[:1] if quick else seeds[:3],
    )
    hi, lo = f"eta{ETA_MAX:g}", f"eta{ETA_MIN:g}"
    slow = f"Sinkhorn is slow at weak regularisation: over 1000 iterations at η = {ETA_MAX:g}"
    sparse = f"the plan is approximately sparse when Newton starts: the kept entries carry ≥ 99 % of its mass (η = {ETA_MAX:g})"
    premises = [
        Premise(slow, f"test_log10_iters_{hi}", "Sinkhorn", threshold=3.0, strict=True),
        Premise(sparse, f"kept_mass_{hi}", "SNS", threshold=0.99, strict=True),
    ]
    claims = [
        Claim(
            f"SNS reaches the tolerance in at least 10× fewer total iterations than Sinkhorn (η = {ETA_MAX:g})",
            f"test_log10_iters_{hi}",
            "SNS",
            "Sinkhorn",
            direction="less",
            margin=-1.0,
            premises=(slow,),
        ),
        Claim(
            f"SNS needs at least 3× fewer passes over the plan than Sinkhorn (η = {ETA_MAX:g})",
            f"test_log10_cost_{hi}",
            "SNS",
            "Sinkhorn",
            direction="less",
            margin=-math.log10(3.0),
            premises=(slow,),
        ),
        Claim(
            f"sparsifying the Hessian costs little convergence: SNS takes at most 2× the Newton iterations of "
            f"dense Newton (η = {ETA_MAX:g})",
            f"test_log10_newton_{hi}",
            "SNS",
            "dense Newton",
            direction="less",
            margin=math.log10(2.0),
            premises=(sparse,),
        ),
        Claim(
            f"SNS needs at least 2× fewer passes over the plan than dense Newton (η = {ETA_MAX:g})",
            f"test_log10_cost_{hi}",
            "SNS",
            "dense Newton",
            direction="less",
            margin=-math.log10(2.0),
            premises=(sparse,),
        ),
        Claim(
            f"the Newton phase of SNS converges super-exponentially: its last step contracts the error at least "
            f"a decade more than its first (η = {ETA_MAX:g})",
            f"test_rate_drop_{hi}",
            "SNS",
            direction="less",
            margin=-1.0,
            premises=(sparse,),
        ),
        Claim(
            f"at strong regularisation SNS still reaches the tolerance in fewer iterations than Sinkhorn (η = {ETA_MIN:g})",
            f"test_log10_iters_{lo}",
            "SNS",
            "Sinkhorn",
            direction="less",
            margin=0.0,
            premises=(),
        ),
    ]
    n = QUICK_N if quick else N
    etas = QUICK_ETAS if quick else ETAS
    arrays = traces(comparison.selected, seeds[0], n, ETA_MAX)
    for name in names:
        arrays[f"log10_iters|{name}"] = np.array(
            [comparison.values(name, f"test_log10_iters_eta{e:g}") for e in etas]
        )
        arrays[f"log10_cost|{name}"] = np.array(
            [comparison.values(name, f"test_log10_cost_eta{e:g}") for e in etas]
        )
    metrics = [f"{p}_eta{e:g}" for e in etas for p in ("test_log10_iters", "test_log10_cost", "reached")]
    metrics += [f"test_log10_newton_{hi}", f"test_rate_drop_{hi}", f"kept_mass_{hi}", "val_log10_cost"]
    return finish(
        SLUG,
        comparison,
        premises=premises,
        claims=claims,
        quick=quick,
        smoke=quick,
        arrays=arrays,
        notes={
            "n": n,
            "etas": list(etas),
            "kinds": list(KINDS),
            "tol": TOL,
            "methods": names,
            "trace_seed": seeds[0],
        },
        metrics=metrics,
    )


def plot(result) -> dict:
    from ....plotting import pyplot

    plt = pyplot()
    a, notes = result.arrays, result.notes
    names, etas = notes["methods"], notes["etas"]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for k, kind in enumerate(notes["kinds"]):
        ax = axes[k]
        for i, name in enumerate(names):
            err, cost = a[f"err|{kind}|{name}"], a[f"cost|{kind}|{name}"]
            start = int(a[f"start|{kind}|{name}"][0])
            ax.semilogy(cost, np.maximum(err, 1e-17), color=f"C{i}", label=name)
            if name != "Sinkhorn" and start < len(err):
                ax.semilogy(cost[start:], np.maximum(err[start:], 1e-17), "o", color=f"C{i}", ms=3)
        ax.axhline(notes["tol"], color="k", ls=":", lw=1)
        ax.set_xscale("log")
        ax.set_xlabel("passes over the n×n plan (log)")
        ax.set_ylabel("‖P1 − r‖₁ + ‖Pᵀ1 − c‖₁")
        ax.set_title(
            f"{kind}, η = {max(etas):g}, seed {notes['trace_seed']} (dots: Newton steps)", fontsize=9
        )
        ax.legend(fontsize=7)
    ax = axes[2]
    x = np.arange(len(etas))
    for i, name in enumerate(names):
        its = a[f"log10_iters|{name}"]
        ax.errorbar(
            x + 0.1 * (i - 1),
            its.mean(axis=1),
            yerr=its.std(axis=1),
            fmt="o-",
            color=f"C{i}",
            label=f"{name} iterations",
        )
        cst = a[f"log10_cost|{name}"]
        ax.plot(x + 0.1 * (i - 1), cst.mean(axis=1), "s--", color=f"C{i}", mfc="none", label=f"{name} passes")
    ax.set_xticks(x, [f"η = {e:g}" for e in etas])
    ax.set_ylabel("log10 (mean over kinds and seeds)")
    ax.set_title(f"to the tolerance {notes['tol']:g}", fontsize=9)
    ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    return {SLUG: fig}
