r"""DSIR: select raw documents whose hashed n-gram statistics look like a small target sample, by
importance resampling.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.
Official code: github.com/p-lambda/dsir, read at commit 4802a1c (data_selection/hashed_ngram_dsir.py and
data_selection/base.py).

The idea
--------
We want $k$ examples from a large raw pool whose distribution resembles a target distribution $p$ of
which we hold only a small sample.  Importance resampling does exactly that when the densities are known:
draw from the raw pool $q$ with probability proportional to $w(x) = p(x) / q(x)$.  Text densities are not
known, so DSIR works in a cheap feature space.  A document $x$ is lower-cased, split into word and
punctuation tokens, and each unigram and each bigram is hashed into one of $m$ buckets:
$z = h(x) \in \mathbb{N}^m$ counts how many n-grams fell in each bucket.  Both distributions are modelled
as bags of hashed n-grams (multinomials over the buckets), fit by counting over each data set:

$$\hat p_j \propto \sum_{x \in \text{target}} z_j(x) + \alpha, \qquad
  \hat q_j \propto \sum_{x \in \text{raw}} z_j(x),$$

so a document's feature likelihood is $\prod_j \hat p_j^{z_j}$ and the log-importance weight is

$$\log \hat w(x) = \sum_j z_j(x)\,(\log \hat p_j - \log \hat q_j).$$

Resampling $k$ documents without replacement with probability $\propto \hat w$ is done by the Gumbel-top-k
trick: add independent standard Gumbel noise $G_i$ to each $\log \hat w_i$ and keep the $k$ largest.
The paper measures how well a selection matches the target by the *KL reduction*
$\mathrm{KL}(\hat p \,\|\, \hat q) - \mathrm{KL}(\hat p \,\|\, \hat s)$, where $\hat s$ is the bag of
hashed n-grams fit on the selected documents: how much closer (in feature space) the selection is to the
target than the raw pool was.

What is implemented, and deviations
-----------------------------------
* `tokenize` is the word-punct rule `\w+|[^\w\s]+` on the lower-cased text (nltk's WordPunctTokenizer, the
  official default, hashed_ngram_dsir.py:19,40); `bucket` is sha256 of the UTF-8 n-gram modulo $m$
  (hashed_ngram_dsir.py:22-23); `hashed_ngram_counts` counts unigrams and the space-joined bigrams
  (hashed_ngram_dsir.py:26-51, `ngrams=1` gives the unigram-only ablation).
* `fit_bag_of_ngrams` normalises summed counts with an optional Laplace pseudo-count on the target
  (hashed_ngram_dsir.py:181-217); `log_importance_weights` adds 1e-8 inside both logs as the official
  code does (hashed_ngram_dsir.py:220, 119-120).
* `gumbel_top_k` adds Gumbel noise and keeps the k largest (base.py:236-242); ties are broken by the
  lower index (a stable sort) and the kept indices are returned sorted.  The official minimum-length
  filter (`min_example_length`) is not used: the toy documents all have comparable lengths.
* The paper's text could not be retrieved here; the formulas follow the official code and the README
  of the authors' repository, and the KL-reduction definition (target vs. raw, target vs. selection, in
  the same hashed feature space) is reconstructed from the abstract's description.  Equation numbers of
  the paper are therefore not cited; the code lines are.

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file; the
multi-domain text pool is the family's `text_pools.py`.

Notebook: notebooks/data-weighting-selection/dsir.ipynb
"""

from __future__ import annotations

import hashlib
import re

import numpy as np

