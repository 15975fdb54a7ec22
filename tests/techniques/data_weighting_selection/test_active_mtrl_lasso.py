"""Active MTRL via LASSO (arXiv 2306.02556): hand cases, the LASSO's KKT conditions on a random design,
the LP relevance against brute force over supports, the complexity ordering, the representation ERM on
noiseless data, errors naming the argument, the quick run, and the claims on the recorded full result.
No custom backward (closed-form least squares and coordinate descent in NumPy), so no gradcheck."""

import itertools

import numpy as np
import pytest

from refimpl.experiments import freshness, recorded
from refimpl.experiments.stats import paired_interval
from refimpl.techniques.data_weighting_selection import active_mtrl_lasso as A
from refimpl.techniques.data_weighting_selection.active_mtrl_lasso.cases import reference_cases

SLUG = "active-mtrl-lasso"


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


@pytest.mark.parametrize("lam", [0.01, 0.1, 0.5])
def test_lasso_satisfies_kkt_on_a_correlated_design(lam):
    rng = np.random.default_rng(0)
    Z = rng.normal(size=(30, 8)) @ (np.eye(8) + 0.5 * rng.normal(size=(8, 8)))
    y = rng.normal(size=30)
    nu = A.lasso(Z, y, lam, iters=5000, tol=1e-13)
    g = Z.T @ (y - Z @ nu) / 30  # KKT: g_j = λ sign ν_j on the support, |g_j| ≤ λ off it
    on = nu != 0
    np.testing.assert_allclose(g[on], lam * np.sign(nu[on]), atol=1e-7)
    assert np.all(np.abs(g[~on]) <= lam + 1e-7)


def test_min_l1_relevance_matches_brute_force_over_supports():
    rng = np.random.default_rng(1)
    W = rng.normal(size=(3, 7))
    w0 = W @ np.array([1.0, 0, 0, -0.5, 0, 0, 0.2])
    best = np.inf
    for S in itertools.combinations(range(7), 3):  # a basic solution has ≤ k = 3 non-zeros
        sol = np.linalg.solve(W[:, S], w0)
        best = min(best, np.abs(sol).sum())
    nu1 = A.min_l1_relevance(W, w0)
    np.testing.assert_allclose(W @ nu1, w0, atol=1e-9)
    np.testing.assert_allclose(np.abs(nu1).sum(), best, rtol=1e-8)
    nu2 = A.min_l2_relevance(W, w0)
    assert np.linalg.norm(nu2) <= np.linalg.norm(nu1) + 1e-12


def test_complexity_ordering_and_l1_optimality():
    rng = np.random.default_rng(2)
    for _ in range(20):
        nu = rng.normal(size=10) * (rng.random(10) < 0.5)
        if not nu.any():
            continue
        c = {s: A.complexity(nu, s) for s in A.STRATEGIES}
        assert c["l1"] <= c["l2"] + 1e-12 <= c["uniform"] + 2e-12
        # ∝|ν| minimises Σ ν²/p over the simplex: random proportions never do better
        p = rng.dirichlet(np.ones(10))
        assert (nu**2 / p).sum() >= c["l1"] - 1e-12


@pytest.mark.parametrize("strategy", ["l1", "l2", "uniform"])
def test_allocate_sums_to_budget(strategy):
    n = A.allocate(np.array([0.3, -0.2, 0.0, 0.05, 1.0]), 101, strategy)
    assert n.sum() == 101 and n.dtype.kind == "i" and (n >= 0).all()


def test_select_by_relevance_is_a_valid_deterministic_subset():
    rng = np.random.default_rng(4)
    s, y = rng.random(60), rng.integers(0, 5, 60)
    a = A.select_by_relevance(s, y, 25, seed=7)
    assert len(a) == 25 and len(np.unique(a)) == 25 and (np.diff(a) > 0).all()
    np.testing.assert_array_equal(a, A.select_by_relevance(s, y, 25, seed=7))
    # a group of zero relevance gets nothing while the others have room
    s2 = np.where(y == 0, 0.0, 1.0)
    assert not np.isin(A.select_by_relevance(s2, y, 20, seed=0), np.flatnonzero(y == 0)).any()
    with pytest.raises(ValueError, match="budget must"):
        A.select_by_relevance(s, y, 61, seed=0)
    with pytest.raises(ValueError, match="groups must"):
        A.select_by_relevance(s, y[:-1], 5, seed=0)


def test_mtrl_erm_recovers_the_subspace_without_noise():
    rng = np.random.default_rng(3)
    d, k, M = 12, 3, 8
    B = np.linalg.qr(rng.normal(size=(d, k)))[0]
    W = rng.normal(size=(k, M))
    Xs = [rng.normal(size=(10, d)) for _ in range(M)]
    ys = [X @ B @ W[:, m] for m, X in enumerate(Xs)]
    Bh, Wh = A.mtrl_erm(Xs, ys, k, iters=300)
    np.testing.assert_allclose(Bh.T @ Bh, np.eye(k), atol=1e-10)
    np.testing.assert_allclose(Bh @ Bh.T @ B, B, atol=1e-6)  # span B̂ = span B
    np.testing.assert_allclose(Bh @ Wh, B @ W, atol=1e-6)


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match="lam must"):
        A.lasso(np.eye(2), np.zeros(2), -1.0)
    with pytest.raises(ValueError, match="y must"):
        A.lasso(np.eye(2), np.zeros(3), 0.1)
    with pytest.raises(ValueError, match="alpha must"):
        A.ridge(np.eye(2), np.zeros(2), 0.0)
    with pytest.raises(ValueError, match="strategy must"):
        A.proportions(np.ones(3), "l3")
    with pytest.raises(ValueError, match="budget must"):
        A.allocate(np.ones(3), 2.5, "l1")
    with pytest.raises(ValueError, match="nu must"):
        A.proportions(np.ones((2, 2)), "l1")
    with pytest.raises(ValueError, match="k must"):
        A.mtrl_erm([np.zeros((3, 4))], [np.zeros(3)], 5)
    with pytest.raises(ValueError, match="t must"):
        A.soft_threshold(1.0, -1.0)


def test_quick_run(quick_result):
    r = quick_result(SLUG)
    assert r.quick and set(r.seeds) == {0, 1}
    for m in r.methods:
        assert np.isfinite(r.values(m, "ln_risk")).all()
    # the premises are measured on every seed: ν¹ has at most k non-zeros (a basic LP solution)
    assert max(r.values(r.methods[0], "nnz_nu1")) <= 4


def test_recorded_claims():
    assert freshness(SLUG) == "fresh"
    r = recorded(SLUG)
    assert len(r.seeds) >= 20
    l1, l2, uni = r.methods
    v = {m: np.asarray(r.values(m, "ln_risk")) for m in r.methods}
    # premises from the record: ν¹ sparse enough that the oracle ℓ1/ℓ2 complexity ratio is below ½ on
    # average, and the sources share a k-dim representation
    assert np.mean(r.values(l1, "ln_oracle_ratio")) < np.log(0.5)
    assert min(r.values(l1, "topk_energy")) > 0.9
    # the paper's distinguishing claim: at N = 3200 the LASSO/|ν| rule beats the ν² rule of Chen et al.
    assert paired_interval(v[l1], v[l2]).high < 0.0
    # and beats passive uniform sampling
    assert paired_interval(v[l1], v[uni]).high < 0.0
    # the ℓ1 rule puts more of the budget on the sources in the support of ν* than the ν² rule
    assert np.mean(r.values(l1, "support_share")) > np.mean(r.values(l2, "support_share"))
