"""The experiment: a character-level language model over two 'languages' with 100:1 data, trained by
static temperature sampling or by pre-training on the high-resource language and then mixing.

Setup.  Language A is the bundled Shakespeare; language B is the same kind of text with every vowel
replaced by the next one (a→e→i→o→u→a, case kept), so the two tasks share most of their structure and
disagree on a predictable part of it.  Next-character prediction from a language tag and the 8 previous
characters (one shared alphabet of 73 characters, tags 73 and 74).  Training: 20 000 windows of A (high
resource), 200 windows of B (low resource, 100:1), from disjoint stretches of the text; validation and
test 2 000 windows per language, from other stretches.  Model: a shared Embedding(75, 16) →
Linear(144, 128) → tanh → Linear(128, 73).  Adam, batch 64, the same budget of S = 800 steps for every
arm.  Arms: static sampling at T ∈ {1, 2, 5, ∞}; pre-train-then-mix (400 steps on A alone, then 400 on
the mixture p(T), Adam restarted) at T ∈ {5, ∞}; and a B-only model (for the transfer premise).  Each
arm's learning rate from {3e-4, 1e-3, 3e-3, 1e-2} on the mean of the two tasks' validation losses at the end
of the budget (B-only: on B's validation loss, from {3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2}).

History (reported, not hidden).  The first full recording used a different language B: a seeded
permutation of all 73 characters written with its own 73 ids (no shared symbol, no tag) and rates
{1e-3, 3e-3, 1e-2}.  There the transfer premise was absent (static T=∞ reached a B validation loss
0.14 nats *above* the B-only model's, mean over 3 seeds), so every claim was "premise absent", and every
arm chose the grid's lowest rate.  The toy was changed so that the languages share symbols (the premise
the paper relies on) and the rate grid moved down by one step; a pilot on seed 0 looked only at the
two premise metrics of static T=∞ and B-only.  Claims and margins are unchanged.  In that second
recording the B-only model chose 3e-4, the lowest rate of its grid, which could flatter the transfer
premise; the integrator added 1e-4 to the B-only grid alone (nothing else changed) for a third recording,
where B-only chose 1e-4 (the new edge; premise still present, −0.113 [−0.163, −0.063]), then 3e-5 for a
fourth and final one (B-only chose 1e-4 again, now inside the grid; every number unchanged).

Premises.  (1) Upsampling overfits the low-resource task: under static T = ∞ its validation loss at the
end is more than 0.05 nats above its minimum along training (both validation losses are measured at 20
evenly spaced checkpoints).  (2) The tasks transfer: static T = ∞ reaches
a B validation loss (its minimum along training) at least 0.05 nats below the B-only model's.
Claims (margins fixed before the first full run; test cross-entropy, nats).  (1) At T = ∞, pre-train-
then-mix has a lower low-resource loss than static sampling (the ablation lacking only the order);
(2) and a lower high-resource loss — together: it dominates static sampling at the same T.
(3) At T = 5, pre-train-then-mix has a lower mean of the two losses than static sampling.
(4) On the front: pre-train-then-mix (T = ∞) has a lower low-resource loss than static T = 2, the static
arm whose high-resource loss is closest to it by construction (≈ 91 % of the steps on A vs 75 %).
Grids widened in session 6, after the harness's grid-edge check (`Result.grid_edges`) flagged choices at
an edge of lr {3e-4, 1e-3, 3e-3}: now lr up to 1e-2.  Claims and margins unchanged; the verdicts before the widening are in
the commit message.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from ....experiments import Claim, Method, Premise, compare, experiment, finish, train
from . import mixture_indices, schedule, temperature_proportions

SLUG = "pretrain-then-mix"
CONTEXT, EMB, HIDDEN, BATCH = 8, 16, 128, 64
N_HIGH, N_LOW, N_EVAL = 20000, 200, 2000
STEPS, QUICK_STEPS, EVALS = 800, 160, 20
LRS, QUICK_LR = [3e-4, 1e-3, 3e-3, 1e-2], 1e-3
LOW_ONLY_LRS = [3e-5, 1e-4, *LRS]  # B-only chose the lowest rate of LRS, then 1e-4: bracketed
STATIC_T = {"static T=1": 1.0, "static T=2": 2.0, "static T=5": 5.0, "static T=inf": math.inf}
PTM_T = {"pretrain-then-mix T=5": 5.0, "pretrain-then-mix T=inf": math.inf}
LOW_ONLY = "low-only"
# stretches of the text (start offsets, in characters), disjoint
STARTS = {"high_train": 0, "high_val": 40000, "high_test": 60000, "low_train": 100000, "low_val": 120000}
STARTS["low_test"] = 140000


VOWELS = "aeiouAEIOU"
SHIFTED = "eiouaEIOUA"  # language B: every vowel replaced by the next one (a→e→i→o→u→a), case kept


@functools.cache
def languages() -> dict:
    """The two languages' windows: {"<lang>_<split>": (x, y)}, "vocab" (73 characters) and the tags.

    x = (language tag, the CONTEXT previous characters); the tag ids are vocab (A) and vocab + 1 (B)."""
    from ....data import CharTokenizer, load_text

    text = load_text()
    tok = CharTokenizer(text)
    ids = tok.encode(text)
    v = tok.vocab_size
    cipher = np.arange(v)
    cipher[tok.encode(VOWELS)] = tok.encode(SHIFTED)
    sizes = {"train": None, "val": N_EVAL, "test": N_EVAL}
    out = {"vocab": v}
    for t, lang in enumerate(("high", "low")):
        for split in ("train", "val", "test"):
            n = sizes[split] or (N_HIGH if lang == "high" else N_LOW)
            s = STARTS[f"{lang}_{split}"]
            seq = ids[s : s + n + CONTEXT]
            if lang == "low":
                seq = cipher[seq]
            w = np.lib.stride_tricks.sliding_window_view(seq, CONTEXT + 1)
            tag = np.full((len(w), 1), v + t, dtype=np.int64)
            x = np.ascontiguousarray(np.concatenate([tag, w[:, :CONTEXT]], axis=1))
            y = np.ascontiguousarray(w[:, CONTEXT])
            x.flags.writeable = y.flags.writeable = False
            out[f"{lang}_{split}"] = (x, y)
    return out


def _model(seed: int, vocab: int):
    from ....nn import Embedding, Linear, Module

    rng = np.random.default_rng(seed)
    width = (CONTEXT + 1) * EMB

    class CharMLP(Module):
        def __init__(self):
            super().__init__()
            self.emb = Embedding(vocab + 2, EMB, rng=rng)  # 73 characters + the two language tags
            self.fc1 = Linear(width, HIDDEN, rng=rng)
            self.fc2 = Linear(HIDDEN, vocab, rng=rng)

        def forward(self, x):
            h = self.emb(x)
            return self.fc2(self.fc1(h.reshape(h.shape[0], width)).tanh())

    return CharMLP()


def _loss(model, x, y) -> float:
    from ....autograd.tensor import no_grad
    from ....nn import functional as F

    with no_grad():
        return float(F.cross_entropy(model(x), y).data)


class _Track:
    """A `fit` callback: both tasks' validation losses every `every` steps (global step count)."""

    def __init__(self, model, data, every, log):
        self.model, self.data, self.every, self.log = model, data, every, log

    def on_step_end(self, state):
        self.log["step"] += 1
        if self.log["step"] % self.every == 0:
            self.log["val_high"].append(_loss(self.model, *self.data["high_val"]))
            self.log["val_low"].append(_loss(self.model, *self.data["low_val"]))


