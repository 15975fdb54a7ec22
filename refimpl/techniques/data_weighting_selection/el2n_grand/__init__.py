r"""EL2N and GraNd: score every training example early in training, prune the easy ones, retrain.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.
Official code: github.com/mansheej/data_diet (JAX/Flax), read at commit aee462e.

The idea
--------
Train a network for a short while (a few epochs, several independent initialisations), and give every
training example $(x, y)$ a score that says how much it still pulls on the weights:

$$\text{GraNd}_t(x, y) = \mathbb{E}_{w_0}\,\big\|\nabla_{w}\,\ell\big(f_{w_t}(x), y\big)\big\|_2
\qquad
\text{EL2N}_t(x, y) = \mathbb{E}_{w_0}\,\big\|\,\mathrm{softmax}(f_{w_t}(x)) - e_y\big\|_2$$

(the expectation over initialisations $w_0$ is estimated by a mean over a few runs; official
scripts/get_mean_score.py:21-25).  Why EL2N tracks GraNd: for cross-entropy,
$\nabla_w \ell = \sum_k (p_k - e_{y,k})\,\nabla_w f_k(x)$, a combination of the logit gradients with the
error vector $p - e_y$ as coefficients.  If the logit gradients of one example were orthogonal with equal
norms $c(x)$, the norm would be exactly $c(x)\,\|p - e_y\|_2$.  For the last layer $z = W h + b$ it is exact:
$\nabla_W \ell = (p - e_y)\,h^\top$ and $\nabla_b \ell = p - e_y$, so
$\|\nabla_{W,b}\ell\| = \|p - e_y\|_2\sqrt{\|h\|^2 + 1}$ — EL2N times a feature-norm factor
(`scores.last_layer_grand`).  Early in training the error vector is what varies most between examples.

Pruning keeps the highest-scoring ("hardest") examples.  Under label noise the very highest scores are
the mislabelled examples, so the paper also trains on a window of the score ranking that skips the
top-ranked examples (an "offset"); the official scripts do both: `keep_max_scores` (argsort()[-size:])
and `offset` (argsort()[o:o+size]) in data_diet/data.py:139-161, run by scripts/run_keep_max_scores.py and
scripts/run_offset_subset.py.  The pruned run trains for the same number of *steps* as the full-data run
(num_steps = 200·390 in every official script, whatever the subset size), i.e. more epochs on less data.

What is implemented, and deviations
-----------------------------------
* `el2n_scores` / `grand_scores` score one trained model (thin over the family's `scores.el2n` and
  `scores.grand`); `early_scores` trains several initialisations for a few epochs and averages;
  `prune` keeps a fraction by score with an optional offset (thin over `selection.keep_by_score`).
* GraNd is the exact per-example gradient norm over *all* parameters, as the official
  data_diet/scores.py:37-46 (jacrev of the per-example losses over the whole parameter tree), by one
  backward pass per example; the model is scored in eval mode (the official code scores with
  `train=False` batch-norm statistics; our MLP has none).
* EL2N uses ord 2 of softmax minus one-hot (data_diet/scores.py:10-15).
* Ties in a score are broken by the lower index (a stable sort); the official argsort is unstable.
* The paper's text was not read beyond its abstract here (the official code was): the claims tested are
  the abstract's (prune a large fraction without losing accuracy; scores find noisy examples) and the
  offset rule of the official scripts; the epoch of scoring and the offsets tried are our toy's.
* Toy scale: a 64-128-10 MLP on the 8×8 digits with 10 % planted label noise instead of ResNet-18 on
  CIFAR-10; scores from 4 initialisations after 2 epochs (≈ 10 % of the full run, as 20 of 200 epochs).

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/data-weighting-selection/el2n-grand.ipynb
"""

from __future__ import annotations

import numpy as np

from ..scores import el2n, grand, mean_over_runs
from ..selection import keep_by_score, keep_count

