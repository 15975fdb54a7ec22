r"""General-purpose in-context learning: a sequence model meta-trained on many tasks, each made from one base
dataset by a random linear projection of the inputs and a random permutation of the labels, stops
memorising its training tasks and starts to *learn in context*: on tasks it never saw, its accuracy rises
with the number of labelled examples it has read.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.

Tasks from one dataset (Sec. 3, task augmentation)
--------------------------------------------------
From a base classification dataset :math:`\{(x_i, y_i)\}` with :math:`x_i\in\mathbb R^{N_x}` and
:math:`y_i\in\{1..N_y\}`, a task is a pair (A, ρ): a projection with :math:`A_{jk}\sim\mathcal N(0, 1/N_x)`
and a permutation ρ of the labels,

.. math::

    \bar x_i = A x_i,\qquad \bar y_i = \rho(y_i)

(`sample_tasks`, `apply_task`).  The variance 1/N_x keeps :math:`\mathbb E\lVert A x\rVert^2 = \lVert x\rVert^2`.
Nothing about a task is in the model's weights unless the model memorised it: a fresh (A, ρ) can only be
solved from the context.

The in-context learner and its objective (Sec. 2, Eq. 1)
--------------------------------------------------------
A sequence of L examples of one task is fed as tokens :math:`(\bar x_t, \bar y_{t-1})` (the label of the
*previous* example, a zero vector at t = 1; `sequences`), and a causal model f_θ predicts
:math:`\bar y_t` at every position from the tokens up to t.  Meta-training minimises the summed
per-position loss over random tasks,

.. math::

    J(\theta) = \mathbb E_{(A,\rho)}\Big[\textstyle\sum_{t=1}^{L}\ell\big(f_\theta(\bar x_{1:t},
    \bar y_{1:t-1}),\ \bar y_t\big)\Big]\qquad(\text{Eq. 1; }\ell = \text{cross-entropy})

(`sequence_loss`).  With few tasks the minimiser can recognise each training task from its inputs and
output its labels (memorisation: right on training tasks from the first position, chance on new ones);
with many tasks it must read the labels in the context (general-purpose in-context learning: on a new task,
chance at t = 1 and rising with t).

Model (`GPICLTransformer`): a linear embedding of the token plus a learned position embedding, two causal
pre-norm `TransformerBlock`\s, a final LayerNorm and a linear head to N_y logits.  Two layers because the
label of example j sits in token j + 1: pairing it with x_j needs one layer to look one step back.

A reference in-context learner (`nearest_neighbour_accuracy`): predict the label of the nearest earlier
input in the same sequence.  It needs no training, so it shows what accuracy the context alone allows at
each position.

What is reconstructed
---------------------
The paper meta-trains larger Transformers and LSTMs on image datasets (MNIST among them), sweeps the
number of tasks over many orders of magnitude and studies the state size.  Here the base dataset is a small Gaussian-cluster problem
(`base_dataset`), the transformer is tiny, and only the task-count transition is measured; the state-size
study is not reproduced.  The equation number and section titles above were taken from the paper as
recalled, not from a reading of the full text here (see the card's verification note).

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/theory-dynamics/general-purpose-icl.ipynb
"""

from __future__ import annotations

import numpy as np

from ....nn import Module, Parameter
from ....nn import functional as F
from ....nn.layers.linear import Linear
from ....nn.layers.norm import LayerNorm
from ....nn.layers.transformer import TransformerBlock

