"""The experiment: does Lion with decoupled weight decay λ solve min f(x) s.t. ‖x‖∞ ≤ 1/λ — on a linear
regression, against an explicit constrained solver and the Lion-𝒦 ablation without the sign, and on a
trained classifier?

Part 1, regression (the theorem's setting: deterministic gradients).  `tasks.teacher_student` with a
linear teacher (16 inputs, 256 noisy training targets), a 16 → 1 linear model with bias in float64,
squared error, full-batch gradients, `STEPS` steps with a cosine decay of the rate to 0 (`train`,
`cosine=True`; one epoch is one step).  Every arm starts from the same seeded point *outside* the box
(each coordinate at ±1.5/λ … ±2.5/λ), so phase 1 (reaching the box) is part of the run.  λ = `LAM`.
Arms, each tuning its learning rate on the validation R² (mean over two selection seeds):
  Lion+λ              Lion, weight decay λ (the paper's method);
  projected GD        plain gradient descent, every iterate clipped into the box (the textbook
                      constrained solver: the reference the claim compares with);
  Lion-K quadratic+λ  Lion-𝒦 with 𝒦 = ½‖·‖² and the same λ — the same momentum and decoupled decay
                      without the sign (the ablation lacking only 𝒦 = ‖·‖₁);
  Lion λ=0            Lion without weight decay (what the premise measures).
The independent references: x_box by projected gradient on the exact quadratic (`box_optimum`), the
ridge minimiser argmin f + (λ/2)‖x‖² in closed form, and the least-squares solution.
Part 2, classifier.  A 64-64-10 MLP on the digits (`tasks.digits()`), batch 64, `EPOCHS` epochs, cosine
decay; Lion with λ = `LAM_MLP` against Lion without decay, each tuning its rate on validation accuracy.
Selection metric `val_score`: the validation R² for the regression arms, the validation accuracy for
the classifier arms (both higher-is-better; each arm is only compared with its own grid).

Premises.  (1) The unconstrained minimiser lies outside the box: Lion without decay ends with
λ‖x‖∞ − 1 > 0.  (2) The bound binds on the classifier: Lion without decay ends with a weight beyond 1/λ.
Claims (margins fixed from the statements before the full run).  (1) Lion+λ ends in the box (λ‖x_T‖∞ − 1
below 1e-6) from a start outside it.  (2) It reaches the box-constrained minimiser as closely as
projected GD, within 1 % of the box's half-width (λ‖x − x_box‖∞).  (3) The box comes from the sign: with
the same λ, Lion-𝒦 with 𝒦 = ½‖·‖² ends farther from x_box.  (4) That ablation minimises the ridge
objective instead (within 1 % of 1/λ of the ridge minimiser), as the Lion-𝒦 theory says.  (5) Every
weight of the classifier trained with Lion+λ respects |w| ≤ 1/λ (excess below 1e-6).
Grids.  Each widened by one value at the end where the grid-edge check found the first recording's choice
(Lion 0.0005 and 0.05, then 0.1; projected GD 0.01, Lion-K 0.003, the MLP arms 0.1), then recorded again.
Lion+λ on the regression still picks the largest rate (0.1): in a fixed number of steps a sign method with
a larger step reaches the box sooner; no claim depends on the rate (they are about where Lion ends).
"""

from __future__ import annotations

import functools

import numpy as np

from ....experiments import Claim, Method, Premise, compare, experiment, finish, split_metrics, tasks, train
from . import Lion, LionK, box_excess

SLUG = "lion-constrained"
LAM = 4.0  # regression: box half-width 1/λ = 0.25 (the teacher's weights have std 0.25)
LAM_MLP = 5.0  # classifier: |w| ≤ 0.2
STEPS, QUICK_STEPS = 2000, 300
EPOCHS, QUICK_EPOCHS = 20, 3
D_IN, N_TRAIN, N_VAL, N_TEST = 16, 256, 256, 1024
SIZES = [64, 64, 10]
BOX_TOL = 1e-6  # "inside the box": λ‖x‖∞ − 1 below this
DIST_TOL = 0.01  # "reaches the optimum": within 1 % of the box half-width
LION_LRS = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1]
GRIDS = {
    "Lion+λ": {"lr": LION_LRS},
    "projected GD": {"lr": [0.01, 0.03, 0.1, 0.2, 0.3, 0.5]},
    "Lion-K quadratic+λ": {"lr": [0.003, 0.01, 0.03, 0.1, 0.2, 0.3]},
    "Lion λ=0": {"lr": LION_LRS},
    "MLP Lion+λ": {"lr": [1e-3, 3e-3, 1e-2, 3e-2, 1e-1]},
    "MLP Lion λ=0": {"lr": [1e-3, 3e-3, 1e-2, 3e-2, 1e-1]},
}
QUICK_GRIDS = {
    "Lion+λ": {"lr": [0.01]},
    "projected GD": {"lr": [0.2]},
    "Lion-K quadratic+λ": {"lr": [0.1]},
    "Lion λ=0": {"lr": [0.01]},
    "MLP Lion+λ": {"lr": [3e-3]},
    "MLP Lion λ=0": {"lr": [3e-3]},
}


