"""The experiment: a learned FC head against fixed class-vector heads, in three settings.

Settings (each an MLP embedding 64 → 64 → d, or 32 → 64 → d on the Gaussian task):

* **digits, d = 32** — the 8×8 digits, k = 10 ≤ d: the EBVs can be orthonormal (α = 0.005);
* **digits, d = 4** — the same with k = 10 > d = 4;
* **gauss-100, d = 16** — a synthetic 100-class task (class means drawn once, N(0, σ²I) in ℝ³², unit
  Gaussian noise, 20 / 10 / 10 points per class for train / validation / test), k = 100 > d = 16.

Heads: **FC** (a learned linear k-way layer, the usual classifier); **EBV** (generated once per setting by
`generate_ebv`; α is the smallest value of a fixed ladder that the generator reaches — a property of the
vectors, chosen before any training); **random** (fixed Gaussian unit vectors, the same head without the
equiangular optimisation, drawn per seed); **simplex ETF** (only where k ≤ d + 1).  Fixed heads use the EBV
loss (cosine/τ softmax cross-entropy, `FixedHeadClassifier`).  Each head is tuned on validation accuracy on
its own grid of the same size: learning rate × τ for the fixed heads, learning rate × weight decay for FC.
Premise (k > d only): random unit vectors collide — the random head's max|cos| exceeds 0.6.  Claims, margins
fixed from the paper's claim before running: EBV's test accuracy is within 2 points of FC's (EBV − FC > −0.02)
in every setting; EBV beats random fixed vectors (margin 0) where k > d.
"""

from __future__ import annotations

import functools

import numpy as np

from .... import nn
from ....experiments import Claim, Method, Premise, compare, experiment, finish, split_metrics, tasks, train
from . import FixedHeadClassifier, generate_ebv, max_abs_cos, random_unit_vectors, simplex_etf

SLUG = "equiangular-basis-vectors"
SETTINGS = {"digits-d32": ("digits", 32), "digits-d4": ("digits", 4), "gauss100-d16": ("gauss", 16)}
ALPHA_LADDER = (0.005, 0.02, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.32, 0.35, 0.4, 0.42, 0.45, 0.5, 0.55, 0.6)
LRS = (1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1.0)
TAUS = (0.03, 0.07, 0.2, 0.5, 1.0, 2.0, 5.0)
WDS = (0.0, 1e-5, 1e-4, 1e-3, 1e-2, 3e-2, 1e-1)
HIDDEN = 64
GAUSS = {"k": 100, "dim": 32, "scale": 0.55, "n": (20, 10, 10)}


@functools.cache
def gaussian_task():
    """The synthetic 100-class task (fixed: means and samples from seed 1234)."""
    rng = np.random.default_rng(1234)
    k, D, s = GAUSS["k"], GAUSS["dim"], GAUSS["scale"]
    mu = s * rng.standard_normal((k, D))
    splits = []
    for n in GAUSS["n"]:
        y = np.repeat(np.arange(k), n)
        x = (mu[y] + rng.standard_normal((len(y), D))).astype(np.float32)
        splits.append((x, y))
    (xt, yt), (xv, yv), (xs, ys) = splits
    return tasks.Task("gauss100", xt, yt, xv, yv, xs, ys, num_classes=k, meta={"means": mu})


def _task(kind):
    return tasks.digits() if kind == "digits" else gaussian_task()


@functools.cache
def ebv_head(k: int, d: int) -> tuple:
    """EBVs at the smallest α of the ladder the generator reaches: (W, α, max|cos|)."""
    for alpha in ALPHA_LADDER:
        W, info = generate_ebv(k, d, alpha, seed=0)
        if info["reached"]:
            return W, alpha, info["max_abs_cos"]
    raise RuntimeError(f"no α of the ladder is reachable for k={k}, d={d}")


def alpha_sweep(k: int, d: int, alphas) -> np.ndarray:
    """(len(alphas), 2): the target α and the max|cos| the generator ends at (seed 0)."""
    return np.array([[a, generate_ebv(k, d, a, seed=0)[1]["max_abs_cos"]] for a in alphas])


def _embed(d_in, d, seed):
    return nn.Sequential(
        nn.Linear(d_in, HIDDEN, rng=[seed, 1]), nn.ReLU(), nn.Linear(HIDDEN, d, rng=[seed, 2])
    )


def _head(kind: str, k: int, d: int, seed: int):
    if kind == "EBV":
        return ebv_head(k, d)[0]
    if kind == "random":
        return random_unit_vectors(k, d, [seed, 99])
    return simplex_etf(k, d)


