"""The experiment: a linear probe on the concatenated representations of four seeds vs one network, vs one
network four times as wide, and vs the four-tower architecture trained in a single episode.

Setup.  Source task: digits 0–4 (`tasks.digits_pretrain_finetune`, its training split).  Every network
is a ReLU MLP trained on the source task with Adam (30 epochs, batches of 64, the learning rate tuned;
lr = 0, the untrained network's random features, is the grid's lower end),
and its penultimate layer is the representation.  The shifted task: digits 5–9 (new classes, labels
0–4), solved by a linear probe (`fit_linear_probe`: standardized features, multinomial logistic
regression with an L2 penalty λ) on its training split, λ tuned on its validation split (the mean over
the first three seeds: 179 validation digits make one seed's choice noisy); test accuracy on its test
split.  Arms (each tunes the source learning rate and the probe's λ on the validation split of
digits 5–9, on the same grid):

* ``single``: one MLP 64-16-16-5; probe on its 16 features.
* ``cat`` (the paper): four MLPs 64-16-16-5 that differ only by their seed (initialisation and batch
  order); probe on the 64 concatenated features.  Its first member is the ``single`` network of the seed.
* ``wide`` (the ablation the catalogue names: one episode, equal representation size): one MLP
  64-64-64-5 trained the same way; probe on its 64 features.
* ``joint`` (the ablation that lacks only the separate episodes): the exact ``cat`` architecture — four
  towers 64-16-16 whose features are concatenated and read by one head (the official code's `Kmodel`
  with a classifier; logits = the sum of the towers' logits) — trained as one network in one episode;
  probe on its 64 concatenated features.
* ``pixels`` (a reference, not a competitor): the probe on the 64 raw pixels, λ tuned the same way.

Premise.  The new task is not solved by one network's features: the single network's probe on digits
5–9 is at least 3 points below that network's own accuracy on the test split of digits 0–4.
Claims.  On the test split of digits 5–9 the ``cat`` probe is more accurate than (1) the ``single``
probe, (2) the ``wide`` probe and (3) the ``joint`` probe.  (2) and (3) are the paper's distinguishing
claim: the gain is not size but separate training episodes.  The in-distribution side of the paper's
story (the concatenation adds little on the training task) is reported as ``source_probe_accuracy``:
the same probe, fit on digits 0–4 with the selected λ and scored on their test split.
"""

from __future__ import annotations

import functools
from collections import OrderedDict

import numpy as np

from ....experiments import Claim, Method, Premise, compare, experiment, finish, tasks, train
from ....nn import MLP, Module
from ..state import evaluate_state
from . import concat_representations, fit_linear_probe

SLUG = "concat-seed-representations"
H, N_NETS, EPOCHS = 16, 4, 30
LRS, QUICK_LRS = [0.0, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2], [3e-3]
LAMS, QUICK_LAMS = [0.0, 1e-4, 1e-3, 1e-2, 1e-1], [1e-3]
ITERS, QUICK_ITERS = 800, 200  # probe solver steps
ID_GAP = 0.03  # premise: the single network's probe is ≥ 3 points below its in-distribution accuracy
LIMITS = {
    "lam": ("lower", "λ = 0 is no penalty (the probe is then regularised only by its finite solver)"),
    "lr": ("lower", "lr = 0 is the untrained network: its random features"),
}
SELECTION_SEEDS = 3  # λ and lr chosen on the mean validation accuracy of the first 3 seeds (every arm)


def _member_seed(seed: int, j: int) -> int:
    return 100 * int(seed) + j  # member j of the seed's ensemble; j = 0 is also `single`, `wide`, `joint`


class Towers(Module):
    """n MLPs 64-h-h-5 side by side, their logits summed: one head reading the concatenated features
    (the CAT_n architecture with a classifier, trained as one network)."""

    def __init__(self, n: int, h: int, rng):
        super().__init__()
        self.n = int(n)
        for i in range(self.n):
            setattr(self, f"tower{i}", MLP([64, h, h, 5], rng=rng))

    def forward(self, x):
        out = self.tower0(x)
        for i in range(1, self.n):
            out = out + getattr(self, f"tower{i}")(x)
        return out


