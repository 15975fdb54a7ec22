"""The experiment: 3-bit weight-only post-training quantization by uniform rounding, PowerQuant (searched
exponent, rounding), learned codes on the uniform grid (a = 1) and NUPES (learned exponent and codes), on
two kinds of layer.

Setup.  Two settings, each quantized by the four methods (weights only, 3 bits, per output channel):
  digits-mlp     a 64-128-128-10 ReLU MLP, normal (Kaiming) init, trained with Adam on the digits (one model
                 per seed); every Linear is quantized with 256 training images as calibration inputs, and
                 judged on the validation / test images;
  laplace-layer  a synthetic 128 → 64 layer with Laplace (bell-shaped, heavy-tailed) weights and Gaussian
                 inputs (`tasks.weight_matrix`), drawn per seed, split into calibration / validation / test rows.
The two learned methods run the same optimiser (Adam, the same steps and batch) on the same calibration
inputs; they differ only in the exponent: fixed at a = 1 (the ablation lacking only the power-exponent
idea) or started at the searched a* and learned.  Each tunes its learning rates on the validation inputs'
layer-output error (`val_err`): the code rate for both, and the exponent's rate for NUPES.  The two rounding
methods have no hyperparameter.  Test inputs are used once, at the end.
Metrics: relative layer-output error ‖XWᵀ − XŴᵀ‖² / ‖XWᵀ‖² (mean over the setting's layers, each on its own
full-precision inputs) and, for the MLP, the test accuracy with all weights quantized.
Premise.  The power grid helps bell-shaped weights: the weights' kurtosis must exceed a Gaussian's (3) —
on the trained MLP this is measured, not built in.
Claims.  (1) On bell-shaped weights the learned exponent gives a lower layer-output error than learned codes
on the uniform grid, a = 1 (MLP; Laplace layer) — the paper's distinguishing idea against its ablation;
(2) the data-free searched exponent beats uniform rounding (PowerQuant's claim, NUPES's starting point);
(3) NUPES keeps a higher test accuracy than the a = 1 ablation on the MLP.
Grid.  θ's rate 0.001 … 0.1; 0.1 was added after the first recording, when the grid-edge check found both
learned-code arms on the Laplace layer at the highest rate then tried (0.03).
"""

from __future__ import annotations

import functools

import numpy as np

from ....autograd.tensor import Tensor
from ....experiments import Claim, Method, Premise, compare, experiment, finish, tasks, train
from .. import ptq as P
from ..toy_models import digits_mlp
from . import nupes_layer, power_quantize, search_exponent

SLUG = "nupes"
BITS = 3
N_CALIB, N_VAL, N_TEST = 256, 256, 512  # synthetic layer rows (the MLP uses the digits splits)
ARMS = ("uniform RTN", "PowerQuant", "codes a=1", "NUPES")
SETTINGS = ("digits-mlp", "laplace-layer")
KURTOSIS_GAUSSIAN = 3.0


def _sizes(quick):
    return {"epochs": 20 if quick else 60, "steps": 30 if quick else 200}


# --- the settings ----------------------------------------------------------------------------------------
def _mlp(seed):
    return digits_mlp(seed, (128, 128))


@functools.cache
def _trained(seed: int, epochs: int):
    """The trained MLP's state and every Linear's inputs on the calibration / validation / test images."""
    task = tasks.digits()
    model = _mlp(seed)
    train(model, task, lr=3e-3, epochs=epochs, seed=seed)
    model.eval()
    names = P.weight_sites(model)
    xs = {
        split: {
            n: v.astype(np.float64)
            for n, v in P.capture_inputs(model, lambda x=x: model(Tensor(x)), names).items()
        }
        for split, x in (("calib", task.x_train[:N_CALIB]), ("val", task.x_val), ("test", task.x_test))
    }
    return model.state_dict(), names, xs


@functools.cache
def _laplace_layer(seed: int):
    d_in, d_out = 128, 64
    W = tasks.weight_matrix((d_out, d_in), "laplace", seed=seed).astype(np.float64)
    X = tasks.weight_matrix((N_CALIB + N_VAL + N_TEST, d_in), "gaussian", seed=seed + 1000)
    X = X.astype(np.float64) * np.sqrt(d_in)  # unit-variance features
    a, b = N_CALIB, N_CALIB + N_VAL
    return W, {"calib": {"layer": X[:a]}, "val": {"layer": X[a:b]}, "test": {"layer": X[b:]}}


