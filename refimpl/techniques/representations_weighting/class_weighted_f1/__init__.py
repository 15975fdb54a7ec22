r"""Class weighting of F1 (and precision, recall): one averaging rule, a class weight w(n_c), whose two extremes
are macro (w = 1) and frequency weighting (w = n_c, close to micro), with two intermediate weights — *dodrans*
(w = n_c^{3/4}) and *entropy* (w = −n_c log(n_c/N)) — so that a report shows how a model trades frequent
classes for rare ones.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.

Per-class scores
----------------
A confusion matrix C (C[i, j] = number of examples of class i predicted as j, `metrics.confusion_matrix` of the
family) gives, for each class c, the true positives tp_c = C[c, c], the support n_c = Σ_j C[c, j] (its row sum)
and the number predicted as c, m_c = Σ_i C[i, c] (its column sum).  Then (`per_class_scores`)

.. math::

    P_c = \frac{tp_c}{m_c},\qquad R_c = \frac{tp_c}{n_c},\qquad F_c = \frac{2P_cR_c}{P_c + R_c},

each set to 0 where its denominator is 0 (scikit-learn's ``zero_division=0``, which the official code
inherits).

Micro: pool the counts
----------------------
Micro-averaging sums tp, m and n over the scored classes before dividing (`micro_scores`):
P_micro = Σtp / Σm, R_micro = Σtp / Σn, F_micro their harmonic mean.  When every example has exactly one gold
and one predicted label and no class is left out, Σm = Σn = N, so P = R = F = trace(C)/N, the accuracy.
Written per class, R_micro = Σ_c n_c R_c / Σ_c n_c: micro recall *is* the frequency-weighted average of the
per-class recalls, which is why micro-F1 sits at the frequency end of the family.  Relation classification
usually leaves out the "no relation" class (`ignore`); then Σm ≠ Σn and micro-F1 is no longer the accuracy.

Weighted averages: the framework
--------------------------------
Every other scheme is a weighted mean of the per-class scores with a weight that depends on the class's
support alone (`scheme_weights`, `weighted_scores`):

.. math::

    S_w = \frac{\sum_c w(n_c)\, S_c}{\sum_c w(n_c)},\qquad S \in \{P, R, F\},

* macro:     w(n) = 1                         (every class counts the same);
* entropy:   w(n) = −n log(n/N) = n · log(N/n)  (the class's share of the label entropy: n scaled by the
  information content of a label of that class, which is larger for rare classes);
* dodrans:   w(n) = n^{3/4}                   ("three quarters" of the way from macro to frequency);
* weighted:  w(n) = n                         (scikit-learn's ``average="weighted"``).

Relative to frequency weighting, macro multiplies a class's weight by 1/n, dodrans by n^{−1/4} and entropy by
log(N/n): each up-weights rare classes, macro most.  When the per-class score rises with the class's support
(a model that is better on frequent classes), the weighted mean with w = n^α rises with α (larger α moves
weight towards classes with higher scores), so macro ≤ dodrans ≤ weighted; where entropy falls depends on the
class distribution.  `power` gives the whole w = n^α line.

What is read and what is ours
-----------------------------
Read in the official repository dfki-nlp/weighting-schemes-report: ``custom_scoring.py`` (the two weights:
``dodrans`` = counts ** (3/4), ``entropy`` = −counts · log(counts / number of labels)) and ``main.py``
(``precision_recall_fscore_average``: per-class P, R, F from scikit-learn's multilabel confusion matrix, then
``np.average`` with the weights returned by the chosen function of the true counts; micro pools the counts).
The paper's full text was not reachable here (abstract only), so no equation numbers are cited.  Ours: the
function works on a confusion matrix rather than label vectors; a class with no support gets weight 0 under
every scheme but macro (the official entropy weight is 0·log 0 = NaN there); macro averages over the classes
present in the gold labels or the predictions (scikit-learn's default label set); if all weights vanish (one
class holds every example under the entropy weight) the average is taken uniformly over the classes with
support.  `expected_recall` is ours too: the closed-form mean of a scheme's recall over confusion matrices whose
rows are drawn from known class-conditional prediction probabilities (recall is linear in the counts when the
supports are fixed, so the mean is exact).

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/representations-weighting/class-weighted-f1.ipynb
"""

from __future__ import annotations

import numpy as np

