"""The experiment: a sequence of fine-tuning stages, full fine-tuning against Half Fine-Tuning.

Setup.  A 64-128-128-128-128 ReLU trunk (four Linear layers) with a head for task A is trained on digits 0–4
(one model per seed, shared by every arm), then fine-tuned in two stages, each with a new head: B = digits
5–9, then C = digits 5–9 mirrored left–right.  After the last stage every task is evaluated through its own
head.  Arms: full fine-tuning · HFT (half of the output units of every layer, redrawn per stage — the split
inside each block the paper describes) · HFT by whole layers (half of the four layers per stage, the coarse
ablation) · full fine-tuning followed, after each stage, by the paper's pilot "half reset" of a random half
of every layer's units.  Each arm tunes its learning rate on the mean validation accuracy over A, B and C.
Premise.  Full fine-tuning forgets: its task-A test accuracy drops by more than five points.
Claims.  HFT forgets less of task A and keeps a higher mean accuracy over the three tasks than full
fine-tuning, while learning the newest task about as well (within two points).
"""

from __future__ import annotations

import functools

import numpy as np

from ....experiments import Claim, Method, Premise, compare, experiment, finish, split_metrics, tasks, train
from ..transfer import make_backbone, shifted_digits
from . import LayerHalves, UnitHalves, linear_layers

SLUG = "half-fine-tuning"
SIZES = (64, 128, 128, 128, 128)
ARMS = ["full FT", "HFT (units)", "HFT (layers)", "full FT + half reset"]


def _tasks():
    old, mirrored = shifted_digits()
    return [("A", old), ("B", tasks.digits(classes=(5, 6, 7, 8, 9))), ("C", mirrored)]


@functools.cache
def _stage_a(seed: int, epochs: int):
    """Trunk and head A trained on task A (state dicts) and task A's test accuracy."""
    from ....nn import Linear, Sequential

    _, a = _tasks()[0]
    trunk = make_backbone(SIZES, seed)
    head = Linear(SIZES[-1], 5, rng=np.random.default_rng(seed + 500))
    model = Sequential(trunk, head)
    train(model, a, lr=1e-3, epochs=epochs, seed=seed)
    return trunk.state_dict(), head.state_dict(), split_metrics(model, a, splits=("test",))["test_accuracy"]


def _arm(name: str, quick: bool):
    pre_epochs, epochs = (10, 6) if quick else (30, 20)

    def run(seed, lr):
        from ....nn import Linear, Sequential

        stages = _tasks()
        trunk_state, head_state, acc_a_before = _stage_a(seed, pre_epochs)
        trunk = make_backbone(SIZES, seed)
        trunk.load_state_dict(trunk_state)
        head_a = Linear(SIZES[-1], 5)
        head_a.load_state_dict(head_state)
        heads = [head_a]
        halves = {"HFT (units)": UnitHalves, "HFT (layers)": LayerHalves, "full FT + half reset": UnitHalves}
        hft = halves[name](trunk, seed=seed + 101) if name in halves else None
        for s, (_, task) in enumerate(stages[1:], start=1):
            head = Linear(SIZES[-1], 5, rng=np.random.default_rng(seed + 500 + s))
            heads.append(head)
            callbacks = []
            if hft is not None:
                hft.new_stage()
                if name != "full FT + half reset":
                    callbacks = [hft]
            before = [(m.weight.data.copy(), m.bias.data.copy()) for _, m in linear_layers(trunk)]
            params = list(trunk.parameters()) + list(head.parameters())
            train(
                Sequential(trunk, head),
                task,
                lr=lr,
                epochs=epochs,
                seed=seed + s,
                params=params,
                callbacks=callbacks,
            )
            if name == "full FT + half reset":
                hft.reset_frozen(before)
        out = {"task_a_test_accuracy_before": acc_a_before}
        for (tname, task), head in zip(stages, heads):
            m = split_metrics(Sequential(trunk, head), task)
            out[f"val_accuracy_{tname}"], out[f"test_accuracy_{tname}"] = (
                m["val_accuracy"],
                m["test_accuracy"],
            )
        out["val_average_accuracy"] = float(np.mean([out[f"val_accuracy_{t}"] for t, _ in stages]))
        out["test_average_accuracy"] = float(np.mean([out[f"test_accuracy_{t}"] for t, _ in stages]))
        out["forgetting_A"] = acc_a_before - out["test_accuracy_A"]
        return out

    return Method(name, run, grid={"lr": [1e-4, 3e-4, 1e-3, 3e-3, 1e-2]}, quick_grid={"lr": [1e-3]})


@experiment(SLUG, seeds=tuple(range(10)), quick_seeds=(0, 1))
def run(quick, seeds, progress):
    comparison = compare(
        [_arm(n, quick) for n in ARMS], seeds, select="val_average_accuracy", quick=quick, progress=progress
    )
    premise = Premise(
        "full fine-tuning forgets: its task-A test accuracy drops by more than five points over the two stages",
        metric="forgetting_A",
        method="full FT",
        threshold=0.05,
    )
    claims = [
        Claim(
            "HFT forgets less of the first task than full fine-tuning",
            "test_accuracy_A",
            "HFT (units)",
            "full FT",
        ),
        Claim(
            "HFT keeps a higher mean accuracy over all tasks than full fine-tuning",
            "test_average_accuracy",
            "HFT (units)",
            "full FT",
        ),
        Claim(
            "HFT learns the newest task about as well as full fine-tuning (within two points)",
            "test_accuracy_C",
            "HFT (units)",
            "full FT",
            margin=-0.02,
        ),
    ]
    keys = ["test_accuracy_A", "test_accuracy_B", "test_accuracy_C"]
    return finish(
        SLUG,
        comparison,
        premises=[premise],
        claims=claims,
        quick=quick,
        smoke=quick,
        arrays={"accuracy": np.array([[np.mean(comparison.values(a, k)) for k in keys] for a in ARMS])},
        notes={"arms": ARMS, "tasks": ["A: 0–4", "B: 5–9", "C: 5–9 mirrored"]},
        metrics=[*keys, "test_average_accuracy", "val_average_accuracy", "forgetting_A"],
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
    ax.set_xticks(x, tnames)
    ax.set_ylim(0.0, 1.0)  # bars start at zero
    ax.set_ylabel("test accuracy after stage C\n(mean over seeds)")
    ax.set_title("A → B → C: what each arm keeps of every task", fontsize=10)
    ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    return {SLUG: fig}
