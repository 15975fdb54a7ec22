"""The experiment: estimate every constant of the scaling laws from small students, predict the loss curves of
a student eight times wider at every batch size, and compare with what it does.

Setup.  A linear student of width N on a Gaussian teacher with feature variances k^(−A) and loss shares
z_k² k^(−BETA) (a new teacher draw per seed), trained from zero by SGD at the expected-optimal step for
`STEPS` steps at each batch size in `BATCHES`.  Small widths `N_SMALL` are the only data the estimates see;
the held-out width is `N_LARGE`.  The loss is read at log-spaced steps from `BURN` on.
Methods (nothing is tuned; the selection metric is the fit's error on the small widths, the validation):
  * the paper's procedure: B_crit(L) from batch sweeps of the small widths (Eqs. 5.1–5.3), every small run
    converted to S_min (Eq. 5.4), the four constants of L(N, S_min) fitted (Eq. 1.6), and the large width's
    curve predicted from the implicit equation;
  * L(N) only: the size law (Eq. 1.1) fitted to the small widths' best losses, taken as the whole curve;
  * raw steps, pooled: L(N, S) fitted on the same small runs with the raw step count in place of S_min (the
    procedure without its batch-size correction — the ablation that lacks only the paper's idea);
  * raw steps, per batch: L(N, S) fitted separately at each batch size on the small widths run at that batch
    (a naive extrapolation with a full sweep at every batch).
Premise.  The batch size matters (what the S_min correction relies on): at a mid-curve loss the smallest
batch needs more than twice the steps of the largest on the widest small model.
Claims (margins fixed before the first full run).  (0) The OpenAI forms hold: the paper's fitted laws
reproduce the small runs within a mean |log| error of 0.05.  On the held-out width, over every batch and
logged step: (1) the paper's prediction is within a mean |log| error of 0.10; it is better than (2) L(N) only
and (3) raw steps pooled, and (4) not worse than raw steps per batch by more than 0.02.  (5) The critical
batch size predicted from the small widths is within a factor 2 (mean |log| error below log 2) of the one
measured on the large width.  (6) The predicted minimum loss (N_c/N)^α_N is within 15 % (|log| error 0.15)
of the large width's true floor.
"""

from __future__ import annotations

import functools

import numpy as np

from ....experiments import Claim, Method, Premise, compare, experiment, finish
from . import (
    critical_batch,
    fit_critical_batch,
    fit_loss_surface,
    fit_power_law,
    fit_step_tradeoff,
    loss_of_size,
    loss_of_size_and_steps,
    predict_loss_curve,
    steps_min,
    steps_to_reach,
    teacher,
    train_curve,
)

SLUG = "scaling-law-estimation"
A, BETA, D = 1.2, 1.5, 16384
FULL = {
    "n_small": (32, 64, 128, 256),
    "n_large": 2048,
    "batches": (4, 8, 16, 32, 64, 128, 256),
    "steps": 1000,
}
QUICK = {"n_small": (32, 64, 128), "n_large": 1024, "batches": (4, 16, 64, 256), "steps": 300}
BURN, N_EVAL, N_TARGETS = 10, 24, 6
PAPER, LN_ONLY, RAW_POOLED, RAW_PER_B = (
    "L(N, S_min) + B_crit(L) (paper)",
    "L(N) only",
    "L(N, S), raw steps pooled",
    "L(N, S), raw steps per batch",
)
FIT_MARGIN, CURVE_MARGIN, NONINF_MARGIN, BCRIT_MARGIN, FLOOR_MARGIN, BATCH_PREMISE = (
    0.05,
    0.10,
    0.02,
    float(np.log(2.0)),
    0.15,
    2.0,
)


def eval_steps(steps: int) -> np.ndarray:
    return np.unique(np.geomspace(BURN, steps, N_EVAL).round().astype(int))


