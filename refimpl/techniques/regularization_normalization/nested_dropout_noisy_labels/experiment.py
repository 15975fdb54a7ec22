"""The experiment: plain training, nested dropout alone, co-teaching from scratch, and the paper's two-stage
nested dropout → co-teaching fine-tune, on the 8×8 digits with 40 % symmetric label noise.

Setup.  `tasks.digits("label_noise")`: 40 % of the training *and* validation labels flipped to another
class (fixed), a clean test split.  Every network is `NestedNet` (64-128-64 ReLU features, a bias-free
linear classifier), Adam, batch 64.  Every arm keeps, as the official scripts do, the checkpoint (and for
nested dropout the K) with the best accuracy on the noisy validation split, evaluated after every epoch;
the test split is read only at that checkpoint.

* plain            — cross-entropy, one network, `EPOCHS` epochs (through `experiments.train`);
                     tunes the learning rate;
* nested           — the same with nested dropout, K ~ p(K) ∝ exp(−(k/σ)²) per batch, K chosen on
                     validation (stage one of the paper); tunes the learning rate and σ;
* co-teaching      — two plain networks trained together from scratch with co-teaching for
                     `EPOCHS + FT_EPOCHS` epochs (the budget of the paper's two stages), the forget rate
                     ramped from 0 to τ over the first 5 epochs (the official default for the from-scratch
                     runs), logits averaged at inference; tunes the learning rate and τ;
* nested+co-teaching (the paper) — two networks trained by stage one at the nested arm's validated
                     (learning rate, σ) from two initialisations, then fine-tuned together with co-teaching
                     for `FT_EPOCHS` epochs: constant forget rate τ, samples ranked at the validated K, a
                     fresh nested-dropout K per step, logits averaged at inference, the best K and checkpoint
                     chosen on validation; tunes the fine-tuning learning rate and τ.

Co-teaching is a training rule for two networks at once (each one's minibatch is chosen by its peer), so
its loop is written out here (`_co_teach`) instead of going through `fit`; plain and nested training go
through `experiments.train`.

Premise.  Plain training memorises noisy labels: at its last epoch the plain network predicts the (wrong)
given label on more than half of the flipped training examples.
Claims (margins fixed from the papers' statements before the full run).  (1) Nested dropout alone beats
plain training on clean test accuracy (margin 0: "can properly regularize a neural network to combat
label noise"); (2) nested dropout + co-teaching beats co-teaching without nested dropout (margin 0: "easily
combined with Co-teaching to further boost the performance"); (3) the fine-tune with co-teaching improves on
nested dropout alone (margin 0).
Grids.  Rates 5e-4 … 2e-2, σ up to 128 and the fine-tune rate down to 1e-4: each end was added after the
first recording, where the grid-edge check found a choice at the end then tried (nested at lr 2e-3 and
σ = 64, co-teaching at 1e-2, the fine-tune at 2e-4).  The recording after that found plain and nested training at 1e-3, the new
lowest, so 5e-4 was added and recorded once more.
"""

from __future__ import annotations

import functools

import numpy as np

from ....data import batches
from ....experiments import Claim, Method, Premise, compare, experiment, finish, make_optimizer, tasks, train
from ....experiments.compare import Comparison
from . import NestedNet, averaged_logits, best_k, co_teaching_losses, forget_rate_schedule

SLUG = "nested-dropout-noisy-labels"
NOISE = 0.4
D, HIDDEN, BATCH = 64, 128, 64
EPOCHS, FT_EPOCHS = 150, 50
QUICK_EPOCHS, QUICK_FT_EPOCHS = 30, 10
SIGMAS = [8.0, 24.0, 64.0, 128.0]
N_GRADUAL_SCRATCH = (
    5  # co-teaching from scratch: the official default ramp (co_teaching_resnet/main.py l. 27)
)
SECOND_NET = 1000  # stage one's second network: initialisation seed + SECOND_NET
SELECTION_SEEDS = 2
_CURVES: dict = {}  # (arm, hyperparameters, seed) -> per-epoch (val, test) accuracy, for the plot


