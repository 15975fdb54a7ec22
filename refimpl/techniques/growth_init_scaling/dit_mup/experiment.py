"""The experiment: learning-rate transfer across width for a DDPM denoiser, DiT-μP against SP and against μP
with the timestep path left in SP.

Setup.  Data: two moons (`refimpl.data.make_moons`, noise 0.05, standardised), fixed splits of 1024 / 512
/ 1024 clean points, each paired with fixed draws of (t, ε) — 4 per training point, 2 per validation and test
point — under DDPM's linear schedule (T = 1000).  The denoiser (`DiTMLPDenoiser`: x-embedder, a two-layer
timestep embedder on 16 sinusoidal features, one hidden block, zero-initialised readout, SiLU) is trained
with Adam (batch 128, 6 epochs) on the noise-prediction MSE, at widths n ∈ {32, 64, 128, 256} with base width
n₀ = 32 (the proxy), sweeping the base learning rate over 2⁻¹⁴ … 2⁻⁶ per (arm, width, seed).  At n = n₀ the
three arms are the same network, so the base tuning is shared.  Arms:

* ``DiT-μP``  — the paper's roles (x- and t-embedder first layers input, t-embedder second layer and block
  hidden, readout output) under MuAdam's rules;
* ``SP``      — standard parametrization everywhere (the original DiT);
* ``μP, SP time path`` — μP on the data path, standard rules on both timestep-embedder layers: the ablation
  that lacks only the paper's role assignment for the conditioning path.

Each width's optimum lr* is chosen on the validation loss (parabola-refined in log₂ lr, `lr_transfer.py`); a
run whose loss is not finite counts as the zero predictor's loss.  The rate tuned at n₀ is then used at the
widest width and its test loss compared with the test loss at the rate best (on validation) there.
A coordinate check measures the premise of the role assignment: after 5 Adam steps at lr 2⁻⁹ on fixed
batches, the RMS change of the timestep embedding c(t) on the validation inputs, per width; its width
exponent is a log-log fit.

Premises.  (1) Under SP the optimum moves with width: its lr* spreads over more than one octave.  (2) With the
time path in SP, the timestep embedding's update grows with width (exponent > ½; theory 1 under Adam).
Claims (margins fixed before the first full run).  (1) DiT-μP's lr* spreads over fewer octaves than SP's;
(2) the lr tuned at n₀ costs less test loss at the widest width under DiT-μP than under SP; (3) DiT-μP's
time-embedding update exponent is below ¼ (theory 0) and (4) at least ½ below the ablation's; (5) DiT-μP's
lr* spreads over fewer octaves than the ablation's, and (6) its transfer regret is smaller.
"""

from __future__ import annotations

import functools

import numpy as np

from ....data import make_moons
from ....experiments import Claim, Method, Premise, compare, experiment, finish, train
from ....experiments.tasks import Task
from ....nn import functional as F
from ..coord_check import loglog_slope
from ..lr_transfer import LRSweep, plot_loss_vs_lr, plot_optimum_vs_width, refined_log2_argmin
from ..parametrization import param_groups
from . import PARTS, DiTMLPDenoiser, ddpm_schedule, noised, timestep_features

SLUG = "dit-mup"
BASE = 32
N_FREQ = 16
COORD_LR, COORD_STEPS = 2.0**-9, 5
ARMS = {
    "DiT-μP": "mup",
    "SP": "standard",
    "μP, SP time path": {p: ("standard" if p.startswith("t_embed") else "mup") for p in PARTS},
}


def _setup(quick: bool):
    """widths, learning rates, epochs."""
    if quick:
        return [32, 128], [2.0**k for k in (-11, -9, -7)], 2
    return [32, 64, 128, 256], [2.0**k for k in range(-14, -5)], 6


@functools.cache
def moons_ddpm_task() -> Task:
    """Two moons under DDPM noise: inputs [x_t, φ(t)] (2 + 16 columns), targets ε; fixed splits."""
    alpha_bar = ddpm_schedule(1000)

    def split(n, draws, seed):
        x0, _ = make_moons(n, noise=0.05, seed=seed, dtype=np.float64)
        x0 = (x0 - np.array([0.5, 0.25])) / np.array([0.87, 0.5])  # ≈ zero mean, unit variance
        rng = np.random.default_rng(seed + 100)
        x0 = np.repeat(x0, draws, axis=0)
        t = rng.integers(0, len(alpha_bar), len(x0))
        eps = rng.standard_normal(x0.shape)
        z = np.concatenate([noised(x0, t, eps, alpha_bar), timestep_features(t, N_FREQ)], axis=1)
        return z.astype(np.float32), eps.astype(np.float32)

    return Task("two-moons-ddpm", *split(1024, 4, 1), *split(512, 2, 2), *split(1024, 2, 3))


