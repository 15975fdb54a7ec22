"""The experiment: descendants of three depths initialised from a stage-wise-shared learngene, against the
same descendants from random initialisation, from an unshared distilled auxiliary model, and by weight
selection from the teacher, all fine-tuned for the same short budget on the digits.

Setup.  A teacher residual MLP (width 128, hidden 256, 8 blocks; one per seed) is trained on the whole
digits training split (Adam, lr 1e-3, 30 epochs).  The SWS auxiliary model (width 64, hidden 128, 3 stages
of 2 blocks, each stage ONE shared block: 3 learngene blocks) is distilled from it on the training inputs
(soft distillation, T = 1, α = 1; Adam, lr 1e-3, 30 epochs).  The ablation's auxiliary model has the same
layout with 6 distinct blocks and is distilled identically.  Descendants of depth 3, 5 and 8 (stage
splits (1,1,1), (2,2,1), (3,3,2); width 64, hidden 128) are then trained on the training split with labels
for a short budget, 2 epochs (Adam, batch 32), each arm at each depth tuning its own learning rate on the
validation split.  Arms: SWS (learngene expansion; the paper) · random init (PyTorch's default; the
ablation without the learngene) · unshared aux, depth-mapped (the ablation without stage-wise sharing:
the same distillation, no sharing, descendant layer j of k_s ← stage layer ⌊j·n_s/k_s⌋) · weight selection
(uniform element selection of the teacher's first blocks, embedding and head: the family's
`weight_selection`).  Depth 6 is the auxiliary model's own depth and is left out: every depth tested
differs from it.
Premise.  The short budget leaves something to gain: at every depth the teacher beats the randomly
initialised descendant by more than two points (paired over seeds, whole interval).
Claims (margins fixed before the first full run).  At every depth: (1) SWS beats random initialisation by
more than one point; (2) SWS beats the unshared, depth-mapped auxiliary model (stage-wise sharing is what
makes the learned layers expandable); (3) SWS beats weight selection from the teacher.
Grid.  Rates 3e-5 … 3e-3; 1e-4 and then 3e-5 were added after the first recording, when the grid-edge check
found SWS and the unshared auxiliary model at the lowest rate then tried (3e-4 at every depth, then 1e-4 at
depths 5 and 8).  At depth 5 they pick the lowest again (3e-5): an inherited initialisation that
is already good is best left almost untrained, so the grid's lower end is where the comparison with random
initialisation (at its own, higher rate) is decided; the grid was not widened further.
"""

from __future__ import annotations

import functools

import numpy as np

from ....experiments import Claim, Method, Premise, compare, experiment, finish, split_metrics, tasks, train
from . import (
    StagedResMLP,
    auxiliary_model,
    depth_mapped_init,
    descendant_model,
    distillation_loss,
    init_from_learngene,
    stage_plan,
)

SLUG = "learngene-sws"
D_IN, D_OUT = 64, 10
TEACHER = dict(width=128, hidden=256, depth=8)
WIDTH, HIDDEN, AUX_STAGES = 64, 128, (2, 2, 2)
DEPTHS = (3, 5, 8)
PRE_LR, PRE_EPOCHS = 1e-3, 30  # teacher and both auxiliary models: fixed, shared by every arm
TUNE_EPOCHS, BATCH = 2, 32  # the descendants' short budget
KD_T = 1.0  # DeiT's default distillation temperature (the README does not set it)
QUICK = dict(pre_epochs=4, tune_epochs=1)
LR_GRID, QUICK_LR = [3e-5, 1e-4, 3e-4, 1e-3, 3e-3], [1e-3]
ARMS = ("SWS", "random init", "unshared aux, depth-mapped", "weight selection")


def _budget(quick: bool) -> tuple[int, int]:
    return (QUICK["pre_epochs"], QUICK["tune_epochs"]) if quick else (PRE_EPOCHS, TUNE_EPOCHS)


def _teacher_model(seed: int) -> StagedResMLP:
    t = TEACHER
    counts = (1,) * t["depth"]
    return descendant_model(D_IN, t["width"], t["hidden"], D_OUT, counts, rng=np.random.default_rng(seed))


@functools.cache
def _teacher(seed: int, quick: bool):
    """The trained teacher of `seed` (state dict, metrics), shared by every arm."""
    task = tasks.digits()
    model = _teacher_model(seed)
    train(model, task, lr=PRE_LR, epochs=_budget(quick)[0], seed=seed)
    return model.state_dict(), split_metrics(model, task)


