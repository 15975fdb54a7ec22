"""The experiment: Gaussian few-shot tasks (`toys.few_shot_gaussian_task`: 5 ways, 1 shot, 75 query points,
dimension 10, class means N(0, 1.2²/2·I), unit noise) whose query class proportions are drawn per task from
Dirichlet(2·1) — the imbalanced "realistic" query the paper's protocol uses, and the condition under which
the class-balance weight matters.

Per seed: 200 validation tasks and 500 test tasks (new draws per seed).  Every method runs L = 10 iterations
where it iterates and is tuned on the validation tasks only, by validation query accuracy:

* **UNEM** — per-layer λ⁽ˡ⁾, T⁽ˡ⁾ learned by full-batch Adam (100 steps from λ = T = 1) through the unrolled
  EM on the validation tasks; the learning rate on a grid of 5;
* **EM (grid)** — the same generalised EM with one (λ, T) for all iterations, grid-searched over 5 × 3 values
  on the same validation tasks (the ablation lacking only the unrolled learning; its grid is larger than
  UNEM's);
* **inductive** — the nearest support mean (no query statistics, nothing to tune);
* **Bayes** — the rule with the true means and the task's true query proportions (a reference, not a
  competitor).

Premises: the queries are imbalanced (mean total-variation distance of the proportions from uniform above
0.1) and the inductive classifier leaves room (at least 5 points below Bayes).  Claims (margins 0, the
paper's direction: the learned hyperparameters beat grid-searched ones, and transduction beats induction):
UNEM's test accuracy exceeds EM (grid)'s and the inductive classifier's.
"""

from __future__ import annotations

import numpy as np

from ....experiments import Claim, Method, Premise, compare, experiment, finish
from ..toys import few_shot_gaussian_task
from . import fit_unem, gem_em, prototype_predict

SLUG = "unem-unrolled-em"
N_WAY, N_SHOT, N_QUERY, DIM, SEPARATION, DIRICHLET = 5, 1, 75, 10, 1.2, 2.0
N_LAYERS, STEPS = 10, 100
N_VAL, N_TEST = 200, 500
LRS = (0.003, 0.01, 0.03, 0.1, 0.3)
LAMS, TS = (0.25, 0.5, 1.0, 2.0, 4.0), (0.5, 1.0, 2.0)
ARMS = ("UNEM", "EM (grid)", "inductive", "Bayes")


def tasks(seed: int, split: str, n: int) -> dict:
    """`n` tasks stacked: z_query (n, 75, d), z_support, y_support, y_query, proportions (n, K), means."""
    tag = {"val": 1, "test": 2}[split]
    rng = np.random.default_rng([seed, tag, 2412])
    ts = []
    for i in range(n):
        p = rng.dirichlet(np.full(N_WAY, DIRICHLET))
        ts.append(
            few_shot_gaussian_task(
                N_WAY, N_SHOT, N_QUERY, DIM, [seed, tag, i], separation=SEPARATION, query_proportions=p
            )
        )
    yq = np.stack([t.y_query for t in ts])
    return {
        "zq": np.stack([t.x_query for t in ts]),
        "zs": np.stack([t.x_support for t in ts]),
        "ys": np.stack([t.y_support for t in ts]),
        "yq": yq,
        "props": np.stack([np.bincount(y, minlength=N_WAY) / N_QUERY for y in yq]),
        "means": np.stack([t.means for t in ts]),
    }


def bayes_predict(d: dict) -> np.ndarray:
    """argmax_k log π_k − ½‖z − μ_k‖² with the true means and the task's true query proportions."""
    d2 = ((d["zq"][:, :, None, :] - d["means"][:, None]) ** 2).sum(-1)
    return np.argmax(np.log(d["props"] + 1e-300)[:, None, :] - 0.5 * d2, -1)


def _acc(pred, d) -> float:
    return float(np.mean(pred == d["yq"]))


def _sizes(quick: bool):
    return (30, 60, 12) if quick else (N_VAL, N_TEST, STEPS)


def _common(d_test: dict, pred_test) -> dict:
    tv = 0.5 * np.abs(d_test["props"] - 1.0 / N_WAY).sum(1).mean()
    gap = _acc(bayes_predict(d_test), d_test) - _acc(pred_test, d_test)
    return {"imbalance_tv": float(tv), "bayes_gap": float(gap)}


