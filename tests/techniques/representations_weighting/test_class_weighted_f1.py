"""Class-weighted F1: reference cases (hand-scored confusion matrices), identities of the schemes checked
against brute force over label vectors, the closed-form expected recall against sampled confusion matrices,
the softmax gradient of the experiment against finite differences, bad input, the quick run's code path and
the recorded full result."""

import math

import numpy as np
import pytest

from refimpl.experiments import freshness, recorded
from refimpl.techniques.representations_weighting import class_weighted_f1 as W
from refimpl.techniques.representations_weighting.class_weighted_f1 import experiment as X
from refimpl.techniques.representations_weighting.class_weighted_f1.cases import reference_cases
from refimpl.techniques.representations_weighting.metrics import confusion_matrix

SLUG = "class-weighted-f1"


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


def _random_confusion(seed, K=5, n=300):
    rng = np.random.default_rng(seed)
    y = rng.choice(K, n, p=np.r_[0.5, 0.25, 0.15, 0.07, 0.03])
    p = np.where(rng.random(n) < 0.7, y, rng.integers(0, K, n))
    return y, p, confusion_matrix(y, p, K)


def _brute_f1(y, p, c):
    """F1 of class c counted example by example (no confusion matrix)."""
    tp = sum(1 for a, b in zip(y, p) if a == c and b == c)
    fp = sum(1 for a, b in zip(y, p) if a != c and b == c)
    fn = sum(1 for a, b in zip(y, p) if a == c and b != c)
    return 0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_schemes_match_brute_force_over_label_vectors(seed):
    y, p, C = _random_confusion(seed)
    K = C.shape[0]
    f = np.array([_brute_f1(y, p, c) for c in range(K)])
    n = np.array([sum(1 for a in y if a == c) for c in range(K)], dtype=float)
    N = len(y)
    s = W.all_schemes(C)
    assert s["micro"] == pytest.approx(np.mean(y == p), abs=1e-12)  # micro-F1 = accuracy
    assert s["macro"] == pytest.approx(f.mean(), abs=1e-12)  # macro = plain mean
    assert s["weighted"] == pytest.approx(np.sum(n * f) / N, abs=1e-12)
    wd = np.array([v**0.75 for v in n])
    assert s["dodrans"] == pytest.approx(np.sum(wd * f) / wd.sum(), abs=1e-12)
    we = np.array([v * math.log(N / v) for v in n])
    assert s["entropy"] == pytest.approx(np.sum(we * f) / we.sum(), abs=1e-12)
    # micro recall is the frequency-weighted mean of the per-class recalls
    r = W.per_class_scores(C)["recall"]
    assert W.micro_scores(C)["recall"] == pytest.approx(np.sum(n * r) / N, abs=1e-12)


def test_power_family_has_macro_and_weighted_as_its_ends_and_is_monotone_when_f1_rises_with_support():
    C = np.diag([90, 30, 10, 3]) + np.array([[0, 2, 2, 2], [3, 0, 3, 3], [3, 3, 0, 3], [2, 2, 2, 0]])
    f = W.per_class_scores(C)["f1"]
    assert np.all(np.diff(f) < 0)  # F1 falls from head to tail
    assert W.weighted_scores(C, 0.0)["f1"] == pytest.approx(W.weighted_scores(C, "macro")["f1"])
    assert W.weighted_scores(C, 1.0)["f1"] == pytest.approx(W.weighted_scores(C, "weighted")["f1"])
    assert W.weighted_scores(C, 0.75)["f1"] == pytest.approx(W.weighted_scores(C, "dodrans")["f1"])
    vals = [W.weighted_scores(C, a)["f1"] for a in np.linspace(0, 1, 11)]
    assert np.all(np.diff(vals) > 0)


def test_entropy_and_dodrans_up_weight_rare_classes_relative_to_frequency():
    n = np.array([500.0, 100.0, 20.0, 4.0])
    for scheme in ("dodrans", "entropy", "macro"):
        ratio = W.scheme_weights(n, scheme) / n  # weight relative to the frequency weight
        assert np.all(np.diff(ratio) > 0), scheme


def test_ignoring_the_no_relation_class_changes_micro_but_not_the_other_classes():
    y, p, C = _random_confusion(3)
    keep = (y != 0) | (p != 0)
    tp = np.sum((y == p) & (y != 0))
    P, R = tp / np.sum(p != 0), tp / np.sum(y != 0)
    assert W.micro_scores(C, ignore=[0])["f1"] == pytest.approx(2 * P * R / (P + R), abs=1e-12)
    f = W.per_class_scores(C)["f1"][1:]
    assert W.weighted_scores(C, "macro", ignore=[0])["f1"] == pytest.approx(f.mean(), abs=1e-12)
    assert keep.any()


def test_expected_recall_matches_the_mean_of_sampled_confusion_matrices():
    n = np.array([4000, 800, 160, 40])
    Q = np.array(
        [[0.9, 0.05, 0.03, 0.02], [0.2, 0.7, 0.05, 0.05], [0.3, 0.1, 0.5, 0.1], [0.4, 0.1, 0.1, 0.4]]
    )
    rng = np.random.default_rng(0)
    for scheme in ("micro", "weighted", "dodrans", "entropy", "macro"):
        sims = [
            W.scheme_scores(np.array([rng.multinomial(k, q) for k, q in zip(n, Q)]), scheme)["recall"]
            for _ in range(200)
        ]
        se = np.std(sims) / np.sqrt(len(sims))
        assert abs(np.mean(sims) - W.expected_recall(n, Q, scheme)) < 4 * se + 1e-12, scheme


