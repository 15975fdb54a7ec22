"""MixtureGrowth on the 8×8 digits: grow width-8 MLPs (3 hidden layers) to width 16 at an equal FLOP budget.

Setup.  Every arm ends as a 64-16-16-16-10 ReLU MLP (or, for the no-growth reference, 64-8-8-8-10) and
spends the same training FLOPs (multiply-adds per sample summed over epochs; the template mixing itself,
K·out·in per step, is left out).  The growth schedule, as in the official `main.py`: two width-8
networks for `E_SMALL` epochs each, then the grown width-16 network for `E_GROWN` epochs (Adam, a cosine
schedule restarted in each phase, batch 64).

Arms.
* `mixturegrowth` (the paper): two template networks (K = 2 templates per set), grown with new
  coefficients over the learned templates ("orthogonal" rule), trained on in template form.
* `template init, plain weights` (diagnostic): the same grown weights, trained on as plain weights — the
  template *initialisation* without the template *parametrization*.
* `random new blocks` (the ablation without the paper's idea): the same two trained template networks on
  the diagonal, random He-initialised off-diagonal blocks N(0, 2/16), trained on as plain weights.
* `zero new blocks`: the same, off-diagonal blocks zero (function-preserving: starts as the two
  networks' logit sum).
* `net2net`, `zero-wider`, `random new units`: one plain width-8 network trained for 2·E_SMALL epochs (the
  FLOPs of the two members), widened to 16 by the family's `growth.widen` — Net2WiderNet split
  (function-preserving; a 1 % noise on the new units' incoming weights breaks the copies' symmetry, which
  would otherwise keep them identical forever), new units with random incoming and zero outgoing weights,
  and new units random both ways (`preserve_function=False`).
* `scratch`: the width-16 network trained from scratch for the same FLOPs; `small (no growth)`: the
  width-8 network for the same FLOPs.
Each arm tunes its learning rates on the validation split, mean over three seeds (growth arms: the
pre-growth rate × the post-growth rate; one-phase arms: a grid of the same size); test data are read once,
at the end.

Premises.  (1) Width 16 is worth growing to at this budget: scratch beats the small network at equal FLOPs
by more than a point.  (2) Random new weights add noise (the paper's motivation): random off-diagonal
blocks drop the template networks' validation accuracy at growth by more than a point.
Claims (margins fixed before the first full run).  MixtureGrowth beats each growth baseline (margin 0),
template initialisation beats random blocks when both train as plain weights (margin 0), and MixtureGrowth
comes within one point of the big network trained from scratch at equal FLOPs (margin −0.01).
"""

from __future__ import annotations

import copy
import functools

import numpy as np

from ....experiments import Claim, Method, Premise, compare, experiment, finish, split_metrics, tasks, train
from .. import growth as G
from ..parametrization import WidthMLP
from . import TemplateMLP, member_network

SLUG = "mixturegrowth"
D_IN, D_OUT, DEPTH, K = 64, 10, 3, 2
WIDTH, GROWN = 8, 16
E_SMALL, E_GROWN = 20, 10  # epochs of each member, epochs after growth
NET2NET_NOISE = 0.01  # relative noise on the split units' incoming rows (symmetry breaking)
# Grids widened twice, each time after a recording in which arms chose their grid's largest rate (claims and
# margins unchanged; the second time LR_PRE and LR_POST gained 1e-1, the one-phase grid eight points);
# selection on the mean over SELECTION_SEEDS, the same for every arm.
LR_PRE = [3e-3, 1e-2, 3e-2, 1e-1]
LR_POST = [1e-3, 3e-3, 1e-2, 3e-2, 1e-1]
# fmt: off
LR_ONE_PHASE = [  # as many points as the two-phase grids (4 × 5)
    1e-3, 1.5e-3, 2e-3, 3e-3, 4e-3, 5e-3, 7e-3, 1e-2, 1.2e-2, 1.5e-2,
    2e-2, 2.5e-2, 3e-2, 4e-2, 5e-2, 7e-2, 1e-1, 1.5e-1, 2e-1, 3e-1,
]
# fmt: on
SELECTION_SEEDS = (0, 1, 2)


def flops_per_sample(widths) -> int:
    """Multiply-adds of one forward pass of an MLP with layer sizes `widths` (d_in, h…, d_out)."""
    return int(sum(a * b for a, b in zip(widths[:-1], widths[1:])))


F_SMALL = flops_per_sample([D_IN] + [WIDTH] * DEPTH + [D_OUT])
F_BIG = flops_per_sample([D_IN] + [GROWN] * DEPTH + [D_OUT])
BUDGET = 2 * E_SMALL * F_SMALL + E_GROWN * F_BIG  # per training sample
E_SCRATCH = int(round(BUDGET / F_BIG))
E_NO_GROWTH = int(round(BUDGET / F_SMALL))


def _val(model, task) -> float:
    return split_metrics(model, task, splits=("val",))["val_accuracy"]


