"""The experiment: one-shot global vs uniform layer-wise magnitude pruning of an MLP on the digits, and
the Minimum Threshold at the sparsity where plain global pruning collapses the output layer.

Setup.  A 64-256-256-10 MLP is trained densely (Adam, fixed recipe, one model per seed); it is pruned
one-shot by each scheme at each sparsity and fine-tuned with the mask fixed.  Each (scheme, sparsity)
arm tunes its own fine-tuning learning rate on the validation split; the MT arm also tunes MT (the
official default 0.05 % of all weights, or 0.2 %).
Premise.  Layer collapse must happen for MT to matter: plain global MP at the top sparsity (99 %) leaves
output units of the small last layer without any incoming weight.
Claims.  (1) Global MP matches or beats uniform MP at moderate sparsity (within one point, 90 %).
(2) At the top sparsity MT recovers accuracy over plain global MP.
"""

from __future__ import annotations

import functools

import numpy as np

from ....experiments import Claim, Method, Premise, compare, experiment, finish, split_metrics, tasks, train
from ..masks import MaskCallback, prunable_layers, remove_masks, sparsity_report
from . import dead_units, mt_count, prune_model

SLUG = "global-magnitude-pruning"
SIZES = [64, 256, 256, 10]
SCHEMES = {"uniform": ("uniform", False), "global": ("global", False), "global+MT": ("global", True)}
MT_PERCENTS = [0.05, 0.2]  # the official default (0.05 % of all prunable weights), and a larger floor
TOP, MODERATE = 0.99, 0.9  # TOP: where global MP starves the output layer; MODERATE: the first claim's point


def _sparsities(quick):
    return [MODERATE, TOP] if quick else [0.8, 0.9, 0.95, 0.98, 0.99]


@functools.cache
def _dense(seed: int, epochs: int):
    """The dense model of `seed` (trained once, shared by every arm), as a state dict."""
    from ....nn import MLP

    model = MLP(SIZES, rng=np.random.default_rng(seed))
    train(model, tasks.digits(), lr=2e-3, epochs=epochs, seed=seed)
    return model.state_dict(), split_metrics(model, tasks.digits())


def _arm(scheme: str, sparsity: float, quick: bool):
    kind, with_mt = SCHEMES[scheme]
    dense_epochs, ft_epochs = (12, 6) if quick else (20, 10)

    def run(seed, lr, mt_percent=0.0):
        from ....nn import MLP

        task = tasks.digits()
        model = MLP(SIZES, rng=np.random.default_rng(seed))
        state, dense = _dense(seed, dense_epochs)
        model.load_state_dict(state)
        n_total = sum(m.weight.data.size for m in prunable_layers(model).values())
        masks = prune_model(model, sparsity, kind, mt_count(n_total, mt_percent))
        pruned = split_metrics(model, task, splits=("test",))
        train(model, task, lr=lr, epochs=ft_epochs, seed=seed, callbacks=[MaskCallback(model)])
        out = split_metrics(model, task)
        achieved = sparsity_report(model)[-1]["sparsity"]
        remove_masks(model)
        return {
            **out,
            "test_accuracy_before_finetune": pruned["test_accuracy"],
            "dense_test_accuracy": dense["test_accuracy"],
            "achieved_sparsity": achieved,
            "dead_output_units": dead_units(list(masks.values())[-1]),
        }

    grid, quick_grid = {"lr": [1e-3, 3e-3]}, {"lr": [3e-3]}
    if with_mt:
        grid, quick_grid = {**grid, "mt_percent": MT_PERCENTS}, {**quick_grid, "mt_percent": MT_PERCENTS}
    return Method(f"{scheme}@{sparsity:g}", run, grid=grid, quick_grid=quick_grid)


@experiment(SLUG, seeds=(0, 1, 2, 3, 4), quick_seeds=(0, 1))
def run(quick, seeds, progress):
    sp = _sparsities(quick)
    top, moderate = TOP, MODERATE
    methods = [_arm(scheme, s, quick) for s in sp for scheme in SCHEMES]
    comparison = compare(methods, seeds, select="val_accuracy", quick=quick, progress=progress)
    premise = Premise(
        "plain global MP collapses the output layer at the top sparsity (output units left with no weight)",
        metric="dead_output_units",
        method=f"global@{top:g}",
        threshold=0.0,
    )
    claims = [
        Claim(
            "Global MP matches or beats uniform layer-wise MP at moderate sparsity (within one point)",
            metric="test_accuracy",
            method=f"global@{moderate:g}",
            baseline=f"uniform@{moderate:g}",
            direction="greater",
            margin=-0.01,
            premises=(),
        ),
        Claim(
            "The Minimum Threshold recovers accuracy over plain global MP where global MP collapses a layer",
            metric="test_accuracy",
            method=f"global+MT@{top:g}",
            baseline=f"global@{top:g}",
            direction="greater",
            margin=0.0,
        ),
    ]
    acc = np.array(
        [[np.mean(comparison.values(f"{sc}@{s:g}", "test_accuracy")) for s in sp] for sc in SCHEMES]
    )
    return finish(
        SLUG,
        comparison,
        premises=[premise],
        claims=claims,
        quick=quick,
        smoke=quick,
        arrays={"sparsities": np.array(sp), "test_accuracy": acc},
        notes={"schemes": list(SCHEMES)},
        metrics=[
            "test_accuracy",
            "val_accuracy",
            "test_accuracy_before_finetune",
            "dead_output_units",
            "achieved_sparsity",
        ],
    )


def plot(result) -> dict:
    from ....plotting import pyplot

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.6))
    sp = result.arrays["sparsities"]
    for i, (scheme, style) in enumerate(zip(result.notes["schemes"], ("o-", "s-", "^--"))):
        ax.plot(100 * sp, result.arrays["test_accuracy"][i], style, label=scheme)
    ax.set_xlabel("sparsity (%)")
    ax.set_ylabel("test accuracy after fine-tuning\n(mean over seeds)")
    ax.set_title("one-shot magnitude pruning on digits")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return {SLUG: fig}