CATALOG_ENTRY = {
    "slug": "general-purpose-icl",
    "title": "General-Purpose In-Context Learning by Meta-Learning Transformers",
    "authors": "Louis Kirsch, James Harrison, Jascha Sohl-Dickstein, Luke Metz",
    "year": 2022,
    "arxiv": "2212.04458",
    "family": "theory-dynamics",
    "notebook": "notebooks/theory-dynamics/general-purpose-icl.ipynb",
    "verified": "reconstructed",
    "verification_note": "Paper confirmed (arXiv 2212.04458, Kirsch, Harrison, Sohl-Dickstein, Metz) from "
    "its abstract and public summaries: tasks made from one dataset by random input projections and label "
    "permutations, sequences of (x_t, y_{t-1}) with the sequence loss, a transition from memorisation to "
    "general-purpose in-context learning as the number of tasks grows, and the state size as the "
    "bottleneck.  The full text was not readable here and no official code was found, so the equation "
    "number (Eq. 1 for the sequence objective) and the projection variance 1/N_x are recalled, not "
    "checked.  The base dataset is a synthetic Gaussian-cluster problem, the model a two-layer causal "
    "transformer; the state-size study is not reproduced.",
    "summary": "A transformer meta-trained on tasks made from one dataset by random linear projections of "
    "the inputs and random label permutations memorises its training tasks when they are few, and becomes "
    "a general-purpose in-context learner when they are many: on unseen tasks its accuracy starts at chance "
    "and rises along the context.",
    "equations": [
        "x̄ = A x,  A_jk ~ N(0, 1/N_x);   ȳ = ρ(y),  ρ a random permutation of the labels   (one task)",
        "tokens (x̄_t, ȳ_{t−1}), ȳ_0 = 0;  a causal model predicts ȳ_t at every position t",
        "J(θ) = E_task [ Σ_{t=1}^{L} ℓ(f_θ(x̄_{1:t}, ȳ_{1:t−1}), ȳ_t) ]   (Eq. 1, ℓ = cross-entropy)",
        "few tasks: accuracy high on training tasks, chance (1/N_y) on unseen tasks   (memorisation)",
        "many tasks: unseen-task accuracy rises with t   (general-purpose in-context learning)",
    ],
}

__all__ = [
    "CATALOG_ENTRY",
    "base_dataset",
    "sample_tasks",
    "apply_task",
    "sequences",
    "GPICLTransformer",
    "sequence_loss",
    "accuracy_by_position",
    "nearest_neighbour_accuracy",
]


def base_dataset(n: int, dim: int, n_classes: int, *, separation: float = 1.5, noise: float = 0.5, rng=None):
    """The base dataset: `n` points of `n_classes` Gaussian clusters in R^dim (means ~ N(0, separation² I),
    within-cluster noise `noise`).  Returns X (n, dim) and integer labels y (n,)."""
    if min(int(n), int(dim), int(n_classes)) < 1:
        raise ValueError(f"`n`, `dim`, `n_classes` must be ≥ 1, got {n}, {dim}, {n_classes}")
    if not (np.isfinite(noise) and noise >= 0):
        raise ValueError(f"`noise` must be ≥ 0, got {noise}")
    rng = np.random.default_rng(rng)
    means = separation * rng.normal(size=(int(n_classes), int(dim)))
    y = rng.integers(int(n_classes), size=int(n))
    return means[y] + noise * rng.normal(size=(int(n), int(dim))), y


def sample_tasks(n_tasks: int, dim: int, n_classes: int, rng=None):
    """`n_tasks` tasks (A, ρ): A (K, dim, dim) with entries N(0, 1/dim), ρ (K, n_classes) permutations
    (Sec. 3)."""
    if min(int(n_tasks), int(dim), int(n_classes)) < 1:
        raise ValueError(f"`n_tasks`, `dim`, `n_classes` must be ≥ 1, got {n_tasks}, {dim}, {n_classes}")
    rng = np.random.default_rng(rng)
    A = rng.normal(size=(int(n_tasks), int(dim), int(dim))) / np.sqrt(dim)  # A_jk ~ N(0, 1/N_x)  (Sec. 3)
    perm = np.stack([rng.permutation(int(n_classes)) for _ in range(int(n_tasks))])
    return A, perm


def apply_task(X, y, A, perm):
    """One task's view of the data: x̄ = A x, ȳ = ρ(y)  (Sec. 3).  X (..., dim), y (...) integer."""
    X, y = np.asarray(X, dtype=np.float64), np.asarray(y)
    return X @ np.asarray(A, dtype=np.float64).T, np.asarray(perm)[y]  # x̄ = A x, ȳ = ρ(y)  (Sec. 3)


