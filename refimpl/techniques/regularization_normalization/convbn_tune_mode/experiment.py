"""The experiment: fine-tuning a pretrained ConvNet in Eval, Tune and Deploy mode across learning rates.

Setup.  A `SmallConvNet` (two ConvBN blocks) is pretrained in Train mode on digits 0–4
(`tasks.digits_pretrain_finetune`, Adam, one network per seed).  Its blocks are then put in the regime the
paper's stability argument is about, s = γ/√(σ² + ε) ≪ 1, by `ConvBN.rescale` — the same function with
s divided by a per-block k so that the block's mean s is `S_TARGET` (the s pretraining left is reported as
`s_before_rescale`; where s > 1, Deploy would take the *smaller* steps).  A fresh 5-way head is put on and the network is fine-tuned on
digits 5–9 with SGD (momentum 0.9, cosine decay to 0, batch 64), γ and β frozen, in each mode:

* Eval   — BN with frozen running statistics after the conv (W, b and the head trained);
* Tune   — the paper's mode: W' = s ⊙ W folded on the fly in every forward pass (same parameters);
* Deploy — BN folded into the conv once; the folded W', b' (and the head) trained.

Every mode tunes its learning rate on the validation split over the same `LR_GRID` (mean over the first
`SELECTION_SEEDS` seeds), then runs every seed at its choice; the whole grid is also run on every seed
(cached, so selection reuses those runs) for the learning-rate sweep in the plot.  Each run reports
whether it *trained*: finite losses and a last-epoch mean training loss below chance level (ln 5).
Memory is the bytes the autograd graph keeps for backward for one batch of 64 (`saved_tensor_bytes`).

Premise.  Deploy's steps on the folded weight are much larger than Eval's at the same learning rate:
the ratio ‖ΔW'_Deploy‖/‖ΔW'_Eval‖ of the first SGD step (same weights, same batch) is above 10.
Claims (margins from the paper's statements, fixed before the full run).  (1) Tune trains exactly like
Eval: the per-step training losses agree to 1e-9 at the selected learning rate.  (2) Tune keeps less
memory for backward than Eval, and (3) about as little as Deploy (within 10 %).  (4) At the learning rate
Eval mode selects — the transfer-learning recipe — training in Deploy mode collapses: its test accuracy
is more than 20 points below Eval's.  (5) The strong reading of "Deploy mode suffers from training
instability": even with its own tuned learning rate, Deploy falls short of Eval.  (6) Eval trains at
larger learning rates than Deploy: the largest grid learning rate at which it still trains is higher
(log10, per seed).
"""

from __future__ import annotations

import copy
import functools
import math

import numpy as np

from ....autograd.tensor import Tensor
from ....experiments import (
    Claim,
    Comparison,
    Method,
    Premise,
    compare,
    experiment,
    finish,
    split_metrics,
    tasks,
    train,
)
from ....nn import functional as F
from . import MODES, SmallConvNet

SLUG = "convbn-tune-mode"
S_TARGET = 0.1  # mean s = γ/√(σ²+ε) of each block after the function-preserving rescale
LR_GRID, QUICK_LR_GRID = [0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0], [0.03, 0.3, 3.0]
PRETRAIN_EPOCHS, QUICK_PRETRAIN_EPOCHS = 20, 8
EPOCHS, QUICK_EPOCHS = 15, 6
BATCH = 64
SELECTION_SEEDS = 3
FINETUNE_MODES = ("eval", "tune", "deploy")
CHANCE_LOSS = math.log(5)  # cross-entropy of a uniform 5-way prediction
MEMORY_BATCH = 64


# --- memory: what the graph keeps for backward -------------------------------------------------------------
# The reverse-mode engine keeps, on each node's `ctx`, the arrays its backward needs.  Walking the graph from
# an output and adding up the distinct arrays on the contexts measures what a training step holds for backward.
def saved_tensor_bytes(output: Tensor, min_size: int = 1) -> dict:
    """Arrays kept on the graph's contexts for backward, reachable from `output` (call before backward).

    Returns {"count": number of distinct saved arrays with ≥ `min_size` elements, "bytes": their total
    size}.  Views count with their base array (deduplicated by the memory they own)."""
    seen_nodes, seen_arrays = set(), set()
    count, nbytes = 0, 0
    stack = [output]
    while stack:
        t = stack.pop()
        ctx = getattr(t, "_ctx", None)
        if ctx is None or id(ctx) in seen_nodes:
            continue
        seen_nodes.add(id(ctx))
        for key, val in vars(ctx).items():
            if key in ("parents", "needs_input_grad"):
                continue
            for a in val if isinstance(val, (tuple, list)) else (val,):
                if isinstance(a, np.ndarray) and a.size >= min_size:
                    owner = a if a.base is None else a.base
                    if id(owner) not in seen_arrays:
                        seen_arrays.add(id(owner))
                        count += 1
                        nbytes += owner.nbytes
        stack.extend(p for p in getattr(ctx, "parents", ()) if p is not None)
    return {"count": count, "bytes": nbytes}