class _ValCurve:
    def __init__(self, task):
        self.task, self.acc = task, []

    def on_epoch_end(self, state):
        self.acc.append(_val(state.model, self.task))


@functools.cache
def _members(seed: int, lr_pre: float):
    """Two trained template networks (members 0 and 1) of `seed`, and the val accuracy of their logit sum."""
    task = tasks.digits()
    model = TemplateMLP(D_IN, WIDTH, D_OUT, depth=DEPTH, num_templates=K, rng=np.random.default_rng(seed))
    for m in (0, 1):  # main.py:1411-1434: member 0, then member 1
        net = member_network(model, m)
        train(
            net,
            task,
            lr=lr_pre,
            epochs=E_SMALL,
            seed=1000 * m + seed,
            params=model.member_parameters(m),
            cosine=True,
        )
    zero = copy.deepcopy(model).grow("zero")  # exactly the sum of the two members' logits
    return model, _val(zero, task)


@functools.cache
def _small(seed: int, lr_pre: float):
    """One plain width-8 network trained for the FLOPs of the two members."""
    task = tasks.digits()
    model = _plain(WIDTH, seed)
    train(model, task, lr=lr_pre, epochs=2 * E_SMALL, seed=seed, cosine=True)
    return model, _val(model, task)


def _plain(width, seed):
    return WidthMLP(
        D_IN,
        width,
        D_OUT,
        depth=DEPTH,
        parametrization="standard",
        base_width=width,
        rng=np.random.default_rng(seed + 500),
    )


def _to_plain(weights, seed):
    """A plain width-16 WidthMLP applying the (W, b) list `weights`."""
    model = _plain(GROWN, seed)
    for layer, (w, b) in zip(model.layers, weights):
        layer.weight.data[...] = (w / layer.multiplier).astype(layer.weight.data.dtype)
        layer.bias.data[...] = b.astype(layer.bias.data.dtype)
    return model


def _grown_template_net(seed, lr_pre, variant, rng):
    model = copy.deepcopy(_members(seed, lr_pre)[0])
    if variant in ("mixturegrowth", "template init, plain weights"):
        model.grow("orthogonal")
        return model if variant == "mixturegrowth" else _to_plain(model.effective_weights(), seed)
    weights = model.grow("zero").effective_weights()
    if variant == "random new blocks":
        for w, _ in weights[1:-1]:  # hidden layers: the off-diagonal blocks [0:h, h:2h] and [h:2h, 0:h]
            h = WIDTH
            w[:h, h:] = rng.standard_normal((h, h)) * np.sqrt(2.0 / GROWN)
            w[h:, :h] = rng.standard_normal((h, h)) * np.sqrt(2.0 / GROWN)
    return _to_plain(weights, seed)


def _grown_single_net(seed, lr_pre, variant, rng):
    model = _small(seed, lr_pre)[0]
    mode, preserve = {
        "net2net": ("split", True),
        "zero-wider": ("zero", True),
        "random new units": ("zero", False),
    }[variant]
    for layer in range(DEPTH):
        model = G.widen(model, layer, GROWN, mode=mode, preserve_function=preserve, rng=rng)
    if variant == "net2net":
        for layer in list(model.layers)[:DEPTH]:
            w = layer.weight.data
            w[WIDTH:] += (NET2NET_NOISE * w.std() * rng.standard_normal(w[WIDTH:].shape)).astype(w.dtype)
    return model


TEMPLATE_ARMS = ("mixturegrowth", "template init, plain weights", "random new blocks", "zero new blocks")
SINGLE_ARMS = ("net2net", "zero-wider", "random new units")
ONE_PHASE = {"scratch": (GROWN, E_SCRATCH), "small (no growth)": (WIDTH, E_NO_GROWTH)}


def _growth_arm(name):
    def run(seed, lr_pre, lr):
        task = tasks.digits()
        rng = np.random.default_rng(seed + 7000)
        if name in TEMPLATE_ARMS:
            before = _members(seed, lr_pre)[1]
            model = _grown_template_net(seed, lr_pre, name, rng)
        else:
            before = _small(seed, lr_pre)[1]
            model = _grown_single_net(seed, lr_pre, name, rng)
        at = _val(model, task)
        curve = _ValCurve(task)
        train(model, task, lr=lr, epochs=E_GROWN, seed=seed, cosine=True, callbacks=[curve])
        return {
            **split_metrics(model, task),
            "val_accuracy_before_growth": before,
            "val_accuracy_at_growth": at,
            "val_drop_at_growth": before - at,
            **{f"val_accuracy_epoch{e}": a for e, a in enumerate([at] + curve.acc)},
        }

    return Method(
        name, run, grid={"lr_pre": LR_PRE, "lr": LR_POST}, quick_grid={"lr_pre": [1e-2], "lr": [3e-3]}
    )


