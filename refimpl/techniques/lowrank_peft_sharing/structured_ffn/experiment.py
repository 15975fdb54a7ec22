"""The experiment: a tiny character transformer whose FFN is dense, narrow-dense, LowRank or BlockDense, with
and without self-guided training — compared at equal FFN parameters and at equal training compute.

Setup.  `CharTransformerLM` (1 block, d_model 32, d_ff 128) on windows of 16 characters of the bundled text
(train / validation / test are consecutive, disjoint stretches).  LowRank r = 12 and BlockDense r = 20, b = 4
have about the FFN parameters of a dense FFN with d_ff = 60.  Self-guided training adds a dense guide for the
first half of the steps, which costs compute: the "equal compute" arms train the same structured layer without
the guide for as many more steps as the guide's extra multiply-adds are worth (counted per token over every
matrix the model multiplies by).  Every arm tunes its learning rate on the validation loss.
Premise.  Structured FFNs train worse than the dense FFN of the same width (the problem self-guidance targets).
Claims.  Self-guided training lowers the loss of both structured FFNs at equal compute; a self-guided
structured FFN is at least as good as the narrow dense FFN of the same parameter count.
"""

from __future__ import annotations

import functools

import numpy as np

from ....experiments import Claim, Method, Premise, compare, experiment, finish
from ....experiments.tasks import Task
from . import _Guided, guide_ratio, make_lm

SLUG = "structured-ffn"
BLOCK, BATCH = 16, 16
ARMS = {  # name → (kind, guided, equal-compute)
    "dense d_ff=128": ("dense", False, False),
    "dense narrow d_ff=60": ("dense-narrow", False, False),
    "LowRank r=12": ("lowrank", False, False),
    "LowRank r=12 + self-guided": ("lowrank", True, False),
    "LowRank r=12, equal compute": ("lowrank", False, True),
    "BlockDense r=20 b=4": ("blockdense", False, False),
    "BlockDense r=20 b=4 + self-guided": ("blockdense", True, False),
    "BlockDense r=20 b=4, equal compute": ("blockdense", False, True),
}


@functools.cache
def _task() -> Task:
    """Windows of BLOCK + 1 characters → (x = the first BLOCK ids, y = the next id at every position)."""
    from ....data import CharTokenizer, load_text

    text = load_text()
    tok = CharTokenizer(text)
    ids = tok.encode(text)
    w = np.lib.stride_tricks.sliding_window_view(ids, BLOCK + 1)[::4].astype(np.int64)  # stride 4
    n = len(w)
    a, b = int(0.8 * n), int(0.9 * n)
    x, y = w[:, :BLOCK], w[:, 1:]
    return Task("char-windows-16", x[:a], y[:a], x[a:b], y[a:b], x[b:], y[b:], num_classes=tok.vocab_size)


def _matmul_size(lm, with_guides: bool) -> int:
    """Multiply-adds per token ∝ the sizes of the matrices the model multiplies by (embeddings excluded)."""
    total = 0
    for name, p in lm.named_parameters():
        if p.data.ndim != 2 or "emb" in name:
            continue
        if name.endswith("guide") and not with_guides:
            continue
        total += p.data.size
    return total


class _StopAfter:
    def __init__(self, steps):
        self.steps = steps

    def on_step_end(self, state):
        if state.step + 1 >= self.steps:
            state.stop = True


class _Guide:
    """α_t of every guided layer: cosine from 1 to 0 over the first half of the steps, 0 after."""

    def __init__(self, layers, t_max):
        self.layers, self.t_max = layers, t_max

    def on_batch_begin(self, state):
        for m in self.layers:
            m.alpha = guide_ratio(state.step, self.t_max)


def _loss(lm):
    def loss_fn(out, y):
        from ....autograd import ops
        from ....nn import functional as F

        return F.cross_entropy(ops.reshape(out, (-1, lm.vocab_size)), np.asarray(y).reshape(-1))

    return loss_fn


def _eval_loss(lm, x, y) -> float:
    from ....autograd.tensor import no_grad

    lm.eval()
    with no_grad():
        losses = [
            float(lm.loss(x[i : i + 512], y[i : i + 512]).data) * len(x[i : i + 512])
            for i in range(0, len(x), 512)
        ]
    lm.train()
    return float(np.sum(losses) / len(x))


