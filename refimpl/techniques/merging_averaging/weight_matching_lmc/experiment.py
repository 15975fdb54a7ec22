"""The experiment: two MLPs trained from different seeds, the loss barrier between them before and after
permutation search by weight matching, activation matching and the straight-through estimator, and the
singular-vector analysis of what weight matching aligns.

Setup.  A 64-128-128-10 ReLU MLP trained twice on the digits (fixed recipe: SGD with momentum, different
seeds), per seed of the experiment.  The barrier is max over λ of the loss of (1 − λ)θ_A + λπ(θ_B) above the
chord, on 21 points; the validation barrier selects the STE's learning rate.  Analysis (weight matching):
‖θ_A − π(θ_B)‖/‖θ_A − θ_B‖, and how much closer the top-8 vs bottom-8 singular directions of the hidden
weight matrices come.
Premises.  There is a barrier to remove: without permutation it exceeds 0.1 nats; for the straight-through
claim, weight matching leaves some barrier (over 0.01 nats) to lower.
Claims.  Weight matching lowers the barrier (Git Re-Basin); it does so while leaving the models far apart
(distance ratio above one half) and by aligning the top singular directions more than the bottom ones (Ito
et al.); activation matching lowers the barrier too; the straight-through search lowers it below weight
matching's.
"""

from __future__ import annotations

import functools

import numpy as np

from ....experiments import Claim, Method, Premise, compare, experiment, finish, tasks, train
from ..state import evaluate_state, interpolate, interpolation_curve, linear_layers, loss_barrier
from . import (
    activation_matching,
    distance,
    permute_state,
    singular_alignment,
    ste_matching,
    weight_matching,
)

SLUG = "weight-matching-lmc"
SIZES = [64, 128, 128, 10]
ARMS = ["naive", "weight matching", "activation matching", "STE"]


@functools.cache
def _endpoints(seed: int, epochs: int):
    """θ_A, θ_B: the MLP trained from two different initialisations (float64 state dicts)."""
    from ....nn import MLP

    out = []
    for s in (2000 + 2 * seed, 2001 + 2 * seed):
        model = MLP(SIZES, rng=np.random.default_rng(s))
        train(model, tasks.digits(), lr=0.05, epochs=epochs, seed=s, optimizer="sgd", batch_size=32)
        out.append({k: v.astype(np.float64) for k, v in model.state_dict().items()})
    return out[0], out[1]


def _alignment_gain(sd_a, sd_b, sd_bp, k=8):
    """Mean over the hidden weight matrices of (top-k alignment gain) − (bottom-k alignment gain)."""
    gaps = []
    for wk, _ in linear_layers(sd_a)[:-1]:  # the output layer has rank 10: its "bottom 8" is nearly all
        top = singular_alignment(sd_a[wk], sd_bp[wk], k, "top") - singular_alignment(
            sd_a[wk], sd_b[wk], k, "top"
        )
        bot = singular_alignment(sd_a[wk], sd_bp[wk], k, "bottom") - singular_alignment(
            sd_a[wk], sd_b[wk], k, "bottom"
        )
        gaps.append(top - bot)
    return float(np.mean(gaps))


