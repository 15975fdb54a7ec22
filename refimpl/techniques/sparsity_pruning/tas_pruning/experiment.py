"""The experiment: TAS width search on a 64-128-128-10 MLP on the digits, then the pruned net trained with
knowledge distillation, against the two ablations that each lack one of the paper's ideas.

Setup.  Per seed: the unpruned teacher MLP is trained (fixed recipe).  The TAS super-network of the same
sizes is searched (weights on one half of the training split, the width logits α on the other half,
alternating steps; fixed search settings: set once so that the argmax widths land near the budget, never
looked at the students' accuracy) towards a parameter budget of `BUDGET` × the
teacher's parameters; the argmax widths are taken.  Three arms, each trained from scratch on the whole
training split, each with its own grid chosen on the validation split:
  * "TAS+KD": searched widths, KD from the teacher (grid: lr × temperature);
  * "TAS": the same searched widths, plain cross-entropy (grid: lr × weight decay — same grid size);
  * "uniform+KD": the largest uniform width whose parameter count does not exceed that of the searched
    widths (so at most the same budget), KD from the teacher (grid: lr × temperature).
Premises.  (KD) the teacher is more accurate than the pruned net trained without it; (search) the searched
widths are not uniform (otherwise the search has nothing to add).
Claims.  (1) KD helps the searched net (TAS+KD > TAS).  (2) The searched widths beat uniform widths at the
same budget, both with KD (TAS+KD > uniform+KD).
"""

from __future__ import annotations

import functools

import numpy as np

from ....experiments import Claim, Method, Premise, compare, experiment, finish, split_metrics, tasks, train
from . import SearchMLP, cost_loss, kd_loss, mlp_params, uniform_width_for_budget

SLUG = "tas-pruning"
SIZES = [64, 128, 128, 10]
BUDGET = 0.15  # fraction of the teacher's parameters
KD_WEIGHT = 0.9  # λ of Eq. 8, fixed
SEARCH = {"tau_max": 10.0, "tau_min": 0.1, "arch_lr": 0.1, "cost_weight": 2.0, "tolerance": 0.2, "lr": 3e-3}


def _epochs(quick):
    return (
        {"teacher": 10, "search": 6, "student": 10} if quick else {"teacher": 30, "search": 30, "student": 40}
    )


@functools.cache
def _teacher(seed: int, epochs: int):
    """The unpruned MLP of `seed`: its logits on the training split and its split metrics."""
    from ....autograd.tensor import Tensor, no_grad
    from ....nn import MLP

    task = tasks.digits()
    model = MLP(SIZES, rng=np.random.default_rng(seed))
    train(model, task, lr=3e-3, epochs=epochs, seed=seed)
    with no_grad():
        logits = model(Tensor(task.x_train)).data.astype(np.float32)
    return logits, split_metrics(model, task)


