"""The experiment: W4A4 post-training quantization by INT4 search, FP4 search (the paper's FP-PTQ
baseline) and LLM-FP4 (FP4 search + pre-shifted per-channel activation biases), on three kinds of layer.

Setup.  Three settings, each quantized by the three methods with the same search (grid of clipping
ranges, rounds of alternating weight / activation search, layer-output objective on calibration inputs):
  digits-mlp     a 64-128-128-10 MLP with a LayerNorm before each hidden Linear, normal (Kaiming) init,
                 trained with Adam on the digits (one model per seed); every Linear is W4A4-quantized on
                 256 training images, judged on the validation / test images;
  laplace-layer  a synthetic 128 → 64 layer with Laplace (heavy-tailed, bell-shaped) weights and Gaussian
                 inputs (`tasks.weight_matrix`), drawn per seed;
  outlier-layer  a synthetic layer with Gaussian weights and inputs with outlier channels (a few input
                 channels 20× larger: high inter-channel, low intra-channel variance), drawn per seed.
Each method tunes, per setting, the lower end `alpha` of the clipping grid and the number of search
`rounds` on the validation inputs' layer-output error (`val_err`); test inputs are used once, at the end.
Metrics: relative layer-output error ‖XWᵀ − X̂Ŵᵀ‖² / ‖XWᵀ‖² (mean over the setting's layers; for the MLP
each layer on its own full-precision inputs), and the W4A4 MLP's accuracy.
Premises.  FP grids help on bell-shaped data: the weights' kurtosis must reach a Gaussian's (3) — on the
trained MLP this is measured, not built in.  The pre-shift helps when inputs vary between channels: the
outlier ratio (largest channel max / median channel max) must exceed 4 (two binades, so the integer
offsets k_j are not all zero).
Claims.  (1) At equal bits, FP4 search has a lower layer-output error than INT4 search (MLP, Laplace
layer) and (2) keeps at least INT4's accuracy on the MLP; (3) the pre-shifted biases lower FP4's error
where inputs vary between channels (outlier layer, and the MLP if its inputs do).
"""

from __future__ import annotations

import contextlib
import functools

import numpy as np

from ....autograd.tensor import Tensor
from ....experiments import Claim, Method, Premise, compare, experiment, finish, tasks
from .. import ptq as P
from ..toy_models import digits_mlp, trained_digits_mlp_state
from . import search_layer

SLUG = "llm-fp4"
BITS = 4
HIDDEN = 128
N_CALIB, N_VAL, N_TEST = 256, 256, 512  # synthetic layers (the MLP uses the digits splits)
ARMS = {"INT4": ("int", False), "FP4": ("fp", False), "LLM-FP4": ("fp", True)}
SETTINGS = ("digits-mlp", "laplace-layer", "outlier-layer")
KURTOSIS_GAUSSIAN = 3.0
SPREAD = 4.0  # outlier ratio above which channel scales span two binades


def _quick_sizes(quick):
    return {"epochs": 30 if quick else 200, "grid": 12 if quick else 60}


# --- the settings ----------------------------------------------------------------------------------------
def _mlp(seed):
    return digits_mlp(seed, (HIDDEN, HIDDEN), layer_norm=True)


def _trained(seed: int, epochs: int):
    return trained_digits_mlp_state(seed, epochs, (HIDDEN, HIDDEN), layer_norm=True)


def _model(seed, epochs):
    model = _mlp(seed)
    model.load_state_dict(_trained(seed, epochs))
    model.eval()
    return model


@functools.cache
def _synthetic(setting: str, seed: int):
    """(W, X_calib, X_val, X_test) of a synthetic layer; one draw of X split by rows, so the outlier
    channels are the same channels in every split."""
    d_in, d_out, n = 128, 64, N_CALIB + N_VAL + N_TEST
    if setting == "laplace-layer":
        W = tasks.weight_matrix((d_out, d_in), "laplace", seed=seed)
        X = tasks.weight_matrix((n, d_in), "gaussian", seed=seed + 1000)
    else:
        W = tasks.weight_matrix((d_out, d_in), "gaussian", seed=seed)
        X = tasks.weight_matrix((n, d_in), "outlier_channels", seed=seed + 1000)
    X = X.astype(np.float64) * np.sqrt(d_in)  # unit-variance features (the generator divides by √fan_in)
    a, b = N_CALIB, N_CALIB + N_VAL
    return W.astype(np.float64), X[:a], X[a:b], X[b:]


