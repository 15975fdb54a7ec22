"""The experiment: train a small 6-block character transformer, remove a third or a half of its 12 attention
and FFN sublayers by FinerCut's greedy output-distance search, and compare, without retraining, with the
same search over whole blocks and with random sublayers.

Setup.  `CharTransformerLM` (6 pre-norm blocks, d_model 32, 2 heads, d_ff 128, context 16) trained with Adam
on windows of the bundled text (`tasks.char_lm`, next character at every position); train, validation and
test are consecutive, disjoint stretches.  The search is scored on the first CALIB training windows only
(the calibration set), against the trained model's own outputs.
Arms (each a model trained once per seed and learning rate, then pruned; nothing is retrained), at k = 4
and k = 6 removed sublayers (of 12):
  dense               nothing removed (the reference);
  finercut k          greedy removal of single sublayers by the mean JS divergence of the output (the paper);
  block k             the ablation without the finer granularity: the same greedy search and distance over
                      the 6 blocks, k/2 blocks removed (k sublayers, the same count);
  random k            the ablation without the search: k sublayers at random — the mean over R draws per
                      seed (seeded), so no single lucky draw decides;
  one-shot k=4        a control: every sublayer scored alone on the full model, the 4 cheapest removed (no
                      claim is made on it).
Every arm chooses its own training learning rate on its validation loss after pruning (the search has no
other knob; k is the budget being compared).
Premises: (1) removing sublayers costs something (a random set of 4 raises the test loss by more than 0.02
nats); (2) the finer granularity has room: FinerCut's 4 removed sublayers are not a union of whole blocks
(some removed sublayer keeps its block partner).
Claims.  At k = 4 and k = 6: FinerCut costs less test loss than block-level removal of as many sublayers by
the same search, and less than random sublayers.  FinerCut removes attention sublayers preferentially (more
than half of its 6 removals are attention), the paper's interpretability finding.
"""

from __future__ import annotations

import functools

import numpy as np

from ....experiments import Claim, Method, Premise, compare, experiment, finish, tasks, train
from ....experiments.training import sequence_cross_entropy
from . import finercut, one_shot_prune, output_distance, sublayer_logits, sublayer_name

SLUG = "finercut"
BLOCK, D_MODEL, N_LAYERS, N_HEADS, D_FF = 16, 32, 6, 2, 128
N_SUB = 2 * N_LAYERS
K, K_HIGH = 4, 6
LR_GRID = [1e-3, 3e-3, 1e-2]
ARMS = [
    "dense",
    f"finercut k={K}",
    f"block k={K}",
    f"random k={K}",
    f"one-shot k={K}",
    f"finercut k={K_HIGH}",
    f"block k={K_HIGH}",
    f"random k={K_HIGH}",
]


def _sizes(quick: bool) -> dict:
    """Training windows, epochs, calibration and evaluation windows, random draws per seed."""
    if quick:
        return {"n_train": 600, "epochs": 1, "calib": 32, "eval": 48, "draws": 3}
    return {"n_train": None, "epochs": 4, "calib": 128, "eval": None, "draws": 24}


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
    """The trained LM (one per seed, learning rate and mode), in eval mode."""
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
    model.eval()
    return model


def _ce(logits, y) -> float:
    """Mean next-character cross-entropy (nats) from logits (N, T, V), float64."""
    z = logits.astype(np.float64)
    z = z - z.max(-1, keepdims=True)
    lse = np.log(np.exp(z).sum(-1))
    return float(np.mean(lse - np.take_along_axis(z, y[..., None], -1)[..., 0]))