def search(seed: int, epochs: int, budget_fraction: float = BUDGET, sizes=SIZES, settings=None) -> dict:
    """Run the TAS search (bi-level, alternating steps) and return the argmax widths and a trace."""
    from ....autograd.tensor import Tensor
    from ....nn import functional as F
    from ....optim import Adam
    from . import tau_schedule

    s = {**SEARCH, **(settings or {})}
    task = tasks.digits()
    rng = np.random.default_rng(10_000 + seed)
    perm = np.random.default_rng(0).permutation(len(task.y_train))  # fixed halves: weights | α
    half = len(perm) // 2
    (xa, ya), (xb, yb) = [(task.x_train[i], task.y_train[i]) for i in (perm[:half], perm[half:])]
    net = SearchMLP(sizes, rng=seed)
    budget = budget_fraction * mlp_params(sizes)
    w_opt = Adam(net.weight_parameters(), lr=s["lr"])
    a_opt = Adam([net.alpha], lr=s["arch_lr"])
    bs, trace = 64, {"cost": [], "expected": []}
    for ep in range(epochs):
        net.tau = tau_schedule(s["tau_max"], s["tau_min"], ep / max(epochs - 1, 1))
        ia, ib = rng.permutation(len(ya)), rng.permutation(len(yb))
        for k in range(0, min(len(ia), len(ib)) - bs + 1, bs):
            w_opt.zero_grad()  # ω step on half A
            F.cross_entropy(net(Tensor(xa[ia[k : k + bs]])), ya[ia[k : k + bs]]).backward()
            w_opt.step()
            a_opt.zero_grad()  # α step on half B (Eq. 7)
            loss = F.cross_entropy(net(Tensor(xb[ib[k : k + bs]])), yb[ib[k : k + bs]])
            current = mlp_params([sizes[0], *net.argmax_widths(), sizes[-1]])
            lc = cost_loss(net.expected_cost(), current, budget, s["tolerance"])  # Eq. 6
            (loss if lc is None else loss + lc * s["cost_weight"]).backward()
            for p in net.weight_parameters():
                p.grad = None
            a_opt.step()
        trace["cost"].append(mlp_params([sizes[0], *net.argmax_widths(), sizes[-1]]))
        trace["expected"].append(float(net.expected_cost().data))
    return {"widths": net.argmax_widths(), "budget": budget, "probabilities": net.probabilities(), **trace}


@functools.cache
def _searched(seed: int, epochs: int) -> tuple:
    return tuple(search(seed, epochs)["widths"])


def _student(seed, widths, lr, temperature, weight_decay, kd, epochs, teacher_epochs):
    from ....nn import MLP

    task = tasks.digits()
    t_logits, t_metrics = _teacher(seed, teacher_epochs)
    model = MLP([SIZES[0], *widths, SIZES[-1]], rng=np.random.default_rng(seed + 1))
    if kd:
        y = np.concatenate([task.y_train[:, None].astype(np.float32), t_logits], axis=1)

        def loss_fn(out, yb):
            yb = np.asarray(getattr(yb, "data", yb))
            return kd_loss(out, yb[:, 1:], yb[:, 0].astype(np.int64), temperature, KD_WEIGHT)  # Eq. 8

        train(model, task, lr=lr, epochs=epochs, seed=seed, loss_fn=loss_fn, y=y, cosine=True)
    else:
        train(model, task, lr=lr, epochs=epochs, seed=seed, weight_decay=weight_decay, cosine=True)
    out = split_metrics(model, task)
    hidden = np.array(widths, dtype=float)
    return {
        **out,
        "params": float(mlp_params([SIZES[0], *widths, SIZES[-1]])),
        "param_fraction": float(mlp_params([SIZES[0], *widths, SIZES[-1]]) / mlp_params(SIZES)),
        "teacher_test_accuracy": t_metrics["test_accuracy"],
        "teacher_gap": t_metrics["test_accuracy"] - out["test_accuracy"],
        "width_spread": float((hidden.max() - hidden.min()) / hidden.max()),
        **{f"width_{i}": float(w) for i, w in enumerate(widths)},
    }


def _methods(quick):
    ep = _epochs(quick)

    def tas_widths(seed):
        return list(_searched(seed, ep["search"]))

    def uniform_widths(seed):
        p = mlp_params([SIZES[0], *tas_widths(seed), SIZES[-1]])
        return [uniform_width_for_budget(p, SIZES[0], SIZES[-1], len(SIZES) - 2)] * (len(SIZES) - 2)

    def tas_kd(seed, lr, temperature):
        return _student(seed, tas_widths(seed), lr, temperature, 0.0, True, ep["student"], ep["teacher"])

    def tas_plain(seed, lr, weight_decay):
        return _student(seed, tas_widths(seed), lr, 1.0, weight_decay, False, ep["student"], ep["teacher"])

    def uniform_kd(seed, lr, temperature):
        return _student(seed, uniform_widths(seed), lr, temperature, 0.0, True, ep["student"], ep["teacher"])

    lrs, qlr = [3e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1.0], [3e-3]
    kd_grid, kd_quick = {"lr": lrs, "temperature": [2.0, 4.0]}, {"lr": qlr, "temperature": [4.0]}
    limits = {"weight_decay": ("lower", "weight decay 0 is no penalty")}
    return [
        Method("TAS+KD", tas_kd, grid=kd_grid, quick_grid=kd_quick),
        Method(
            "TAS",
            tas_plain,
            grid={"lr": lrs, "weight_decay": [0.0, 1e-3]},
            quick_grid={"lr": qlr, "weight_decay": [0.0]},
            limits=limits,
        ),
        Method("uniform+KD", uniform_kd, grid=kd_grid, quick_grid=kd_quick),
    ]


