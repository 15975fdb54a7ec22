"""The experiment: a hypernetwork conditioned on the weight γ of a smoothness penalty, trained with the
default parametrization, with MIP, and with each of MIP's two changes alone.

Setup.  The task (`smoothing_task`, fixed data): noisy sin(3x) on a 64-point grid in [−1, 1] to fit; a
validation split on the interleaved grid with its own noise; a clean test split on a 128-point grid.  The
primary network is a 1-16-16-1 tanh MLP whose 321 weights θ(γ) the hypernetwork predicts; the loss of a
γ on a split is
    L_γ = (1 − γ)·mean((f − y)²) + γ·mean((Δf/Δx)²)      (data fit vs smoothness of f on the split's grid),
and a split's loss is L_γ averaged over γ ∈ {0, 0.1, …, 1}.  Training samples one γ ~ U[0, 1] per step
(the γ's are the "data" `fit` iterates over, one per batch) for a fixed number of steps with Adam.
Arms (same hypernetwork, same hyperlight initialisation including the per-tensor head; each tunes its
learning rate on the validation loss, mean over the first three seeds):
  default        raw γ in, output bias 0 at init: θ = h(γ);
  MIP            E(γ) = [cos, sin] in, output bias = θ₀: θ = θ₀ + h(E(γ));
  encoding-only  E(γ) in, output bias 0;      residual-only  raw γ in, output bias θ₀.
The test loss (mean over the γ grid) is recorded every `EVAL_EVERY` steps from step 0; convergence speed
is the mean of its log10 over the run (an area under the log-loss curve).  The budget was set from a pilot
(three seeds, the learning-rate grid) to end where every arm's curve has flattened, so the final loss is
the plateau and the area measures the way there.

Premise.  The default hypernetwork has the magnitude proportionality the paper is about: at
initialisation ‖θ(1)‖/‖θ(0.1)‖ > 2 (it is exactly 10 for zero biases).
Claims (margins fixed from the paper's statements before the full run).  (1) MIP converges faster than the
default: a lower area under the log10 test-loss curve (margin 0); (2) MIP's final test loss is no worse
than the default's (log10 ratio below log10 1.05); (3) with MIP the size of the predicted weights no
longer follows the input: |log10 ‖θ(1)‖/‖θ(0.1)‖| < log10 2 at initialisation.
"""

from __future__ import annotations

import math

import numpy as np

from ....autograd import ops
from ....autograd.tensor import Tensor, no_grad
from ....experiments import Claim, Method, Premise, compare, experiment, finish, train
from ....experiments.tasks import Task
from ....train import LambdaCallback
from . import HyperNet, init_norm_ratio, primary

SLUG = "mip-hypernetworks"
ARMS = {  # name: (encoding, residual)
    "default": (False, False),
    "MIP": (True, True),
    "encoding-only": (True, False),
    "residual-only": (False, True),
}
STEPS, QUICK_STEPS = 600, 150  # the full budget ends where every arm has plateaued (pilot)
EVAL_EVERY = 20
LR_GRID, QUICK_LR_GRID = [1e-3, 3e-3, 1e-2, 3e-2], [3e-3]
SELECTION_SEEDS = 3  # the learning rate is chosen on the mean validation loss of the first three seeds
GAMMAS = np.linspace(0.0, 1.0, 11)
DATA_SEED = 0


def smoothing_task(n: int = 64, noise: float = 0.1) -> Task:
    """Fixed 1-D data: train = noisy sin(3x) on an n-point grid in [−1, 1]; validation = the midpoints
    between the training points (n − 1), own noise; test = clean sin(3x) on a 2n-point grid.  Sorted x."""
    rng = np.random.default_rng(DATA_SEED)
    x_tr = np.linspace(-1.0, 1.0, n)[:, None]
    x_va = (x_tr[:-1] + x_tr[1:]) / 2
    x_te = np.linspace(-1.0, 1.0, 2 * n)[:, None]
    y_tr = np.sin(3 * x_tr) + noise * rng.normal(size=x_tr.shape)
    y_va = np.sin(3 * x_va) + noise * rng.normal(size=x_va.shape)
    return Task("sin3x-smoothing", x_tr, y_tr, x_va, y_va, x_te, np.sin(3 * x_te), meta={"noise": noise})


def mixed_loss(theta, x, y, gamma):
    """L_γ = (1 − γ)·mean((f − y)²) + γ·mean((Δf/Δx)²) of the primary network f_θ on the sorted grid x."""
    f = primary(theta, Tensor(x))
    d = f - Tensor(y)
    mse = ops.mean(d * d)
    dx = float(x[1, 0] - x[0, 0])
    df = (f[1:] - f[:-1]) * (1.0 / dx)
    smooth = ops.mean(df * df)
    return mse * (1.0 - gamma) + smooth * gamma


def split_loss(net, x, y, gammas=GAMMAS) -> np.ndarray:
    """L_γ of the hypernetwork's primary network on (x, y) for each γ in `gammas`."""
    with no_grad():
        return np.array([float(mixed_loss(net(g), x, y, float(g)).data) for g in gammas])