CATALOG_ENTRY = {
    "slug": "el2n-grand",
    "title": "Deep Learning on a Data Diet: Finding Important Examples Early in Training",
    "authors": "Mansheej Paul, Surya Ganguli, Gintare Karolina Dziugaite",
    "year": 2021,
    "arxiv": "2107.07075",
    "family": "data-weighting-selection",
    "notebook": "notebooks/data-weighting-selection/el2n-grand.ipynb",
    "verified": "official-code",
    "verification_note": (
        "Scores and subsets read in mansheej/data_diet (commit aee462e): EL2N = ‖softmax(f(x)) − y‖₂ "
        "(data_diet/scores.py:10-15), GraNd = per-example ‖∂ℓ/∂θ‖₂ over all parameters by jacrev "
        "(scores.py:37-46), the mean over runs (scripts/get_mean_score.py:21-25), keep_max_scores and the "
        "offset window over an ascending argsort (data_diet/data.py:139-161), forgetting counts "
        "(data_diet/forgetting.py:13-23), the same number of steps for every subset size "
        "(scripts/run_*_subset.py). The paper was read only as far as its abstract: equation numbers are "
        "not cited, and the scoring epoch and offsets of the toy are ours. Hand cases checked."
    ),
    "summary": (
        "Score every training example a few epochs into training, averaged over several initialisations, "
        "by the norm of its loss gradient (GraNd) or of its error vector softmax(f(x)) − onehot(y) (EL2N); "
        "keep the highest-scoring examples (optionally skipping the very highest, which are often "
        "mislabelled) and train from scratch on them for the same number of steps."
    ),
    "equations": [
        "GraNd(x, y) = E_{w₀} ‖∇_w ℓ(f_{w_t}(x), y)‖₂   (mean over initialisations)",
        "EL2N(x, y) = E_{w₀} ‖softmax(f_{w_t}(x)) − e_y‖₂",
        "last layer: ‖∇_{W,b} ℓ‖ = ‖p − e_y‖₂ · √(‖h‖² + 1)",
        "keep: ranks offset … offset+size−1 of the descending score order (offset 0: keep hardest)",
    ],
}

__all__ = ["el2n_scores", "grand_scores", "early_scores", "prune"]


def el2n_scores(model, x, y) -> np.ndarray:
    """EL2N of each example under one model: ‖softmax(f(x)) − e_y‖₂ (eval mode)."""
    from ....train import predict

    return el2n(predict(model, x), y)


def grand_scores(model, x, y) -> np.ndarray:
    """GraNd of each example under one model: ‖∇_θ CE(f(x), y)‖₂ over all parameters (exact)."""
    return grand(model, x, y)


SCORERS = {"el2n": el2n_scores, "grand": grand_scores}


def early_scores(make_model, train_fn, x, y, seeds, score: str = "el2n") -> np.ndarray:
    """The mean over `seeds` of `score` ("el2n" or "grand") after `train_fn(model, seed)` trains the
    model `make_model(seed)` for the early epochs (E over initialisations as a mean over runs)."""
    if score not in SCORERS:
        raise ValueError(f"early_scores: `score` must be one of {sorted(SCORERS)}, got {score!r}")
    if len(seeds) < 1:
        raise ValueError("early_scores: `seeds` must name at least one initialisation")
    runs = []
    for s in seeds:
        model = make_model(s)
        train_fn(model, s)
        runs.append(SCORERS[score](model, x, y))
    return mean_over_runs(runs)


def prune(scores, keep_fraction: float, offset_fraction: float = 0.0) -> np.ndarray:
    """Sorted indices of the keep_count(n, keep_fraction) highest-scoring examples after skipping the
    keep_count(n, offset_fraction) very highest (offset 0: keep the hardest, official keep_max_scores)."""
    n = len(np.asarray(scores))
    size, offset = keep_count(n, keep_fraction), keep_count(n, offset_fraction)
    if size + offset > n:
        raise ValueError(
            f"prune: keep_fraction {keep_fraction} + offset_fraction {offset_fraction} exceed the pool"
        )
    return keep_by_score(scores, size, order="highest", offset=offset)
