"""The experiment: task-incremental split digits learned by fine-tuning, by GPM (the ablation lacking only the
backward-transfer rule) and by CUBER, beside joint training as the reference.

Setup.  `scenarios.split_digits` (five tasks of two digits), task-incremental: the task's two logits of a shared
10-way head compete, at training and at test (so the head's rows are per task and only the two hidden layers are
shared and projected).  A bias-free ReLU MLP 64 → 64 → 64 → 10 (`cuber.MLP`); each task gets `EPOCHS` epochs of
plain minibatch SGD (batch 32; GPM's optimiser, under which projected steps stay in the allowed subspace).  GPM
bases keep 95 % of each layer's input energy; CUBER's sufficient-projection level is ε = 0.5 (TRGP's default) —
both fixed before the first run, not tuned.  Each arm's learning rate is chosen from `LRS` on the validation
splits (average accuracy after the last task); joint training on all tasks at once (same model and optimiser,
`JOINT_EPOCHS` epochs) is the reference.  `SEEDS` seeds (initialisation and batch order).
Premise.  Tasks share something the new task can give back: at the start of each later task (in the GPM run), the
new gradient projected onto an old task's input subspace has a positive inner product with that old task's true
current gradient in at least a quarter of the (new task, old task, layer) triples.
Claims (margins fixed from the paper's claim before any run).  (1) CUBER's backward transfer exceeds GPM's.
(2) CUBER's final average accuracy is not lower than GPM's by more than one point (margin −0.01).  (3) CUBER's
backward transfer exceeds fine-tuning's.
"""

from __future__ import annotations

import numpy as np

from ....experiments import Claim, Method, Premise, compare, experiment, finish
from .. import metrics, protocol, scenarios
from . import MLP, Learner, loss_and_grads

SLUG = "cuber"
LRS, QUICK_LRS = [0.03, 0.1, 0.3, 1.0], [0.1]
EPOCHS, QUICK_EPOCHS, JOINT_EPOCHS = 20, 5, 20
THRESHOLD, EPS = 0.95, 0.5
PREMISE_SHARE = 0.25
ARMS = {"fine-tuning": "finetune", "GPM": "gpm", "CUBER": "cuber"}


def _arm(mode: str, epochs: int, keep: dict):
    def run(seed, lr):
        tasks = scenarios.split_digits()
        model = MLP(seed)
        learner = Learner(mode, lr=lr, epochs=epochs, seed=seed, threshold=THRESHOLD, eps=EPS)
        R = protocol.run_sequence(model, tasks, learner, "task")
        keep[(mode, seed, lr)] = R
        log = learner.log
        return {
            "val_average_accuracy": float(
                np.mean([protocol.accuracy(model, t, "task", "val") for t in tasks])
            ),
            **metrics.summary(R),
            "positive_share": float(log["positive_now"] / max(log["pairs"], 1)),
            "released_per_layer": float(np.mean(log["released"])) if log["released"] else 0.0,
        }

    return run


def _joint(epochs: int):
    def run(seed, lr):
        tasks = scenarios.split_digits()
        model = MLP(seed)
        x = np.concatenate([t.x_train for t in tasks]).astype(np.float64)
        y = np.concatenate([t.y_train for t in tasks])
        mask = (y[:, None] // 2) == (np.arange(10)[None, :] // 2)  # each example's own task's two logits
        rng = np.random.default_rng([seed, 5])
        for _ in range(epochs):
            order = rng.permutation(len(y))
            for s in range(0, len(y), 32):
                b = order[s : s + 32]
                _, g = loss_and_grads(model.params, x[b], y[b], mask[b])
                for k, v in g.items():
                    model.params[k] -= lr * v
        return {
            "val_average_accuracy": float(
                np.mean([protocol.accuracy(model, t, "task", "val") for t in tasks])
            ),
            "average_accuracy": float(np.mean([protocol.accuracy(model, t, "task") for t in tasks])),
        }

    return run


@experiment(SLUG, seeds=tuple(range(5)), quick_seeds=(0, 1))
def run(quick, seeds, progress):
    lrs, epochs = (QUICK_LRS, QUICK_EPOCHS) if quick else (LRS, EPOCHS)
    keep: dict = {}
    methods = [Method(n, _arm(m, epochs, keep), grid={"lr": lrs}) for n, m in ARMS.items()]
    methods.append(Method("joint", _joint(QUICK_EPOCHS if quick else JOINT_EPOCHS), grid={"lr": lrs}))
    comparison = compare(
        methods, seeds, select="val_average_accuracy", maximize=True, quick=quick, progress=progress
    )
    premise = Premise(
        f"the new task's gradient, projected onto an old task's input subspace, points downhill for that old "
        f"task in at least {PREMISE_SHARE:.0%} of (new task, old task, layer) triples",
        "positive_share",
        "GPM",
        threshold=PREMISE_SHARE,
    )
    claims = [
        Claim("CUBER has a higher backward transfer than GPM", "backward_transfer", "CUBER", baseline="GPM"),
        Claim(
            "CUBER's final average accuracy is not lower than GPM's by more than one point",
            "average_accuracy",
            "CUBER",
            baseline="GPM",
            margin=-0.01,
        ),
        Claim(
            "CUBER has a higher backward transfer than fine-tuning",
            "backward_transfer",
            "CUBER",
            baseline="fine-tuning",
        ),
    ]
    arrays = {
        f"R_{i}": np.array([keep[(m, k, comparison.selected[n]["lr"])] for k in comparison.seeds])
        for i, (n, m) in enumerate(ARMS.items())
    }
    return finish(
        SLUG,
        comparison,
        premises=[premise],
        claims=claims,
        quick=quick,
        smoke=quick,
        arrays=arrays,
        notes={"arms": list(ARMS), "epochs": epochs, "threshold": THRESHOLD, "eps": EPS},
    )


def plot(result) -> dict:
    return metrics.plot_accuracy_matrices(result, SLUG)
