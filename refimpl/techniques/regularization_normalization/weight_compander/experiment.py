"""The experiment: weight decay alone against weight decay + weight compander, in an overfitting regime.

Setup.  `tasks.digits()` with the training split cut to its first `N_TRAIN` examples (fixed; validation
and test splits untouched), an MLP 64-`HIDDEN`-`HIDDEN`-10 with ReLU, Kaiming-uniform initialisation,
SGD with momentum 0.9 (the paper's optimizer), batch 32, a cosine learning-rate decay over `EPOCHS`
epochs, and the same weight decay λ = `WD` in every arm.  Arms:

* WD             — the plain network, SGD's weight decay λ on every parameter (learning rate tuned);
* WC             — Ψ(v) = a·arctan(v/b) on both Linear weights, v = b·tan(w/a) at the start (Eq. 4), the
                   decay (λ/2)‖Ψ(v)‖² on the weights (Eq. 5) and λ on the biases (learning rate and (a, b)
                   tuned; (a, b) from the paper's grid {0.5, …, 1.0});
* WC-learnable   — the fine version, (a, b) per layer learned with the network from a = 0.5, b = 1, decay
                   λ on v and the biases, never on a, b (learning rate tuned);
* WC-arsinh, WC-erf — Table VII's variants, set up as WC (learning rate and (a, b) tuned).

Every arm selects its hyperparameters on validation accuracy averaged over `SELECTION_SEEDS` seeds, then
runs every seed; seeds vary initialisation and batch order, so the arms are paired.  The baseline's
learning-rate grid is finer (20 points); WC's arms get 5 learning rates × 4 (a, b) pairs.

Premise (what the paper relies on, Sec. I, V): the plain network overfits — its training accuracy
exceeds its validation accuracy by more than five points.
Claims (the paper's, margins fixed before the full run): WC on top of weight decay raises test accuracy
(Tables II–V: +0.1 to +1.6 points; margin 0), so do learnable WC (Table VI) and the arsinh and erf
variants (Table VII); WC makes the network less sensitive to statistical differences between training
and test data (abstract, Sec. IV-D), measured as test accuracy under fixed Gaussian pixel noise; and, on
the weights (Sec. IV-D), WC keeps the largest weight magnitude smaller and leaves fewer weights near zero
(|w| < 0.01) than weight decay alone.
Grid.  WC's rates 0.003 … 0.3 (0.3 added after the first recording, when the grid-edge check found WC-erf
at 0.1, then the highest), and the baseline's grid grew from 12 to 20 points to stay as large.
"""

from __future__ import annotations

import numpy as np

from ....autograd.tensor import no_grad
from ....experiments import Claim, Method, Premise, compare, experiment, finish, split_metrics, tasks, train
from ....nn import MLP
from ....nn import functional as F
from ....optim import SGD
from . import compand, companders, effective_weights, param_groups, weight_decay_on_psi, weight_statistics

SLUG = "weight-compander"
N_TRAIN = 300
HIDDEN = 128
EPOCHS, QUICK_EPOCHS = 100, 15
BATCH = 32
WD = 5e-4
NEAR_ZERO = 0.01
DTYPE = np.float32
LRS = [0.003, 0.01, 0.03, 0.1, 0.3]
# fmt: off
LRS_BASELINE = [  # 20 = 5 × 4, as many as a WC arm's grid
    0.003, 0.004, 0.005, 0.007, 0.01, 0.012, 0.014, 0.017, 0.02, 0.025,
    0.03, 0.037, 0.045, 0.055, 0.07, 0.1, 0.14, 0.2, 0.3, 0.45,
]
# fmt: on
AB = ["1.0/0.6", "0.8/0.5", "0.7/0.7", "0.7/1.0"]  # (a, b) pairs Table I selected (a/b from 1.67 to 0.7)
SELECTION_SEEDS = 3
NOISE = 0.2  # σ of the Gaussian pixel noise (pixels in [0, 1]) of the shifted test split
DIVERGED = 1e6  # the value a diverged run reports for a non-finite metric


def train_subset(task):
    """The first N_TRAIN training examples (the task's split is already shuffled and stratified)."""
    return task.x_train[:N_TRAIN], task.y_train[:N_TRAIN]


