r"""Pre-training with a fixed corpus and unlimited compute: regularise hard (weight decay far above the usual),
scale the parameter count, and judge a recipe by the *asymptote* of its loss-versus-parameters power law; an
ensemble of independently trained models has a lower asymptote than a single model.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.

The asymptote of a recipe
-------------------------
With the data fixed, a recipe (optimizer, weight decay, epochs) trained at parameter counts N gives losses that
the paper models by a power law with an offset (Sec. "parameter scaling", its scaling-law form),

.. math::

    L(N) = \frac{A}{N^{\alpha}} + E,

and the recipe's best possible loss under infinite compute is the asymptote E (`power_law`,
`fit_power_law`).  The law only makes sense when L decreases monotonically in N; with the standard weight
decay (0.1 for AdamW) the loss turns up again as N grows (overfitting), which the paper removes by tuning the
weight decay per size (optimum about 30× the standard value).

Ensembles
---------
K members trained from independent seeds at the same size are combined by averaging their next-token
distributions, :math:`p_{\mathrm{ens}}(y\mid x) = \frac1K\sum_k p_k(y\mid x)`, and scored by the
cross-entropy of that average (`ensemble_log_loss`).  By Jensen's inequality the ensemble's cross-entropy is
never above the members' mean; the paper's claim is stronger: fitting L(N) to the ensemble's losses gives a
lower asymptote E than the single model's.

The toy model
-------------
A next-character MLP from the family's model pools (`pools.init_mlp`, `pools.train_mlp`, re-exported here): the
one-hot codes of the C previous characters, concatenated, one ReLU hidden layer of width h, softmax over the
vocabulary; trained full-batch for a fixed number of steps with AdamW (decoupled weight decay on the weight
matrices, not the biases).  The backward pass is written by hand; the tests check it against float64 finite
differences.

What is reconstructed
---------------------
The arXiv id, title, authors and the claims were confirmed from the abstract (arXiv:2509.14786v1); the
official code was not found in the index and the full text's equation numbers were not checked, so the
scaling law and the ensemble rule are written in the form the abstract and catalogue describe.  Everything
about the model (a character MLP instead of a transformer, full-batch AdamW, the weight-decay grid) is this
toy's choice.  Distillation of the ensemble into a student is not implemented.

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/theory-generalization/pretraining-infinite-compute.ipynb
"""

from __future__ import annotations

import numpy as np

from .. import fitting
from ..pools import init_mlp, mlp_loss_and_grads, mlp_probs, n_params, one_hot_context, train_mlp

CATALOG_ENTRY = {
    "slug": "pretraining-infinite-compute",
    "title": "Pre-training under infinite compute",
    "authors": "Konwoo Kim, Suhas Kotha, Percy Liang, Tatsunori Hashimoto",
    "year": 2025,
    "arxiv": "2509.14786",
    "family": "theory-generalization",
    "notebook": "notebooks/theory-generalization/pretraining-infinite-compute.ipynb",
    "verified": "reconstructed",
    "verification_note": "arXiv id, authors and claims confirmed from the abstract (v1); the official code was "
    "not found and the paper's equation numbers were not checked.  The power law L(N) = A/N^α + E, its "
    "asymptote, tuned weight decay and probability-averaging ensembles follow the abstract; the character MLP, "
    "full-batch AdamW and the grids are this toy's.  Distillation is omitted.",
    "summary": "With data fixed and compute unlimited, tune weight decay far higher than usual so that loss "
    "falls monotonically with parameter count, fit L(N) = A/N^α + E and judge the recipe by its asymptote E; "
    "ensembles of independently trained models reach a lower asymptote than single models.",
    "equations": [
        "L(N) = A / N^α + E   (loss vs parameter count at fixed data; E = the recipe's asymptote)",
        "p_ens(y|x) = (1/K) Σ_k p_k(y|x);  L_ens = −E log p_ens(y|x)   (K independently trained members)",
        "θ ← θ − η (m̂/(√v̂ + ε) + λ θ)   (AdamW, decoupled weight decay λ, tuned per size)",
    ],
}

__all__ = [
    "CATALOG_ENTRY",
    "power_law",
    "fit_power_law",
    "ensemble_log_loss",
    "n_params",
    "one_hot_context",
    "init_mlp",
    "mlp_probs",
    "mlp_loss_and_grads",
    "train_mlp",
]


def power_law(n, a: float, alpha: float, e: float) -> np.ndarray:
    """L(N) = A / N^α + E."""
    return fitting.power_law(n, a, alpha, e)  # L(N) = A/N^α + E


def fit_power_law(n, loss, *, alpha_max: float = 3.0) -> dict:
    """Least-squares fit of L(N) = A/N^α + E (A ≥ 0, 0 ≤ α ≤ alpha_max, E ≥ 0) on the losses themselves, through
    the family's shared `fitting` module; {"a", "alpha", "e", "sse", "predict"}."""
    n, loss = np.asarray(n, dtype=np.float64), np.asarray(loss, dtype=np.float64)
    if n.shape != loss.shape or n.size < 3:
        raise ValueError("fit_power_law: needs at least 3 (N, loss) pairs of equal length")
    if np.any(n <= 0):
        raise ValueError("fit_power_law: parameter counts must be > 0")
    return fitting.fit_power_law(n, loss, alpha_max=alpha_max)


def ensemble_log_loss(probs, y) -> float:
    """Cross-entropy of the averaged distribution: −mean log((1/K) Σ_k p_k(y|x)); probs has shape (K, n, V)."""
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim == 2:
        probs = probs[None]
    p_ens = probs.mean(axis=0)  # p_ens = (1/K) Σ_k p_k
    return float(-np.mean(np.log(np.maximum(p_ens[np.arange(len(y)), np.asarray(y)], 1e-30))))
