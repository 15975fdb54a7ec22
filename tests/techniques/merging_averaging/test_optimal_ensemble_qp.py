"""Optimally weighted regression ensembles by QP (Echtenbruck et al., 2022; arXiv 2206.11263): hand cases,
the active-set solver against support enumeration, the quick run's code path, and the paper's claim on
the recorded full result (several data sets × seeds)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from refimpl.experiments import freshness, recorded
from refimpl.techniques.merging_averaging import optimal_ensemble_qp as oe
from refimpl.techniques.merging_averaging.optimal_ensemble_qp.cases import reference_cases

SLUG = "optimal-ensemble-qp"


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


@settings(deadline=None, max_examples=40)
@given(seed=st.integers(0, 100_000), m=st.integers(1, 6), rank=st.integers(1, 6))
def test_active_set_equals_support_enumeration(seed, m, rank):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((rank, m))
    H = A.T @ A  # PSD, singular when rank < m
    g = rng.standard_normal(m)
    w = oe.simplex_qp(H, g)
    wb = oe.simplex_qp_bruteforce(H, g)
    f = lambda v: 0.5 * v @ H @ v + g @ v  # noqa: E731
    assert w.min() >= 0 and w.sum() == pytest.approx(1.0)
    assert f(w) <= f(wb) + 1e-8 * max(1.0, np.abs(H).max())
    # KKT: on the support the gradient is constant ν; elsewhere it is ≥ ν
    grad = H @ w + g
    nu = grad[w > 1e-9].mean()
    assert np.all(grad >= nu - 1e-7)


def test_data_weights_equal_duplicated_rows():
    rng = np.random.default_rng(0)
    P, y = rng.standard_normal((8, 3)), rng.standard_normal(8)
    d = np.array([1, 2, 1, 3, 1, 1, 2, 1])
    w_weighted = oe.ensemble_weights(P, y, d)
    w_dup = oe.ensemble_weights(np.repeat(P, d, axis=0), np.repeat(y, d))
    np.testing.assert_allclose(w_weighted, w_dup, atol=1e-9)


def test_never_worse_than_best_single_on_fit_data():
    rng = np.random.default_rng(1)
    P, y = rng.standard_normal((30, 5)), rng.standard_normal(30)
    w = oe.ensemble_weights(P, y)
    assert oe.ensemble_mse(P, y, w) <= np.min(np.mean((P - y[:, None]) ** 2, axis=0)) + 1e-12


def test_family_contract_one_and_identical_models():
    P = np.array([[1.0], [2.0], [4.0]])
    y = np.array([0.0, 1.0, 1.0])
    np.testing.assert_array_equal(oe.ensemble_weights(P, y), [1.0])
    P3 = np.repeat(P, 3, axis=1)  # identical models: any convex weights give the same predictions
    w = oe.ensemble_weights(P3, y)
    assert w.sum() == pytest.approx(1.0) and w.min() >= 0
    np.testing.assert_allclose(P3 @ w, P[:, 0], atol=1e-12)


def test_bad_inputs():
    with pytest.raises(ValueError, match="P"):
        oe.ensemble_weights(np.zeros(3), np.zeros(3))
    with pytest.raises(ValueError, match="d"):
        oe.ensemble_weights(np.zeros((3, 2)), np.zeros(3), d=-np.ones(3))
    with pytest.raises(ValueError, match="H"):
        oe.simplex_qp(np.zeros((2, 3)), np.zeros(2))


def test_weights_minimise_the_objective_against_random_simplex_points():
    """(1) directly: no random point of the simplex has a lower (data-weighted) squared error."""
    rng = np.random.default_rng(2)
    P, y, d = rng.standard_normal((40, 4)), rng.standard_normal(40), rng.uniform(0, 2, 40)
    w = oe.ensemble_weights(P, y, d)
    best = oe.ensemble_mse(P, y, w, d)
    for v in rng.dirichlet(np.ones(4), size=500):
        assert best <= oe.ensemble_mse(P, y, v, d) + 1e-12


def test_quick_run_code_path(quick_result):
    r = quick_result(SLUG)
    r.validate()
    assert r.smoke
    assert {p["metric"] for p in r.premises} == {"complementarity"}
    w = r.arrays["weights"]  # (base, unit): convex weights
    assert w.shape == (len(r.notes["bases"]), len(r.seeds))
    np.testing.assert_allclose(w.sum(0), 1.0, atol=1e-9)
    assert w.min() >= 0
    for b in ("selection", "uniform"):
        rates = r.notes[f"rates_vs_{b}"]
        assert sum(rates.values()) == pytest.approx(1.0)


def full():
    assert freshness(SLUG) == "fresh", f"run `refimpl record {SLUG}`"
    return recorded(SLUG)


def test_full_run_premise_models_complementary_and_differently_misspecified():
    """The oracle convex combination on test beats the best single model by well over 5 % on average, and
    the best base model on test is not the same on every data set."""
    r = full()
    p = r.premises[0]
    assert p["present"] and p["interval"]["mean"] > 0.08, p["interval"]
    best = np.argmin(r.arrays["base_test_nmse"], axis=0)
    assert len(set(best.tolist())) >= 2, best


def test_full_run_qp_vs_model_selection_is_inconclusive():
    """The paper's claim (abstract): the weighted ensemble outperforms model selection on a range of data
    sets.  QP wins (by > 1 %) on most units, but the few losses are large: after the learning-rate grid was
    widened (every arm's choice inside its grid) the paired interval of test NMSE straddles 0.  It held
    (interval below −0.006) while model selection's rate sat at the grid's lowest value."""
    r = full()
    claim = r.claim("The QP-weighted ensemble has lower test NMSE than the single model")
    iv = claim["interval"]
    assert claim["verdict"] == "inconclusive" and iv["mean"] < 0 < iv["high"], iv
    rates = r.notes["rates_vs_selection"]
    assert rates["win"] >= 0.6 and rates["loss"] <= 0.25, rates


def test_full_run_qp_vs_the_uniform_average_is_inconclusive():
    """As above: QP wins on most units, the interval straddles 0 after the grid widening (it held before)."""
    r = full()
    claim = r.claim("The QP-weighted ensemble has lower test NMSE than the uniform average")
    iv = claim["interval"]
    assert claim["verdict"] == "inconclusive" and iv["mean"] < 0 < iv["high"], iv
    assert r.notes["rates_vs_uniform"]["win"] >= 0.6, r.notes["rates_vs_uniform"]
