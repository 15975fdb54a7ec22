"""The experiment: train a small 6-block character transformer, score its attention layers, MLP layers and
blocks by 1 − cosine(input, output) on calibration (training) windows, drop the most redundant ones
without retraining, and compare the losses of the dropped models.

Setup.  `CharTransformerLM` (6 pre-norm blocks, d_model 32, 2 heads, d_ff 128, context 16) trained with Adam
on windows of the bundled text (`tasks.char_lm`, per-position next-character targets); train, validation
and test are consecutive, disjoint stretches.  Scores come from the first CALIB training windows only.
Arms (each a model trained once per seed and learning rate, then dropped; nothing is retrained):
  dense              nothing dropped (the reference);
  attn-drop k=2      Attention Drop: the two attention layers with the lowest score (a third of them);
  attn-random k=2    the ablation without the score: two attention layers chosen at random — the exact
                     expectation over all C(6, 2) choices, so no luck of one draw decides;
  attn-last k=2      a control without the score: the two deepest attention layers (the paper finds the
                     deep ones most redundant; no claim is made on it);
  mlp-drop k=2       MLP Drop: the two lowest-scoring MLP layers;
  block-drop k=2     Block Drop: the two lowest-scoring blocks (attention and MLP together);
  attn-drop k=4      Attention Drop of two thirds of the attention layers;
  joint-drop k=4     Joint Layer Drop: the four lowest scores of all twelve attention and MLP layers.
Every arm chooses its own training learning rate on its validation loss after dropping (the method has
no other knob; k is the budget being compared).
Premises (measured on the dense model of each seed): (1) attention layers are more redundant than MLP
layers (lower mean score), (2) deeper attention layers are more redundant than shallower ones, (3)
dropping attention layers costs something (a random pair raises the test loss by more than 0.02 nats).
Claims.  At k = 2: the score picks better attention layers than chance; dropping attention layers costs
less than dropping as many MLP layers, or blocks; the loss rises by less than 2.5 % (the paper keeps ≈ 98 %
of Llama-2-70B's performance with half its attention layers dropped).  At four dropped layers Joint Layer
Drop beats Attention Drop.
"""

from __future__ import annotations

import functools
import itertools

import numpy as np

from ....autograd.tensor import no_grad
from ....experiments import Claim, Method, Premise, compare, experiment, finish, tasks, train
from ....experiments.training import sequence_cross_entropy
from . import drop_layers, joint_select, select_drop, sublayer_importances

SLUG = "llm-drop-attention"
BLOCK, D_MODEL, N_LAYERS, N_HEADS, D_FF = 16, 32, 6, 2, 128
K, K_HIGH = 2, 4
LR_GRID = [3e-4, 1e-3, 3e-3, 1e-2, 3e-2]
ARMS = [
    "dense",
    f"attn-drop k={K}",
    f"attn-random k={K}",
    f"attn-last k={K}",
    f"mlp-drop k={K}",
    f"block-drop k={K}",
    f"attn-drop k={K_HIGH}",
    f"joint-drop k={K_HIGH}",
]


def _sizes(quick: bool) -> dict:
    """Training windows, epochs, calibration and evaluation windows."""
    if quick:
        return {"n_train": 1000, "epochs": 1, "calib": 64, "eval": 64}
    return {"n_train": None, "epochs": 4, "calib": 256, "eval": None}


def lm_task() -> tasks.Task:
    """`tasks.char_lm_sequences(BLOCK)`: next character at every position; training windows overlap (stride 2),
    validation and test windows do not."""
    return tasks.char_lm_sequences(BLOCK)


def _lm(seed: int):
    from ....nn import CharTransformerLM

    return CharTransformerLM(
        lm_task().num_classes,
        BLOCK,
        d_model=D_MODEL,
        n_layers=N_LAYERS,
        n_heads=N_HEADS,
        d_ff=D_FF,
        rng=np.random.default_rng(seed),
    )