CATALOG_ENTRY = {
    "slug": "class-weighted-f1",
    "title": "Why only Micro-F1? Class Weighting of Measures for Relation Classification",
    "authors": "David Harbecke, Yuxuan Chen, Leonhard Hennig, Christoph Alt",
    "year": 2022,
    "arxiv": "2205.09460",
    "family": "representations-weighting",
    "notebook": "notebooks/representations-weighting/class-weighted-f1.ipynb",
    "verified": "official-code",
    "verification_note": (
        "arXiv id confirmed (NLP Power! workshop 2022, ACL Anthology 2022.nlppower-1.4).  Checked against "
        "dfki-nlp/weighting-schemes-report: custom_scoring.py (dodrans = n^{3/4}, entropy = −n log(n/N)) and "
        "main.py (per-class P/R/F averaged with those weights of the true counts; micro pools the counts).  "
        "The paper's full text was not reachable (abstract only): no equation numbers.  Ours: confusion-matrix "
        "input, weight 0 for classes without support, the closed-form expected recall."
    ),
    "summary": (
        "Averaging per-class F1 (precision, recall) with a class weight w(n_c) of the class's support: macro "
        "(w = 1) and frequency weighting (w = n_c, next to micro, which pools the counts) are the extremes; "
        "dodrans (w = n_c^{3/4}) and entropy (w = −n_c log(n_c/N)) lie between.  Reporting several schemes "
        "shows whether a model wins on frequent or on rare classes of an imbalanced data set."
    ),
    "equations": [
        "P_c = tp_c / m_c,  R_c = tp_c / n_c,  F_c = 2 P_c R_c / (P_c + R_c)  (0 where undefined)",
        "micro: P = Σ tp / Σ m,  R = Σ tp / Σ n,  F = 2PR/(P+R)  (= accuracy when no class is ignored)",
        "S_w = Σ_c w(n_c) S_c / Σ_c w(n_c)",
        "w(n) = 1 (macro),  n^{3/4} (dodrans),  −n log(n/N) (entropy),  n (weighted)",
    ],
}

SCHEMES = ("micro", "weighted", "dodrans", "entropy", "macro")
WEIGHT_SCHEMES = ("macro", "dodrans", "entropy", "weighted")

__all__ = [
    "SCHEMES",
    "WEIGHT_SCHEMES",
    "per_class_scores",
    "micro_scores",
    "scheme_weights",
    "weighted_scores",
    "scheme_scores",
    "all_schemes",
    "expected_recall",
]


def _check_confusion(C, fn: str) -> np.ndarray:
    A = np.asarray(C)
    if A.ndim != 2 or A.shape[0] != A.shape[1] or A.shape[0] < 1:
        raise ValueError(f"{fn}: `confusion` must be a square (K, K) matrix, got shape {A.shape}")
    A = A.astype(np.float64)
    if not np.all(np.isfinite(A)) or np.any(A < 0):
        raise ValueError(f"{fn}: `confusion` must hold finite non-negative counts")
    if A.sum() <= 0:
        raise ValueError(f"{fn}: `confusion` is empty (no examples)")
    return A


def _scored(K: int, ignore, fn: str) -> np.ndarray:
    """Boolean mask of the classes that are scored (all but `ignore`)."""
    ign = np.atleast_1d(np.asarray(ignore if ignore is not None else [], dtype=np.int64))
    if ign.size and (ign.min() < 0 or ign.max() >= K):
        raise ValueError(f"{fn}: `ignore` must hold class indices in 0..{K - 1}, got {ign.tolist()}")
    keep = np.ones(K, dtype=bool)
    keep[ign] = False
    if not keep.any():
        raise ValueError(f"{fn}: `ignore` leaves no class to score")
    return keep


def _divide(a, b) -> np.ndarray:
    out = np.zeros_like(a, dtype=np.float64)
    np.divide(a, b, out=out, where=b > 0)  # 0 where the denominator is 0 (zero_division = 0)
    return out


def per_class_scores(confusion) -> dict:
    """Per-class precision, recall, F1, support n_c and predicted count m_c of a confusion matrix."""
    C = _check_confusion(confusion, "per_class_scores")
    tp, n, m = np.diag(C), C.sum(axis=1), C.sum(axis=0)
    P, R = _divide(tp, m), _divide(tp, n)  # P_c = tp/m, R_c = tp/n
    F = _divide(2 * P * R, P + R)  # F_c = 2PR/(P+R)
    return {"precision": P, "recall": R, "f1": F, "support": n, "predicted": m}


def micro_scores(confusion, ignore=()) -> dict:
    """Micro precision, recall, F1: pool tp, m and n over the scored classes, then divide."""
    C = _check_confusion(confusion, "micro_scores")
    keep = _scored(len(C), ignore, "micro_scores")
    tp, n, m = np.diag(C)[keep].sum(), C.sum(axis=1)[keep].sum(), C.sum(axis=0)[keep].sum()
    P = tp / m if m > 0 else 0.0
    R = tp / n if n > 0 else 0.0
    F = 2 * P * R / (P + R) if P + R > 0 else 0.0
    return {"precision": float(P), "recall": float(R), "f1": float(F)}