def _arm(name, quick):
    encoding, residual = ARMS[name]
    steps = QUICK_STEPS if quick else STEPS
    task = smoothing_task()

    def run(seed, lr):
        net = HyperNet(encoding, residual, rng=seed)
        ratio = init_norm_ratio(net)
        gammas = np.random.default_rng(10_000 + seed).uniform(0.0, 1.0, size=(steps, 1))
        curve = [float(split_loss(net, task.x_test, task.y_test).mean())]

        def checkpoint(state):
            if (state.step + 1) % EVAL_EVERY == 0:
                curve.append(float(split_loss(net, task.x_test, task.y_test).mean()))

        def loss_fn(theta, gamma):  # the batch is one γ; the data term uses the fixed training split
            return mixed_loss(theta, task.x_train, task.y_train, float(np.asarray(gamma).ravel()[0]))

        train(
            net,
            task,
            lr=lr,
            epochs=1,
            seed=seed,
            batch_size=1,
            loss_fn=loss_fn,
            x=gammas,
            y=gammas[:, 0],
            callbacks=[LambdaCallback(on_step_end=checkpoint)],
        )
        val, test = split_loss(net, task.x_val, task.y_val), split_loss(net, task.x_test, task.y_test)
        log_curve = np.log10(curve)
        return {
            "val_loss": float(val.mean()),
            "test_loss": float(test.mean()),
            "test_log10_loss": float(np.log10(test.mean())),
            "test_loss_gamma0": float(test[0]),
            "test_loss_gamma1": float(test[-1]),
            "test_log10_loss_auc": float(log_curve.mean()),
            "log10_init_norm_ratio": math.log10(ratio),
            "abs_log10_init_norm_ratio": abs(math.log10(ratio)),
            "init_norm_ratio": ratio,
            **{f"curve_{i}": float(v) for i, v in enumerate(log_curve)},
            **{f"final_{j}": float(v) for j, v in enumerate(test)},
        }

    return Method(name, run, grid={"lr": QUICK_LR_GRID if quick else LR_GRID})


@experiment(SLUG, seeds=tuple(range(10)), quick_seeds=(0, 1))
def run(quick, seeds, progress):
    methods = [_arm(name, quick) for name in ARMS]
    comparison = compare(
        methods,
        seeds,
        select="val_loss",
        maximize=False,
        quick=quick,
        selection_seeds=seeds[: 1 if quick else SELECTION_SEEDS],
        progress=progress,
    )
    premise = Premise(
        "the default hypernetwork's predicted weights scale with its input: ‖θ(1)‖/‖θ(0.1)‖ > 2 at init",
        metric="init_norm_ratio",
        method="default",
        threshold=2.0,
    )
    claims = [
        Claim(
            "MIP converges faster than the default hypernetwork (lower area under the log10 test-loss curve)",
            metric="test_log10_loss_auc",
            method="MIP",
            baseline="default",
            direction="less",
            margin=0.0,
        ),
        Claim(
            "MIP's final test loss is no worse than the default's (within 5 %)",
            metric="test_log10_loss",
            method="MIP",
            baseline="default",
            direction="less",
            margin=math.log10(1.05),
        ),
        Claim(
            "with MIP the predicted weights' size no longer follows the input: ‖θ(1)‖/‖θ(0.1)‖ within a "
            "factor 2 of 1 at init",
            metric="abs_log10_init_norm_ratio",
            method="MIP",
            direction="less",
            margin=math.log10(2.0),
            premises=(),
        ),
    ]
    n_curve = sum(1 for k in comparison.rows[0] if k.startswith("curve_"))
    curves = np.array(
        [np.mean([comparison.values(a, f"curve_{i}") for i in range(n_curve)], axis=1) for a in ARMS]
    )
    final = np.array(
        [np.mean([comparison.values(a, f"final_{j}") for j in range(len(GAMMAS))], axis=1) for a in ARMS]
    )
    steps = np.concatenate([[0], EVAL_EVERY * np.arange(1, n_curve)])
    return finish(
        SLUG,
        comparison,
        premises=[premise],
        claims=claims,
        quick=quick,
        smoke=quick,
        arrays={"steps": steps, "log10_test_curve": curves, "gammas": GAMMAS, "final_test_loss": final},
        notes={"arms": list(ARMS)},
        metrics=[
            "test_loss",
            "val_loss",
            "test_log10_loss_auc",
            "test_loss_gamma0",
            "test_loss_gamma1",
            "init_norm_ratio",
        ],
    )


def plot(result) -> dict:
    from ....plotting import pyplot

    plt = pyplot()
    a = result.arrays
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    for i, name in enumerate(result.notes["arms"]):
        style = "-" if name in ("default", "MIP") else ":"
        axes[0].plot(a["steps"], 10 ** a["log10_test_curve"][i], style, label=name)
        axes[1].plot(a["gammas"], a["final_test_loss"][i], "o" + style, ms=3, label=name)
    axes[0].set_yscale("log")
    axes[0].set_xlabel("step")
    axes[0].set_ylabel("test loss, mean over γ ∈ {0, 0.1, …, 1}\n(geometric mean over seeds)")
    axes[0].legend(fontsize=8)
    axes[1].set_yscale("log")
    axes[1].set_xlabel("γ")
    axes[1].set_ylabel("final test loss L_γ (mean over seeds)")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    return {SLUG: fig}
