"""The experiment: does PELA's intermediate stage (feature distillation + weight-perturbation regulariser)
make a truncated-SVD model a better starting point for downstream fine-tuning, at equal rank?

Setup.  The family's 64-128-128 ReLU trunk with a 5-way head is pretrained on digits 0–4 (the source task,
`transfer.pretrained`, one model per seed).  Both trunk matrices are replaced by their rank-R truncated SVD
(R = 4: 1792 trunk weights instead of 24576, the head is not compressed, as in the official code).  An
optional intermediate stage trains the whole low-rank model on the source training split with the original
model as frozen teacher; then the low-rank trunk and a fresh head are fine-tuned on the downstream task
(digits 5–9 mirrored left–right, `transfer.shifted_digits`).  Arms, all at rank R:
* `SVD + FT`: no intermediate stage (the low-rank model is fine-tuned directly);
* `stage: task`: intermediate stage with the source cross-entropy only;
* `stage: task + FD`: + feature distillation α·L_fm;
* `PELA`: + feature distillation + weight-perturbation regulariser γ·R (the full method);
* `full-rank FT`: the original model fine-tuned (a reference for what truncation costs).
Every arm tunes its own downstream learning rate, and each stage arm its stage learning rate and loss
weights, on the downstream validation split (selection averaged over three seeds); β (logit MSE) is 0 as in
the released scripts.
Premise.  Truncation damages the pretrained model: the rank-R model loses more than two points of
source-task test accuracy against the original (so there is something for the stage to recover).
Claims.  PELA beats fine-tuning the truncated model directly; feature distillation adds to a task-only
stage; the perturbation regulariser adds to distillation (the ablation lacking only that term).  The
source-task accuracy after the stage is reported beside, as the quantity the stage is meant to restore.
Grid.  The first recording (8 seeds; learning rates 1e-3 … 1e-2, α 0.3 … 3) found several choices at the
top of their grids; the learning rates were widened to 3e-2 and α to 10, and the seeds set to 10 as in the
sibling experiments, before recording again; the second recording again found choices at both ends
(stage rate 1e-3 and 3e-2, fine-tuning rate 3e-2), so the grids became stage 3e-4 … 1e-1 and fine-tuning
1e-3 … 1e-1, and the selection was averaged over three seeds instead of two; the third found γ = 10 and
the dense reference's rate 1e-3 at grid ends, so γ gained 100 and the fine-tuning grid 3e-4 (this record).
"""

from __future__ import annotations

import functools

import numpy as np

from ....autograd.tensor import Tensor, no_grad
from ....experiments import Claim, Method, Premise, compare, experiment, finish, split_metrics, train
from ....nn import Linear, Sequential
from ....optim import Adam
from ..transfer import TRUNK, make_backbone, pretrained, shifted_digits
from . import LowRankLinear, block_features, low_rank_model, pela_loss

SLUG = "pela"
R = 4
FT_LR = [3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1]
STAGE_LR = [3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1]
ALPHA = [0.3, 1.0, 3.0, 10.0]
GAMMA = [0.1, 1.0, 10.0, 100.0]


def _epochs(quick):  # (pretraining, intermediate stage, downstream fine-tuning)
    return (10, 5, 8) if quick else (30, 20, 25)


def _original(seed, pre_epochs):
    trunk_state, head_state, _ = pretrained(seed, pre_epochs)
    trunk = make_backbone(TRUNK, seed)
    trunk.load_state_dict(trunk_state)
    head = Linear(TRUNK[-1], 5)
    head.load_state_dict(head_state)
    return trunk, head


@functools.cache
def _stage(seed, pre_epochs, epochs, stage_lr, alpha, gamma):
    """The low-rank trunk and head after the intermediate stage (epochs = 0: SVD truncation only), and
    their source-task test accuracy.  Cached: the downstream learning rates reuse one stage."""
    old, _ = shifted_digits()
    teacher, t_head = _original(seed, pre_epochs)
    originals = [m.weight.data.copy() for m in teacher if isinstance(m, Linear)]
    trunk, head = _original(seed, pre_epochs)
    low_rank_model(trunk, r=R)
    pairs = list(zip([m for m in trunk if isinstance(m, LowRankLinear)], originals))
    if epochs:
        with no_grad():
            t_feats = [f.data for f in block_features(teacher, Tensor(old.x_train))]
            t_logits = t_head(Tensor(t_feats[-1])).data
        opt = Adam(list(trunk.parameters()) + list(head.parameters()), lr=stage_lr)
        rng = np.random.default_rng(seed + 7)
        n = len(old.x_train)
        for _ in range(epochs):
            order = rng.permutation(n)
            for s in range(0, n, 64):
                idx = order[s : s + 64]
                loss, _ = pela_loss(
                    trunk,
                    head,
                    Tensor(old.x_train[idx]),
                    old.y_train[idx],
                    [Tensor(f[idx]) for f in t_feats],
                    Tensor(t_logits[idx]),
                    pairs,
                    alpha=alpha,
                    gamma=gamma,
                )
                opt.zero_grad()
                loss.backward()
                opt.step()
    with no_grad():
        gap = float(np.mean([np.abs(lr.weight().data - w).max() for lr, w in pairs]))
    source = split_metrics(Sequential(trunk, head), old, splits=("test",))["test_accuracy"]
    return trunk.state_dict(), head.state_dict(), source, gap