def _task():
    return tasks.digits("label_noise", noise_rate=NOISE)


def _acc_per_k(logits: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(D, N, C) logits → accuracy of every K."""
    return (logits.argmax(-1) == y[None, :]).mean(axis=1)


class _Checkpoint:
    """Keeps the networks' state, K and validation accuracy at the best validation score (the official
    `netBest.pth`), and the per-epoch (validation, test) accuracy at the epoch's best K."""

    def __init__(self, nets, nested: bool):
        self.nets, self.nested = nets, nested
        self.best = None
        self.curve = []

    def logits(self, x):
        if len(self.nets) == 2:
            return averaged_logits(*self.nets, x)
        return self.nets[0].all_k_logits(x)

    def __call__(self, task) -> int:
        acc = _acc_per_k(self.logits(task.x_val), task.y_val)
        k = best_k(acc) if self.nested else D
        score = float(acc[k - 1] - 1e-5 * (k - 1))
        test = float(_acc_per_k(self.logits(task.x_test), task.y_test)[k - 1])
        self.curve.append((float(acc[k - 1]), test))
        if self.best is None or score > self.best[0]:
            self.best = (score, k, [n.state_dict() for n in self.nets], len(self.curve) - 1)
        return k

    def restore(self):
        _, k, states, _ = self.best
        for n, s in zip(self.nets, states):
            n.load_state_dict(s)
            n.k = k
        return k


def _memorised(nets, task) -> float:
    """Fraction of the flipped training examples on which the networks (at their current K, logits
    averaged) predict the given, wrong label."""
    flipped = task.meta["flipped_train"]
    x, y = task.x_train[flipped], task.y_train[flipped]
    z = sum(n.all_k_logits(x)[n.k - 1] for n in nets) / len(nets)
    return float(np.mean(z.argmax(-1) == y))


def _result(nets, ckpt, task, memorised_last) -> dict:
    k = ckpt.restore()
    z = sum(n.all_k_logits(task.x_test)[k - 1] for n in nets) / len(nets)
    zv = sum(n.all_k_logits(task.x_val)[k - 1] for n in nets) / len(nets)
    return {
        "val_accuracy": float(np.mean(zv.argmax(-1) == task.y_val)),
        "test_accuracy": float(np.mean(z.argmax(-1) == task.y_test)),
        "test_accuracy_last_epoch": ckpt.curve[-1][1],
        "memorised_last_epoch": memorised_last,
        "memorised_at_checkpoint": _memorised(nets, task),
        "k": float(k),
        "best_epoch": float(ckpt.best[3]),
    }


@functools.cache
def _stage_one(init: int, lr: float, sigma: float | None, epochs: int):
    """One network trained with cross-entropy (nested dropout when `sigma`), best checkpoint and K on
    validation.  Returns (metrics, state, K, curve); cached so the paper's stage one reuses the nested arm."""
    from ....train import LambdaCallback

    task = _task()
    net = NestedNet(64, HIDDEN, D, 10, sigma=sigma, rng=init)
    ckpt = _Checkpoint([net], nested=sigma is not None)

    def on_epoch_end(state):
        net.eval()
        net.k = ckpt(task)
        net.train()

    train(
        net,
        task,
        lr=lr,
        epochs=epochs,
        seed=init,
        batch_size=BATCH,
        callbacks=[LambdaCallback(on_epoch_end=on_epoch_end)],
    )
    net.eval()
    mem_last = _memorised([net], task)
    metrics = _result([net], ckpt, task, mem_last)
    return metrics, net.state_dict(), net.k, tuple(ckpt.curve)