def noisy_test(task):
    """The test images with fixed Gaussian noise of σ = NOISE: a shift between training and test data."""
    rng = np.random.default_rng(12345)
    return (task.x_test + NOISE * rng.standard_normal(task.x_test.shape)).astype(task.x_test.dtype)


def _accuracy(model, x, y) -> float:
    from ....autograd.tensor import Tensor

    with no_grad():
        return float(np.mean(model(Tensor(x)).data.argmax(1) == y))


class _MaxWeight:
    """Callback: max |w| over the network's weights after every epoch (Fig. 3's top percentile)."""

    def __init__(self, model):
        self.model, self.values = model, []

    def on_epoch_end(self, state):
        self.values.append(max(float(np.abs(w).max()) for w in effective_weights(self.model)))


def run_arm(seed, *, lr, kind=None, ab="1.0/1.0", learnable=False, epochs=EPOCHS, trace=None):
    """One arm, one seed → metrics.  `kind=None` is the plain network (WD); otherwise Ψ of that kind."""
    task = tasks.digits()
    x, y = train_subset(task)
    model = MLP(
        [task.in_features, HIDDEN, HIDDEN, task.num_classes], rng=np.random.default_rng(seed), dtype=DTYPE
    )
    loss_fn = None
    if kind is None:
        opt = SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=WD)
    else:
        a, b = (float(s) for s in ab.split("/"))
        compand(model, a, b, kind=kind, learnable=learnable)  # v₀ = Ψ⁻¹(w₀), Eq. 4
        opt = SGD(param_groups(model, WD), lr=lr, momentum=0.9)
        if not learnable:

            def loss_fn(out, target):  # Eq. 5 on w = Ψ(v)
                return F.cross_entropy(out, target) + weight_decay_on_psi(model, WD)

    tracker = _MaxWeight(model)
    train(
        model,
        task,
        optimizer=opt,
        epochs=epochs,
        seed=seed,
        batch_size=BATCH,
        cosine=True,
        loss_fn=loss_fn,
        callbacks=[tracker],
        x=x,
        y=y,
    )
    model.eval()
    out = split_metrics(model, task)
    out["train_accuracy"] = _accuracy(model, x, y)
    out["gen_gap"] = out["train_accuracy"] - out["val_accuracy"]
    out["test_accuracy_noisy"] = _accuracy(model, noisy_test(task), task.y_test)
    out.update(weight_statistics(effective_weights(model), near=NEAR_ZERO))
    out["max_abs_w_peak"] = max(tracker.values)
    if learnable:
        vals = [c.values() for _, c in companders(model)]
        out.update({f"a_layer{i}": v[0] for i, v in enumerate(vals)})
        out.update({f"b_layer{i}": v[1] for i, v in enumerate(vals)})
    # a diverged run (large learning rates) has non-finite weights or losses: it reports DIVERGED for
    # them, so that the harness (finite metrics only) keeps it and validation never selects it
    out["diverged"] = float(not all(np.isfinite(v) for v in out.values()) or "val_loss" not in out)
    for k in ("val_loss", "test_loss"):
        out.setdefault(k, DIVERGED)
    out = {
        k: float(np.nan_to_num(v, nan=DIVERGED, posinf=DIVERGED, neginf=-DIVERGED)) for k, v in out.items()
    }
    if trace is not None:
        trace["max_abs_w"] = tracker.values
        trace["weights"] = np.concatenate([w.ravel() for w in effective_weights(model)])
    return out


