"""The experiment: 2/4-bit layer mixes of a trained residual MLP, layers moved to 2 bits in the order of an
importance score (LIM, ZD), in the reversed orders, or in random orders, with round-to-nearest or GPTQ as
the per-layer quantizer.

Setup.  A residual MLP (embedding 64 → 32, eight pre-norm residual blocks 32 → 64 → 32, head) with normal
(Kaiming) initialisation is trained with Adam on the digits (one model per seed).  Its eight blocks are the
"layers": k = 0 … 8 of them (both Linears of a block) are quantized to 2 bits and the rest to 4 bits,
per-output-channel symmetric; embedding and head stay at full precision.  The scores come from 256
training images (LIM) or the weights (ZD); GPTQ's Hessians from the same images, each block's inputs
captured in the full-precision model.  Orders: LIM, ZD (most important last to move), their reverses, and
random orders (the paper's "no specific ordering"; the mean over several permutations per seed).
Every arm tunes its quantizer's hyperparameters (RTN: the clipping ratio; GPTQ: the damping and the
clipping ratio) on the validation accuracy averaged over the fractional mixes k = 1 … 7; test images are
used once, at the end.
Metrics.  `*_accuracy`: accuracy averaged over the fractional mixes k = 1 … 7; `acc_k<k>`: test accuracy at
k layers on 2 bits; `layers_movable`: how many layers move to 2 bits, in the arm's order, before the test
accuracy falls more than 2 points below the all-4-bit model's.
Premises.  (1) The all-2-bit model loses accuracy against the all-4-bit one (more than 5 points): otherwise
there is nothing to allocate.  (2) Layers differ in sensitivity: the accuracy lost by putting one block
alone at 2 bits varies between blocks by more than a point.
Claims (the paper: ordered moves keep performance close to the original far longer than moves in no
specific order, with either quantizer).  LIM and ZD orders keep a higher accuracy over the fractional mixes
than random orders, with RTN and with GPTQ; the LIM order moves more layers within 2 points of the 4-bit
model than random orders.
Grid.  RTN's clip ratio 1.0 … 0.4; 0.6 and 0.5, then 0.4, were added after the first recording, when the
grid-edge check found every RTN order at the lowest ratio then tried (0.7), then ZD at 0.5.  Reverse LIM
then picks 0.4: the validation accuracy is flat in the ratio below 0.7 and the choice wanders; the grid was
left there (no claim's verdict moved across the three recordings).
"""

from __future__ import annotations

import functools

import numpy as np

from ....autograd.tensor import Tensor, no_grad
from ....experiments import Claim, Method, Premise, compare, experiment, finish, tasks, train
from .. import ptq as P
from . import (
    ResidualMLP,
    allocation,
    average_bits,
    gptq_quantize_weight,
    lim_score,
    quantize_layers,
    rtn_quantize_weight,
    zd_score,
)

SLUG = "layerwise-mixed-bits"
B_LOW, B_HIGH = 2, 4
N_LAYERS, D = 8, 32
N_CALIB = 256
TOL = 0.02  # "close to the original": within 2 points of the all-4-bit accuracy
ORDERS = ("LIM", "ZD", "reverse LIM", "reverse ZD", "random")
QUANTIZERS = ("RTN", "GPTQ")


def _sizes(quick):
    return {"epochs": 8 if quick else 40, "n_random": 2 if quick else 10}


@functools.cache
def _trained(seed: int, epochs: int):
    model = ResidualMLP(d=D, n_layers=N_LAYERS, seed=seed)
    train(model, tasks.digits(), lr=3e-3, epochs=epochs, seed=seed)
    return model.state_dict()


