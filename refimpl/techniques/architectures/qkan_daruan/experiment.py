"""The experiment: fitting functions with several frequencies — QKAN (DARUAN activations) against a Fourier-series
KAN, the same QKAN with fixed pre-processing, and an MLP, at (about) the same parameter count.

Tasks (x uniform in [-1, 1]^d, every KAN scales its input to u = πx; targets noiseless, fixed splits of
128 / 128 / 256 points from seed 1234):

* **1d** — f(x) = sin 2u + 0.7 cos(7u + 0.3), a KAN [1, 4, 1];
* **2d** — f(x₁, x₂) = sin(2u₁) cos(6u₂) + 0.5 sin(u₁ + u₂), a KAN [2, 4, 1].

Methods (parameters per edge in brackets; `notes["n_params"]` has the totals):

* **qkan** — DARUAN, r = 2 re-uploadings, trainable pre-processing w, b (4r + 3 = 11: 6 angles, 4 w/b, 1
  residual) — the paper's layer;
* **qkan-fixed** — the ablation lacking only the trainable pre-processing (w = 1, b = 0), given r = 4 so its
  count matches (2(r+1) + 1 = 11); its spectrum is the integers ≤ 4;
* **fourier** — Fourier KAN with G = 5 harmonics (2G + 1 = 11, plus an output bias);
* **mlp** — a 2-hidden-layer SiLU MLP whose width gives the parameter count closest to qkan's.

Training: full-batch Adam on the MSE, `STEPS` steps; each method's learning rate is chosen on the validation
log₁₀ MSE from the same 9-point grid (10⁻⁴ … 1; a diverged run counts as MSE 10⁶).  Premise (measured on the
target, reported in every run): more than 20 % of the target's variance sits at frequencies (in u) above 5,
the largest frequency one Fourier edge (G = 5) or one fixed-encoding edge (r = 4) can produce.  Claims,
margins fixed from the paper's claim (QKAN is more accurate than Fourier KAN and MLP at equal parameters; the
trainable pre-processing is what buys the spectrum) before running: in each task qkan's test log₁₀ MSE is below fourier's, mlp's and qkan-fixed's (margin 0).
"""

from __future__ import annotations

import functools

import numpy as np

from .... import nn
from ....autograd.tensor import Tensor
from ....experiments import Claim, Method, Premise, compare, experiment, finish, tasks, train
from ....nn import functional as F
from . import KAN, n_params

SLUG = "qkan-daruan"
STEPS, QUICK_STEPS = 600, 25
LRS = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1.0]
REPS, REPS_FIXED, GRID, HIDDEN = 2, 4, 5, 4
N = (128, 128, 256)
CUTOFF = 5  # the largest frequency of one Fourier (G = 5) or fixed-encoding (r = 4) edge


def target(name: str, x: np.ndarray) -> np.ndarray:
    """The noiseless targets of the two tasks (x in [-1, 1]^d, u = πx)."""
    u = np.pi * np.asarray(x, dtype=np.float64)
    if name == "1d":
        return np.sin(2 * u[:, 0]) + 0.7 * np.cos(7 * u[:, 0] + 0.3)
    return np.sin(2 * u[:, 0]) * np.cos(6 * u[:, 1]) + 0.5 * np.sin(u[:, 0] + u[:, 1])


def high_frequency_fraction(name: str, m: int = 64) -> float:
    """Fraction of the target's variance at frequencies above CUTOFF along some axis (a DFT on an m^d grid
    over one period of u)."""
    g = -1 + 2 * np.arange(m) / m
    d = 1 if name == "1d" else 2
    pts = np.stack(np.meshgrid(*([g] * d), indexing="ij"), -1).reshape(-1, d)
    F_ = np.fft.fftn(target(name, pts).reshape((m,) * d))
    P = np.abs(F_) ** 2
    P.flat[0] = 0.0
    k = np.abs(np.fft.fftfreq(m, 1.0 / m))
    K = np.max(np.stack(np.meshgrid(*([k] * d), indexing="ij")), 0)
    return float(P[K > CUTOFF].sum() / P.sum())


@functools.cache
def regression_task(name: str):
    d = 1 if name == "1d" else 2
    rng = np.random.default_rng(1234)
    xs = [rng.uniform(-1, 1, (n, d)) for n in N]
    ys = [target(name, x)[:, None] for x in xs]
    return tasks.Task(f"qkan-{name}", xs[0], ys[0], xs[1], ys[1], xs[2], ys[2], num_classes=0, meta={"d": d})


def mlp_width(d: int, budget: int) -> int:
    """The width h of a d → h → h → 1 MLP whose parameter count is closest to `budget`."""
    return min(range(1, 64), key=lambda h: abs(d * h + h + h * h + h + h + 1 - budget))


def build(kind: str, d: int, seed: int, dtype=np.float64):
    dims = [d, HIDDEN, 1]
    if kind == "qkan":
        return KAN(dims, "qkan", REPS, dtype=dtype, rng=[seed, 1])
    if kind == "qkan-fixed":
        return KAN(dims, "qkan-fixed", REPS_FIXED, dtype=dtype, rng=[seed, 1])
    if kind == "fourier":
        return KAN(dims, "fourier", GRID, dtype=dtype, rng=[seed, 1])
    h = mlp_width(d, n_params(KAN(dims, "qkan", REPS, dtype=dtype, rng=0)))
    return nn.Sequential(
        nn.Linear(d, h, dtype=dtype, rng=[seed, 2]),
        nn.SiLU(),
        nn.Linear(h, h, dtype=dtype, rng=[seed, 3]),
        nn.SiLU(),
        nn.Linear(h, 1, dtype=dtype, rng=[seed, 4]),
    )