CATALOG_ENTRY = {
    "slug": "dsir",
    "title": "Data Selection for Language Models via Importance Resampling",
    "authors": "Sang Michael Xie, Shibani Santurkar, Tengyu Ma, Percy Liang",
    "year": 2023,
    "arxiv": "2302.03169",
    "family": "data-weighting-selection",
    "notebook": "notebooks/data-weighting-selection/dsir.ipynb",
    "verified": "official-code",
    "verification_note": (
        "Read in p-lambda/dsir (commit 4802a1c): word-punct tokens of the lower-cased text, sha256 mod m "
        "buckets over unigrams and bigrams (data_selection/hashed_ngram_dsir.py:19-51), bag-of-ngrams fit "
        "by summed counts with a target Laplace pseudo-count (hashed_ngram_dsir.py:181-217), "
        "log w = z·(log p̂ − log q̂) with 1e-8 inside the logs (hashed_ngram_dsir.py:119-120, 220), "
        "Gumbel-top-k resampling (data_selection/base.py:236-242). The paper's full text was not "
        "available: equation numbers are not cited and the KL-reduction formula is reconstructed. "
        "Hand cases checked."
    ),
    "summary": (
        "Featurise each document as hashed unigram+bigram counts z; fit bag-of-ngrams multinomials p̂ on a "
        "small target sample and q̂ on the raw pool; give each raw document the log-importance weight "
        "z·(log p̂ − log q̂) and resample k documents without replacement ∝ w by Gumbel-top-k. The KL "
        "reduction of the selection's feature distribution towards the target measures the match."
    ),
    "equations": [
        "z_j(x) = #{unigrams and bigrams g of x : sha256(g) mod m = j}   (hashed_ngram_dsir.py:26-51)",
        "p̂_j ∝ Σ_target z_j + α,  q̂_j ∝ Σ_raw z_j   (bag of hashed n-grams, hashed_ngram_dsir.py:181-217)",
        "log ŵ(x) = Σ_j z_j(x) (log p̂_j − log q̂_j)   (hashed_ngram_dsir.py:119-120, 220)",
        "keep the k largest log ŵ_i + G_i,  G_i ~ Gumbel(0, 1)   (base.py:236-242)",
        "KL reduction = KL(p̂ ‖ q̂) − KL(p̂ ‖ ŝ),  ŝ fit on the selection   (reconstructed)",
    ],
}

__all__ = [
    "tokenize",
    "bucket",
    "hashed_ngram_counts",
    "featurize",
    "fit_bag_of_ngrams",
    "log_importance_weights",
    "gumbel_top_k",
    "kl_divergence",
    "kl_reduction",
    "dsir_select",
]

_TOKEN = re.compile(r"\w+|[^\w\s]+")
EPS = 1e-8  # inside both logs, as hashed_ngram_dsir.py:220


def tokenize(text: str) -> list[str]:
    """Word and punctuation runs of the lower-cased text (the word-punct rule)."""
    if not isinstance(text, str):
        raise ValueError(f"tokenize: `text` must be a str, got {type(text).__name__}")
    return _TOKEN.findall(text.lower())


def bucket(ngram: str, num_buckets: int) -> int:
    """The hash bucket of one n-gram string: sha256 of its UTF-8 bytes modulo `num_buckets`."""
    return int(hashlib.sha256(ngram.encode("utf-8")).hexdigest(), 16) % num_buckets


def _check_buckets(num_buckets, ngrams):
    if not isinstance(num_buckets, (int, np.integer)) or num_buckets < 1:
        raise ValueError(f"`num_buckets` must be a positive int, got {num_buckets!r}")
    if ngrams not in (1, 2):
        raise ValueError(f"`ngrams` must be 1 (unigrams) or 2 (unigrams and bigrams), got {ngrams!r}")


def hashed_ngram_counts(text: str, num_buckets: int = 10000, ngrams: int = 2) -> np.ndarray:
    """z(x): counts of the hashed unigrams (and, for ngrams=2, space-joined bigrams) of `text`."""
    _check_buckets(num_buckets, ngrams)
    words = tokenize(text)
    z = np.zeros(num_buckets, dtype=np.int64)
    grams = list(words)
    if ngrams == 2:
        grams += [f"{a} {b}" for a, b in zip(words, words[1:])]
    for g in grams:
        z[bucket(g, num_buckets)] += 1
    return z


def featurize(docs, num_buckets: int = 10000, ngrams: int = 2) -> np.ndarray:
    """(N, num_buckets) int64: the hashed n-gram counts of every document."""
    if isinstance(docs, str):
        raise ValueError("featurize: `docs` must be a sequence of strings, got one str")
    _check_buckets(num_buckets, ngrams)
    out = np.zeros((len(docs), num_buckets), dtype=np.int64)
    for i, d in enumerate(docs):
        out[i] = hashed_ngram_counts(d, num_buckets, ngrams)
    return out


def fit_bag_of_ngrams(z, smoothing: float = 0.0) -> np.ndarray:
    """The bag-of-hashed-ngrams multinomial fit on feature rows `z` (N, m): (Σ_i z_i + α) / total."""
    z = np.asarray(z, dtype=np.float64)
    if z.ndim != 2:
        raise ValueError(f"fit_bag_of_ngrams: `z` must be (N, num_buckets), got shape {z.shape}")
    if not np.isfinite(smoothing) or smoothing < 0:
        raise ValueError(f"fit_bag_of_ngrams: `smoothing` must be ≥ 0, got {smoothing!r}")
    counts = z.sum(axis=0) + smoothing
    if counts.sum() <= 0:
        raise ValueError("fit_bag_of_ngrams: `z` has no n-grams (all counts zero) and no smoothing")
    return counts / counts.sum()