@contextlib.contextmanager
def inputs_transformed(model, transforms: dict):
    """Temporarily apply transforms[name](x: ndarray) -> ndarray to the input of each named Linear (the
    activation quantizer at evaluation; no gradient flows through it)."""
    patched = []
    for name, fn in transforms.items():
        target = model.get_submodule(name)

        def forward(x, _orig=target.forward, _fn=fn):
            return _orig(Tensor(np.asarray(_fn(x.data), dtype=x.data.dtype)))

        object.__setattr__(target, "forward", forward)
        patched.append(target)
    try:
        yield model
    finally:
        for t in patched:
            object.__delattr__(t, "forward")


def _rel_err(W, plan, X):
    ref = X @ W.T
    return float(np.sum((ref - plan["quantize_input"](X) @ plan["W_hat"].T) ** 2) / np.sum(ref**2))


def _describe(layers, plans, x_calib):
    return {
        "weight_kurtosis": float(np.mean([tasks.kurtosis(W) for W in layers.values()])),
        "act_outlier_ratio": float(np.mean([tasks.outlier_ratio(x_calib[n], axis=0) for n in layers])),
        "exp_bits_w": float(np.mean([p["exp_bits_w"] or 0 for p in plans.values()])),
        "exp_bits_a": float(np.mean([p["exp_bits_a"] or 0 for p in plans.values()])),
        "mean_shift_k": float(np.mean([p["k"].mean() for p in plans.values()])),
    }


def _arm(arm: str, setting: str, quick: bool):
    kind, preshift = ARMS[arm]
    sizes = _quick_sizes(quick)

    def search(W, X, alpha, rounds):
        return search_layer(
            W,
            X,
            bits=BITS,
            kind=kind,
            per_channel_act=preshift,
            grid=sizes["grid"],
            rounds=rounds,
            alpha=alpha,
        )

    def run_mlp(seed, alpha, rounds):
        task = tasks.digits()
        model = _model(seed, sizes["epochs"])
        names = P.weight_sites(model)
        layers = {n: P.get_weight(model, n).astype(np.float64) for n in names}
        x = {
            split: P.capture_inputs(model, lambda xs=xs: model(Tensor(xs)), names)
            for split, xs in (("calib", task.x_train[:N_CALIB]), ("val", task.x_val), ("test", task.x_test))
        }
        fp_acc = P.accuracy(model, task.x_test, task.y_test)
        plans = {n: search(layers[n], x["calib"][n], alpha, rounds) for n in names}
        out = {
            f"{s}_err": float(
                np.mean([_rel_err(layers[n], plans[n], x[s][n].astype(np.float64)) for n in names])
            )
            for s in ("val", "test")
        }
        Wd = {n: plans[n]["W_hat"] for n in names}
        xf = {n: plans[n]["quantize_input"] for n in names}
        with P.substituted(model, Wd), inputs_transformed(model, xf):
            out["val_accuracy"] = P.accuracy(model, task.x_val, task.y_val)
            out["test_accuracy"] = P.accuracy(model, task.x_test, task.y_test)
        return {**out, "fp_test_accuracy": fp_acc, **_describe(layers, plans, x["calib"])}

    def run_layer(seed, alpha, rounds):
        W, Xc, Xv, Xt = _synthetic(setting, seed)
        plan = search(W, Xc, alpha, rounds)
        return {
            "val_err": _rel_err(W, plan, Xv),
            "test_err": _rel_err(W, plan, Xt),
            **_describe({"layer": W}, {"layer": plan}, {"layer": Xc}),
        }

    grid = {"alpha": [0.01, 0.3], "rounds": [1, 3]}
    quick_grid = {"alpha": [0.01], "rounds": [1]}
    return Method(
        f"{arm}@{setting}",
        run_mlp if setting == "digits-mlp" else run_layer,
        grid=grid,
        quick_grid=quick_grid,
    )


