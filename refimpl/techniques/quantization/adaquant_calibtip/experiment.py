"""The experiment: AdaQuant against the ablation that fits only the quantization ranges, bias tuning with
the official KL objective, and the integer-programming bit allocation against uniform bits.

Setup.  A deep ReLU MLP 64 → 32 (×7) → 10 (eight Linear layers, so the integer program has eight
choices to make) from a normal (Kaiming) initialisation, trained with Adam on the digits, one model per
seed; the calibration set is 256 training images drawn per seed; validation images choose every
hyperparameter, test images are used once.
  Part A, W2A4 everywhere: min–max rounding (clipping ratio searched), `qparams-only` (the same
  layer-output objective and steps, only ranges and zero points learnt — the code's optimize_qparams),
  AdaQuant parallel and sequential (weight step `lr_w` searched), and sequential AdaQuant followed by
  KL bias tuning (`lr_w` and the SGD step `lr_bt` searched).
  Part B, weights at {2, 3, 4, 8} bits, activations at 8: per-layer loss increases measured on the
  calibration set with parallel AdaQuant plans, then the bit widths chosen by the integer program at an
  average of 3 bits per weight, against every layer at 3 bits (plans made the same way, the same budget).
Premises.  (A) min–max W2A4 loses more than 5 points of validation accuracy against full precision;
(A′) sequential AdaQuant leaves a gap to full precision for bias tuning to close (above half a point);
(B) the layers' sensitivities differ: the largest 2-bit loss increase is more than 3× the median.
Claims.  AdaQuant (parallel, sequential) beats qparams-only at W2A4; KL bias tuning raises sequential
AdaQuant's accuracy; the IP allocation beats uniform 3-bit weights at the same size.  Margins are 0 (the
paper claims improvements, not amounts that transfer to a toy).
"""

from __future__ import annotations

import functools

import numpy as np

from ....experiments import Claim, Method, Premise, compare, experiment, finish, tasks
from .. import ptq as P
from ..toy_models import digits_mlp, trained_digits_mlp_state
from . import (
    accuracy,
    allocate_bits,
    allocate_bits_brute_force,
    calibrate,
    cross_entropy,
    kl_bias_tuning,
    layer_sensitivities,
)

SLUG = "adaquant-calibtip"
WIDTH, DEPTH = 32, 8  # eight Linear layers
W_BITS, A_BITS = 2, 4  # part A
BIT_OPTIONS = (2, 3, 4, 8)  # part B (weights; activations at 8 bits)
AVG_BITS = 3
N_CALIB = 256


def _sizes(quick):
    return {"epochs": 12 if quick else 60, "iters": 20 if quick else 200, "bt_epochs": 2 if quick else 10}


def _mlp(seed):
    return digits_mlp(seed, (WIDTH,) * (DEPTH - 1))


def _trained(seed: int, epochs: int):
    return trained_digits_mlp_state(seed, epochs, (WIDTH,) * (DEPTH - 1))


def _setup(seed, quick):
    task = tasks.digits()
    model = _mlp(seed)
    model.load_state_dict(_trained(seed, _sizes(quick)["epochs"]))
    model.eval()
    idx = np.random.default_rng(seed).choice(len(task.x_train), N_CALIB, replace=False)
    xc, yc = task.x_train[idx].astype(np.float64), task.y_train[idx]
    return task, model, xc, yc


def _scores(model, plan, task):
    xv, xt = task.x_val.astype(np.float64), task.x_test.astype(np.float64)
    return {
        "val_accuracy": accuracy(model, plan, xv, task.y_val),
        "test_accuracy": accuracy(model, plan, xt, task.y_test),
        "fp_val_accuracy": P.accuracy(model, task.x_val, task.y_val),
        "fp_test_accuracy": P.accuracy(model, task.x_test, task.y_test),
    }


def _with_drop(m):
    return {**m, "val_drop": m["fp_val_accuracy"] - m["val_accuracy"]}


