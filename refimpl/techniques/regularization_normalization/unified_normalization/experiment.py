"""The experiment: in a tiny causal transformer on the bundled text, does UN train as well as LayerNorm while
plain BatchNorm (the offline norm without the paper's stabilisers) trains worse, and does UN fold exactly?

Setup.  Next-character prediction from the previous `CONTEXT` characters (`tasks.char_lm`, fixed splits):
a `CharTransformerLM` (d_model 32, 2 pre-norm blocks, 4 heads, GELU FF of 128) reads the window and its
last position predicts the next character.  Adam, batch 64, cosine decay, gradient-norm clip 1, `EPOCHS`
epochs.  The five norms of the model (norm1, norm2 of each block, the final one) are, per arm:
  LN          LayerNorm (the model's default);
  BN          plain BatchNorm over batch × tokens with running statistics (PyTorch momentum 0.1);
  UN w=1      UN with a window of one and no filtration: the batch's own second moment, the exact
              gradient, running statistics for eval — UN lacking exactly fluctuation smoothing and outlier
              filtration (the ablation);
  UN          the paper's UN: window M = 4 (forward and backward), outlier filtration, gradient
              compensation; warm-up T_w = `WARMUP` and r from `R_AFTER` iterations (the official 4000 and
              1000 scaled down to the toy's few hundred steps).
Every arm's learning rate is chosen on the validation loss (first seed) from the same grid; test losses
are in eval mode (LN per token; BN and UN with their running statistics).  Diverged runs (a non-finite
loss) score the loss of the uniform predictor, log V.

Premise.  Plain BN in the transformer is worse than LN: its test loss exceeds LN's by more than 0.02 nats.
Claims (margins fixed before the full run).  (1, 2) UN is on par with LN: UN − LN test loss within ±0.05
nats, as two one-sided claims.  (3) UN beats plain BN.  (4) UN beats its ablation UN w=1.  (5) The trained
UN model folds exactly into its next linear layers: the float64 max |folded − unfolded| logit difference
on the test windows is below 1e-9.
"""

from __future__ import annotations

import copy
import math

import numpy as np

from ....autograd import ops
from ....autograd.tensor import no_grad
from ....experiments import Claim, Method, Premise, compare, experiment, finish, split_metrics, tasks, train
from ....nn.module import Module
from ....train import LambdaCallback
from . import UnifiedNorm, fold_char_lm, replace_norms

SLUG = "unified-normalization"
CONTEXT = 8
D_MODEL, N_LAYERS, N_HEADS = 32, 2, 4
EPOCHS = 2
N_TRAIN, QUICK_N_TRAIN = 20_000, 2_000
WARMUP, R_AFTER, WINDOW = 50, 100, 4
GRID = [1e-3, 3e-3, 1e-2]
QUICK_GRID = [3e-3]
ARMS = ("LN", "BN", "UN w=1", "UN")
_TRACES: dict = {}


class TokenBN(Module):
    """Plain BatchNorm over batch × tokens of x (B, T, C), with running statistics."""

    def __init__(self, dim: int, dtype=np.float32):
        super().__init__()
        from ....nn.layers.norm import BatchNorm1d

        self.bn = BatchNorm1d(dim, dtype=dtype)

    def forward(self, x):
        return ops.transpose(self.bn(ops.transpose(x, 1, 2)), 1, 2)


class NextChar(Module):
    """The causal LM read as a classifier: logits of the character after the window (last position)."""

    def __init__(self, lm):
        super().__init__()
        self.lm = lm

    def forward(self, x):
        return self.lm(x)[:, -1, :]


def make_norm(arm: str, dtype=np.float32):
    if arm == "BN":
        return lambda: TokenBN(D_MODEL, dtype)
    if arm == "UN":
        return lambda: UnifiedNorm(D_MODEL, window=WINDOW, warmup=WARMUP, r_after=R_AFTER, dtype=dtype)
    if arm == "UN w=1":
        return lambda: UnifiedNorm(D_MODEL, window=1, warmup=WARMUP, outlier_filtration=False, dtype=dtype)
    return None  # LN: the model's own LayerNorms


def make_model(arm: str, vocab: int, seed: int) -> NextChar:
    from ....nn.layers.transformer import CharTransformerLM

    lm = CharTransformerLM(vocab, CONTEXT, D_MODEL, N_LAYERS, N_HEADS, rng=seed)
    if make_norm(arm) is not None:
        replace_norms(lm, make_norm(arm))
    return NextChar(lm)


def fold_error(model: NextChar, x) -> float:
    """float64 max |logits(folded) − logits(unfolded)| of an eval-mode UN model on windows x."""
    m = copy.deepcopy(model).to(np.float64)
    m.eval()
    folded = NextChar(fold_char_lm(m.lm))
    with no_grad():
        return float(np.max(np.abs(m(x).data - folded(x).data)))