def fit_arm(arm: str, seed: int, lr: float, steps: int) -> dict:
    """One run of `arm` (a key of STATIC_T, PTM_T, or LOW_ONLY): final val/test losses and curves."""
    data = languages()
    xs = np.concatenate([data["high_train"][0], data["low_train"][0]])
    ys = np.concatenate([data["high_train"][1], data["low_train"][1]])
    sizes = np.array([N_HIGH, N_LOW])
    if arm in STATIC_T:
        phases = schedule(sizes, STATIC_T[arm], steps, 0, high=[0])
    elif arm in PTM_T:
        phases = schedule(sizes, PTM_T[arm], steps, steps // 2, high=[0])
    elif arm == LOW_ONLY:
        phases = [(steps, np.array([0.0, 1.0]))]
    else:
        raise ValueError(f"fit_arm: unknown `arm` {arm!r}")
    model = _model(seed, data["vocab"])
    log = {"step": 0, "val_high": [], "val_low": []}
    track = _Track(model, data, max(steps // EVALS, 1), log)
    for k, (n_steps, p) in enumerate(phases):  # a fresh Adam per phase: the restart at fine-tuning
        idx = mixture_indices(sizes, p, n_steps * BATCH, seed=(seed, k, 7))
        train(
            model, None, lr=lr, epochs=1, seed=seed, batch_size=BATCH, x=xs[idx], y=ys[idx], callbacks=[track]
        )
    res = {
        f"{split}_{lang}": _loss(model, *data[f"{lang}_{split}"])
        for split in ("val", "test")
        for lang in ("high", "low")
    }
    # the selection metric: the mean of the two tasks' validation losses (B-only: its one task's)
    res["val_mean"] = res["val_low"] if arm == LOW_ONLY else 0.5 * (res["val_high"] + res["val_low"])
    res["test_mean"] = 0.5 * (res["test_high"] + res["test_low"])
    curve = np.asarray(log["val_low"])
    res["low_overfit"] = float(curve[-1] - curve.min())  # premise 1: rise of B's val loss after its minimum
    res["min_val_low"] = float(curve.min())  # premise 2 (transfer)
    res["low_examples_seen"] = float(sum(n * BATCH * p[1] for n, p in phases))
    for j, (h, lo) in enumerate(zip(log["val_high"], log["val_low"])):
        res[f"curve_high_{j}"], res[f"curve_low_{j}"] = h, lo
    return res


ARMS = [*STATIC_T, *PTM_T, LOW_ONLY]


def _method(arm: str, steps: int) -> Method:
    def run(seed, lr):
        return fit_arm(arm, seed, lr, steps)

    grid = LOW_ONLY_LRS if arm == LOW_ONLY else LRS
    return Method(arm, run, grid={"lr": grid}, quick_grid={"lr": [QUICK_LR]})


@experiment(SLUG, seeds=(0, 1, 2), quick_seeds=(0,))
def run(quick, seeds, progress):
    steps = QUICK_STEPS if quick else STEPS
    methods = [_method(a, steps) for a in ARMS]
    comparison = compare(methods, seeds, select="val_mean", maximize=False, quick=quick, progress=progress)
    premises = [
        Premise(
            "Upsampling overfits the low-resource task: under static T=∞ its validation loss ends more than "
            "0.05 nats above its minimum along training",
            metric="low_overfit",
            method="static T=inf",
            threshold=0.05,
        ),
        Premise(
            "The tasks transfer: static T=∞ reaches a low-resource validation loss at least 0.05 nats below "
            "the low-resource-only model's",
            metric="min_val_low",
            method="static T=inf",
            baseline=LOW_ONLY,
            threshold=-0.05,
            direction="less",
        ),
    ]

    def lower(statement, metric, method, baseline):
        return Claim(statement, metric, method, baseline, direction="less", margin=0.0)

    claims = [
        lower(
            "At T=∞, pre-training then mixing lowers the low-resource test loss vs static sampling",
            "test_low",
            "pretrain-then-mix T=inf",
            "static T=inf",
        ),
        lower(
            "At T=∞, pre-training then mixing lowers the high-resource test loss vs static sampling",
            "test_high",
            "pretrain-then-mix T=inf",
            "static T=inf",
        ),
        lower(
            "At T=5, pre-training then mixing lowers the mean of the two test losses vs static sampling",
            "test_mean",
            "pretrain-then-mix T=5",
            "static T=5",
        ),
        lower(
            "Pre-training then mixing (T=∞) has a lower low-resource test loss than static T=2",
            "test_low",
            "pretrain-then-mix T=inf",
            "static T=2",
        ),
    ]
    arrays = {}
    for a in ARMS:
        for lang in ("high", "low"):
            arrays[f"curve {lang} {a}"] = np.array(
                [
                    [comparison.values(a, f"curve_{lang}_{j}")[i] for j in range(EVALS)]
                    for i in range(len(seeds))
                ]
            )
    return finish(
        SLUG,
        comparison,
        premises=premises,
        claims=claims,
        quick=quick,
        smoke=quick,
        arrays=arrays,
        notes={
            "arms": ARMS,
            "steps": steps,
            "eval_every": max(steps // EVALS, 1),
            "n_high": N_HIGH,
            "n_low": N_LOW,
            "proportions": {
                a: temperature_proportions([N_HIGH, N_LOW], t).tolist() for a, t in STATIC_T.items()
            },
        },
        metrics=[
            "test_high",
            "test_low",
            "test_mean",
            "val_mean",
            "val_low",
            "low_overfit",
            "min_val_low",
            "low_examples_seen",
        ],
    )


def plot(result) -> dict:
    from ....plotting import pyplot

    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    ax = axes[0]
    for k, a in enumerate(result.notes["arms"]):
        if a == LOW_ONLY:
            continue
        h = np.asarray(result.arrays[f"curve high {a}"])[:, -1]
        lo = np.asarray(result.arrays[f"curve low {a}"])[:, -1]
        marker = "s" if a.startswith("pretrain") else "o"
        ax.errorbar(h.mean(), lo.mean(), xerr=h.std(), yerr=lo.std(), fmt=marker, color=f"C{k}", label=a)
    ax.set_xlabel("high-resource validation loss (nats)")
    ax.set_ylabel("low-resource validation loss (nats)")
    ax.set_title("trade-off front (end of budget; mean ± std over seeds)")
    ax.legend(fontsize=8)
    ax = axes[1]
    steps = np.arange(1, EVALS + 1) * result.notes["eval_every"]
    for k, a in enumerate(result.notes["arms"]):
        c = np.asarray(result.arrays[f"curve low {a}"])
        ax.plot(steps[: c.shape[1]], c.mean(axis=0), marker=".", color=f"C{k}", label=a)
    ax.set_xlabel("step")
    ax.set_ylabel("low-resource validation loss (nats)")
    ax.set_title("the low-resource task along training")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return {SLUG: fig}
