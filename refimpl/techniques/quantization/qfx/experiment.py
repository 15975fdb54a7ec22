"""The experiment: 3-bit fixed-point quantization-aware training of a residual MLP whose activations and
residual additions are cast to fixed point too — QFX (every binary point learned) against every nearby fixed
binary point (the same training with the points frozen), and against the post-training casts (round to nearest,
and GPTQ).

Setup.  A residual MLP (embedding 64 → 32, two residual blocks 32 → 64 → 32, head) with normal (Kaiming)
initialisation is trained in floating point with Adam on the digits (one model per seed).  Then every weight
becomes a 3-bit fixed-point number and every activation — the input, the embedding, each block's hidden
ReLU output and each residual sum h + f(h) — a 4-bit one (`FixedPointResidualMLP.enable_casts`), each cast
with its own binary point, initialised by the range rule f₀ = w − 1 − ⌈log₂ max|x|⌉ (weights: the trained
weights; activations: the training images through the float model).  Arms:
  PTQ          the cast at f₀, no training (the paper's baseline: fine-tune in float, cast after);
  GPTQ         a post-training cast too, the weights by GPTQ on the fixed-point grid (`gptq_fixed_point_cast`):
               the Linears in forward order, each layer's Hessian from its inputs on the training images
               (the calibration set) through the already-cast layers and the fixed-point activation casts;
               the weights' binary points at f₀ + δ_w, the activations' at f₀ + δ_a, and the damping tuned;
  fixed f₀+δ   quantization-aware training (Adam, cosine schedule, STE) with every binary point frozen at
               f₀ + δ, δ ∈ {−1, 0, +1, +2} (every nearby binary point, shifted together);
  best fixed   the same, δ chosen on the validation split (the strongest ablation without the learned point);
  QFX          the same training with every binary point learned (φ in its own Adam group).
Every trained arm tunes its learning rate (and QFX its binary-point learning rate, the best-fixed arm δ) on
the validation accuracy, the GPTQ arm its damping and both shifts δ_w ∈ {−1, 0, 1, 2}, δ_a ∈ {−1, 0, 1}; test
images are used once, at the end.
Premises.  (1) The 3-bit cast costs accuracy: the post-training cast loses more than 5 points against
the float model.  (2) QAT at the range rule's points leaves room: it stays more than a point below the float
model.  (3) The GPTQ cast leaves room too: it stays more than a point below the float model.
Claims (the paper: QFX beats post-training fixed-point quantization, because the binary point is learned
while training).  QFX beats PTQ; QFX beats the GPTQ fixed-point cast (the strongest post-training cast here:
a margin of 0, fixed before the first full run, since the paper claims a direction, not a size); QFX beats
QAT at the range rule's binary point; QFX beats the best nearby fixed binary point chosen on validation.
"""

from __future__ import annotations

import functools

import numpy as np

from ....autograd.tensor import Tensor, no_grad
from ....experiments import Claim, Method, Premise, compare, experiment, finish, split_metrics, tasks, train
from ....optim import Adam
from ..ptq import capture_inputs
from . import FixedPointResidualMLP, binary_point_for_range, gptq_fixed_point_cast

SLUG = "qfx"
WBIT, ABIT = 3, 4
D, N_BLOCKS = 32, 2
DELTAS = (-1, 0, 1, 2)


def _sizes(quick):
    return {"pre_epochs": 15 if quick else 40, "qat_epochs": 3 if quick else 15}


def _model(seed):
    return FixedPointResidualMLP(d=D, n_blocks=N_BLOCKS, seed=seed)


@functools.cache
def _pretrained(seed: int, epochs: int):
    """(float state, float metrics, weight binary points f₀, activation binary points f₀)."""
    task = tasks.digits()
    model = _model(seed)
    train(model, task, lr=3e-3, epochs=epochs, seed=seed)
    model.eval()
    fp = split_metrics(model, task)
    model.record = {}
    with no_grad():
        model(Tensor(task.x_train))
    rec, model.record = model.record, None
    w_f = [binary_point_for_range(float(np.abs(lin.weight.data).max()), WBIT) for lin in model.linears()]
    a_f = [binary_point_for_range(float(max(rec[s])), ABIT) for s in model.act_sites()]
    return model.state_dict(), fp, tuple(w_f), tuple(a_f)


