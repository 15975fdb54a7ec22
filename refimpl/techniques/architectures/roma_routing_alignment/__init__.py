r"""RoMA (Routing Manifold Alignment): post-train *only the routers* of a trained mixture-of-experts model with
a manifold regulariser that pulls each sample's routing weights toward those of its *successful neighbours*
(samples the model answered correctly) in the space of an external task embedding.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.

The method
----------
**Routing weights.**  A (soft) MoE layer computes :math:`y(x)=\sum_{e=1}^{E} r_e(x)\,f_e(x)` with the routing
weights :math:`r(x)=\mathrm{softmax}(W_r x + b_r)\in\Delta^{E-1}`; with several MoE layers :math:`r_i` is the
concatenation of the per-layer weights of sample :math:`i` (the third-party code concatenates the last five
layers' weights of the prompt's last token).

**Successful set and neighbours.**  Run the pretrained model on the post-training set; the samples it answers
correctly form the successful set :math:`\mathcal S`, and their pretrained routing weights
:math:`\{r_j\}_{j\in\mathcal S}` are stored (fixed).  An external embedding model maps each sample to a task
embedding :math:`e_i`; the neighbours :math:`\mathcal N(i)\subset\mathcal S` are the k samples of
:math:`\mathcal S` with the highest cosine similarity :math:`s_{ij}=\cos(e_i,e_j)` (k-NN).

**Similarity weights.**  A Gaussian kernel on the cosine distance, normalised over the neighbours:

.. math::

    \tilde W_{ij} = \exp\!\Bigl(-\frac{(1-s_{ij})^2}{2\sigma^2}\Bigr),\qquad
    W_{ij} = \tilde W_{ij} \Big/ \sum_{j'\in\mathcal N(i)} \tilde W_{ij'} .

**Objective** (router parameters :math:`\theta_r` only; experts and everything else frozen):

.. math::

    \mathcal L_{\rm RoMA}(\theta_r) = \mathcal L_{\rm task}(\theta_r)
      + \lambda\,\frac1B\sum_{i}\sum_{j\in\mathcal N(i)} W_{ij}\,\bigl\|r_i(\theta_r)-r_j\bigr\|_2^2 .

Because :math:`\sum_j W_{ij}=1`, the regulariser of sample i equals
:math:`\|r_i-\bar r_i\|^2 + \sum_j W_{ij}\|r_j-\bar r_i\|^2` with the kNN-averaged target
:math:`\bar r_i=\sum_j W_{ij} r_j`: its gradient in :math:`r_i` is :math:`2(r_i-\bar r_i)` and its minimiser
is :math:`\bar r_i` (`knn_target`).  The regulariser is a graph-Laplacian (manifold) penalty that ties the
routing manifold to the task-embedding manifold: samples with similar task embeddings are pushed to share
expert choices.

What is read and what is ours
-----------------------------
The paper's full text (equations, their numbers) could not be read here: only the abstract and secondary
summaries.  The objective above is the one written in the README of a public re-implementation
(``Koios1143/RoMA``, ``README.md`` and ``finetune_roma.py``: k-NN by cosine similarity of a sentence
embedder over the successful set, Gaussian kernel on 1 − cos with σ, weights normalised over the k
neighbours, squared L2 distance of routing weights summed over neighbours and averaged over the batch,
λ warmed up linearly, routers of the last layers only, AdamW).  That repository is *not* the authors' code
(``tianyi-lab/RoMA``, not available here), so the verification level is ``reconstructed`` and formulas
are cited by the paper's section ("Sec. 3", the method) rather than by equation number.  Ours: the λ
warm-up is dropped (a fixed λ), the routing targets :math:`r_j` are the pretrained model's weights
(fixed, as in the re-implementation), one soft-routed MoE layer, the toy (``experiment.py``).

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/architectures/roma-routing-alignment.ipynb
"""

from __future__ import annotations

import math

import numpy as np

from .... import nn
from ....autograd import ops
from ....autograd.tensor import Tensor

