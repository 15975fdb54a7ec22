"""The experiment: Compacter against plain and PHM adapters, LoRA, full fine-tuning and the head alone.

Setup.  The family's pretrain → adapt pipeline (`transfer.adaptation_run`): a 64-128-128 trunk pretrained on
digits 0–4, adapted to digits 5–9 mirrored with a fresh head.  Activation adapters (bottleneck k = 16, n = 4)
sit after both hidden activations; the PHM kinds share one rule A across the two.  Every arm tunes its own
learning rate on the new task's validation split, on a grid around the official rates (Compacter 3e-3,
adapters 3e-4).
Premise.  The shift needs the trunk: full fine-tuning beats training the head alone by over two points.
Claims.  Compacter reaches the accuracy of plain adapters within one point with far fewer trainable
parameters (the paper's headline); Compacter beats the head alone.
"""

from __future__ import annotations

import numpy as np

from ....experiments import Claim, Method, compare, experiment, finish
from ..adapters import LoRA, attach
from ..transfer import adaptation_run, needs_trunk_premise
from . import BottleneckAdapter, CompacterAdapter, PHMRule, insert_after

SLUG = "compacter"
K, N = 16, 4  # bottleneck and hypercomplex division
ARMS = ["head only", "full FT", "LoRA r=1", "LoRA r=4", "adapter k=16", "PHM adapter n=4", "Compacter n=4"]


def _activation_adapters(kind: str, seed: int):
    """prepare(trunk) → a new trunk with an adapter after each hidden activation (base frozen)."""

    def prepare(trunk):
        rng = np.random.default_rng(seed + 7)
        rule = PHMRule(N, rng=rng) if kind != "adapter" else None
        d = trunk[0].weight.shape[0]
        acts = [i for i, m in enumerate(trunk) if type(m).__name__ == "ReLU"]

        def make(i, m):
            if kind == "adapter":
                return BottleneckAdapter(d, K, rng=rng)
            return CompacterAdapter(d, K, rule, rank=1 if kind == "compacter" else None, rng=rng)

        trunk.requires_grad_(False)
        new = insert_after(trunk, acts, make)
        base = {id(m) for m in trunk}
        for m in new:
            if id(m) not in base:
                m.requires_grad_(True)
        return new

    return prepare


def _arm(name: str, quick: bool):
    pre_epochs, epochs = (10, 8) if quick else (30, 25)

    def run(seed, lr):
        if name.startswith("LoRA"):
            r = int(name.split("=")[1])

            def prepare(trunk):
                rng = np.random.default_rng(seed + 7)
                attach(trunk, lambda _, layer: LoRA.for_layer(layer, r, rng=rng))

        elif name in ("head only", "full FT"):
            prepare = None
        else:
            prepare = _activation_adapters(
                {"adapter k=16": "adapter", "PHM adapter n=4": "phm"}.get(name, "compacter"), seed
            )
        return adaptation_run(seed, lr, prepare, pre_epochs=pre_epochs, epochs=epochs, full=name == "full FT")

    return Method(name, run, grid={"lr": [3e-4, 1e-3, 3e-3, 1e-2, 3e-2]}, quick_grid={"lr": [3e-3]})


@experiment(SLUG, seeds=tuple(range(10)), quick_seeds=(0, 1))
def run(quick, seeds, progress):
    comparison = compare(
        [_arm(n, quick) for n in ARMS], seeds, select="val_accuracy", quick=quick, progress=progress
    )
    premise = needs_trunk_premise()
    claims = [
        Claim(
            "Compacter reaches plain adapters' accuracy (within one point) with far fewer trainable parameters",
            "test_accuracy",
            "Compacter n=4",
            "adapter k=16",
            margin=-0.01,
        ),
        Claim("Compacter beats training the head alone", "test_accuracy", "Compacter n=4", "head only"),
    ]
    return finish(
        SLUG,
        comparison,
        premises=[premise],
        claims=claims,
        quick=quick,
        smoke=quick,
        arrays={
            "params": np.array([np.mean(comparison.values(n, "trainable_trunk_parameters")) for n in ARMS]),
            "test_accuracy": np.array([comparison.values(n, "test_accuracy") for n in ARMS]),
        },
        notes={"arms": ARMS},
        metrics=["test_accuracy", "val_accuracy", "old_task_test_accuracy", "trainable_trunk_parameters"],
    )


def plot(result) -> dict:
    from ....plotting import pyplot

    plt = pyplot()
    names = result.notes["arms"]
    acc = np.asarray(result.arrays["test_accuracy"])
    params = np.maximum(np.asarray(result.arrays["params"]), 1)
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    for i, name in enumerate(names):
        sd = acc[i].std(ddof=1) if acc.shape[1] > 1 else 0
        ax.errorbar(
            params[i],
            acc[i].mean(),
            yerr=sd,
            fmt="o",
            capsize=2,
            label=f"{name} ({int(result.arrays['params'][i])})",
        )
    ax.set_xscale("log")
    ax.set_xlabel("trainable trunk parameters (head excluded; head only drawn at 1)")
    ax.set_ylabel("new-task test accuracy (mean ± 1 sd)")
    ax.set_title("accuracy against trainable parameters", fontsize=10)
    ax.legend(fontsize=7, loc="lower right", title="arm (parameters)", title_fontsize=7)
    fig.tight_layout()
    return {SLUG: fig}