def regression_task():
    """The fixed linear teacher-student regression (noisy train/validation targets, clean test)."""
    return tasks.teacher_student(n_train=N_TRAIN, n_val=N_VAL, n_test=N_TEST, d_in=D_IN, teacher="linear")


def _design(x):
    return np.c_[np.asarray(x, dtype=np.float64), np.ones(len(x))]  # [x, 1]: weights then bias


def box_optimum(Z, y, radius: float, iters: int = 20000) -> np.ndarray:
    """argmin mean((Zw − y)²) subject to ‖w‖∞ ≤ radius, by projected gradient with step 1/L (L the
    gradient's Lipschitz constant) — independent of Lion."""
    A, b = 2 * Z.T @ Z / len(Z), 2 * Z.T @ y / len(Z)
    step = 1.0 / np.linalg.eigvalsh(A).max()
    w = np.zeros(Z.shape[1])
    for _ in range(iters):
        w = np.clip(w - step * (A @ w - b), -radius, radius)
    return w


@functools.cache
def references():
    """{"free": least squares, "box": the box-constrained minimiser, "ridge": argmin f + (λ/2)‖w‖²} on
    the training split (w = [weights, bias])."""
    t = regression_task()
    Z, y = _design(t.x_train), np.asarray(t.y_train, dtype=np.float64).ravel()
    A, b = 2 * Z.T @ Z / len(Z), 2 * Z.T @ y / len(Z)
    return {
        "free": np.linalg.lstsq(Z, y, rcond=None)[0],
        "box": box_optimum(Z, y, 1 / LAM),
        "ridge": np.linalg.solve(A + LAM * np.eye(len(b)), b),  # ∇f + λw = 0
    }


class BoxProjection:
    """`fit` callback: clip every parameter into [−radius, radius] after each optimizer step."""

    def __init__(self, params, radius: float):
        self.params, self.radius = list(params), float(radius)

    def on_step_end(self, state):
        for p in self.params:
            np.clip(p.data, -self.radius, self.radius, out=p.data)


class Trace:
    """`fit` callback: the box excess λ‖x‖∞ − 1 and the learning rate after every step (for the plot)."""

    def __init__(self, params, lam: float):
        self.params, self.lam = list(params), lam
        self.excess, self.lrs = [box_excess(self.params, lam)], []

    def on_step_end(self, state):
        self.excess.append(box_excess(self.params, self.lam))
        self.lrs.append(state.optimizer.param_groups[0]["lr"])


def _linear_model(seed):
    from ....nn import Linear

    model = Linear(D_IN, 1, dtype=np.float64, rng=np.random.default_rng(seed))
    rng = np.random.default_rng(1000 + seed)
    for p in (model.weight, model.bias):  # every coordinate outside the box: ±(1.5 … 2.5)/λ
        p.data[...] = rng.choice([-1.0, 1.0], size=p.data.shape) * rng.uniform(1.5, 2.5, p.data.shape) / LAM
    return model


def _optimizer(name, params, lr):
    from .... import optim

    if name == "Lion+λ":
        return Lion(params, lr=lr, weight_decay=LAM)
    if name == "Lion λ=0":
        return Lion(params, lr=lr)
    if name == "Lion-K quadratic+λ":
        return LionK(params, lr=lr, weight_decay=LAM, K="quadratic")
    if name == "projected GD":
        return optim.SGD(params, lr=lr)
    raise ValueError(f"unknown arm {name!r}")


def fit_regression(name: str, seed: int, lr: float, steps: int, trace: bool = False):
    """Train arm `name` on the regression; returns (model, Trace or None, diverged)."""
    from ....nn import functional as F

    t = regression_task()
    model = _linear_model(seed)
    params = list(model.parameters())
    callbacks = [BoxProjection(params, 1 / LAM)] if name == "projected GD" else []
    tr = Trace(params, LAM) if trace else None
    if tr is not None:
        callbacks.append(tr)
    diverged = False
    try:
        train(
            model,
            t,
            optimizer=_optimizer(name, params, lr),
            epochs=steps,
            seed=seed,
            batch_size=N_TRAIN,  # full batch: one epoch is one step
            cosine=True,
            loss_fn=F.mse_loss,
            callbacks=callbacks,
        )
    except FloatingPointError:
        diverged = True
    return model, tr, diverged


