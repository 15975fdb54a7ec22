"""The experiment: LAMB against Adam, AdamW and LARS at the same large batch, each tuned on validation,
with small-batch Adam as the reference of what the epoch budget can reach.

Setup.  Regression labelled by a fixed random teacher MLP (`tasks.teacher_student` with a large training
split, so that even the large batch takes many steps); a 16-64-64-1 ReLU student, mean squared error.
Every run trains for the same number of epochs with the same schedule shape: linear warm-up over the
first `WARMUP` of the steps, then linear decay to zero (stepped once per optimizer step), for every
optimizer.  The large batch is `LARGE` (`EPOCHS`·N/`LARGE` steps); the reference is Adam at batch
`SMALL` (`LARGE`/`SMALL` times as many steps).  Weight matrices get weight decay and (LAMB, LARS) the
trust ratio, biases neither (`layerwise_groups`, the BERT/TF-Addons convention).
Grids.  Every arm tunes its learning rate on the validation R² = 1 − MSE/Var(y) (the validation MSE,
on a scale where higher is better; mean over two selection seeds); AdamW, LARS and LAMB also tune the
weight decay; plain Adam, with nothing else to tune, gets a learning-rate grid of the same size.  LAMB's and LARS's rate is a relative step (the update norm is lr·‖x‖), so their
grid sits lower than Adam's.
Premises.  (1) The large batch costs accuracy at this budget: tuned Adam at `LARGE` ends with a test MSE
more than 10 % above tuned Adam at `SMALL` (the regime in which a large-batch optimizer has something
to recover).  (2) The layers move at different relative speeds under Adam: the mean relative step
‖Δx‖/‖x‖ of the most-moved weight matrix is more than twice that of the least-moved one (what LAMB's
trust ratio equalises; LAMB's own spread is 1 by construction).
Claims (metric: log test MSE, so differences are relative).  At the large batch LAMB beats (1) AdamW,
the ablation without the trust ratio, (2) Adam and (3) LARS; (4) LAMB at the large batch loses at most
10 % of test MSE against small-batch Adam ("large batches without degradation").
Grid.  Weight decay 0.001 … 0.3 (Adam's rate grid grew from 15 to 20 points to keep the sizes equal); 0.001
was added after the first recording, when the grid-edge check found LARS at batch 4096 at the lowest decay
then tried (0.01).  LARS picks the new lowest (0.001) again; the grid's end is the approach to
no decay at all, so it was not widened further.
"""

from __future__ import annotations

import math

import numpy as np

from ....experiments import Claim, Method, Premise, compare, experiment, finish, tasks
from . import LAMB, LARS, layerwise_groups

SLUG = "lamb"
N_TRAIN, N_VAL, N_TEST, D_IN = 32768, 4096, 8192, 16
SIZES = [D_IN, 64, 64, 1]
SMALL, LARGE = 128, 4096
EPOCHS, QUICK_EPOCHS = 30, 5
WARMUP = 0.1  # fraction of the steps spent in linear warm-up
TOLERANCE = math.log(1.1)  # "without degradation": at most 10 % higher MSE (log scale)
LR_GRIDS = {
    "Adam": [
        float(f"{v:.2g}") for v in np.geomspace(1e-3, 1.0, 20)
    ],  # 0.001 … 1, as many points as the others
    "AdamW": [0.01, 0.03, 0.1, 0.3, 1.0],
    "LARS": [0.01, 0.02, 0.05, 0.1, 0.2],
    "LAMB": [0.005, 0.01, 0.02, 0.05, 0.1],
}
WD_GRID = [0.001, 0.01, 0.1, 0.3]  # AdamW, LARS, LAMB (0.01 is BERT's)
QUICK_GRIDS = {"Adam": {"lr": [0.05]}, "AdamW": {"lr": [0.1], "weight_decay": [0.01]}}
QUICK_GRIDS.update({k: {"lr": [0.02], "weight_decay": [0.01]} for k in ("LARS", "LAMB")})


def task():
    """The fixed large teacher-student task (MLP teacher, noisy train/validation targets, clean test)."""
    return tasks.teacher_student(n_train=N_TRAIN, n_val=N_VAL, n_test=N_TEST, d_in=D_IN)