CATALOG_ENTRY = {
    "slug": "roma-routing-alignment",
    "title": "Routing Manifold Alignment Improves Generalization of Mixture-of-Experts LLMs",
    "authors": "Zhongyang Li, Ziyue Li, Tianyi Zhou",
    "year": 2025,
    "arxiv": "2511.07419",
    "family": "architectures",
    "notebook": "notebooks/architectures/roma-routing-alignment.ipynb",
    "verified": "reconstructed",
    "verification_note": (
        "Reconstructed: the abstract and secondary summaries were read, not the paper's equations; the "
        "objective L_task + λ Σ_{j∈N(i)} W_ij ‖r_i − r_j‖² with k-NN over the successful set by cosine "
        "similarity of a task embedding and W_ij = normalised exp(−(1 − cos)²/2σ²) follows a public "
        "third-party re-implementation (Koios1143/RoMA, finetune_roma.py), not the authors' code.  Ours: "
        "fixed λ (no warm-up), one soft MoE layer, the toy."
    ),
    "summary": (
        "Post-train only the routers of a trained mixture-of-experts model.  Samples the model answers "
        "correctly form a successful set; each training sample's routing weights are pulled toward those of "
        "its k nearest successful neighbours in an external task-embedding space (Gaussian similarity "
        "weights), added to the task loss, so samples of similar tasks share expert choices."
    ),
    "equations": [
        "r(x) = softmax(W_r x + b_r);  y(x) = Σ_e r_e(x) f_e(x)",
        "N(i) = the k samples of the successful set S with the highest cos(e_i, e_j)",
        "W_ij = exp(−(1 − cos(e_i, e_j))² / 2σ²) / Σ_{j'∈N(i)} exp(−(1 − cos(e_i, e_j'))² / 2σ²)",
        "L_RoMA = L_task + λ (1/B) Σ_i Σ_{j∈N(i)} W_ij ‖r_i − r_j‖²,  only the router parameters trained",
        "minimiser of the regulariser in r_i: the kNN-averaged target r̄_i = Σ_j W_ij r_j",
    ],
}


def _check_2d(a, name, fn):
    a = np.asarray(a, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"{fn}: `{name}` must be a 2-D array (n, d), got shape {a.shape}")
    return a


def cosine_similarity(E_query, E_pool) -> np.ndarray:
    """cos(e_i, e_j) for every query row i and pool row j, shape (n_query, n_pool)."""
    Q, P = (
        _check_2d(E_query, "E_query", "cosine_similarity"),
        _check_2d(E_pool, "E_pool", "cosine_similarity"),
    )
    if Q.shape[1] != P.shape[1]:
        raise ValueError(
            f"cosine_similarity: `E_query` and `E_pool` must have the same width, got {Q.shape} and {P.shape}"
        )
    Qn = Q / np.maximum(np.linalg.norm(Q, axis=1, keepdims=True), 1e-12)
    Pn = P / np.maximum(np.linalg.norm(P, axis=1, keepdims=True), 1e-12)
    return Qn @ Pn.T


def knn_neighbours(E_query, E_pool, k: int, exclude=None):
    """The k pool rows most cosine-similar to each query row (Sec. 3: N(i) ⊂ S).  `exclude` (n_query,) gives,
    per query, a pool index it may not pick (itself, when the query is in the pool) or −1.  Ties go to the
    lower pool index.  Returns (indices (n_query, k), similarities (n_query, k)), most similar first."""
    S = cosine_similarity(E_query, E_pool)
    if not (isinstance(k, (int, np.integer)) and 1 <= k <= S.shape[1] - (exclude is not None)):
        raise ValueError(f"knn_neighbours: `k` must be an integer in [1, pool size], got {k!r}")
    if exclude is not None:
        exclude = np.asarray(exclude)
        if exclude.shape != (S.shape[0],):
            raise ValueError(
                f"knn_neighbours: `exclude` must have shape ({S.shape[0]},), got {exclude.shape}"
            )
        rows = np.nonzero(exclude >= 0)[0]
        S = S.copy()
        S[rows, exclude[rows]] = -np.inf
    idx = np.argsort(-S, axis=1, kind="stable")[:, :k]
    return idx, np.take_along_axis(S, idx, axis=1)


def neighbour_weights(sims, sigma: float) -> np.ndarray:
    """W_ij = exp(−(1 − s_ij)²/2σ²) normalised over each row's neighbours (Sec. 3; Gaussian on 1 − cos)."""
    if not (isinstance(sigma, (int, float)) and sigma > 0):
        raise ValueError(f"neighbour_weights: `sigma` must be a number > 0, got {sigma!r}")
    s = _check_2d(sims, "sims", "neighbour_weights")
    w = np.exp(-((1.0 - s) ** 2) / (2.0 * sigma**2))
    return w / w.sum(axis=1, keepdims=True)


def knn_target(r_neighbours, W) -> np.ndarray:
    """r̄_i = Σ_j W_ij r_j, the minimiser of the regulariser in r_i.  r_neighbours (n, k, E), W (n, k)."""
    R, W = np.asarray(r_neighbours, dtype=np.float64), np.asarray(W, dtype=np.float64)
    if R.ndim != 3 or W.shape != R.shape[:2]:
        raise ValueError(f"knn_target: need r_neighbours (n, k, E) and W (n, k), got {R.shape} and {W.shape}")
    return np.einsum("nk,nke->ne", W, R)