def memory_per_mode(model, x) -> dict:
    """Bytes and count of the arrays the graph keeps for backward, per mode (a copy of `model` each)."""
    out = {}
    for mode in MODES:
        m = copy.deepcopy(model).set_mode(mode)
        out[mode] = saved_tensor_bytes(m(Tensor(np.asarray(x))).sum(), min_size=2)
    return out


# --- pretraining and the rescale ---------------------------------------------------------------------------------
@functools.cache
def pretrained(seed: int, epochs: int) -> tuple:
    """(model in Eval mode with a fresh head and s rescaled to S_TARGET, mean s before the rescale)."""
    from ....nn.layers.linear import Linear

    source, _ = tasks.digits_pretrain_finetune()
    model = SmallConvNet(num_classes=5, rng=seed)
    train(model, source, lr=0.01, epochs=epochs, seed=seed, optimizer="adam", batch_size=BATCH)
    model.set_mode("eval")
    s_before = float(np.mean(np.concatenate([b.scale() for b in model.blocks()])))
    for blk in model.blocks():
        blk.rescale(np.mean(blk.scale()) / S_TARGET)  # same function, mean s of the block → S_TARGET
    model.head = Linear(model.head.in_features, 5, dtype=np.float64, rng=np.random.default_rng(seed + 1000))
    model.zero_grad()  # no gradient left over from pretraining
    return model, s_before


def _fresh(seed, pre_epochs, mode):
    model, _ = pretrained(seed, pre_epochs)
    return copy.deepcopy(model).set_mode(mode)


def _trainable(model):
    return [p for blk in model.blocks() for p in blk.trainable(freeze_affine=True)] + list(
        model.head.parameters()
    )


class _StepLosses:
    """`fit` callback: the training loss of every step (kept even if training stops on a non-finite loss)."""

    def __init__(self):
        self.losses = []

    def on_step_end(self, state):
        self.losses.append(float(state.loss.data))