@functools.cache
def _run(seed: int, quick: bool, delta: int, learn: bool, lr: float | None, lr_phi: float | None) -> dict:
    sizes = _sizes(quick)
    task = tasks.digits()
    state, fp, w_f, a_f = _pretrained(seed, sizes["pre_epochs"])
    model = _model(seed)
    model.load_state_dict(state)
    model.enable_casts(WBIT, ABIT, [f + delta for f in w_f], [f + delta for f in a_f], learn_point=learn)
    casts = model.casts()
    f_init = np.array([c.fbit for c in casts])
    if lr is not None:
        phis = [c.phi for c in casts]
        others = [p for p in model.parameters() if all(p is not q for q in phis)]
        groups = [{"params": others, "lr": lr}] + ([{"params": phis, "lr": lr_phi}] if learn else [])
        model.train()
        train(model, task, optimizer=Adam(groups), epochs=sizes["qat_epochs"], seed=seed, cosine=True)
    model.eval()
    f_final = np.array([c.fbit for c in casts])
    out = split_metrics(model, task)
    return {
        **out,
        "fp_test_accuracy": fp["test_accuracy"],
        "gap_to_fp": fp["test_accuracy"] - out["test_accuracy"],
        "points_moved": float(np.mean(f_final != f_init)),
        "mean_point_shift": float(np.mean(f_final - f_init)),
    }


def _forward_order(model) -> list:
    """The Linears' names in the order the forward pass calls them (GPTQ casts them in this order)."""
    blocks = [n for i in range(model.n_blocks) for n in (f"fc1.{i}", f"fc2.{i}")]
    return ["embed", *blocks, "head"]


def gptq_model(seed: int, quick: bool, w_delta: int, a_delta: int, percdamp: float):
    """(model, float metrics): the pre-trained model with every cast installed (weights at f₀ + δ_w,
    activations at f₀ + δ_a, all frozen) and each Linear's weight replaced by its GPTQ cast, layer after
    layer in forward order; H from that layer's inputs on the training images, through the layers
    already cast and the activation casts (sequential, as GPTQ's reference code).  The GPTQ weights lie
    on their grids, so the weight parametrization leaves them unchanged."""
    task = tasks.digits()
    state, fp, w_f, a_f = _pretrained(seed, _sizes(quick)["pre_epochs"])
    model = _model(seed)
    model.load_state_dict(state)
    model.enable_casts(WBIT, ABIT, [f + w_delta for f in w_f], [f + a_delta for f in a_f], learn_point=False)
    model.eval()
    fbit = {id(lin): f + w_delta for lin, f in zip(model.linears(), w_f)}
    for name in _forward_order(model):
        lin = model.get_submodule(name)
        x = capture_inputs(model, lambda: model(Tensor(task.x_train)), [name])[name]
        theta = lin.parametrizations.weight.original
        theta.data = gptq_fixed_point_cast(theta.data, x, WBIT, fbit[id(lin)], percdamp=percdamp)
    return model, fp


@functools.cache
def _gptq_run(seed: int, quick: bool, w_delta: int, a_delta: int, percdamp: float) -> dict:
    model, fp = gptq_model(seed, quick, w_delta, a_delta, percdamp)
    out = split_metrics(model, tasks.digits())
    return {
        **out,
        "fp_test_accuracy": fp["test_accuracy"],
        "gap_to_fp": fp["test_accuracy"] - out["test_accuracy"],
        "points_moved": 0.0,
        "mean_point_shift": 0.0,
    }


LR_GRID, LR_QUICK = [1e-3, 3e-3], [3e-3]


def _methods(quick):
    def ptq(seed):
        return _run(seed, quick, 0, False, None, None)

    def fixed(seed, lr, delta):
        return _run(seed, quick, int(delta), False, float(lr), None)

    def qfx(seed, lr, lr_phi):
        return _run(seed, quick, 0, True, float(lr), float(lr_phi))

    def gptq(seed, w_delta, a_delta, percdamp):
        return _gptq_run(seed, quick, int(w_delta), int(a_delta), float(percdamp))

    methods = [
        Method("PTQ", ptq),
        Method(
            "GPTQ",
            gptq,
            grid={"w_delta": list(DELTAS), "a_delta": [-1, 0, 1], "percdamp": [0.01, 0.1]},
            quick_grid={"w_delta": [0, 1], "a_delta": [0], "percdamp": [0.01]},
        ),
    ]
    for d in DELTAS:
        methods.append(
            Method(
                f"fixed f0{d:+d}",
                fixed,
                grid={"lr": LR_GRID},
                quick_grid={"lr": LR_QUICK},
                fixed={"delta": d},
            )
        )
    methods.append(
        Method(
            "best fixed",
            fixed,
            grid={"lr": LR_GRID, "delta": list(DELTAS)},
            quick_grid={"lr": LR_QUICK, "delta": [0, 1]},
        )
    )
    methods.append(
        Method(
            "QFX",
            qfx,
            grid={"lr": LR_GRID, "lr_phi": [0.01, 0.05]},
            quick_grid={"lr": LR_QUICK, "lr_phi": [0.05]},
        )
    )
    return methods


