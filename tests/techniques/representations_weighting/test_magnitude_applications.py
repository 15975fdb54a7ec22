"""Magnitude classification: reference cases (three collinear points by hand), the closed-form gain against a
brute-force re-solve of the enlarged set, its limits, bad input, the quick run's code path and the recorded
full result."""

import numpy as np
import pytest

from refimpl.experiments import freshness, recorded
from refimpl.techniques.representations_weighting import magnitude_applications as A
from refimpl.techniques.representations_weighting.magnitude_applications.cases import reference_cases
from refimpl.techniques.representations_weighting.magnitude_weighting_vector import magnitude

SLUG = "magnitude-applications"


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


@pytest.mark.parametrize("t", [0.7, 3.0])
def test_gain_equals_a_brute_force_resolve_of_the_enlarged_set(t):
    rng = np.random.default_rng(0)
    X, Q = rng.normal(size=(25, 3)), rng.normal(size=(6, 3)) * 1.5
    brute = [magnitude(np.vstack([X, q]), t) - magnitude(X, t) for q in Q]
    np.testing.assert_allclose(A.magnitude_gain(X, Q, t), brute, rtol=1e-9, atol=1e-12)


def test_gain_is_between_zero_and_one_and_small_inside_a_dense_set():
    rng = np.random.default_rng(1)
    X = rng.uniform(-1, 1, (300, 2))
    # t = 5: the spacing (≈ 0.12) is well below the length scale 1/t, so the cloud acts as a continuum
    g = A.magnitude_gain(X, np.array([[0.0, 0.0], [0.9, 0.0], [30.0, 0.0]]), 5.0)
    assert 0 <= g[0] < 0.01  # centre: the set already covers the point
    assert g[0] < g[1] < 0.1  # near the edge: more gain, still small
    assert abs(g[2] - 1.0) < 1e-9  # far away: one more distinct point


def test_classifiers_recover_separated_clusters():
    rng = np.random.default_rng(2)
    X = np.r_[rng.normal(0, 0.3, (20, 2)), rng.normal(4, 0.3, (20, 2))]
    y = np.r_[np.zeros(20, int), np.ones(20, int)]
    Q = np.r_[rng.normal(0, 0.3, (10, 2)), rng.normal(4, 0.3, (10, 2))]
    truth = np.r_[np.zeros(10, int), np.ones(10, int)]
    for pred in (
        A.magnitude_classify(X, y, Q, 2.0),
        A.parzen_classify(X, y, Q, 2.0),
        A.knn_classify(X, y, Q, 3),
    ):
        np.testing.assert_array_equal(pred, truth)


def test_bad_input_is_named():
    X = np.zeros((3, 2)) + np.arange(3)[:, None]
    with pytest.raises(ValueError, match="`t`"):
        A.magnitude_gain(X, X[:1] + 0.5, -1.0)
    with pytest.raises(ValueError, match="`query`"):
        A.magnitude_gain(X, np.zeros((1, 3)), 1.0)
    with pytest.raises(ValueError, match="`query` point coincides"):
        A.magnitude_gain(X, X[:1], 1.0)
    with pytest.raises(ValueError, match="`y`"):
        A.magnitude_classify(X, np.array([0, 1]), X, 1.0)
    with pytest.raises(ValueError, match="every class"):
        A.magnitude_classify(X, np.array([0, 2, 2]), X, 1.0)
    with pytest.raises(ValueError, match="`k`"):
        A.knn_classify(X, np.array([0, 1, 1]), X, 0)


def test_quick_run_code_path(quick_result):
    r = quick_result(SLUG)
    assert {c["statement"].split(":")[0] for c in r.claims} == {"moons", "digits"}
    assert np.all((r.arrays["accuracy"] >= 0) & (r.arrays["accuracy"] <= 1))


def _interval(r, method, baseline):
    (c,) = [c for c in r.claims if c["method"] == method and c["baseline"] == baseline]
    return c["interval"]


def test_recorded_result_magnitude_classifier_against_knn_and_parzen():
    assert freshness(SLUG) == "fresh"
    r = recorded(SLUG)
    for task in ("moons", "digits"):
        knn = _interval(r, f"magnitude ({task})", f"k-NN ({task})")
        parzen = _interval(r, f"magnitude ({task})", f"Parzen ({task})")
        assert knn["n"] >= 8 and parzen["n"] >= 8
        # the paper's claim is "competitive": the whole interval of magnitude − k-NN must lie above −0.05
        # (a generous bound; the claim's own margin is −0.02), and magnitude must not lose to the Parzen rule
        # by more than 0.03 anywhere in the interval.
        assert knn["low"] > -0.05, (task, knn)
        assert parzen["low"] > -0.03, (task, parzen)


def test_recorded_result_digits_few_shot_magnitude_reduces_to_parzen():
    """Measured (and explained in the docstring's Z → I limit): with 5 images per class in 64 dimensions the
    classes are sparse on the chosen scale, and the magnitude rule predicts like the Parzen rule.  Fails if the
    two ever differ by more than half a point of accuracy on average."""
    assert freshness(SLUG) == "fresh"
    iv = _interval(recorded(SLUG), "magnitude (digits)", "Parzen (digits)")
    assert abs(iv["mean"]) < 0.005, iv
