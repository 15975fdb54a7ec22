"""The experiment: the replica prediction of the test error against exact max-margin simulation, for
random, keep-hard and keep-easy pruning and for an imperfect probe metric, across α_tot; and the
Pareto-chosen pruning fraction against random pruning's power law.

Setup.  Dimension N = 200 (quick: 32); for every seed, `REPS` independent teachers, each with its own
pool of P = α_tot N Gaussian inputs, α_tot ∈ {2, 5, 10, 20, 40}.  From the *same* pool (common random
numbers) four arms keep f = 0.2 of it: random, keep-hard and keep-easy by the teacher margin |T·x|, and
keep-hard by a probe at θ = 10° to the teacher (`probe_direction`); α_prune = 0.2 α_tot ∈ {0.4 … 8}.
The student is the exact max-margin perceptron on the kept set (NNLS, `max_margin_perceptron`); its
test error is arccos(R)/π (exact for Gaussian inputs, no test sample).  A fifth arm ("pareto") keeps
the hardest examples at α_prune ∈ {1, 2, 4} with the f ∈ {1, 1/2, 1/4, 1/8} that the *theory* says is
best (so no test error steers the choice), from a pool α_tot = α_prune / f.  A seed's value is the mean
over its teachers.  There is no hyperparameter to tune: the max-margin student has none, and f is fixed
by the design (or by the theory for the Pareto arm).
Premise.  Random pruning follows a power law: its log-log slope over α_prune ∈ [2, 8] lies between
−1.2 and −0.6 (the theory: → −1 at large α, ε ≈ 0.50/α).
Claims (margins fixed before the first full run).  Keep-hard beats random at equal pruned size when
data are abundant (α_tot = 40); keep-easy beats keep-hard when data are scarce (α_tot = 2) and
keep-hard beats keep-easy when abundant (α_tot = 40) — the crossover; each arm's simulation matches the
replica prediction within 0.02 (mean |ε_sim − ε_theory| over α_tot); with the teacher metric and the
theory's f, the error falls faster than the random power law (log-log slope over α_prune ∈ [1, 4]
steeper by more than 0.5); the perfect metric beats the θ = 10° probe at α_tot = 10.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from ....experiments import Claim, Method, Premise, compare, experiment, finish
from . import (
    generalization_error,
    keep_indices,
    margin_scores,
    max_margin_perceptron,
    probe_direction,
    random_indices,
    replica_prediction,
    teacher_student_data,
)

SLUG = "data-pruning-scaling"
FRACTION = 0.2
THETA_DEG = 10.0
ALPHAS = (2, 5, 10, 20, 40)  # α_tot; α_prune = 0.2 α_tot = 0.4, 1, 2, 4, 8
DIM, QUICK_DIM = 200, 32
REPS, QUICK_REPS = 8, 2  # teachers (each with its own pool) per seed
PARETO_PRUNE = (1, 2, 4)  # α_prune of the Pareto arm
PARETO_FRACTIONS = (1.0, 0.5, 0.25, 0.125)
MATCH_TOL = 0.02  # mean |ε_sim − ε_theory| over the α grid
SLOPE_GAIN = -0.5  # Pareto slope minus random slope over α_prune ∈ [1, 4]
ARMS = {  # name -> (keep rule, metric angle in degrees)
    "random": ("random", 0.0),
    "keep-hard": ("hard", 0.0),
    "keep-easy": ("easy", 0.0),
    f"probe-hard θ={THETA_DEG:g}°": ("hard", THETA_DEG),
}
PROBE = f"probe-hard θ={THETA_DEG:g}°"
PARETO = "pareto keep-hard"


def theory_error(alpha_tot, keep, theta_deg=0.0, fraction=FRACTION) -> float:
    return replica_prediction(alpha_tot, fraction, keep, math.radians(theta_deg))["error"]


@functools.cache
def pareto_fraction(alpha_prune: float) -> float:
    """The f in `PARETO_FRACTIONS` with the lowest predicted keep-hard error at this α_prune (theory only)."""
    errs = [theory_error(alpha_prune / f, "hard" if f < 1 else "random", 0.0, f) for f in PARETO_FRACTIONS]
    return PARETO_FRACTIONS[int(np.argmin(errs))]


def _pool(seed, rep, tag, alpha_tot, dim):
    rng = np.random.default_rng([seed, rep, tag, 2206_14486])
    x, y, teacher = teacher_student_data(int(round(alpha_tot * dim)), dim, rng)
    return x, y, teacher, rng


def _student_error(x, y, teacher, idx) -> float:
    w, _ = max_margin_perceptron(x[idx], y[idx])
    return generalization_error(w, teacher)


@functools.cache
def simulate(seed: int, dim: int, reps: int) -> dict:
    """{arm: array (reps, len(ALPHAS))} of simulated test errors, and {PARETO: (reps, len(PARETO_PRUNE))}.
    The four f = 0.2 arms prune the same pool per (teacher, α_tot)."""
    out = {name: np.zeros((reps, len(ALPHAS))) for name in ARMS}
    out[PARETO] = np.zeros((reps, len(PARETO_PRUNE)))
    for r in range(reps):
        for i, a in enumerate(ALPHAS):
            x, y, teacher, rng = _pool(seed, r, i, a, dim)
            for name, (keep, deg) in ARMS.items():
                if keep == "random":
                    idx = random_indices(len(y), FRACTION, rng)
                else:
                    metric = probe_direction(teacher, math.radians(deg), rng) if deg else teacher
                    idx = keep_indices(margin_scores(x, metric), FRACTION, keep)
                out[name][r, i] = _student_error(x, y, teacher, idx)
        for j, ap in enumerate(PARETO_PRUNE):
            f = pareto_fraction(ap)
            x, y, teacher, _ = _pool(seed, r, 100 + j, ap / f, dim)
            idx = keep_indices(margin_scores(x, teacher), f, "hard")
            out[PARETO][r, j] = _student_error(x, y, teacher, idx)
    return out


def loglog_slope(alpha, err) -> float:
    """Least-squares slope of log ε against log α."""
    return float(np.polyfit(np.log(alpha), np.log(err), 1)[0])


def _arm(name: str, dim: int, reps: int):
    keep, deg = ARMS[name]
    prune = FRACTION * np.array(ALPHAS, dtype=float)

    def run(seed):
        sim = simulate(seed, dim, reps)[name].mean(axis=0)
        theory = np.array([theory_error(a, keep, deg) for a in ALPHAS])
        metrics = {f"test_error_at{a}": float(e) for a, e in zip(ALPHAS, sim)}
        metrics |= {f"theory_error_at{a}": float(e) for a, e in zip(ALPHAS, theory)}
        metrics["mean_abs_dev"] = float(np.mean(np.abs(sim - theory)))
        big = prune >= 2
        metrics["slope_2to8"] = loglog_slope(prune[big], sim[big])
        mid = (prune >= 1) & (prune <= 4)
        metrics["slope_1to4"] = loglog_slope(prune[mid], sim[mid])
        return metrics

    return Method(name, run)


def _pareto_arm(dim: int, reps: int):
    def run(seed):
        sim = simulate(seed, dim, reps)[PARETO].mean(axis=0)
        metrics = {}
        for ap, e in zip(PARETO_PRUNE, sim):
            f = pareto_fraction(ap)
            metrics[f"test_error_prune{ap}"] = float(e)
            metrics[f"theory_error_prune{ap}"] = theory_error(ap / f, "hard" if f < 1 else "random", 0.0, f)
            metrics[f"fraction_prune{ap}"] = f
        theory = np.array([metrics[f"theory_error_prune{ap}"] for ap in PARETO_PRUNE])
        metrics["mean_abs_dev"] = float(np.mean(np.abs(sim - theory)))
        metrics["slope_1to4"] = loglog_slope(np.array(PARETO_PRUNE, dtype=float), sim)
        return metrics

    return Method(PARETO, run)


@experiment(SLUG, seeds=(0, 1, 2, 3, 4), quick_seeds=(0, 1))
def run(quick, seeds, progress):
    dim, reps = (QUICK_DIM, QUICK_REPS) if quick else (DIM, REPS)
    methods = [_arm(name, dim, reps) for name in ARMS] + [_pareto_arm(dim, reps)]
    comparison = compare(methods, seeds, quick=quick, progress=progress)
    lo, hi = min(ALPHAS), max(ALPHAS)
    steep = "random pruning follows a power law: log-log slope over α_prune ∈ [2, 8] below −0.6"
    shallow = "random pruning follows a power law: log-log slope over α_prune ∈ [2, 8] above −1.2"
    premises = [
        Premise(steep, "slope_2to8", "random", threshold=-0.6, direction="less"),
        Premise(shallow, "slope_2to8", "random", threshold=-1.2, direction="greater"),
    ]
    err = "test_error_at{}".format
    claims = [
        Claim(
            f"keep-hard beats random pruning at equal pruned size when data are abundant (α_tot = {hi})",
            err(hi),
            "keep-hard",
            "random",
            direction="less",
        ),
        Claim(
            f"keep-easy beats keep-hard when data are scarce (α_tot = {lo})",
            err(lo),
            "keep-easy",
            "keep-hard",
            direction="less",
            premises=(),
        ),
        Claim(
            f"keep-hard beats keep-easy when data are abundant (α_tot = {hi})",
            err(hi),
            "keep-hard",
            "keep-easy",
            direction="less",
            premises=(),
        ),
    ]
    claims += [
        Claim(
            f"the simulation matches the replica prediction within {MATCH_TOL} "
            f"(mean |ε_sim − ε_theory| over the grid) for {name}",
            "mean_abs_dev",
            name,
            direction="less",
            margin=MATCH_TOL,
            premises=(),
        )
        for name in [*ARMS, PARETO]
    ]
    claims += [
        Claim(
            "with the teacher metric and the theory's f, the error falls faster than random pruning's "
            f"power law: log-log slope over α_prune ∈ [1, 4] steeper by more than {-SLOPE_GAIN}",
            "slope_1to4",
            PARETO,
            "random",
            direction="less",
            margin=SLOPE_GAIN,
        ),
        Claim(
            f"the perfect (teacher) metric beats a probe at θ = {THETA_DEG:g}° when keeping hard examples "
            "(α_tot = 10)",
            err(10),
            "keep-hard",
            PROBE,
            direction="less",
            premises=(),
        ),
    ]

    def grid(name, keys):
        return np.array([comparison.values(name, k) for k in keys])

    fine = np.geomspace(1.0, 60.0, 12 if quick else 28)
    fine_prune = np.geomspace(0.4, 8.0, 12 if quick else 28)
    arrays = {
        "alphas": np.array(ALPHAS, dtype=float),
        "fine_alpha_tot": fine,
        "pareto_prune": np.array(PARETO_PRUNE, dtype=float),
        "pareto_fractions": np.array(PARETO_FRACTIONS),
        "fine_prune": fine_prune,
        "pareto_sim": grid(PARETO, [f"test_error_prune{a}" for a in PARETO_PRUNE]),
        "pareto_chosen_f": np.array([pareto_fraction(a) for a in PARETO_PRUNE]),
        "theory_hard_by_f": np.array(
            [
                [theory_error(ap / f, "hard" if f < 1 else "random", 0.0, f) for ap in fine_prune]
                for f in PARETO_FRACTIONS
            ]
        ),
    }
    for i, name in enumerate(ARMS):
        keep, deg = ARMS[name]
        arrays[f"sim_{i}"] = grid(name, [err(a) for a in ALPHAS])  # (alphas, seeds)
        arrays[f"theory_{i}"] = np.array([theory_error(a, keep, deg) for a in fine])
    return finish(
        SLUG,
        comparison,
        premises=premises,
        claims=claims,
        quick=quick,
        smoke=quick,
        arrays=arrays,
        notes={
            "arms": list(ARMS),
            "fraction": FRACTION,
            "theta_deg": THETA_DEG,
            "dim": dim,
            "teachers_per_seed": reps,
        },
    )


def plot(result) -> dict:
    from ....plotting import pyplot

    plt = pyplot()
    arms, f = result.notes["arms"], result.notes["fraction"]
    prune = f * np.asarray(result.arrays["alphas"])
    fine = f * np.asarray(result.arrays["fine_alpha_tot"])
    colors = ("0.3", "C3", "C0", "C1")
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(12, 4.2))
    for i, (name, color) in enumerate(zip(arms, colors)):
        sim = np.asarray(result.arrays[f"sim_{i}"])
        n = sim.shape[1]
        half = 1.96 * sim.std(1, ddof=1) / np.sqrt(n) if n > 1 else 0 * sim.mean(1)
        ax0.plot(fine, result.arrays[f"theory_{i}"], "-", color=color, lw=1.2, label=f"{name}: theory")
        ax0.errorbar(prune, sim.mean(1), yerr=half, fmt="o", color=color, capsize=3, ms=4)
    ax0.set_title(f"f = {f:g} of a pool α_tot = P/N: theory (lines), simulation (dots, 95 % CI)", fontsize=9)
    ax0.set_xlabel("α_prune = f·α_tot (kept examples per dimension)")
    fp = np.asarray(result.arrays["fine_prune"])
    by_f = np.asarray(result.arrays["theory_hard_by_f"])
    for fr, row in zip(result.arrays["pareto_fractions"], by_f):
        label = "f = 1 (no pruning = random)" if fr == 1 else f"keep-hard f = {fr:g}"
        ax1.plot(fp, row, "-" if fr == 1 else "--", lw=1.0 if fr < 1 else 1.6, label=label)
    ax1.plot(fp, by_f.min(0), "k-", lw=2.2, alpha=0.35, label="Pareto envelope (theory)")
    ps = np.asarray(result.arrays["pareto_sim"])
    half = 1.96 * ps.std(1, ddof=1) / np.sqrt(ps.shape[1]) if ps.shape[1] > 1 else 0 * ps.mean(1)
    ax1.errorbar(
        result.arrays["pareto_prune"],
        ps.mean(1),
        yerr=half,
        fmt="ks",
        capsize=3,
        ms=5,
        label="simulation at the theory's f",
    )
    ax1.set_title("keep-hard with the teacher metric: curves per f and their envelope", fontsize=9)
    ax1.set_xlabel("α_prune")
    for ax in (ax0, ax1):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_ylabel("test error ε = arccos(R)/π")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return {SLUG: fig}