def test_softmax_gradient_of_the_experiment_matches_finite_differences_in_float64():
    rng = np.random.default_rng(0)
    Xd, y = rng.standard_normal((40, 2)), rng.integers(0, X.K, 40)
    w = X.example_weights(y, np.bincount(y, minlength=X.K).astype(float), 1.0)
    W0, b0 = rng.normal(0, 0.3, (2, X.K)), rng.normal(0, 0.3, X.K)
    # one gradient step of lr = 1 from (W0, b0) moves the parameters by −∇; recover ∇ from fit_softmax's code
    G = (np.exp(X._log_softmax(Xd @ W0 + b0)) - np.eye(X.K)[y]) * w[:, None] / len(y)
    gW, gb = Xd.T @ G, G.sum(0)
    eps = 1e-6
    num = np.zeros_like(W0)
    for idx in np.ndindex(W0.shape):
        E = np.zeros_like(W0)
        E[idx] = eps
        num[idx] = (X.weighted_ce(W0 + E, b0, Xd, y, w) - X.weighted_ce(W0 - E, b0, Xd, y, w)) / (2 * eps)
    numb = [
        (X.weighted_ce(W0, b0 + eps * e, Xd, y, w) - X.weighted_ce(W0, b0 - eps * e, Xd, y, w)) / (2 * eps)
        for e in np.eye(X.K)
    ]
    np.testing.assert_allclose(gW, num, atol=1e-8)
    np.testing.assert_allclose(gb, numb, atol=1e-8)
    # and fit_softmax uses exactly this gradient: one step of lr from zero
    W1, b1 = X.fit_softmax(Xd, y, w, 0.5, steps=1)
    G0 = (np.full((40, X.K), 1 / X.K) - np.eye(X.K)[y]) * w[:, None] / len(y)
    np.testing.assert_allclose(W1, -0.5 * Xd.T @ G0, atol=1e-14)
    np.testing.assert_allclose(b1, -0.5 * G0.sum(0), atol=1e-14)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="`confusion`"):
        W.all_schemes(np.ones((2, 3)))
    with pytest.raises(ValueError, match="`confusion`"):
        W.all_schemes(-np.eye(2))
    with pytest.raises(ValueError, match="`scheme`"):
        W.scheme_weights([1, 2], "median")
    with pytest.raises(ValueError, match="`ignore`"):
        W.micro_scores(np.eye(2), ignore=[5])
    with pytest.raises(ValueError, match="`score`"):
        W.all_schemes(np.eye(2), score="auc")
    with pytest.raises(ValueError, match="`probabilities`"):
        W.expected_recall([3, 4], np.ones((2, 2)), "macro")


def test_quick_run_is_a_smoke_run_with_every_arm(quick_result):
    r = quick_result(SLUG)
    assert r.smoke and {row["method"] for row in r.table} == set(X.ARMS)


def full():
    assert freshness(SLUG) == "fresh", f"run `refimpl record {SLUG}`"
    return recorded(SLUG)


def test_full_run_premises_are_present():
    assert all(p["present"] for p in full().premises)


def test_full_run_micro_ranks_plain_ce_first():
    """The paper's distinguishing point: micro-F1 prefers the head-oriented model."""
    c = next(c for c in full().claims if c["metric"] == "test_f1_micro")
    assert c["interval"]["n"] == 10 and c["interval"]["low"] > 0


def test_full_run_scheme_values_are_ordered_by_how_much_they_weight_the_head_for_plain_ce():
    """For plain CE (F1 falls from head to tail) the schemes order weighted ≥ dodrans ≥ macro on every seed."""
    r = full()
    S = np.asarray(r.arrays["schemes"])[r.notes["arms"].index("plain CE")]
    i = {s: k for k, s in enumerate(r.notes["schemes"])}
    assert np.all(S[:, i["weighted"]] >= S[:, i["dodrans"]]) and np.all(
        S[:, i["dodrans"]] >= S[:, i["macro"]]
    )


def test_full_run_dodrans_of_the_balanced_model_leaves_the_micro_macro_range():
    """The measured contradiction: class-balanced CE loses head precision, so its per-class F1 weighted by
    n^{3/4} exceeds its pooled micro-F1 — dodrans is intermediate between macro and frequency weighting, not
    between macro and micro.  Fails if the result changes to 'between'."""
    c = next(
        c for c in full().claims if c["metric"] == "dodrans_inside" and c["method"] == "class-balanced CE"
    )
    assert c["interval"]["high"] < 0
    r = full()
    S = np.asarray(r.arrays["schemes"])[r.notes["arms"].index("class-balanced CE")]
    i = {s: k for k, s in enumerate(r.notes["schemes"])}
    assert np.all(S[:, i["dodrans"]] > S[:, i["macro"]])
