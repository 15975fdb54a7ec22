"""The experiment: 2-bit weight quantization-aware fine-tuning with per-channel LSQ (the official
baseline), StatsQ, and StatsQ + CGA on a digits MLP; separate vs reparameterised (QKR) quantization of the
query–key path of one attention layer; oscillations counted throughout.

Setup.
  digits-mlp     a 64-128-128-10 ReLU MLP, normal (Kaiming) init, trained in full precision with Adam
                 (one model per seed), then fine-tuned with 2-bit weights on all three Linears (activations
                 full precision) in two stages, as the official scripts: (1) QAT by the recipe's optimiser,
                 AdamW (weight decay 0.05 on the weight matrices), one epoch of linear warm-up, cosine
                 decay; (2) a short stage at the schedule's minimal rate (lr·1e-5/5.47e-4, cga.py resumes
                 with the scheduler stepped past its end), the same Adam state, where StatsQ + CGA freezes
                 the confident weights (δ = 0.005, the scripts' value) and LSQ and StatsQ simply continue.
                 LSQ learns a step per output channel; StatsQ recomputes 2·mean|W| per channel.
  attention-qk   one attention layer (C = 8, H = 2, 6 tokens, values = the inputs): a seeded full-precision
                 teacher's outputs on Gaussian tokens are fitted by MSE from the teacher's own weights with
                 2-bit StatsQ on W_q and W_k separately (the code's QAttention) or on W_qk = W_qᵀW_k (QKR),
                 with the same AdamW + warm-up + cosine recipe; fixed train / validation / test token sets.
Each method tunes its learning rate on the validation split (`val_score`: accuracy for the MLP, −MSE for
the attention layer); test data are used once.
Metrics: test accuracy (MLP) or test MSE (attention), and oscillations per weight (per code for the
attention layer) over the whole run and late (`late_osc`): in stage 2 for the MLP, in the last quarter of
the steps for the attention layer.
Premises.  The LSQ baseline oscillates late in training (late_osc > 0.01 per weight), StatsQ too (for
CGA, which acts on StatsQ), and the separately quantized query–key codes oscillate (> 0.01 per code).
Claims.  (1) StatsQ oscillates less than LSQ late in training; (2) CGA lowers StatsQ's late oscillation;
(3) StatsQ + CGA reaches a higher test accuracy than LSQ; (4) QKR oscillates less than separate
quantization of W_q and W_k.
Grid.  Rates 1e-5 … 3e-3; 1e-4, 3e-5 and 1e-5 were added after the first recording, one at a time, each time
the grid-edge check found an arm at the lowest rate then tried (LSQ and QKR at 3e-4, StatsQ and QKR at
1e-4, StatsQ at 3e-5).
"""

from __future__ import annotations

import functools

import numpy as np

from ....autograd.tensor import Tensor, no_grad
from ....experiments import Claim, Method, Premise, compare, experiment, finish, tasks, train
from ....nn import functional as F
from ....optim import AdamW
from .. import ptq as P
from ..toy_models import digits_mlp, trained_digits_mlp_state
from . import CGACallback, LSQWeight, OscillationCallback, QKReparamAttention, StatsQWeight

SLUG = "ofq-statsq"
BITS = 2
BATCH = 64
WEIGHT_DECAY = 0.05  # configs/ours_imagenet_recipe.attn_q.yml
DELTA = 0.005  # train_scripts/*/w2a2_*.sh: --boundaryRange 0.005
MIN_LR_RATIO = 1e-5 / 5.47e-4  # config min_lr 1e-5 / the scripts' --lr 5.47e-4: the CGA stage's rate
CGA_FRACTION = 0.25  # attention layer: the last quarter of the steps counts as late
MLP_ARMS = ("LSQ", "StatsQ", "StatsQ+CGA")
QK_ARMS = ("separate", "QKR")
OSC_PREMISE = 0.01


def _sizes(quick):
    return {
        "pre_epochs": 20 if quick else 60,
        "epochs": 3 if quick else 16,  # stage 1: QAT, warm-up + cosine
        "late_epochs": 1 if quick else 4,  # stage 2: at the minimal rate (with CGA for StatsQ+CGA)
        "qk_epochs": 3 if quick else 20,
    }


# --- the digits MLP ----------------------------------------------------------------------------------------
def _mlp(seed):
    return digits_mlp(seed, (128, 128))


def _pretrained(seed: int, epochs: int):
    return trained_digits_mlp_state(seed, epochs, (128, 128))


def _adamw(decayed, others, lr):
    """AdamW with weight decay on the weight matrices only (timm's default for the official recipe)."""
    groups = [{"params": list(decayed), "weight_decay": WEIGHT_DECAY}]
    if others:
        groups.append({"params": list(others), "weight_decay": 0.0})
    return AdamW(groups, lr=lr)


