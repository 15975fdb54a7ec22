"""The experiment: gradient descent on one softmax attention layer's key–query matrix on random sequences,
and the direction it takes against the Att-SVM of the tokens it ends up selecting.

Setup.  n = `N_SEQ` sequences of T = `T_TOK` tokens in d = `DIM` (Gaussian tokens, queries and head v, random
labels), per seed.  Normalized gradient descent from W = 0 with step `LR` for `STEPS` steps (‖W‖ grows to a
few tens: far enough for the softmax to select, short of floating-point underflow in the attention).  The
tokens GD selects are those with the largest final attention; W^mm is the Att-SVM for them, and the
equal-margin separator of the same tokens is the comparison point (a separator that is not max-margin).
Nothing is tuned: the theorem is about GD itself; `val_final_loss` (the training loss) is reported for the
harness.  `SEEDS` seeds.
Premise.  GD selects: on every sequence the attention on one token exceeds 0.99 at the end.
Claims (margins fixed before the first full run).  (1) GD's direction aligns with the Att-SVM of the tokens it
selects: cosine above 0.95.  (2) It is closer to the max-margin direction than to the equal-margin separator of
the same tokens.  (3) The alignment grows during training (cosine at the end above the cosine at a tenth of
the steps).
"""

from __future__ import annotations

import numpy as np

from ....experiments import Claim, Method, Premise, compare, experiment, finish
from . import (
    att_svm,
    attention_output,
    cosine,
    equal_margin_solution,
    loss_and_grad,
    optimal_tokens,
    train_attention,
)

SLUG = "transformers-as-svm"
N_SEQ, T_TOK, DIM = 6, 4, 5
LR, STEPS, QUICK_STEPS = 0.01, 3000, 500
COS_MARGIN = 0.95
PREMISE_ATTENTION = 0.99


def draw(seed: int):
    rng = np.random.default_rng([seed, 41])
    X = rng.normal(size=(N_SEQ, T_TOK, DIM))
    z = rng.normal(size=(N_SEQ, DIM))
    y = rng.choice([-1.0, 1.0], N_SEQ)
    v = rng.normal(size=DIM)
    return X, z, y, v


def _run(steps: int, keep: dict):
    def run(seed):
        X, z, y, v = draw(seed)
        marks = sorted({max(1, steps // 10), *np.unique(np.geomspace(10, steps, 12).astype(int))})
        W, kept = train_attention(X, z, y, v, lr=LR, steps=steps, record=marks)
        _, a = attention_output(W, X, z, v)
        selected = np.argmax(a, axis=1)
        W_mm = att_svm(X, z, selected)
        W_eq = equal_margin_solution(X, z, selected)
        keep[seed] = {"marks": np.array(marks), "cos": np.array([cosine(kept[m], W_mm) for m in marks])}
        return {
            "val_final_loss": loss_and_grad(W, X, z, y, v)[0],
            "cos_svm": cosine(W, W_mm),
            "cos_equal_margin": cosine(W, W_eq),
            "svm_minus_equal": cosine(W, W_mm) - cosine(W, W_eq),
            "cos_growth": cosine(W, W_mm) - cosine(kept[max(1, steps // 10)], W_mm),
            "min_top_attention": float(a.max(axis=1).min()),
            "selects_optimal": float(np.all(selected == optimal_tokens(X, y, v))),
            "norm": float(np.linalg.norm(W)),
        }

    return run


@experiment(SLUG, seeds=tuple(range(10)), quick_seeds=(0, 1, 2))
def run(quick, seeds, progress):
    steps = QUICK_STEPS if quick else STEPS
    keep: dict = {}
    name = "normalized GD on W (from 0)"
    comparison = compare(
        [Method(name, _run(steps, keep))],
        seeds,
        select="val_final_loss",
        maximize=False,
        quick=quick,
        progress=progress,
    )
    premise = Premise(
        f"GD selects: on every sequence one token gets more than {PREMISE_ATTENTION:g} of the attention",
        "min_top_attention",
        name,
        threshold=PREMISE_ATTENTION,
    )
    claims = [
        Claim(
            f"GD's direction aligns with the Att-SVM of the tokens it selects (cosine above {COS_MARGIN:g})",
            "cos_svm",
            name,
            direction="greater",
            margin=COS_MARGIN,
        ),
        Claim(
            "it is closer to the max-margin direction than to the equal-margin separator of the same tokens",
            "svm_minus_equal",
            name,
            direction="greater",
        ),
        Claim(
            "the alignment grows during training (cosine at the end above the cosine at a tenth of the steps)",
            "cos_growth",
            name,
            direction="greater",
        ),
    ]
    s = comparison.seeds
    arrays = {"marks": keep[s[0]]["marks"], "cos": np.array([keep[k]["cos"] for k in s])}
    return finish(
        SLUG,
        comparison,
        premises=[premise],
        claims=claims,
        quick=quick,
        smoke=quick,
        arrays=arrays,
        notes={"steps": steps, "lr": LR, "n": N_SEQ, "T": T_TOK, "d": DIM},
    )


def plot(result) -> dict:
    from ....plotting import pyplot

    plt = pyplot()
    a = result.arrays
    name = next(iter(result.selected))
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    ax = axes[0]
    for c in a["cos"]:
        ax.plot(a["marks"], c, color="C0", alpha=0.4, lw=1)
    ax.plot(a["marks"], a["cos"].mean(0), color="C0", lw=2, label="mean over seeds")
    ax.set_xscale("log")
    ax.set_xlabel("GD step")
    ax.set_ylabel("cos(W_t, W^mm)")
    ax.set_title("direction of W against the Att-SVM of the selected tokens", fontsize=9)
    ax.legend(fontsize=7)
    ax = axes[1]
    svm, eq = result.values(name, "cos_svm"), result.values(name, "cos_equal_margin")
    ax.scatter(eq, svm, s=20)
    ax.plot([0, 1], [0, 1], "k:", lw=0.8)
    ax.set_xlabel("cos with the equal-margin separator")
    ax.set_ylabel("cos with the max-margin Att-SVM")
    ax.set_title("final direction, one point per seed", fontsize=9)
    fig.tight_layout()
    return {SLUG: fig}