@functools.cache
def _evaluated(seed: int, lr: float, quick: bool) -> dict:
    """Every arm's metrics for the LM of (seed, lr): arm → dict."""
    task, size = lm_task(), _sizes(quick)
    model = _trained(seed, lr, quick)
    calib = task.x_train[: size["calib"]]  # calibration: training windows only
    n = size["eval"]
    xv, yv, xs, ys = task.x_val[:n], task.y_val[:n], task.x_test[:n], task.y_test[:n]
    ref_v, ref_s = sublayer_logits(model, xv), sublayer_logits(model, xs)
    dense = {"val_loss": _ce(ref_v, yv), "test_loss": _ce(ref_s, ys)}

    def arm(removed):
        lv, ls = sublayer_logits(model, xv, removed), sublayer_logits(model, xs, removed)
        row = {"val_loss": _ce(lv, yv), "test_loss": _ce(ls, ys), "test_js": output_distance(ref_s, ls)}
        row["loss_increase"] = row["test_loss"] - dense["test_loss"]
        row["relative_increase"] = row["loss_increase"] / dense["test_loss"]
        return row

    fine, fine_d = finercut(model, calib, K_HIGH)  # greedy: its first K steps are the k = K answer
    blocks, _ = finercut(model, calib, K_HIGH // 2, level="block")
    ref_c = sublayer_logits(model, calib)
    once = one_shot_prune(lambda r: output_distance(ref_c, sublayer_logits(model, calib, r)), N_SUB, K)
    rng = np.random.default_rng(10_000 + seed)
    out = {"dense": {**dense, "test_js": 0.0, "loss_increase": 0.0, "relative_increase": 0.0}}
    for k in (K, K_HIGH):
        chosen = fine[:k]
        attn = sum(j % 2 == 0 for j in chosen)
        unpaired = sum((j ^ 1) not in chosen for j in chosen)  # j ^ 1: the other sublayer of j's block
        out[f"finercut k={k}"] = {
            **arm(chosen),
            "attn_fraction": attn / k,
            "unpaired_fraction": unpaired / k,
            "calib_js": fine_d[k - 1],
            **{f"removed_{t}": float(j) for t, j in enumerate(chosen)},
        }
        whole = [s for b in blocks[: k // 2] for s in (2 * b, 2 * b + 1)]
        out[f"block k={k}"] = arm(whole)
        draws = [arm(rng.choice(N_SUB, size=k, replace=False)) for _ in range(size["draws"])]
        out[f"random k={k}"] = {key: float(np.mean([d[key] for d in draws])) for key in draws[0]}
    out[f"one-shot k={K}"] = arm(once)
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
    costs = f"removing {K} sublayers at random raises the test loss by more than 0.02 nats"
    room = f"FinerCut's {K} removed sublayers are not a union of whole blocks (some keep their block partner)"
    premises = [
        Premise(costs, "loss_increase", f"random k={K}", 0.02),
        Premise(room, "unpaired_fraction", f"finercut k={K}", 0.0),
    ]
    claims = []
    for k in (K, K_HIGH):
        claims += [
            Claim(
                f"FinerCut removing {k} of {N_SUB} sublayers costs less test loss than removing {k // 2} whole "
                "blocks by the same greedy search",
                "test_loss",
                f"finercut k={k}",
                f"block k={k}",
                direction="less",
                premises=(room,),
            ),
            Claim(
                f"FinerCut removing {k} of {N_SUB} sublayers costs less test loss than removing {k} sublayers "
                "at random",
                "test_loss",
                f"finercut k={k}",
                f"random k={k}",
                direction="less",
                premises=(costs,),
            ),
        ]
    claims.append(
        Claim(
            f"FinerCut removes attention sublayers preferentially (more than half of its {K_HIGH} removals)",
            "attn_fraction",
            f"finercut k={K_HIGH}",
            direction="greater",
            margin=0.5,
            premises=(),
        )
    )
    order = np.array(
        [[np.mean(comparison.values(f"finercut k={K_HIGH}", f"removed_{t}")) for t in range(K_HIGH)]]
    )[0]
    removed_counts = np.zeros(N_SUB)
    for s in range(len(seeds)):
        for t in range(K_HIGH):
            removed_counts[int(comparison.values(f"finercut k={K_HIGH}", f"removed_{t}")[s])] += 1
    increase = np.array([np.mean(comparison.values(a, "loss_increase")) for a in ARMS])
    return finish(
        SLUG,
        comparison,
        premises=premises,
        claims=claims,
        quick=quick,
        smoke=quick,
        arrays={"loss_increase": increase, "removed_counts": removed_counts, "mean_order": order},
        notes={"arms": ARMS, "n_seeds": len(seeds)},
        metrics=[
            "test_loss",
            "val_loss",
            "loss_increase",
            "relative_increase",
            "test_js",
            "attn_fraction",
            "unpaired_fraction",
        ],
    )


def plot(result) -> dict:
    from ....plotting import pyplot

    plt = pyplot()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9.6, 3.6))
    counts = result.arrays["removed_counts"]
    names = [sublayer_name(j) for j in range(len(counts))]
    colors = ["C0" if j % 2 == 0 else "C1" for j in range(len(counts))]
    a1.bar(np.arange(len(counts)), np.asarray(counts) / result.notes["n_seeds"], color=colors)
    a1.set_xticks(np.arange(len(counts)), names, rotation=60, fontsize=8)
    a1.set_ylabel(f"fraction of seeds removing it\n(FinerCut, k={K_HIGH})")
    a1.set_title("which sublayers FinerCut removes (blue: attention)")
    arms = result.notes["arms"][1:]
    a2.barh(np.arange(len(arms)), result.arrays["loss_increase"][1:], color="C0")
    a2.set_yticks(np.arange(len(arms)), arms, fontsize=8)
    a2.invert_yaxis()
    a2.set_xlabel("test loss increase over dense\n(nats, mean over seeds)")
    a2.set_title("cost of removal, no retraining")
    fig.tight_layout()
    return {SLUG: fig}
