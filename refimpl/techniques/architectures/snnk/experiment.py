"""The experiment: (a) the SNNK estimate of an exp layer against its closed form as the number of random
features m grows, and (b) a network whose middle exp layer is replaced by its SNNK, trained end to end, against
the original network, a narrower network of about the same parameter count, and a ridge regression.

Toy: `tabular.interaction_regression(n=1500, d=16)` (900 train / 300 validation / 300 test rows; the draw and the
initialisation follow the seed, so methods pair by seed): y = 0.5·xᵀw + two pair products + one triple product
+ N(0, 0.1²).  Metric: normalised MSE (MSE / Var(y)).

(a) Approximation: X̂ = the test rows normalised to unit norm, W (32 × 16) ~ N(0, I/16), the exact layer
exp(X̂ Wᵀ); ``prf-m16`` / ``prf-m256`` report log of the relative Frobenius error of Φ(X̂) Ψ(W)ᵀ (mean over 10
draws of ω).  Nothing is tuned.
(b) Training, full-batch Adam for S = 400 steps (15 in the quick run), each method tuned on validation NMSE
over its own 7-point grid (widened from 5 points after the first record put two choices on a grid edge):

* **mlp** — 16 → GELU(32) → exp layer 32 → 32 (`ExpLayer`, rows normalised) → 1;
* **snnk-m8** — the same with the middle layer replaced by `SNNKLayer` with m = 8 positive random features
  (Ψ ∈ ℝ^{32×8} trained, started at Ψ(W₀)): 288 instead of 1056 weights in that layer;
* **mlp-small** — 16 → GELU(22) → exp layer 22 → 22 → 1, about the parameter count of snnk-m8 (the ablation
  that reduces parameters without the kernel idea);
* **ridge** — linear regression with a ridge penalty λ (its grid; λ → 0 is no penalty, a natural limit).
Parameter counts are reported (``n_params``).

Premise (b): the task needs a nonlinear model — mlp's test NMSE is below ridge's by more than 0.1.
Claims, margins fixed from the paper's claims before running: (1–2) the SNNK estimate converges at the Monte
Carlo rate: log error(m = 256) − log error(m = 16) lies within ±0.3 of −log 4 (two one-sided claims);
(3) "competitive accuracy with fewer trainable parameters": snnk-m8's test NMSE is within 0.05 of mlp's;
(4) at about equal parameter count SNNK is no worse than shrinking the MLP: snnk-m8 − mlp-small < 0.
"""

from __future__ import annotations

import math

import numpy as np

from ....autograd.tensor import Tensor
from ....experiments import Claim, Method, Premise, compare, experiment, finish
from ....nn import functional as F
from ....optim import Adam
from .. import tabular
from . import Net, draw_omegas, exact_layer, snnk

SLUG = "snnk"
N, D, H, H_SMALL, M = 1500, 16, 32, 22, 8
LRS = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1]
LAMS = [1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0, 1000.0]
MS = (4, 16, 64, 256, 1024)
DRAWS = 10
TRAINED = ("mlp", "snnk-m8", "mlp-small", "ridge")


def _task(seed):
    return tabular.interaction_regression(N, D, seed)


def _nmse(pred, y):
    return float(np.mean((pred - y) ** 2) / np.var(y))


def approx_error(seed: int, m: int, draws: int = DRAWS) -> float:
    """Mean over `draws` draws of ω of ‖Φ(X̂)Ψ(W)ᵀ − exp(X̂Wᵀ)‖_F / ‖exp(X̂Wᵀ)‖_F on the seed's test rows."""
    x = _task(seed).x_test.astype(np.float64)
    X = x / np.linalg.norm(x, axis=1, keepdims=True)
    W = np.random.default_rng([seed, 7]).standard_normal((H, D)) / math.sqrt(D)
    exact = exact_layer(X, W)
    errs = [
        np.linalg.norm(snnk(X, W, draw_omegas(m, D, [seed, m, r])).data - exact) / np.linalg.norm(exact)
        for r in range(draws)
    ]
    return float(np.mean(errs))


def _approx_arm(m):
    def run(seed):
        return {"log_relerr": math.log(approx_error(seed, m)), "relerr": approx_error(seed, m)}

    return run


def _n_params(model):
    return float(sum(p.data.size for p in model.parameters()))


def _net_arm(kind, steps, curves):
    def run(seed, lr):
        task = _task(seed)
        if kind == "snnk-m8":
            model = Net(D, H, M, rng=seed)
        else:
            model = Net(D, H if kind == "mlp" else H_SMALL, None, rng=seed)
        opt = Adam(list(model.parameters()), lr=lr)
        x, y = Tensor(task.x_train), Tensor(task.y_train)
        curve = []
        for t in range(steps):
            opt.zero_grad()
            loss = F.mse_loss(model(x), y)
            loss.backward()
            opt.step()
            if t % 20 == 19 or t == steps - 1:
                curve.append(_nmse(model(Tensor(task.x_val)).data, task.y_val))
        curves[(kind, lr, seed)] = np.array(curve)
        val = _nmse(model(Tensor(task.x_val)).data, task.y_val)
        test = _nmse(model(Tensor(task.x_test)).data, task.y_test)
        if not np.isfinite(val):  # a diverged rate: worst possible score, still a finite metric
            val = test = 1e6
        return {"val_nmse": val, "test_nmse": test, "n_params": _n_params(model)}

    return run