@functools.lru_cache(maxsize=16)
def simulate(seed: int, quick: bool) -> dict:
    """Every run of one seed: the loss after each step for each (width, batch), and each width's floor."""
    cfg = QUICK if quick else FULL
    lam, w = teacher(D, A, BETA, [seed, 2403])
    curves, floors = {}, {}
    for N in (*cfg["n_small"], cfg["n_large"]):
        floors[N] = float(lam[N:] @ w[N:] ** 2)
        for B in cfg["batches"]:
            curves[N, B] = train_curve(lam[:N], w[:N], floors[N], B, cfg["steps"], [seed, N, B])
    return {"cfg": cfg, "curves": curves, "floors": floors}


def critical_batches(curves: dict, N: int, batches) -> tuple[np.ndarray, np.ndarray]:
    """(target losses, B_crit) of one width: targets log-spaced between the smallest batch's loss at step
    BURN and 1.05 × the highest best loss over batches; each target's steps at every batch fitted to Eq. 5.1."""
    runs = [curves[N, B] for B in batches]
    hi = runs[0][BURN - 1]
    lo = 1.05 * max(r.min() for r in runs)
    Ls, Bc = [], []
    if hi <= lo:
        return np.array(Ls), np.array(Bc)
    for target in np.geomspace(hi, lo, N_TARGETS):
        S = np.array([steps_to_reach(r, target) for r in runs])
        ok = np.isfinite(S)
        if ok.sum() < 3:
            continue
        try:
            Bc.append(fit_step_tradeoff(np.asarray(batches)[ok], S[ok])["B_crit"])
            Ls.append(target)
        except ValueError:
            continue
    return np.array(Ls), np.array(Bc)


@functools.lru_cache(maxsize=16)
def estimate(seed: int, quick: bool) -> dict:
    """All fits and predictions of one seed."""
    sim = simulate(seed, quick)
    cfg, curves, floors = sim["cfg"], sim["curves"], sim["floors"]
    small, big, batches, ts = cfg["n_small"], cfg["n_large"], cfg["batches"], eval_steps(cfg["steps"])

    def obs(N, B):
        return curves[N, B][ts - 1]

    # step 1: critical batch size from the small widths' batch sweeps (Eqs. 5.1–5.3)
    pairs = [critical_batches(curves, N, batches) for N in small]
    L_b = np.concatenate([p[0] for p in pairs])
    B_b = np.concatenate([p[1] for p in pairs])
    cb = fit_critical_batch(L_b, B_b)
    # step 2: every small run converted to S_min (Eq. 5.4), the surface of Eq. 1.6 fitted
    best = np.array([min(curves[N, B].min() for B in batches) for N in small])
    size = fit_power_law(small, best)
    rows = [(N, B) for N in small for B in batches]
    NN = np.concatenate([np.full(ts.size, N, dtype=float) for N, B in rows])
    BB = np.concatenate([np.full(ts.size, B, dtype=float) for N, B in rows])
    SS = np.tile(ts.astype(float), len(rows))
    LL = np.concatenate([obs(N, B) for N, B in rows])
    init = {**size, "S_c": 1.0, "alpha_S": 0.4}
    surf = fit_loss_surface(NN, steps_min(SS, BB, LL, cb["B_star"], cb["alpha_B"]), LL, init=init)
    consts = {**surf, **cb}
    raw = fit_loss_surface(NN, SS, LL, init=init)
    per_b = {B: fit_loss_surface(NN[BB == B], SS[BB == B], LL[BB == B], init=init) for B in batches}

    def err(pred, N_list):
        return float(
            np.mean([np.mean(np.abs(np.log(pred(N, B) / obs(N, B)))) for N in N_list for B in batches])
        )

    preds = {
        PAPER: lambda N, B: predict_loss_curve(N, B, ts, consts),
        LN_ONLY: lambda N, B: np.full(ts.size, loss_of_size(N, size["N_c"], size["alpha_N"])),
        RAW_POOLED: lambda N, B: loss_of_size_and_steps(
            N, ts, raw["N_c"], raw["alpha_N"], raw["S_c"], raw["alpha_S"]
        ),
        RAW_PER_B: lambda N, B: loss_of_size_and_steps(
            N, ts, per_b[B]["N_c"], per_b[B]["alpha_N"], per_b[B]["S_c"], per_b[B]["alpha_S"]
        ),
    }
    # the large width's measured critical batch against Eq. 1.4 with the small widths' constants
    L_big, B_big = critical_batches(curves, big, batches)
    bcrit_err = (
        float(np.mean(np.abs(np.log(critical_batch(L_big, cb["B_star"], cb["alpha_B"]) / B_big))))
        if L_big.size
        else float("nan")
    )
    N_mid = small[-1]
    target = float(
        np.sqrt(curves[N_mid, batches[0]][BURN - 1] * 1.05 * max(curves[N_mid, B].min() for B in batches))
    )
    ratio = steps_to_reach(curves[N_mid, batches[0]], target) / steps_to_reach(
        curves[N_mid, batches[-1]], target
    )
    shared = {
        "batch_step_ratio": float(ratio),
        "floor_log_err": float(
            abs(np.log(loss_of_size(big, consts["N_c"], consts["alpha_N"]) / floors[big]))
        ),
    }
    return {
        "ts": ts,
        "consts": consts,
        "size": size,
        "raw": raw,
        "crit": (L_b, B_b, L_big, B_big),
        "bcrit_err": bcrit_err,
        "shared": shared,
        "metrics": {
            name: {"val_fit_err": err(p, small), "test_curve_err": err(p, [big])} for name, p in preds.items()
        },
        "curves_big": {B: obs(big, B) for B in batches},
        "preds_big": {name: {B: p(big, B) for B in batches} for name, p in preds.items()},
        "floor_big": floors[big],
    }


