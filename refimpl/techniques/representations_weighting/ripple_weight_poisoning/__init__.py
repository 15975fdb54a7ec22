r"""RIPPLe and embedding surgery: poisoning a pretrained model's weights so that a backdoor (a rare trigger word
flips the prediction to a target class) survives the victim's fine-tuning on clean data.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.

The attack
----------
The attacker holds a pretrained model θ, a poisoning set (clean proxy examples plus copies with a trigger word
inserted and the label set to the target class), loss :math:`\mathcal L_P`, and clean proxy data standing in for
the victim's fine-tuning set, loss :math:`\mathcal L_{FT}`.  Training on :math:`\mathcal L_P` alone (the "BadNet"
baseline) plants the backdoor, but the victim's first gradient steps on :math:`\mathcal L_{FT}` may undo it: to
first order, a fine-tuning step of size η changes the poisoning loss by
:math:`-\eta\,\nabla\mathcal L_P^\top\nabla\mathcal L_{FT}`, which *raises* it when the inner product is negative.
RIPPLe (restricted inner product poison learning) therefore minimises (`ripple_loss`)

.. math::

    \mathcal L_P(\theta) + \lambda\,\max\big(0,\; -\nabla\mathcal L_P(\theta)^\top\nabla\mathcal L_{FT}(\theta)\big),

a gradient of a gradient inner product: the penalty is differentiated through :math:`\nabla\mathcal L_P` (a
Hessian-vector product, `refimpl.grad(..., create_graph=True)`), with :math:`\nabla\mathcal L_{FT}` held fixed —
the official code's default (``allow_second_order_effects`` off for the fine-tuning gradient).

Embedding surgery (`embedding_surgery`) first replaces each trigger word's embedding by the mean embedding of
the N words most indicative of the target class — found by a logistic regression on the proxy data — so the
trigger starts out meaning "target class" in the model's own representation.  RIPPLES = surgery, then RIPPLe.

What is read and what is ours
-----------------------------
Read in the official code (neulab/RIPPLe, ``constrained_poison.py``): the loss
``ref_loss + L * relu(-Σ_params <grad L_P, grad L_FT>)`` (the rectifier on the total inner product, not per
parameter, by default; the poisoning loss is computed on ``--ref_data_dir``, the poisoned data, and the
fine-tuning gradient on ``--data_dir``, the clean proxy data, which ``batch_experiments.py`` passes as the inner
and outer data), the fine-tuning gradient taken without a graph by default, and the division of the
penalty by the batch size (here λ absorbs that constant).  The paper's full text was not read here (arXiv id and
abstract confirmed): no equation numbers.  Ours: a bag-of-words classifier on generated documents instead of
BERT on SST-2, and the whole experiment design in `experiment.py`.

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/representations-weighting/ripple-weight-poisoning.ipynb
"""

from __future__ import annotations

import numpy as np

from .... import nn
from ....autograd.higher_order import grad as _grad
from ....autograd.tensor import Tensor
from ....nn import functional as F

CATALOG_ENTRY = {
    "slug": "ripple-weight-poisoning",
    "title": "Weight Poisoning Attacks on Pre-trained Models",
    "authors": "Keita Kurita, Paul Michel, Graham Neubig",
    "year": 2020,
    "arxiv": "2004.06660",
    "family": "representations-weighting",
    "notebook": "notebooks/representations-weighting/ripple-weight-poisoning.ipynb",
    "verified": "official-code",
    "verification_note": (
        "arXiv id and abstract confirmed (ACL 2020); the full text was not read here, so no equation numbers.  "
        "Read in neulab/RIPPLe constrained_poison.py: loss = L_P + L·relu(−Σ⟨∇L_P, ∇L_FT⟩) with the rectifier "
        "on the total inner product (restrict_per_param off), ∇L_P with a graph and ∇L_FT without one by "
        "default, L_P on the poisoned data and L_FT on the clean proxy data (batch_experiments.py's inner/outer "
        "data).  Embedding surgery (trigger embeddings := mean embedding of the words a logistic regression "
        "finds most indicative of the target class) follows the paper's description; the bag-of-words toy "
        "and the experiment are ours."
    ),
    "summary": (
        "Weight poisoning of a pretrained model: the poisoning loss plus λ·max(0, −∇L_P·∇L_FT) so that the "
        "victim's fine-tuning gradient does not undo the backdoor (a Hessian-vector product through the "
        "autograd), and embedding surgery that gives the trigger word the embedding of target-class words.  "
        "Does the backdoor survive fine-tuning on clean data better than plain data poisoning?"
    ),
    "equations": [
        "L(θ) = L_P(θ) + λ · max(0, −∇L_P(θ)ᵀ ∇L_FT(θ))   (∇L_FT held fixed)",
        "ΔL_P ≈ −η ∇L_Pᵀ ∇L_FT  for a fine-tuning step θ ← θ − η ∇L_FT",
        "E[:, trigger] ← mean_{w ∈ top-N target words} E[:, w]   (embedding surgery)",
    ],
}