def _load_teacher(seed: int, quick: bool) -> StagedResMLP:
    model = _teacher_model(seed)
    model.load_state_dict(_teacher(seed, quick)[0])
    return model


@functools.cache
def _auxiliary(seed: int, quick: bool, shared: bool):
    """The distilled auxiliary model of `seed`: stage-wise shared (SWS) or with distinct layers."""
    from ....train import predict

    task = tasks.digits()
    build = auxiliary_model if shared else descendant_model
    aux = build(D_IN, WIDTH, HIDDEN, D_OUT, AUX_STAGES, rng=np.random.default_rng(seed + 1000))
    z = predict(_load_teacher(seed, quick), task.x_train).astype(np.float64) / KD_T
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p = (p / p.sum(axis=1, keepdims=True)).astype(np.float32)  # softmax(z_t / T)
    train(
        aux,
        task,
        lr=PRE_LR,
        epochs=_budget(quick)[0],
        seed=seed,
        x=task.x_train,
        y=p,
        loss_fn=lambda zs, pt: distillation_loss(zs, pt, KD_T),
    )
    return aux.state_dict(), split_metrics(aux, task)


def _load_aux(seed: int, quick: bool, shared: bool) -> StagedResMLP:
    build = auxiliary_model if shared else descendant_model
    aux = build(D_IN, WIDTH, HIDDEN, D_OUT, AUX_STAGES, rng=np.random.default_rng(seed + 1000))
    aux.load_state_dict(_auxiliary(seed, quick, shared)[0])
    return aux


def select_from_teacher(descendant: StagedResMLP, teacher: StagedResMLP) -> StagedResMLP:
    """Weight selection (the family's `weight_selection`): first-N blocks of the teacher, every tensor cut
    by uniform element selection (the same index set on every residual-stream axis: consistent)."""
    from ..weight_selection import uniform_element_selection

    if descendant.depth > teacher.depth:
        raise ValueError(
            f"select_from_teacher: the descendant ({descendant.depth}) is deeper than the teacher"
        )
    pairs = [
        (descendant.embed, teacher.embed),
        (descendant.norm, teacher.norm),
        (descendant.head, teacher.head),
    ]
    pairs += list(zip(descendant.blocks, teacher.blocks))  # first-N layer selection
    for dst, src in pairs:
        for (_, p), (_, q) in zip(dst.named_parameters(), src.named_parameters()):
            p.data[...] = uniform_element_selection(q.data, p.data.shape).astype(p.data.dtype)
    return descendant


def _init(arm: str, depth: int, seed: int, quick: bool) -> StagedResMLP:
    counts = stage_plan(depth, len(AUX_STAGES))
    model = descendant_model(
        D_IN, WIDTH, HIDDEN, D_OUT, counts, rng=np.random.default_rng(seed + 100 * depth)
    )
    if arm == "SWS":
        return init_from_learngene(model, _load_aux(seed, quick, shared=True))
    if arm == "unshared aux, depth-mapped":
        return depth_mapped_init(model, _load_aux(seed, quick, shared=False))
    if arm == "weight selection":
        return select_from_teacher(model, _load_teacher(seed, quick))
    return model  # random init


def _name(arm: str, depth: int) -> str:
    return f"{arm} (depth {depth})"


def _arm(arm: str, depth: int, quick: bool) -> Method:
    def run(seed, lr):
        task = tasks.digits()
        model = _init(arm, depth, seed, quick)
        at_init = split_metrics(model, task, splits=("test",))["test_accuracy"]
        train(model, task, lr=lr, epochs=_budget(quick)[1], seed=seed, batch_size=BATCH)
        return {**split_metrics(model, task), "test_accuracy_at_init": at_init}

    why = "a rate → 0 leaves the initialisation untrained"
    return Method(
        _name(arm, depth),
        run,
        grid={"lr": LR_GRID},
        quick_grid={"lr": QUICK_LR},
        limits={"lr": ("lower", why)},
    )


def _reference(quick: bool) -> Method:
    """The teacher and both auxiliary models after pretraining (no tuning: for the premise and the plot)."""

    def run(seed):
        teacher = _teacher(seed, quick)[1]
        return {
            **teacher,
            "sws_aux_test_accuracy": _auxiliary(seed, quick, True)[1]["test_accuracy"],
            "unshared_aux_test_accuracy": _auxiliary(seed, quick, False)[1]["test_accuracy"],
        }

    return Method("teacher", run)


