"""The experiment: post-train only the router of a pretrained mixture-of-experts classifier, with RoMA's
manifold regulariser, with the task loss alone, or not at all.

Toy: a mixture of T = 4 synthetic binary tasks.  Task t labels a feature vector z ∈ ℝ⁶ by the sign of
w_tᵀz (random teacher directions); the model's input is x = [z, c] where c = one-hot(t) + noise is the task
cue the router can read.  A `SoftMoE` (4 experts, each a tanh MLP 10 → 16 → 2, soft routing) is
**pretrained** on 2000 samples with a clean cue (noise σ = 0.1): the experts specialise and the router keys on
the cue.  Downstream, the cue is **noisy** (σ = 0.8, a shift in how the hidden state carries the task), so
samples of one task are routed differently — the misalignment RoMA targets.  An external "embedding model"
gives each sample a task embedding e = one-hot(t) + noise (σ = 0.3), independent of the router's input.

Post-training set 200 samples (validation 600, test 2000), full-batch Adam on the router parameters only for
150 steps; experts frozen.  Successful set S = post-training samples the pretrained model gets right, with
their pretrained routing weights as fixed targets; neighbours: k = 5 by cosine similarity of e (a sample in
S never picks itself), σ = 0.4 (the third-party defaults).

Methods (each tuned on validation accuracy, on the first seed, over its own 6 × 3 grid):

* **roma** — task loss + λ · manifold regulariser; grid lr × λ;
* **task-only** — task loss alone (the ablation lacking only the regulariser); grid lr × weight decay;
* **none** — the pretrained model, no post-training (nothing to tune).

Premise: the pretrained router is misaligned downstream — its routing consistency (share of test samples
whose top-1 expert is their task's most common top-1 expert) is below 0.9.
Claims, margins fixed from the paper's claim before running (RoMA beats router fine-tuning baselines and
improves the base model by several points): (1) roma − task-only test accuracy > 0; (2) roma − none test
accuracy > 0.02; (3) roma routes more consistently than task-only (routing consistency difference > 0).
"""

from __future__ import annotations

import functools

import numpy as np

from ....autograd.tensor import Tensor
from ....experiments import Claim, Method, Premise, compare, experiment, finish
from ....nn import functional as F
from ....optim import Adam
from . import SoftMoE, knn_neighbours, neighbour_weights, roma_loss

SLUG = "roma-routing-alignment"
T, C, D_Z, HIDDEN, E = 4, 4, 6, 16, 4
D_IN = D_Z + 2 * T
CUE_OLD_PRE, CUE_OLD_POST, CUE_NEW_POST, EMB_NOISE = 0.1, 1.0, 0.3, 0.3
N_PRE, N_POST, N_VAL, N_TEST = 2000, 200, 600, 2000
K, SIGMA = 5, 0.4
METHODS = ("roma", "task-only", "none")
LRS = [1e-2, 3e-2, 1e-1, 3e-1, 1.0, 3.0]


def make_tasks(seed: int = 0) -> np.ndarray:
    """The T teacher matrices W_t (C × d_z), fixed across experiment seeds."""
    return np.random.default_rng([seed, 77]).standard_normal((T, C, D_Z))


def sample(n: int, downstream: bool, rng, teachers) -> dict:
    """n samples of the task mixture: task id t, label argmax W_t z, input x = [z, c_old, c_new] and the
    external task embedding e = one-hot(t) + N(0, EMB_NOISE²).  Pretraining: c_old = one-hot(t) + N(0, 0.1²),
    c_new pure noise N(0, 1).  Downstream: c_old = one-hot(t) + N(0, 1²) (the old cue has faded) and
    c_new = one-hot(t) + N(0, 0.3²) (the task now shows in a direction the router never used)."""
    t = rng.integers(0, T, n)
    z = rng.standard_normal((n, D_Z))
    y = np.einsum("ncd,nd->nc", teachers[t], z).argmax(axis=1)
    onehot = np.eye(T)[t]
    old_noise, new_scale, new_noise = (
        (CUE_OLD_POST, 1.0, CUE_NEW_POST) if downstream else (CUE_OLD_PRE, 0.0, 1.0)
    )
    c_old = onehot + old_noise * rng.standard_normal((n, T))
    c_new = new_scale * onehot + new_noise * rng.standard_normal((n, T))
    x = np.concatenate([z, c_old, c_new], axis=1)
    return {"t": t, "x": x, "y": y, "e": onehot + EMB_NOISE * rng.standard_normal((n, T))}


def routing_consistency(r: np.ndarray, t: np.ndarray) -> float:
    """Share of samples whose top-1 expert is the most common top-1 expert of their task."""
    top = r.argmax(axis=1)
    agree = 0
    for task in np.unique(t):
        counts = np.bincount(top[t == task], minlength=r.shape[1])
        agree += counts.max()
    return float(agree / len(t))


def _fit(model, params, loss_fn, lr, steps, weight_decay=0.0):
    opt = Adam(params, lr=lr, weight_decay=weight_decay)
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        opt.step()


def _metrics(model, split) -> tuple:
    y, r = model.forward_with_routing(split["x"])
    return (
        float((y.data.argmax(axis=1) == split["y"]).mean()),
        float(F.cross_entropy(y, split["y"]).data),
        r.data,
    )


