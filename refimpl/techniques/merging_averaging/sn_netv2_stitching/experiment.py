"""The experiment: least-squares vs random stitching layers between two pretrained MLPs of different widths.

Setup.  Two anchors pretrained on the 8×8 digits (fixed hyperparameters, seeded): S = MLP 64-16-16-16-16-10
and L = MLP 64-128-128-128-128-10 (D = 4 blocks each).  The two-way stitching space holds 12 stitched
routes (S→L and L→S at cuts 1–3, S→L→S and L→S→L at cuts e1 < e2) over 6 shared stitching layers, with
costs between the two anchors'.  The anchors stay frozen; the stitching layers are fine-tuned jointly for a
fixed budget (EPOCHS passes of batches of 64, Adam), each step on one route drawn by resource-constrained
sampling (FLOPs groups with a gap of 5 % of L's FLOPs, uniform over groups, uniform within a group).
Methods.  `ls-init`: stitching layers initialised by least squares on the anchors' activations over the
training split, then fine-tuned (the paper's stitch, full-rank); `random-init`: the same layers with a
Linear's default init and the same fine-tuning (the ablation that lacks only the least-squares idea);
`ls-lowrank`: SN-Netv2's low-rank stitch (least-squares weight frozen, a rank-4 update and the bias
trained); `ls-untrained`: least squares without fine-tuning; `anchors`: S and L alone.  Each fine-tuned arm
tunes its learning rate on the validation split (mean validation accuracy over the 12 routes).
Metrics.  Mean accuracy over the 12 stitched routes; `interp_gap` = mean over routes of (test accuracy −
the straight line between the anchors' (FLOPs, test accuracy) at the route's FLOPs).
Premises.  The anchors differ (L beats S on validation by more than a point, else there is no trade-off to
cover); the initialisation matters (untrained least-squares stitches beat untrained random ones by more
than 5 points on validation).
Claims.  (1) Least-squares init beats random init at equal fine-tuning; (2) the fine-tuned stitches lie on
or above the line between the anchors, within a point (SN-Net's "interpolation-like" frontier); (3) the
low-rank stitch is within half a point of, or better than, the full-rank one (SN-Netv2's low-rank update).
"""

from __future__ import annotations

import functools

import numpy as np

from .... import nn
from ....experiments import Claim, Method, Premise, compare, experiment, finish, tasks, train
from . import (
    SNNet,
    group_by_flops,
    group_probabilities,
    init_stitches,
    route_flops,
    sample_route,
    stitch_routes,
    stitched_forward,
)

SLUG = "sn-netv2-stitching"
WIDTHS, DEPTH = (16, 128), 4
ANCHOR_LR, ANCHOR_EPOCHS = 3e-3, 40
EPOCHS, QUICK_EPOCHS = 30, 5
RANK = 4
GAP = 0.05  # FLOPs group gap, a fraction of the large anchor's FLOPs
LRS, QUICK_LRS = [3e-4, 1e-3, 3e-3, 1e-2, 3e-2], [3e-3]


@functools.cache
def anchors(seed: int) -> tuple:
    """(sd_S, sd_L): the two anchors pretrained on the digits with `seed`."""
    task = tasks.digits()
    out = []
    for w in WIDTHS:
        m = nn.MLP(
            [task.in_features] + [w] * DEPTH + [task.num_classes], rng=np.random.default_rng([seed, w])
        )
        train(m, task, lr=ANCHOR_LR, epochs=ANCHOR_EPOCHS, seed=seed)
        out.append(m.state_dict())
    return tuple(out)


def route_costs() -> np.ndarray:
    task = tasks.digits()
    return np.array(
        [route_flops(r, WIDTHS, task.in_features, task.num_classes) for r in stitch_routes(DEPTH)]
    )


