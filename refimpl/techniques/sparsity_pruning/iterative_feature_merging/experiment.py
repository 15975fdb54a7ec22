"""The experiment: data-free Iterative Feature Merging against magnitude neuron pruning and against its own
ablation (remove the same units without folding), at equal parameter count, with no fine-tuning.

Setup.  A 64-256-256-10 MLP is trained densely on the digits (Adam, fixed recipe, one model per seed) in two
regimes declared in advance: the standard initialisation, and the same initialisation scaled by 0.1
(small initialisation, where hidden units are known to condense onto few directions).  Each hidden layer
then loses the same fraction of its units by each method, so every arm has the same parameter count; the
pruned network is evaluated as is (the paper's claim is pruning without fine-tuning).  Each arm picks its
one choice on the validation split: IFM its fold coefficient (norm ratio or least squares), magnitude
pruning its score (‖v_i‖ or ‖v_i‖·‖outgoing‖); the ablation has nothing to choose.
Premise.  IFM relies on near-equivalent units: the median distance of a unit's unit-normalised [w; b] to its
nearest neighbour must be below 0.5 (cosine above 0.875).  Measured in each regime; a regime without it
gets "premise absent".
Claims (per regime, at half of the hidden units removed).  (1) IFM beats magnitude neuron pruning.
(2) Folding the outgoing weights beats removing the same units.
"""

from __future__ import annotations

import functools

import numpy as np

from ....experiments import Claim, Method, Premise, compare, experiment, finish, split_metrics, tasks, train
from ..masks import prunable_layers
from . import (
    compact_param_count,
    equivalence_distances,
    feature_complexity,
    merge_units,
    prune_units_by_magnitude,
)

SLUG = "iterative-feature-merging"
REGIMES = {"standard": 1.0, "small-init": 0.1}  # initial weight scale of the dense MLP
CLAIM_FRACTION = 0.5  # the claims' point: half of every hidden layer's units removed
NEAR = 0.5  # premise: median nearest-neighbour distance below this (cosine above 1 − NEAR²/2 = 0.875)
BETA = 0.3  # tolerance of the reported feature complexity


def _config(quick):
    if quick:
        return {"sizes": [64, 128, 128, 10], "epochs": 10, "fractions": [CLAIM_FRACTION]}
    return {"sizes": [64, 256, 256, 10], "epochs": 20, "fractions": [0.25, 0.5, 0.75]}


def _model(sizes, seed, scale):
    from ....nn import MLP

    model = MLP(sizes, rng=np.random.default_rng(seed))
    for mod in prunable_layers(model).values():
        mod.weight.data *= scale
        mod.bias.data *= scale
    return model


@functools.cache
def _dense(seed: int, regime: str, sizes: tuple, epochs: int):
    """The dense model of (seed, regime), trained once and shared by every arm, and what it measures."""
    task = tasks.digits()
    model = _model(list(sizes), seed, REGIMES[regime])
    train(model, task, lr=2e-3, epochs=epochs, seed=seed)
    hidden = list(prunable_layers(model).values())[:-1]
    nn = [np.median(equivalence_distances(m.weight.data, m.bias.data).min(axis=1)) for m in hidden]
    fc = [feature_complexity(m.weight.data, m.bias.data, BETA) / m.weight.shape[0] for m in hidden]
    stats = {
        **{f"dense_{k}": v for k, v in split_metrics(model, task, splits=("test",)).items()},
        "median_nn_distance": float(np.mean(nn)),
        "feature_complexity_fraction": float(np.mean(fc)),
    }
    return model.state_dict(), stats


def _arm(kind: str, regime: str, fraction: float, quick: bool):
    cfg = _config(quick)
    sizes = tuple(cfg["sizes"])

    def run(seed, **hp):
        task = tasks.digits()
        state, stats = _dense(seed, regime, sizes, cfg["epochs"])
        model = _model(list(sizes), seed, REGIMES[regime])
        model.load_state_dict(state)
        if kind == "ifm":
            removed = merge_units(model, fraction, rule=hp["rule"])
        elif kind == "remove":
            removed = merge_units(model, fraction, fold=False)
        else:
            removed = prune_units_by_magnitude(model, fraction, score=hp["score"])
        return {
            **split_metrics(model, task),
            **stats,
            "params": compact_param_count(model),
            "removed": removed,
        }

    grids = {"ifm": {"rule": ["norm", "proj"]}, "magnitude": {"score": ["in", "in_out"]}, "remove": {}}
    return Method(f"{kind}/{regime}@{fraction:g}", run, grid=grids[kind])