@functools.cache
def _setup(seed: int, quick: bool):
    """Seed → (pretrained model state, data splits).  Data splits are fixed (seed 0); the seed varies the
    pretraining initialisation."""
    teachers = make_tasks()
    rng = np.random.default_rng([0, 1])
    pre = sample(N_PRE, False, rng, teachers)
    post, val, test = (sample(n, True, rng, teachers) for n in (N_POST, N_VAL, N_TEST))
    model = SoftMoE(D_IN, HIDDEN, C, E, rng=seed, dtype=np.float64)
    _fit(
        model,
        list(model.parameters()),
        lambda: F.cross_entropy(model(pre["x"]), pre["y"]),
        1e-2,
        150 if quick else 400,
    )
    state = {n: p.data.copy() for n, p in model.named_parameters()}
    return state, {"pre": pre, "post": post, "val": val, "test": test}


def _model(state):
    m = SoftMoE(D_IN, HIDDEN, C, E, rng=0, dtype=np.float64)
    for n, p in m.named_parameters():
        p.data[...] = state[n]
    return m


def _arm(kind: str, steps: int, quick: bool):
    def run(seed, lr=0.0, lam=0.0, wd=0.0):
        state, d = _setup(seed, quick)
        model = _model(state)
        post = d["post"]
        if kind != "none":
            y0, r0 = model.forward_with_routing(post["x"])
            ok = y0.data.argmax(axis=1) == post["y"]
            S = np.nonzero(ok)[0]  # the successful set and its (fixed) pretrained routing weights
            pos = np.full(len(post["y"]), -1)
            pos[S] = np.arange(len(S))
            idx, sims = knn_neighbours(post["e"], post["e"][S], K, exclude=pos)
            W = neighbour_weights(sims, SIGMA)
            r_nb = r0.data[S][idx]
            x = Tensor(post["x"])

            def loss():
                y, r = model.forward_with_routing(x)
                return roma_loss(F.cross_entropy(y, post["y"]), r, r_nb, W, lam if kind == "roma" else 0.0)

            _fit(model, model.router_parameters(), loss, lr, steps, weight_decay=wd)
        out = {}
        for split in ("val", "test"):
            acc, ce, r = _metrics(model, d[split])
            out[f"{split}_accuracy"], out[f"{split}_loss"] = acc, ce
            out[f"{split}_routing_consistency"] = routing_consistency(r, d[split]["t"])
        out["pretrain_accuracy"] = _metrics(model, d["pre"])[0]
        return out

    return run


@experiment(SLUG, seeds=(0, 1, 2, 3, 4), quick_seeds=(0, 1))
def run(quick, seeds, progress):
    steps = 40 if quick else 150
    methods = [
        Method(
            "roma",
            _arm("roma", steps, quick),
            grid={"lr": LRS, "lam": [0.3, 1.0, 3.0]},
            quick_grid={"lr": [3e-2], "lam": [1.0]},
        ),
        Method(
            "task-only",
            _arm("task-only", steps, quick),
            grid={"lr": LRS, "wd": [0.0, 1e-2, 1e-1]},
            quick_grid={"lr": [3e-2], "wd": [0.0]},
            limits={"wd": ("lower", "weight decay 0 is the plain task-loss fine-tuning")},
        ),
        Method("none", _arm("none", steps, quick)),
    ]
    comparison = compare(methods, seeds, select="val_accuracy", quick=quick, progress=progress)
    premise = Premise(
        "the pretrained router is misaligned downstream: routing consistency below 0.9",
        "test_routing_consistency",
        "none",
        threshold=0.9,
        direction="less",
    )
    claims = [
        Claim(
            "RoMA beats router post-training with the task loss only (test accuracy)",
            "test_accuracy",
            "roma",
            baseline="task-only",
        ),
        Claim(
            "RoMA improves the pretrained model by more than 2 points of test accuracy",
            "test_accuracy",
            "roma",
            baseline="none",
            margin=0.02,
        ),
        Claim(
            "RoMA routes samples of one task more consistently than task-only post-training",
            "test_routing_consistency",
            "roma",
            baseline="task-only",
        ),
    ]
    return finish(
        SLUG,
        comparison,
        premises=[premise],
        claims=claims,
        quick=quick,
        smoke=quick,
        notes={
            "methods": list(METHODS),
            "steps": steps,
            "k": K,
            "sigma": SIGMA,
            "cue_noise": [CUE_OLD_PRE, CUE_OLD_POST, CUE_NEW_POST],
        },
        metrics=[
            "test_accuracy",
            "val_accuracy",
            "test_loss",
            "test_routing_consistency",
            "val_routing_consistency",
            "pretrain_accuracy",
        ],
    )


def plot(result) -> dict:
    import matplotlib.pyplot as plt

    names = result.notes["methods"]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    for ax, metric in zip(axes, ("test_accuracy", "test_routing_consistency")):
        vals = [[row[metric] for row in result.table if row["method"] == m] for m in names]
        ax.bar(
            range(len(names)),
            [np.mean(v) for v in vals],
            yerr=[np.std(v) for v in vals],
            color=["C0", "C1", "C7"],
        )
        for i, v in enumerate(vals):
            ax.plot([i] * len(v), v, "k.", ms=4)
        ax.set_xticks(range(len(names)), names)
        ax.set_ylabel(metric.replace("_", " "))
        lo = min(min(v) for v in vals)
        ax.set_ylim(max(0.0, lo - 0.05), 1.0)
    fig.tight_layout()
    return {SLUG: fig}