def _quantize(arm, W, X_calib, seed, steps, lr_theta, lr_a):
    """(Ŵ, exponent) of one layer by one method."""
    if arm == "uniform RTN":
        return power_quantize(W, 1.0, BITS), 1.0
    if arm == "PowerQuant":
        a = search_exponent(W, BITS)[0]
        return power_quantize(W, a, BITS), a
    if arm == "codes a=1":
        r = nupes_layer(W, X_calib, BITS, a0=1.0, lr_a=0.0, steps=steps, lr_theta=lr_theta, seed=seed)
    else:
        r = nupes_layer(W, X_calib, BITS, steps=steps, lr_theta=lr_theta, lr_a=lr_a, seed=seed)
    return r["W_hat"], r["a"]


def _arm(arm: str, setting: str, quick: bool):
    sizes = _sizes(quick)

    def method_run(seed, lr_theta=0.0, lr_a=0.0):
        if setting == "digits-mlp":
            state, names, xs = _trained(seed, sizes["epochs"])
            model = _mlp(seed)
            model.load_state_dict(state)
            model.eval()
            layers = {n: P.get_weight(model, n).astype(np.float64) for n in names}
        else:
            W, xs = _laplace_layer(seed)
            names, layers = ["layer"], {"layer": W}
        out = {}
        Wq, exps = {}, []
        for n in names:
            Wq[n], a = _quantize(arm, layers[n], xs["calib"][n], seed, sizes["steps"], lr_theta, lr_a)
            exps.append(a)
        for split in ("val", "test"):
            out[f"{split}_err"] = float(
                np.mean([P.reconstruction_error(layers[n], Wq[n], xs[split][n]) for n in names])
            )
        out["weight_kurtosis"] = float(np.mean([tasks.kurtosis(layers[n]) for n in names]))
        out["mean_exponent"] = float(np.mean(exps))
        if setting == "digits-mlp":
            task = tasks.digits()
            out["fp_test_accuracy"] = P.accuracy(model, task.x_test, task.y_test)
            with P.substituted(model, Wq):
                out["val_accuracy"] = P.accuracy(model, task.x_val, task.y_val)
                out["test_accuracy"] = P.accuracy(model, task.x_test, task.y_test)
        return out

    if arm == "codes a=1":
        grid, quick_grid = {"lr_theta": [0.001, 0.003, 0.01, 0.03, 0.1]}, {"lr_theta": [0.01]}
    elif arm == "NUPES":
        grid = {"lr_theta": [0.001, 0.003, 0.01, 0.03, 0.1], "lr_a": [0.003, 0.03]}
        quick_grid = {"lr_theta": [0.01], "lr_a": [0.003]}
    else:
        grid, quick_grid = {}, {}
    return Method(f"{arm}@{setting}", method_run, grid=grid, quick_grid=quick_grid)