@functools.cache
def _plan(seed, quick, mode, lr_w=1e-3, lr_q=1.0, clip=1.0):
    task, model, xc, _ = _setup(seed, quick)
    return calibrate(
        model, xc, W_BITS, A_BITS, mode, _sizes(quick)["iters"], seed, lr_w=lr_w, lr_q=lr_q, clip=clip
    )


def _part_a(mode):
    def run_one(seed, quick, **hp):
        task, model, _, _ = _setup(seed, quick)
        return _with_drop(_scores(model, _plan(seed, quick, mode, **hp), task))

    return run_one


def _bias_tuned(seed, quick, lr_w, lr_bt):
    task, model, xc, yc = _setup(seed, quick)
    plan = kl_bias_tuning(
        model,
        _plan(seed, quick, "sequential", lr_w=lr_w),
        xc,
        yc,
        num_classes=10,
        epochs=_sizes(quick)["bt_epochs"],
        lr=lr_bt,
        seed=seed,
    )
    return _with_drop(_scores(model, plan, task))


@functools.cache
def _sensitivities(seed, quick, lr_w):
    _, model, xc, yc = _setup(seed, quick)
    return layer_sensitivities(model, xc, yc, BIT_OPTIONS, iters=_sizes(quick)["iters"], seed=seed, lr_w=lr_w)


def _allocation(kind):
    def run_one(seed, quick, lr_w):
        task, model, xc, yc = _setup(seed, quick)
        s = _sensitivities(seed, quick, lr_w)
        names = P.weight_sites(model)
        n_par = [model.get_submodule(n).weight.data.size for n in names]
        sizes = [[n * b for b in BIT_OPTIONS] for n in n_par]
        budget = AVG_BITS * sum(n_par)
        delta = s["delta"].tolist()
        if kind == "ip":
            choice, predicted, used = allocate_bits(delta, sizes, budget)
            _, brute, _ = allocate_bits_brute_force(delta, sizes, budget)
        else:
            choice = [BIT_OPTIONS.index(AVG_BITS)] * len(names)
            predicted = float(sum(delta[i][k] for i, k in enumerate(choice)))
            used, brute = budget, np.nan
        plan = {n: s["plans"][(n, BIT_OPTIONS[k])] for n, k in zip(names, choice)}
        joint = cross_entropy(model, plan, xc, yc) - s["base_loss"]  # calibration set, all layers at once
        d2 = s["delta"][:, BIT_OPTIONS.index(2)]
        return {
            **_scores(model, plan, task),
            "avg_bits": used / sum(n_par),
            "predicted_dL": predicted,
            "joint_dL": joint,
            "ip_minus_brute": predicted - brute if kind == "ip" else 0.0,
            "sens_spread": float(d2.max() / max(np.median(d2), 1e-12)),
            **{f"bits_layer{i}": float(BIT_OPTIONS[k]) for i, k in enumerate(choice)},
        }

    return run_one


def _methods(quick):
    def m(name, fn, grid, quick_grid):
        return Method(name, lambda seed, **hp: fn(seed, quick, **hp), grid=grid, quick_grid=quick_grid)

    lrs = [1e-3, 3e-3, 1e-2]  # Adam step of the weights
    return [
        m("min-max", _part_a("minmax"), {"clip": [1.0, 0.8, 0.6]}, {"clip": [1.0]}),
        m("qparams-only", _part_a("qparams"), {"lr_q": [1.0, 3.0, 10.0]}, {"lr_q": [1.0]}),
        m("AdaQuant parallel", _part_a("parallel"), {"lr_w": lrs}, {"lr_w": [1e-3]}),
        m("AdaQuant sequential", _part_a("sequential"), {"lr_w": lrs}, {"lr_w": [1e-3]}),
        m(
            "sequential + KL bias tuning",
            _bias_tuned,
            {"lr_w": lrs, "lr_bt": [0.1, 0.3, 1.0]},
            {"lr_w": [1e-3], "lr_bt": [0.1]},
        ),
        m("uniform 3-bit (A8)", _allocation("uniform"), {"lr_w": lrs}, {"lr_w": [1e-3]}),
        m("IP allocation (A8)", _allocation("ip"), {"lr_w": lrs}, {"lr_w": [1e-3]}),
    ]


