"""The experiment: task-incremental split digits learned by ExSSNeT, by ExSSNeT without KKT (the ablation lacking
only the knowledge-transfer init), by SupSup (lacking exclusive weight training too: masks over fixed random
weights) and by plain fine-tuning.

Setup.  `scenarios.split_digits` (five tasks of two digits), task-incremental: the task's identity is given at
training and at test, so the shared 10-way output's other logits are masked, and the supermask methods use the
task's own mask (`accuracy_matrix` sets the mask before scoring each task — `protocol.run_sequence` cannot, as it
calls the model on inputs alone).  Network 64 → 64 → 64 → 2, ReLU, no biases, every layer masked at density
`DENSITY` = 5 % (the paper's sparse regime, 2–10 %); as in the code the two outputs are shared by all tasks (they
are placed at the task's two labels of the 10-way output).  Per task, Adam, batch 64:
  ExSSNeT     KKT init of the scores, `MASK_EPOCHS` epochs on the task's scores, then `WEIGHT_EPOCHS` epochs on the
              weights the new mask uses and no earlier mask does (one learning rate for both phases, as the code);
  ExSSNeT w/o KKT  the same with the scores left at their random initialisation;
  SupSup      `MASK_EPOCHS + WEIGHT_EPOCHS` epochs on the task's scores (the same budget), weights fixed;
  fine-tuning a dense MLP 64 → 64 → 64 → 10 (with biases), the same number of epochs, `protocol.finetune`.
Each method's learning rate is chosen from its own five-value grid on the validation splits (average accuracy
after the last task, task masks applied, mean over `SELECTION_SEEDS`).  `SEEDS` seeds; the accuracy matrix R (test splits) gives average
accuracy, forgetting and backward transfer.
Premise.  Fixed random weights limit a supermask: fine-tuning's just-trained accuracy (mean of R's diagonal)
exceeds SupSup's by more than one point.
Claims (margins fixed from the paper before any run).  (1) ExSSNeT has a higher final average accuracy than
SupSup.  (2) ExSSNeT does not forget (forgetting below half a point; the paper: zero).  (3) ExSSNeT has a higher
final average accuracy than fine-tuning.  (4) KKT helps: ExSSNeT has a higher final average accuracy than ExSSNeT
without KKT.  The KKT ablation arm was added after a one-seed look (test split, one learning rate each) in which
KKT lowered accuracy; the grids were set then too (so that none is chosen at an edge); claims and margins were not
changed after any full run.  The first full recording used four-value grids and selected on seed 0 alone; SupSup
chose its lowest rate and one seed of the ExSSNeT arms had a task stuck near chance at the chosen rate, so every
grid was widened to five values and selection moved to three seeds before the second recording.
"""

from __future__ import annotations

import numpy as np

from .... import nn
from ....experiments import Claim, Method, Premise, compare, experiment, finish
from ....experiments.training import train
from ....train import LambdaCallback
from .. import metrics, protocol, scenarios
from . import SupermaskMLP, exclusive_mask, kkt_init, knn_task_similarity, masked_gradient

SLUG = "exssnet"
SIZES, DENSITY, N_TASKS, KNN_K = (64, 64, 64, 2), 0.05, 5, 10
MASK_EPOCHS, WEIGHT_EPOCHS, QUICK_EPOCHS = 15, 15, (4, 4)
GRIDS = {
    "ExSSNeT": [1e-3, 3e-3, 1e-2, 3e-2, 1e-1],
    "ExSSNeT w/o KKT": [1e-3, 3e-3, 1e-2, 3e-2, 1e-1],
    "SupSup": [3e-4, 1e-3, 3e-3, 1e-2, 3e-2],
    "fine-tuning": [1e-4, 3e-4, 1e-3, 3e-3, 1e-2],
}
SELECTION_SEEDS = (0, 1, 2)
QUICK_GRIDS = {"ExSSNeT": [3e-2], "ExSSNeT w/o KKT": [3e-2], "SupSup": [1e-2], "fine-tuning": [3e-3]}
PREMISE_GAP = 0.01
FORGETTING_MARGIN = 0.005


def accuracy_matrix(model, tasks, fit_task, split: str = "test") -> np.ndarray:
    """R[i, j]: accuracy on task j's split (task-incremental, task j's mask if the model has masks) after
    `fit_task(model, tasks[i], i)` for i = 0..T−1."""
    R = np.zeros((len(tasks), len(tasks)))
    for i, task in enumerate(tasks):
        fit_task(model, task, i)
        R[i] = task_accuracies(model, tasks, split)
    return R


def task_accuracies(model, tasks, split: str) -> list:
    out = []
    for j, t in enumerate(tasks):
        if hasattr(model, "set_task"):
            model.set_task(j)
        out.append(protocol.accuracy(model, t, "task", split))
    return out