@functools.cache
def _setup(seed: int, epochs: int):
    """(model, scores, calibration inputs per site, block sizes) of the trained model of `seed`."""
    model = ResidualMLP(d=D, n_layers=N_LAYERS, seed=seed)
    model.load_state_dict(_trained(seed, epochs))
    model.eval()
    xc = tasks.digits().x_train[:N_CALIB]
    model.record = []
    with no_grad():
        model(Tensor(xc))
    rec, model.record = model.record, None
    blocks = model.block_sites()
    names = [n for sites in blocks.values() for n in sites]
    xin = P.capture_inputs(model, lambda: model(Tensor(xc)), names)
    scores = {
        "LIM": np.array([lim_score(a, b) for a, b in rec]),
        "ZD": np.array([zd_score(list(blocks[i].values())) for i in range(N_LAYERS)]),
    }
    sizes = [sum(W.size for W in blocks[i].values()) for i in range(N_LAYERS)]
    return model, scores, xin, sizes


@functools.cache
def _quantized(seed: int, epochs: int, quantizer: str, hp: tuple):
    """{bits: {site: Ŵ}} for both widths: every block quantized once per width and reused by every order."""
    model, _, xin, _ = _setup(seed, epochs)
    hp = dict(hp)
    out = {}
    for b in (B_LOW, B_HIGH):
        if quantizer == "RTN":
            fn = lambda n, W, b: rtn_quantize_weight(W, b, clip_ratio=hp["clip_ratio"])  # noqa: E731
        else:
            fn = lambda n, W, b: gptq_quantize_weight(  # noqa: E731
                W, xin[n], b, percdamp=hp["percdamp"], clip_ratio=hp["clip_ratio"]
            )
        out[b] = quantize_layers(model.block_sites(), np.full(N_LAYERS, b), fn)
    return out


def _accuracies(model, qw, bits):
    task = tasks.digits()
    weights = {n: qw[int(bits[i])][n] for i in range(N_LAYERS) for n in (f"fc1.{i}", f"fc2.{i}")}
    with P.substituted(model, weights):
        return P.accuracy(model, task.x_val, task.y_val), P.accuracy(model, task.x_test, task.y_test)


def _curve(model, qw, importance):
    """(val, test) accuracy for k = 0 … L layers on 2 bits in the order of `importance`."""
    return np.array(
        [_accuracies(model, qw, allocation(importance, k, B_LOW, B_HIGH)) for k in range(N_LAYERS + 1)]
    )


def _movable(test_curve):
    """Layers moved to 2 bits before the test accuracy first drops more than TOL below the 4-bit model's."""
    bad = np.nonzero(test_curve < test_curve[0] - TOL)[0]
    return float(bad[0] - 1 if len(bad) else N_LAYERS)


