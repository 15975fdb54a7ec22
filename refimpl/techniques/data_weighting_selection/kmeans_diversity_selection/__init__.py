r"""k-means diversity selection with iterative cluster refinement: cluster the pool, spend the selection
budget across clusters (so every region of the data is represented), then let training feedback move the
budget of later rounds towards the clusters that are worth learning and away from low-quality ones.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.
Official code: github.com/for-ai/iterative-data-selection, read at commit 6ac5772 (selection/methods/
kmeansiter.py, selection/methods/kmeansrandom.py, selection/iter.py).

The method
----------
1. **Cluster** the embeddings $z_i$ of the pool by k-means into $K$ clusters $C_1, \dots, C_K$.
2. **Static selection (kMQ without a quality scorer; the ablation):** give cluster $j$ a quota
   $b_j \propto |C_j|$ of the budget $B$ and draw that many members uniformly at random.  (The paper's kMQ
   draws within a cluster with probability ∝ a quality score; this toy has no quality scorer, so the
   draw is uniform — the official `KMeansRandom`.)
3. **Iterative selection (the paper):** the budget is spent in $R$ rounds.  Round 0 takes $B/(RK)$ random
   members of every cluster (kmeansiter.py:28, 46-51).  After each round a model is trained on the
   selection so far; every selected example gets a score $s_i$ — in the official code the difference
   between the reward of the gold response and the reward of the model's own generation,
   $s_i = r(x_i, y_i) - r(x_i, \hat y_i)$ (iter.py:217-218): high when the data is good and not yet learned,
   negative when the gold label is worse than what the model says.  Cluster weights are the softmax of the
   mean score of its selected members (iter.py:222-229),
   $$w_j = \frac{\exp \bar s_j}{\sum_k \exp \bar s_k}, \qquad \bar s_j = \frac{1}{|S\cap C_j|}\sum_{i\in S\cap C_j} s_i ,$$
   the next round's $B/R$ examples are allocated by $B/R$ multinomial draws of clusters with
   probabilities $w$ (iter.py:231-235), and each cluster's count is drawn without replacement from its
   members not yet selected (iter.py:237-246).

Deviations, all deliberate and stated:
* The official script draws $N\cdot\text{portion}/(K R)$ clusters per round (iter.py:231), $K$ times fewer
  than round 0's $B/R$; we draw $B/R$, so every round spends the same share of the budget (the paper's
  description).  A cluster whose draw exceeds its remaining members gets only those (as iter.py:241), and
  — unlike the official script, which leaves that part of the budget unspent — the surplus is drawn again
  among the clusters that still have members (weights renormalised), so every selection has size B.
* A cluster with no selected member has no mean score; it gets $\bar s_j = 0$ (neutral).
* The reward model: this toy is a classifier, so $r(x, y) = \log p_{\text{ref}}(y \mid x)$ of a reference
  model trained on a small clean split plays the reward model, and $\hat y$ is the current model's
  prediction (its "generation").
* k-means: plain Lloyd iterations from k-means++ seeds, best of a few restarts (NumPy; the official code
  uses faiss with 5 restarts).

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/data-weighting-selection/kmeans-diversity-selection.ipynb
"""

from __future__ import annotations

import numpy as np