class RouteSampler:
    """Before each batch, point the SNNet at a route drawn by resource-constrained sampling."""

    def __init__(self, model, seed: int):
        flops = route_costs()
        self.stitched = np.arange(2, len(flops))  # the anchors are frozen: nothing to train there
        self.groups = group_by_flops(flops[self.stitched], GAP * flops.max())
        self.probs = group_probabilities(len(self.groups))
        self.model, self.rng = model, np.random.default_rng([seed, 2307])

    def on_batch_begin(self, state):
        self.model.route = int(self.stitched[sample_route(self.groups, self.probs, self.rng)])


def _route_accuracies(sds, stitches, task) -> dict:
    routes = stitch_routes(DEPTH)
    return {
        s: np.array(
            [
                np.mean(
                    stitched_forward(sds, stitches, r, getattr(task, f"x_{s}")).argmax(1)
                    == getattr(task, f"y_{s}")
                )
                for r in routes
            ]
        )
        for s in ("val", "test")
    }


@functools.cache
def stitch_run(seed: int, how: str, lr: float, epochs: int, rank: int | None) -> dict:
    """Per-route {"val", "test"} accuracies (anchors first) after fine-tuning the stitches (epochs = 0: none)."""
    task = tasks.digits()
    sds = anchors(seed)
    stitches = init_stitches(sds, task.x_train, DEPTH, how, rng=[seed, 1])
    if epochs > 0:
        model = SNNet(sds, stitches, DEPTH, rank=rank, rng=[seed, 2])
        train(model, task, lr=lr, epochs=epochs, seed=seed, callbacks=[RouteSampler(model, seed)])
        stitches = model.stitches()
    return _route_accuracies(sds, stitches, task)


def _summary(acc) -> dict:
    flops = route_costs()
    s, big = acc["test"][0], acc["test"][1]
    line = s + (big - s) * (flops - flops[0]) / (flops[1] - flops[0])  # the anchors' straight line
    return {
        "val_accuracy": float(acc["val"][2:].mean()),
        "test_accuracy": float(acc["test"][2:].mean()),
        "interp_gap": float(np.mean(acc["test"][2:] - line[2:])),
    }


def _arms(epochs: int):
    def tuned(how, rank):
        def run(seed, lr):
            out = _summary(stitch_run(seed, how, lr, epochs, rank))
            if how == "random":  # the premise: does the initialisation matter before fine-tuning?
                ls0, rnd0 = (stitch_run(seed, h, 0.0, 0, None)["val"][2:].mean() for h in ("ls", "random"))
                out["init_gap"] = float(ls0 - rnd0)
            return out

        return run

    def untrained(seed):
        return _summary(stitch_run(seed, "ls", 0.0, 0, None))

    def anchors_only(seed):
        acc = stitch_run(seed, "ls", 0.0, 0, None)
        return {
            "val_accuracy": float(acc["val"][1]),
            "test_accuracy": float(acc["test"][1]),
            "small_test_accuracy": float(acc["test"][0]),
            "anchor_gap_val": float(acc["val"][1] - acc["val"][0]),
        }

    grid, quick = {"lr": LRS}, {"lr": QUICK_LRS}
    return [
        Method("ls-init", tuned("ls", None), grid=grid, quick_grid=quick),
        Method("random-init", tuned("random", None), grid=grid, quick_grid=quick),
        Method("ls-lowrank", tuned("ls", RANK), grid=grid, quick_grid=quick),
        Method("ls-untrained", untrained),
        Method("anchors", anchors_only),
    ]


P_ANCHORS = "the large anchor beats the small one on validation by more than a point (a trade-off to cover)"
P_INIT = "untrained least-squares stitches beat untrained random ones on validation by more than 5 points"