def _method(name: str, quick: bool):
    def run(seed):
        e = estimate(int(seed), quick)
        out = {**e["metrics"][name], **e["shared"]}
        if name == PAPER:
            out["bcrit_log_err"] = e["bcrit_err"]
        return out

    return run


@experiment(SLUG, seeds=(0, 1, 2, 3, 4), quick_seeds=(0, 1))
def run(quick, seeds, progress):
    cfg = QUICK if quick else FULL
    methods = [Method(name, _method(name, quick)) for name in (PAPER, LN_ONLY, RAW_POOLED, RAW_PER_B)]
    comparison = compare(methods, seeds, select="val_fit_err", maximize=False, quick=quick, progress=progress)
    premises = [
        Premise(
            f"the batch size matters: the smallest batch needs more than {BATCH_PREMISE:g}× the steps of the largest "
            "to reach a mid-curve loss",
            "batch_step_ratio",
            PAPER,
            threshold=BATCH_PREMISE,
        ),
    ]
    claims = [
        Claim(
            f"the OpenAI forms fit the small widths: mean |log| error of the paper's fit below {FIT_MARGIN:g}",
            "val_fit_err",
            PAPER,
            direction="less",
            margin=FIT_MARGIN,
        ),
        Claim(
            f"the predicted loss curves of the held-out width are within a mean |log| error of {CURVE_MARGIN:g}",
            "test_curve_err",
            PAPER,
            direction="less",
            margin=CURVE_MARGIN,
        ),
        Claim(
            "the paper's prediction beats L(N) alone",
            "test_curve_err",
            PAPER,
            LN_ONLY,
            direction="less",
            margin=0.0,
        ),
        Claim(
            "the paper's prediction beats the same fit on raw steps (no critical-batch correction)",
            "test_curve_err",
            PAPER,
            RAW_POOLED,
            direction="less",
            margin=0.0,
        ),
        Claim(
            f"the paper's prediction is not worse than per-batch raw-step fits by more than {NONINF_MARGIN:g}",
            "test_curve_err",
            PAPER,
            RAW_PER_B,
            direction="less",
            margin=NONINF_MARGIN,
        ),
        Claim(
            "B_crit(L) estimated on the small widths is within a factor 2 of the held-out width's",
            "bcrit_log_err",
            PAPER,
            direction="less",
            margin=BCRIT_MARGIN,
        ),
        Claim(
            f"the predicted minimum loss (N_c/N)^α_N is within a |log| error of {FLOOR_MARGIN:g} of the held-out "
            "width's floor",
            "floor_log_err",
            PAPER,
            direction="less",
            margin=FLOOR_MARGIN,
        ),
    ]
    s = comparison.seeds
    e0 = estimate(int(s[0]), quick)
    arrays = {
        "ts": e0["ts"].astype(np.float64),
        "batches": np.asarray(cfg["batches"], dtype=np.float64),
        "observed": np.array([e0["curves_big"][B] for B in cfg["batches"]]),
        **{
            f"pred_{i}": np.array([e0["preds_big"][name][B] for B in cfg["batches"]])
            for i, name in enumerate((PAPER, LN_ONLY, RAW_POOLED, RAW_PER_B))
        },
        "crit_small_L": e0["crit"][0],
        "crit_small_B": e0["crit"][1],
        "crit_big_L": e0["crit"][2],
        "crit_big_B": e0["crit"][3],
    }
    c0 = e0["consts"]
    return finish(
        SLUG,
        comparison,
        premises=premises,
        claims=claims,
        quick=quick,
        smoke=quick,
        arrays=arrays,
        notes={
            "n_small": list(cfg["n_small"]),
            "n_large": cfg["n_large"],
            "steps": cfg["steps"],
            "plotted_seed": int(s[0]),
            "method_names": [PAPER, LN_ONLY, RAW_POOLED, RAW_PER_B],
            "constants_plotted_seed": {k: float(v) for k, v in c0.items()},
        },
    )


