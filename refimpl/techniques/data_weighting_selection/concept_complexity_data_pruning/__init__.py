r"""Density-Based Pruning (DBP): cluster the embeddings, give every concept cluster a keep quota that grows
with its complexity, and inside each cluster drop the most prototypical examples.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.
Official code: github.com/amro-kamal/effective_pruning, read at commit 42c8e54 (file:line below).

The idea
--------
SSP-Pruning (Sorscher et al. 2022) clusters self-supervised embeddings with k-means and drops the examples
closest to their centroid ("prototypical", easy), keeping the far ones.  Abbas et al. keep that rule inside
each cluster but decide *how many* to keep per cluster from the cluster's geometry.  On unit-norm
embeddings $z_i$ with spherical k-means centroids $c_j$ and cosine distance $d(a, b) = 1 - a^\top b$:

$$d_{\text{intra},j} = \frac{1}{|S_j|}\sum_{i \in S_j} d(z_i, c_j), \qquad
d_{\text{inter},j} = \frac{1}{K}\sum_{l \in \mathrm{NN}_K(j)} d(c_j, c_l)$$

(the mean distance of a cluster's members to their centroid — a dense, low-variability concept has a small
one; and the mean distance of its centroid to its $K$ nearest other centroids — a concept close to others
is partly covered by them).  The complexity $C_j = d_{\text{inter},j}\, d_{\text{intra},j}$ becomes a
share of the budget by a softmax with temperature $\tau$, $P_j = \exp(C_j/\tau)/\sum_l \exp(C_l/\tau)$,
and the per-cluster counts $N_j$ are the point of $\{\sum_j N_j = N,\ \ell_j \le N_j \le |S_j|\}$ nearest
to $P_j N$ (a small quadratic program: the official code solves it with OSQP).  Cluster $j$ then keeps its
$N_j$ members farthest from $c_j$.

What is implemented, and deviations
-----------------------------------
* `spherical_kmeans` (plain NumPy Lloyd iterations with k-means++ seeding on cosine distance; the paper
  clusters with faiss through the SemDeDup code base, which was not read here).
* `cluster_geometry`: $d_{\text{intra}}$ as compute_avg_dist_to_cluster_centroid.py:81 (mean of the stored
  distance-to-centroid column); $d_{\text{inter}}$ as compute_centroid_distances.py:89-92 (inner-product
  search for the num_NNs+1 nearest centroids, self dropped, mean of 1 − similarity; default num_NNs 20);
  $C = d_{\text{inter}} \cdot d_{\text{intra}}$ as prune.py:156, NaN (empty cluster) replaced by the mean
  as prune.py:159-163.
* `cluster_probabilities`: softmax(C / τ), prune.py:323-326 (default τ 0.5 there).
* `cluster_quotas`: the QP of prune.py:41-56 (P = I, q = −P·N, Σx = N, bounds [min(m, |S_j| − 1), |S_j|]
  with m = 1, or ⌊N/k · balance⌋ when the code's `cls_bal_ratio` is > 0).  It is the Euclidean projection
  of P·N onto a box cut by a hyperplane, x = clip(P·N + λ, ℓ, u), solved here exactly by bisection on λ.
  Deviation: the official code rounds each N_j with np.rint, so Σ N_j can miss N by a few; here the
  floors are topped up by largest remainder (ties: lower cluster index) so exactly N are kept — the
  comparison is at equal kept size.
* `keep_least_prototypical`: per cluster the N_j members with the largest distance to the centroid
  (prune.py:93-101 keeps the head of clusters sorted by descending distance, test/create_sorted_clusters.py
  :29-33); ties broken by the lower index.
* `dbp_select` composes the above; `density="uniform"` is the official `--density uniform` option
  (prune.py:142-144): the same QP and in-cluster rule with equal shares — the ablation without the
  complexity quota.  `ssp_select` is global SSP-Pruning: the `size` examples farthest from their centroid,
  whatever their cluster.
* Not done: the SemDeDup deduplication step the paper runs first, and the paper's own encoder (DINOv2);
  the toy's embeddings are the pixels (see the experiment).  The paper's text was not available here, so
  equation numbers are not cited: each line below cites the official file and line instead.

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/data-weighting-selection/concept-complexity-data-pruning.ipynb
"""

from __future__ import annotations

import numpy as np