@experiment(SLUG, seeds=tuple(range(8)), quick_seeds=(0, 1))
def run(quick, seeds, progress):
    methods = [_arm(arm, setting, quick) for setting in SETTINGS for arm in ARMS]
    comparison = compare(methods, seeds, select="val_err", maximize=False, quick=quick, progress=progress)
    p_mlp = Premise(
        "the trained MLP's weights are bell-shaped, with tails at least a Gaussian's (kurtosis > 3)",
        metric="weight_kurtosis",
        method="NUPES@digits-mlp",
        threshold=KURTOSIS_GAUSSIAN,
    )
    p_lap = Premise(
        "the Laplace layer's weights are heavy-tailed (kurtosis > 3)",
        metric="weight_kurtosis",
        method="NUPES@laplace-layer",
        threshold=KURTOSIS_GAUSSIAN,
    )
    claims = [
        Claim(
            "The learned exponent gives a lower 3-bit layer-output error than learned codes on the uniform "
            "grid (a = 1), trained MLP",
            metric="test_err",
            method="NUPES@digits-mlp",
            baseline="codes a=1@digits-mlp",
            direction="less",
            premises=(p_mlp.statement,),
        ),
        Claim(
            "The learned exponent gives a lower 3-bit layer-output error than learned codes on the uniform "
            "grid (a = 1), Laplace weights",
            metric="test_err",
            method="NUPES@laplace-layer",
            baseline="codes a=1@laplace-layer",
            direction="less",
            premises=(p_lap.statement,),
        ),
        Claim(
            "Data-free, the searched exponent gives a lower 3-bit layer-output error than uniform rounding "
            "(trained MLP)",
            metric="test_err",
            method="PowerQuant@digits-mlp",
            baseline="uniform RTN@digits-mlp",
            direction="less",
            premises=(p_mlp.statement,),
        ),
        Claim(
            "Data-free, the searched exponent gives a lower 3-bit layer-output error than uniform rounding "
            "(Laplace weights)",
            metric="test_err",
            method="PowerQuant@laplace-layer",
            baseline="uniform RTN@laplace-layer",
            direction="less",
            premises=(p_lap.statement,),
        ),
        Claim(
            "With all weights at 3 bits, NUPES keeps a higher test accuracy than learned codes with a = 1 "
            "(trained MLP)",
            metric="test_accuracy",
            method="NUPES@digits-mlp",
            baseline="codes a=1@digits-mlp",
            direction="greater",
            premises=(p_mlp.statement,),
        ),
    ]

    def stat(arm, s, metric, fn):
        return float(fn(comparison.values(f"{arm}@{s}", metric)))

    err = np.array([[stat(a, s, "test_err", np.mean) for a in ARMS] for s in SETTINGS])
    err_sd = np.array([[stat(a, s, "test_err", np.std) for a in ARMS] for s in SETTINGS])
    acc = np.array([stat(a, "digits-mlp", "test_accuracy", np.mean) for a in ARMS])
    # the weight error as a function of the exponent, on one MLP layer and one Laplace layer (seed 0)
    state, names, _ = _trained(seeds[0], _sizes(quick)["epochs"])
    W_mlp = np.asarray(state[f"{names[1]}.weight"], dtype=np.float64)
    curves = []
    for W in (W_mlp, _laplace_layer(seeds[0])[0]):
        _, errs, grid = search_exponent(W, BITS)
        curves.append(errs / np.sum(W**2))
    return finish(
        SLUG,
        comparison,
        premises=[p_mlp, p_lap],
        claims=claims,
        quick=quick,
        smoke=quick,
        arrays={
            "test_err": err,
            "test_err_std": err_sd,
            "test_accuracy": acc,
            "exponent_grid": np.asarray(grid),
            "weight_err_vs_a": np.array(curves),
        },
        notes={
            "arms": list(ARMS),
            "settings": list(SETTINGS),
            "bits": BITS,
            "curve_layers": [f"digits MLP layer {names[1]}", "Laplace layer"],
            "fp_test_accuracy": stat("NUPES", "digits-mlp", "fp_test_accuracy", np.mean),
        },
        metrics=["test_err", "val_err", "test_accuracy", "val_accuracy", "weight_kurtosis", "mean_exponent"],
    )


def plot(result) -> dict:
    from ....plotting import pyplot

    plt = pyplot()
    arms, settings = result.notes["arms"], result.notes["settings"]
    err, sd = np.asarray(result.arrays["test_err"]), np.asarray(result.arrays["test_err_std"])
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6), gridspec_kw={"width_ratios": [2, 1, 1.3]})
    width = 0.8 / len(arms)
    for j, arm in enumerate(arms):
        xs = np.arange(len(settings)) + (j - (len(arms) - 1) / 2) * width
        axes[0].bar(xs, err[:, j], width, yerr=sd[:, j], label=arm, color=f"C{j}")
    axes[0].set_xticks(range(len(settings)), settings)
    axes[0].set_yscale("log")
    axes[0].set_ylabel("relative layer-output error\n(test inputs, mean ± sd over seeds)")
    axes[0].set_title(f"W{result.notes['bits']} weight-only layer-output error")
    axes[0].legend(fontsize=8)
    acc = np.asarray(result.arrays["test_accuracy"])
    axes[1].bar(range(len(arms)), acc, color=[f"C{j}" for j in range(len(arms))])
    axes[1].axhline(result.notes["fp_test_accuracy"], color="k", ls="--", lw=1, label="full precision")
    axes[1].set_xticks(range(len(arms)), arms, rotation=30, fontsize=8)
    axes[1].set_ylim(0.0, 1.0)  # bars start at zero
    axes[1].set_ylabel("test accuracy (mean over seeds)")
    axes[1].set_title("digits MLP")
    axes[1].legend(fontsize=8)
    grid = np.asarray(result.arrays["exponent_grid"])
    for label, curve in zip(result.notes["curve_layers"], np.asarray(result.arrays["weight_err_vs_a"])):
        axes[2].plot(grid, curve, label=label)
    axes[2].set(xlabel="exponent a", ylabel="relative weight error", yscale="log", title="Eq. 3: error vs a")
    axes[2].legend(fontsize=8)
    fig.tight_layout()
    return {SLUG: fig}