@functools.cache  # the plot reuses seed 0's runs
def _qat_mlp(arm: str, seed: int, lr: float, quick: bool) -> dict:
    from ....nn.parametrize import register_parametrization

    sizes = _sizes(quick)
    task = tasks.digits()
    model = _mlp(seed)
    model.load_state_dict(_pretrained(seed, sizes["pre_epochs"]))
    layers = [m for _, m in P.linear_layers(model)]
    quantizers = []
    for layer in layers:
        q = LSQWeight(BITS, layer.weight.data) if arm == "LSQ" else StatsQWeight(BITS)
        register_parametrization(layer, "weight", q)
        quantizers.append(q)
    latents = [layer.parametrizations.weight.original for layer in layers]
    others = [p for p in model.parameters() if all(p is not lat for lat in latents)]
    steps_per_epoch = int(np.ceil(len(task.x_train) / BATCH))
    opt = _adamw(latents, others, lr)
    osc = OscillationCallback(latents, quantizers)
    train(  # stage 1: every method, warm-up then cosine decay
        model,
        task,
        optimizer=opt,
        epochs=sizes["epochs"],
        seed=seed,
        batch_size=BATCH,
        cosine=True,
        warmup_steps=steps_per_epoch,
        callbacks=[osc],
    )
    late_start = len(osc.per_step)
    for group in opt.param_groups:  # stage 2 (cga.py): the scheduler stepped past the end -> its min_lr
        group["lr"] = lr * MIN_LR_RATIO
    callbacks = [CGACallback(latents, BITS, DELTA, start=0), osc] if arm == "StatsQ+CGA" else [osc]
    train(model, task, optimizer=opt, epochs=sizes["late_epochs"], seed=seed + 10_000, callbacks=callbacks)
    model.eval()
    per_step = np.asarray(osc.per_step, dtype=float)
    return {
        "val_score": P.accuracy(model, task.x_val, task.y_val),
        "val_accuracy": P.accuracy(model, task.x_val, task.y_val),
        "test_accuracy": P.accuracy(model, task.x_test, task.y_test),
        "osc": float(per_step.sum() / osc.n_weights),
        "late_osc": float(per_step[late_start:].sum() / osc.n_weights),
        "per_step_osc": per_step,
    }


# --- the attention layer ---------------------------------------------------------------------------------
QK_DIM, QK_HEADS, QK_TOKENS = 8, 2, 6


@functools.cache
def qk_task(seed: int) -> tasks.Task:
    """Gaussian token sets (train 1024, validation 256, test 256 sequences of 6 tokens × 8 features) and a
    seeded full-precision teacher's outputs as targets."""
    teacher = QKReparamAttention(QK_DIM, QK_HEADS, None, reparam=False, rng=seed)
    g = np.random.default_rng(seed + 1000)
    x = g.normal(size=(1536, QK_TOKENS, QK_DIM))
    with no_grad():
        y = teacher(Tensor(x)).data
    return tasks.Task(
        "attention-qk", x[:1024], y[:1024], x[1024:1280], y[1024:1280], x[1280:], y[1280:], num_classes=0
    )


def _mse(model, x, y) -> float:
    with no_grad():
        return float(np.mean((model(Tensor(x)).data - y) ** 2))


@functools.cache
def _qat_qk(arm: str, seed: int, lr: float, quick: bool) -> dict:
    task = qk_task(seed)
    model = QKReparamAttention(
        QK_DIM, QK_HEADS, BITS, reparam=(arm == "QKR"), rng=seed
    )  # = teacher's weights
    epochs = _sizes(quick)["qk_epochs"]

    class _Codes:  # the integer codes behind the scores (W_q, W_k codes or W_qk codes), one tracker
        def levels(self, _):
            return model.levels()

    osc = OscillationCallback([model.q_weight], [_Codes()])
    steps_per_epoch = int(np.ceil(len(task.x_train) / BATCH))
    train(
        model,
        task,
        optimizer=_adamw([model.q_weight, model.k_weight], [], lr),
        epochs=epochs,
        seed=seed,
        batch_size=BATCH,
        cosine=True,
        warmup_steps=steps_per_epoch,
        loss_fn=F.mse_loss,
        callbacks=[osc],
    )
    per_step = np.asarray(osc.per_step, dtype=float)
    n_codes = model.levels().size
    late_start = len(per_step) - int(round(CGA_FRACTION * len(per_step)))
    val = _mse(model, task.x_val, task.y_val)
    return {
        "val_score": -val,
        "val_mse": val,
        "test_mse": _mse(model, task.x_test, task.y_test),
        "osc": float(per_step.sum() / n_codes),
        "late_osc": float(per_step[late_start:].sum() / n_codes),
        "per_step_osc": per_step,
    }


