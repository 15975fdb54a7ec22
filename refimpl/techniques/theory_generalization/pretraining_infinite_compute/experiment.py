"""The experiment: a width sweep of a next-character MLP on a fixed 2000-window corpus, with weight decay tuned
per width on the validation split against the default weight decay, a fit of L(N) = A/N^α + E to each, and a
K = 3 ensemble at the tuned weight decay.

Setup.  `char_lm` windows (context 3), 2000 train / 2000 validation / 2000 test; widths `WIDTHS` (quick:
`QUICK_WIDTHS`); full-batch AdamW, `STEPS` steps at lr `LR` (fixed for every arm; not tuned, a deviation).
Tuned arm: per width, λ from `WD_GRID` with the lowest validation loss (on the seed's own run).  Ablation:
λ = `WD_DEFAULT` (the paper's "standard" 0.1).  Ensemble: K = `K` members at each width's tuned λ, seeds
(seed, 0..K−1), member 0 is the single tuned model.  Power laws are fitted to the test losses over widths.
Premise.  The data are constrained: with the default λ the loss at the largest width is above its minimum over
widths (overfitting) by more than `PREMISE_GAP` nats.
Claims (margins fixed before the first full run).  (1) Tuned λ lowers the test loss at the largest width
versus the default.  (2) The ensemble's fitted asymptote E is below the single tuned model's.  (3) The
ensemble's loss at the largest width is below the single tuned model's.
The floors' uncertainty: the seeds' curves are resampled (`BOOT` times), averaged and refitted (the family's
`bootstrap_fit`); the percentile intervals of E for both arms go to the notes.
"""

from __future__ import annotations

import numpy as np

from ....experiments import Claim, Method, Premise, compare, experiment, finish
from ..fitting import bootstrap_fit
from ..pools import char_lm_onehot
from . import ensemble_log_loss, fit_power_law, init_mlp, mlp_probs, n_params, train_mlp

SLUG = "pretraining-infinite-compute"
CONTEXT, N_TRAIN = 3, 2000
WIDTHS, QUICK_WIDTHS = (4, 8, 16, 32, 64), (4, 16, 64)
WD_GRID, QUICK_WD_GRID = (0.1, 1.0, 3.0, 10.0), (0.1, 3.0)
WD_DEFAULT, LR, STEPS, QUICK_STEPS, K = 0.1, 1e-2, 100, 40, 3
PREMISE_GAP = 0.05
BOOT, BOOT_LEVEL = 200, 0.9  # bootstrap resamples of the seeds and the interval's level


def _data():
    return char_lm_onehot(CONTEXT, N_TRAIN, 2000, 2000)


def _sweep(quick: bool, keep: dict):
    v, xtr, ytr, xva, yva, xte, yte = _data()
    widths = QUICK_WIDTHS if quick else WIDTHS
    grid, steps = (QUICK_WD_GRID, QUICK_STEPS) if quick else (WD_GRID, STEPS)
    ns = np.array([n_params(v, CONTEXT, w) for w in widths], dtype=np.float64)

    def train(w, wd, seed):
        p = init_mlp(xtr.shape[1], w, v, [seed, w])
        return train_mlp(p, xtr, ytr, steps=steps, lr=LR, weight_decay=wd)

    def run(seed):
        default, tuned, ens, lam = [], [], [], []
        for w in widths:
            models = {wd: train(w, wd, seed) for wd in sorted(set(grid) | {WD_DEFAULT})}
            val = {wd: ensemble_log_loss(mlp_probs(models[wd], xva), yva) for wd in grid}
            best = min(val, key=val.get)
            lam.append(best)
            default.append(ensemble_log_loss(mlp_probs(models[WD_DEFAULT], xte), yte))
            probs = [mlp_probs(models[best], xte)]
            tuned.append(ensemble_log_loss(probs[0], yte))
            probs += [mlp_probs(train(w, best, seed * 1000 + j), xte) for j in range(1, K)]
            ens.append(ensemble_log_loss(np.stack(probs), yte))
        default, tuned, ens = map(np.array, (default, tuned, ens))
        fit_t, fit_e = fit_power_law(ns, tuned), fit_power_law(ns, ens)
        keep[seed] = {"default": default, "tuned": tuned, "ensemble": ens, "lambda": np.array(lam)}
        keep[seed]["fit_tuned"] = fit_t["predict"](ns)
        keep[seed]["fit_ensemble"] = fit_e["predict"](ns)
        return {
            "val_loss_tuned_largest": float(min(val.values())),
            "overfit_gap_default": float(default[-1] - default.min()),
            "largest_tuned_minus_default": float(tuned[-1] - default[-1]),
            "asymptote_tuned": fit_t["e"],
            "asymptote_ensemble": fit_e["e"],
            "asymptote_ensemble_minus_tuned": fit_e["e"] - fit_t["e"],
            "largest_ensemble_minus_tuned": float(ens[-1] - tuned[-1]),
            "lambda_largest": float(lam[-1]),
        }

    return run, ns


