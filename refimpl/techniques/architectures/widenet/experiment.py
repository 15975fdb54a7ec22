"""The experiment: WideNet against a ViT of the same depth and against the two ablations that each lack one of
its ideas, on a tiny vision transformer over digit patches.

Toy: the 8×8 digits cut into 2×2 patches (`patches.digit_patches(2)`: 16 tokens of 4 pixels), a pre-norm
transformer of depth L = 4, width d = 16, 2 heads, FFN hidden 32; MoE with E = 4 experts, top-2 routing,
balance weight λ = 0.01.  Budget: 30 epochs of Adam (1 in the quick run), batch 64, the same for every
method; 5 seeds.

Methods (each tuned on validation loss over its own 5-point learning-rate grid):

* **widenet** — one attention and one MoE shared by all 4 layers, individual LayerNorms per layer;
* **vit** — 4 unshared blocks with dense FFNs (the model WideNet compresses; most parameters);
* **shared-ln** — WideNet with one pair of LayerNorms shared by all layers (lacks only individual norms);
* **shared-dense** — shared attention and a shared *dense* FFN, individual norms (lacks only the MoE; the
  ALBERT-like model that "go wider" starts from).

Parameter counts are reported per method (`params`), exact and seed-independent.
Premise: sharing costs capacity — the unshared ViT's test accuracy exceeds shared-dense's (by > 0).
Claims, margins fixed from the paper's claims before running: (1) WideNet's test accuracy is at least the
ViT's (> 0; the paper: +1.5 points on ImageNet with 0.72× the parameters); (2) individual LayerNorms beat
shared ones (widenet − shared-ln > 0); (3) the MoE beats the dense FFN of the same shared block
(widenet − shared-dense > 0).  Claims (1) and (3) depend on the premise; (2) does not.
"""

from __future__ import annotations

import numpy as np

from ....experiments import Claim, Method, Premise, compare, experiment, finish, split_metrics, train
from ....experiments.tasks import Task
from ....nn import functional as F
from .. import patches
from . import PatchTransformer, count_parameters

SLUG = "widenet"
LRS = [1e-3, 2e-3, 5e-3, 1e-2, 2e-2]
METHODS = ("widenet", "vit", "shared-ln", "shared-dense")
CONFIGS = {
    "widenet": dict(share=True, experts=4, individual_norms=True),
    "vit": dict(share=False, experts=0, individual_norms=True),
    "shared-ln": dict(share=True, experts=4, individual_norms=False),
    "shared-dense": dict(share=True, experts=0, individual_norms=True),
}
SIZES = dict(d=16, heads=2, hidden=32, depth=4, k=2)


def patch_task(patch: int = 2) -> Task:
    """The digits task with each image as (tokens, patch²) patch tokens."""
    return Task(f"digit-patches-{patch}", **patches.digit_patches(patch))


def build(kind: str, task: Task, seed: int, dtype=np.float32) -> PatchTransformer:
    _, T, p = task.x_train.shape
    return PatchTransformer(p, T, task.num_classes, **SIZES, **CONFIGS[kind], rng=seed, dtype=dtype)


def _arm(kind: str, epochs: int, curves: dict):
    def run(seed, lr):
        task = patch_task()
        model = build(kind, task, seed)

        def loss_fn(out, y):
            return F.cross_entropy(out, y) + model.aux_loss()

        curve = []

        class _Curve:
            def on_epoch_end(self, state):
                curve.append(split_metrics(model, task, splits=("val",))["val_accuracy"])

        train(model, task, lr=lr, epochs=epochs, seed=seed, loss_fn=loss_fn, callbacks=[_Curve()])
        curves[(kind, lr, seed)] = np.array(curve)
        model(task.x_val)
        balance = float(model.aux_loss(1.0).data) / SIZES["depth"]  # mean ℓ_balance per layer (1 = uniform)
        return {
            **split_metrics(model, task),
            "params": float(count_parameters(model)),
            **({"balance_loss": balance} if CONFIGS[kind]["experts"] else {}),
        }

    return run


@experiment(SLUG, seeds=(0, 1, 2, 3, 4), quick_seeds=(0, 1))
def run(quick, seeds, progress):
    epochs = 1 if quick else 30
    curves: dict = {}
    methods = [
        Method(k, _arm(k, epochs, curves), grid={"lr": LRS}, quick_grid={"lr": [5e-3]}) for k in METHODS
    ]
    comparison = compare(methods, seeds, select="val_loss", maximize=False, quick=quick, progress=progress)
    premise = Premise(
        "sharing costs capacity: the unshared ViT's test accuracy exceeds the shared dense block's",
        "test_accuracy",
        "vit",
        baseline="shared-dense",
        threshold=0.0,
    )
    claims = [
        Claim(
            "WideNet's test accuracy is at least the ViT's, with fewer parameters",
            "test_accuracy",
            "widenet",
            baseline="vit",
        ),
        Claim(
            "individual LayerNorms per layer beat LayerNorms shared across layers",
            "test_accuracy",
            "widenet",
            baseline="shared-ln",
            premises=(),
        ),
        Claim(
            "the MoE beats the dense FFN in the shared block (going wider restores capacity)",
            "test_accuracy",
            "widenet",
            baseline="shared-dense",
        ),
    ]
    sel = {m: comparison.selected[m]["lr"] for m in METHODS}
    arrays = {"curves": np.array([np.mean([curves[(m, sel[m], s)] for s in seeds], axis=0) for m in METHODS])}
    task = patch_task()
    params = {m: count_parameters(build(m, task, 0)) for m in METHODS}
    return finish(
        SLUG,
        comparison,
        premises=[premise],
        claims=claims,
        quick=quick,
        smoke=quick,
        arrays=arrays,
        notes={"methods": list(METHODS), "epochs": epochs, "params": params, **SIZES, "experts": 4},
        metrics=["test_accuracy", "val_accuracy", "val_loss", "params", "balance_loss"],
    )


def plot(result) -> dict:
    import matplotlib.pyplot as plt

    names = result.notes["methods"]
    curves = np.asarray(result.arrays["curves"])
    params = result.notes["params"]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    for i, name in enumerate(names):
        a.plot(np.arange(1, curves.shape[1] + 1), curves[i], label=name, color=f"C{i}")
    a.set_xlabel("epoch")
    a.set_ylabel("validation accuracy (mean over seeds)")
    a.legend(fontsize=8)
    acc = [np.mean([r["test_accuracy"] for r in result.table if r["method"] == m]) for m in names]
    for i, name in enumerate(names):
        b.scatter(params[name], acc[i], color=f"C{i}", label=name, s=40)
    b.set_xlabel("trainable parameters")
    b.set_ylabel("test accuracy (mean over seeds)")
    b.legend(fontsize=8)
    fig.tight_layout()
    return {SLUG: fig}