def sequences(X, y, A, perm, task_idx, point_idx):
    """Tokens and targets of B sequences: sequence b is task `task_idx[b]` on base points `point_idx[b]`
    (L of them).  Tokens (B, L, dim + n_classes) are (x̄_t, one-hot ȳ_{t−1}), zeros for t = 1; targets
    (B, L) are ȳ_t."""
    X, y = np.asarray(X, dtype=np.float64), np.asarray(y)
    A, perm = np.asarray(A, dtype=np.float64), np.asarray(perm)
    task_idx, point_idx = np.asarray(task_idx), np.asarray(point_idx)
    n_classes = perm.shape[1]
    xs = np.einsum("bij,blj->bli", A[task_idx], X[point_idx])  # x̄_t = A x_t  (Sec. 3)
    ys = np.take_along_axis(perm[task_idx], y[point_idx], axis=1)  # ȳ_t = ρ(y_t)  (Sec. 3)
    prev = np.zeros(ys.shape + (n_classes,))
    prev[:, 1:] = np.eye(n_classes)[ys[:, :-1]]  # the token at t carries ȳ_{t−1}  (Sec. 2)
    return np.concatenate([xs, prev], axis=-1), ys


class GPICLTransformer(Module):
    """A tiny causal transformer over (x̄_t, ȳ_{t−1}) tokens: embedding + learned positions, `n_layers`
    pre-norm blocks with causal self-attention, LayerNorm, a linear head to `n_classes` logits per
    position.  forward(tokens (B, L, dim + n_classes)) → logits (B, L, n_classes)."""

    def __init__(
        self,
        dim: int,
        n_classes: int,
        length: int,
        *,
        d_model: int = 16,
        n_heads: int = 2,
        n_layers: int = 2,
        dtype=np.float64,
        rng=None,
    ):
        if min(int(dim), int(n_classes), int(length), int(d_model), int(n_layers)) < 1:
            raise ValueError(
                f"`dim`, `n_classes`, `length`, `d_model`, `n_layers` must be ≥ 1, got {dim}, {n_classes}, "
                f"{length}, {d_model}, {n_layers}"
            )
        super().__init__()
        rng = np.random.default_rng(rng)
        self.dim, self.n_classes, self.length = int(dim), int(n_classes), int(length)
        self.embed = Linear(self.dim + self.n_classes, d_model, dtype=dtype, rng=rng)
        self.pos = Parameter((0.02 * rng.normal(size=(self.length, d_model))).astype(dtype))
        self.n_layers = int(n_layers)
        for i in range(self.n_layers):
            block = TransformerBlock(d_model, n_heads, 2 * d_model, dtype=dtype, rng=rng)
            setattr(self, f"block{i}", block)
        self.norm = LayerNorm(d_model, dtype=dtype)
        self.head = Linear(d_model, self.n_classes, dtype=dtype, rng=rng)

    def forward(self, tokens):
        L = tokens.shape[1]
        if L > self.length:
            raise ValueError(f"sequence length {L} exceeds the model's `length` {self.length}")
        h = self.embed(tokens) + self.pos[:L]
        for i in range(self.n_layers):
            h = getattr(self, f"block{i}")(h, is_causal=True)  # position t sees tokens 1..t only
        return self.head(self.norm(h))


def sequence_loss(logits, targets):
    """Eq. 1 on a batch: the cross-entropy of every position's prediction of ȳ_t, averaged over positions
    and sequences (the sum over t divided by L).  logits (B, L, C) Tensor, targets (B, L) integers."""
    B, L, C = logits.shape
    return F.cross_entropy(logits.reshape(B * L, C), np.asarray(targets).reshape(B * L))  # Eq. 1


def accuracy_by_position(logits, targets) -> np.ndarray:
    """Accuracy at each context position, averaged over sequences: (L,)."""
    logits = np.asarray(getattr(logits, "data", logits))
    return np.mean(logits.argmax(-1) == np.asarray(targets), axis=0)


def nearest_neighbour_accuracy(tokens, targets, n_classes: int) -> np.ndarray:
    """The reference in-context learner: at position t predict the label of the nearest earlier input of
    the same sequence (label 0 at t = 1, where there is none).  Accuracy per position (L,)."""
    tokens, targets = np.asarray(tokens, dtype=np.float64), np.asarray(targets)
    xs = tokens[..., : tokens.shape[-1] - int(n_classes)]
    B, L = targets.shape
    d2 = np.sum((xs[:, :, None, :] - xs[:, None, :, :]) ** 2, axis=-1)  # (B, L, L)
    d2 = np.where(np.tril(np.ones((L, L), dtype=bool), k=-1)[None], d2, np.inf)  # earlier points only
    nearest = np.argmin(d2, axis=-1)  # row 0 is all inf → index 0 (its prediction is defined below)
    pred = np.take_along_axis(targets, nearest, axis=1)
    pred[:, 0] = 0
    return np.mean(pred == targets, axis=0)