def exssnet_learner(
    lr: float, epochs: tuple, seed: int, *, exclusive: bool = True, kkt: bool = True, log=None
):
    """fit_task for ExSSNeT (exclusive=True, kkt=True) or SupSup (both False; all epochs on the scores)."""
    mask_epochs, weight_epochs = epochs
    if not exclusive:
        mask_epochs, weight_epochs = mask_epochs + weight_epochs, 0
    log = {} if log is None else log

    def fit_task(model, task, index):
        model.set_task(index)
        loss = protocol.masked_cross_entropy(scenarios.task_logits_mask(task))
        if kkt and index > 0:
            sim = knn_task_similarity(model, task.x_train, task.y_train, index, k=KNN_K)
            log.setdefault("kkt_source", []).append(kkt_init(model, index, sim, len(task.meta["classes"])))
        scores = [layer.scores(index) for layer in model.layers]
        train(model, task, lr=lr, epochs=mask_epochs, seed=seed + index, loss_fn=loss, params=scores)
        if weight_epochs:
            editable = [
                exclusive_mask(layer.mask(index), [layer.mask(j) for j in range(index)])
                for layer in model.layers
            ]
            log.setdefault("exclusive_share", []).append(
                float(sum(e.sum() for e in editable) / sum(layer.mask(index).sum() for layer in model.layers))
            )

            def mask_grads(state):
                for layer, e in zip(model.layers, editable):
                    layer.weight.grad = masked_gradient(layer.weight.grad, e)

            train(
                model,
                task,
                lr=lr,
                epochs=weight_epochs,
                seed=seed + 100 + index,
                loss_fn=loss,
                params=[layer.weight for layer in model.layers],
                callbacks=[LambdaCallback(after_backward=mask_grads)],
            )

    return fit_task


def dense_mlp(seed: int):
    return nn.Sequential(
        nn.Linear(SIZES[0], SIZES[1], rng=[seed, 1]),
        nn.ReLU(),
        nn.Linear(SIZES[1], SIZES[2], rng=[seed, 2]),
        nn.ReLU(),
        nn.Linear(SIZES[2], 10, rng=[seed, 3]),
    )


def _arm(name: str, epochs: tuple, keep: dict):
    def run(seed, lr):
        tasks = scenarios.split_digits(N_TASKS)
        log: dict = {}
        if name == "fine-tuning":
            model = dense_mlp(seed)
            fit = protocol.finetune("task", lr=lr, epochs=sum(epochs), seed=seed)
        else:
            model = SupermaskMLP(
                SIZES, N_TASKS, DENSITY, seed=seed, classes=[t.meta["classes"] for t in tasks]
            )
            exclusive, kkt = name.startswith("ExSSNeT"), name == "ExSSNeT"
            fit = exssnet_learner(lr, epochs, seed, exclusive=exclusive, kkt=kkt, log=log)
        R = accuracy_matrix(model, tasks, fit)
        keep[(name, seed, lr)] = R
        return {
            "val_average_accuracy": float(np.mean(task_accuracies(model, tasks, "val"))),
            **metrics.summary(R),
            "learning_accuracy": float(np.mean(np.diag(R))),
            "exclusive_share": float(np.mean(log.get("exclusive_share", [0.0]))),
            "kkt_transfers": float(sum(s is not None for s in log.get("kkt_source", []))),
        }

    return run


@experiment(SLUG, seeds=tuple(range(5)), quick_seeds=(0, 1))
def run(quick, seeds, progress):
    epochs = QUICK_EPOCHS if quick else (MASK_EPOCHS, WEIGHT_EPOCHS)
    grids = QUICK_GRIDS if quick else GRIDS
    keep: dict = {}
    comparison = compare(
        [Method(n, _arm(n, epochs, keep), grid={"lr": g}) for n, g in grids.items()],
        seeds,
        select="val_average_accuracy",
        selection_seeds=seeds[:1] if quick else SELECTION_SEEDS,
        maximize=True,
        quick=quick,
        progress=progress,
    )
    premise = Premise(
        f"fixed random weights limit a supermask: fine-tuning's just-trained accuracy exceeds SupSup's by more "
        f"than {PREMISE_GAP}",
        "learning_accuracy",
        "fine-tuning",
        threshold=PREMISE_GAP,
        baseline="SupSup",
    )
    claims = [
        Claim(
            "ExSSNeT has a higher final average accuracy than SupSup",
            "average_accuracy",
            "ExSSNeT",
            baseline="SupSup",
        ),
        Claim(
            f"ExSSNeT does not forget (forgetting below {FORGETTING_MARGIN})",
            "forgetting",
            "ExSSNeT",
            direction="less",
            margin=FORGETTING_MARGIN,
            premises=(),
        ),
        Claim(
            "ExSSNeT has a higher final average accuracy than fine-tuning",
            "average_accuracy",
            "ExSSNeT",
            baseline="fine-tuning",
            premises=(),
        ),
        Claim(
            "KKT helps: ExSSNeT has a higher final average accuracy than ExSSNeT without KKT",
            "average_accuracy",
            "ExSSNeT",
            baseline="ExSSNeT w/o KKT",
            premises=(),
        ),
    ]
    arrays = {
        f"R_{i}": np.array([keep[(n, k, comparison.selected[n]["lr"])] for k in comparison.seeds])
        for i, n in enumerate(grids)
    }
    return finish(
        SLUG,
        comparison,
        premises=[premise],
        claims=claims,
        quick=quick,
        smoke=quick,
        arrays=arrays,
        notes={"arms": list(grids), "density": DENSITY, "epochs": list(epochs)},
    )


def plot(result) -> dict:
    return metrics.plot_accuracy_matrices(result, SLUG, width=4.0)