def make_optimizer(name: str, model, lr: float, weight_decay: float = 0.0):
    from .... import optim

    if name == "Adam":
        return optim.Adam(model.parameters(), lr=lr)
    if name == "AdamW":
        return optim.AdamW(layerwise_groups(model, weight_decay), lr=lr)
    if name == "LARS":
        return LARS(layerwise_groups(model, weight_decay, layer_adaptation=True), lr=lr, momentum=0.9)
    if name == "LAMB":
        return LAMB(layerwise_groups(model, weight_decay, layer_adaptation=True), lr=lr)
    raise ValueError(f"unknown optimizer {name!r}")


def warmup_linear_decay(total: int, warmup: int):
    """lr factor of optimizer step t: (t+1)/W during warm-up, then linear decay to 0 at step `total`."""

    def factor(t: int) -> float:
        if t < warmup:
            return (t + 1) / warmup
        return max(0.0, (total - t) / (total - warmup))

    return factor


class RelativeSteps:
    """`fit` callback: ‖Δx‖/‖x‖ of every weight matrix at every optimizer step (the quantity the trust
    ratio fixes to lr); `spread(skip)` is the largest over the smallest per-layer mean after `skip` steps."""

    def __init__(self, model):
        self.params = [p for p in model.parameters() if p.data.ndim >= 2]
        self.rows: list = []

    def on_batch_begin(self, state):
        self._before = [p.data.astype(np.float64) for p in self.params]

    def on_step_end(self, state):
        self.rows.append(
            [
                np.linalg.norm(p.data - b) / max(np.linalg.norm(b), 1e-30)
                for p, b in zip(self.params, self._before)
            ]
        )

    def spread(self, skip: int) -> float:
        rows = np.asarray(self.rows[skip:] or self.rows)
        means = rows.mean(axis=0)
        return float(means.max() / max(means.min(), 1e-30))


def _mse(model, x, y, cap: float) -> float:
    from ....train import predict

    err = float(np.mean((predict(model, x).astype(np.float64) - y) ** 2))
    return err if np.isfinite(err) and err < cap else cap  # a diverged run is no better than predicting 0