def _model(parametrization, width, seed):
    return DiTMLPDenoiser(
        2, width, n_freq=N_FREQ, depth=1, base_width=BASE, parametrization=parametrization,
        optimizer="adam", rng=np.random.default_rng(seed),
    )  # fmt: skip


def _fit_one(parametrization, width, lr, seed, epochs):
    """Train one denoiser → (val loss, test loss); NaN where not finite."""
    from ....optim import Adam

    task = moons_ddpm_task()
    model = _model(parametrization, width, seed)
    try:
        with np.errstate(over="ignore", invalid="ignore"):
            train(
                model,
                task,
                optimizer=Adam(param_groups(model, lr), lr=lr),
                epochs=epochs,
                seed=seed,
                loss_fn=F.mse_loss,
                batch_size=128,
            )
            val = float(np.mean((model(task.x_val).data - task.y_val) ** 2))
            test = float(np.mean((model(task.x_test).data - task.y_test) ** 2))
    except FloatingPointError:
        return np.nan, np.nan
    return (val, test) if np.isfinite(val) and np.isfinite(test) else (np.nan, np.nan)


def time_embedding_update(parametrization, width, seed, lr=COORD_LR, steps=COORD_STEPS) -> float:
    """Coordinate check of the timestep embedder: RMS of c_T(t) − c_0(t) on the validation inputs after
    `steps` Adam steps (batches of 128 in a seed-fixed order, the same at every width)."""
    from ....optim import Adam

    task = moons_ddpm_task()
    model = _model(parametrization, width, seed)
    probe = task.x_val
    c0 = model.time_embedding(probe).data.astype(np.float64)
    opt = Adam(param_groups(model, lr), lr=lr)
    order = np.random.default_rng(seed).permutation(len(task.x_train))
    for k in range(steps):
        idx = order[k * 128 : (k + 1) * 128]
        opt.zero_grad()
        F.mse_loss(model(task.x_train[idx]), task.y_train[idx]).backward()
        opt.step()
    c1 = model.time_embedding(probe).data.astype(np.float64)
    return float(np.sqrt(np.mean((c1 - c0) ** 2)))


def _arm(name: str, quick: bool, details: dict):
    parametrization = ARMS[name]
    widths, lrs, epochs = _setup(quick)
    task = moons_ddpm_task()
    cap_val = float(np.mean(np.asarray(task.y_val) ** 2))  # the zero predictor: a diverged run's loss
    cap_test = float(np.mean(np.asarray(task.y_test) ** 2))

    def run(seed):
        out = np.array([[_fit_one(parametrization, w, lr, seed, epochs) for lr in lrs] for w in widths])
        val = np.where(np.isfinite(out[..., 0]), out[..., 0], cap_val)  # (widths, lrs)
        test = np.where(np.isfinite(out[..., 1]), out[..., 1], cap_test)
        sweep = LRSweep(widths, lrs, [seed], val[..., None])
        opt = np.array([refined_log2_argmin(lrs, val[i]) for i in range(len(widths))])
        base_pick = int(sweep.best_index(BASE)[0])  # the lr tuned on the proxy
        wide = len(widths) - 1
        best_wide = int(np.argmin(val[wide]))  # chosen on validation
        update = np.array([time_embedding_update(parametrization, w, seed) for w in widths])
        details[(name, seed)] = {"val": val, "opt": opt, "update": update}
        return {
            "lr_spread": float(opt.max() - opt.min()),
            "lr_slope": float(np.polyfit(np.log2(widths), opt, 1)[0]),
            "test_regret": float(test[wide, base_pick] - test[wide, best_wide]),
            "val_loss": float(val[wide, base_pick]),
            "test_loss": float(test[wide, base_pick]),
            "test_loss_best_lr": float(test[wide, best_wide]),
            "time_update_slope": loglog_slope(widths, update),
            **{f"log2_lr_w{w}": float(o) for w, o in zip(widths, opt)},
        }

    return Method(name, run)