def plot(result) -> dict:
    from ....plotting import pyplot

    plt = pyplot()
    a, notes = result.arrays, result.notes
    ts, batches = a["ts"], a["batches"]
    names = notes["method_names"]
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.2))
    ax = axes[0]
    colors = plt.cm.viridis(np.linspace(0, 0.9, len(batches)))
    for j, (B, col) in enumerate(zip(batches, colors)):
        ax.plot(ts, a["observed"][j], "o", ms=3, color=col, label=f"B = {B:g} (simulated)")
        ax.plot(ts, a["pred_0"][j], "-", color=col)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("step S")
    ax.set_ylabel("loss")
    ax.set_title(
        f"held-out width N = {notes['n_large']}: dots simulated, lines the paper's prediction", fontsize=9
    )
    ax.legend(fontsize=6)
    ax = axes[1]
    j = len(batches) // 2
    ax.plot(ts, a["observed"][j], "ko", ms=3, label="simulated")
    for i, (name, ls) in enumerate(zip(names, ("-", ":", "--", "-."))):
        ax.plot(ts, a[f"pred_{i}"][j], ls, label=name)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("step S")
    ax.set_title(f"B = {batches[j]:g}: the paper's prediction and the ablations", fontsize=9)
    ax.legend(fontsize=7)
    ax = axes[2]
    c = notes["constants_plotted_seed"]
    ax.plot(a["crit_small_L"], a["crit_small_B"], "o", label="measured, small widths (fit data)")
    ax.plot(a["crit_big_L"], a["crit_big_B"], "s", label=f"measured, N = {notes['n_large']} (held out)")
    Ls = np.geomspace(
        min(a["crit_small_L"].min(), a["crit_big_L"].min(initial=np.inf)),
        max(a["crit_small_L"].max(), a["crit_big_L"].max(initial=0)),
        50,
    )
    ax.plot(Ls, c["B_star"] / Ls ** (1 / c["alpha_B"]), "k-", label="B*/L^(1/α_B) fitted on the small widths")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("loss L")
    ax.set_ylabel("critical batch size")
    ax.set_title(f"critical batch size (seed {notes['plotted_seed']})", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return {SLUG: fig}