def _mse(model, x, y) -> float:
    """The MSE, capped at 1e6 (a diverged run at a too-large learning rate counts as 1e6, not NaN)."""
    m = float(np.mean((model(Tensor(x)).data - y) ** 2))
    return m if np.isfinite(m) and m < 1e6 else 1e6


def _arm(task_name: str, kind: str, quick: bool):
    def run(seed, lr):
        task = regression_task(task_name)
        model = build(kind, task.meta["d"], seed)
        n = len(task.x_train)
        train(
            model,
            task,
            lr=lr,
            epochs=QUICK_STEPS if quick else STEPS,
            seed=seed,
            batch_size=n,
            loss_fn=F.mse_loss,
        )
        val, test = _mse(model, task.x_val, task.y_val), _mse(model, task.x_test, task.y_test)
        return {
            "val_log_mse": float(np.log10(val)),
            "test_log_mse": float(np.log10(test)),
            "test_mse": test,
            "n_params": float(n_params(model)),
            "high_freq_fraction": high_frequency_fraction(task_name),
        }

    return run


KINDS = ("qkan", "qkan-fixed", "fourier", "mlp")
TASKS = ("1d", "2d")


@experiment(SLUG, seeds=(0, 1, 2, 3, 4), quick_seeds=(0, 1))
def run(quick, seeds, progress):
    methods = [
        Method(f"{t}/{k}", _arm(t, k, quick), grid={"lr": list(LRS)}, quick_grid={"lr": [1e-2]})
        for t in TASKS
        for k in KINDS
    ]
    comparison = compare(methods, seeds, select="val_log_mse", maximize=False, quick=quick, progress=progress)
    premises, claims = [], []
    for t in TASKS:
        p = Premise(
            f"{t}: more than 20 % of the target's variance lies above frequency {CUTOFF}, beyond one Fourier "
            f"(G = {GRID}) or fixed-encoding (r = {REPS_FIXED}) edge",
            "high_freq_fraction",
            f"{t}/fourier",
            threshold=0.2,
        )
        premises.append(p)
        for base, why in (
            ("fourier", "than the Fourier KAN"),
            ("mlp", "than the MLP"),
            ("qkan-fixed", "than the same QKAN with fixed pre-processing (w = 1, b = 0)"),
        ):
            claims.append(
                Claim(
                    f"{t}: at equal parameter count the QKAN fits with lower test log10 MSE {why}",
                    "test_log_mse",
                    f"{t}/qkan",
                    baseline=f"{t}/{base}",
                    direction="less",
                    margin=0.0,
                    premises=(p.statement,),
                )
            )
    names = [m.name for m in methods]
    grid = np.linspace(-1, 1, 201)[:, None]
    curves = {}
    for k in KINDS:  # the 1-D fits of seed 0 at the selected learning rate, for the plot
        lr = comparison.selected[f"1d/{k}"]["lr"]
        model = build(k, 1, seeds[0])
        task = regression_task("1d")
        train(
            model,
            task,
            lr=lr,
            epochs=QUICK_STEPS if quick else STEPS,
            seed=seeds[0],
            batch_size=N[0],
            loss_fn=F.mse_loss,
        )
        curves[k] = model(Tensor(grid)).data[:, 0]
    arrays = {
        "test_log_mse": np.array([comparison.values(n, "test_log_mse") for n in names]),
        "fit_grid": grid[:, 0],
        "fit_target": target("1d", grid),
        **{f"fit_{k}": v for k, v in curves.items()},
    }
    return finish(
        SLUG,
        comparison,
        premises=premises,
        claims=claims,
        quick=quick,
        smoke=quick,
        arrays=arrays,
        notes={
            "methods": names,
            "n_params": {n: comparison.values(n, "n_params")[0] for n in names},
            "steps": QUICK_STEPS if quick else STEPS,
        },
        metrics=["test_log_mse", "val_log_mse", "test_mse", "n_params", "high_freq_fraction"],
    )


def plot(result) -> dict:
    import matplotlib.pyplot as plt

    names = result.notes["methods"]
    v = np.asarray(result.arrays["test_log_mse"])
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    pos = np.arange(len(names))
    axes[0].bar(pos, v.mean(1), yerr=v.std(1), color=["C1" if n.endswith("/qkan") else "C0" for n in names])
    axes[0].set_xticks(pos, names, rotation=45, ha="right", fontsize=8)
    axes[0].set_ylabel("test log10 MSE (mean ± sd over seeds)")
    g = np.asarray(result.arrays["fit_grid"])
    axes[1].plot(g, result.arrays["fit_target"], "k", lw=2, label="target")
    for k in KINDS:
        axes[1].plot(g, result.arrays[f"fit_{k}"], lw=1, label=k)
    axes[1].set_xlabel("x")
    axes[1].set_title("1-D fits (seed 0, selected lr)")
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    return {SLUG: fig}
