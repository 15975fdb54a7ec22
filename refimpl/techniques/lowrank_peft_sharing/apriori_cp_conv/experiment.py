"""The experiment: a one-step predictor of the 2-D wave equation with full 5×5 convolutions, with a-priori
CP convolutions (rank 2 and rank 1), and with the a-posteriori ablation (train full, truncate every kernel
to rank 2 by SVD, fine-tune the factors), at the same total number of epochs.

Toy.  Fields on a 16×16 grid with zero (Dirichlet) boundary, evolved by the 4th-order leapfrog scheme
u⁽ⁿ⁺¹⁾ = 2u⁽ⁿ⁾ − u⁽ⁿ⁻¹⁾ + α Δ₄ u⁽ⁿ⁾ (α = c²Δt²/h² = 0.25, 13-point cross stencil in a 5×5 window) from
random smooth bumps at rest; a network maps (u⁽ⁿ⁻¹⁾, u⁽ⁿ⁾) → u⁽ⁿ⁺¹⁾.  Few training pairs (as in the paper's
small FE data sets), fixed train / validation / test trajectories; seeds vary initialisation and batches.
Network: a linear conv 5×5 (2→1) plus a nonlinear branch conv 5×5 (2→4) → tanh → conv 5×5 (4→1), zero
padding 2 (equal to the Dirichlet ghost cells); every conv is full or CP (the same form in all layers).
Metrics: log10 of the relative MSE (MSE / mean target²) on the one-step pairs; relative error of an
8-step autoregressive rollout on the test trajectories; parameter count.
Premises.  (i) The exact one-step operator has CP rank ≤ 2 per kernel (closed form: its rank-2 tail energy,
≈ 0), so the a-priori rank-2 format can hold the answer.  (ii) Trained full kernels are not low rank (their
energy beyond rank 2 exceeds 5 %), so a-posteriori truncation has something to lose.
Claims (margins fixed from the abstract before any run).  "Equivalent performance to classical
convolutional layers with fewer trainable parameters": a-priori rank 2 is within a factor 1.25 of the full
network's relative MSE (log10 difference < log10 1.25 ≈ 0.097).  The a-priori idea itself: a-priori rank 2
has a lower error than the a-posteriori rank-2 ablation at equal epochs.
Budget.  400 epochs (batch 8, cosine) for every arm; a pilot at 120 epochs without cosine left every arm far
from converged (rollout errors near 100 %), so the budget was raised before the first recording, and the
top rate 3e-1 was added when the pilot chose 1e-1 for one arm; 1.0 was added after the first recording, whose
grid-edge check found a priori R=1 at 3e-1.
Grid.  Adam learning rate (cosine decay) per arm, the same 6 values for every arm, chosen on validation log-MSE.
"""

from __future__ import annotations

import functools

import numpy as np

from ....autograd import ops
from ....autograd.tensor import Tensor
from ....experiments import Claim, Method, Premise, compare, experiment, finish, train
from ....nn import Conv2d, Module
from ....nn import functional as F
from . import CPConv2d, cp_kernel, tail_energy

SLUG = "apriori-cp-conv"
N, K, HIDDEN, ALPHA, ROLLOUT = 16, 5, 4, 0.25, 8
D4 = np.array([-1 / 12, 4 / 3, -5 / 2, 4 / 3, -1 / 12])  # 4th-order second difference
ARMS = {
    "full 5x5": ("full", None),
    "a priori CP R=2": ("apriori", 2),
    "a posteriori CP R=2": ("aposteriori", 2),
    "a priori CP R=1": ("apriori", 1),
}
DIVERGED = 10.0  # the metric value recorded for a run whose prediction is not finite
LRS = [3e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1.0]


