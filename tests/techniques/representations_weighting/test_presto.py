"""PRESTO: reference cases (hand values and closed-form MLEs), the likelihood's gradient against finite
differences, the optimality (KKT) conditions of a penalised fit, the limits of λ, the simulation model, the
quick run's code path and the recorded full result."""

import numpy as np
import pytest

from refimpl.experiments import freshness, recorded
from refimpl.techniques.representations_weighting import presto as P
from refimpl.techniques.representations_weighting.presto.cases import reference_cases

SLUG = "presto"


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


def _data(n=300, seed=0):
    return P.simulate_sparse_differences(n, 4, [0.0, 1.0, 2.0], seed=seed, dev_prob=0.5)


def test_likelihood_gradient_matches_finite_differences_in_float64():
    d = _data(60)
    rng = np.random.default_rng(1)
    a, s = np.array([-0.2, 1.1, 2.3]), rng.normal(0, 0.3, (4, 3))
    _, ga, gs = P.negative_log_likelihood(d["X"], d["y"], a, s)
    eps = 1e-6

    def f(a_, s_):
        return P.negative_log_likelihood(d["X"], d["y"], a_, s_)[0]

    num_a = [(f(a + eps * e, s) - f(a - eps * e, s)) / (2 * eps) for e in np.eye(3)]
    num_s = np.zeros_like(s)
    for idx in np.ndindex(s.shape):
        e = np.zeros_like(s)
        e[idx] = eps
        num_s[idx] = (f(a, s + e) - f(a, s - e)) / (2 * eps)
    np.testing.assert_allclose(ga, num_a, atol=1e-7)
    np.testing.assert_allclose(gs, num_s, atol=1e-7)


def test_penalised_fit_satisfies_the_lasso_optimality_conditions():
    d, lam = _data(), 0.02
    fit = P.fit_ordinal(d["X"], d["y"], 4, lam, tol=1e-14, max_iter=20000)
    psi = P.differences_from_betas(fit.beta)
    _, ga, gs = P.negative_log_likelihood(d["X"], d["y"], fit.alpha, psi)
    np.testing.assert_allclose(ga, 0, atol=1e-5)  # intercepts unpenalised
    nz = np.abs(psi) > 1e-8
    assert nz.any() and (~nz).any()
    np.testing.assert_allclose(gs[nz], -lam * np.sign(psi[nz]), atol=1e-5)
    assert np.all(np.abs(gs[~nz]) <= lam + 1e-5)


def test_lambda_limits_proportional_odds_and_the_null_model():
    d = _data()
    po = P.fit_ordinal(d["X"], d["y"], 4, 0.0, proportional=True)
    assert np.allclose(po.beta, po.beta[:, :1])  # one shared weight vector
    big = P.fit_ordinal(d["X"], d["y"], 4, 10.0)
    np.testing.assert_array_equal(big.beta, 0.0)  # everything shrunk: the marginal model
    cum = np.cumsum(np.bincount(d["y"], minlength=4))[:-1] / len(d["y"])
    np.testing.assert_allclose(big.alpha, np.log(cum / (1 - cum)), atol=1e-5)


def test_simulation_follows_the_official_sparse_differences_model():
    d = P.simulate_sparse_differences(4000, 10, [0.0, 3.0, 5.0], seed=3)
    B = d["beta"]
    assert set(np.unique(B[:, 0])) <= {0.0, 1.0}  # base weights 1, kept with probability dev_prob
    assert set(np.unique(np.abs(np.diff(B, axis=1)))) <= {0.0, 0.5}  # differences ±0.5 or 0
    assert np.all(d["probs"] >= 0) and np.allclose(d["probs"].sum(1), 1)
    assert 0.001 < np.mean(d["y"] == 3) < 0.05  # the top category is rare
    emp = np.bincount(d["y"], minlength=4) / len(d["y"])
    np.testing.assert_allclose(emp, d["probs"].mean(0), atol=0.02)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="`lam`"):
        P.fit_ordinal(np.zeros((3, 1)), np.array([0, 1, 2]), 3, -1.0)
    with pytest.raises(ValueError, match="`y`"):
        P.fit_ordinal(np.zeros((3, 1)), np.array([0, 1, 5]), 3, 0.1)
    with pytest.raises(ValueError, match="`intercepts`"):
        P.simulate_sparse_differences(10, 2, [3.0, 0.0], seed=0)


def test_quick_run_is_a_smoke_run_with_every_arm(quick_result):
    r = quick_result(SLUG)
    assert r.smoke and {row["method"] for row in r.table} == {"PRESTO", "proportional odds", "logistic"}


def full():
    assert freshness(SLUG) == "fresh", f"run `refimpl record {SLUG}`"
    return recorded(SLUG)


def test_full_run_premises_are_present():
    assert all(p["present"] for p in full().premises)


def test_full_run_claims_are_judged_on_twenty_seeds():
    r = full()
    assert len(r.seeds) == 20
    assert all(c["interval"]["n"] == 20 for c in r.claims)


def test_full_run_lambda_grid_brackets_the_choices():
    """λ is chosen per seed inside each arm (the harness sees no grid): its top value must be rare."""
    r = full()
    top = len(r.notes["lambdas"]) - 1
    assert (np.asarray(r.arrays["lambda_index"]) == top).mean(axis=1).max() <= 0.1