def _downstream(seed, trunk, lr, ft_epochs):
    _, new = shifted_digits()
    head = Linear(TRUNK[-1], 5, rng=np.random.default_rng(seed + 2000))
    model = Sequential(trunk, head)
    train(model, new, lr=lr, epochs=ft_epochs, seed=seed)
    return split_metrics(model, new)


def _arm(name, quick, stage: bool, alpha: bool, gamma: bool):
    pre, st, ft = _epochs(quick)

    def run(seed, ft_lr, stage_lr=0.0, alpha=0.0, gamma=0.0):
        old, _ = shifted_digits()
        _, _, original_source = pretrained(seed, pre)
        trunk_state, head_state, source, gap = _stage(seed, pre, st if stage else 0, stage_lr, alpha, gamma)
        _, _, truncated_source, _ = _stage(seed, pre, 0, 0.0, 0.0, 0.0)
        trunk = low_rank_model(make_backbone(TRUNK, seed), r=R)
        trunk.load_state_dict(trunk_state)
        return {
            **_downstream(seed, trunk, ft_lr, ft),
            "source_test_accuracy": source,
            "truncation_drop": original_source - truncated_source,
            "weight_gap_max": gap,
            "trunk_weights": float(sum(p.data.size for p in trunk.parameters())),
        }

    grid = {"ft_lr": FT_LR}
    quick_grid = {"ft_lr": [3e-3]}
    limits = {}
    if stage:
        grid["stage_lr"], quick_grid["stage_lr"] = STAGE_LR, [3e-3]
    if alpha:
        grid["alpha"], quick_grid["alpha"] = ALPHA, [1.0]
    if gamma:
        grid["gamma"], quick_grid["gamma"] = GAMMA, [1.0]
        limits["gamma"] = ("lower", "γ → 0 is no regulariser: the `stage: task + FD` arm")
    return Method(name, run, grid=grid, quick_grid=quick_grid, limits=limits)


def _full_rank(quick):
    pre, _, ft = _epochs(quick)

    def run(seed, ft_lr):
        trunk, _ = _original(seed, pre)
        _, _, source = pretrained(seed, pre)
        return {
            **_downstream(seed, trunk, ft_lr, ft),
            "source_test_accuracy": source,
            "truncation_drop": 0.0,
            "weight_gap_max": 0.0,
            "trunk_weights": float(sum(p.data.size for p in trunk.parameters())),
        }

    return Method("full-rank FT", run, grid={"ft_lr": FT_LR}, quick_grid={"ft_lr": [3e-3]})


ARMS = ["SVD + FT", "stage: task", "stage: task + FD", "PELA", "full-rank FT"]


@experiment(SLUG, seeds=tuple(range(10)), quick_seeds=(0, 1))
def run(quick, seeds, progress):
    methods = [
        _arm("SVD + FT", quick, stage=False, alpha=False, gamma=False),
        _arm("stage: task", quick, stage=True, alpha=False, gamma=False),
        _arm("stage: task + FD", quick, stage=True, alpha=True, gamma=False),
        _arm("PELA", quick, stage=True, alpha=True, gamma=True),
        _full_rank(quick),
    ]
    comparison = compare(
        methods,
        seeds,
        select="val_accuracy",
        quick=quick,
        selection_seeds=None if quick else seeds[:3],
        progress=progress,
    )
    premise = Premise(
        f"truncating both trunk matrices to rank {R} costs the pretrained model over two points of "
        "source-task test accuracy",
        metric="truncation_drop",
        method="SVD + FT",
        threshold=0.02,
    )
    claims = [
        Claim(
            "PELA (stage with distillation and regulariser) beats fine-tuning the truncated model directly",
            metric="test_accuracy",
            method="PELA",
            baseline="SVD + FT",
        ),
        Claim(
            "feature distillation improves on an intermediate stage with the task loss only",
            metric="test_accuracy",
            method="stage: task + FD",
            baseline="stage: task",
        ),
        Claim(
            "the weight-perturbation regulariser improves on distillation alone",
            metric="test_accuracy",
            method="PELA",
            baseline="stage: task + FD",
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
            "source_test_accuracy": np.array([comparison.values(n, "source_test_accuracy") for n in ARMS]),
            "weight_gap_max": np.array([comparison.values(n, "weight_gap_max") for n in ARMS]),
        },
        notes={"arms": ARMS, "rank": R},
        metrics=[
            "test_accuracy",
            "val_accuracy",
            "source_test_accuracy",
            "truncation_drop",
            "weight_gap_max",
        ],
    )


def plot(result) -> dict:
    from ....plotting import pyplot

    plt = pyplot()
    names = result.notes["arms"]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    y = np.arange(len(names))
    for ax, key, label in (
        (axes[0], "test_accuracy", "downstream test accuracy (mirrored 5–9)"),
        (axes[1], "source_test_accuracy", "source test accuracy (0–4) before fine-tuning"),
    ):
        v = np.asarray(result.arrays[key])
        mean = v.mean(axis=1)
        half = 1.96 * v.std(axis=1, ddof=1) / np.sqrt(v.shape[1]) if v.shape[1] > 1 else 0 * mean
        ax.errorbar(mean, y, xerr=half, fmt="o", capsize=3)
        ax.set_yticks(y, names if ax is axes[0] else [""] * len(names))
        ax.set_xlabel(f"{label}\n(mean and 95 % interval over seeds)", fontsize=8)
        ax.invert_yaxis()
    fig.suptitle(f"PELA at rank {result.notes['rank']}: intermediate stage ablation", fontsize=10)
    fig.tight_layout()
    return {SLUG: fig}
