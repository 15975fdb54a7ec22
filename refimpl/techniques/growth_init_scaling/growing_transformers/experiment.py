"""The experiment: a tiny character-level transformer on a frozen substrate, grown block by block, against the
same final depth trained end-to-end at equal steps, and against growth with trainable embeddings.

Setup.  Next-character prediction on the bundled Shakespeare from the previous 8 characters
(`tasks.char_lm`, fixed train / validation / test stretches); the loss is taken at every position of a
window during training, validation and test metrics at the last position.  d_model 32, 2 heads, d_ff 64,
final depth 3 blocks.  The frozen substrate is one fixed random table (`frozen_substrate`, seed fixed, shared
by every arm and seed) plus fixed sinusoidal positions.  Training uses every 2nd sliding window of the
training stretch (Adam, batch 64).  Equal compute means equal optimizer steps on the same examples: a growth
stage is one pass over the training windows, and the jointly trained arms take as many passes as there are
stages (a grown stage back-propagates through one block only, so growth spends fewer FLOPs per step):
  * grown (frozen substrate) — the paper: stage k trains block k with the final norm and head, blocks
    1..k−1 frozen;
  * end-to-end (frozen substrate) — the ablation without growth: 3 blocks trained jointly;
  * grown (trainable embeddings) — the ablation without the frozen substrate: the same growth, the token
    table trainable at every stage (starting from the same table);
  * 1 block (frozen substrate) — trained for the same steps; it measures whether depth matters here;
  * merged experts (frozen substrate / trainable embeddings) — two models grown separately on the two halves
    of the training windows (different stretches of the text), merged by averaging their logits.
Every arm tunes its learning rate (one for all stages) on the validation loss.
Premise.  Depth has something to add at this budget: the 3-block end-to-end model beats the 1-block model
by more than 0.03 nats of test loss (whole interval).
Claims (margins fixed before the first full run).  (1) Growth adds capability with depth: the grown 3-block
model beats the 1-block model trained for the same steps by more than 0.02 nats of test loss (more steps
alone do not count as growth).  (2) Growth is a substitute for monolithic
training: grown minus end-to-end test loss is below 0.05 nats.  (3) The frozen substrate costs growth
nothing: grown on the frozen table minus grown with trainable embeddings is below 0.05 nats (at equal depth:
it does not depend on the premise).  (4) The merge beats its parts: the merged model's test loss is below
the mean of its two experts' by more than 0.02 nats.  (5) The frozen substrate is what makes merging work:
the merge gain on the frozen table exceeds the merge gain with trainable embeddings.  Claims 4 and 5 need
no premise beyond the construction (experts trained on disjoint data).
"""

from __future__ import annotations

import functools

import numpy as np

from ....autograd import ops
from ....experiments import Claim, Method, Premise, compare, experiment, finish, split_metrics, tasks, train
from ....nn import Module
from ....nn import functional as F
from . import GrowingTransformer, MergedModel, TokenSubstrate, frozen_substrate

SLUG = "growing-transformers"
CONTEXT, D_MODEL, N_HEADS, D_FF, DEPTH, BATCH = 8, 32, 2, 64, 3, 64
STRIDE = 2  # keep every 2nd sliding window of the text
SUBSTRATE_SEED = 1234  # the one fixed table every model docks onto
LRS, QUICK_LRS = [3e-3, 1e-2, 3e-2], [1e-2]
ARMS = ("grown (frozen substrate)", "end-to-end (frozen substrate)", "grown (trainable embeddings)")
ONE_BLOCK = "1 block (frozen substrate)"
MERGED = ("merged experts (frozen substrate)", "merged experts (trainable embeddings)")


@functools.cache
def _task(quick: bool):
    if quick:
        return tasks.char_lm(context=CONTEXT, n_train=STRIDE * 8 * BATCH, n_val=400, n_test=400)
    return tasks.char_lm(context=CONTEXT, n_train=STRIDE * 300 * BATCH, n_val=4000, n_test=4000)


@functools.cache
def _train_set(quick: bool):
    """Every STRIDE-th training window (less overlap between windows), with targets at every position:
    the window shifted by one, then the next id."""
    task = _task(quick)
    y = np.concatenate([task.x_train[:, 1:], task.y_train[:, None]], axis=1)
    return task.x_train[::STRIDE], y[::STRIDE]


