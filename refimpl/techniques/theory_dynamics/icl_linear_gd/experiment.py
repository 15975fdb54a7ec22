"""The experiment: linear self-attention models trained on random linear-regression prompts, compared by
their predictions with one and two steps of gradient descent and with ridge regression.

Setup.  d = 5, n = 10 context examples, label noise σ = 0.1 (`DIM`, `N_CONTEXT`, `NOISE`).  Models: one and
two residual linear self-attention layers (small random init), trained by Adam on fresh batches of 128
prompts for `STEPS` steps, gradients clipped at norm 1, mean squared error on the query.  Each model's Adam
rate comes from `LRS` by its mean squared error on validation prompts.  The algorithms it is compared with
are tuned on the same validation prompts: the step size of 1-step GD (in closed form: the least-squares
multiple of Σ y_i x_iᵀx_q), the step size of 2-step GD and the ridge λ (grids).  On 4000 test prompts per
seed: SPD(model, algorithm) = E[(ŷ_model − ŷ_alg)²]/E[y_q²] (the paper's squared prediction difference,
normalised).  `SEEDS` seeds (init, training prompts, validation and test prompts).
Premise.  The algorithms differ on these prompts: SPD(1-step GD, ridge) > 0.1, so "closer to GD than to
ridge" is a statement with content.
Claims (margins fixed before the first full run).  (1) One layer predicts like one GD step: SPD below 0.05.
(2) One layer is closer to one GD step than to ridge.  (3) Two layers are closer to ridge than one layer
is.  (4) Two layers are closer to two GD steps than to one.
"""

from __future__ import annotations

import numpy as np

from .... import tensor
from ....experiments import Claim, Method, Premise, compare, experiment, finish
from ....optim import Adam
from ....optim.clip import clip_grad_norm_
from . import LinearSelfAttention, gd_prediction, ridge_prediction, sample_tasks, spd, tokens

SLUG = "icl-linear-gd"
DIM, N_CONTEXT, NOISE = 5, 10, 0.1
STEPS, QUICK_STEPS = 4000, 300
BATCH = 128
N_VAL, N_TEST = 2000, 4000
LRS, QUICK_LRS = [1e-4, 3e-4, 1e-3, 3e-3], [1e-3]
ETA_GRID = np.geomspace(0.005, 0.3, 60)
LAMBDA_GRID = np.geomspace(1e-3, 10.0, 41)
SPD_MARGIN = 0.05
PREMISE_SPD = 0.1


def _mse(pred, yq) -> float:
    return float(np.mean((pred - yq) ** 2) / np.mean(yq**2))


def tuned_algorithms(val: dict, test: dict) -> dict:
    """1-step GD, 2-step GD and ridge, each tuned on the validation prompts; their test predictions."""
    args_v, args_t = (val["X"], val["y"], val["xq"]), (test["X"], test["y"], test["xq"])
    unit = gd_prediction(*args_v, 1.0)
    eta1 = float(np.sum(unit * val["yq"]) / np.sum(unit * unit))  # 1-step GD is linear in η
    eta2 = min(ETA_GRID, key=lambda e: _mse(gd_prediction(*args_v, e, 2), val["yq"]))
    lam = min(LAMBDA_GRID, key=lambda lam_: _mse(ridge_prediction(*args_v, lam_), val["yq"]))
    return {
        "gd1": gd_prediction(*args_t, eta1),
        "gd2": gd_prediction(*args_t, float(eta2), 2),
        "ridge": ridge_prediction(*args_t, float(lam)),
        "eta1": eta1,
        "eta2": float(eta2),
        "lambda": float(lam),
    }