@experiment(SLUG, seeds=range(8), quick_seeds=(0, 1))
def run(quick, seeds, progress):
    epochs = QUICK_EPOCHS if quick else EPOCHS
    comparison = compare(_arms(epochs), seeds, select="val_accuracy", quick=quick, progress=progress)
    premises = [
        Premise(P_ANCHORS, metric="anchor_gap_val", method="anchors", threshold=0.01),
        Premise(P_INIT, metric="init_gap", method="random-init", threshold=0.05),
    ]
    claims = [
        Claim(
            "Least-squares-initialised stitches are more accurate on test than randomly initialised ones after "
            "the same fine-tuning",
            metric="test_accuracy",
            method="ls-init",
            baseline="random-init",
            premises=(P_INIT,),
        ),
        Claim(
            "The fine-tuned stitches lie on or above the straight line between the two anchors in (FLOPs, test "
            "accuracy), within a point",
            metric="interp_gap",
            method="ls-init",
            margin=-0.01,
            premises=(P_ANCHORS,),
        ),
        Claim(
            "The low-rank stitching update is as accurate on test as the full-rank one, within half a point",
            metric="test_accuracy",
            method="ls-lowrank",
            baseline="ls-init",
            margin=-0.005,
            premises=(),
        ),
    ]
    per_route = {}
    for name, how, rank in (
        ("ls-init", "ls", None),
        ("random-init", "random", None),
        ("ls-lowrank", "ls", RANK),
    ):
        lr = comparison.selected[name]["lr"]
        per_route[name] = np.array([stitch_run(s, how, lr, epochs, rank)["test"] for s in seeds])
    per_route["ls-untrained"] = np.array([stitch_run(s, "ls", 0.0, 0, None)["test"] for s in seeds])
    return finish(
        SLUG,
        comparison,
        premises=premises,
        claims=claims,
        quick=quick,
        smoke=quick,
        arrays={"flops": route_costs(), **{f"test_{k}": v for k, v in per_route.items()}},
        notes={
            "widths": list(WIDTHS),
            "depth": DEPTH,
            "epochs": epochs,
            "rank": RANK,
            "gap": GAP,
            "routes": [[list(seg) for seg in r] for r in stitch_routes(DEPTH)],
        },
        metrics=[
            "test_accuracy",
            "val_accuracy",
            "interp_gap",
            "init_gap",
            "anchor_gap_val",
            "small_test_accuracy",
        ],
    )


def plot(result) -> dict:
    from ....plotting import pyplot

    plt = pyplot()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.8))
    flops = result.arrays["flops"] / 1e3
    marks = {"ls-init": "o", "random-init": "x", "ls-lowrank": "^", "ls-untrained": "."}
    for name, m in marks.items():
        acc = result.arrays[f"test_{name}"].mean(0)
        ax1.scatter(flops[2:], acc[2:], marker=m, s=40, label=f"{name} (mean over seeds)")
    anchors = result.arrays["test_ls-init"].mean(0)[:2]
    ax1.plot(flops[:2], anchors, "k*--", ms=12, label="anchors S, L (line between)")
    ax1.set_xlabel("FLOPs (thousand multiply-accumulates)")
    ax1.set_ylabel("test accuracy")
    ax1.set_title("every route of the two-way stitching space")
    ax1.legend(fontsize=7)
    diffs = {
        "ls − random": np.subtract(
            result.values("ls-init", "test_accuracy"), result.values("random-init", "test_accuracy")
        ),
        "low-rank − full": np.subtract(
            result.values("ls-lowrank", "test_accuracy"), result.values("ls-init", "test_accuracy")
        ),
        "gap to line": np.asarray(result.values("ls-init", "interp_gap")),
    }
    for i, d in enumerate(diffs.values()):
        ax2.scatter(np.full(len(d), i) + np.linspace(-0.1, 0.1, len(d)), 100 * d, alpha=0.7)
        ax2.errorbar(i + 0.25, 100 * d.mean(), yerr=100 * d.std(ddof=1) / np.sqrt(len(d)), fmt="o", c="k")
    ax2.axhline(0, c="k", lw=0.8, label="no difference")
    ax2.set_xticks(range(len(diffs)), list(diffs))
    ax2.set_ylabel("mean test accuracy over routes (points)")
    ax2.set_title("paired by seed (mean ± s.e.)")
    ax2.legend(fontsize=7)
    fig.tight_layout()
    return {SLUG: fig}