class _AllPositions(Module):
    """A training view of the model: logits at every position, flattened to (N·T, V)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        z = self.model.forward_all(x)
        return ops.reshape(z, (-1, z.shape[-1]))


def _sequence_loss(z, y):
    return F.cross_entropy(z, np.asarray(y.data if hasattr(y, "data") else y).reshape(-1))


def _model(task, n_layers, seed, trainable):
    table = frozen_substrate(task.num_classes, D_MODEL, rng=np.random.default_rng(SUBSTRATE_SEED))
    substrate = TokenSubstrate(table, CONTEXT, trainable=trainable)
    return GrowingTransformer(
        substrate, task.num_classes, n_layers=n_layers, n_heads=N_HEADS, d_ff=D_FF, rng=seed
    )


def _fit(model, task, x, y, lr, seed, epochs):
    train(
        _AllPositions(model),
        task,
        lr=lr,
        epochs=epochs,
        seed=seed,
        batch_size=BATCH,
        loss_fn=_sequence_loss,
        params=model.trainable_parameters(),
        x=x,
        y=y,
    )


def _grow(task, x, y, lr, seed, trainable, stage_metrics=None):
    """Grow a model to DEPTH blocks on (x, y), one pass per stage; `stage_metrics` collects each stage's
    validation and test loss when given."""
    rng = np.random.default_rng(seed)
    model = _model(task, 1, rng, trainable)
    for k in range(DEPTH):
        if k:
            model.add_layer(rng)  # freeze blocks 1..k, stack a fresh block k+1
        _fit(model, task, x, y, lr, seed + 100 * k, epochs=1)  # stage k: one pass
        if stage_metrics is not None:
            m = split_metrics(model, task)
            stage_metrics[f"val_loss_stage{k + 1}"] = m["val_loss"]
            stage_metrics[f"test_loss_stage{k + 1}"] = m["test_loss"]
    return model


def _grown_arm(name, trainable, quick):
    def run(seed, lr):
        task = _task(quick)
        out = {}
        model = _grow(task, *_train_set(quick), lr, seed, trainable, out)
        out.update(split_metrics(model, task))
        out["test_loss_gain"] = out["test_loss_stage1"] - out[f"test_loss_stage{DEPTH}"]
        out["trainable_params_last_stage"] = float(sum(p.data.size for p in model.trainable_parameters()))
        return out

    return Method(name, run, grid={"lr": LRS}, quick_grid={"lr": QUICK_LRS})


def _merged_arm(name, trainable, quick):
    """Two experts grown separately on the two halves of the training windows (different stretches of the
    text), each from its own seed, then merged by logit averaging with no further training."""

    def run(seed, lr):
        task = _task(quick)
        x, y = _train_set(quick)
        half = len(x) // 2
        experts = [
            _grow(task, x[:half], y[:half], lr, seed, trainable),
            _grow(task, x[half:], y[half:], lr, seed + 1000, trainable),
        ]
        single = [split_metrics(e, task) for e in experts]
        out = split_metrics(MergedModel(experts), task)
        out["test_loss_experts"] = float(np.mean([m["test_loss"] for m in single]))
        out["merge_gain"] = out["test_loss_experts"] - out["test_loss"]
        return out

    return Method(name, run, grid={"lr": LRS}, quick_grid={"lr": QUICK_LRS})


def _joint_arm(name, n_layers, quick):
    def run(seed, lr):
        task = _task(quick)
        model = _model(task, n_layers, np.random.default_rng(seed), False)
        _fit(model, task, *_train_set(quick), lr, seed, epochs=DEPTH)  # as many steps as DEPTH stages
        return {
            **split_metrics(model, task),
            "trainable_params_last_stage": float(sum(p.data.size for p in model.trainable_parameters())),
        }

    return Method(name, run, grid={"lr": LRS}, quick_grid={"lr": QUICK_LRS})


@experiment(SLUG, seeds=(0, 1, 2, 3, 4), quick_seeds=(0, 1))
def run(quick, seeds, progress):
    methods = [
        _grown_arm(ARMS[0], False, quick),
        _joint_arm(ARMS[1], DEPTH, quick),
        _grown_arm(ARMS[2], True, quick),
        _joint_arm(ONE_BLOCK, 1, quick),
        _merged_arm(MERGED[0], False, quick),
        _merged_arm(MERGED[1], True, quick),
    ]
    comparison = compare(methods, seeds, select="val_loss", maximize=False, quick=quick, progress=progress)
    premise = Premise(
        "depth has something to add at this budget: 3 blocks trained end-to-end beat 1 block by more than "
        "0.03 nats of test loss",
        metric="test_loss",
        method=ARMS[1],
        baseline=ONE_BLOCK,
        threshold=-0.03,
        direction="less",
        strict=True,
    )
    claims = [
        Claim(
            "Growth adds capability with depth: the grown 3-block model beats the 1-block model trained for "
            "the same steps by more than 0.02 nats of test loss",
            metric="test_loss",
            method=ARMS[0],
            baseline=ONE_BLOCK,
            direction="less",
            margin=-0.02,
        ),
        Claim(
            "Layer-wise growth substitutes for end-to-end training at equal steps: grown minus end-to-end "
            "test loss is below 0.05 nats",
            metric="test_loss",
            method=ARMS[0],
            baseline=ARMS[1],
            direction="less",
            margin=0.05,
        ),
        Claim(
            "The frozen substrate costs growth nothing: growing on the frozen table minus growing with "
            "trainable embeddings is below 0.05 nats of test loss",
            metric="test_loss",
            method=ARMS[0],
            baseline=ARMS[2],
            direction="less",
            margin=0.05,
            premises=(),  # a comparison at equal depth: it does not need depth to matter
        ),
        Claim(
            "Merging by logit averaging beats its parts: two experts grown on the two halves of the data, "
            "merged, are below their mean test loss by more than 0.02 nats",
            metric="merge_gain",
            method=MERGED[0],
            margin=0.02,
            premises=(),
        ),
        Claim(
            "The frozen substrate is what makes merging work: the merge gain on the frozen table exceeds the "
            "merge gain with trainable embeddings",
            metric="merge_gain",
            method=MERGED[0],
            baseline=MERGED[1],
            premises=(),
        ),
    ]
    stages = np.arange(1, DEPTH + 1)
    grown = [ARMS[0], ARMS[2]]
    return finish(
        SLUG,
        comparison,
        premises=[premise],
        claims=claims,
        quick=quick,
        smoke=quick,
        arrays={
            "stages": stages,
            "stage_test_loss": np.array(
                [[comparison.values(n, f"test_loss_stage{k}") for k in stages] for n in grown]
            ),
            "test_loss": np.array([comparison.values(n, "test_loss") for n in [*ARMS, ONE_BLOCK]]),
            "merge_test_loss": np.array(
                [[comparison.values(n, k) for k in ("test_loss_experts", "test_loss")] for n in MERGED]
            ),
        },
        notes={
            "grown_arms": grown,
            "arms": [*ARMS, ONE_BLOCK],
            "merged_arms": list(MERGED),
            "train_windows": int(len(_train_set(quick)[0])),
            "vocab_size": int(_task(quick).num_classes),
        },
        metrics=[
            "test_loss",
            "val_loss",
            "test_accuracy",
            "test_loss_gain",
            "test_loss_experts",
            "merge_gain",
            "trainable_params_last_stage",
        ],
    )


def plot(result) -> dict:
    from ....plotting import pyplot

    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    ax = axes[0]
    stages = np.asarray(result.arrays["stages"])
    for name, loss in zip(result.notes["grown_arms"], np.asarray(result.arrays["stage_test_loss"])):
        ax.plot(stages, loss.mean(axis=1), marker="o", label=name)
    names = result.notes["arms"]
    acc = np.asarray(result.arrays["test_loss"])
    for name, row, ls in zip(names[1:], acc[1:], ["--", None, ":"]):
        if ls is not None:
            ax.axhline(row.mean(), ls=ls, color="k", lw=0.9, label=name)
    ax.set_xticks(stages)
    ax.set_xlabel("growth stage (blocks in the model)")
    ax.set_ylabel("test loss, nats (mean over seeds)")
    ax.legend(fontsize=7)
    ax = axes[1]
    mean = acc.mean(axis=1)
    half = 1.96 * acc.std(axis=1, ddof=1) / np.sqrt(acc.shape[1]) if acc.shape[1] > 1 else 0 * mean
    y = np.arange(len(names))
    ax.errorbar(mean, y, xerr=half, fmt="o", capsize=3)
    ax.set_yticks(y, names)
    ax.invert_yaxis()
    ax.set_xlabel("final test loss, nats\n(mean and ≈95 % interval over seeds)")
    ax = axes[2]
    merge = np.asarray(result.arrays["merge_test_loss"])  # (arm, [experts' mean, merged], seed)
    for i, (name, pair) in enumerate(zip(result.notes["merged_arms"], merge)):
        for seed_pair in pair.T:
            ax.plot([0, 1], seed_pair, color=f"C{i}", alpha=0.35, lw=0.8)
        ax.plot([0, 1], pair.mean(axis=1), color=f"C{i}", marker="o", lw=2, label=name)
    ax.set_xticks([0, 1], ["experts (mean)", "merged"])
    ax.set_ylabel("test loss, nats")
    ax.legend(fontsize=7)
    fig.suptitle(
        f"char-LM on a frozen substrate ({result.notes['train_windows']} training windows): growth vs joint",
        fontsize=10,
    )
    fig.tight_layout()
    return {SLUG: fig}