def _arm(name: str, quick: bool) -> Method:
    def run(seed, lr):
        task = tasks.char_lm(context=CONTEXT)
        n = QUICK_N_TRAIN if quick else N_TRAIN
        x, y = task.x_train[:n], task.y_train[:n]
        model = make_model(name, task.num_classes, seed)
        losses = []
        cb = [
            LambdaCallback(
                on_step_end=lambda s: losses.append(float(np.asarray(getattr(s.loss, "data", s.loss))))
            )
        ]
        train(
            model,
            task,
            lr=lr,
            epochs=1 if quick else EPOCHS,
            seed=seed,
            batch_size=64,
            cosine=True,
            clip_grad_norm=1.0,
            callbacks=cb,
            x=x,
            y=y,
        )
        losses = np.asarray(losses)
        _TRACES[(name, seed, lr)] = losses
        cap = math.log(task.num_classes)
        out = split_metrics(model, task)
        for s in ("val", "test"):
            out[f"{s}_loss"] = min(out.get(f"{s}_loss", cap), cap)  # non-finite / worse than uniform → log V
            out.setdefault(f"{s}_accuracy", 0.0)
        finite = losses[np.isfinite(losses)]
        # training instability: the largest jump of the train loss over its running minimum (after 20 steps)
        out["loss_spike"] = (
            float(np.max(finite[20:] - np.minimum.accumulate(finite)[20:])) if len(finite) > 20 else 0.0
        )
        if name.startswith("UN"):
            norms = [mm for mm in model.modules() if isinstance(mm, UnifiedNorm)]
            out["outlier_skips"] = float(sum(int(mm.skip_counter) for mm in norms))
            if name == "UN":
                out["fold_error"] = fold_error(model, task.x_test[:256])
        return out

    return Method(name, run, grid={"lr": GRID}, quick_grid={"lr": QUICK_GRID})


@experiment(SLUG, seeds=(0, 1, 2, 3, 4), quick_seeds=(0, 1))
def run(quick, seeds, progress):
    _TRACES.clear()
    comparison = compare(
        [_arm(n, quick) for n in ARMS],
        seeds,
        select="val_loss",
        maximize=False,
        quick=quick,
        progress=progress,
    )
    premise = "plain BN in the transformer is worse than LN: its test loss exceeds LN's by more than 0.02"
    premises = [Premise(premise, "test_loss", "BN", 0.02, baseline="LN")]
    claims = [
        Claim("UN is on par with LN: UN − LN test loss below +0.05", "test_loss", "UN", "LN", "less", 0.05),
        Claim(
            "UN is on par with LN: UN − LN test loss above −0.05", "test_loss", "UN", "LN", "greater", -0.05
        ),
        Claim("UN beats plain BN (test loss)", "test_loss", "UN", "BN", "less", 0.0),
        Claim(
            "fluctuation smoothing + outlier filtration help: UN beats UN with a window of one (test loss)",
            "test_loss",
            "UN",
            "UN w=1",
            "less",
            0.0,
            premises=(),
        ),
        Claim(
            "UN folds exactly into the next linear layers (float64 max |Δ logit| below 1e-9)",
            "fold_error",
            "UN",
            None,
            "less",
            1e-9,
            premises=(),
        ),
    ]
    first = comparison.seeds[0]
    arrays = {}
    for name in ARMS:
        key = (name, first, comparison.selected[name]["lr"])
        if key in _TRACES:
            arrays[f"train_loss_{name}"] = _TRACES[key]
    return finish(
        SLUG,
        comparison,
        premises=premises,
        claims=claims,
        quick=quick,
        smoke=quick,
        arrays=arrays,
        notes={"arms": list(ARMS), "window": WINDOW, "warmup": WARMUP, "r_after": R_AFTER},
        metrics=["test_loss", "val_loss", "test_accuracy", "loss_spike", "outlier_skips", "fold_error"],
    )


def plot(result) -> dict:
    from ....plotting import pyplot

    plt = pyplot()
    arms = result.notes["arms"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 3.8))
    for name in arms:
        key = f"train_loss_{name}"
        if key in result.arrays:
            t = np.asarray(result.arrays[key], dtype=np.float64)
            k = 20
            smooth = np.convolve(t, np.ones(k) / k, mode="valid") if len(t) > k else t
            ax1.plot(smooth, label=name)
    ax1.set_xlabel("step")
    ax1.set_ylabel("train loss (20-step mean)")
    ax1.set_title("training loss, first seed, selected rate")
    ax1.legend(fontsize=8)
    stats = [result.stat(m, "test_loss") for m in arms]
    ax2.bar(np.arange(len(arms)), [s["mean"] for s in stats], yerr=[s["std"] for s in stats], capsize=3)
    ax2.set_ylim(0.0, max(s["mean"] for s in stats) * 1.15)  # bars start at zero
    ax2.set_xticks(np.arange(len(arms)), arms)
    ax2.set_ylabel(f"test loss, nats (mean ± std, {len(result.seeds)} seeds)")
    ax2.set_title("eval mode (running statistics for BN / UN)")
    fig.tight_layout()
    return {SLUG: fig}
