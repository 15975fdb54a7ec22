"""The experiment: a task sequence learnt with self-activated rank-1 experts, one LoRA trained through the
sequence, and per-task LoRAs picked by the task id.

Setup.  The family's trunk pretrained on digits 0–4 (`transfer.pretrained`) learns three tasks in turn —
digits 5–9, 5–9 mirrored, 0–4 mirrored — each with its own head, chosen by the task id at test time
(task-incremental).  MoRA adds four rank-1 experts per task to both hidden matrices and freezes the older ones;
the trunk gets no task id, the experts gate themselves.  The sequential LoRA has the same total rank (12); the
per-task LoRAs (rank 4 each) are an oracle that also picks the trunk by task id.  After the last task every
task is tested with its own head; each arm tunes its learning rate on the mean validation accuracy.
Routing diagnostic: on each task's test inputs, the share of MoRA's gate weight that lands on the experts added
for that task (chance: one in three).
Premise.  One LoRA trained through the sequence forgets (over five points on the earlier tasks).
Claims.  MoRA forgets less than the sequential LoRA and ends with a higher mean accuracy; its experts route
inputs to their own task's experts more often than chance.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from ....experiments import Claim, Method, Premise, compare, experiment, finish, split_metrics, tasks, train
from ..adapters import LoRA, attach, freeze_base
from ..transfer import TRUNK, make_backbone, pretrained, shifted_digits
from . import wrap_linears

SLUG = "mora-rank1-experts"
R_NEW, K, TAU = 4, 4, 0.2
ARMS = ["MoRA", "sequential LoRA", "per-task LoRA (task id)"]


@functools.cache
def _tasks():
    old, mirrored = shifted_digits()

    def mirror(x):
        return np.ascontiguousarray(x.reshape(-1, 8, 8)[:, :, ::-1].reshape(-1, 64))

    old_m = dataclasses.replace(
        old,
        name=old.name + "-mirrored",
        x_train=mirror(old.x_train),
        x_val=mirror(old.x_val),
        x_test=mirror(old.x_test),
    )
    return [
        ("5-9", tasks.digits(classes=(5, 6, 7, 8, 9))),
        ("5-9 mirrored", mirrored),
        ("0-4 mirrored", old_m),
    ]


def _arm(name: str, quick: bool):
    pre_epochs, epochs = (10, 6) if quick else (30, 20)

    def run(seed, lr):
        from ....nn import Linear, Sequential

        stages = _tasks()
        state = pretrained(seed, pre_epochs)[0]
        rng = np.random.default_rng(seed + 31)

        def fresh():
            t = make_backbone(TRUNK, seed)
            t.load_state_dict(state)
            return t

        trunk, trunks, heads, acc = fresh(), [], [], []
        if name == "MoRA":
            trunk.requires_grad_(False)
            pools = wrap_linears(trunk, k=K, tau=TAU)
        elif name == "sequential LoRA":
            attach(trunk, lambda _, layer: LoRA.for_layer(layer, R_NEW * len(stages), rng=rng))
            freeze_base(trunk)
        for t, (_, task) in enumerate(stages):
            head = Linear(TRUNK[-1], 5, rng=np.random.default_rng(seed + 700 + t))
            heads.append(head)
            if name == "MoRA":
                for pool in pools:
                    pool.add_experts(R_NEW, rng)
                cur = trunk
            elif name == "per-task LoRA (task id)":
                cur = fresh()
                attach(cur, lambda _, layer: LoRA.for_layer(layer, R_NEW, rng=rng))
                freeze_base(cur)
                trunks.append(cur)
            else:
                cur = trunk
            params = [p for p in cur.parameters() if p.requires_grad] + list(head.parameters())
            train(Sequential(cur, head), task, lr=lr, epochs=epochs, seed=seed + t, params=params)
            acc.append(
                [
                    split_metrics(
                        Sequential(trunks[j] if trunks else trunk, heads[j]), stages[j][1], splits=("test",)
                    )["test_accuracy"]
                    for j in range(t + 1)
                ]
            )
        out = {}
        for j, ((_, task), head) in enumerate(zip(stages, heads)):
            m = split_metrics(Sequential(trunks[j] if trunks else trunk, head), task)
            out[f"val_accuracy_{j + 1}"], out[f"test_accuracy_{j + 1}"] = (
                m["val_accuracy"],
                m["test_accuracy"],
            )
        n = len(stages)
        out["val_average_accuracy"] = float(np.mean([out[f"val_accuracy_{j + 1}"] for j in range(n)]))
        out["test_average_accuracy"] = float(np.mean([out[f"test_accuracy_{j + 1}"] for j in range(n)]))
        out["forgetting"] = float(
            np.mean([max(acc[t][j] for t in range(j, n)) - acc[-1][j] for j in range(n - 1)])
        )
        if (
            name == "MoRA"
        ):  # share of the gate weight on the task's own experts, averaged over layers and tasks
            own = []
            for j, (_, task) in enumerate(stages):
                x = task.x_test
                shares = []
                for pool, layer_in in zip(pools, _layer_inputs(trunk, x)):
                    g = pool.group_shares(layer_in)
                    shares.append(g[j] / max(g.sum(), 1e-12))
                own.append(float(np.mean(shares)))
            out["routing_own_share"] = float(np.mean(own))
        return out

    return Method(name, run, grid={"lr": [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2]}, quick_grid={"lr": [3e-3]})


def _layer_inputs(trunk, x):
    """The input of every MoRALinear of the trunk on x (the pools see these)."""
    from ....autograd.tensor import Tensor, no_grad
    from . import MoRALinear

    ins, h = [], Tensor(np.asarray(x, dtype=np.float32))
    with no_grad():
        for m in trunk:
            if isinstance(m, MoRALinear):
                ins.append(h.data)
            h = m(h)
    return ins


@experiment(SLUG, seeds=tuple(range(8)), quick_seeds=(0, 1))
def run(quick, seeds, progress):
    comparison = compare(
        [_arm(n, quick) for n in ARMS], seeds, select="val_average_accuracy", quick=quick, progress=progress
    )
    premise = Premise(
        "one LoRA trained through the sequence forgets (over five points on the earlier tasks)",
        metric="forgetting",
        method="sequential LoRA",
        threshold=0.05,
    )
    claims = [
        Claim(
            "MoRA forgets less than one LoRA trained sequentially",
            "forgetting",
            "MoRA",
            "sequential LoRA",
            direction="less",
        ),
        Claim(
            "MoRA ends with a higher mean accuracy than one LoRA trained sequentially",
            "test_average_accuracy",
            "MoRA",
            "sequential LoRA",
        ),
        Claim(
            "Self-activated experts route each task's inputs to that task's own experts more often than chance (1/3)",
            "routing_own_share",
            "MoRA",
            None,
            margin=1 / 3,
            premises=(),
        ),
    ]
    keys = ["test_accuracy_1", "test_accuracy_2", "test_accuracy_3"]
    return finish(
        SLUG,
        comparison,
        premises=[premise],
        claims=claims,
        quick=quick,
        smoke=quick,
        arrays={"accuracy": np.array([[np.mean(comparison.values(a, k)) for k in keys] for a in ARMS])},
        notes={"arms": ARMS, "tasks": [t for t, _ in _tasks()]},
        metrics=[*keys, "test_average_accuracy", "val_average_accuracy", "forgetting", "routing_own_share"],
    )


def plot(result) -> dict:
    from ....plotting import pyplot

    plt = pyplot()
    acc = np.asarray(result.arrays["accuracy"])
    names, tnames = result.notes["arms"], result.notes["tasks"]
    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    width = 0.8 / len(names)
    x = np.arange(len(tnames))
    for i, name in enumerate(names):
        ax.bar(x + (i - (len(names) - 1) / 2) * width, acc[i], width, label=name)
    ax.set_xticks(x, [f"task {j + 1}: {t}" for j, t in enumerate(tnames)])
    ax.set_ylim(0.0, 1.0)  # bars start at zero
    ax.set_ylabel("test accuracy after the last task\n(mean over seeds, own head)")
    ax.set_title("three tasks in sequence", fontsize=10)
    ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    return {SLUG: fig}
