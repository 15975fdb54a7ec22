"""The representations-weighting family's shared toys and metrics, against brute force and hand cases."""

import itertools

import numpy as np
import pytest

from refimpl.techniques.representations_weighting import metrics, toys


def test_auroc_equals_the_pairwise_count_with_ties():
    rng = np.random.default_rng(0)
    s = rng.integers(0, 5, 40).astype(float)  # many ties
    pos = rng.random(40) < 0.4
    brute = np.mean([(a > b) + 0.5 * (a == b) for a in s[pos] for b in s[~pos]])
    assert metrics.auroc(s, pos) == pytest.approx(brute, abs=1e-12)


def test_auroc_hand_cases_and_errors():
    assert metrics.auroc([0.1, 0.9], [False, True]) == 1.0
    assert metrics.auroc([0.9, 0.1], [False, True]) == 0.0
    assert metrics.auroc([0.5, 0.5], [False, True]) == 0.5
    with pytest.raises(ValueError, match="positives and negatives"):
        metrics.auroc([1.0, 2.0], [True, True])
    with pytest.raises(ValueError, match="finite"):
        metrics.auroc([np.nan, 2.0], [True, False])


def test_clustering_accuracy_is_the_best_of_all_permutations():
    rng = np.random.default_rng(1)
    y, c = rng.integers(0, 4, 60), rng.integers(0, 4, 60)
    brute = max(np.mean(y == np.array(p)[c]) for p in itertools.permutations(range(4)))
    assert metrics.clustering_accuracy(y, c) == pytest.approx(brute)
    assert metrics.clustering_accuracy([0, 0, 1, 1], [5, 5, 2, 2]) == 1.0


def test_nmi_hand_cases():
    assert metrics.nmi([0, 0, 1, 1], [1, 1, 0, 0]) == pytest.approx(1.0)
    assert metrics.nmi([0, 1, 0, 1], [0, 0, 1, 1]) == pytest.approx(0.0, abs=1e-12)
    # y = [0,0,1,1], c = [0,0,0,1]: I = H(C) − H(C|Y) = H(3/4) − ½·H(½) = H(3/4) − ½ ln 2
    h = lambda *p: -sum(q * np.log(q) for q in p)  # noqa: E731
    expect = (h(0.75, 0.25) - 0.5 * np.log(2)) / np.sqrt(np.log(2) * h(0.75, 0.25))
    assert metrics.nmi([0, 0, 1, 1], [0, 0, 0, 1]) == pytest.approx(expect)


def test_confusion_matrix_counts():
    C = metrics.confusion_matrix(np.array([0, 0, 1, 2, 2, 2]), np.array([0, 1, 1, 2, 0, 2]), 3)
    np.testing.assert_array_equal(C, [[1, 1, 0], [0, 1, 0], [1, 0, 2]])
    with pytest.raises(ValueError, match="0..2"):
        metrics.confusion_matrix(np.array([0, 3]), np.array([0, 1]), 3)


@pytest.mark.parametrize("kind", toys.POINT_CLOUDS)
def test_point_clouds_are_reproducible_and_inside_their_shape(kind):
    x = toys.point_cloud(kind, 500, seed=3)
    np.testing.assert_array_equal(x, toys.point_cloud(kind, 500, seed=3))
    assert x.shape == (500, 2)
    r = np.linalg.norm(x, axis=1)
    if kind == "disk":
        assert r.max() <= 1 and np.mean(r < np.sqrt(0.5)) == pytest.approx(0.5, abs=0.07)  # uniform in area
    if kind == "annulus":
        assert r.min() >= 0.5 and r.max() <= 1
    if kind == "square":
        assert np.abs(x).max() <= 1


def test_outliers_lie_in_their_ring_and_are_flagged():
    x = toys.point_cloud("disk", 200, seed=0)
    pts, flag = toys.with_outliers(x, 10, seed=1, radius=(2.0, 3.0))
    assert flag.sum() == 10 and len(pts) == 210
    centre = (x.min(0) + x.max(0)) / 2
    d = np.linalg.norm(pts[flag] - centre, axis=1)
    assert d.min() >= 2.0 and d.max() <= 3.0
    assert np.linalg.norm(pts[~flag], axis=1).max() <= 1


def test_few_shot_task_counts_proportions_and_bayes_rule():
    t = toys.few_shot_gaussian_task(3, 5, 60, 4, seed=2, query_proportions=[0.5, 0.3, 0.2])
    assert t.x_support.shape == (15, 4) and np.bincount(t.y_support).tolist() == [5, 5, 5]
    assert np.bincount(t.y_query).tolist() == [30, 18, 12]
    x = t.means + 1e-9
    np.testing.assert_array_equal(t.bayes_predict(x), [0, 1, 2])
    with pytest.raises(ValueError, match="query_proportions"):
        toys.few_shot_gaussian_task(3, 5, 60, 4, seed=2, query_proportions=[0.5, 0.5, 0.5])