def _ridge(seed, lam):
    task = _task(seed)
    A = np.c_[task.x_train.astype(np.float64), np.ones(len(task.x_train))]
    P = np.eye(A.shape[1]) * lam
    P[-1, -1] = 0.0  # no penalty on the intercept
    beta = np.linalg.solve(A.T @ A + P, A.T @ task.y_train)

    def pred(x):
        return np.c_[x.astype(np.float64), np.ones(len(x))] @ beta

    return {
        "val_nmse": _nmse(pred(task.x_val), task.y_val),
        "test_nmse": _nmse(pred(task.x_test), task.y_test),
        "n_params": float(beta.size),
    }


@experiment(SLUG, seeds=(0, 1, 2, 3, 4), quick_seeds=(0, 1))
def run(quick, seeds, progress):
    steps = 15 if quick else 400
    curves: dict = {}
    methods = [
        Method("prf-m16", _approx_arm(16)),
        Method("prf-m256", _approx_arm(256)),
        *[
            Method(k, _net_arm(k, steps, curves), grid={"lr": LRS}, quick_grid={"lr": [1e-2]})
            for k in TRAINED[:3]
        ],
        Method(
            "ridge",
            _ridge,
            grid={"lam": LAMS},
            quick_grid={"lam": [1e-1]},
            limits={"lam": ("lower", "λ → 0 is ordinary least squares (no penalty)")},
        ),
    ]
    comparison = compare(methods, seeds, select="val_nmse", maximize=False, quick=quick, progress=progress)
    premise = Premise(
        "the task needs a nonlinear model: the MLP's test NMSE is below ridge regression's by more than 0.1",
        "test_nmse",
        "ridge",
        baseline="mlp",
        threshold=0.1,
    )
    slope = -math.log(4.0)  # 1/√m from m = 16 to m = 256
    claims = [
        Claim(
            "the SNNK error falls as 1/√m: log error(m=256) − log error(m=16) > −log 4 − 0.3",
            "log_relerr",
            "prf-m256",
            baseline="prf-m16",
            direction="greater",
            margin=slope - 0.3,
            premises=(),
        ),
        Claim(
            "the SNNK error falls as 1/√m: log error(m=256) − log error(m=16) < −log 4 + 0.3",
            "log_relerr",
            "prf-m256",
            baseline="prf-m16",
            direction="less",
            margin=slope + 0.3,
            premises=(),
        ),
        Claim(
            "the network with an SNNK layer (m = 8) is competitive with the original: test NMSE within 0.05",
            "test_nmse",
            "snnk-m8",
            baseline="mlp",
            direction="less",
            margin=0.05,
        ),
        Claim(
            "at about the same parameter count, the SNNK network beats the narrower MLP (lower test NMSE)",
            "test_nmse",
            "snnk-m8",
            baseline="mlp-small",
            direction="less",
            margin=0.0,
        ),
    ]
    sel = {m: comparison.selected[m]["lr"] for m in TRAINED[:3]}
    err_curve = np.array([[approx_error(s, m, 3 if quick else DRAWS) for m in MS] for s in seeds])
    arrays = {
        "ms": np.array(MS, dtype=float),
        "approx_error": err_curve,
        "curves": np.array([np.mean([curves[(m, sel[m], s)] for s in seeds], axis=0) for m in TRAINED[:3]]),
    }
    return finish(
        SLUG,
        comparison,
        premises=[premise],
        claims=claims,
        quick=quick,
        smoke=quick,
        arrays=arrays,
        notes={"trained": list(TRAINED[:3]), "steps": steps, "H": H, "H_small": H_SMALL, "m": M, "d": D},
        metrics=["test_nmse", "val_nmse", "n_params", "log_relerr", "relerr"],
    )


def plot(result) -> dict:
    import matplotlib.pyplot as plt

    ms = np.asarray(result.arrays["ms"])
    err = np.asarray(result.arrays["approx_error"])
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    a.loglog(ms, err.mean(0), "o-", label="SNNK estimate (simulation)")
    a.loglog(ms, err.mean(0)[1] * np.sqrt(ms[1] / ms), "k--", label="1/√m through m = 16 (prediction)")
    a.set_xlabel("random features m")
    a.set_ylabel("relative error vs exp(x̂ᵀw)")
    a.legend(fontsize=8)
    curves = np.asarray(result.arrays["curves"])
    steps = result.notes["steps"]
    x = np.r_[np.arange(20, steps + 1, 20)[: curves.shape[1]]]
    x = x if len(x) == curves.shape[1] else np.linspace(1, steps, curves.shape[1])
    for i, name in enumerate(result.notes["trained"]):
        b.plot(x, curves[i], label=name)
    b.set_yscale("log")
    b.set_xlabel("Adam step")
    b.set_ylabel("validation NMSE (mean over seeds)")
    b.legend(fontsize=8)
    fig.tight_layout()
    return {SLUG: fig}
