r"""Metrics of the representations-weighting family.

* `auroc(scores, positive)` — the probability that a random positive scores above a random negative, ties
  counting ½ (the Mann–Whitney statistic over n₊·n₋, computed from mid-ranks in O(n log n)):
  :math:`\mathrm{AUROC} = \big(\sum_{i\in +} r_i - n_+(n_+ + 1)/2\big) / (n_+ n_-)`;
* `clustering_accuracy(labels, clusters)` — accuracy under the best one-to-one map of clusters to labels
  (Hungarian algorithm on the contingency table);
* `nmi(labels, clusters)` — normalised mutual information :math:`I(Y; C)/\sqrt{H(Y)\,H(C)}` (natural log; 1 when
  both are constant);
* `confusion_matrix(labels, predictions, n_classes)` — C[i, j] = #(label i predicted j).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.stats import rankdata

__all__ = ["auroc", "clustering_accuracy", "nmi", "confusion_matrix", "contingency"]


def _labels(name, y, fn):
    y = np.asarray(y)
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{fn}: `{name}` must be a 1-D integer array, got dtype {y.dtype}, shape {y.shape}")
    return y


def auroc(scores, positive) -> float:
    """P(score of a positive > score of a negative) + ½·P(tie)."""
    s, pos = np.asarray(scores, dtype=np.float64), np.asarray(positive)
    if s.ndim != 1 or pos.shape != s.shape:
        raise ValueError(
            f"auroc: `scores` and `positive` must be 1-D of one length, got {s.shape}, {pos.shape}"
        )
    if not np.all(np.isfinite(s)):
        raise ValueError("auroc: `scores` must be finite")
    pos = pos.astype(bool)
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError(f"auroc: need positives and negatives, got {n_pos} and {n_neg}")
    ranks = rankdata(s)  # mid-ranks: ties share their mean rank
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def contingency(labels, clusters) -> np.ndarray:
    """N[i, j] = #(label value i, cluster value j), rows and columns in sorted order of the values present."""
    y, c = _labels("labels", labels, "contingency"), _labels("clusters", clusters, "contingency")
    if y.shape != c.shape:
        raise ValueError(f"contingency: `labels` and `clusters` differ in length, {len(y)} vs {len(c)}")
    _, yi = np.unique(y, return_inverse=True)
    _, ci = np.unique(c, return_inverse=True)
    N = np.zeros((yi.max() + 1, ci.max() + 1), dtype=np.int64)
    np.add.at(N, (yi, ci), 1)
    return N


def clustering_accuracy(labels, clusters) -> float:
    """max over one-to-one maps m of clusters to labels of mean(labels == m(clusters)) (Hungarian)."""
    N = contingency(labels, clusters)
    rows, cols = linear_sum_assignment(N, maximize=True)
    return float(N[rows, cols].sum() / N.sum())


def nmi(labels, clusters) -> float:
    """I(Y; C) / sqrt(H(Y) H(C)); 1.0 when both partitions are trivial, 0.0 when only one is."""
    N = contingency(labels, clusters).astype(np.float64)
    P = N / N.sum()
    py, pc = P.sum(1), P.sum(0)
    hy, hc = -np.sum(py * np.log(py)), -np.sum(pc * np.log(pc))
    if hy == 0 and hc == 0:
        return 1.0
    if hy == 0 or hc == 0:
        return 0.0
    nz = P > 0
    mi = np.sum(P[nz] * np.log(P[nz] / np.outer(py, pc)[nz]))
    return float(mi / np.sqrt(hy * hc))


def confusion_matrix(labels, predictions, n_classes: int) -> np.ndarray:
    """C[i, j] = number of examples of class i predicted as j (classes 0..n_classes−1)."""
    y, p = (
        _labels("labels", labels, "confusion_matrix"),
        _labels("predictions", predictions, "confusion_matrix"),
    )
    if y.shape != p.shape:
        raise ValueError(
            f"confusion_matrix: `labels` and `predictions` differ in length, {len(y)} vs {len(p)}"
        )
    if n_classes < 1 or (len(y) and (min(y.min(), p.min()) < 0 or max(y.max(), p.max()) >= n_classes)):
        raise ValueError(f"confusion_matrix: values must lie in 0..{n_classes - 1}")
    C = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(C, (y, p), 1)
    return C