def _arm(name: str, batch: int, quick: bool) -> Method:
    epochs = QUICK_EPOCHS if quick else EPOCHS

    def run(seed, lr, weight_decay=0.0):
        from ....nn import MLP
        from ....nn import functional as F
        from ....optim import LambdaLR
        from ....train import LambdaCallback, fit

        t = task()
        model = MLP(SIZES, rng=np.random.default_rng(seed))
        opt = make_optimizer(name, model, lr, weight_decay)
        total = epochs * -(-len(t.x_train) // batch)
        warm = max(1, round(WARMUP * total))
        sched = LambdaLR(opt, warmup_linear_decay(total, warm))
        rel = RelativeSteps(model)
        diverged = 0.0
        try:
            fit(
                model,
                F.mse_loss,
                (t.x_train, t.y_train),
                opt,
                epochs=epochs,
                batch_size=batch,
                seed=seed,
                progress=False,
                callbacks=[rel, LambdaCallback(on_step_end=lambda s: sched.step())],
            )
        except FloatingPointError:
            diverged = 1.0
        val = _mse(model, t.x_val, t.y_val, cap=float(np.mean(t.y_val.astype(np.float64) ** 2)))
        test = _mse(model, t.x_test, t.y_test, cap=float(np.mean(t.y_test.astype(np.float64) ** 2)))
        return {
            "val_r2": 1.0 - val / float(np.var(t.y_val.astype(np.float64))),  # selected on (higher is better)
            "val_mse": val,
            "test_mse": test,
            "test_log_mse": math.log(test),
            "relative_step_spread": rel.spread(skip=warm),
            "steps": float(total),
            "diverged": diverged,
        }

    grid = {"lr": LR_GRIDS[name]} if name == "Adam" else {"lr": LR_GRIDS[name], "weight_decay": WD_GRID}
    limits = {"weight_decay": ("lower", "the approach to no decay")} if "weight_decay" in grid else {}
    return Method(f"{name}@{batch}", run, grid=grid, quick_grid=QUICK_GRIDS[name], limits=limits)


@experiment(SLUG, seeds=range(8), quick_seeds=(0, 1))
def run(quick, seeds, progress):
    small, large = f"Adam@{SMALL}", f"LAMB@{LARGE}"
    methods = [_arm("Adam", SMALL, quick)] + [
        _arm(n, LARGE, quick) for n in ("Adam", "AdamW", "LARS", "LAMB")
    ]
    comparison = compare(
        methods,
        seeds,
        select="val_r2",
        quick=quick,
        progress=progress,
        selection_seeds=seeds[:1] if quick else seeds[:2],
    )
    gap = (
        f"the large batch costs accuracy: tuned Adam at batch {LARGE} ends more than 10 % above batch {SMALL}"
    )
    spread = "under Adam the layers' relative steps ‖Δx‖/‖x‖ differ by more than a factor of two"
    premises = [
        Premise(gap, "test_log_mse", f"Adam@{LARGE}", threshold=TOLERANCE, baseline=small),
        Premise(spread, "relative_step_spread", f"Adam@{LARGE}", threshold=2.0),
    ]
    claims = [
        Claim(
            f"At batch {LARGE} LAMB reaches a lower test MSE than AdamW (LAMB without the trust ratio)",
            "test_log_mse",
            large,
            f"AdamW@{LARGE}",
            direction="less",
        ),
        Claim(
            f"At batch {LARGE} LAMB reaches a lower test MSE than Adam",
            "test_log_mse",
            large,
            f"Adam@{LARGE}",
            direction="less",
        ),
        Claim(
            f"At batch {LARGE} LAMB reaches a lower test MSE than LARS",
            "test_log_mse",
            large,
            f"LARS@{LARGE}",
            direction="less",
        ),
        Claim(
            f"LAMB at batch {LARGE} loses at most 10 % of test MSE against Adam at batch {SMALL}",
            "test_log_mse",
            large,
            small,
            direction="less",
            margin=TOLERANCE,
            premises=(gap,),
        ),
    ]
    names = [m.name for m in methods]
    return finish(
        SLUG,
        comparison,
        premises=premises,
        claims=claims,
        quick=quick,
        smoke=quick,
        arrays={
            "test_mse": np.array([comparison.values(n, "test_mse") for n in names]),
            "relative_step_spread": np.array([comparison.values(n, "relative_step_spread") for n in names]),
        },
        notes={
            "methods": names,
            "small": SMALL,
            "large": LARGE,
            "epochs": EPOCHS if not quick else QUICK_EPOCHS,
        },
        metrics=[
            "test_mse",
            "val_mse",
            "val_r2",
            "test_log_mse",
            "relative_step_spread",
            "steps",
            "diverged",
        ],
    )


def plot(result) -> dict:
    from ....plotting import pyplot

    plt = pyplot()
    names = result.notes["methods"]
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(10, 3.8))
    mse = result.arrays["test_mse"]
    for i, row in enumerate(mse):
        ax.plot(np.full(len(row), i), row, "o", color="0.6", ms=3)
        ax.plot([i], [np.exp(np.mean(np.log(row)))], "D", color=f"C{i}", ms=8)
    ax.set_xticks(range(len(names)), names, rotation=20)
    ax.set_yscale("log")
    ax.set_ylabel("test MSE (seeds; diamond: geometric mean)")
    ax.set_title(f"{result.notes['epochs']} epochs, warm-up + linear decay")
    for i, name in enumerate(names):
        rows = [r for r in result.selection if r["method"] == name]
        if not rows:
            continue
        lrs = sorted({r["lr"] for r in rows})
        best = [1.0 - max(r["score"] for r in rows if r["lr"] == lr) for lr in lrs]  # 1 − R² = MSE/Var
        bx.plot(lrs, best, "o-", color=f"C{i}", label=name)
    bx.set_xscale("log")
    bx.set_yscale("log")
    bx.set_xlabel("learning rate (LARS/LAMB: relative step)")
    bx.set_ylabel("validation MSE / Var(y)\n(best weight decay)")
    bx.set_title("selection grid")
    if result.selection:
        bx.legend(fontsize=7)
    else:  # quick mode: one grid point per arm, nothing was selected
        bx.text(0.5, 0.5, "no grid in quick mode", ha="center", va="center", transform=bx.transAxes)
    fig.tight_layout()
    return {SLUG: fig}