def _arm(name: str, quick: bool):
    kind, guided, equal_compute = ARMS[name]
    steps = 40 if quick else 600
    n_eval = 256 if quick else None  # quick: the first 256 windows of each evaluation split

    def run(seed, lr):
        from ....experiments import train

        task = _task()
        lm = make_lm(kind, task.num_classes, BLOCK, seed, guided)
        layers = [m for m in lm.modules() if isinstance(m, _Guided) and m.guided]
        n_steps = steps
        if equal_compute:  # the guided twin's extra multiply-adds, spent on more unguided steps
            twin = make_lm(kind, task.num_classes, BLOCK, seed, True)
            plain, full = _matmul_size(twin, False), _matmul_size(twin, True)
            n_steps = int(round(steps * (0.5 * full + 0.5 * plain) / plain))
        callbacks = [_StopAfter(n_steps)] + ([_Guide(layers, steps // 2)] if layers else [])
        epochs = int(np.ceil(n_steps * BATCH / len(task.x_train))) + 1
        train(
            lm,
            task,
            lr=lr,
            epochs=epochs,
            seed=seed,
            batch_size=BATCH,
            loss_fn=_loss(lm),
            callbacks=callbacks,
        )
        for m in layers:
            m.alpha = 0.0  # after training only the structured path remains
        ffn = sum(
            m.num_structured() if isinstance(m, _Guided) else sum(p.data.size for p in m.parameters())
            for m in (lm.blocks[0].linear1, lm.blocks[0].linear2)
        )
        return {
            "val_loss": _eval_loss(lm, task.x_val[:n_eval], task.y_val[:n_eval]),
            "test_loss": _eval_loss(lm, task.x_test[:n_eval], task.y_test[:n_eval]),
            "ffn_parameters": float(ffn),
            "steps": float(n_steps),
        }

    return Method(name, run, grid={"lr": [1e-3, 3e-3, 1e-2]}, quick_grid={"lr": [3e-3]})


@experiment(SLUG, seeds=(0, 1, 2, 3), quick_seeds=(0, 1))
def run(quick, seeds, progress):
    comparison = compare(
        [_arm(n, quick) for n in ARMS],
        seeds,
        select="val_loss",
        maximize=False,
        quick=quick,
        progress=progress,
    )
    premise = Premise(
        "structured FFNs train worse than the dense FFN of the same width (higher test loss)",
        "test_loss",
        "LowRank r=12",
        0.0,
        baseline="dense d_ff=128",
    )
    claims = [
        Claim(
            "Self-guided training lowers LowRank's loss at equal training compute",
            "test_loss",
            "LowRank r=12 + self-guided",
            "LowRank r=12, equal compute",
            direction="less",
        ),
        Claim(
            "Self-guided training lowers BlockDense's loss at equal training compute",
            "test_loss",
            "BlockDense r=20 b=4 + self-guided",
            "BlockDense r=20 b=4, equal compute",
            direction="less",
            premises=(),
        ),
        Claim(
            "A self-guided LowRank FFN is at least as good as the narrow dense FFN of its parameter count",
            "test_loss",
            "LowRank r=12 + self-guided",
            "dense narrow d_ff=60",
            direction="less",
            margin=0.0,
            premises=(),
        ),
    ]
    names = list(ARMS)
    return finish(
        SLUG,
        comparison,
        premises=[premise],
        claims=claims,
        quick=quick,
        smoke=quick,
        arrays={
            "test_loss": np.array([comparison.values(n, "test_loss") for n in names]),
            "ffn_parameters": np.array([np.mean(comparison.values(n, "ffn_parameters")) for n in names]),
        },
        notes={"arms": names},
        metrics=["test_loss", "val_loss", "ffn_parameters", "steps"],
    )


def plot(result) -> dict:
    from ....plotting import pyplot

    plt = pyplot()
    names = result.notes["arms"]
    loss = np.asarray(result.arrays["test_loss"])
    fig, ax = plt.subplots(figsize=(6.6, 3.8))
    y = np.arange(len(names))
    half = 1.96 * loss.std(axis=1, ddof=1) / np.sqrt(loss.shape[1]) if loss.shape[1] > 1 else 0 * loss[:, 0]
    ax.errorbar(loss.mean(axis=1), y, xerr=half, fmt="o", capsize=3)
    ax.set_yticks(y, [f"{n} ({int(p)})" for n, p in zip(names, result.arrays["ffn_parameters"])])
    ax.invert_yaxis()
    ax.set_xlabel("test loss, nats per character (mean and 95 % interval)")
    ax.set_title("structured FFNs in a tiny character transformer (FFN parameters)", fontsize=10)
    fig.tight_layout()
    return {SLUG: fig}