@experiment(SLUG, seeds=tuple(range(5)), quick_seeds=(0, 1))
def run(quick, seeds, progress):
    comparison = compare(_methods(quick), seeds, select="val_accuracy", quick=quick, progress=progress)
    p_a = Premise(
        "min-max W2A4 loses more than 5 points of validation accuracy",
        metric="val_drop",
        method="min-max",
        threshold=0.05,
    )
    p_bt = Premise(
        "sequential AdaQuant leaves more than half a point to full precision",
        metric="val_drop",
        method="AdaQuant sequential",
        threshold=0.005,
    )
    p_b = Premise(
        "the layers' 2-bit sensitivities differ (largest > 3x the median)",
        metric="sens_spread",
        method="IP allocation (A8)",
        threshold=3.0,
    )
    claims = [
        Claim(
            "Sequential AdaQuant beats fitting only the quantization ranges (W2A4 test accuracy)",
            "test_accuracy",
            "AdaQuant sequential",
            "qparams-only",
            premises=(p_a.statement,),
        ),
        Claim(
            "Parallel AdaQuant beats fitting only the quantization ranges (W2A4 test accuracy)",
            "test_accuracy",
            "AdaQuant parallel",
            "qparams-only",
            premises=(p_a.statement,),
        ),
        Claim(
            "KL bias tuning raises sequential AdaQuant's W2A4 test accuracy",
            "test_accuracy",
            "sequential + KL bias tuning",
            "AdaQuant sequential",
            premises=(p_bt.statement,),
        ),
        Claim(
            "The IP bit allocation beats uniform 3-bit weights at the same size (test accuracy)",
            "test_accuracy",
            "IP allocation (A8)",
            "uniform 3-bit (A8)",
            premises=(p_b.statement,),
        ),
    ]
    s = _sensitivities(seeds[0], quick, comparison.selected["IP allocation (A8)"]["lr_w"])
    return finish(
        SLUG,
        comparison,
        premises=[p_a, p_bt, p_b],
        claims=claims,
        quick=quick,
        smoke=quick,
        arrays={"delta_loss": s["delta"]},
        notes={"bit_options": list(BIT_OPTIONS), "sensitivity_seed": int(seeds[0])},
    )


def plot(result) -> dict:
    from ....plotting import pyplot

    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    names = list(result.selected)
    acc = [np.mean(result.values(n, "test_accuracy")) for n in names]
    sd = [np.std(result.values(n, "test_accuracy")) for n in names]
    axes[0].barh(range(len(names)), acc, xerr=sd, color=[f"C{i}" for i in range(len(names))])
    axes[0].set_yticks(range(len(names)), names, fontsize=8)
    fp = np.mean(result.values(names[0], "fp_test_accuracy"))
    axes[0].axvline(fp, color="k", ls="--", lw=1, label="full precision")
    axes[0].set(xlabel="test accuracy (mean ± sd over seeds)", xlim=(0, 1))
    axes[0].legend(fontsize=8, loc="lower left", bbox_to_anchor=(0.0, 1.0))  # above the bars
    d = np.asarray(result.arrays["delta_loss"])
    bits = result.notes["bit_options"]
    for i, row in enumerate(d):
        axes[1].plot(
            bits[:-1], np.maximum(row[:-1], 1e-4), marker="o", label=f"layer {i}", color=f"C{i % 10}"
        )
    axes[1].set(
        yscale="log",
        xlabel="weight bits of the one quantized layer",
        ylabel="ΔL on the calibration set",
        title=f"per-layer sensitivities (seed {result.notes['sensitivity_seed']})",
    )
    axes[1].legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return {SLUG: fig}