CATALOG_ENTRY = {
    "slug": "kmeans-diversity-selection",
    "title": "Diversify and Conquer: Diversity-Centric Data Selection with Iterative Refinement",
    "authors": "Simon Yu, Liangyu Chen, Sara Ahmadian, Marzieh Fadaee",
    "year": 2024,
    "arxiv": "2409.11378",
    "family": "data-weighting-selection",
    "notebook": "notebooks/data-weighting-selection/kmeans-diversity-selection.ipynb",
    "verified": "official-code",
    "verification_note": (
        "Checked against for-ai/iterative-data-selection (commit 6ac5772): round 0 takes "
        "coreset/rounds/K random members per cluster (selection/methods/kmeansiter.py:28, 46-51); the "
        "per-example score is reward(gold) − reward(generated) (selection/iter.py:217-218), averaged per "
        "cluster, exponentiated and normalised (iter.py:222-229); clusters are drawn with those "
        "probabilities with replacement and each count is filled without replacement from the cluster's "
        "unselected members (iter.py:231-246). The per-round count follows the paper (B/R) rather than "
        "iter.py:231 (N·portion/(K·R)). Title, authors and abstract from the arXiv HTML page; the paper's "
        "equation numbers were not read. A reference classifier's log-likelihood stands in for the reward "
        "model. Hand cases checked."
    ),
    "summary": (
        "Cluster the pool with k-means and select across clusters so the subset covers the whole data; then "
        "select in rounds: after each round train, score the selected examples by how much better their "
        "label is than the model's own answer, and draw the next round's examples from clusters with "
        "probability softmax(mean score), so low-quality clusters fade out."
    ),
    "equations": [
        "round 0: b_j = B/(R·K) random members of every cluster C_j   (kmeansiter.py:28)",
        "s_i = r(x_i, y_i) − r(x_i, ŷ_i)   (reward of the gold label minus that of the model's answer; iter.py:217)",
        "w_j = exp(s̄_j) / Σ_k exp(s̄_k),  s̄_j = mean of s_i over the selected members of C_j   (iter.py:222-229)",
        "next round: B/R draws j ~ w, then that many new members of C_j without replacement   (iter.py:231-246)",
    ],
}

__all__ = [
    "kmeans",
    "proportional_quotas",
    "static_select",
    "cluster_weights",
    "allocate_draws",
    "iterative_select",
]


def _check_int(name, v, low, where):
    if not isinstance(v, (int, np.integer)) or v < low:
        raise ValueError(f"{where}: `{name}` must be an int ≥ {low}, got {v!r}")


def kmeans(z, k: int, seed: int, iters: int = 100, restarts: int = 3):
    """(labels, centroids) of Lloyd's k-means from k-means++ seeds, the best of `restarts` by inertia."""
    z = np.asarray(z, dtype=np.float64)
    if z.ndim != 2 or len(z) == 0:
        raise ValueError(f"kmeans: `z` must be a non-empty 2-d array, got shape {z.shape}")
    _check_int("k", k, 1, "kmeans")
    if k > len(z):
        raise ValueError(f"kmeans: `k` = {k} exceeds the number of points {len(z)}")
    rng = np.random.default_rng(seed)
    best = None
    for _ in range(restarts):
        c = z[[rng.integers(len(z))]]
        for _ in range(1, k):  # k-means++: the next seed with probability ∝ squared distance
            d2 = ((z[:, None, :] - c[None]) ** 2).sum(-1).min(1)
            p = d2 / d2.sum() if d2.sum() > 0 else np.full(len(z), 1 / len(z))
            c = np.vstack([c, z[rng.choice(len(z), p=p)]])
        for _ in range(iters):
            labels = ((z[:, None, :] - c[None]) ** 2).sum(-1).argmin(1)
            new = np.array([z[labels == j].mean(0) if np.any(labels == j) else c[j] for j in range(k)])
            if np.allclose(new, c):
                break
            c = new
        labels = ((z[:, None, :] - c[None]) ** 2).sum(-1).argmin(1)
        inertia = float(((z - c[labels]) ** 2).sum())
        if best is None or inertia < best[0]:
            best = (inertia, labels, c)
    return best[1], best[2]


def proportional_quotas(sizes, budget: int) -> np.ndarray:
    """Per-cluster counts ∝ cluster size summing to `budget` (largest remainders; never above a size)."""
    sizes = np.asarray(sizes, dtype=np.int64)
    _check_int("budget", budget, 0, "proportional_quotas")
    if budget > sizes.sum():
        raise ValueError(f"proportional_quotas: `budget` = {budget} exceeds the pool ({sizes.sum()})")
    exact = budget * sizes / sizes.sum()
    q = np.floor(exact).astype(np.int64)
    order = np.argsort(-(exact - q), kind="stable")
    q[order[: budget - q.sum()]] += 1
    return np.minimum(q, sizes)