@experiment(SLUG, seeds=tuple(range(8)), quick_seeds=(0, 1))  # 8 seeds: a full run takes about a minute
def run(quick, seeds, progress):
    methods = _methods(quick)
    comparison = compare(methods, seeds, select="val_accuracy", quick=quick, progress=progress)
    p_ptq = Premise(
        "the 3-bit post-training cast loses more than 5 points against the float model",
        metric="gap_to_fp",
        method="PTQ",
        threshold=0.05,
    )
    p_gptq = Premise(
        "the GPTQ fixed-point cast stays more than a point below the float model",
        metric="gap_to_fp",
        method="GPTQ",
        threshold=0.01,
    )
    p_room = Premise(
        "QAT at the range rule's binary points stays more than a point below the float model",
        metric="gap_to_fp",
        method="fixed f0+0",
        threshold=0.01,
    )
    claims = [
        Claim(
            "QFX (learned binary points) beats the post-training fixed-point cast",
            metric="test_accuracy",
            method="QFX",
            baseline="PTQ",
            direction="greater",
            premises=(p_ptq.statement,),
        ),
        Claim(
            "QFX beats the GPTQ fixed-point cast",
            metric="test_accuracy",
            method="QFX",
            baseline="GPTQ",
            direction="greater",
            margin=0.0,  # fixed before the first full run: the paper claims a direction, not a size
            premises=(p_gptq.statement,),
        ),
        Claim(
            "QFX beats the same training with the binary points frozen at the range rule's",
            metric="test_accuracy",
            method="QFX",
            baseline="fixed f0+0",
            direction="greater",
            premises=(p_room.statement,),
        ),
        Claim(
            "QFX beats the best nearby fixed binary point chosen on validation",
            metric="test_accuracy",
            method="QFX",
            baseline="best fixed",
            direction="greater",
            premises=(p_room.statement,),
        ),
    ]
    names = [m.name for m in methods]
    acc = np.array([comparison.values(n, "test_accuracy") for n in names])
    return finish(
        SLUG,
        comparison,
        premises=[p_ptq, p_gptq, p_room],
        claims=claims,
        quick=quick,
        smoke=quick,
        arrays={"test_accuracy": acc},
        notes={
            "methods": names,
            "fp_test_accuracy": float(np.mean(comparison.values("PTQ", "fp_test_accuracy"))),
            "wbit": WBIT,
            "abit": ABIT,
        },
        metrics=["test_accuracy", "val_accuracy", "gap_to_fp", "points_moved", "mean_point_shift"],
    )


def plot(result) -> dict:
    from ....plotting import pyplot

    plt = pyplot()
    names = result.notes["methods"]
    acc = np.asarray(result.arrays["test_accuracy"])
    fig, ax = plt.subplots(figsize=(8, 3.6))
    x = np.arange(len(names))
    colors = {"PTQ": "C7", "GPTQ": "C1", "best fixed": "C2", "QFX": "C3"}
    ax.bar(x, acc.mean(1), yerr=acc.std(1), color=[colors.get(n, "C0") for n in names])
    for j in range(acc.shape[1]):
        ax.plot(x, acc[:, j], "k.", ms=3, alpha=0.5)
    ax.axhline(result.notes["fp_test_accuracy"], color="k", ls="--", lw=1, label="float model")
    ax.set_xticks(x, names, rotation=20, fontsize=8)
    ax.set_ylim(0.0, 1.0)  # bars start at zero
    ax.set_ylabel("test accuracy (mean ± sd, dots: seeds)")
    ax.set_title(f"W{result.notes['wbit']} weights, A{result.notes['abit']} activations and residual sums")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return {SLUG: fig}