@functools.cache
def _trained(seed: int, lr: float, quick: bool):
    """The trained LM's state dict (one per seed, learning rate and mode)."""
    task, size = lm_task(), _sizes(quick)
    model = _lm(seed)
    n = size["n_train"] or len(task.x_train)
    train(
        model,
        task,
        lr=lr,
        epochs=size["epochs"],
        seed=seed,
        batch_size=32,
        loss_fn=sequence_cross_entropy,
        x=task.x_train[:n],
        y=task.y_train[:n],
    )
    return model.state_dict()


def _model(seed, lr, quick, attn=(), mlp=()):
    model = _lm(seed)
    model.load_state_dict(_trained(seed, lr, quick))
    model.eval()
    return drop_layers(model, attn=attn, mlp=mlp)


def _loss(model, x, y) -> float:
    with no_grad():
        return float(
            np.mean(
                [
                    sequence_cross_entropy(model(x[i : i + 256]), y[i : i + 256]).data
                    for i in range(0, len(x), 256)
                ]
            )
        )


def _losses(model, quick) -> dict:
    task, n = lm_task(), _sizes(quick)["eval"]
    return {
        "val_loss": _loss(model, task.x_val[:n], task.y_val[:n]),
        "test_loss": _loss(model, task.x_test[:n], task.y_test[:n]),
    }


@functools.cache
def _evaluated(seed: int, lr: float, quick: bool) -> dict:
    """Every arm's metrics for the LM of (seed, lr): arm → dict."""
    task = lm_task()
    calib = task.x_train[: _sizes(quick)["calib"]]  # calibration: training windows only
    s = sublayer_importances(_model(seed, lr, quick), calib)
    dense = _losses(_model(seed, lr, quick), quick)
    half = N_LAYERS // 2
    out = {
        "dense": {
            **dense,
            "attn_minus_mlp_S": float(s["attn"].mean() - s["mlp"].mean()),
            "deep_minus_shallow_attn_S": float(s["attn"][half:].mean() - s["attn"][:half].mean()),
            **{f"attn_S{i}": float(v) for i, v in enumerate(s["attn"])},
            **{f"mlp_S{i}": float(v) for i, v in enumerate(s["mlp"])},
            **{f"block_S{i}": float(v) for i, v in enumerate(s["block"])},
        }
    }

    def arm(attn=(), mlp=()):
        return _losses(_model(seed, lr, quick, attn, mlp), quick)

    out[f"attn-drop k={K}"] = arm(attn=select_drop(s["attn"], K))
    out[f"attn-last k={K}"] = arm(attn=range(N_LAYERS - K, N_LAYERS))
    out[f"mlp-drop k={K}"] = arm(mlp=select_drop(s["mlp"], K))
    blocks = select_drop(s["block"], K)
    out[f"block-drop k={K}"] = arm(attn=blocks, mlp=blocks)
    out[f"attn-drop k={K_HIGH}"] = arm(attn=select_drop(s["attn"], K_HIGH))
    ja, jm = joint_select(s["attn"], s["mlp"], K_HIGH)
    out[f"joint-drop k={K_HIGH}"] = {**arm(attn=ja, mlp=jm), "joint_mlp_dropped": float(len(jm))}
    subsets = [arm(attn=c) for c in itertools.combinations(range(N_LAYERS), K)]  # every random choice
    out[f"attn-random k={K}"] = {key: float(np.mean([r[key] for r in subsets])) for key in dense}
    out[f"attn-drop k={K}"]["deep_attn_dropped"] = float(sum(i >= half for i in select_drop(s["attn"], K)))
    for row in out.values():
        row["loss_increase"] = row["test_loss"] - dense["test_loss"]
        row["relative_increase"] = row["loss_increase"] / dense["test_loss"]
    return out


def _arm(name: str, quick: bool) -> Method:
    def run(seed, lr):
        return dict(_evaluated(seed, lr, quick)[name])

    return Method(name, run, grid={"lr": LR_GRID}, quick_grid={"lr": [1e-2]})