@functools.cache
def _trained(kind: str, seed: int, lr: float, epochs: int) -> tuple:
    """The state dicts of the networks of one arm (cached): "member<j>" is member j of `cat`, "wide" the
    4×-wide MLP, "joint" the jointly trained towers (split into one state dict per tower)."""
    source, _ = tasks.digits_pretrain_finetune()
    if kind.startswith("member"):
        s = _member_seed(seed, int(kind[len("member") :]))
        model = MLP([64, H, H, 5], rng=np.random.default_rng(s))
    elif kind == "wide":
        s = _member_seed(seed, 0)
        model = MLP([64, N_NETS * H, N_NETS * H, 5], rng=np.random.default_rng(s))
    elif kind == "joint":
        s = _member_seed(seed, 0)
        model = Towers(N_NETS, H, np.random.default_rng(s))
    else:
        raise ValueError(f"unknown network kind {kind!r}")
    if lr > 0:  # lr = 0: the untrained network (random features), the grid's natural lower end
        train(model, source, lr=lr, epochs=epochs, seed=s)
    sd = model.state_dict()
    if kind != "joint":
        return (sd,)
    return tuple(
        OrderedDict((k.split(".", 1)[1], v) for k, v in sd.items() if k.startswith(f"tower{i}."))
        for i in range(N_NETS)
    )


def networks(arm: str, seed: int, lr: float, epochs: int = EPOCHS) -> list:
    """The state dicts whose (concatenated) penultimate features an arm probes."""
    if arm == "single":
        return list(_trained("member0", seed, lr, epochs))
    if arm == "cat":
        return [_trained(f"member{j}", seed, lr, epochs)[0] for j in range(N_NETS)]
    return list(_trained(arm, seed, lr, epochs))


def _probe_metrics(feature_fn, lam: float, iters: int) -> dict:
    """Probe on digits 5–9 (train) → val / test accuracy; the same probe fit on digits 0–4 → its test."""
    source, target = tasks.digits_pretrain_finetune()
    probe = fit_linear_probe(feature_fn(target.x_train), target.y_train, lam, num_classes=5, iters=iters)
    src_probe = fit_linear_probe(feature_fn(source.x_train), source.y_train, lam, num_classes=5, iters=iters)
    return {
        "val_accuracy": probe.accuracy(feature_fn(target.x_val), target.y_val),
        "test_accuracy": probe.accuracy(feature_fn(target.x_test), target.y_test),
        "source_probe_accuracy": src_probe.accuracy(feature_fn(source.x_test), source.y_test),
    }


def _arm(name: str, epochs: int, iters: int):
    def run(seed, lr, lam):
        sds = networks(name, seed, lr, epochs)
        out = _probe_metrics(lambda x: concat_representations(sds, x), lam, iters)
        if name == "single":
            source, _ = tasks.digits_pretrain_finetune()
            own = evaluate_state(sds[0], source.x_test, source.y_test)["accuracy"]  # its own head, 0–4
            out["source_accuracy"] = own
            out["id_gap"] = own - out["test_accuracy"]
        out["feature_dim"] = float(sum(sd[_penultimate_key(sd)].shape[0] for sd in sds))
        return out

    return run


def _penultimate_key(sd) -> str:
    return [k for k, v in sd.items() if np.ndim(v) == 2][-2]  # the last hidden layer's weight (h, ·)


def _pixels(iters: int):
    def run(seed, lam):
        return _probe_metrics(lambda x: np.asarray(x, dtype=np.float64), lam, iters)

    return run


def _methods(epochs: int, iters: int) -> list:
    grid, quick = {"lr": LRS, "lam": LAMS}, {"lr": QUICK_LRS, "lam": QUICK_LAMS}
    arms = [
        Method(name, _arm(name, epochs, iters), grid=grid, quick_grid=quick, limits=LIMITS)
        for name in ("cat", "single", "wide", "joint")
    ]
    arms.append(
        Method(
            "pixels",
            _pixels(iters),
            grid={"lam": LAMS},
            quick_grid={"lam": QUICK_LAMS},
            limits={"lam": LIMITS["lam"]},
        )
    )
    return arms


