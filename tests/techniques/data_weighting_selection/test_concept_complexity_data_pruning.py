"""Density-Based Pruning (Abbas et al. 2024; arXiv 2401.04578): hand cases, brute-force cluster geometry
and QP quotas, k-means on clear-cut data, errors, the quick run's code path, and the claims on the
recorded full result."""

import itertools

import numpy as np
import pytest

from refimpl.experiments import freshness, recorded
from refimpl.techniques.data_weighting_selection import concept_complexity_data_pruning as D
from refimpl.techniques.data_weighting_selection.concept_complexity_data_pruning.cases import reference_cases

SLUG = "concept-complexity-data-pruning"


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


def test_geometry_matches_brute_force_loops():
    rng = np.random.default_rng(3)
    z = rng.normal(size=(23, 4))
    centroids, labels = D.spherical_kmeans(z, 5, seed=1)
    g = D.cluster_geometry(z, labels, centroids, num_neighbors=2)
    zn = z / np.linalg.norm(z, axis=1, keepdims=True)
    for j in range(5):
        members = [i for i in range(23) if labels[i] == j]
        dists = [1.0 - float(sum(zn[i, t] * centroids[j, t] for t in range(4))) for i in members]
        assert g["d_intra"][j] == pytest.approx(sum(dists) / len(dists), abs=1e-12)
        others = sorted(1.0 - float(centroids[j] @ centroids[l]) for l in range(5) if l != j)
        assert g["d_inter"][j] == pytest.approx((others[0] + others[1]) / 2, abs=1e-12)
    np.testing.assert_allclose(g["complexity"], g["d_intra"] * g["d_inter"], rtol=1e-12)


def test_centroids_are_normalised_member_means():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(40, 3))
    c, labels = D.spherical_kmeans(z, 4, seed=2)
    zn = z / np.linalg.norm(z, axis=1, keepdims=True)
    for j in range(4):
        m = zn[labels == j].sum(axis=0)
        np.testing.assert_allclose(c[j], m / np.linalg.norm(m), atol=1e-12)
    np.testing.assert_array_equal(labels, np.argmax(zn @ c.T, axis=1))  # a fixed point of Lloyd's step


def test_kmeans_separates_clear_groups():
    rng = np.random.default_rng(1)
    dirs = np.eye(3)
    z = np.concatenate([d + 0.01 * rng.normal(size=(10, 3)) for d in dirs])
    _, labels = D.spherical_kmeans(z, 3, seed=0)
    assert {frozenset(np.flatnonzero(labels == j)) for j in range(3)} == {
        frozenset(range(10 * g, 10 * g + 10)) for g in range(3)
    }


def test_quotas_are_the_qp_solution_by_brute_force():
    """Among all integer vectors in the box summing to N, the quotas are nearest to P·N (up to rounding)."""
    rng = np.random.default_rng(5)
    for _ in range(20):
        sizes = rng.integers(1, 7, size=3)
        total = int(rng.integers(sizes.size, sizes.sum() + 1))
        p = rng.dirichlet(np.ones(3))
        q = D.cluster_quotas(p, sizes, total)
        lo = np.minimum(1, sizes - 1)
        feasible = [
            np.array(x)
            for x in itertools.product(*[range(a, b + 1) for a, b in zip(lo, sizes)])
            if sum(x) == total
        ]
        best = min(np.sum((x - p * total) ** 2) for x in feasible)
        assert q.sum() == total and np.all(q >= lo) and np.all(q <= sizes)
        # largest-remainder rounding of the continuous projection: within one unit per cluster of the optimum
        assert np.sum((q - p * total) ** 2) <= best + 3 * 1.0 + 1e-9


def test_minimum_zero_meets_a_budget_below_the_number_of_clusters():
    p = np.array([0.7, 0.2, 0.1])
    np.testing.assert_array_equal(D.cluster_quotas(p, np.array([5, 5, 5]), 1, minimum=0), [1, 0, 0])
    with pytest.raises(ValueError, match="total"):
        D.cluster_quotas(p, np.array([5, 5, 5]), 1)  # the official lower bound of one per cluster
    with pytest.raises(ValueError, match="minimum"):
        D.cluster_quotas(p, np.array([5, 5, 5]), 3, minimum=-1)


