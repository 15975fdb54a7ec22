r"""Retrieval-augmented diffusion (RDM): a small denoiser conditioned on the k nearest neighbours retrieved from an
external database; swapping the database after training changes what the model generates, without retraining.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.

The semi-parametric model (paper Sec. 3)
----------------------------------------
A generative model is split into a trainable conditional decoder :math:`p_\theta(x \mid \cdot)`, an external
database :math:`\mathcal D = \{y_i\}` and a retrieval strategy :math:`\xi_k` that returns a subset of
:math:`\mathcal D` for a query.  The paper's strategy is the k nearest neighbours of the query in an embedding
space φ (CLIP in the paper; here φ is the identity on 2-D points),

.. math::

    \xi_k(x, \mathcal D) = \mathcal M^{(k)}_{\mathcal D}(x) = \operatorname*{arg\,min}_{\mathcal M\subset\mathcal D,\,
    |\mathcal M| = k} \sum_{y\in\mathcal M} d(\varphi(x), \varphi(y)) ,

and the decoder is trained to maximise :math:`\mathbb E_{x\sim p}\,\log p_\theta\big(x \mid \{\varphi(y) : y \in
\mathcal M^{(k)}_{\mathcal D}(x)\}\big)`.  For a diffusion decoder the likelihood is replaced by the usual
ε-prediction objective, conditioned on the retrieved set (`rdm_eps_loss`),

.. math::

    \min_\theta\ \mathbb E_{x, t, \varepsilon}\,\big\lVert \varepsilon - \varepsilon_\theta\big(\sqrt{\bar\alpha_t}x +
    \sqrt{1-\bar\alpha_t}\,\varepsilon,\ t,\ \{\varphi(y) : y\in\mathcal M^{(k)}_{\mathcal D}(x)\}\big)\big\rVert^2 .

At inference there is no training point to query with: the paper draws a *pseudo-query* from the database (or
a text/image embedding), retrieves its neighbours, and samples :math:`x \sim p_\theta(x \mid \mathcal
M^{(k)}_{\mathcal D}(\tilde y))` (`sample_queries`, `retrieval_condition`).  Because :math:`\mathcal D` is not a
parameter, it can be replaced post hoc by :math:`\mathcal D'` — the paper's "database swap" that transfers a
trained model to a new domain.

What is reconstructed
---------------------
The arXiv id (2204.11824, NeurIPS 2022 as "Retrieval-Augmented Diffusion Models") and the abstract were
confirmed; the full text and the official code (CompVis/latent-diffusion, RDM configs and its knn2img script)
were not read here, so the equations above are written from the paper's Sec. 3 description as summarised by
its abstract and figure captions, and their equation numbers are not cited.  Assumptions that are ours: φ is
the identity on the 2-D points; the retrieved set enters the denoiser as the *mean* of its k members (the paper
encodes each neighbour and feeds the set through cross-attention); the training query is a fresh data point
that is not in the database (so no self-exclusion is needed); the pseudo-query at inference is a uniformly
drawn database element, whose own k nearest neighbours (itself included) condition the sample.  The toy, the
network and all sizes are ours.

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/diffusion-generative/retrieval-augmented-diffusion.ipynb
"""

from __future__ import annotations

import numpy as np

from .... import cat, nn
from ....autograd.tensor import Tensor
from ..denoisers import sinusoidal_embedding
from ..schedules import q_sample

CATALOG_ENTRY = {
    "slug": "retrieval-augmented-diffusion",
    "title": "Semi-Parametric Neural Image Synthesis",
    "authors": "Andreas Blattmann, Robin Rombach, Kaan Oktay, Jonas Müller, Björn Ommer",
    "year": 2022,
    "arxiv": "2204.11824",
    "family": "diffusion-generative",
    "notebook": "notebooks/diffusion-generative/retrieval-augmented-diffusion.ipynb",
    "verified": "reconstructed",
    "verification_note": "arXiv id and abstract confirmed (NeurIPS 2022, 'Retrieval-Augmented Diffusion Models'); "
    "the full text and the official code (CompVis/latent-diffusion) were not read, so the kNN retrieval ξ_k and the "
    "retrieval-conditioned ε-objective are written from the paper's Sec. 3 description, without equation numbers. "
    "Ours: φ = identity on 2-D points, the k neighbours enter as their mean (not cross-attention), the "
    "pseudo-query at inference is a random database element; toy, network and sizes are ours.",
    "summary": "Condition a small diffusion model on the k nearest neighbours of a query, retrieved from an external "
    "database; the database is not a parameter, so swapping it after training moves the samples to the new "
    "database's content without retraining.",
    "equations": [
        "ξ_k(x, D) = M_D^(k)(x) = the k points of D nearest to x   (retrieval, Sec. 3.1)",
        "max_θ E_x log p_θ(x | {φ(y) : y ∈ M_D^(k)(x)})   (semi-parametric objective)",
        "min_θ E‖ε − ε_θ(√ᾱ_t x + √(1−ᾱ_t) ε, t, M_D^(k)(x))‖²   (diffusion decoder)",
        "sampling: ỹ ~ U(D'), x ~ p_θ(x | M_D'^(k)(ỹ))   (pseudo-query; D' may be a swapped database)",
    ],
}

