r"""Single-vector retrieval has a dimension limit: with d-dimensional query and document vectors, only so many
of the possible top-k document subsets can be returned by any query — so for n documents and every pair of them
asked for, there is a largest n that any embedding of dimension d can serve.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.

The limit
---------
A query q retrieves the documents with the largest scores :math:`q^\top x_j`.  The set of top-k subsets that
some q realizes is limited by d: it is the sign pattern of a rank-d score matrix, and the paper bounds the
dimension needed to realize a given query–document relevance matrix below by its *sign rank* (minus one).  Asking
for *every* pair of n documents as a top-2 set (:math:`\binom n2` queries) eventually needs more dimensions than d.
Two cases by hand (`cases.py`): in d = 1 the scores order the documents along a line and a query can only
return two documents that are adjacent in that order's extremes — never {1, 3} of 1 < 2 < 3; in d = 2, three
documents at 120° apart are each pair's top-2 for the query on that pair's bisector.

The free-embedding test
-----------------------
To see the limit without any encoder in the way, the paper optimizes the query and document vectors *directly*
("free embeddings"): for n documents and the :math:`\binom n2` queries, each query's relevant set is one pair,
and Adam minimizes a softmax cross-entropy over all documents with both relevant ones as targets
(`fit_free_embeddings`) until every query's top-2 is its pair.  The largest n for which this succeeds is the
*critical n* of dimension d (`critical_n`); the paper fits a cubic polynomial to it.

What is reconstructed
---------------------
The argument and the free-embedding experiment follow the catalogue's summary of the paper and of its code
(google-deepmind/limit, not read here).  The loss (softmax with the two positives at weight ½), the
unnormalized vectors, the step budget and the learning rates are our choices; critical n depends on the budget,
which the experiment varies.

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/theory-generalization/embedding-dim-limit.ipynb
"""

from __future__ import annotations

import itertools

import numpy as np

CATALOG_ENTRY = {
    "slug": "embedding-dim-limit",
    "title": "On the Theoretical Limitations of Embedding-Based Retrieval",
    "authors": "Orion Weller, Michael Boratko, Iftekhar Naim, Jinhyuk Lee",
    "year": 2025,
    "arxiv": "2508.21038",
    "family": "theory-generalization",
    "notebook": "notebooks/theory-generalization/embedding-dim-limit.ipynb",
    "verified": "reconstructed",
    "verification_note": "Paper confirmed (arXiv 2508.21038) from its abstract and the catalogue's summary: the "
    "sign-rank bound on the top-k subsets a d-dimensional embedding can realize, and the free-embedding "
    "experiment whose critical n grows polynomially in d (a cubic fit).  The full text and the official code "
    "(google-deepmind/limit) were not read: the loss, the unnormalized vectors, the step budget and the rates "
    "are ours; the two hand cases (d = 1 and d = 2) are worked here.",
    "summary": "With d-dimensional single-vector embeddings only a limited set of top-k document subsets can be "
    "returned by any query: directly optimized ('free') embeddings that must return every pair of n documents "
    "as some query's top-2 succeed only up to a critical n that grows polynomially with d.",
    "equations": [
        "score(q, x_j) = qᵀx_j;  top-k(q) = the k documents with the largest scores   (single-vector retrieval)",
        "rank_± (relevance matrix) − 1 ≤ d   (sign-rank lower bound on the dimension)",
        "queries = all C(n, 2) pairs; loss = −Σ_q ½ Σ_{j ∈ pair(q)} log softmax_j(q ᵀX)   (free embeddings)",
        "n_crit(d) = the largest n for which every pair is some query's top-2   (fitted by a cubic in d)",
    ],
}

__all__ = ["CATALOG_ENTRY", "all_pairs", "top2_correct", "fit_free_embeddings", "critical_n"]


def all_pairs(n: int) -> np.ndarray:
    """The C(n, 2) pairs (i < j) as rows."""
    if int(n) < 2:
        raise ValueError(f"`n` must be ≥ 2, got {n}")
    return np.array(list(itertools.combinations(range(int(n)), 2)))


def top2_correct(Q, X, pairs) -> np.ndarray:
    """Per query: is its top-2 (by score qᵀx, ties broken by order) exactly its pair?"""
    S = np.asarray(Q) @ np.asarray(X).T
    top = np.argsort(-S, axis=1, kind="stable")[:, :2]
    top.sort(axis=1)
    return np.all(top == np.asarray(pairs), axis=1)


def fit_free_embeddings(n: int, d: int, *, steps: int, lr: float, rng=None, check_every: int = 25) -> dict:
    """Adam on query and document vectors (all C(n, 2) queries, one per pair) until every query's top-2 is its
    pair or the step budget runs out.  Returns {"solved", "steps", "fraction_correct", "Q", "X"}."""
    if int(d) < 1:
        raise ValueError(f"`d` must be ≥ 1, got {d}")
    if not np.isfinite(lr) or lr <= 0:
        raise ValueError(f"`lr` must be > 0, got {lr}")
    pairs = all_pairs(n)
    m = len(pairs)
    rng = np.random.default_rng(rng)
    params = [0.1 * rng.normal(size=(m, int(d))), 0.1 * rng.normal(size=(int(n), int(d)))]
    moments = [(np.zeros_like(p), np.zeros_like(p)) for p in params]
    target = np.zeros((m, int(n)))
    target[np.arange(m), pairs[:, 0]] = target[np.arange(m), pairs[:, 1]] = 0.5
    b1, b2 = 0.9, 0.999
    correct = top2_correct(*params, pairs)
    for t in range(1, int(steps) + 1):
        Q, X = params
        S = Q @ X.T
        S -= S.max(axis=1, keepdims=True)
        P = np.exp(S)
        P /= P.sum(axis=1, keepdims=True)
        dS = (P - target) / m  # ∂(mean cross-entropy)/∂S
        grads = (dS @ X, dS.T @ Q)
        for p, g, (mm, vv) in zip(params, grads, moments):
            mm *= b1
            mm += (1 - b1) * g
            vv *= b2
            vv += (1 - b2) * g * g
            p -= lr * (mm / (1 - b1**t)) / (np.sqrt(vv / (1 - b2**t)) + 1e-8)
        if t % check_every == 0 or t == int(steps):
            correct = top2_correct(*params, pairs)
            if correct.all():
                return {"solved": True, "steps": t, "fraction_correct": 1.0, "Q": params[0], "X": params[1]}
    return {
        "solved": False,
        "steps": int(steps),
        "fraction_correct": float(correct.mean()),
        "Q": params[0],
        "X": params[1],
    }


def critical_n(
    d: int, *, steps: int, lrs=(0.05, 0.2), rng=None, start: int | None = None, limit: int = 200
) -> int:
    """The largest n (from `start`, default d + 1, upwards) that free embeddings of dimension d solve within the
    budget with one of the rates `lrs`: the first failure stops the search."""
    n = int(start) if start is not None else int(d) + 1
    seeds = np.random.default_rng(rng).integers(2**31, size=limit)
    while n <= limit:
        if not any(fit_free_embeddings(n, d, steps=steps, lr=lr, rng=int(seeds[n]))["solved"] for lr in lrs):
            return n - 1
        n += 1
    return limit