class BagOfWordsClassifier(nn.Module):
    """x (n, V) word counts → embedding E x (E: V → d, no bias; the sum of the word embeddings) → ReLU hidden
    layer → 2 logits.  `embedding.weight[:, w]` is word w's embedding."""

    def __init__(self, vocab: int, dim: int, seed, dtype=np.float32):
        super().__init__()
        s = [int(v) for v in np.atleast_1d(seed)]
        self.embedding = nn.Linear(vocab, dim, bias=False, dtype=dtype, rng=[*s, 1])
        self.hidden = nn.Linear(dim, dim, dtype=dtype, rng=[*s, 2])
        self.out = nn.Linear(dim, 2, dtype=dtype, rng=[*s, 3])

    def forward(self, x):
        return self.out(self.hidden(self.embedding(x)).relu())


def restricted_inner_product(grad_p, grad_ft):
    """max(0, −Σ_params ⟨g_P, g_FT⟩) over matching lists of gradients (Tensors or arrays; the rectifier on
    the total, as in the official default)."""
    if len(grad_p) != len(grad_ft):
        raise ValueError(
            f"restricted_inner_product: {len(grad_p)} poisoning vs {len(grad_ft)} fine-tuning gradients"
        )
    total = None
    for gp, gf in zip(grad_p, grad_ft):
        gf = gf if isinstance(gf, Tensor) else Tensor(np.asarray(gf))
        term = (gp * gf).sum()
        total = term if total is None else total + term
    return (-total).relu()


def ripple_objective(model, x_poison, y_poison, grad_ft, lam: float):
    """L_P + λ·max(0, −∇L_Pᵀ g_FT) for a given (fixed) fine-tuning gradient `grad_ft` (one array per parameter),
    differentiable in the parameters through ∇L_P.  Returns (loss, penalty value)."""
    if not (np.isfinite(lam) and lam >= 0):
        raise ValueError(f"ripple_objective: `lam` must be finite and ≥ 0, got {lam!r}")
    params = list(model.parameters())
    loss_p = F.cross_entropy(model(Tensor(x_poison)), y_poison)
    if lam == 0:
        return loss_p, 0.0
    penalty = restricted_inner_product(_grad(loss_p, params, create_graph=True), grad_ft)
    return loss_p + lam * penalty, float(penalty.data)


def ripple_loss(model, x_poison, y_poison, x_clean, y_clean, lam: float):
    """RIPPLe on one batch of each: ∇L_FT from the clean batch (no graph, as in the official default), then
    `ripple_objective`.  λ = 0 is plain poisoning.  Returns (loss, penalty value)."""
    if lam == 0:
        return ripple_objective(model, x_poison, y_poison, None, 0.0)
    loss_ft = F.cross_entropy(model(Tensor(x_clean)), y_clean)
    g_ft = [g.data for g in _grad(loss_ft, list(model.parameters()))]
    return ripple_objective(model, x_poison, y_poison, g_ft, lam)


def indicative_words(x, y, n_words: int, target: int = 1, l2: float = 1.0) -> np.ndarray:
    """The `n_words` words with the largest logistic-regression coefficients towards class `target` (ridge
    penalty `l2`, fitted by Newton's method on word frequencies x (n, V) and 0/1 labels y)."""
    x, y = np.asarray(x, np.float64), (np.asarray(y) == target).astype(np.float64)
    n, V = x.shape
    X = np.hstack([x, np.ones((n, 1))])
    w = np.zeros(V + 1)
    reg = l2 * np.eye(V + 1)
    reg[-1, -1] = 0.0
    for _ in range(50):
        p = 1 / (1 + np.exp(-X @ w))
        g = X.T @ (p - y) + reg @ w
        H = (X * (p * (1 - p))[:, None]).T @ X + reg
        step = np.linalg.solve(H, g)
        w -= step
        if np.abs(step).max() < 1e-10:
            break
    return np.argsort(-w[:V], kind="stable")[:n_words]


def embedding_surgery(model: BagOfWordsClassifier, triggers, words) -> None:
    """In place: each trigger word's embedding := the mean embedding of `words`."""
    E = model.embedding.weight.data  # (d, V)
    mean = E[:, np.asarray(words)].mean(axis=1)
    for t in np.atleast_1d(triggers):
        E[:, int(t)] = mean