def _arm(setting: str, head: str, quick: bool):
    kind, d = SETTINGS[setting]
    epochs = (8 if quick else 40) if kind == "digits" else (6 if quick else 30)

    def run(seed, lr, tau=None, weight_decay=0.0):
        task = _task(kind)
        k, d_in = task.num_classes, task.in_features
        emb = _embed(d_in, d, seed)
        if head == "FC":
            model = nn.Sequential(emb, nn.Linear(d, k, rng=[seed, 3]))
            W = model[1].weight.data
        else:
            W = _head(head, k, d, seed)
            model = FixedHeadClassifier(emb, W, tau)
        train(model, task, lr=lr, epochs=epochs, seed=seed, weight_decay=weight_decay)
        return {**split_metrics(model, task), "head_max_cos": max_abs_cos(W)}

    return run


def _methods(quick):
    out = []
    for setting, (_, d) in SETTINGS.items():
        k = 10 if setting.startswith("digits") else GAUSS["k"]
        heads = ["FC", "EBV", "random"] + (["ETF"] if k <= d + 1 else [])
        for h in heads:
            if h == "FC":
                grid, qg = {"lr": list(LRS), "weight_decay": list(WDS)}, {"lr": [1e-2], "weight_decay": [0.0]}
                limits = {"weight_decay": ("lower", "0 is no penalty")}
            else:
                grid, qg, limits = {"lr": list(LRS), "tau": list(TAUS)}, {"lr": [1e-2], "tau": [0.07]}, {}
            out.append(
                Method(f"{setting}/{h}", _arm(setting, h, quick), grid=grid, quick_grid=qg, limits=limits)
            )
    return out


@experiment(SLUG, seeds=(0, 1, 2, 3, 4), quick_seeds=(0, 1))
def run(quick, seeds, progress):
    methods = _methods(quick)
    comparison = compare(methods, seeds, select="val_accuracy", maximize=True, quick=quick, progress=progress)
    premises, claims = [], []
    for setting in SETTINGS:
        claims.append(
            Claim(
                f"{setting}: the fixed EBV head's test accuracy is within 2 points of the learned FC head's",
                "test_accuracy",
                f"{setting}/EBV",
                baseline=f"{setting}/FC",
                margin=-0.02,
                premises=(),
            )
        )
    for setting in ("digits-d4", "gauss100-d16"):
        p = Premise(
            f"{setting} (k > d): fixed random unit vectors collide — their max |cos| exceeds 0.6",
            "head_max_cos",
            f"{setting}/random",
            threshold=0.6,
        )
        premises.append(p)
        claims.append(
            Claim(
                f"{setting} (k > d): the EBV head's test accuracy is higher than fixed random unit vectors'",
                "test_accuracy",
                f"{setting}/EBV",
                baseline=f"{setting}/random",
                premises=(p.statement,),
            )
        )
    names = [m.name for m in methods]
    heads = {s: ebv_head(10 if s.startswith("digits") else GAUSS["k"], d) for s, (_, d) in SETTINGS.items()}
    sweep_alphas = (0.2, 0.25, 0.3, 0.32, 0.35, 0.4, 0.5) if not quick else (0.32, 0.4)
    arrays = {
        "test_accuracy": np.array([comparison.values(n, "test_accuracy") for n in names]),
        "head_max_cos": np.array([comparison.values(n, "head_max_cos") for n in names]),
        "alpha_sweep_gauss": alpha_sweep(GAUSS["k"], 16, sweep_alphas),
        "ebv_alpha": np.array([heads[s][1] for s in SETTINGS]),
        "ebv_max_cos": np.array([heads[s][2] for s in SETTINGS]),
    }
    return finish(
        SLUG,
        comparison,
        premises=premises,
        claims=claims,
        quick=quick,
        smoke=quick,
        arrays=arrays,
        notes={"methods": names, "settings": list(SETTINGS), "gauss": {**GAUSS, "n": list(GAUSS["n"])}},
        metrics=["test_accuracy", "val_accuracy", "head_max_cos"],
    )


def plot(result) -> dict:
    import matplotlib.pyplot as plt

    names = result.notes["methods"]
    acc = np.asarray(result.arrays["test_accuracy"])
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    pos = np.arange(len(names))
    axes[0].bar(pos, acc.mean(1), yerr=acc.std(1), color=["C0" if n.endswith("FC") else "C1" for n in names])
    axes[0].set_xticks(pos, names, rotation=60, ha="right", fontsize=7)
    axes[0].set_ylabel("test accuracy (mean ± sd over seeds)")
    axes[0].set_ylim(max(0.0, acc.min() - 0.1), 1.0)
    sw = np.asarray(result.arrays["alpha_sweep_gauss"])
    axes[1].plot(sw[:, 0], sw[:, 1], "o-", label="generator's max|cos| (k=100, d=16)")
    axes[1].plot(sw[:, 0], sw[:, 0], "k:", label="target α")
    axes[1].axhline(np.sqrt(84 / (16 * 99)), color="grey", ls="--", label="Welch bound")
    axes[1].set_xlabel("threshold α")
    axes[1].set_ylabel("max |cos| reached")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    return {SLUG: fig}