def _co_teach(nets, task, *, lr, rates, seed, nested: bool):
    """Train two networks together with co-teaching (train.py `TrainEpoch`, l. 116–169): per minibatch,
    each half is ranked by one network at the last validated K, each network learns on the half its peer
    kept, with one nested-dropout K per step shared by both; evaluation after every epoch (and before the
    first, as main.py l. 116) on the averaged logits keeps the best checkpoint and K."""
    opts = [make_optimizer(n.parameters(), "adam", lr=lr) for n in nets]
    ckpt = _Checkpoint(nets, nested)
    val_k = ckpt(task)
    for epoch, rate in enumerate(rates):
        for xb, yb in batches(
            task.x_train, task.y_train, batch_size=BATCH, seed=seed, epoch=epoch, drop_last=True
        ):
            h = len(xb) // 2
            for n in nets:
                n.k = val_k
            k_train = nets[0].sample_k()  # one K per step for both networks (loss.py l. 31)
            losses = co_teaching_losses(*nets, xb[:h], yb[:h], xb[h:], yb[h:], float(rate), k_train)
            for loss, opt in zip(losses, opts):
                opt.zero_grad()
                loss.backward()
                opt.step()
        for n in nets:
            n.eval()
        val_k = ckpt(task)
    for n in nets:
        n.k = val_k
    return ckpt, _memorised(nets, task)


def _plain_arm(epochs):
    def run(seed, lr):
        metrics, _, _, curve = _stage_one(seed, lr, None, epochs)
        _CURVES[("plain", (lr,), seed)] = curve
        return metrics

    return run


def _nested_arm(epochs):
    def run(seed, lr, sigma):
        metrics, _, _, curve = _stage_one(seed, lr, sigma, epochs)
        _CURVES[("nested", (lr, sigma), seed)] = curve
        return metrics

    return run


def _coteach_arm(epochs):
    def run(seed, lr, tau):
        task = _task()
        nets = [NestedNet(64, HIDDEN, D, 10, rng=s) for s in (seed, seed + SECOND_NET)]
        rates = forget_rate_schedule(epochs, tau, N_GRADUAL_SCRATCH)
        ckpt, mem = _co_teach(nets, task, lr=lr, rates=rates, seed=seed, nested=False)
        _CURVES[("co-teaching", (lr, tau), seed)] = tuple(ckpt.curve)
        return _result(nets, ckpt, task, mem)

    return run


def _paper_arm(stage_one: dict, epochs, ft_epochs):
    def run(seed, ft_lr, tau):
        task = _task()
        lr, sigma = stage_one["lr"], stage_one["sigma"]
        nets = []
        for init in (seed, seed + SECOND_NET):
            _, state, k, _ = _stage_one(init, lr, sigma, epochs)
            net = NestedNet(64, HIDDEN, D, 10, sigma=sigma, rng=init)
            net.load_state_dict(state)
            net.k = k
            nets.append(net)
        rates = forget_rate_schedule(ft_epochs, tau, 0)  # constant in the fine-tune (--nGradual 0)
        ckpt, mem = _co_teach(nets, task, lr=ft_lr, rates=rates, seed=seed, nested=True)
        _CURVES[("nested+co-teaching", (ft_lr, tau), seed)] = tuple(ckpt.curve)
        return _result(nets, ckpt, task, mem)

    return run


def _merge(a: Comparison, b: Comparison) -> Comparison:
    return Comparison(
        a.methods + b.methods,
        a.seeds,
        a.rows + b.rows,
        {**a.selected, **b.selected},
        a.selection + b.selection,
        a.select,
        a.maximize,
    )