def step_kernel(alpha: float = ALPHA) -> np.ndarray:
    """The exact one-step map as a (1, 2, 5, 5) conv weight on (u⁽ⁿ⁻¹⁾, u⁽ⁿ⁾): channel 0 is −δ, channel 1 is
    2δ + α(d₄ ⊗ e + e ⊗ d₄) — a CP rank-2 kernel by construction."""
    e = np.zeros(K)
    e[K // 2] = 1.0
    W = np.zeros((1, 2, K, K))
    W[0, 0] = -np.outer(e, e)
    W[0, 1] = 2 * np.outer(e, e) + alpha * (np.outer(D4, e) + np.outer(e, D4))
    return W


def _leapfrog(u0, steps, alpha=ALPHA):
    W = step_kernel(alpha)
    traj = [u0, u0.copy()]  # at rest: u⁽⁻¹⁾ = u⁽⁰⁾
    for _ in range(steps):
        p = np.pad(np.stack(traj[-2:]), ((0, 0), (2, 2), (2, 2)))
        nxt = sum(
            W[0, c, a, b] * p[c, a : a + N, b : b + N] for c in range(2) for a in range(K) for b in range(K)
        )
        traj.append(nxt)
    return np.stack(traj)


def _bumps(rng):
    y, x = np.mgrid[0:N, 0:N].astype(float)
    u = np.zeros((N, N))
    for _ in range(3):
        cy, cx = rng.uniform(3, N - 4, size=2)
        w = rng.uniform(1.2, 2.5)
        u += (
            rng.choice([-1.0, 1.0])
            * rng.uniform(0.5, 1.0)
            * np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * w**2))
        )
    return u


@functools.cache
def data():
    """Fixed splits: (x, y) one-step pairs for train / val / test and the test trajectories."""
    rng = np.random.default_rng(1234)
    out = {}
    for split, n_traj in (("train", 12), ("val", 8), ("test", 16)):
        trajs = np.stack([_leapfrog(_bumps(rng), 6 + ROLLOUT) for _ in range(n_traj)])  # (n, T, N, N)
        ts = range(2, 8) if split != "train" else range(2, 8, 2)
        x = np.concatenate([trajs[:, t - 1 : t + 1] for t in ts]).astype(np.float32)
        y = np.concatenate([trajs[:, t + 1 : t + 2] for t in ts]).astype(np.float32)
        out[split] = (x, y)
        out[split + "_traj"] = trajs.astype(np.float32)
    return out