@experiment(SLUG, seeds=range(8), quick_seeds=(0, 1))
def run(quick, seeds, progress):
    epochs, iters = (10, QUICK_ITERS) if quick else (EPOCHS, ITERS)
    comparison = compare(
        _methods(epochs, iters),
        seeds,
        select="val_accuracy",
        selection_seeds=list(seeds)[: 1 if quick else SELECTION_SEEDS],
        quick=quick,
        progress=progress,
    )
    premises = [
        Premise(
            f"one network's features do not solve the new task: its probe on digits 5–9 is ≥ {ID_GAP:.0%} "
            "below its own accuracy on digits 0–4",
            metric="id_gap",
            method="single",
            threshold=ID_GAP,
        )
    ]
    claims = [
        Claim(
            "the probe on the concatenated features of four seeds is more accurate on the new task than "
            "the probe on one network",
            metric="test_accuracy",
            method="cat",
            baseline="single",
        ),
        Claim(
            "the concatenation of four seeds transfers better than one network with 4× the penultimate "
            "width trained once",
            metric="test_accuracy",
            method="cat",
            baseline="wide",
        ),
        Claim(
            "the concatenation of four separately trained seeds transfers better than the same four-tower "
            "architecture trained in one episode",
            metric="test_accuracy",
            method="cat",
            baseline="joint",
        ),
    ]
    # accuracy against the number of concatenated seeds, at the hyperparameters `cat` selected
    hp = comparison.selected["cat"]
    _, target = tasks.digits_pretrain_finetune()
    curve = np.zeros((N_NETS, len(seeds)))
    for i, seed in enumerate(seeds):
        sds = networks("cat", seed, hp["lr"], epochs)
        for k in range(1, N_NETS + 1):
            feats = concat_representations(sds[:k], target.x_train)
            probe = fit_linear_probe(feats, target.y_train, hp["lam"], num_classes=5, iters=iters)
            curve[k - 1, i] = probe.accuracy(concat_representations(sds[:k], target.x_test), target.y_test)
    return finish(
        SLUG,
        comparison,
        premises=premises,
        claims=claims,
        quick=quick,
        smoke=quick,
        arrays={"cat_k_test_accuracy": curve},  # (k = 1..n, seed)
        notes={"hidden": H, "n_nets": N_NETS, "epochs": epochs, "probe_iters": iters},
        metrics=[
            "test_accuracy",
            "val_accuracy",
            "source_probe_accuracy",
            "source_accuracy",
            "id_gap",
            "feature_dim",
        ],
    )


def plot(result) -> dict:
    from ....plotting import pyplot

    plt = pyplot()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.8))
    methods = result.methods
    for i, m in enumerate(methods):
        v = 100 * np.array(result.values(m, "test_accuracy"))
        ax1.scatter(np.full(len(v), i) + np.linspace(-0.15, 0.15, len(v)), v, alpha=0.6, c=f"C{i}")
        ax1.errorbar(i + 0.3, v.mean(), yerr=v.std(ddof=1) / np.sqrt(len(v)), fmt="o", c="k")
    ax1.set_xticks(range(len(methods)), methods)
    ax1.set_ylabel("probe test accuracy on digits 5–9 (%)")
    ax1.set_title("each seed, and mean ± s.e.")
    curve = 100 * np.asarray(result.arrays["cat_k_test_accuracy"])
    k = np.arange(1, len(curve) + 1)
    color = {m: f"C{i}" for i, m in enumerate(methods)}
    ax2.plot(k, curve, c=color.get("cat", "C0"), alpha=0.3)
    ax2.plot(k, curve.mean(axis=1), "o-", c=color.get("cat", "C0"), label="cat: concatenation of k seeds")
    for m in ("wide", "joint", "pixels"):
        if m in methods:
            ax2.axhline(100 * np.mean(result.values(m, "test_accuracy")), ls="--", c=color[m], label=m)
    ax2.set_xticks(k)
    ax2.set_xlabel("number of concatenated seeds k")
    ax2.set_ylabel("probe test accuracy on digits 5–9 (%)")
    ax2.set_title("richer, not just larger")
    ax2.legend(fontsize=7)
    fig.tight_layout()
    return {SLUG: fig}