def scheme_weights(support, scheme: str | float, total: float | None = None) -> np.ndarray:
    """Unnormalised class weights w(n_c) of a scheme: "macro" 1, "dodrans" n^{3/4}, "entropy" −n log(n/N),
    "weighted" n, or a float α for n^α.  N is `total` (default Σ n).  Classes with n = 0 get 0 (macro: 1)."""
    n = np.asarray(support, dtype=np.float64)
    if n.ndim != 1 or np.any(n < 0) or not np.all(np.isfinite(n)):
        raise ValueError(f"scheme_weights: `support` must be 1-D finite counts ≥ 0, got {support!r}")
    N = float(n.sum()) if total is None else float(total)
    if N < n.sum() or N <= 0:
        raise ValueError(f"scheme_weights: `total` must be ≥ Σ support = {n.sum()} and > 0, got {total!r}")
    pos = n > 0
    if scheme == "macro":
        return np.ones_like(n)
    if scheme == "weighted":
        return n.copy()
    if scheme == "dodrans":
        return n**0.75
    if scheme == "entropy":
        w = np.zeros_like(n)
        w[pos] = -n[pos] * np.log(n[pos] / N)  # −n log(n/N), 0·log 0 = 0
        return w
    if isinstance(scheme, (int, float, np.floating)) and not isinstance(scheme, bool) and np.isfinite(scheme):
        w = np.zeros_like(n)
        w[pos] = n[pos] ** float(scheme)
        return w
    raise ValueError(
        f"scheme_weights: `scheme` must be one of {WEIGHT_SCHEMES} or a finite float α, got {scheme!r}"
    )


def weighted_scores(confusion, scheme: str | float, ignore=()) -> dict:
    """Precision, recall, F1 averaged over the scored classes with the weights w(n_c) of `scheme`.

    The classes averaged are those scored (not in `ignore`) that occur in the gold labels or in the
    predictions; N in the entropy weight is the number of examples of all classes."""
    C = _check_confusion(confusion, "weighted_scores")
    keep = _scored(len(C), ignore, "weighted_scores")
    s = per_class_scores(C)
    keep &= (s["support"] > 0) | (s["predicted"] > 0)
    if not keep.any():
        raise ValueError("weighted_scores: no scored class occurs in the labels or the predictions")
    w = scheme_weights(s["support"], scheme, total=C.sum())[keep]
    if w.sum() <= 0:  # e.g. entropy with a single class holding every example
        w = (s["support"][keep] > 0).astype(np.float64)
        if w.sum() <= 0:
            return {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    return {k: float(np.sum(w * s[k][keep]) / np.sum(w)) for k in ("precision", "recall", "f1")}


def scheme_scores(confusion, scheme: str | float, ignore=()) -> dict:
    """Precision, recall, F1 under one scheme: "micro" pools the counts, every other is `weighted_scores`."""
    if scheme == "micro":
        return micro_scores(confusion, ignore)
    return weighted_scores(confusion, scheme, ignore)


def all_schemes(confusion, ignore=(), score: str = "f1") -> dict:
    """{scheme: score} for micro, weighted, dodrans, entropy and macro (the report the paper asks for)."""
    if score not in ("precision", "recall", "f1"):
        raise ValueError(f"all_schemes: `score` must be 'precision', 'recall' or 'f1', got {score!r}")
    return {s: scheme_scores(confusion, s, ignore)[score] for s in SCHEMES}


def expected_recall(support, probabilities, scheme: str | float) -> float:
    """E[recall under `scheme`] when row c of the confusion matrix is Multinomial(n_c, Q[c]).

    With the supports fixed, R_c = C[c, c]/n_c has mean Q[c, c] and the weights do not move, so the mean of
    the weighted recall is Σ w(n_c) Q[c, c] / Σ w(n_c) exactly ("micro" recall is the n-weighted one).
    Every class is assumed to have support n_c > 0."""
    n = np.asarray(support, dtype=np.float64)
    Q = np.asarray(probabilities, dtype=np.float64)
    if n.ndim != 1 or np.any(n <= 0):
        raise ValueError(f"expected_recall: `support` must be 1-D counts > 0, got {support!r}")
    if Q.shape != (len(n), len(n)) or np.any(Q < 0) or not np.allclose(Q.sum(axis=1), 1.0):
        raise ValueError(
            f"expected_recall: `probabilities` must be a ({len(n)}, {len(n)}) row-stochastic matrix, "
            f"got shape {Q.shape}"
        )
    w = scheme_weights(n, "weighted" if scheme == "micro" else scheme)
    return float(np.sum(w * np.diag(Q)) / np.sum(w))