def _arm(name: str, quick: bool):
    epochs, num, ste_steps = (6, 11, 10) if quick else (25, 21, 150)

    def run(seed, lr=None):
        task = tasks.digits()
        sd_a, sd_b = _endpoints(seed, epochs)
        if name == "naive":
            sd_bp = sd_b
        else:
            if name == "weight matching":
                perms = weight_matching(sd_a, sd_b, seed=seed)
            elif name == "activation matching":
                perms = activation_matching(sd_a, sd_b, task.x_train)
            else:
                perms = ste_matching(
                    sd_a, sd_b, task.x_train, task.y_train, lr=lr, steps=ste_steps, seed=seed
                )
            sd_bp = permute_state(sd_b, perms)
        val = interpolation_curve(sd_a, sd_bp, task.x_val, task.y_val, num)
        test = interpolation_curve(sd_a, sd_bp, task.x_test, task.y_test, num)
        return {
            "val_barrier": loss_barrier(val["loss"], val["lambdas"]),
            "test_barrier": loss_barrier(test["loss"], test["lambdas"]),
            "test_midpoint_accuracy": evaluate_state(interpolate(sd_a, sd_bp, 0.5), task.x_test, task.y_test)[
                "accuracy"
            ],
            "distance_ratio": distance(sd_a, sd_bp) / distance(sd_a, sd_b),
            "top_minus_bottom_alignment_gain": _alignment_gain(sd_a, sd_b, sd_bp) if name != "naive" else 0.0,
        }

    if name == "STE":
        return Method(name, run, grid={"lr": [1e-3, 3e-3, 1e-2]}, quick_grid={"lr": [3e-3]})
    return Method(name, run)


@experiment(SLUG, seeds=(0, 1, 2, 3, 4), quick_seeds=(0, 1))
def run(quick, seeds, progress):
    comparison = compare(
        [_arm(n, quick) for n in ARMS],
        seeds,
        select="val_barrier",
        maximize=False,
        quick=quick,
        progress=progress,
    )
    premise = Premise(
        "there is a barrier to remove: without permutation it exceeds 0.1 nats", "test_barrier", "naive", 0.1
    )
    wm_leaves = Premise(
        "weight matching leaves a barrier for the straight-through search to lower (over 0.01 nats)",
        "test_barrier",
        "weight matching",
        0.01,
    )
    claims = [
        Claim(
            "Weight matching lowers the loss barrier",
            "test_barrier",
            "weight matching",
            "naive",
            direction="less",
            premises=(premise.statement,),
        ),
        Claim(
            "Weight matching leaves the models far apart (distance ratio above one half)",
            "distance_ratio",
            "weight matching",
            None,
            margin=0.5,
            premises=(),
        ),
        Claim(
            "Weight matching aligns the top-8 singular directions more than the bottom-8",
            "top_minus_bottom_alignment_gain",
            "weight matching",
            None,
            margin=0.0,
            premises=(),
        ),
        Claim(
            "Activation matching lowers the loss barrier",
            "test_barrier",
            "activation matching",
            "naive",
            direction="less",
            premises=(premise.statement,),
        ),
        Claim(
            "The straight-through search lowers the barrier below weight matching's",
            "test_barrier",
            "STE",
            "weight matching",
            direction="less",
            premises=(wm_leaves.statement,),
        ),
    ]
    return finish(
        SLUG,
        comparison,
        premises=[premise, wm_leaves],
        claims=claims,
        quick=quick,
        smoke=quick,
        arrays={"test_barrier": np.array([comparison.values(n, "test_barrier") for n in ARMS])},
        notes={"arms": ARMS},
        metrics=[
            "test_barrier",
            "val_barrier",
            "test_midpoint_accuracy",
            "distance_ratio",
            "top_minus_bottom_alignment_gain",
        ],
    )


def plot(result) -> dict:
    from ....plotting import pyplot

    plt = pyplot()
    names = result.notes["arms"]
    b = np.asarray(result.arrays["test_barrier"])
    fig, ax = plt.subplots(figsize=(6, 3.2))
    y = np.arange(len(names))
    half = 1.96 * b.std(axis=1, ddof=1) / np.sqrt(b.shape[1]) if b.shape[1] > 1 else 0 * b[:, 0]
    ax.errorbar(b.mean(axis=1), y, xerr=half, fmt="o", capsize=3)
    ax.axvline(0, color="gray", lw=0.8, label="no barrier")
    ax.set_yticks(y, names)
    ax.invert_yaxis()
    ax.set_xlabel("test loss barrier, nats (mean and 95 % interval over seeds)")
    ax.set_title("linear mode connectivity after permutation search", fontsize=10)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return {SLUG: fig}