def manifold_regulariser(r, r_neighbours, W):
    """(1/B) Σ_i Σ_{j∈N(i)} W_ij ‖r_i − r_j‖²  (Sec. 3).  r (B, E) is a Tensor (the routing weights being
    trained); r_neighbours (B, k, E) and W (B, k) are fixed arrays."""
    r = r if isinstance(r, Tensor) else Tensor(np.asarray(r, dtype=np.float64))
    R, W = np.asarray(r_neighbours), np.asarray(W)
    if r.ndim != 2 or R.shape != (r.shape[0], R.shape[1], r.shape[1]) or W.shape != R.shape[:2]:
        raise ValueError(
            "manifold_regulariser: need `r` (B, E), `r_neighbours` (B, k, E), `W` (B, k); got "
            f"{r.shape}, {R.shape}, {W.shape}"
        )
    diff = ops.unsqueeze(r, 1) - Tensor(R.astype(r.dtype))  # (B, k, E)
    return ((diff * diff).sum(axis=-1) * Tensor(W.astype(r.dtype))).sum() / r.shape[0]


def roma_loss(task_loss, r, r_neighbours, W, lam: float):
    """L_RoMA = L_task + λ · regulariser (Sec. 3); λ = 0 is router fine-tuning with the task loss only."""
    if not lam >= 0:
        raise ValueError(f"roma_loss: `lam` must be ≥ 0, got {lam!r}")
    if lam == 0:
        return task_loss
    return task_loss + manifold_regulariser(r, r_neighbours, W) * lam


class SoftMoE(nn.Module):
    """One soft-routed mixture-of-experts layer: y = Σ_e r_e(x) f_e(x), r = softmax(W_r x + b_r), each
    expert a two-layer tanh MLP (d_in → hidden → d_out).  `forward` returns y; `routing(x)` returns r."""

    def __init__(self, d_in: int, hidden: int, d_out: int, n_experts: int, *, rng=None, dtype=np.float32):
        super().__init__()
        for name, v in (("d_in", d_in), ("hidden", hidden), ("d_out", d_out), ("n_experts", n_experts)):
            if not (isinstance(v, (int, np.integer)) and v >= 1):
                raise ValueError(f"SoftMoE: `{name}` must be an integer ≥ 1, got {v!r}")
        g = np.random.default_rng(rng)
        self.d_in, self.n_experts = d_in, n_experts
        self.router = nn.Parameter((g.standard_normal((d_in, n_experts)) * 0.1).astype(dtype))
        self.router_bias = nn.Parameter(np.zeros(n_experts, dtype))
        self.w1 = nn.Parameter((g.standard_normal((n_experts, d_in, hidden)) / math.sqrt(d_in)).astype(dtype))
        self.b1 = nn.Parameter((g.standard_normal((n_experts, 1, hidden)) * 0.1).astype(dtype))
        self.w2 = nn.Parameter(
            (g.standard_normal((n_experts, hidden, d_out)) / math.sqrt(hidden)).astype(dtype)
        )
        self.b2 = nn.Parameter(np.zeros((n_experts, 1, d_out), dtype))

    def router_parameters(self) -> list:
        """The parameters RoMA trains (the router); everything else stays frozen."""
        return [self.router, self.router_bias]

    def routing(self, x):
        x = x if isinstance(x, Tensor) else Tensor(np.asarray(x, dtype=self.router.dtype))
        if x.ndim != 2 or x.shape[1] != self.d_in:
            raise ValueError(f"SoftMoE: `x` must have shape (B, {self.d_in}), got {x.shape}")
        return ops.softmax(x @ self.router + self.router_bias, dim=-1)

    def experts(self, x):
        """Every expert's output, shape (E, B, d_out)."""
        h = ops.tanh(ops.unsqueeze(x, 0) @ self.w1 + self.b1)
        return h @ self.w2 + self.b2

    def forward_with_routing(self, x):
        x = x if isinstance(x, Tensor) else Tensor(np.asarray(x, dtype=self.router.dtype))
        r = self.routing(x)  # (B, E)
        f = self.experts(x)  # (E, B, d_out)
        y = (ops.unsqueeze(ops.transpose(r, 0, 1), -1) * f).sum(axis=0)
        return y, r

    def forward(self, x):
        return self.forward_with_routing(x)[0]