@experiment(SLUG, seeds=(0, 1, 2, 3, 4), quick_seeds=(0, 1))
def run(quick, seeds, progress):
    widths, lrs, _ = _setup(quick)
    details: dict = {}
    names = list(ARMS)
    mu, sp, ab = names
    comparison = compare(
        [_arm(n, quick, details) for n in names],
        seeds,
        select="val_loss",
        maximize=False,
        quick=quick,
        progress=progress,
    )
    shift = "under SP the optimal learning rate moves with width (SP's lr* spreads over > 1 octave)"
    grows = "with the time path in SP the timestep embedding's update grows with width (exponent > ½)"
    premises = [
        Premise(shift, "lr_spread", sp, threshold=1.0, strict=True),
        Premise(grows, "time_update_slope", ab, threshold=0.5, strict=True),
    ]
    claims = [
        Claim(
            "DiT-μP's optimal learning rate moves less across widths than SP's (octaves of lr* spread)",
            "lr_spread",
            mu,
            sp,
            direction="less",
            premises=(shift,),
        ),
        Claim(
            f"the lr tuned at width {BASE} costs less test loss at width {widths[-1]} under DiT-μP than "
            "under SP",
            "test_regret",
            mu,
            sp,
            direction="less",
            premises=(shift,),
        ),
        Claim(
            "DiT-μP's timestep-embedding update stays Θ(1) across widths (width exponent below ¼)",
            "time_update_slope",
            mu,
            direction="less",
            margin=0.25,
            premises=(),
        ),
        Claim(
            "DiT-μP's timestep-embedding update exponent is at least ½ below the SP-time-path ablation's",
            "time_update_slope",
            mu,
            ab,
            direction="less",
            margin=-0.5,
            premises=(grows,),
        ),
        Claim(
            "DiT-μP's optimal learning rate moves less across widths than with the time path in SP",
            "lr_spread",
            mu,
            ab,
            direction="less",
            premises=(grows,),
        ),
        Claim(
            f"the lr tuned at width {BASE} costs less test loss at width {widths[-1]} under DiT-μP than "
            "with the time path in SP",
            "test_regret",
            mu,
            ab,
            direction="less",
            premises=(grows,),
        ),
    ]
    arrays = {
        "widths": np.array(widths, float),
        "lrs": np.array(lrs),
        "val_loss": np.array([[details[(n, s)]["val"] for s in seeds] for n in names]),  # (arm, seed, w, lr)
        "log2_lr_opt": np.array([[details[(n, s)]["opt"] for s in seeds] for n in names]),  # (arm, seed, w)
        # (arm, seed, w): the coordinate check of the timestep embedding
        "time_update": np.array([[details[(n, s)]["update"] for s in seeds] for n in names]),
    }
    return finish(
        SLUG,
        comparison,
        premises=premises,
        claims=claims,
        quick=quick,
        smoke=quick,
        arrays=arrays,
        notes={"arms": names, "base_width": BASE, "coord_lr": COORD_LR, "coord_steps": COORD_STEPS},
        metrics=[
            "lr_spread",
            "lr_slope",
            "test_regret",
            "test_loss",
            "test_loss_best_lr",
            "time_update_slope",
        ],
    )


def plot(result) -> dict:
    from ....plotting import pyplot

    plt = pyplot()
    names = result.notes["arms"]
    widths, lrs = np.asarray(result.arrays["widths"]), np.asarray(result.arrays["lrs"])
    val, opt = np.asarray(result.arrays["val_loss"]), np.asarray(result.arrays["log2_lr_opt"])
    upd = np.asarray(result.arrays["time_update"])
    fig, axes = plt.subplots(1, 4, figsize=(15, 3.4))
    cmap = plt.get_cmap("viridis")
    for ax, name in zip(axes[:2], names[:2]):
        a = names.index(name)
        plot_loss_vs_lr(ax, lrs, widths, [val[a, :, i, :].mean(axis=0) for i in range(len(widths))], cmap)
        lo = float(np.min(val.mean(axis=1)))
        ax.set_ylim(lo - 0.002, lo + 0.03)
        ax.set_title(f"{name}: validation denoising loss (seed mean)", fontsize=9)
    axes[0].set_ylabel("validation ε-MSE")
    axes[0].legend(fontsize=7)
    plot_optimum_vs_width(axes[2], widths, names, opt)
    ax = axes[3]
    for a, name in enumerate(names):
        ax.plot(widths, upd[a].mean(axis=0), "o-", label=name)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("width n")
    ax.set_ylabel("RMS Δc(t) after a few Adam steps")
    ax.set_title("coordinate check of the timestep embedding", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return {SLUG: fig}