class WaveNet(Module):
    """c0(x) + c2(tanh(c1(x))): a linear 5×5 conv (2→1) beside a nonlinear branch conv 5×5 (2→HIDDEN) → tanh
    → conv 5×5 (HIDDEN→1); every conv full or a-priori CP of rank R."""

    def __init__(self, rank=None, seed=0):
        super().__init__()
        rng = np.random.default_rng(seed)

        def conv(cin, cout):
            if rank is None:
                return Conv2d(cin, cout, K, padding=K // 2, rng=rng)
            return CPConv2d(cin, cout, K, rank, padding=K // 2, rng=rng)

        self.c0, self.c1, self.c2 = conv(2, 1), conv(2, HIDDEN), conv(HIDDEN, 1)

    def forward(self, x):
        return self.c0(x) + self.c2(ops.tanh(self.c1(x)))


def _predict(model, x):
    return model(Tensor(x)).data


def _metrics(model):
    d = data()
    out = {}
    for split in ("val", "test"):
        x, y = d[split]
        rel = np.mean((_predict(model, x) - y) ** 2) / np.mean(y**2)
        out[f"{split}_log_mse"] = float(np.log10(rel)) if np.isfinite(rel) else DIVERGED
    tr = d["test_traj"]  # autoregressive rollout from steps (1, 2)
    prev, cur = tr[:, 1:2], tr[:, 2:3]
    for _ in range(ROLLOUT):
        prev, cur = cur, _predict(model, np.concatenate([prev, cur], axis=1))
    ref = tr[:, 2 + ROLLOUT : 3 + ROLLOUT]
    err = float(np.sqrt(np.mean((cur - ref) ** 2) / np.mean(ref**2)))
    out["test_rollout_rel_err"] = err if np.isfinite(err) else DIVERGED
    out["parameters"] = float(sum(p.data.size for p in model.parameters()))
    return out


def _kernels(model):
    return [
        m.weight.data if isinstance(m, Conv2d) else cp_kernel([m.A, m.B]).data for m in (model.c1, model.c2)
    ]


def _arm(name: str, quick: bool):
    kind, rank = ARMS[name]
    epochs = 8 if quick else 400
    ft = epochs // 4  # a posteriori: the last quarter of the epochs fine-tunes the truncated factors

    def run(seed, lr):
        x, y = data()["train"]
        kw = dict(lr=lr, seed=seed, batch_size=8, loss_fn=F.mse_loss, x=x, y=y, cosine=True)
        model = WaveNet(rank if kind == "apriori" else None, seed)
        extra = {}
        if kind == "aposteriori":
            train(model, None, epochs=epochs - ft, **kw)
            extra["full_tail_energy"] = float(np.mean([tail_energy(k, rank) for k in _kernels(model)]))
            for name in ("c0", "c1", "c2"):
                full = getattr(model, name)
                setattr(model, name, CPConv2d.from_kernel(full.weight, full.bias, rank, padding=K // 2))
            extra["truncated_log_mse"] = _metrics(model)["test_log_mse"]
            train(model, None, epochs=ft, **kw)
        else:
            train(model, None, epochs=epochs, **kw)
        if kind == "full":
            extra["full_tail_energy"] = float(np.mean([tail_energy(k, 2) for k in _kernels(model)]))
        if kind == "apriori":
            extra["exact_step_tail_energy"] = tail_energy(step_kernel(), 2)
        return {**_metrics(model), **extra}

    return Method(name, run, grid={"lr": LRS}, quick_grid={"lr": [3e-2]})


@experiment(SLUG, seeds=(0, 1, 2, 3, 4), quick_seeds=(0, 1))
def run(quick, seeds, progress):
    comparison = compare(
        [_arm(n, quick) for n in ARMS],
        seeds,
        select="val_log_mse",
        maximize=False,
        quick=quick,
        progress=progress,
    )
    premises = [
        Premise(
            "the exact one-step operator has CP rank ≤ 2 per kernel (tail energy beyond rank 2 ≈ 0)",
            "exact_step_tail_energy",
            "a priori CP R=2",
            1e-12,
            direction="less",
        ),
        Premise(
            "trained full 5×5 kernels are not rank 2 (over 5 % of their energy beyond rank 2)",
            "full_tail_energy",
            "full 5x5",
            0.05,
        ),
    ]
    claims = [
        Claim(
            "a priori CP rank 2 matches the full convolution: log10 relative MSE within log10(1.25)",
            "test_log_mse",
            "a priori CP R=2",
            "full 5x5",
            direction="less",
            margin=float(np.log10(1.25)),
            premises=(premises[0].statement,),
        ),
        Claim(
            "a priori CP rank 2 beats the a posteriori rank-2 ablation (train full, SVD-truncate, fine-tune)",
            "test_log_mse",
            "a priori CP R=2",
            "a posteriori CP R=2",
            direction="less",
            premises=(premises[1].statement,),
        ),
    ]
    names = list(ARMS)
    return finish(
        SLUG,
        comparison,
        premises=premises,
        claims=claims,
        quick=quick,
        smoke=quick,
        arrays={
            "parameters": np.array([np.mean(comparison.values(a, "parameters")) for a in names]),
            "test_log_mse": np.array([comparison.values(a, "test_log_mse") for a in names]),
            "rollout": np.array([comparison.values(a, "test_rollout_rel_err") for a in names]),
        },
        notes={"arms": names},
        metrics=["test_log_mse", "val_log_mse", "test_rollout_rel_err", "parameters"],
    )


def plot(result) -> dict:
    from ....plotting import pyplot

    plt = pyplot()
    names = result.notes["arms"]
    mse = np.asarray(result.arrays["test_log_mse"])
    roll = np.asarray(result.arrays["rollout"])
    params = result.arrays["parameters"]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    for i, name in enumerate(names):
        for ax, v in ((axes[0], mse[i]), (axes[1], roll[i])):
            sd = v.std(ddof=1) if v.size > 1 else 0
            ax.errorbar(params[i], v.mean(), yerr=sd, fmt="o", capsize=3, label=f"{name} ({int(params[i])})")
    axes[0].set_ylabel("test log10 relative MSE (one step)")
    axes[1].set_ylabel(f"relative error after {ROLLOUT}-step rollout")
    for ax in axes:
        ax.set_xlabel("trainable parameters")
    axes[0].legend(fontsize=7)
    fig.suptitle("2-D wave one-step predictor: full vs a-priori / a-posteriori CP kernels", fontsize=10)
    fig.tight_layout()
    return {SLUG: fig}