@experiment(SLUG, seeds=(0, 1, 2, 3, 4), quick_seeds=(0, 1))
def run(quick, seeds, progress):
    methods = [_reference(quick)] + [_arm(a, d, quick) for d in DEPTHS for a in ARMS]
    comparison = compare(methods, seeds, select="val_accuracy", quick=quick, progress=progress)
    premises = [
        Premise(
            f"At depth {d}, the teacher beats the randomly initialised descendant at the short budget by more "
            "than two points",
            metric="test_accuracy",
            method="teacher",
            baseline=_name("random init", d),
            threshold=0.02,
            strict=True,
        )
        for d in DEPTHS
    ]
    claims = []
    for d, prem in zip(DEPTHS, premises):
        sws = _name("SWS", d)
        claims += [
            Claim(
                f"At depth {d}, SWS initialisation beats random initialisation by more than one point",
                "test_accuracy",
                sws,
                _name("random init", d),
                margin=0.01,
                premises=(prem.statement,),
            ),
            Claim(
                f"At depth {d}, stage-wise sharing matters: SWS beats the unshared distilled auxiliary "
                "model expanded by depth mapping",
                "test_accuracy",
                sws,
                _name("unshared aux, depth-mapped", d),
                premises=(prem.statement,),
            ),
            Claim(
                f"At depth {d}, SWS beats weight selection from the teacher",
                "test_accuracy",
                sws,
                _name("weight selection", d),
                premises=(prem.statement,),
            ),
        ]
    acc = np.array([[comparison.values(_name(a, d), "test_accuracy") for d in DEPTHS] for a in ARMS])
    at_init = np.array(
        [[comparison.values(_name(a, d), "test_accuracy_at_init") for d in DEPTHS] for a in ARMS]
    )
    return finish(
        SLUG,
        comparison,
        premises=premises,
        claims=claims,
        quick=quick,
        smoke=quick,
        arrays={
            "depths": np.array(DEPTHS),
            "test_accuracy": acc,  # (arm, depth, seed)
            "test_accuracy_at_init": at_init,
            "teacher_test_accuracy": np.array(comparison.values("teacher", "test_accuracy")),
            "sws_aux_test_accuracy": np.array(comparison.values("teacher", "sws_aux_test_accuracy")),
            "unshared_aux_test_accuracy": np.array(
                comparison.values("teacher", "unshared_aux_test_accuracy")
            ),
        },
        notes={
            "arms": list(ARMS),
            "aux_stages": list(AUX_STAGES),
            "stage_plans": {str(d): list(stage_plan(d, len(AUX_STAGES))) for d in DEPTHS},
            "tune_epochs": _budget(quick)[1],
        },
        metrics=["test_accuracy", "val_accuracy", "test_accuracy_at_init"],
    )


def plot(result) -> dict:
    from ....plotting import pyplot

    plt = pyplot()
    names = result.notes["arms"]
    depths = np.asarray(result.arrays["depths"])
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=False)
    for ax, key, title in (
        (axes[0], "test_accuracy_at_init", "at initialisation (no training)"),
        (axes[1], "test_accuracy", f"after {result.notes['tune_epochs']} epoch(s) of training"),
    ):
        acc = np.asarray(result.arrays[key])  # (arm, depth, seed)
        n = acc.shape[2]
        for i, name in enumerate(names):
            mean = acc[i].mean(axis=1)
            half = 1.96 * acc[i].std(axis=1, ddof=1) / np.sqrt(n) if n > 1 else 0 * mean
            ax.errorbar(depths + 0.08 * (i - 1.5), mean, yerr=half, fmt="o-", capsize=3, label=name)
        ax.axhline(
            np.mean(result.arrays["teacher_test_accuracy"]), color="k", lw=0.8, ls=":", label="teacher"
        )
        ax.set_xticks(depths)
        ax.set_xlabel("descendant depth (blocks)")
        ax.set_title(title, fontsize=9)
    axes[0].set_ylabel("test accuracy (mean, ≈95 % interval)")
    axes[1].legend(fontsize=7)
    fig.suptitle(
        "Descendants initialised from a 3-block learngene (aux: 3 stages × 2 shared blocks)", fontsize=10
    )
    fig.tight_layout()
    return {SLUG: fig}
