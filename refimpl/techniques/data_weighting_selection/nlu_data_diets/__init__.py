r"""Dynamic data pruning ("NLU on Data Diets"): train on the whole set for a few epochs, then every few
epochs score every training example by EL2N under the *current* model and train only on the
highest-scoring fraction until the next scoring.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.
Official code: github.com/jpcorbeil-nuance/nlu_data_diets (PyTorch / HF `Trainer`), read at commit
c123def; file:line references below are to `hf_nlu_data_diet/trainer/` there.

The idea
--------
Static pruning (EL2N / GraNd of Paul et al., the `el2n-grand` technique) scores each example once,
before the final training, and trains on a fixed subset.  That costs a separate scoring run, and a score
measured early need not say which examples matter later.  Dynamic pruning folds the scoring into the
one training run.  With $N$ training examples, $E$ epochs in all, an initial full-data phase of $E_0$
epochs, a scoring period of $F$ epochs and a kept fraction $f$:

1. train $E_0$ epochs on all $N$ examples;
2. score every example under the current weights $w_t$:
   $\text{EL2N}_t(x, y) = \|\mathrm{softmax}(f_{w_t}(x)) - e_y\|_2$ (callbacks.py:36-55, the
   classification branch; no mean over initialisations: one run, one score);
3. keep the examples whose score lies in the top-$f$ window of the score distribution,
   $q_{1-o-f} \le s \le q_{1-o}$ with offset $o$ (default 0; the README's commands set none)
   (prune_utils.py:139-140, trainer_manager.py:142);
4. train $F$ epochs on the kept subset — an "epoch" is one pass over the *subset*, so a pruned epoch
   costs $fN$ examples — with the optimizer state carried over (the HF Trainer resumes from its
   checkpoint, trainer_manager.py:161-170), then go to 2 until $E$ epochs are done
   (trainer_manager.py:172-202: $\lfloor (E-E_0)/F \rfloor$ rounds of $F$ epochs, then one round with
   whatever is left).

The cost of a run, in examples processed, is
$C = E_0 N + (E - E_0) f N$ training examples plus $R\,N$ forward passes for the $R$ scorings
($R = \lfloor (E-E_0)/F \rfloor$, plus one if epochs remain).  With $F \ge E - E_0$ there is one scoring:
that is *static* pruning on the same schedule — the ablation without the periodic rescoring.  With
$E_0 = 0$ the first subset is drawn at random (trainer_manager.py:185-187); with mode "random" every
round draws a fresh uniform subset (prune_utils.py:128-129, 142-145).

What is implemented, and deviations
-----------------------------------
* `diet_schedule` is the official round structure; `keep_top` keeps exactly `keep_count(N, f)` examples
  by rank (ties: lower index first) where the official code thresholds at two interpolated quantiles
  (so it keeps ≈ fN, a few more under ties); `dynamic_diet` runs the rounds around a caller's
  `train_fn`, which keeps its optimizer across rounds.
* Only the single-label EL2N is implemented (the paper extends it to joint intent + slot labels,
  callbacks.py:60-81; our toy has no slots); the EMA / windowed averaging of past scores in
  prune_utils.py:72-100 is an option of the code, not the paper's main method, and is left out.
* Scoring cost: the official `ScoreCallback` scores at the end of every `train()` call, the last one
  included (its scores are never used); we count only the scorings that choose a subset.
* The paper's text beyond its abstract and introduction was not available here: equation numbers are
  not cited; the schedule, score and window are read from the official code.

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/data-weighting-selection/nlu-data-diets.ipynb
"""

from __future__ import annotations

import numpy as np

from ..scores import el2n
from ..selection import keep_by_score, keep_count, random_subset

CATALOG_ENTRY = {
    "slug": "nlu-data-diets",
    "title": "NLU on Data Diets: Dynamic Data Subset Selection for NLP Classification Tasks",
    "authors": "Jean-Michel Attendu, Jean-Philippe Corbeil",
    "year": 2023,
    "arxiv": "2306.03208",
    "family": "data-weighting-selection",
    "notebook": "notebooks/data-weighting-selection/nlu-data-diets.ipynb",
    "verified": "official-code",
    "verification_note": (
        "Schedule, score and window read in jpcorbeil-nuance/nlu_data_diets (commit c123def), "
        "hf_nlu_data_diet/trainer/: the rounds (trainer_manager.py:172-202: an initial full-data phase of "
        "prune_epoch epochs, then int((E − prune_epoch)/frequency) rounds of `frequency` epochs and one "
        "round with the rest), the kept window between the quantiles 1 − offset − size and 1 − offset of "
        "the latest scores (prune_utils.py:139-140, trainer_manager.py:142), "
        "EL2N = ‖softmax(z) − onehot(y)‖₂ under the current model (callbacks.py:36-55), "
        "scoring at the end of each round "
        "(callbacks.py:145-177), random mode redrawn each round (prune_utils.py:128-129, 142-145), the "
        "first subset random when prune_epoch = 0 (trainer_manager.py:185-187). The paper was read only "
        "as far as its abstract and introduction: equation numbers are not cited; the joint intent/slot "
        "EL2N is not implemented. Hand cases checked."
    ),
    "summary": (
        "Train on the whole set for a few epochs, then periodically re-score every example by EL2N under "
        "the current model and train only on the highest-scoring fraction until the next scoring; the "
        "scoring is folded into the one run, so the time saved by pruning is not spent on a separate "
        "scoring run, and the subset follows what is still hard."
    ),
    "equations": [
        "EL2N_t(x, y) = ‖softmax(f_{w_t}(x)) − e_y‖₂   (the current weights w_t; callbacks.py:36-55)",
        "keep: q_{1−o−f}(s) ≤ s ≤ q_{1−o}(s)   (prune_utils.py:139-140; here by rank: keep_count(N, f))",
        "rounds: E₀ epochs on all N, then ⌊(E − E₀)/F⌋ rounds of F epochs on the kept fN, then the rest",
        "cost = E₀N + (E − E₀) f N training examples + R·N scoring forwards (R rounds)",
    ],
}