@experiment(SLUG, seeds=tuple(range(10)), quick_seeds=(0, 1))
def run(quick, seeds, progress):
    epochs, ft = (QUICK_EPOCHS, QUICK_FT_EPOCHS) if quick else (EPOCHS, FT_EPOCHS)
    lrs, quick_lr = [5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 2e-2], [5e-3]
    taus = [0.2, 0.4]
    first = [
        Method("plain", _plain_arm(epochs), grid={"lr": lrs}, quick_grid={"lr": quick_lr}),
        Method(
            "nested",
            _nested_arm(epochs),
            grid={"lr": lrs, "sigma": SIGMAS},
            quick_grid={"lr": quick_lr, "sigma": [24.0]},
        ),
        Method(
            "co-teaching",
            _coteach_arm(epochs + ft),
            grid={"lr": lrs, "tau": taus},
            quick_grid={"lr": quick_lr, "tau": [0.4]},
        ),
    ]
    sel = seeds[: 1 if quick else SELECTION_SEEDS]
    a = compare(first, seeds, select="val_accuracy", quick=quick, selection_seeds=sel, progress=progress)
    stage_one = {k: a.selected["nested"][k] for k in ("lr", "sigma")}
    paper = Method(
        "nested+co-teaching",
        _paper_arm(stage_one, epochs, ft),
        fixed={},
        grid={"ft_lr": [1e-4, 2e-4, 5e-4, 1e-3], "tau": taus},
        quick_grid={"ft_lr": [5e-4], "tau": [0.4]},
    )
    b = compare([paper], seeds, select="val_accuracy", quick=quick, selection_seeds=sel, progress=progress)
    comparison = _merge(a, b)
    comparison.selected["nested+co-teaching"] = {
        **{f"stage1_{k}": v for k, v in stage_one.items()},
        **comparison.selected["nested+co-teaching"],
    }
    premise = Premise(
        "plain training memorises noisy labels: at its last epoch it predicts the given wrong label on more "
        "than half of the flipped training examples",
        metric="memorised_last_epoch",
        method="plain",
        threshold=0.5,
    )
    claims = [
        Claim(
            "Nested dropout alone beats plain training on clean test accuracy",
            "test_accuracy",
            "nested",
            "plain",
            margin=0.0,
        ),
        Claim(
            "Nested dropout + co-teaching beats co-teaching without nested dropout",
            "test_accuracy",
            "nested+co-teaching",
            "co-teaching",
            margin=0.0,
        ),
        Claim(
            "The co-teaching fine-tune improves on nested dropout alone",
            "test_accuracy",
            "nested+co-teaching",
            "nested",
            margin=0.0,
        ),
    ]
    arrays, notes = {}, {"methods": comparison.methods}
    for m in comparison.methods:
        hp = comparison.selected[m]
        key = {
            "plain": ("lr",),
            "nested": ("lr", "sigma"),
            "co-teaching": ("lr", "tau"),
            "nested+co-teaching": ("ft_lr", "tau"),
        }[m]
        curves = [_CURVES[(m, tuple(hp[k] for k in key), s)] for s in seeds]
        arrays[f"curve_{m}"] = np.mean(np.asarray(curves, dtype=np.float64), axis=0)
    notes["stage_one_epochs"] = epochs
    return finish(
        SLUG,
        comparison,
        premises=[premise],
        claims=claims,
        quick=quick,
        smoke=quick,
        arrays=arrays,
        notes=notes,
        metrics=[
            "test_accuracy",
            "val_accuracy",
            "test_accuracy_last_epoch",
            "memorised_last_epoch",
            "memorised_at_checkpoint",
            "k",
            "best_epoch",
        ],
    )


def plot(result) -> dict:
    from ....plotting import pyplot

    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    e1 = result.notes["stage_one_epochs"]
    for m in result.notes["methods"]:
        c = result.arrays[f"curve_{m}"]
        x = np.arange(len(c)) + (e1 if m == "nested+co-teaching" else 0)
        axes[0].plot(x, c[:, 1], label=m)
    axes[0].set_xlabel("epoch (the fine-tune starts after stage one)")
    axes[0].set_ylabel("clean test accuracy\n(mean over seeds, at the epoch's K)")
    axes[0].legend(fontsize=8)
    ms = result.notes["methods"]
    acc = [result.stat(m, "test_accuracy") for m in ms]
    axes[1].bar(
        range(len(ms)),
        [a["mean"] for a in acc],
        yerr=[[a["mean"] - a["low"] for a in acc], [a["high"] - a["mean"] for a in acc]],
    )
    axes[1].set_xticks(range(len(ms)))
    axes[1].set_xticklabels(ms, fontsize=8)
    axes[1].set_ylim(0.0, 1.0)  # bars start at zero (a cut axis exaggerates differences)
    axes[1].set_ylabel("test accuracy at the\nvalidated checkpoint (95 % CI)")
    fig.tight_layout()
    return {SLUG: fig}