def test_uniform_density_and_high_temperature_agree():
    rng = np.random.default_rng(2)
    z = rng.normal(size=(60, 5))
    a, ia = D.dbp_select(z, 20, k=4, seed=0, density="uniform", num_neighbors=2)
    b, ib = D.dbp_select(z, 20, k=4, seed=0, temperature=1e9, num_neighbors=2)
    np.testing.assert_array_equal(ia["quotas"], ib["quotas"])
    np.testing.assert_array_equal(a, b)
    assert len(a) == 20 and np.all(np.diff(a) > 0)


def test_dbp_shifts_budget_away_from_a_dense_cluster():
    rng = np.random.default_rng(4)
    tight = np.array([1.0, 0, 0]) + 0.01 * rng.normal(size=(50, 3))
    wide = np.array([0, 1.0, 0]) + 0.4 * rng.normal(size=(50, 3))
    z = np.concatenate([tight, wide])
    keep, info = D.dbp_select(z, 30, k=2, seed=0, temperature=0.05, num_neighbors=1)
    assert np.sum(keep < 50) < np.sum(keep >= 50)
    assert np.sum(D.ssp_select(z, 30, k=2, seed=0) < 50) < 15


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match="temperature"):
        D.cluster_probabilities([0.1, 0.2], 0.0)
    with pytest.raises(ValueError, match="total"):
        D.cluster_quotas([0.5, 0.5], [3, 3], 7)
    with pytest.raises(ValueError, match="k"):
        D.spherical_kmeans(np.ones((3, 2)), 4, seed=0)
    with pytest.raises(ValueError, match="num_neighbors"):
        D.cluster_geometry(np.eye(2), [0, 1], np.eye(2), num_neighbors=2)
    with pytest.raises(ValueError, match="density"):
        D.dbp_select(np.eye(3), 2, k=2, seed=0, density="size")
    with pytest.raises(ValueError, match="z"):
        D.normalize(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="quotas"):
        D.keep_least_prototypical([0.1, 0.2], [0, 0], [3])


def test_quick_run(quick_result):
    r = quick_result(SLUG)
    assert r.quick and set(r.seeds) == {0, 1}
    assert np.allclose(r.values("random keep 0.3", "redundant_kept"), 0.4, atol=0.05)
    # at equal size, the complexity quota keeps fewer near-copies than equal shares on every seed
    assert np.all(
        np.asarray(r.values("DBP keep 0.3", "redundant_kept"))
        < np.asarray(r.values("uniform quota keep 0.3", "redundant_kept"))
    )


def test_recorded_claims():
    from refimpl.experiments.stats import mean_interval

    assert freshness(SLUG) == "fresh"
    r = recorded(SLUG)

    def gap(a, b, metric="test_accuracy"):
        return mean_interval(np.subtract(r.values(a, metric), r.values(b, metric)))

    # the premise, re-measured from the record: on every seed the planted clusters rank lower in C
    assert np.min(r.values("DBP keep 0.3", "complexity_auc")) > 0.75
    # the mechanism works: at keep 30 % the complexity quota keeps at least 5 points fewer near-copies than
    # equal shares (the whole interval)
    assert gap("DBP keep 0.3", "uniform quota keep 0.3", "redundant_kept").high < -0.05
    # the measured contradiction with the paper's claim: fewer near-copies do not buy test accuracy over the
    # equal-share ablation — at keep 30 % DBP is worse (whole interval below 0; before the grids were
    # widened it was keep 50 %), and at keep 50 % it gains less than half a point (interval's high end)
    assert gap("DBP keep 0.3", "uniform quota keep 0.3").high < 0.0
    assert gap("DBP keep 0.5", "uniform quota keep 0.5").high < 0.005
    # nor over global SSP-Pruning at keep 30 % (less than one and a half points at the interval's high end)
    assert gap("DBP keep 0.3", "SSP global keep 0.3").high < 0.015
    # what does hold: DBP beats random pruning at keep 30 % (the whole interval above 0)
    assert gap("DBP keep 0.3", "random keep 0.3").low > 0.0