__all__ = [
    "CATALOG_ENTRY",
    "knn",
    "retrieval_condition",
    "sample_queries",
    "RetrievalDenoiser",
    "rdm_eps_loss",
    "kth_neighbour_sq_distance_gaussian",
]


def knn(queries, database, k: int) -> np.ndarray:
    """Indices (n, k) of the k points of `database` nearest (Euclidean) to each query, nearest first
    (ξ_k, Sec. 3.1)."""
    q, db = np.asarray(queries, dtype=np.float64), np.asarray(database, dtype=np.float64)
    if q.ndim != 2 or db.ndim != 2 or q.shape[1] != db.shape[1]:
        raise ValueError(f"`queries` and `database` must be (n, d) and (N, d), got {q.shape} and {db.shape}")
    if not 1 <= k <= len(db):
        raise ValueError(f"`k` must be in 1..{len(db)} (the database size), got {k}")
    d2 = (q**2).sum(1)[:, None] + (db**2).sum(1)[None] - 2 * q @ db.T
    idx = np.argpartition(d2, k - 1, axis=1)[:, :k]
    order = np.argsort(np.take_along_axis(d2, idx, 1), axis=1)
    return np.take_along_axis(idx, order, 1)


def retrieval_condition(queries, database, k: int) -> np.ndarray:
    """The conditioning the decoder sees: the mean of the k retrieved neighbours M_D^(k)(query), (n, d)."""
    db = np.asarray(database, dtype=np.float64)
    return db[knn(queries, db, k)].mean(1)


def sample_queries(database, n: int, rng) -> np.ndarray:
    """n pseudo-queries drawn uniformly (with replacement) from the database, for sampling."""
    db = np.asarray(database, dtype=np.float64)
    return db[np.random.default_rng(rng).integers(0, len(db), size=n)]


class RetrievalDenoiser(nn.Module):
    """ε_θ(x_t, t, c): an MLP on [x_t, emb(t), c] with SiLU activations, c the retrieved neighbours' mean.

    With `retrieval=False` the same network (same parameters) sees c = 0: the unconditional ablation that
    lacks only retrieval."""

    def __init__(
        self, dim: int, hidden: int = 64, depth: int = 3, *, emb_dim: int = 16, retrieval=True, rng=None
    ):
        super().__init__()
        if dim < 1 or hidden < 1 or depth < 1:
            raise ValueError(f"need dim, hidden, depth ≥ 1, got {dim}, {hidden}, {depth}")
        rng = np.random.default_rng(rng)
        self.dim, self.emb_dim, self.retrieval = dim, emb_dim, bool(retrieval)
        layers, width = [], 2 * dim + emb_dim
        for _ in range(depth):
            layers += [nn.Linear(width, hidden, rng=rng), nn.SiLU()]
            width = hidden
        layers.append(nn.Linear(width, dim, rng=rng))
        self.net = nn.Sequential(*layers)

    def forward(self, x, t, c):
        x = x if isinstance(x, Tensor) else Tensor(np.asarray(x, dtype=np.float32))
        c = np.asarray(c, dtype=np.float32)
        if c.shape != tuple(x.shape):
            raise ValueError(f"the condition `c` must have x's shape {tuple(x.shape)}, got {c.shape}")
        if not self.retrieval:
            c = np.zeros_like(c)
        return self.net(cat([x, Tensor(sinusoidal_embedding(t, self.emb_dim)), Tensor(c)], axis=1))


def rdm_eps_loss(model, x0, c, alpha_bar, rng) -> Tensor:
    """Mean ‖ε − ε_θ(x_t, t, c)‖² over the batch, t uniform over the T steps, c = the retrieved condition of x0
    (the diffusion decoder's objective, Sec. 3)."""
    rng = np.random.default_rng(rng)
    x0 = np.asarray(x0, dtype=np.float32)
    T = len(alpha_bar)
    t = rng.integers(0, T, size=len(x0))
    eps = rng.standard_normal(x0.shape).astype(np.float32)
    xt = q_sample(x0, t, eps, alpha_bar).astype(np.float32)  # x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε
    return ((model(xt, t / T, c) - Tensor(eps)) ** 2).sum(axis=1).mean()


def kth_neighbour_sq_distance_gaussian(n_database: int, k: int) -> np.ndarray:
    """E‖y_(j)‖², j = 1..k, for the j-th nearest neighbour of the query 0 in a database of N points from
    N(0, I₂): ‖y‖² ~ Exp(mean 2), so the j-th smallest of N has mean 2 Σ_{i<j} 1/(N − i) (exact)."""
    if not 1 <= k <= n_database:
        raise ValueError(f"need 1 ≤ k ≤ n_database, got k = {k}, n_database = {n_database}")
    return 2 * np.cumsum(1.0 / (n_database - np.arange(k)))