@experiment(SLUG, seeds=tuple(range(10)), quick_seeds=(0, 1))  # 10 seeds: a full run takes under a minute
def run(quick, seeds, progress):
    methods = [_arm(arm, setting, quick) for setting in SETTINGS for arm in ARMS]
    comparison = compare(methods, seeds, select="val_err", maximize=False, quick=quick, progress=progress)
    p_mlp = Premise(
        "the trained MLP's weights are bell-shaped, with tails at least a Gaussian's (kurtosis > 3)",
        metric="weight_kurtosis",
        method="FP4@digits-mlp",
        threshold=KURTOSIS_GAUSSIAN,
    )
    p_lap = Premise(
        "the Laplace layer's weights are heavy-tailed (kurtosis > 3)",
        metric="weight_kurtosis",
        method="FP4@laplace-layer",
        threshold=KURTOSIS_GAUSSIAN,
    )
    p_out = Premise(
        "the outlier layer's inputs vary between channels (outlier ratio > 4)",
        metric="act_outlier_ratio",
        method="LLM-FP4@outlier-layer",
        threshold=SPREAD,
    )
    p_mlp_out = Premise(
        "the trained MLP's Linear inputs vary between channels (outlier ratio > 4)",
        metric="act_outlier_ratio",
        method="LLM-FP4@digits-mlp",
        threshold=SPREAD,
    )
    claims = [
        Claim(
            "At equal bits, FP4 search has a lower W4A4 layer-output error than INT4 search (trained MLP)",
            metric="test_err",
            method="FP4@digits-mlp",
            baseline="INT4@digits-mlp",
            direction="less",
            premises=(p_mlp.statement,),
        ),
        Claim(
            "At equal bits, FP4 search has a lower W4A4 layer-output error than INT4 search (Laplace weights)",
            metric="test_err",
            method="FP4@laplace-layer",
            baseline="INT4@laplace-layer",
            direction="less",
            premises=(p_lap.statement,),
        ),
        Claim(
            "W4A4 FP4 search keeps a higher test accuracy than INT4 search on the trained MLP",
            metric="test_accuracy",
            method="FP4@digits-mlp",
            baseline="INT4@digits-mlp",
            direction="greater",
            premises=(p_mlp.statement,),
        ),
        Claim(
            "Pre-shifted exponent biases lower FP4's layer-output error where inputs vary between channels",
            metric="test_err",
            method="LLM-FP4@outlier-layer",
            baseline="FP4@outlier-layer",
            direction="less",
            premises=(p_out.statement,),
        ),
        Claim(
            "Pre-shifted exponent biases lower FP4's layer-output error on the trained MLP",
            metric="test_err",
            method="LLM-FP4@digits-mlp",
            baseline="FP4@digits-mlp",
            direction="less",
            premises=(p_mlp_out.statement,),
        ),
    ]
    err = np.array(
        [[np.mean(comparison.values(f"{a}@{s}", "test_err")) for a in ARMS] for s in SETTINGS], dtype=float
    )
    err_sd = np.array(
        [[np.std(comparison.values(f"{a}@{s}", "test_err")) for a in ARMS] for s in SETTINGS], dtype=float
    )
    acc = np.array([np.mean(comparison.values(f"{a}@digits-mlp", "test_accuracy")) for a in ARMS])
    return finish(
        SLUG,
        comparison,
        premises=[p_mlp, p_lap, p_out, p_mlp_out],
        claims=claims,
        quick=quick,
        smoke=quick,
        arrays={"test_err": err, "test_err_std": err_sd, "test_accuracy": acc},
        notes={
            "arms": list(ARMS),
            "settings": list(SETTINGS),
            "fp_test_accuracy": float(np.mean(comparison.values("FP4@digits-mlp", "fp_test_accuracy"))),
        },
        metrics=[
            "test_err",
            "val_err",
            "test_accuracy",
            "val_accuracy",
            "weight_kurtosis",
            "act_outlier_ratio",
            "exp_bits_w",
            "exp_bits_a",
            "mean_shift_k",
        ],
    )


def plot(result) -> dict:
    from ....plotting import pyplot

    plt = pyplot()
    arms, settings = result.notes["arms"], result.notes["settings"]
    err, sd = np.asarray(result.arrays["test_err"]), np.asarray(result.arrays["test_err_std"])
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), gridspec_kw={"width_ratios": [2, 1]})
    width = 0.8 / len(arms)
    for j, arm in enumerate(arms):
        xs = np.arange(len(settings)) + (j - (len(arms) - 1) / 2) * width
        axes[0].bar(xs, err[:, j], width, yerr=sd[:, j], label=arm, color=f"C{j}")
    axes[0].set_xticks(range(len(settings)), settings)
    axes[0].set_yscale("log")
    axes[0].set_ylabel("relative layer-output error\n(test inputs, mean ± sd over seeds)")
    axes[0].set_title("W4A4 layer-output error")
    axes[0].legend(fontsize=8)
    acc = np.asarray(result.arrays["test_accuracy"])
    axes[1].bar(range(len(arms)), acc, color=[f"C{j}" for j in range(len(arms))])
    axes[1].axhline(result.notes["fp_test_accuracy"], color="k", ls="--", lw=1, label="full precision")
    axes[1].set_xticks(range(len(arms)), arms)
    axes[1].set_ylim(0.0, 1.0)  # bars start at zero
    axes[1].set_ylabel("test accuracy (mean over seeds)")
    axes[1].set_title("digits MLP, W4A4")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    return {SLUG: fig}