@experiment(SLUG, seeds=(0, 1, 2, 3, 4), quick_seeds=(0, 1))
def run(quick, seeds, progress):
    cfg = _config(quick)
    kinds = ("ifm", "remove", "magnitude")
    methods = [_arm(k, r, f, quick) for r in REGIMES for f in cfg["fractions"] for k in kinds]
    comparison = compare(methods, seeds, select="val_accuracy", quick=quick, progress=progress)
    f = CLAIM_FRACTION
    premises, claims = [], []
    for r in REGIMES:
        p = Premise(
            f"[{r}] trained hidden units have near-equivalent partners (median nearest-neighbour distance "
            f"of unit-normalised [w; b] below {NEAR:g})",
            metric="median_nn_distance",
            method=f"ifm/{r}@{f:g}",
            threshold=NEAR,
            direction="less",
        )
        premises.append(p)
        claims += [
            Claim(
                f"[{r}] IFM beats magnitude neuron pruning at equal parameter count, without fine-tuning",
                metric="test_accuracy",
                method=f"ifm/{r}@{f:g}",
                baseline=f"magnitude/{r}@{f:g}",
                direction="greater",
                margin=0.0,
                premises=(p.statement,),
            ),
            Claim(
                f"[{r}] folding the outgoing weights (merge) beats removing the same units",
                metric="test_accuracy",
                method=f"ifm/{r}@{f:g}",
                baseline=f"remove/{r}@{f:g}",
                direction="greater",
                margin=0.0,
                premises=(p.statement,),
            ),
        ]
    acc = np.array(
        [
            [
                [np.mean(comparison.values(f"{k}/{r}@{fr:g}", "test_accuracy")) for fr in cfg["fractions"]]
                for k in kinds
            ]
            for r in REGIMES
        ]
    )
    params = np.array(
        [np.mean(comparison.values(f"ifm/{r}@{fr:g}", "params")) for r in REGIMES for fr in cfg["fractions"]]
    )
    dense = np.array([np.mean(comparison.values(f"ifm/{r}@{f:g}", "dense_test_accuracy")) for r in REGIMES])
    return finish(
        SLUG,
        comparison,
        premises=premises,
        claims=claims,
        quick=quick,
        smoke=quick,
        arrays={
            "fractions": np.array(cfg["fractions"]),
            "params": params.reshape(len(REGIMES), -1),
            "test_accuracy": acc,
            "dense_test_accuracy": dense,
        },
        notes={"regimes": list(REGIMES), "kinds": list(kinds), "sizes": cfg["sizes"]},
        metrics=[
            "test_accuracy",
            "val_accuracy",
            "params",
            "dense_test_accuracy",
            "median_nn_distance",
            "feature_complexity_fraction",
        ],
    )


def plot(result) -> dict:
    from ....plotting import pyplot

    plt = pyplot()
    regimes = result.notes["regimes"]
    fig, axes = plt.subplots(1, len(regimes), figsize=(4.2 * len(regimes), 3.5), sharey=True)
    axes = np.atleast_1d(axes)
    for ri, (ax, r) in enumerate(zip(axes, regimes)):
        p = result.arrays["params"][ri]
        for ki, (k, style) in enumerate(zip(result.notes["kinds"], ("o-", "s--", "^-"))):
            ax.plot(p, result.arrays["test_accuracy"][ri][ki], style, label=k)
        ax.axhline(result.arrays["dense_test_accuracy"][ri], color="gray", lw=0.8, ls=":", label="dense")
        ax.set_xlabel("parameters after pruning")
        ax.set_title(f"{r} regime (init scale {REGIMES.get(r, 1.0):g})")
    axes[0].set_ylabel("test accuracy, no fine-tuning\n(mean over seeds)")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return {SLUG: fig}