@experiment(SLUG, seeds=range(10), quick_seeds=(0, 1))
def run(quick, seeds, progress):
    epochs = QUICK_EPOCHS if quick else EPOCHS

    def arm(kind=None, learnable=False):
        def f(seed, lr, ab="0.5/1.0"):
            return run_arm(seed, lr=lr, kind=kind, ab=ab, learnable=learnable, epochs=epochs)

        return f

    q = {"lr": [0.03]}
    q_ab = {"lr": [0.03], "ab": ["0.8/0.5"]}
    methods = [
        Method("WD", arm(), grid={"lr": LRS_BASELINE}, quick_grid=q),
        Method("WC", arm("arctan"), grid={"lr": LRS, "ab": AB}, quick_grid=q_ab),
        Method(
            "WC-learnable",
            arm("arctan", learnable=True),
            grid={"lr": LRS_BASELINE},
            quick_grid={"lr": [0.01]},
        ),
        Method("WC-arsinh", arm("arsinh"), grid={"lr": LRS, "ab": AB}, quick_grid=q_ab),
        Method("WC-erf", arm("erf"), grid={"lr": LRS, "ab": AB}, quick_grid=q_ab),
    ]
    sel = seeds[: 1 if quick else SELECTION_SEEDS]
    comparison = compare(
        methods, seeds, select="val_accuracy", quick=quick, selection_seeds=sel, progress=progress
    )

    traces = {}  # the first seed at each arm's selected values, for the plot
    for name, kind in (("WD", None), ("WC", "arctan")):
        hp = comparison.selected[name]
        traces[name] = {}
        run_arm(seeds[0], kind=kind, epochs=epochs, trace=traces[name], **hp)

    premise = Premise(
        "weight decay alone overfits: training accuracy exceeds validation accuracy by more than 5 points",
        "gen_gap",
        "WD",
        threshold=0.05,
    )
    claims = [
        Claim("WC added to weight decay raises test accuracy", "test_accuracy", "WC", "WD"),
        Claim(
            "learnable WC (per layer, a = 0.5, b = 1 at the start) raises test accuracy over weight decay",
            "test_accuracy",
            "WC-learnable",
            "WD",
        ),
        Claim("WC with arsinh raises test accuracy over weight decay", "test_accuracy", "WC-arsinh", "WD"),
        Claim("WC with erf raises test accuracy over weight decay", "test_accuracy", "WC-erf", "WD"),
        Claim(
            "WC makes the network less sensitive to a shift between training and test data (test accuracy "
            f"under Gaussian pixel noise σ = {NOISE} above weight decay's)",
            "test_accuracy_noisy",
            "WC",
            "WD",
        ),
        Claim(
            "WC keeps the largest weight magnitude (over training) below weight decay's",
            "max_abs_w_peak",
            "WC",
            "WD",
            direction="less",
        ),
        Claim(
            f"WC leaves fewer weights near zero (|w| < {NEAR_ZERO}) than weight decay",
            "frac_near_zero",
            "WC",
            "WD",
            direction="less",
        ),
    ]
    arrays = {f"{name}_{k}": np.asarray(v) for name, tr in traces.items() for k, v in tr.items()}
    return finish(
        SLUG, comparison, quick=quick, smoke=quick, premises=[premise], claims=claims, arrays=arrays
    )


def plot(result) -> dict:
    from ....plotting import pyplot
    from . import psi, psi_derivative

    plt = pyplot()
    fig, axes = plt.subplots(1, 4, figsize=(17, 3.6))
    v = np.linspace(-3, 3, 301)
    for kind, ls in (("arctan", "-"), ("arsinh", "--"), ("erf", ":")):
        axes[0].plot(v, psi(v, 1.0, 1.0, kind).data, ls, label=f"Ψ {kind}")
    axes[0].plot(v, psi_derivative(v, 1.0, 1.0), color="gray", label="∂Ψ/∂v (arctan)")
    axes[0].axhline(np.pi / 2, color="k", lw=0.5, label="π/2 (the arctan limit)")
    axes[0].set_title("Ψ(v), a = b = 1")
    axes[0].set_xlabel("v")
    axes[0].legend(fontsize=7)
    for name in ("WD", "WC"):
        key = f"{name}_max_abs_w"
        if key in result.arrays:
            axes[1].plot(result.arrays[key], label=name)
    axes[1].set_title("max |w| per epoch (first seed)")
    axes[1].set_xlabel("epoch")
    axes[1].legend(fontsize=7)
    for name in ("WD", "WC"):
        key = f"{name}_weights"
        if key in result.arrays:
            axes[2].hist(result.arrays[key], bins=120, range=(-0.6, 0.6), histtype="step", label=name)
    axes[2].set_yscale("log")
    axes[2].set_title("final weights (first seed)")
    axes[2].legend(fontsize=7)
    names = list(result.methods)
    acc = [result.values(n, "test_accuracy") for n in names]
    axes[3].boxplot(acc)
    axes[3].set_xticks(range(1, len(names) + 1), names)
    for i, a in enumerate(acc):
        axes[3].plot(np.full(len(a), i + 1), a, "o", ms=3, alpha=0.6)
    axes[3].set_title("test accuracy over seeds")
    axes[3].tick_params(axis="x", labelsize=7, rotation=20)
    fig.tight_layout()
    return {SLUG: fig}