def _arm(order: str, quantizer: str, quick: bool):
    sizes = _sizes(quick)

    def run(seed, **hp):
        model, scores, _, block_sizes = _setup(seed, sizes["epochs"])
        qw = _quantized(seed, sizes["epochs"], quantizer, tuple(sorted(hp.items())))
        if order == "random":
            rng = np.random.default_rng(seed + 12345)
            imps = [rng.permutation(N_LAYERS).astype(np.float64) for _ in range(sizes["n_random"])]
        else:
            base = scores[order.split()[-1]]
            imps = [-base if order.startswith("reverse") else base]
        curves = np.array([_curve(model, qw, imp) for imp in imps])  # (orders, k, split)
        mean = curves.mean(0)
        if order == "LIM":  # the premise: each block alone at 2 bits (the same for every order)
            single = [
                _accuracies(model, qw, np.where(np.arange(N_LAYERS) == i, B_LOW, B_HIGH))[1]
                for i in range(N_LAYERS)
            ]
            drops = mean[0, 1] - np.array(single)
        out = {
            "val_accuracy": float(mean[1:-1, 0].mean()),
            "test_accuracy": float(mean[1:-1, 1].mean()),
            "layers_movable": float(np.mean([_movable(c[:, 1]) for c in curves])),
            "uniform_drop": float(mean[0, 1] - mean[-1, 1]),
            "avg_bits_mid": average_bits(allocation(np.arange(N_LAYERS), N_LAYERS // 2), block_sizes),
        }
        out.update({f"acc_k{k}": float(mean[k, 1]) for k in range(N_LAYERS + 1)})
        if order == "LIM":
            out["sensitivity_spread"] = float(drops.max() - drops.min())
        return out

    if quantizer == "RTN":
        grid, quick_grid = {"clip_ratio": [1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4]}, {"clip_ratio": [1.0]}
    else:
        grid = {"percdamp": [0.01, 0.1], "clip_ratio": [1.0, 0.8]}
        quick_grid = {"percdamp": [0.01], "clip_ratio": [1.0]}
    return Method(f"{order}@{quantizer}", run, grid=grid, quick_grid=quick_grid)


@experiment(SLUG, seeds=tuple(range(8)), quick_seeds=(0, 1))  # 8 seeds: a full run takes about two minutes
def run(quick, seeds, progress):
    methods = [_arm(o, q, quick) for q in QUANTIZERS for o in ORDERS]
    comparison = compare(methods, seeds, select="val_accuracy", quick=quick, progress=progress)
    p_drop = Premise(
        "the all-2-bit model loses more than 5 points of accuracy against the all-4-bit model (RTN)",
        metric="uniform_drop",
        method="LIM@RTN",
        threshold=0.05,
    )
    p_spread = Premise(
        "blocks differ in sensitivity: one block alone at 2 bits costs amounts that differ by > 1 point (RTN)",
        metric="sensitivity_spread",
        method="LIM@RTN",
        threshold=0.01,
    )
    claims = []
    for q in QUANTIZERS:
        for score in ("LIM", "ZD"):
            claims.append(
                Claim(
                    f"Moving layers to 2 bits in {score} order keeps a higher accuracy over the fractional "
                    f"mixes than a random order ({q})",
                    metric="test_accuracy",
                    method=f"{score}@{q}",
                    baseline=f"random@{q}",
                    direction="greater",
                )
            )
    claims.append(
        Claim(
            "In LIM order more layers move to 2 bits within 2 points of the 4-bit model than in a random "
            "order (RTN)",
            metric="layers_movable",
            method="LIM@RTN",
            baseline="random@RTN",
            direction="greater",
        )
    )
    names = [m.name for m in methods]
    curves = np.array(
        [[np.mean(comparison.values(n, f"acc_k{k}")) for k in range(N_LAYERS + 1)] for n in names]
    )
    _, _, _, block_sizes = _setup(seeds[0], _sizes(quick)["epochs"])
    avg = [
        average_bits(allocation(np.arange(N_LAYERS), k, B_LOW, B_HIGH), block_sizes)
        for k in range(N_LAYERS + 1)
    ]
    return finish(
        SLUG,
        comparison,
        premises=[p_drop, p_spread],
        claims=claims,
        quick=quick,
        smoke=quick,
        arrays={"curves": curves, "avg_bits": np.array(avg)},
        notes={"methods": names, "tolerance": TOL},
        metrics=["test_accuracy", "val_accuracy", "layers_movable", "uniform_drop", "sensitivity_spread"],
    )


def plot(result) -> dict:
    from ....plotting import pyplot

    plt = pyplot()
    names = result.notes["methods"]
    curves, avg = np.asarray(result.arrays["curves"]), np.asarray(result.arrays["avg_bits"])
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharey=True)
    for ax, q in zip(axes, ("RTN", "GPTQ")):
        for j, n in enumerate(names):
            if n.endswith("@" + q):
                style = "--" if n.startswith("reverse") else "-"
                ax.plot(avg, curves[j], style, marker="o", ms=3, label=n.split("@")[0])
        ax.invert_xaxis()
        ax.set(xlabel="average weight bits of the residual blocks", title=f"2/4-bit mixes, {q} per layer")
        ax.legend(fontsize=8)
    axes[0].set_ylabel("test accuracy (mean over seeds)")
    fig.tight_layout()
    return {SLUG: fig}