__all__ = ["el2n_scores", "keep_top", "diet_schedule", "diet_cost", "dynamic_diet", "MODES"]

MODES = ("el2n", "random")


def el2n_scores(model, x, y) -> np.ndarray:
    """EL2N of each example under the model as it is now: ‖softmax(f(x)) − e_y‖₂ (eval mode)."""
    from ....train import predict

    return el2n(predict(model, x), y)


def keep_top(scores, keep_fraction: float, offset_fraction: float = 0.0) -> np.ndarray:
    """Sorted indices of the keep_count(N, keep_fraction) highest scores after skipping the
    keep_count(N, offset_fraction) very highest (the window q_{1−o−f} ≤ s ≤ q_{1−o}, by rank)."""
    n = len(np.asarray(scores))
    size, offset = keep_count(n, keep_fraction), keep_count(n, offset_fraction)
    if size + offset > n:
        raise ValueError(
            f"keep_top: keep_fraction {keep_fraction} + offset_fraction {offset_fraction} exceed the pool"
        )
    return keep_by_score(scores, size, order="highest", offset=offset)


def diet_schedule(epochs: int, prune_epoch: int, frequency: int) -> list:
    """The rounds of a run as (kind, n_epochs) pairs, kind "full" or "pruned" (trainer_manager.py:172-202):
    `prune_epoch` epochs on all data, then int(rest / frequency) rounds of `frequency` epochs if
    frequency < rest, then one round with the epochs that remain."""
    for name, v, lo in (("epochs", epochs, 1), ("prune_epoch", prune_epoch, 0), ("frequency", frequency, 1)):
        if int(v) != v or v < lo:
            raise ValueError(f"diet_schedule: `{name}` must be an integer ≥ {lo}, got {v!r}")
    if prune_epoch > epochs:
        raise ValueError(f"diet_schedule: `prune_epoch` ({prune_epoch}) must be ≤ `epochs` ({epochs})")
    rounds = [("full", prune_epoch)] if prune_epoch > 0 else []
    rest = epochs - prune_epoch
    done = prune_epoch
    if rest > 0:
        if frequency < rest:
            for _ in range(rest // frequency):
                rounds.append(("pruned", frequency))
                done += frequency
        if epochs > done:
            rounds.append(("pruned", epochs - done))
    return rounds


def diet_cost(n: int, epochs: int, prune_epoch: int, frequency: int, keep_fraction: float) -> dict:
    """Examples processed by a run: {"train_examples", "score_forwards", "scorings"} (scorings: the
    rounds after the initial phase whose subset is chosen by a score, each N forward passes)."""
    if n < 1:
        raise ValueError(f"diet_cost: `n` must be ≥ 1, got {n}")
    k = keep_count(n, keep_fraction)
    train_examples, scorings = 0, 0
    for i, (kind, e) in enumerate(diet_schedule(epochs, prune_epoch, frequency)):
        if kind == "full":
            train_examples += e * n
        else:
            train_examples += e * k
            scorings += 1 if (prune_epoch > 0 or i > 0) else 0  # E₀ = 0: the first subset is random
    return {"train_examples": train_examples, "score_forwards": scorings * n, "scorings": scorings}


def dynamic_diet(
    model,
    x,
    y,
    train_fn,
    *,
    epochs: int,
    prune_epoch: int,
    frequency: int,
    keep_fraction: float,
    mode: str = "el2n",
    offset_fraction: float = 0.0,
    seed: int = 0,
    score_fn=el2n_scores,
) -> dict:
    """Run the rounds of `diet_schedule` on `model`: `train_fn(model, idx, n_epochs, round_index)` trains
    `n_epochs` passes over the examples `idx` of (x, y) and must keep its optimizer between calls.
    Before each pruned round the subset is chosen afresh: the top of `score_fn(model, x, y)` (mode
    "el2n"), or a uniform draw (mode "random", and the first round when prune_epoch = 0).  Returns
    {"subsets": the kept indices per pruned round, "scores": the scores behind them, "train_examples",
    "score_forwards"}."""
    if mode not in MODES:
        raise ValueError(f"dynamic_diet: `mode` must be one of {MODES}, got {mode!r}")
    if not 0.0 < keep_fraction <= 1.0:
        raise ValueError(f"dynamic_diet: `keep_fraction` must be in (0, 1], got {keep_fraction}")
    x, y = np.asarray(x), np.asarray(y)
    if len(x) != len(y):
        raise ValueError(f"dynamic_diet: `x` and `y` must have the same length, got {len(x)} and {len(y)}")
    n = len(y)
    subsets, scores, train_examples, score_forwards = [], [], 0, 0
    for r, (kind, n_epochs) in enumerate(diet_schedule(epochs, prune_epoch, frequency)):
        if kind == "full":
            idx = np.arange(n)
        elif mode == "random" or (prune_epoch == 0 and r == 0):
            idx = random_subset(n, keep_count(n, keep_fraction), seed=10_007 * seed + r)
        else:
            s = np.asarray(score_fn(model, x, y), dtype=np.float64)
            score_forwards += n
            scores.append(s)
            idx = keep_top(s, keep_fraction, offset_fraction)
        if kind == "pruned":
            subsets.append(idx)
        train_fn(model, idx, n_epochs, r)
        train_examples += n_epochs * len(idx)
    return {
        "subsets": subsets,
        "scores": scores,
        "train_examples": train_examples,
        "score_forwards": score_forwards,
    }