def _make(arm: str, quick: bool, keep: dict):
    n_val, n_test, steps = _sizes(quick)

    def run(seed, **hp):
        val, test = tasks(seed, "val", n_val), tasks(seed, "test", n_test)
        args = lambda d: (d["zq"], d["zs"], d["ys"], N_WAY)  # noqa: E731
        extra = {}
        if arm == "UNEM":
            fit = fit_unem(
                val["zq"], val["zs"], val["ys"], val["yq"], N_WAY, n_layers=N_LAYERS, lr=hp["lr"], steps=steps
            )
            pv, pt = fit.predict(*args(val)).argmax(-1), fit.predict(*args(test)).argmax(-1)
            keep[(seed, hp["lr"])] = {"lam": fit.lam, "T": fit.T, "losses": fit.losses}
            extra = {"final_train_loss": float(fit.losses[-1])}
        elif arm == "EM (grid)":
            pv = gem_em(*args(val), hp["lam"], hp["T"], N_LAYERS).argmax(-1)
            pt = gem_em(*args(test), hp["lam"], hp["T"], N_LAYERS).argmax(-1)
        elif arm == "inductive":
            pv, pt = prototype_predict(*args(val)), prototype_predict(*args(test))
        else:
            pv, pt = bayes_predict(val), bayes_predict(test)
        return {"val_accuracy": _acc(pv, val), "test_accuracy": _acc(pt, test), **_common(test, pt), **extra}

    return run


@experiment(SLUG, seeds=(0, 1, 2, 3, 4), quick_seeds=(0, 1))
def run(quick, seeds, progress):
    keep: dict = {}
    methods = [
        Method("UNEM", _make("UNEM", quick, keep), grid={"lr": list(LRS)}, quick_grid={"lr": [0.1]}),
        Method(
            "EM (grid)",
            _make("EM (grid)", quick, keep),
            grid={"lam": list(LAMS), "T": list(TS)},
            quick_grid={"lam": [1.0], "T": [1.0]},
        ),
        Method("inductive", _make("inductive", quick, keep)),
        Method("Bayes", _make("Bayes", quick, keep)),
    ]
    comparison = compare(methods, seeds, select="val_accuracy", quick=quick, progress=progress)
    premises = [
        Premise(
            "the query sets are class-imbalanced: mean total-variation distance from uniform above 0.1",
            "imbalance_tv",
            "UNEM",
            threshold=0.1,
        ),
        Premise(
            "the inductive classifier leaves room: at least 5 points below the Bayes rule",
            "bayes_gap",
            "inductive",
            threshold=0.05,
            strict=True,
        ),
    ]
    claims = [
        Claim(
            "UNEM (hyperparameters learned through the unrolled EM) is more accurate than the same EM with "
            "grid-searched hyperparameters",
            "test_accuracy",
            "UNEM",
            baseline="EM (grid)",
        ),
        Claim(
            "UNEM is more accurate than the inductive prototype classifier",
            "test_accuracy",
            "UNEM",
            baseline="inductive",
        ),
    ]
    s = comparison.seeds
    lr = comparison.selected["UNEM"]["lr"]
    learned = [keep.get((k, lr)) for k in s]
    arrays = {"accuracy": np.array([comparison.values(a, "test_accuracy") for a in ARMS])}
    if all(v is not None for v in learned):
        arrays["lam"] = np.array([v["lam"] for v in learned])
        arrays["T"] = np.array([v["T"] for v in learned])
        arrays["losses"] = np.array([v["losses"] for v in learned])
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
            "n_layers": N_LAYERS,
            "lrs": list(LRS),
            "lams": list(LAMS),
            "Ts": list(TS),
        },
        metrics=["test_accuracy", "val_accuracy", "bayes_gap", "imbalance_tv"],
    )


def plot(result) -> dict:
    from ....plotting import pyplot

    plt = pyplot()
    arms = result.notes["arms"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    acc = result.arrays["accuracy"]
    for i in range(len(arms)):
        axes[0].plot(
            np.full(acc.shape[1], i) + np.linspace(-0.15, 0.15, acc.shape[1]), acc[i], "o", alpha=0.6
        )
        axes[0].plot([i - 0.25, i + 0.25], [acc[i].mean()] * 2, "k-")
    for k in range(acc.shape[1]):
        axes[0].plot(range(len(arms)), acc[:, k], "-", color="grey", lw=0.5, alpha=0.4)
    axes[0].set_xticks(range(len(arms)), arms)
    axes[0].set_ylabel("test query accuracy (per seed)")
    axes[0].set_title("imbalanced Gaussian 5-way 1-shot tasks")
    if "lam" in result.arrays:
        layers = np.arange(1, result.notes["n_layers"] + 1)
        for name, style in (("lam", "-o"), ("T", "-s")):
            v = result.arrays[name]
            axes[1].plot(
                layers, v.mean(0), style, label=("λ" if name == "lam" else "T") + " (mean over seeds)"
            )
        axes[1].axhline(1.0, color="grey", lw=0.8, ls="--")
        axes[1].set_xlabel("layer ℓ (λ⁽¹⁾ has no effect: π⁽⁰⁾ is uniform)")
        axes[1].set_ylabel("learned value")
        axes[1].set_title("UNEM's learned per-layer hyperparameters")
        axes[1].legend(fontsize=8)
    fig.tight_layout()
    return {SLUG: fig}