def train_model(n_layers: int, lr: float, steps: int, seed: int) -> LinearSelfAttention:
    rng = np.random.default_rng([seed, 1])
    model = LinearSelfAttention(DIM, n_layers, rng=[seed, 2])
    opt = Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        b = sample_tasks(BATCH, N_CONTEXT, DIM, noise=NOISE, rng=rng)
        loss = ((model(tensor(tokens(b["X"], b["y"], b["xq"]))) - tensor(b["yq"])) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    return model


def _learner(n_layers: int, steps: int, keep: dict):
    def run(seed, lr):
        val = sample_tasks(N_VAL, N_CONTEXT, DIM, noise=NOISE, rng=[seed, 3])
        test = sample_tasks(N_TEST, N_CONTEXT, DIM, noise=NOISE, rng=[seed, 4])
        model = train_model(n_layers, lr, steps, seed)
        p_val = model(tensor(tokens(val["X"], val["y"], val["xq"]))).data
        p = model(tensor(tokens(test["X"], test["y"], test["xq"]))).data
        if not (np.all(np.isfinite(p_val)) and np.all(np.isfinite(p))):
            return {"val_mse": 1e6, "diverged": 1.0}  # a rate that blew up loses the selection
        alg = tuned_algorithms(val, test)
        yq = test["yq"]
        keep[(n_layers, seed, lr)] = {
            "pred": p[:200],
            "yq": yq[:200],
            **{k: alg[k][:200] for k in ("gd1", "gd2", "ridge")},
        }
        out = {
            "val_mse": _mse(p_val, val["yq"]),
            "test_mse": _mse(p, yq),
            "diverged": 0.0,
            "spd_gd1": spd(p, alg["gd1"], yq),
            "spd_gd2": spd(p, alg["gd2"], yq),
            "spd_ridge": spd(p, alg["ridge"], yq),
            "gd1_test_mse": _mse(alg["gd1"], yq),
            "gd2_test_mse": _mse(alg["gd2"], yq),
            "ridge_test_mse": _mse(alg["ridge"], yq),
            "spd_gd1_vs_ridge": spd(alg["gd1"], alg["ridge"], yq),
        }
        out["spd_gd1_minus_ridge"] = out["spd_gd1"] - out["spd_ridge"]
        out["spd_gd2_minus_gd1"] = out["spd_gd2"] - out["spd_gd1"]
        return out

    return run


@experiment(SLUG, seeds=tuple(range(5)), quick_seeds=(0, 1, 2))
def run(quick, seeds, progress):
    steps = QUICK_STEPS if quick else STEPS
    keep: dict = {}
    one, two = "linear attention, 1 layer", "linear attention, 2 layers"
    methods = [
        Method(one, _learner(1, steps, keep), grid={"lr": LRS}, quick_grid={"lr": QUICK_LRS}),
        Method(two, _learner(2, steps, keep), grid={"lr": LRS}, quick_grid={"lr": QUICK_LRS}),
    ]
    comparison = compare(methods, seeds, select="val_mse", maximize=False, quick=quick, progress=progress)
    premise = Premise(
        f"the algorithms differ on these prompts: SPD(1-step GD, ridge) above {PREMISE_SPD:g}",
        "spd_gd1_vs_ridge",
        one,
        threshold=PREMISE_SPD,
    )
    claims = [
        Claim(
            f"one layer predicts like one GD step (SPD below {SPD_MARGIN:g})",
            "spd_gd1",
            one,
            direction="less",
            margin=SPD_MARGIN,
            premises=(),
        ),
        Claim(
            "one layer is closer to one GD step than to ridge", "spd_gd1_minus_ridge", one, direction="less"
        ),
        Claim("two layers are closer to ridge than one layer is", "spd_ridge", two, one, direction="less"),
        Claim(
            "two layers are closer to two GD steps than to one", "spd_gd2_minus_gd1", two, direction="less"
        ),
    ]
    s0 = comparison.seeds[0]
    arrays = {}
    for name, layers in ((one, 1), (two, 2)):
        rec = keep[(layers, s0, comparison.selected[name]["lr"])]
        for k, v in rec.items():
            arrays[f"{k}_{layers}"] = np.asarray(v)
    return finish(
        SLUG,
        comparison,
        premises=[premise],
        claims=claims,
        quick=quick,
        smoke=quick,
        arrays=arrays,
        notes={"dim": DIM, "n_context": N_CONTEXT, "noise": NOISE, "steps": steps},
        metrics=[
            "val_mse",
            "test_mse",
            "spd_gd1",
            "spd_gd2",
            "spd_ridge",
            "gd1_test_mse",
            "gd2_test_mse",
            "ridge_test_mse",
            "spd_gd1_vs_ridge",
        ],
    )


def plot(result) -> dict:
    from ....plotting import pyplot

    plt = pyplot()
    a = result.arrays
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    for ax, layers in zip(axes[:2], (1, 2)):
        pred = a[f"pred_{layers}"]
        for k, mk in (("gd1", "o"), ("gd2", "s"), ("ridge", "x")):
            ax.plot(
                a[f"{k}_{layers}"],
                pred,
                mk,
                ms=3,
                alpha=0.6,
                label={"gd1": "1 GD step", "gd2": "2 GD steps", "ridge": "ridge"}[k],
            )
        lim = np.abs(pred).max() * 1.1
        ax.plot([-lim, lim], [-lim, lim], "k:", lw=0.8)
        ax.set_xlabel("the algorithm's prediction (tuned on validation prompts)")
        ax.set_ylabel(f"{layers}-layer linear attention's prediction")
        ax.set_title(f"{layers} layer{'s' if layers > 1 else ''}: first seed, 200 test prompts", fontsize=9)
        ax.legend(fontsize=7)
    ax = axes[2]
    names = list(result.selected)
    x = np.arange(len(names))
    for j, (key, lab) in enumerate(
        (("spd_gd1", "SPD to 1 GD step"), ("spd_gd2", "SPD to 2 GD steps"), ("spd_ridge", "SPD to ridge"))
    ):
        vals = [result.values(m, key) for m in names]
        ax.bar(
            x + 0.27 * (j - 1), [np.mean(v) for v in vals], 0.25, yerr=[np.std(v) for v in vals], label=lab
        )
    ax.set_xticks(x, names, fontsize=7)
    ax.set_ylabel("squared prediction difference / E[y²]")
    ax.set_title("mean over seeds (bars: std)", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return {SLUG: fig}