@experiment(SLUG, seeds=tuple(range(5)), quick_seeds=(0, 1))
def run(quick, seeds, progress):
    def make(arm, setting):
        fn = _qat_mlp if setting == "digits-mlp" else _qat_qk

        def method_run(seed, lr):
            return {k: v for k, v in fn(arm, seed, lr, quick).items() if k != "per_step_osc"}

        return Method(
            f"{arm}@{setting}",
            method_run,
            grid={"lr": [1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3]},
            quick_grid={"lr": [1e-3]},
        )

    methods = [make(a, "digits-mlp") for a in MLP_ARMS] + [make(a, "attention-qk") for a in QK_ARMS]
    comparison = compare(methods, seeds, select="val_score", quick=quick, progress=progress)
    p_lsq = Premise(
        f"the per-channel LSQ baseline oscillates late in training (> {OSC_PREMISE} per weight)",
        metric="late_osc",
        method="LSQ@digits-mlp",
        threshold=OSC_PREMISE,
    )
    p_statsq = Premise(
        f"StatsQ oscillates late in training (> {OSC_PREMISE} per weight)",
        metric="late_osc",
        method="StatsQ@digits-mlp",
        threshold=OSC_PREMISE,
    )
    p_qk = Premise(
        f"separately quantized query and key codes oscillate late in training (> {OSC_PREMISE} per code)",
        metric="late_osc",
        method="separate@attention-qk",
        threshold=OSC_PREMISE,
    )
    claims = [
        Claim(
            "StatsQ oscillates less than per-channel LSQ late in 2-bit QAT",
            metric="late_osc",
            method="StatsQ@digits-mlp",
            baseline="LSQ@digits-mlp",
            direction="less",
            premises=(p_lsq.statement,),
        ),
        Claim(
            "Confidence-guided annealing lowers StatsQ's late oscillation",
            metric="late_osc",
            method="StatsQ+CGA@digits-mlp",
            baseline="StatsQ@digits-mlp",
            direction="less",
            premises=(p_statsq.statement,),
        ),
        Claim(
            "StatsQ + CGA reaches a higher 2-bit test accuracy than per-channel LSQ",
            metric="test_accuracy",
            method="StatsQ+CGA@digits-mlp",
            baseline="LSQ@digits-mlp",
            direction="greater",
            premises=(p_lsq.statement,),
        ),
        Claim(
            "Quantizing W_qk = W_qᵀW_k (QKR) oscillates less than quantizing W_q and W_k separately",
            metric="late_osc",
            method="QKR@attention-qk",
            baseline="separate@attention-qk",
            direction="less",
            premises=(p_qk.statement,),
        ),
    ]
    # per-step oscillation curves of seed 0 at each method's selected learning rate, for the plot
    curves = {}
    for a in MLP_ARMS:
        lr = comparison.selected[f"{a}@digits-mlp"]["lr"]
        curves[a] = _qat_mlp(a, seeds[0], lr, quick)["per_step_osc"]
    for a in QK_ARMS:
        lr = comparison.selected[f"{a}@attention-qk"]["lr"]
        curves[a] = _qat_qk(a, seeds[0], lr, quick)["per_step_osc"]
    late_mlp = _sizes(quick)["epochs"] * int(np.ceil(len(tasks.digits().x_train) / BATCH))
    late_qk = len(curves[QK_ARMS[0]]) - int(round(CGA_FRACTION * len(curves[QK_ARMS[0]])))
    return finish(
        SLUG,
        comparison,
        premises=[p_lsq, p_statsq, p_qk],
        claims=claims,
        quick=quick,
        smoke=quick,
        arrays={f"per_step_osc/{k}": v for k, v in curves.items()},
        notes={
            "mlp_arms": list(MLP_ARMS),
            "qk_arms": list(QK_ARMS),
            "bits": BITS,
            "late_start": {"digits MLP": late_mlp, "attention": late_qk},
        },
        metrics=["test_accuracy", "val_accuracy", "test_mse", "val_mse", "late_osc", "osc"],
    )


def plot(result) -> dict:
    from ....plotting import pyplot

    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for ax, arms, title in (
        (axes[0], result.notes["mlp_arms"], "digits MLP: weight oscillations per step"),
        (axes[1], result.notes["qk_arms"], "attention: query–key code oscillations per step"),
    ):
        for j, a in enumerate(arms):
            c = np.asarray(result.arrays[f"per_step_osc/{a}"])
            w = max(1, len(c) // 30)
            ax.plot(np.convolve(c, np.ones(w) / w, mode="valid"), label=a, color=f"C{j}")
        late = result.notes["late_start"][title.split(":")[0]]
        ax.axvline(late, color="k", ls=":", lw=1, label="late window starts")
        ax.set(xlabel="step (seed 0)", ylabel="oscillations per step (smoothed)", title=title)
        ax.legend(fontsize=8)
    arms = result.notes["mlp_arms"]
    acc = [np.mean(result.values(f"{a}@digits-mlp", "test_accuracy")) for a in arms]
    sd = [np.std(result.values(f"{a}@digits-mlp", "test_accuracy")) for a in arms]
    axes[2].bar(range(len(arms)), acc, yerr=sd, color=[f"C{j}" for j in range(len(arms))])
    axes[2].set_xticks(range(len(arms)), arms)
    axes[2].set_ylim(0.0, 1.0)  # bars start at zero
    axes[2].set(ylabel="test accuracy (mean ± sd over seeds)", title=f"W{result.notes['bits']} digits MLP")
    fig.tight_layout()
    return {SLUG: fig}