def _regression_arm(name: str, quick: bool) -> Method:
    steps = QUICK_STEPS if quick else STEPS

    def run(seed, lr):
        from ....train import predict

        t = regression_task()
        model, _, diverged = fit_regression(name, seed, lr, steps)
        w = np.r_[model.weight.data.ravel(), model.bias.data.ravel()]
        ref = references()
        yv, yt = (np.asarray(a, dtype=np.float64) for a in (t.y_val, t.y_test))
        if diverged or not np.all(np.isfinite(w)):
            val_mse, test_mse, w = float(np.var(yv)) * 10, float(np.var(yt)) * 10, np.full_like(w, 1e3)
        else:
            val_mse = float(np.mean((predict(model, t.x_val).astype(np.float64) - yv) ** 2))
            test_mse = float(np.mean((predict(model, t.x_test).astype(np.float64) - yt) ** 2))
        val_r2 = 1.0 - val_mse / float(np.var(yv))
        return {
            "val_score": val_r2,
            "val_r2": val_r2,
            "test_mse": test_mse,
            "box_excess": float(LAM * np.abs(w).max() - 1),
            "dist_box": float(LAM * np.abs(w - ref["box"]).max()),
            "dist_ridge": float(LAM * np.abs(w - ref["ridge"]).max()),
            "dist_free": float(LAM * np.abs(w - ref["free"]).max()),
            "diverged": float(diverged),
        }

    return Method(name, run, grid=GRIDS[name], quick_grid=QUICK_GRIDS[name])


def _mlp_arm(name: str, quick: bool) -> Method:
    epochs = QUICK_EPOCHS if quick else EPOCHS

    def run(seed, lr):
        from ....nn import MLP

        t = tasks.digits()
        model = MLP(SIZES, rng=np.random.default_rng(seed))
        wd = LAM_MLP if name == "MLP Lion+λ" else 0.0
        opt = Lion(model.parameters(), lr=lr, weight_decay=wd)
        train(model, t, optimizer=opt, epochs=epochs, seed=seed, batch_size=64, cosine=True)
        out = split_metrics(model, t)
        return {
            "val_score": out["val_accuracy"],
            **out,
            "box_excess": box_excess(model.parameters(), LAM_MLP),
            "max_abs_weight": float(max(np.abs(p.data).max() for p in model.parameters())),
        }

    return Method(name, run, grid=GRIDS[name], quick_grid=QUICK_GRIDS[name])