@experiment(SLUG, seeds=(0, 1, 2, 3, 4), quick_seeds=(0, 1))
def run(quick, seeds, progress):
    comparison = compare(_methods(quick), seeds, select="val_accuracy", quick=quick, progress=progress)
    kd_premise = Premise(
        "the unpruned teacher is more accurate than the searched net trained without KD",
        metric="teacher_gap",
        method="TAS",
        threshold=0.0,
        strict=True,  # shown by the interval, not by a mean that a single seed can tip
    )
    search_premise = Premise(
        "the searched widths are not uniform across the hidden layers",
        metric="width_spread",
        method="TAS+KD",
        threshold=0.0,
        strict=True,
    )
    claims = [
        Claim(
            "KD from the unpruned net improves the searched pruned net (TAS+KD > TAS without KD)",
            metric="test_accuracy",
            method="TAS+KD",
            baseline="TAS",
            direction="greater",
            margin=0.0,
            premises=(kd_premise.statement,),
        ),
        Claim(
            "TAS-searched widths beat uniform widths at the same parameter budget, both trained with KD",
            metric="test_accuracy",
            method="TAS+KD",
            baseline="uniform+KD",
            direction="greater",
            margin=0.0,
            premises=(search_premise.statement,),
        ),
    ]
    names = ["TAS+KD", "TAS", "uniform+KD"]
    ep = _epochs(quick)
    probs = np.stack([search(s, ep["search"])["probabilities"] for s in seeds[:1]])[0] if not quick else None
    arrays = {
        "test_accuracy": np.array([comparison.values(n, "test_accuracy") for n in names]),
        "widths": np.array(
            [[comparison.values(n, f"width_{i}") for i in range(len(SIZES) - 2)] for n in names]
        ),
    }
    if probs is not None:
        arrays["width_probabilities"] = probs
    return finish(
        SLUG,
        comparison,
        premises=[kd_premise, search_premise],
        claims=claims,
        quick=quick,
        smoke=quick,
        arrays=arrays,
        notes={"methods": names, "budget_fraction": BUDGET, "search": SEARCH, "kd_weight": KD_WEIGHT},
        metrics=["test_accuracy", "val_accuracy", "params", "param_fraction", "teacher_gap", "width_spread"],
    )


def plot(result) -> dict:
    from ....plotting import pyplot

    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    names = result.notes["methods"]
    acc = result.arrays["test_accuracy"]
    for i in range(len(names)):
        axes[0].plot(np.full(acc.shape[1], i), acc[i], "o", alpha=0.6)
        axes[0].plot([i - 0.2, i + 0.2], [acc[i].mean()] * 2, "k-")
    axes[0].set_xticks(range(len(names)), names)
    axes[0].set_ylabel("test accuracy (per seed, mean)")
    axes[0].set_title(f"pruned MLP at ≤ {100 * result.notes['budget_fraction']:.0f} % of the parameters")
    w = result.arrays["widths"]
    for i, n in enumerate(names):
        axes[1].plot(range(1, w.shape[1] + 1), w[i].mean(axis=1), "o-", label=n)
    axes[1].set_xlabel("hidden layer")
    axes[1].set_ylabel("width (mean over seeds)")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    return {SLUG: fig}