@experiment(SLUG, seeds=(0, 1, 2, 3, 4), quick_seeds=(0, 1))
def run(quick, seeds, progress):
    comparison = compare(
        [_arm(a, quick) for a in ARMS],
        seeds,
        select="val_loss",
        maximize=False,
        quick=quick,
        progress=progress,
    )
    attn_vs_mlp = "attention layers are more redundant than MLP layers (lower mean score 1 − cos)"
    deep = "deeper attention layers are more redundant than shallower ones (lower mean score, deeper half)"
    costs = f"dropping {K} attention layers at random raises the test loss by more than 0.02 nats"
    premises = [
        Premise(attn_vs_mlp, "attn_minus_mlp_S", "dense", 0.0, direction="less"),
        Premise(deep, "deep_minus_shallow_attn_S", "dense", 0.0, direction="less"),
        Premise(costs, "loss_increase", f"attn-random k={K}", 0.02),
    ]
    claims = [
        Claim(
            f"Dropping the {K} attention layers with the lowest score costs less test loss than dropping "
            f"{K} at random",
            "test_loss",
            f"attn-drop k={K}",
            f"attn-random k={K}",
            direction="less",
            premises=(deep, costs),
        ),
        Claim(
            f"Dropping {K} attention layers by the score costs less test loss than dropping {K} MLP layers "
            "by the score",
            "test_loss",
            f"attn-drop k={K}",
            f"mlp-drop k={K}",
            direction="less",
            premises=(attn_vs_mlp,),
        ),
        Claim(
            f"Dropping {K} attention layers by the score costs less test loss than dropping {K} blocks by "
            "the score",
            "test_loss",
            f"attn-drop k={K}",
            f"block-drop k={K}",
            direction="less",
            premises=(),
        ),
        Claim(
            f"Dropping {K} of the {N_LAYERS} attention layers by the score raises the test loss by less than "
            "2.5 %",
            "relative_increase",
            f"attn-drop k={K}",
            direction="less",
            margin=0.025,
            premises=(),
        ),
        Claim(
            f"Joint Layer Drop of {K_HIGH} layers costs less test loss than Attention Drop of {K_HIGH} layers",
            "test_loss",
            f"joint-drop k={K_HIGH}",
            f"attn-drop k={K_HIGH}",
            direction="less",
            premises=(),
        ),
    ]
    scores = {
        kind: np.array([[np.mean(comparison.values("dense", f"{kind}_S{i}")) for i in range(N_LAYERS)]])[0]
        for kind in ("attn", "mlp", "block")
    }
    increase = np.array([np.mean(comparison.values(a, "loss_increase")) for a in ARMS])
    return finish(
        SLUG,
        comparison,
        premises=premises,
        claims=claims,
        quick=quick,
        smoke=quick,
        arrays={**{f"{k}_scores": v for k, v in scores.items()}, "loss_increase": increase},
        notes={"arms": ARMS},
        metrics=[
            "test_loss",
            "val_loss",
            "loss_increase",
            "relative_increase",
            "attn_minus_mlp_S",
            "deep_minus_shallow_attn_S",
        ],
    )


def plot(result) -> dict:
    from ....plotting import pyplot

    plt = pyplot()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9.6, 3.6))
    layers = np.arange(N_LAYERS)
    for kind, style in (("attn", "o-"), ("mlp", "s-"), ("block", "^:")):
        a1.plot(layers, result.arrays[f"{kind}_scores"], style, label=kind, ms=5)
    a1.set_yscale("log")
    a1.set_xlabel("block")
    a1.set_ylabel("score S = 1 − cos(in, out)\n(mean over seeds; low = redundant)")
    a1.set_title("redundancy of each sublayer (dense model)")
    a1.legend(fontsize=8)
    arms = result.notes["arms"][1:]
    a2.barh(np.arange(len(arms)), result.arrays["loss_increase"][1:], color="C0")
    a2.set_yticks(np.arange(len(arms)), arms, fontsize=8)
    a2.invert_yaxis()
    a2.set_xlabel("test loss increase over the dense model (nats, mean over seeds)")
    a2.set_title("cost of dropping, no retraining")
    fig.tight_layout()
    return {SLUG: fig}