@experiment(SLUG, seeds=range(8), quick_seeds=(0, 1))
def run(quick, seeds, progress):
    names = list(GRIDS)
    methods = [_mlp_arm(n, quick) if n.startswith("MLP") else _regression_arm(n, quick) for n in names]
    comparison = compare(
        methods,
        seeds,
        select="val_score",
        quick=quick,
        progress=progress,
        selection_seeds=seeds[:1] if quick else seeds[:2],
    )
    outside = "the unconstrained minimiser lies outside the box: Lion without decay ends with λ‖x‖∞ > 1"
    binds = "the bound binds on the classifier: Lion without decay ends with a weight beyond 1/λ"
    premises = [
        Premise(outside, "box_excess", "Lion λ=0", threshold=0.0, strict=True),
        Premise(binds, "box_excess", "MLP Lion λ=0", threshold=0.0, strict=True),
    ]
    claims = [
        Claim(
            "Lion with weight decay λ ends inside the box ‖x‖∞ ≤ 1/λ from a start outside it",
            "box_excess",
            "Lion+λ",
            direction="less",
            margin=BOX_TOL,
            premises=(outside,),
        ),
        Claim(
            "Lion with weight decay λ reaches the box-constrained minimiser as closely as projected gradient "
            "descent (within 1 % of the box half-width)",
            "dist_box",
            "Lion+λ",
            "projected GD",
            direction="less",
            margin=DIST_TOL,
            premises=(outside,),
        ),
        Claim(
            "The box comes from the sign: Lion-K with K = ½‖·‖² and the same λ ends farther from the box "
            "minimiser than Lion",
            "dist_box",
            "Lion+λ",
            "Lion-K quadratic+λ",
            direction="less",
            premises=(outside,),
        ),
        Claim(
            "Lion-K with K = ½‖·‖² minimises the ridge objective f + (λ/2)‖x‖² instead (within 1 % of 1/λ)",
            "dist_ridge",
            "Lion-K quadratic+λ",
            direction="less",
            margin=DIST_TOL,
            premises=(),
        ),
        Claim(
            "A classifier trained with Lion and weight decay λ keeps every weight within |w| ≤ 1/λ",
            "box_excess",
            "MLP Lion+λ",
            direction="less",
            margin=BOX_TOL,
            premises=(binds,),
        ),
    ]
    steps = QUICK_STEPS if quick else STEPS
    lr = comparison.selected["Lion+λ"]["lr"]
    _, tr, _ = fit_regression("Lion+λ", seeds[0], lr, steps, trace=True)
    finals = {}
    for n in ("Lion+λ", "projected GD", "Lion-K quadratic+λ", "Lion λ=0"):
        model, _, _ = fit_regression(n, seeds[0], comparison.selected[n]["lr"], steps)
        finals[n] = np.r_[model.weight.data.ravel(), model.bias.data.ravel()]
    ref = references()
    mlp = ["MLP Lion λ=0", "MLP Lion+λ"]
    return finish(
        SLUG,
        comparison,
        premises=premises,
        claims=claims,
        quick=quick,
        smoke=quick,
        arrays={
            "trace_excess": np.asarray(tr.excess),
            "trace_lr": np.asarray(tr.lrs),
            "ref_free": ref["free"],
            "ref_box": ref["box"],
            "ref_ridge": ref["ridge"],
            "final_lion": finals["Lion+λ"],
            "final_pgd": finals["projected GD"],
            "final_quadratic": finals["Lion-K quadratic+λ"],
            "final_free": finals["Lion λ=0"],
            "mlp_max_abs_weight": np.array([comparison.values(n, "max_abs_weight") for n in mlp]),
            "mlp_test_accuracy": np.array([comparison.values(n, "test_accuracy") for n in mlp]),
        },
        notes={"lam": LAM, "lam_mlp": LAM_MLP, "steps": steps, "mlp_methods": mlp, "trace_seed": seeds[0]},
        metrics=[
            "val_score",
            "test_mse",
            "test_accuracy",
            "box_excess",
            "dist_box",
            "dist_ridge",
            "dist_free",
            "max_abs_weight",
            "diverged",
        ],
    )


def plot(result) -> dict:
    from ....plotting import pyplot

    plt = pyplot()
    a, lam = result.arrays, result.notes["lam"]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    ax = axes[0]
    e = a["trace_excess"]
    bound = e[0] * np.r_[1.0, np.cumprod(1 - a["trace_lr"] * lam)]
    ax.semilogy(np.maximum(e, 1e-17), label="Lion+λ: λ‖x_t‖∞ − 1")
    ax.semilogy(bound, "k--", lw=1, label="bound e₀·Π(1 − η_t λ)")
    ax.set_xlabel("step")
    ax.set_title(f"phase 1: reaching the box (seed {result.notes['trace_seed']})", fontsize=9)
    ax.legend(fontsize=7)
    ax = axes[1]
    order = np.argsort(a["ref_free"])
    i = np.arange(len(order))
    ax.axhspan(-1 / lam, 1 / lam, color="0.92", label="box ‖x‖∞ ≤ 1/λ")
    ax.plot(i, a["ref_free"][order], "k_", ms=10, label="least squares")
    ax.plot(i, a["ref_box"][order], "ks", mfc="none", ms=8, label="box minimiser")
    ax.plot(i, a["ref_ridge"][order], "kD", mfc="none", ms=6, label="ridge minimiser")
    ax.plot(i, a["final_lion"][order], "o", color="C0", ms=4, label="Lion+λ")
    ax.plot(i, a["final_pgd"][order], "x", color="C1", ms=5, label="projected GD")
    ax.plot(i, a["final_quadratic"][order], "^", color="C2", ms=4, label="Lion-K ½‖·‖² + λ")
    ax.set_xlabel("coordinate (sorted by least squares)")
    ax.set_title("final weights and the three minimisers", fontsize=9)
    ax.legend(fontsize=6, ncol=2)
    ax = axes[2]
    names = result.notes["mlp_methods"]
    for k, row in enumerate(a["mlp_max_abs_weight"]):
        ax.plot(np.full(len(row), k), row, "o", color=f"C{k}", ms=4)
    ax.axhline(1 / result.notes["lam_mlp"], color="k", ls="--", lw=1, label="1/λ")
    acc = a["mlp_test_accuracy"].mean(axis=1)
    ax.set_xticks(range(len(names)), [f"{n}\ntest acc {v:.3f}" for n, v in zip(names, acc)], fontsize=8)
    ax.set_ylabel("max |w| over the MLP (seeds)")
    ax.set_title("digits MLP", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return {SLUG: fig}