def log_importance_weights(z, p_target, q_raw) -> np.ndarray:
    """log ŵ(x) = Σ_j z_j (log p̂_j − log q̂_j) for each row of `z` (1e-8 inside both logs)."""
    z = np.atleast_2d(np.asarray(z, dtype=np.float64))
    p, q = np.asarray(p_target, dtype=np.float64), np.asarray(q_raw, dtype=np.float64)
    if p.shape != q.shape or p.ndim != 1 or z.shape[1] != p.shape[0]:
        raise ValueError(
            f"log_importance_weights: `z` (N, m), `p_target` and `q_raw` (m,) must agree, got "
            f"{z.shape}, {p.shape}, {q.shape}"
        )
    if np.any(p < 0) or np.any(q < 0):
        raise ValueError("log_importance_weights: `p_target` and `q_raw` must be ≥ 0")
    log_diff = np.log(p + EPS) - np.log(q + EPS)  # hashed_ngram_dsir.py:220
    return z @ log_diff  # hashed_ngram_dsir.py:119-120


def gumbel_top_k(log_w, k: int, seed: int | None = None, gumbel=None) -> np.ndarray:
    """Sorted indices of the k largest log ŵ_i + G_i (sampling ∝ ŵ without replacement).  `gumbel`
    gives the noise explicitly (then `seed` is unused); `gumbel=0` keeps the deterministic top k."""
    log_w = np.asarray(log_w, dtype=np.float64)
    if log_w.ndim != 1:
        raise ValueError(f"gumbel_top_k: `log_w` must be 1-D, got shape {log_w.shape}")
    if not isinstance(k, (int, np.integer)) or not 0 <= k <= len(log_w):
        raise ValueError(f"gumbel_top_k: `k` must be an int in [0, {len(log_w)}], got {k!r}")
    if gumbel is None:
        if seed is None:
            raise ValueError("gumbel_top_k: give `seed` (or the noise `gumbel`)")
        gumbel = np.random.default_rng(seed).gumbel(size=len(log_w))
    keys = log_w + np.broadcast_to(np.asarray(gumbel, dtype=np.float64), log_w.shape)  # base.py:236-238
    order = np.argsort(-keys, kind="stable")  # ties: lower index first
    return np.sort(order[:k]).astype(np.int64)  # base.py:242


def kl_divergence(p, q) -> float:
    """KL(p ‖ q) = Σ p_j log(p_j / q_j) of two distributions over the buckets (0 log 0 = 0)."""
    p, q = np.asarray(p, dtype=np.float64), np.asarray(q, dtype=np.float64)
    if p.shape != q.shape:
        raise ValueError(f"kl_divergence: `p` and `q` must have one shape, got {p.shape} and {q.shape}")
    m = p > 0
    if np.any(q[m] <= 0):
        raise ValueError("kl_divergence: `q` must be > 0 wherever `p` is (smooth it)")
    return float(np.sum(p[m] * (np.log(p[m]) - np.log(q[m]))))


def kl_reduction(p_target, q_raw, s_selected) -> float:
    """KL(p̂ ‖ q̂) − KL(p̂ ‖ ŝ): how much closer the selection's features are to the target than the
    raw pool's (all three on the same hashed buckets, smoothed so they are > 0 where p̂ is)."""
    return kl_divergence(p_target, q_raw) - kl_divergence(p_target, s_selected)


def dsir_select(
    raw_docs,
    target_docs,
    k: int,
    seed: int,
    num_buckets: int = 10000,
    ngrams: int = 2,
    smoothing: float = 1.0,
) -> np.ndarray:
    """The whole method: sorted indices of k documents of `raw_docs` resampled towards `target_docs`."""
    z_raw = featurize(raw_docs, num_buckets, ngrams)
    p = fit_bag_of_ngrams(featurize(target_docs, num_buckets, ngrams), smoothing)
    q = fit_bag_of_ngrams(z_raw)
    return gumbel_top_k(log_importance_weights(z_raw, p, q), k, seed=seed)