def static_select(labels, budget: int, seed: int) -> np.ndarray:
    """Sorted indices: each cluster's proportional quota of its members, uniformly at random."""
    labels = np.asarray(labels)
    k = int(labels.max()) + 1
    q = proportional_quotas(np.bincount(labels, minlength=k), budget)
    rng = np.random.default_rng(seed)
    picks = [rng.choice(np.flatnonzero(labels == j), q[j], replace=False) for j in range(k) if q[j]]
    return np.sort(np.concatenate(picks)).astype(np.int64) if picks else np.zeros(0, np.int64)


def cluster_weights(scores, clusters, k: int) -> np.ndarray:
    """softmax over the k clusters of the mean score of their members (a cluster without members: 0)."""
    scores, clusters = np.asarray(scores, dtype=np.float64), np.asarray(clusters)
    if scores.shape != clusters.shape:
        raise ValueError(f"cluster_weights: `scores` {scores.shape} and `clusters` {clusters.shape} differ")
    count = np.bincount(clusters, minlength=k)
    mean = np.divide(np.bincount(clusters, scores, minlength=k), count, out=np.zeros(k), where=count > 0)
    e = np.exp(mean - mean.max())
    return e / e.sum()


def allocate_draws(weights, draws: int, seed: int) -> np.ndarray:
    """How many of `draws` cluster draws (with replacement, probabilities `weights`) each cluster gets."""
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 1 or np.any(w < 0) or not np.isclose(w.sum(), 1):
        raise ValueError("allocate_draws: `weights` must be a probability vector")
    picks = np.random.default_rng(seed).choice(len(w), size=draws, p=w, replace=True)
    return np.bincount(picks, minlength=len(w))


def iterative_select(labels, budget: int, rounds: int, score_fn, seed: int, history: list | None = None):
    """Sorted indices of the iterative selection (module docstring, step 3).  `score_fn(selected)` trains
    on the sorted indices `selected` and returns one score per selected example; `history`, if a list,
    receives each round's cluster weights."""
    labels = np.asarray(labels)
    k = int(labels.max()) + 1
    _check_int("rounds", rounds, 1, "iterative_select")
    _check_int("budget", budget, 0, "iterative_select")
    rng = np.random.default_rng(seed)
    per_round = budget // rounds
    per_cluster = per_round // k
    chosen = []
    for j in range(k):  # round 0: B/(R·K) random members of every cluster (kmeansiter.py:28)
        members = np.flatnonzero(labels == j)
        chosen.extend(rng.choice(members, min(per_cluster, len(members)), replace=False).tolist())
    for r in range(1, rounds):
        selected = np.sort(np.array(chosen, dtype=np.int64))
        s = np.asarray(score_fn(selected), dtype=np.float64)
        if s.shape != selected.shape or not np.all(np.isfinite(s)):
            raise ValueError("iterative_select: `score_fn` must return one finite score per selected example")
        w = cluster_weights(s, labels[selected], k)
        if history is not None:
            history.append(w)
        draws = budget - len(chosen) if r == rounds - 1 else per_round
        taken = np.zeros(len(labels), bool)
        taken[selected] = True
        free = np.bincount(labels[~taken], minlength=k)
        counts = np.zeros(k, np.int64)
        while draws > 0 and free.sum() > counts.sum():  # a full cluster's surplus is drawn again elsewhere
            open_ = free > counts
            p = np.where(open_, w, 0.0)
            p = p / p.sum() if p.sum() > 0 else open_ / open_.sum()
            extra = allocate_draws(p, draws, int(rng.integers(2**31)))
            counts = np.minimum(counts + extra, free)
            draws = (budget - len(chosen) if r == rounds - 1 else per_round) - int(counts.sum())
        for j in np.flatnonzero(counts):
            members = np.flatnonzero((labels == j) & ~taken)
            chosen.extend(rng.choice(members, counts[j], replace=False).tolist())
    return np.sort(np.array(chosen, dtype=np.int64))