CATALOG_ENTRY = {
    "slug": "concept-complexity-data-pruning",
    "title": "Effective pruning of web-scale datasets based on complexity of concept clusters",
    "authors": "Amro Abbas, Evgenia Rusak, Kushal Tirumala, Wieland Brendel, Kamalika Chaudhuri, Ari S. Morcos",
    "year": 2024,
    "arxiv": "2401.04578",
    "family": "data-weighting-selection",
    "notebook": "notebooks/data-weighting-selection/concept-complexity-data-pruning.ipynb",
    "verified": "official-code",
    "verification_note": (
        "Checked against amro-kamal/effective_pruning (commit 42c8e54): d_intra = mean distance to the "
        "centroid (compute_avg_dist_to_cluster_centroid.py:81), d_inter = mean of 1 − cosine similarity to "
        "the num_NNs = 20 nearest other centroids (compute_centroid_distances.py:89-92), C = d_inter·d_intra "
        "with NaN → mean (prune.py:156-163), P = softmax(C/τ), τ = 0.5 by default (prune.py:188-189, "
        "323-326), N_j from the QP min ½‖x‖² − (P·N)ᵀx, Σx = N, min(m, |S_j| − 1) ≤ x_j ≤ |S_j| "
        "(prune.py:41-56), keep the N_j farthest from the centroid (prune.py:93-101). The paper's text was "
        "not available: the equation lines cite code, not equation numbers. Deviation: exact-total "
        "largest-remainder rounding instead of np.rint. Hand and brute-force cases checked."
    ),
    "summary": (
        "Cluster the (self-supervised) embeddings with k-means; score each concept cluster's complexity as "
        "the product of its mean distance to its nearest centroids (d_inter) and its members' mean distance "
        "to its own centroid (d_intra); turn complexities into shares by a softmax with temperature, fit "
        "per-cluster keep counts to those shares under the cluster sizes (a small QP), and keep the least "
        "prototypical members (farthest from the centroid) of each cluster."
    ),
    "equations": [
        "d_intra,j = mean_{i∈S_j} (1 − z_iᵀc_j)   (compute_avg_dist_to_cluster_centroid.py:81)",
        "d_inter,j = mean_{l∈NN_K(j)} (1 − c_jᵀc_l),  K = 20   (compute_centroid_distances.py:89-92)",
        "C_j = d_inter,j · d_intra,j   (prune.py:156)",
        "P_j = exp(C_j/τ) / Σ_l exp(C_l/τ)   (prune.py:323-326)",
        "N = argmin ‖x − P·N_tot‖² s.t. Σ_j x_j = N_tot, min(m, |S_j|−1) ≤ x_j ≤ |S_j|   (prune.py:41-56)",
        "keep in S_j the N_j members with the largest 1 − z_iᵀc_j   (prune.py:93-101)",
    ],
}

__all__ = [
    "normalize",
    "spherical_kmeans",
    "cluster_geometry",
    "cluster_probabilities",
    "cluster_quotas",
    "keep_least_prototypical",
    "dbp_select",
    "ssp_select",
]


def normalize(z) -> np.ndarray:
    """Rows of `z` scaled to unit L2 norm (float64); a zero row is an error (it has no direction)."""
    z = np.asarray(z, dtype=np.float64)
    if z.ndim != 2 or len(z) == 0:
        raise ValueError(f"normalize: `z` must be a non-empty (n, d) array, got shape {z.shape}")
    norms = np.linalg.norm(z, axis=1, keepdims=True)
    if np.any(norms == 0) or not np.all(np.isfinite(norms)):
        raise ValueError("normalize: every row of `z` must be finite and non-zero")
    return z / norms


def _centroids(z, labels, k, old=None):
    c = np.zeros((k, z.shape[1]))
    np.add.at(c, labels, z)
    norms = np.linalg.norm(c, axis=1)
    empty = norms == 0
    if old is not None:
        c[empty] = old[empty]
        norms[empty] = 1.0
    return c / np.where(norms == 0, 1.0, norms)[:, None], empty


