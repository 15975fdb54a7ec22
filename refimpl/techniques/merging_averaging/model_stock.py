r"""Model Stock: two fine-tuned models and the pretrained anchor, interpolated layer by layer.

Paper: *Model Stock: All we need is just a few fine-tuned models* — Dong-Hwan Jang, Sangdoo Yun,
Dongyoon Han, ECCV 2024.
arXiv: 2403.19522
Official code: github.com/naver-ai/model-stock (the stored snapshot holds only the README: "code is under
internal review"); the formula was cross-checked against mergekit's `merge_methods/model_stock.py`.

The idea
--------
Fine-tuned weights from one pretrained model w_0 lie, layer by layer, on a thin shell around a centre μ:
their distances to μ are almost equal and the angle θ between any two of their deltas w_i − w_0 is
almost constant.  Averaging many fine-tunes (a soup) approaches μ, which performs best.  Model Stock
estimates the point closest to μ from just two fine-tunes and the anchor: on the plane through w_0, w_1,
w_2 the best point is on the segment from w_0 to the mean w_12 = (w_1 + w_2)/2, at

$$ w_H = t\, w_{12} + (1 - t)\, w_0, \qquad t = \frac{2\cos\theta}{1 + \cos\theta}, $$

and with N fine-tunes, w̄_N = (1/N) Σ w_i and

$$ w_H = t\,\bar w_N + (1 - t)\,w_0, \qquad t = \frac{N\cos\theta}{1 + (N-1)\cos\theta}. $$

θ is the angle between fine-tuned deltas, cos θ = ⟨w_1 − w_0, w_2 − w_0⟩ / (‖w_1 − w_0‖‖w_2 − w_0‖),
computed **per layer** (each weight tensor gets its own t).  cos θ = 1 gives t = 1 (the plain average),
cos θ = 0 gives t = 0 (back to w_0): the more the fine-tunes disagree, the more weight the anchor gets.

Derivation (N = 2, two-dimensional picture).  With equal norms ‖δ_1‖ = ‖δ_2‖ = r for δ_i = w_i − w_0
and the centre at μ − w_0 = m, the thin-shell picture makes ⟨δ_i, m⟩ = ‖m‖² (the deltas are m plus
orthogonal noise of equal size), so r² cos θ = ⟨δ_1, δ_2⟩ = ‖m‖².  The mean delta δ̄ = (δ_1 + δ_2)/2 has
‖δ̄‖² = r²(1 + cos θ)/2, and the projection of m on δ̄ is t δ̄ with t = ⟨m, δ̄⟩/‖δ̄‖² = 2cos θ/(1 + cos θ).

Result at toy scale: two seeds of one recipe are nearly parallel (cos θ ≈ 0.9 for the first layer, and
the angle is indeed nearly the same for every pair of seeds: std ≈ 0.01), so t ≈ 0.95 and Model Stock is
almost the plain average of the two runs; it does not beat a single fine-tune or match the 8-run soup
reliably (claim holds in 0 of 5 quick seeds).

What is simplified / deviations
-------------------------------
CLIP ViT-B/32 on ImageNet becomes an MLP 64→128→10 pretrained on clean digits and fine-tuned on digits
rotated by 25°±10° (`finetuning.py`, shared with `model-soups`).  For N > 2 the paper states one angle θ;
we use the mean pairwise cosine per tensor (mergekit's reading).  A tensor whose deltas have zero norm
gets cos θ = 0 (t = 0, the anchor).  Negative cos θ is clipped to 0 (t would leave [0, 1]); with two
fine-tunes from one anchor it does not occur at this toy scale, and the paper does not treat it.

Verified: reconstructed — the two-model formula and its N-model form are from the paper's Section 3
(equation numbers not confirmed from the text we could read) and agree with mergekit's implementation;
the official code was not available.  The derivation above is checked numerically in the tests (the
closed form equals the projection of the centre for a synthetic thin shell).

Notebook: notebooks/merging-averaging/model-stock.ipynb
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from itertools import combinations

import numpy as np

from ...catalog import ReferenceCase
from .state import average, check_compatible, evaluate_state

CATALOG_ENTRY = {
    "slug": "model-stock",
    "title": "Model Stock: All we need is just a few fine-tuned models",
    "authors": "Dong-Hwan Jang, Sangdoo Yun, Dongyoon Han",
    "year": 2024,
    "arxiv": "2403.19522",
    "family": "merging-averaging",
    "notebook": "notebooks/merging-averaging/model-stock.ipynb",
    "verified": "reconstructed",
    "verification_note": (
        "t = N cosθ / (1 + (N−1) cosθ) and w_H = t w̄ + (1−t) w0 per layer from the paper's Section 3 "
        "(equation numbers not confirmed); official code not released in the stored snapshot; agrees with "
        "mergekit merge_methods/model_stock.py (mean pairwise cosine for N>2). The closed form is checked "
        "against the projection of a synthetic thin-shell centre."
    ),
    "summary": (
        "From two fine-tuned models and the pretrained anchor, interpolate each layer between the anchor and "
        "the fine-tuned average with a ratio set by the angle between the fine-tuned deltas; approximates the"
        " centre of the fine-tuned weight distribution that a many-model soup reaches."
    ),
    "equations": [
        "cos θ_l = ⟨w_1^l − w_0^l, w_2^l − w_0^l⟩ / (‖w_1^l − w_0^l‖ ‖w_2^l − w_0^l‖)",
        "t_l = N cos θ_l / (1 + (N − 1) cos θ_l)   (N = 2: 2cos θ / (1 + cos θ))",
        "w_H^l = t_l · (1/N) Σ_i w_i^l + (1 − t_l) · w_0^l",
    ],
}

__all__ = [
    "interpolation_ratio",
    "layer_cosines",
    "layer_angles",
    "model_stock",
    "demo",
    "plot",
    "reference_cases",
]


def interpolation_ratio(cos_theta, n_models: int = 2):
    """t = N cos θ / (1 + (N − 1) cos θ) (elementwise; cos θ is clipped to [0, 1])."""
    n = int(n_models)
    if n < 1:
        raise ValueError(f"interpolation_ratio: `n_models` must be ≥ 1, got {n_models}")
    c = np.clip(np.asarray(cos_theta, dtype=np.float64), 0.0, 1.0)
    return n * c / (1.0 + (n - 1) * c)


def layer_cosines(sd_a, sd_b, anchor=None) -> OrderedDict:
    """name → cos∠(θ_A − θ_anchor, θ_B − θ_anchor) per tensor (anchor = 0 if None).  A zero vector gives
    cos = 0 (no direction)."""
    if anchor is None:
        a, b = check_compatible([sd_a, sd_b], "[sd_a, sd_b]")
        anc = OrderedDict((k, np.zeros_like(v)) for k, v in a.items())
    else:
        a, b, anc = check_compatible([sd_a, sd_b, anchor], "[sd_a, sd_b, anchor]")
    out = OrderedDict()
    for k in a:
        da = (a[k] - anc[k]).astype(np.float64).ravel()
        db = (b[k] - anc[k]).astype(np.float64).ravel()
        den = np.linalg.norm(da) * np.linalg.norm(db)
        out[k] = float(da @ db / den) if den > 0 else 0.0
    return out


def layer_angles(pretrained, finetuned) -> OrderedDict:
    """name → cos θ per tensor: the cosine between fine-tuned deltas w_i − w_0 (mean over pairs if N > 2)."""
    sds = check_compatible([pretrained] + list(finetuned), "[pretrained] + finetuned")
    w0, fts = sds[0], sds[1:]
    if len(fts) < 2:
        raise ValueError(
            f"layer_angles: `finetuned` needs at least 2 models to define an angle, got {len(fts)}"
        )
    per_pair = [layer_cosines(a, b, w0) for a, b in combinations(fts, 2)]
    return OrderedDict((k, float(np.mean([p[k] for p in per_pair]))) for k in w0)


def model_stock(pretrained, finetuned) -> dict:
    """{"state": w_H, "t": name → t_l, "cos": name → cos θ_l} for N ≥ 2 fine-tunes of `pretrained`.
    One fine-tune returns it unchanged (t = 1 by convention: nothing to average)."""
    sds = check_compatible([pretrained] + list(finetuned), "[pretrained] + finetuned")
    w0, fts = sds[0], sds[1:]
    if len(fts) == 0:
        raise ValueError("model_stock: `finetuned` must hold at least one model")
    if len(fts) == 1:
        return {
            "state": OrderedDict((k, v.copy()) for k, v in fts[0].items()),
            "t": OrderedDict((k, 1.0) for k in w0),
            "cos": OrderedDict((k, 1.0) for k in w0),
        }
    cos = layer_angles(w0, fts)
    wbar = average(fts)
    t = OrderedDict((k, float(interpolation_ratio(c, len(fts)))) for k, c in cos.items())
    state = OrderedDict()
    for k in w0:
        if np.array_equal(wbar[k], w0[k]) and all(np.array_equal(f[k], w0[k]) for f in fts):
            state[k] = w0[k].copy()  # no delta at all: every choice of t gives w0
        else:
            state[k] = (t[k] * wbar[k] + (1.0 - t[k]) * w0[k]).astype(w0[k].dtype)  # w_H = t w̄ + (1 − t) w0
    # identical fine-tunes: parallel deltas → cos = 1, t = 1, w_H = w̄ (the family contract)
    return {"state": state, "t": t, "cos": cos}


def seed_pair(seed: int = 0, quick: bool = False, n: int = 2) -> list:
    """`n` fine-tunes with the same hyperparameters (the sweep's first setting) and different seeds — the
    Model Stock setting (two runs that differ only by the random seed)."""
    from .finetuning import SIZES, finetune_configs, pretrained, train_mlp

    theta0, data = pretrained(seed, quick)
    base = finetune_configs(1, seed, quick)[0]
    cfgs = [dataclasses.replace(base, seed=base.seed + 7 * (j + 1)) for j in range(n)]
    return [train_mlp(SIZES, data["x_train"], data["y_train"], c, init_state=theta0) for c in cfgs]


def demo(seed: int = 0, quick: bool = False, progress: bool = True) -> dict:
    """Model Stock from 2 seeds vs each fine-tune, their plain average, and soups of the 8-run sweep."""
    from .finetuning import finetunes
    from .model_soups import greedy_soup

    theta0, sweep, _, d = finetunes(8, seed, quick)
    seeds = seed_pair(seed, quick, n=4)
    pair = seeds[:2]

    def ev(sd):
        return (
            evaluate_state(sd, d["x_test"], d["y_test"])["accuracy"],
            evaluate_state(sd, d["x_shift"], d["y_shift"])["accuracy"],
        )

    ms = model_stock(theta0, pair)
    avg2 = average(pair)
    soup8 = average(sweep)
    greedy = greedy_soup(sweep, lambda sd: evaluate_state(sd, d["x_val"], d["y_val"])["accuracy"])["state"]
    rows = []
    for name, sd, n in [
        ("pretrained w_0", theta0, 0),
        ("fine-tune seed A", pair[0], 1),
        ("fine-tune seed B", pair[1], 1),
        ("uniform average of A, B", avg2, 2),
        ("Model Stock (A, B + w_0)", ms["state"], 2),
        ("uniform soup of 8 (sweep)", soup8, 8),
        ("greedy soup of 8 (sweep)", greedy, 8),
    ]:
        a, s = ev(sd)
        rows.append({"model": name, "fine-tunes used": n, "test_acc": a, "shift_acc": s})
    # the thin-shell observation: per layer, the angle between deltas is about the same for every pair of
    # runs that differ only by the seed (4 seeds → 6 pairs)
    sweep_cos = {k: [layer_cosines(a, b, theta0)[k] for a, b in combinations(seeds, 2)] for k in theta0}
    single = (
        np.mean([rows[1]["test_acc"], rows[2]["test_acc"]]),
        np.mean([rows[1]["shift_acc"], rows[2]["shift_acc"]]),
    )
    msr, soup = rows[4], rows[5]
    metrics = {
        "single_test_acc": float(single[0]),
        "single_shift_acc": float(single[1]),
        "average2_test_acc": rows[3]["test_acc"],
        "average2_shift_acc": rows[3]["shift_acc"],
        "model_stock_test_acc": msr["test_acc"],
        "model_stock_shift_acc": msr["shift_acc"],
        "soup8_test_acc": soup["test_acc"],
        "soup8_shift_acc": soup["shift_acc"],
        "greedy8_test_acc": rows[6]["test_acc"],
        **{f"t[{k}]": v for k, v in ms["t"].items()},
        **{f"cos_pair[{k}]": v for k, v in ms["cos"].items()},
        **{f"cos_seeds_std[{k}]": float(np.std(v)) for k, v in sweep_cos.items()},
    }
    holds = bool(
        msr["test_acc"] >= single[0]
        and msr["shift_acc"] >= single[1]
        and msr["test_acc"] >= soup["test_acc"] - 0.01
    )
    layer_rows = [
        {
            "tensor": k,
            "cos θ (A,B)": ms["cos"][k],
            "t": ms["t"][k],
            "cos θ, 6 seed pairs": f"{np.mean(sweep_cos[k]):.3f} ± {np.std(sweep_cos[k]):.3f}",
        }
        for k in theta0
    ]
    return {
        "metrics": metrics,
        "table": rows,
        "layers": layer_rows,
        "sweep_cos": sweep_cos,
        "claim": {
            "statement": "Model Stock with two fine-tunes beats a single fine-tune in distribution and under "
            "shift, and matches (within 1 point) the uniform soup of eight fine-tunes.",
            "holds": holds,
        },
    }


def plot(result) -> dict:
    from ...plotting import pyplot

    plt = pyplot()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.6))
    names = list(result["sweep_cos"])
    ax1.boxplot([result["sweep_cos"][k] for k in names])
    ax1.set_xticks(range(1, len(names) + 1), names)
    ax1.scatter(
        range(1, len(names) + 1),
        [r["cos θ (A,B)"] for r in result["layers"]],
        c="r",
        zorder=3,
        label="pair A, B",
    )
    ax1.set_ylabel("cos θ between fine-tuned deltas")
    ax1.set_title("angle per layer: nearly constant across pairs")
    ax1.legend(fontsize=8)
    rows = result["table"]
    ax2.barh([r["model"] for r in rows], [r["test_acc"] for r in rows], color="tab:blue", label="ID")
    ax2.barh(
        [r["model"] for r in rows],
        [r["shift_acc"] for r in rows],
        color="tab:orange",
        alpha=0.7,
        label="shift",
    )
    ax2.invert_yaxis()
    ax2.set_xlabel("accuracy")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    return {"model-stock": fig}


def reference_cases() -> list:
    def ratio(cos_theta, n_models):
        return {"t": interpolation_ratio(cos_theta, n_models)}

    def merge(w0, w1, w2):
        r = model_stock({"w": np.asarray(w0)}, [{"w": np.asarray(w1)}, {"w": np.asarray(w2)}])
        return {"cos": np.array(r["cos"]["w"]), "t": np.array(r["t"]["w"]), "w_H": r["state"]["w"]}

    return [
        ReferenceCase(
            "ratio_n2",
            {"cos_theta": [0.0, 0.5, 1.0], "n_models": 2},
            {"t": np.array([0.0, 2 / 3, 1.0])},
            ratio,
            note="by hand: 2c/(1+c) at c = 0, 0.5, 1 gives 0, 1/1.5, 1",
            atol=1e-12,
        ),
        ReferenceCase(
            "ratio_n4",
            {"cos_theta": [0.25], "n_models": 4},
            {"t": np.array([4 / 7])},
            ratio,
            note="by hand: 4·0.25/(1+3·0.25) = 1/1.75 = 4/7",
            atol=1e-12,
        ),
        ReferenceCase(
            "merge_hand_vectors",
            {"w0": [1.0, 1.0], "w1": [2.0, 1.0], "w2": [2.0, 2.0]},
            {
                "cos": np.array(1 / np.sqrt(2)),
                "t": np.array(2 / (1 + np.sqrt(2))),
                "w_H": np.array([1.0, 1.0]) + (2 / (1 + np.sqrt(2))) * np.array([1.0, 0.5]),
            },
            merge,
            note="by hand: deltas (1,0) and (1,1), cos = 1/√2, t = 2c/(1+c) = 2/(1+√2) ≈ 0.828; "
            "w̄ − w0 = (1, 0.5); w_H = w0 + t (w̄ − w0)",
            atol=1e-12,
        ),
    ]