def _one_phase_arm(name):
    width, epochs = ONE_PHASE[name]

    def run(seed, lr):
        task = tasks.digits()
        model = _plain(width, seed)
        train(model, task, lr=lr, epochs=epochs, seed=seed, cosine=True)
        return split_metrics(model, task)

    return Method(name, run, grid={"lr": LR_ONE_PHASE}, quick_grid={"lr": [3e-3]})


@experiment(SLUG, seeds=tuple(range(10)), quick_seeds=(0, 1))
def run(quick, seeds, progress):
    growth_arms = [*TEMPLATE_ARMS, *SINGLE_ARMS]
    methods = [_growth_arm(n) for n in growth_arms] + [_one_phase_arm(n) for n in ONE_PHASE]
    comparison = compare(
        methods,
        seeds,
        select="val_accuracy",
        quick=quick,
        progress=progress,
        selection_seeds=None if quick else SELECTION_SEEDS,
    )
    worth = "width 16 is worth growing to: scratch beats the width-8 network at equal FLOPs by > 1 point"
    noise = (
        "random new weights add noise: random off-diagonal blocks drop the template networks' validation "
        "accuracy at growth by > 1 point"
    )
    premises = [
        Premise(worth, "test_accuracy", "scratch", 0.01, baseline="small (no growth)", strict=True),
        Premise(noise, "val_drop_at_growth", "random new blocks", 0.01, strict=True),
    ]

    def beats(baseline, statement, needs=(worth,)):
        return Claim(statement, "test_accuracy", "mixturegrowth", baseline, premises=needs)

    claims = [
        beats(
            "random new blocks",
            "MixtureGrowth beats growth with random new blocks on the same template networks",
            (worth, noise),
        ),
        beats(
            "zero new blocks",
            "MixtureGrowth beats function-preserving zero new blocks on the same template networks",
        ),
        Claim(
            "New blocks recombined from the learned templates beat random new blocks when both train on as "
            "plain weights (the initialisation alone)",
            "test_accuracy",
            "template init, plain weights",
            "random new blocks",
            premises=(worth, noise),
        ),
        beats("net2net", "MixtureGrowth beats Net2Net growth of one small network at equal FLOPs"),
        beats("random new units", "MixtureGrowth beats growth by random new units at equal FLOPs"),
        beats("zero-wider", "MixtureGrowth beats zero-init growth (random in, zero out) at equal FLOPs"),
        Claim(
            "MixtureGrowth comes within one point of the width-16 network trained from scratch at equal "
            "FLOPs",
            "test_accuracy",
            "mixturegrowth",
            "scratch",
            margin=-0.01,
            premises=(worth,),
        ),
    ]
    epochs = np.arange(E_GROWN + 1)
    curves = np.array(
        [[np.mean(comparison.values(n, f"val_accuracy_epoch{e}")) for e in epochs] for n in growth_arms]
    )
    names = list(comparison.methods)
    return finish(
        SLUG,
        comparison,
        premises=premises,
        claims=claims,
        quick=quick,
        smoke=quick,
        arrays={
            "epochs": epochs,
            "val_curve": curves,
            "test_accuracy": np.array([comparison.values(n, "test_accuracy") for n in names]),
        },
        notes={
            "arms": names,
            "growth_arms": growth_arms,
            "flops_per_sample": {"width 8": F_SMALL, "width 16": F_BIG, "budget": BUDGET},
            "epochs": {
                "each member / small": E_SMALL,
                "after growth": E_GROWN,
                "scratch": E_SCRATCH,
                "small (no growth)": E_NO_GROWTH,
            },
        },
        metrics=[
            "test_accuracy",
            "val_accuracy",
            "val_accuracy_before_growth",
            "val_accuracy_at_growth",
            "val_drop_at_growth",
        ],
    )


def plot(result) -> dict:
    from ....plotting import pyplot

    plt = pyplot()
    names, grown = result.notes["arms"], result.notes["growth_arms"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    ax = axes[0]
    for name, curve in zip(grown, np.asarray(result.arrays["val_curve"])):
        ax.plot(
            result.arrays["epochs"],
            curve,
            "-" if name == "mixturegrowth" else "--",
            marker=".",
            lw=2.2 if name == "mixturegrowth" else 1.0,
            label=name,
        )
    ax.set_xlabel("epoch after growth (0 = just grown)")
    ax.set_ylabel("validation accuracy (mean over seeds)")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=7)
    ax = axes[1]
    acc = np.asarray(result.arrays["test_accuracy"])
    mean = acc.mean(axis=1)
    half = 1.96 * acc.std(axis=1, ddof=1) / np.sqrt(acc.shape[1]) if acc.shape[1] > 1 else 0 * mean
    y = np.arange(len(names))
    ax.errorbar(mean, y, xerr=half, fmt="o", capsize=3)
    ax.set_yticks(y, names)
    ax.invert_yaxis()
    ax.set_xlabel("test accuracy at equal training FLOPs\n(mean and ≈95 % interval over seeds)")
    fig.suptitle("Growing 64-8-8-8-10 MLPs to width 16 on the digits", fontsize=10)
    fig.tight_layout()
    return {SLUG: fig}
