"""The experiment: sparse fine-tuning of a pretrained MLP on a shifted task with LIFT's principal weights
against the same number of entries chosen otherwise, LoRA at that count, and full fine-tuning.

Setup.  The family's pretrain → adapt pipeline (`transfer.adaptation_run`): a 64-128-128 trunk pretrained on
digits 0–4, adapted to digits 5–9 mirrored with a fresh head; every sparse arm trains K = (m + n)·2 entries
of each hidden matrix (LoRA r = 2's count, the official budget rule), the mask refreshed every 100 steps
with Adam's moments carried over.  Arms: LIFT (the largest entries of |W_r|, the paper's principal weights)
· LIFT as released (the smallest entries, what the scripts' mask type selects) · magnitude (largest |W|) ·
random · LoRA r = 2 · full fine-tuning · head only.  Each arm tunes its learning rate (and the LIFT arms
the filter rank r) on the new task's validation split.
Premise.  The shift needs the trunk: full fine-tuning beats training the head alone by over two points.
Claims.  (1) Principal weights beat a random mask of the same size (the control any selection rule must
beat); (2) they beat magnitude selection; (3) they forget less of the old task than full fine-tuning;
(4) the paper's principal (largest) entries beat the smallest ones the released scripts train.
Grid.  Dense arms 3e-4 … 3e-2 (3e-4 added after the first recording: full fine-tuning had chosen the lowest
rate then tried, 1e-3); LIFT's filter rank r = 1 sits at the bottom of its grid because no lower rank exists.
"""

from __future__ import annotations

import numpy as np

from ....experiments import Claim, Method, compare, experiment, finish
from ..adapters import LoRA, attach
from ..transfer import adaptation_run, needs_trunk_premise
from . import attach_sparse, refresh_masks

SLUG = "lift-principal-weights"
LORA_RANK, INTERVAL = 2, 100
SPARSE = {"LIFT": "lift", "LIFT as released": "lift-smallest", "magnitude": "magnitude", "random": "random"}


class _Refresh:
    """Every INTERVAL optimizer steps: fold δ into θ, reselect the masks, carry Adam's moments over."""

    def __init__(self, trunk, method, r, seed):
        self.trunk, self.method, self.r, self.seed = trunk, method, r, seed

    def on_step_end(self, state):
        if (state.step + 1) % INTERVAL == 0:
            refresh_masks(self.trunk, state.optimizer, self.method, self.r, rng=self.seed + 13 + state.step)


def _arm(name: str, quick: bool):
    pre_epochs, epochs = (10, 8) if quick else (30, 25)
    grid, quick_grid = {"lr": [3e-4, 1e-3, 3e-3, 1e-2, 3e-2]}, {"lr": [3e-3]}
    if name in SPARSE:  # (a sparse update of K entries wants larger rates: the grid is shifted up)
        method = SPARSE[name]
        grid, quick_grid = {"lr": [3e-3, 1e-2, 3e-2, 1e-1]}, {"lr": [1e-2]}
        if method.startswith("lift"):
            grid, quick_grid = {**grid, "r": [1, 2, 4, 8]}, {**quick_grid, "r": [4]}

        def run(seed, lr, r=4):
            def prepare(trunk):
                attach_sparse(trunk, LORA_RANK, method, r, rng=seed + 11)
                return [_Refresh(trunk, method, r, seed)]

            return adaptation_run(seed, lr, prepare, pre_epochs=pre_epochs, epochs=epochs)

    else:

        def run(seed, lr):
            def prepare(trunk):
                if name == "LoRA r=2":
                    rng = np.random.default_rng(seed + 5)
                    attach(trunk, lambda _, layer: LoRA.for_layer(layer, LORA_RANK, rng=rng))

            return adaptation_run(
                seed, lr, prepare, pre_epochs=pre_epochs, epochs=epochs, full=name == "full FT"
            )

    limits = {"r": ("lower", "no rank below 1")} if "r" in grid else {}
    return Method(name, run, grid=grid, quick_grid=quick_grid, limits=limits)


ARMS = ["full FT", "head only", "LoRA r=2", *SPARSE]


@experiment(SLUG, seeds=tuple(range(10)), quick_seeds=(0, 1))
def run(quick, seeds, progress):
    comparison = compare(
        [_arm(n, quick) for n in ARMS], seeds, select="val_accuracy", quick=quick, progress=progress
    )
    premise = needs_trunk_premise()
    claims = [
        Claim("Principal weights beat a random mask of the same size", "test_accuracy", "LIFT", "random"),
        Claim(
            "Principal weights beat magnitude selection of the same size",
            "test_accuracy",
            "LIFT",
            "magnitude",
        ),
        Claim(
            "Principal weights forget less of the old task than full fine-tuning",
            "old_task_test_accuracy",
            "LIFT",
            "full FT",
        ),
        Claim(
            "The principal (largest) entries of the rank-reduced weight beat its smallest ones (the released scripts')",
            "test_accuracy",
            "LIFT",
            "LIFT as released",
        ),
    ]
    return finish(
        SLUG,
        comparison,
        premises=[premise],
        claims=claims,
        quick=quick,
        smoke=quick,
        arrays={
            "test_accuracy": np.array([comparison.values(n, "test_accuracy") for n in ARMS]),
            "old_task_test_accuracy": np.array(
                [comparison.values(n, "old_task_test_accuracy") for n in ARMS]
            ),
            "params": np.array([np.mean(comparison.values(n, "trainable_trunk_parameters")) for n in ARMS]),
        },
        notes={"arms": ARMS},
        metrics=["test_accuracy", "val_accuracy", "old_task_test_accuracy", "trainable_trunk_parameters"],
    )


def plot(result) -> dict:
    from ....plotting import pyplot

    plt = pyplot()
    names = result.notes["arms"]
    new = np.asarray(result.arrays["test_accuracy"])
    old = np.asarray(result.arrays["old_task_test_accuracy"])
    fig, ax = plt.subplots(figsize=(6.4, 4))
    for i, name in enumerate(names):
        ax.errorbar(
            old[i].mean(),
            new[i].mean(),
            xerr=old[i].std(ddof=1) if old.shape[1] > 1 else 0,
            yerr=new[i].std(ddof=1) if new.shape[1] > 1 else 0,
            fmt="o",
            capsize=2,
            label=f"{name} ({int(result.arrays['params'][i])} params)",
        )
    ax.set_xlabel("old task (0–4) test accuracy after adapting, old head")
    ax.set_ylabel("new task (mirrored 5–9) test accuracy")
    ax.set_title("learning vs forgetting (mean ± 1 sd over seeds)", fontsize=10)
    ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    return {SLUG: fig}