@experiment(SLUG, seeds=(0, 1, 2), quick_seeds=(0, 1))
def run(quick, seeds, progress):
    keep: dict = {}
    sweep, ns = _sweep(quick, keep)
    name = "char MLP width sweep"
    comparison = compare(
        [Method(name, sweep)], seeds, select="val_loss_tuned_largest", quick=quick, progress=progress
    )
    premise = Premise(
        f"data-constrained: with the default λ = {WD_DEFAULT} the largest width's loss is more than "
        f"{PREMISE_GAP} nats above the best width's",
        "overfit_gap_default",
        name,
        threshold=PREMISE_GAP,
    )
    claims = [
        Claim(
            "tuned weight decay lowers the largest width's test loss versus the default",
            "largest_tuned_minus_default",
            name,
            direction="less",
            margin=0.0,
        ),
        Claim(
            "the K-ensemble's fitted asymptote E is below the single tuned model's",
            "asymptote_ensemble_minus_tuned",
            name,
            direction="less",
            margin=0.0,
        ),
        Claim(
            "the K-ensemble's test loss at the largest width is below the single tuned model's",
            "largest_ensemble_minus_tuned",
            name,
            direction="less",
            margin=0.0,
        ),
    ]
    s = comparison.seeds
    arrays = {"n_params": ns}
    for key in ("default", "tuned", "ensemble", "lambda", "fit_tuned", "fit_ensemble"):
        arrays[key] = np.array([keep[k][key] for k in s])
    asymptotes = {  # seeds resampled: how well the mean curves pin down each fitted floor E
        arm: list(bootstrap_fit(fit_power_law, ns, arrays[arm], n_boot=BOOT, level=BOOT_LEVEL)["e"])
        for arm in ("tuned", "ensemble")
    }
    return finish(
        SLUG,
        comparison,
        premises=[premise],
        claims=claims,
        quick=quick,
        smoke=quick,
        arrays=arrays,
        notes={
            "k": K,
            "wd_default": WD_DEFAULT,
            "lr": LR,
            "asymptote_bootstrap": asymptotes,
            "level": BOOT_LEVEL,
        },
    )


def plot(result) -> dict:
    from ....plotting import pyplot

    plt = pyplot()
    a = result.arrays
    ns = a["n_params"]
    fig, ax = plt.subplots(1, 1, figsize=(7, 4))
    for key, style in (("default", "x-"), ("tuned", "o-"), ("ensemble", "s-")):
        ax.plot(ns, a[key].mean(0), style, label=f"{key} (test, mean over seeds)")
    ax.plot(ns, a["fit_tuned"].mean(0), ":", color="C1", label="power-law fit, tuned")
    ax.plot(ns, a["fit_ensemble"].mean(0), ":", color="C2", label="power-law fit, ensemble")
    ax.set_xscale("log")
    ax.set_xlabel("parameters N")
    ax.set_ylabel("test cross-entropy (nats)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return {SLUG: fig}
