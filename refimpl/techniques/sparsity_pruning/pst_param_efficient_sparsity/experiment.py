"""The experiment: sparse fine-tuning of a pretrained MLP on a new task — PST vs movement pruning vs
magnitude pruning at equal final sparsity, with the ablations that drop only one part of PST's score.

Setup.  A 64-128-128-5 MLP is pretrained densely on digits 0-4 (one model per seed); for the new task
(digits 5-9) its head is re-initialised and trained densely by every arm, and the two hidden weight
matrices are fine-tuned while being pruned per layer to the final sparsity on a cubic schedule (from 0
at the first step to the target at 70 % of the steps, then held).  Arms:

* PST: W frozen, U·V update, score |W̃| + AB + R + C (rank 4);
* PST w/o |W|: the same without the data-free term (the ablation lacking only that idea);
* LoRA + MaP: the same U·V update, score |W̃| only (lacks the learned data-driven term);
* MvP: movement pruning — W and a full score matrix S trained (about 10× PST's trainable parameters);
* MaP: gradual magnitude pruning with W trained.

Every arm tunes its Adam learning rate (1e-4 … 1e-1) on the validation split; five seeds.
Premise.  PST's approximation needs the learned data-driven score to be low-rank and structured: the
share of the energy of MvP's learned score matrix (first hidden layer) captured by its row and column
means plus a rank-4 approximation of the rest must exceed one half (an i.i.d. Gaussian 128×64 matrix gives ≈ 0.18).
Claims.  (1) PST matches MvP within one point of test accuracy; (2) PST beats gradual MaP; (3) the |W|
term helps (PST > PST w/o |W|); (4) the learned score helps (PST > LoRA + MaP).
"""

from __future__ import annotations

import functools

import numpy as np

from ....experiments import Claim, Method, Premise, compare, experiment, finish, split_metrics, tasks, train
from ..masks import cubic_schedule
from . import attach, count_trainable, set_sparsity, trainable_parameters

SLUG = "pst-param-efficient-sparsity"
SIZES = [64, 128, 128, 5]
RANK = 4
ARMS = {  # name → (weight_update, score, data_free)
    "PST": ("lora", "pst", True),
    "PST w/o |W|": ("lora", "pst", False),
    "LoRA+MaP": ("lora", "none", True),
    "MvP": ("full", "full", False),
    "MaP": ("full", "none", True),
}


def _hidden(name, mod):
    return name != str(2 * (len(SIZES) - 2))  # the head (last Linear) is not pruned


@functools.cache
def _pretrained(seed: int, epochs: int):
    from ....nn import MLP

    src, _ = tasks.digits_pretrain_finetune()
    model = MLP(SIZES, rng=np.random.default_rng(seed))
    train(model, src, lr=3e-3, epochs=epochs, seed=seed)
    return model.state_dict()


def score_structure(score, rank: int = RANK) -> float:
    """Share of ||S||² captured by the row means + column means (structured part) plus the best rank-r
    approximation of what is left (low-rank part)."""
    s = np.asarray(score, dtype=np.float64)
    total = float(np.sum(s**2))
    if total == 0:
        return 0.0
    row = s.mean(axis=1, keepdims=True)
    col = (s - row).mean(axis=0, keepdims=True)
    resid = s - row - col
    sv = np.linalg.svd(resid, compute_uv=False)
    return float(1.0 - (np.sum(sv[rank:] ** 2)) / total)


class _Schedule:
    def __init__(self, model, final, total_steps):
        self.model, self.final, self.t, self.end = model, final, 0, max(1, int(0.7 * total_steps))
        set_sparsity(model, 0.0)

    def on_step_end(self, state):
        self.t += 1
        set_sparsity(self.model, cubic_schedule(self.t, self.final, 0, self.end))