@functools.cache
def finetune(mode: str, seed: int, lr: float, epochs: int, pre_epochs: int) -> dict:
    """Fine-tune the pretrained network of `seed` on digits 5–9 in `mode`; metrics and the step losses."""
    _, target = tasks.digits_pretrain_finetune()
    model = _fresh(seed, pre_epochs, mode)
    rec = _StepLosses()
    try:
        with np.errstate(over="ignore", invalid="ignore"):
            train(
                model,
                target,
                lr=lr,
                epochs=epochs,
                seed=seed,
                optimizer="sgd",
                cosine=True,
                batch_size=BATCH,
                params=_trainable(model),
                callbacks=[rec],
            )
        finite = True
    except FloatingPointError:
        finite = False
    losses = np.array(rec.losses)
    per_epoch = -(-len(target.x_train) // BATCH)
    last = float(np.mean(losses[-per_epoch:])) if finite else float("inf")
    with np.errstate(over="ignore", invalid="ignore"):
        acc = split_metrics(model, target)
    return {
        "val_accuracy": acc["val_accuracy"],
        "test_accuracy": acc["test_accuracy"],
        "trained": float(finite and last < CHANCE_LOSS),
        "final_train_loss": last if finite else -1.0,
        "losses": losses,
    }


def first_step_ratio(seed: int, pre_epochs: int) -> float:
    """‖ΔW'_Deploy‖/‖ΔW'_Eval‖ of one plain SGD step on the conv weights, same weights and batch.

    Eval: ΔW' = s ⊙ ΔW = −η s ⊙ ∂L/∂W; Deploy: ΔW' = −η ∂L/∂W' (η cancels in the ratio)."""
    _, target = tasks.digits_pretrain_finetune()
    x, y = target.x_train[:BATCH], target.y_train[:BATCH]
    steps = {}
    for mode in ("eval", "deploy"):
        model = _fresh(seed, pre_epochs, mode)
        model.zero_grad()
        F.cross_entropy(model(Tensor(x)), y).backward()
        if mode == "eval":
            steps[mode] = [b.scale()[:, None, None, None] * b.conv.weight.grad for b in model.blocks()]
        else:
            steps[mode] = [b.w_folded.grad for b in model.blocks()]
    norm = {m: math.sqrt(sum(float(np.sum(g * g)) for g in steps[m])) for m in steps}
    return norm["deploy"] / norm["eval"]


@functools.cache
def memory(seed: int, pre_epochs: int) -> dict:
    _, target = tasks.digits_pretrain_finetune()
    model, _ = pretrained(seed, pre_epochs)
    return memory_per_mode(model, target.x_train[:MEMORY_BATCH])


def _largest_trained_lr(mode, seed, grid, epochs, pre_epochs) -> float:
    """log10 of the largest grid learning rate at which `mode` still trains (log10 of grid[0] / 10 if none)."""
    ok = [lr for lr in grid if finetune(mode, seed, lr, epochs, pre_epochs)["trained"]]
    return math.log10(max(ok)) if ok else math.log10(grid[0]) - 1


def _arm(mode: str, grid, epochs, pre_epochs, name=None, fixed_lr=None) -> Method:
    def run(seed, lr):
        r = finetune(mode, seed, lr, epochs, pre_epochs)
        mem = memory(seed, pre_epochs)
        out = {k: v for k, v in r.items() if k != "losses"}
        out["largest_trained_log10_lr"] = _largest_trained_lr(mode, seed, grid, epochs, pre_epochs)
        out["bytes_saved"] = float(mem[mode]["bytes"])
        out["s_before_rescale"] = pretrained(seed, pre_epochs)[1]
        if mode == "tune":
            ev = finetune("eval", seed, lr, epochs, pre_epochs)["losses"]
            same = len(ev) == len(r["losses"]) and np.all(np.isfinite(ev))
            out["max_loss_diff_vs_eval"] = float(np.max(np.abs(ev - r["losses"]))) if same else 1.0
            out["bytes_ratio_vs_eval"] = mem["tune"]["bytes"] / mem["eval"]["bytes"]
            out["bytes_ratio_vs_deploy"] = mem["tune"]["bytes"] / mem["deploy"]["bytes"]
        if mode == "deploy":
            out["first_step_ratio_vs_eval"] = first_step_ratio(seed, pre_epochs)
        return out

    if fixed_lr is not None:
        return Method(name or mode, run, fixed={"lr": fixed_lr})
    return Method(name or mode, run, grid={"lr": list(grid)})


def _merge(a: Comparison, b: Comparison) -> Comparison:
    return Comparison(
        a.methods + b.methods,
        a.seeds,
        a.rows + b.rows,
        {**a.selected, **b.selected},
        a.selection + b.selection,
        a.select,
        a.maximize,
    )


DEPLOY_AT_EVAL_LR = "deploy at Eval's lr"


@experiment(SLUG, seeds=range(10), quick_seeds=(0, 1))
def run(quick, seeds, progress):
    grid = QUICK_LR_GRID if quick else LR_GRID
    epochs, pre = (QUICK_EPOCHS, QUICK_PRETRAIN_EPOCHS) if quick else (EPOCHS, PRETRAIN_EPOCHS)
    tuned = compare(
        [_arm(mode, grid, epochs, pre) for mode in FINETUNE_MODES],
        seeds,
        select="val_accuracy",
        quick=quick,
        progress=progress,
        selection_seeds=seeds[: 1 if quick else SELECTION_SEEDS],
    )
    eval_lr = tuned.selected["eval"]["lr"]
    at_eval = compare(
        [_arm("deploy", grid, epochs, pre, name=DEPLOY_AT_EVAL_LR, fixed_lr=eval_lr)],
        seeds,
        select="val_accuracy",
        quick=quick,
        progress=progress,
    )
    comparison = _merge(tuned, at_eval)
    premise = Premise(
        "Deploy's first SGD step on the folded weight is over 10× Eval's (same weights, batch and lr)",
        metric="first_step_ratio_vs_eval",
        method="deploy",
        threshold=10.0,
    )
    claims = [
        Claim(
            "Tune mode trains exactly like Eval mode (per-step training losses equal to 1e-9)",
            metric="max_loss_diff_vs_eval",
            method="tune",
            direction="less",
            margin=1e-9,
            premises=(),
        ),
        Claim(
            "Tune mode keeps less memory for backward than Eval mode",
            metric="bytes_ratio_vs_eval",
            method="tune",
            direction="less",
            margin=1.0,
            premises=(),
        ),
        Claim(
            "Tune mode's memory for backward closely matches Deploy mode's (within 10 %)",
            metric="bytes_ratio_vs_deploy",
            method="tune",
            direction="less",
            margin=1.1,
            premises=(),
        ),
        Claim(
            "At the learning rate Eval mode selects, training in Deploy mode collapses (over 20 points "
            "below Eval)",
            metric="test_accuracy",
            method=DEPLOY_AT_EVAL_LR,
            baseline="eval",
            direction="less",
            margin=-0.2,
        ),
        Claim(
            "Even with its own tuned learning rate, Deploy mode falls short of Eval mode",
            metric="test_accuracy",
            method="deploy",
            baseline="eval",
            direction="less",
            margin=0.0,
        ),
        Claim(
            "Eval mode still trains at larger learning rates than Deploy mode",
            metric="largest_trained_log10_lr",
            method="eval",
            baseline="deploy",
            direction="greater",
            margin=0.0,
        ),
    ]
    sweep = {
        mode: np.array([[finetune(mode, s, lr, epochs, pre)["test_accuracy"] for lr in grid] for s in seeds])
        for mode in FINETUNE_MODES
    }
    arrays = {"lrs": np.array(grid)}
    for mode in FINETUNE_MODES:
        arrays[f"{mode}:sweep_mean"] = sweep[mode].mean(axis=0)
        arrays[f"{mode}:sweep_std"] = sweep[mode].std(axis=0)
        arrays[f"{mode}:losses_at_eval_lr"] = finetune(mode, seeds[0], eval_lr, epochs, pre)["losses"]
    mem = memory(seeds[0], pre)
    arrays["memory_bytes"] = np.array([mem[m]["bytes"] for m in MODES], dtype=np.float64)
    notes = {
        "modes": list(FINETUNE_MODES),
        "memory_modes": list(MODES),
        "eval_lr": eval_lr,
        "s_target": S_TARGET,
        "epochs": epochs,
    }
    return finish(
        SLUG,
        comparison,
        premises=[premise],
        claims=claims,
        quick=quick,
        smoke=quick,
        arrays=arrays,
        notes=notes,
        metrics=[
            "test_accuracy",
            "val_accuracy",
            "trained",
            "largest_trained_log10_lr",
            "final_train_loss",
            "first_step_ratio_vs_eval",
            "max_loss_diff_vs_eval",
            "bytes_saved",
            "bytes_ratio_vs_eval",
            "bytes_ratio_vs_deploy",
            "s_before_rescale",
        ],
    )


def plot(result) -> dict:
    from ....plotting import pyplot

    plt = pyplot()
    a, notes = result.arrays, result.notes
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    styles = {"eval": ("-", "o"), "tune": ("--", "x"), "deploy": (":", "s")}
    for mode in notes["modes"]:
        ls, mk = styles[mode]
        axes[0].errorbar(
            a["lrs"],
            a[f"{mode}:sweep_mean"],
            yerr=a[f"{mode}:sweep_std"],
            ls=ls,
            marker=mk,
            capsize=3,
            label=mode,
        )
    axes[0].axvline(notes["eval_lr"], color="k", lw=0.8, ls="--", label="Eval's learning rate")
    axes[0].set_xscale("log")
    axes[0].set_xlabel("learning rate (SGD, momentum 0.9)")
    axes[0].set_ylabel("test accuracy, digits 5–9\n(mean ± std over seeds)")
    axes[0].set_title(f"fine-tuning with s ≈ {notes['s_target']:g} (dashed: Eval's choice)")
    axes[0].legend(fontsize=8)
    for mode in notes["modes"]:
        losses = a[f"{mode}:losses_at_eval_lr"]
        axes[1].plot(np.arange(len(losses)), losses, styles[mode][0], label=mode)
    axes[1].axhline(math.log(5), color="gray", lw=0.8, label="chance (log 5)")
    axes[1].set_yscale("log")
    axes[1].set_xlabel("step")
    axes[1].set_ylabel("training loss (first seed)")
    axes[1].set_title(f"at Eval's learning rate {notes['eval_lr']:g} (gray: chance)")
    axes[1].legend(fontsize=8)
    axes[2].bar(notes["memory_modes"], a["memory_bytes"] / 1024, color="tab:gray")
    axes[2].set_ylabel(f"KiB kept for backward (batch {MEMORY_BATCH})")
    axes[2].set_title("memory per mode")
    fig.tight_layout()
    return {SLUG: fig}