def spherical_kmeans(z, k: int, seed: int, iters: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """(centroids (k, d) of unit norm, labels (n,)) of spherical k-means on the rows of `z` (normalised
    here): k-means++ seeding on cosine distance from `seed`, then Lloyd steps (assign to the most similar
    centroid, ties to the lower index; centroid = normalised mean) until the labels stop changing.  An
    emptied cluster is re-seeded at the member least similar to its centroid."""
    z = normalize(z)
    n = len(z)
    if not 1 <= k <= n:
        raise ValueError(f"spherical_kmeans: `k` must be in [1, {n}], got {k}")
    if iters < 1:
        raise ValueError(f"spherical_kmeans: `iters` must be ≥ 1, got {iters}")
    rng = np.random.default_rng(seed)
    chosen = [int(rng.integers(n))]
    dist = 1.0 - z @ z[chosen[0]]
    for _ in range(1, k):
        d = np.maximum(dist, 0.0)
        p = d / d.sum() if d.sum() > 0 else np.full(n, 1.0 / n)
        chosen.append(int(rng.choice(n, p=p)))
        dist = np.minimum(dist, 1.0 - z @ z[chosen[-1]])
    c = z[chosen].copy()
    labels = np.full(n, -1)
    for _ in range(iters):
        new = np.argmax(z @ c.T, axis=1)
        c, empty = _centroids(z, new, k, old=c)
        for j in np.flatnonzero(empty):  # re-seed an empty cluster at the worst-fitting example
            worst = int(np.argmin(np.sum(z * c[new], axis=1)))
            new[worst] = j
            c, _ = _centroids(z, new, k, old=c)
        if np.array_equal(new, labels):
            break
        labels = new
    return c, labels.astype(np.int64)


def cluster_geometry(z, labels, centroids, num_neighbors: int = 20) -> dict:
    """Per-cluster {"distance" (n,), "d_intra" (k,), "d_inter" (k,), "complexity" (k,), "sizes" (k,)}
    for unit-norm rows `z`, their cluster `labels` and unit-norm `centroids`, in cosine distance."""
    z = normalize(z)
    c = normalize(centroids)
    labels = np.asarray(labels)
    k = len(c)
    if labels.shape != (len(z),) or labels.min() < 0 or labels.max() >= k:
        raise ValueError(f"cluster_geometry: `labels` must be {len(z)} cluster ids in [0, {k})")
    if k < 2 or not 1 <= num_neighbors <= k - 1:
        raise ValueError(
            f"cluster_geometry: `num_neighbors` must be in [1, {k - 1}] (k ≥ 2), got {num_neighbors}"
        )
    distance = 1.0 - np.sum(z * c[labels], axis=1)  # distance of each example to its own centroid
    sizes = np.bincount(labels, minlength=k)
    with np.errstate(invalid="ignore"):
        d_intra = (
            np.bincount(labels, weights=distance, minlength=k) / sizes
        )  # avg_dist_to_cluster_centroid.py:81
    sim = c @ c.T
    np.fill_diagonal(sim, -np.inf)  # the self-match the official search drops (Dist[:, 1:])
    nearest = -np.sort(-sim, axis=1)[:, :num_neighbors]
    d_inter = np.mean(1.0 - nearest, axis=1)  # compute_centroid_distances.py:92
    complexity = d_inter * d_intra  # prune.py:156
    if np.any(np.isnan(complexity)):
        complexity = np.where(np.isnan(complexity), np.nanmean(complexity), complexity)  # prune.py:159-163
    return {
        "distance": distance,
        "d_intra": d_intra,
        "d_inter": d_inter,
        "complexity": complexity,
        "sizes": sizes,
    }


def cluster_probabilities(complexity, temperature: float) -> np.ndarray:
    """P_j = softmax(C_j / τ) (prune.py:323-326), computed stably."""
    c = np.asarray(complexity, dtype=np.float64)
    if c.ndim != 1 or len(c) == 0 or not np.all(np.isfinite(c)):
        raise ValueError("cluster_probabilities: `complexity` must be a non-empty finite 1-D array")
    if not temperature > 0:
        raise ValueError(f"cluster_probabilities: `temperature` must be > 0, got {temperature}")
    e = np.exp((c - c.max()) / temperature)
    return e / e.sum()


def cluster_quotas(probabilities, sizes, total: int, balance: float = 0.0, minimum: int = 1) -> np.ndarray:
    """Integer keep counts N_j: the projection of P·total onto {Σ N_j = total, ℓ_j ≤ N_j ≤ |S_j|} with
    ℓ_j = min(m, |S_j| − 1), m = `minimum` (the official 1), or ⌊total/k · balance⌋ for balance > 0
    (prune.py:31-56), rounded to integers with exactly `total` kept (floors, then the largest remainders,
    ties to the lower index).  `minimum=0` lets a budget smaller than the number of clusters be met."""
    p = np.asarray(probabilities, dtype=np.float64)
    u = np.asarray(sizes)
    if p.ndim != 1 or u.shape != p.shape or np.any(p < 0) or not np.isclose(p.sum(), 1.0):
        raise ValueError(
            "cluster_quotas: `probabilities` must be a 1-D distribution, one per cluster in `sizes`"
        )
    if np.any(u < 1) or not np.all(np.equal(np.mod(u, 1), 0)):
        raise ValueError("cluster_quotas: `sizes` must be positive integers")
    if not 0.0 <= balance <= 1.0:
        raise ValueError(f"cluster_quotas: `balance` must be in [0, 1], got {balance}")
    if minimum < 0:
        raise ValueError(f"cluster_quotas: `minimum` must be ≥ 0, got {minimum}")
    k = len(p)
    m = int(total / k * balance) if balance > 0 else minimum  # prune.py:33-39
    lo = np.minimum(m, u - 1).astype(np.float64)  # prune.py:48
    hi = u.astype(np.float64)
    if not lo.sum() <= total <= hi.sum():
        raise ValueError(
            f"cluster_quotas: `total` must be in [{int(lo.sum())}, {int(hi.sum())}], got {total}"
        )
    target = p * total  # q = −P·N (prune.py:42)
    a, b = (lo - target).min() - 1.0, (hi - target).max() + 1.0  # bisection on the multiplier λ
    for _ in range(200):
        lam = 0.5 * (a + b)
        if np.clip(target + lam, lo, hi).sum() < total:
            a = lam
        else:
            b = lam
    x = np.clip(target + 0.5 * (a + b), lo, hi)
    n = np.floor(x + 1e-9).astype(np.int64)
    rest = total - int(n.sum())
    room = np.flatnonzero(n < hi)
    order = room[np.lexsort((room, -(x[room] - n[room])))]
    n[order[:rest]] += 1
    return n


def keep_least_prototypical(distance, labels, quotas) -> np.ndarray:
    """Sorted indices: in each cluster j the quotas[j] members with the largest distance to the centroid
    (prune.py:93-101; ties to the lower index)."""
    d = np.asarray(distance, dtype=np.float64)
    labels = np.asarray(labels)
    q = np.asarray(quotas)
    if labels.shape != d.shape or d.ndim != 1:
        raise ValueError("keep_least_prototypical: `distance` and `labels` must be 1-D of one length")
    sizes = np.bincount(labels, minlength=len(q))
    if len(sizes) != len(q) or np.any(q < 0) or np.any(q > sizes):
        raise ValueError("keep_least_prototypical: `quotas` must give 0 ≤ N_j ≤ |S_j| for every cluster")
    kept = []
    for j in range(len(q)):
        members = np.flatnonzero(labels == j)
        order = members[np.lexsort((members, -d[members]))]
        kept.append(order[: q[j]])
    return np.sort(np.concatenate(kept)).astype(np.int64)


def dbp_select(
    z,
    size: int,
    k: int,
    seed: int,
    temperature: float = 0.5,
    num_neighbors: int = 20,
    balance: float = 0.0,
    density: str = "complexity",
    minimum: int = 1,
) -> tuple[np.ndarray, dict]:
    """(sorted kept indices, info): Density-Based Pruning of the rows of `z` to `size` examples.
    `density="complexity"` is the paper's quota; `"uniform"` the equal-share ablation (prune.py:142-144)."""
    if density not in ("complexity", "uniform"):
        raise ValueError(f"dbp_select: `density` must be 'complexity' or 'uniform', got {density!r}")
    centroids, labels = spherical_kmeans(z, k, seed)
    geo = cluster_geometry(z, labels, centroids, min(num_neighbors, k - 1))
    if density == "complexity":
        p = cluster_probabilities(geo["complexity"], temperature)
    else:
        p = np.full(k, 1.0 / k)
    quotas = cluster_quotas(p, geo["sizes"], size, balance, minimum)
    keep = keep_least_prototypical(geo["distance"], labels, quotas)
    return keep, {**geo, "labels": labels, "centroids": centroids, "probabilities": p, "quotas": quotas}


def ssp_select(z, size: int, k: int, seed: int) -> np.ndarray:
    """Global SSP-Pruning: the `size` examples farthest (cosine) from their own spherical k-means centroid,
    whatever their cluster (ties to the lower index)."""
    n = len(np.asarray(z))
    if not 0 <= size <= n:
        raise ValueError(f"ssp_select: `size` must be in [0, {n}], got {size}")
    centroids, labels = spherical_kmeans(z, k, seed)
    d = 1.0 - np.sum(normalize(z) * centroids[labels], axis=1)
    return np.sort(np.lexsort((np.arange(n), -d))[:size]).astype(np.int64)