def _arm(name: str, sparsity: float, quick: bool):
    weight_update, score, data_free = ARMS[name]
    pre_epochs, ft_epochs = (10, 12) if quick else (20, 30)

    def run(seed, lr):
        from ....nn import MLP, Linear

        _, task = tasks.digits_pretrain_finetune()
        model = MLP(SIZES, rng=np.random.default_rng(seed))
        model.load_state_dict(_pretrained(seed, pre_epochs))
        head = str(2 * (len(SIZES) - 2))
        setattr(model, head, Linear(SIZES[-2], SIZES[-1], rng=np.random.default_rng(1000 + seed)))
        layers = attach(
            model,
            weight_update,
            score,
            data_free,
            RANK,
            RANK,
            rng=np.random.default_rng(seed),
            include=_hidden,
        )
        params = trainable_parameters(model) + [getattr(model, head).weight]
        steps = ft_epochs * int(np.ceil(len(task.y_train) / 64))
        train(
            model,
            task,
            lr=lr,
            epochs=ft_epochs,
            seed=seed,
            params=params,
            callbacks=[_Schedule(model, sparsity, steps)],
        )
        set_sparsity(model, sparsity)
        out = split_metrics(model, task)
        achieved = float(np.mean([1 - t.mask.mean() for t in layers.values()]))
        first = next(iter(layers.values()))
        res = {
            **out,
            "achieved_sparsity": achieved,
            "trainable_params": float(count_trainable(model) + getattr(model, head).weight.data.size),
        }
        if score == "full":
            res["score_structure"] = score_structure(first.S.data)
        return res

    grid, quick_grid = {"lr": [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1]}, {"lr": [1e-2]}
    return Method(f"{name}@{sparsity:g}", run, grid=grid, quick_grid=quick_grid)


@experiment(SLUG, seeds=(0, 1, 2, 3, 4), quick_seeds=(0,))
def run(quick, seeds, progress):
    sp = [0.9] if quick else [0.9, 0.97]
    methods = [_arm(a, s, quick) for s in sp for a in ARMS]
    comparison = compare(methods, seeds, select="val_accuracy", quick=quick, progress=progress)
    top = sp[-1]
    premise = Premise(
        "movement pruning's learned score matrix is mostly structured + low-rank (energy share > 0.5)",
        metric="score_structure",
        method=f"MvP@{top:g}",
        threshold=0.5,
    )
    claims = []
    for s in sp:
        claims += [
            Claim(
                f"PST matches movement pruning within one point at {s:g} sparsity",
                metric="test_accuracy",
                method=f"PST@{s:g}",
                baseline=f"MvP@{s:g}",
                margin=-0.01,
            ),
            Claim(
                f"PST beats gradual magnitude pruning at {s:g} sparsity",
                metric="test_accuracy",
                method=f"PST@{s:g}",
                baseline=f"MaP@{s:g}",
                premises=(),
            ),
            Claim(
                f"The data-free |W| term helps: PST beats PST without it at {s:g} sparsity",
                metric="test_accuracy",
                method=f"PST@{s:g}",
                baseline=f"PST w/o |W|@{s:g}",
                premises=(),
            ),
            Claim(
                f"The learned low-rank score helps: PST beats LoRA + magnitude at {s:g} sparsity",
                metric="test_accuracy",
                method=f"PST@{s:g}",
                baseline=f"LoRA+MaP@{s:g}",
                premises=(),
            ),
        ]
    acc = np.array([[np.mean(comparison.values(f"{a}@{s:g}", "test_accuracy")) for s in sp] for a in ARMS])
    params = np.array([comparison.values(f"{a}@{sp[0]:g}", "trainable_params")[0] for a in ARMS])
    return finish(
        SLUG,
        comparison,
        premises=[premise],
        claims=claims,
        quick=quick,
        smoke=quick,
        arrays={"sparsities": np.array(sp), "test_accuracy": acc, "trainable_params": params},
        notes={"arms": list(ARMS)},
        metrics=["test_accuracy", "val_accuracy", "achieved_sparsity", "trainable_params", "score_structure"],
    )


def plot(result) -> dict:
    from ....plotting import pyplot

    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    arms = result.notes["arms"]
    sp = result.arrays["sparsities"]
    for i, a in enumerate(arms):
        axes[0].plot(100 * sp, result.arrays["test_accuracy"][i], "o-", label=a)
    axes[0].set_xlabel("final sparsity of the hidden layers (%)")
    axes[0].set_ylabel("test accuracy (mean over seeds)")
    axes[0].legend(fontsize=8)
    axes[1].barh(arms, result.arrays["trainable_params"])
    axes[1].set_xscale("log")
    axes[1].set_xlabel("trainable parameters")
    fig.suptitle("sparse fine-tuning on digits 5-9 from a 0-4 pretrained MLP")
    fig.tight_layout()
    return {SLUG: fig}
