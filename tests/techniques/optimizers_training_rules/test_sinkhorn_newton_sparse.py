"""Sinkhorn-Newton-Sparse: the reference cases, the potential's derivatives by finite differences (with a
wrong-Hessian control), Sinkhorn as exact block maximisation, Sparsify and the sparse Hessian-vector product,
the Numba kernels against their NumPy twins, input errors, the quick run's code path, and the paper's claims
on the recorded full result."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from refimpl.experiments import freshness, recorded
from refimpl.techniques.optimizers_training_rules import sinkhorn_newton_sparse as S
from refimpl.techniques.optimizers_training_rules.sinkhorn_newton_sparse import experiment as E
from refimpl.techniques.optimizers_training_rules.sinkhorn_newton_sparse.cases import (
    reference_cases,
    two_by_two_plan,
)

SLUG = "sinkhorn-newton-sparse"


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


def _random_problem(n, m, seed):
    rng = np.random.default_rng(seed)
    C = rng.uniform(0, 1, (n, m))
    r, c = rng.uniform(0.5, 1.5, n), rng.uniform(0.5, 1.5, m)
    return C, r / r.sum(), c / c.sum()


def _fd_hessian(C, r, c, eta, x, y, h=1e-6):
    """Central differences of the gradient, column by column."""
    n = len(x)
    z = np.r_[x, y]

    def grad(z):
        gx, gy = S.gradient(S.plan(C, z[:n], z[n:], eta), r, c)
        return np.r_[gx, gy]

    cols = []
    for k in range(len(z)):
        e = np.zeros_like(z)
        e[k] = h
        cols.append((grad(z + e) - grad(z - e)) / (2 * h))
    return np.array(cols).T


def test_gradient_and_hessian_match_finite_differences_float64():
    C, r, c = _random_problem(3, 4, 0)
    rng = np.random.default_rng(1)
    eta = 2.5
    x, y = rng.normal(0, 0.3, 3), rng.normal(0, 0.3, 4)
    z = np.r_[x, y]
    f = lambda z: S.lyapunov(C, r, c, eta, z[:3], z[3:])  # noqa: E731
    g_fd = np.array([(f(z + h) - f(z - h)) / 2e-6 for h in np.eye(7) * 1e-6])
    gx, gy = S.gradient(S.plan(C, x, y, eta), r, c)
    np.testing.assert_allclose(np.r_[gx, gy], g_fd, rtol=1e-6, atol=1e-9)
    H = S.hessian(S.plan(C, x, y, eta), eta)
    np.testing.assert_allclose(H, _fd_hessian(C, r, c, eta, x, y), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(H, H.T)
    assert np.linalg.eigvalsh(H).max() < 1e-12  # concave
    null = np.r_[np.ones(3), -np.ones(4)]
    np.testing.assert_allclose(H @ null, 0, atol=1e-12)  # the gauge (x + t, y − t)


def test_a_wrong_hessian_fails_the_same_check():
    """Dropping the off-diagonal block P (a Sinkhorn-like diagonal model) is caught by the finite differences."""
    C, r, c = _random_problem(3, 4, 2)
    x, y, eta = np.zeros(3), np.zeros(4), 2.0
    P = S.plan(C, x, y, eta)
    wrong = S.hessian(P, eta)
    wrong[:3, 3:] = wrong[3:, :3] = 0
    assert np.abs(wrong - _fd_hessian(C, r, c, eta, x, y)).max() > 1e-3


def test_lyapunov_increment_equals_the_difference_and_resolves_tiny_steps():
    C, r, c = _random_problem(4, 5, 3)
    rng = np.random.default_rng(4)
    eta = 3.0
    x, y = rng.normal(0, 0.2, 4), rng.normal(0, 0.2, 5)
    P = S.plan(C, x, y, eta)
    dx, dy = rng.normal(0, 0.1, 4), rng.normal(0, 0.1, 5)
    diff = S.lyapunov(C, r, c, eta, x + dx, y + dy) - S.lyapunov(C, r, c, eta, x, y)
    np.testing.assert_allclose(S.lyapunov_increment(P, r, c, eta, dx, dy), diff, rtol=1e-10)
    # a step of 1e-9 along the gradient: the increase ≈ 1e-9‖∇f‖², far below f's rounding, yet resolved
    gx, gy = S.gradient(P, r, c)
    t = 1e-9
    inc = S.lyapunov_increment(P, r, c, eta, t * gx, t * gy)
    lin = t * (gx @ gx + gy @ gy)
    assert inc > 0 and abs(inc - lin) < 1e-3 * lin


def test_sinkhorn_half_steps_are_exact_block_maximisations():
    C, r, c = _random_problem(5, 6, 5)
    eta = 20.0
    y = np.random.default_rng(6).normal(0, 0.1, 6)
    x = S.scale_rows(C, eta, y, np.log(r))
    gx, _ = S.gradient(S.plan(C, x, y, eta), r, c)
    np.testing.assert_allclose(gx, 0, atol=1e-15)
    x, y = S.sinkhorn_step(C, np.ascontiguousarray(C.T), eta, x, y, np.log(r), np.log(c))
    _, gy = S.gradient(S.plan(C, x, y, eta), r, c)
    np.testing.assert_allclose(gy, 0, atol=1e-15)


def test_sinkhorn_increases_the_potential_monotonically():
    C, r, c = _random_problem(6, 6, 7)
    eta = 30.0
    x, y = np.zeros(6), np.zeros(6)
    CT, lr, lc = np.ascontiguousarray(C.T), np.log(r), np.log(c)
    f = [S.lyapunov(C, r, c, eta, x, y)]
    for _ in range(30):
        x, y = S.sinkhorn_step(C, CT, eta, x, y, lr, lc)
        f.append(S.lyapunov(C, r, c, eta, x, y))
    assert np.all(np.diff(f) >= -1e-15)


@settings(deadline=None, max_examples=25)
@given(st.integers(0, 10_000), st.integers(2, 7), st.integers(2, 7), st.floats(0.05, 1.0))
def test_sparsify_keeps_the_largest_entries_and_minus_M_is_psd(seed, n, m, lam):
    rng = np.random.default_rng(seed)
    P = rng.exponential(1.0, (n, m)) ** 3
    rows, cols, vals = S.sparsify(P, lam)
    k = math.ceil(lam * n * m - 1e-9)
    assert len(vals) == max(1, k)
    np.testing.assert_array_equal(vals, P[rows, cols])
    dropped = np.ones_like(P, dtype=bool)
    dropped[rows, cols] = False
    if dropped.any():
        assert P[dropped].max() <= vals.min()
    # −M as a dense matrix from the sparse product: symmetric, PSD (diagonally dominant)
    eye = np.eye(n + m)
    M = np.array(
        [np.concatenate(S.sparse_hvp(rows, cols, vals, P.sum(1), P.sum(0), 1.5, e[:n], e[n:])) for e in eye]
    ).T
    np.testing.assert_allclose(M, M.T, atol=1e-12)
    assert np.linalg.eigvalsh(M).min() > -1e-10


def test_sparse_hvp_with_everything_kept_is_minus_the_dense_hessian():
    C, r, c = _random_problem(4, 3, 8)
    P = S.plan(C, np.zeros(4), np.zeros(3), 2.0)
    rows, cols, vals = S.sparsify(P, 1.0)
    u, v = np.arange(4.0), -np.arange(3.0)
    got = np.concatenate(S.sparse_hvp(rows, cols, vals, P.sum(1), P.sum(0), 2.0, u, v))
    np.testing.assert_allclose(got, -S.hessian(P, 2.0) @ np.r_[u, v], rtol=1e-13)


def test_conjugate_gradient_solves_an_spd_system():
    rng = np.random.default_rng(9)
    A = rng.normal(size=(6, 6))
    A = A @ A.T + 6 * np.eye(6)
    b = rng.normal(size=6)
    s, used = S.conjugate_gradient(lambda d: A @ d, b, np.diag(A).copy(), 1e-12, 50)
    np.testing.assert_allclose(A @ s, b, atol=1e-9)
    assert 1 <= used <= 50


def test_sns_dense_and_sparse_land_on_sinkhorns_plan():
    C, r, c = E.problem("cloud", 20, 3)
    eta = 100.0
    ref = S.sinkhorn(C, r, c, eta, tol=1e-13, max_iter=50_000)
    P_ref = S.plan(C, ref.x, ref.y, eta)
    for lam in (1.0, 8 / 20):
        s = S.sns(C, r, c, eta, n_sinkhorn=20, lam=lam, tol=1e-13)
        assert s.reached(1e-13), (lam, s.errors[-1])
        np.testing.assert_allclose(S.plan(C, s.x, s.y, eta), P_ref, atol=1e-12)
        assert s.costs == sorted(s.costs) and len(s.costs) == len(s.errors)


def test_two_by_two_closed_form_is_a_valid_plan():
    P = two_by_two_plan(0.3, 0.6, 1.0)
    np.testing.assert_allclose(P.sum(1), [0.3, 0.7])
    np.testing.assert_allclose(P.sum(0), [0.6, 0.4])
    np.testing.assert_allclose(P[0, 0] * P[1, 1] / (P[0, 1] * P[1, 0]), math.exp(2.0))


def test_numba_kernels_equal_numpy_twins():
    pytest.importorskip("numba")
    from refimpl.techniques.optimizers_training_rules.sinkhorn_newton_sparse import _kernels as K

    rng = np.random.default_rng(10)
    C = rng.uniform(0, 1, (7, 9))
    y, log_r = rng.normal(0, 0.1, 9), np.log(rng.uniform(0.05, 0.2, 7))
    a, b = np.empty(7), np.empty(7)
    K.scale_rows(C, 300.0, y, log_r, a)
    S._scale_rows_numpy(C, 300.0, y, log_r, b)
    np.testing.assert_allclose(a, b, rtol=1e-14, atol=1e-16)
    P = rng.exponential(1.0, (7, 9))
    rows, cols, vals = S.sparsify(P, 0.3)
    u, v = rng.normal(size=7), rng.normal(size=9)
    pu, pv, qu, qv = np.empty(7), np.empty(9), np.empty(7), np.empty(9)
    K.sparse_hvp(rows, cols, vals, u, v, pu, pv)
    S._sparse_hvp_numpy(rows, cols, vals, u, v, qu, qv)
    np.testing.assert_allclose(pu, qu, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(pv, qv, rtol=1e-14, atol=1e-15)


def test_the_switch_selects_the_twins_and_the_solver_agrees():
    C, r, c = E.problem("grid", 24, 1)
    runs = {}
    try:
        for name in ("numpy", "auto"):
            S.kernel_backend(name)
            s = S.sns(C, r, c, 300.0, n_sinkhorn=10, lam=8 / 24, tol=1e-11)
            runs[name] = (S.plan(C, s.x, s.y, 300.0), s.iterations)
        assert S.kernel_backend() in ("numba", "numpy")
    finally:
        S.kernel_backend("auto")
    np.testing.assert_allclose(runs["numpy"][0], runs["auto"][0], atol=1e-12)
    assert runs["numpy"][1] == runs["auto"][1]


def test_bad_input_names_the_argument():
    C, r, c = _random_problem(3, 3, 11)
    with pytest.raises(ValueError, match="eta"):
        S.sinkhorn(C, r, c, 0.0, tol=1e-9, max_iter=10)
    with pytest.raises(ValueError, match="lam"):
        S.sns(C, r, c, 1.0, n_sinkhorn=1, lam=0.0, tol=1e-9)
    with pytest.raises(ValueError, match="lam"):
        S.sparsify(np.ones((2, 2)), 1.5)
    with pytest.raises(ValueError, match="r must have shape"):
        S.sinkhorn(C, r[:2], c, 1.0, tol=1e-9, max_iter=10)
    with pytest.raises(ValueError, match="strictly positive"):
        S.sinkhorn(C, np.r_[0.0, 0.5, 0.5], c, 1.0, tol=1e-9, max_iter=10)
    with pytest.raises(ValueError, match="same mass"):
        S.sinkhorn(C, r * 2, c, 1.0, tol=1e-9, max_iter=10)
    with pytest.raises(ValueError, match="n_sinkhorn"):
        S.sns(C, r, c, 1.0, n_sinkhorn=-1, lam=0.5, tol=1e-9)
    with pytest.raises(ValueError, match="kind"):
        E.problem("torus", 5, 0)


def test_quick_run_code_path(quick_result):
    r = quick_result(SLUG)
    r.validate()
    assert set(r.selected) == {"SNS", "dense Newton", "Sinkhorn"}
    assert [p["metric"] for p in r.premises] == ["test_log10_iters_eta1000", "kept_mass_eta1000"]
    assert all(isinstance(p["present"], bool) for p in r.premises)
    its = r.arrays["log10_iters|Sinkhorn"]
    assert its.shape == (len(r.notes["etas"]), len(r.seeds))
    for kind in r.notes["kinds"]:
        err = r.arrays[f"err|{kind}|SNS"]
        assert err[-1] <= r.notes["tol"] < err[0]


# --- the paper's claims on the recorded full result ------------------------------------------------------
def full():
    assert freshness(SLUG) == "fresh", f"run `refimpl record {SLUG}`"
    return recorded(SLUG)


def test_full_run_premises_present_and_every_problem_solved():
    r = full()
    assert all(p["present"] for p in r.premises), [p["statement"] for p in r.premises if not p["present"]]
    for method in r.selected:
        for eta in r.notes["etas"]:
            assert min(r.values(method, f"reached_eta{eta:g}")) == 1.0, (method, eta)
    assert r.grid_edges() == []


def test_full_run_sns_needs_orders_of_magnitude_fewer_iterations_than_sinkhorn():
    """The paper's headline: at η = 1000 the whole 95 % interval of log10(SNS iterations / Sinkhorn iterations)
    lies below −1.5 (over 30× fewer), and the passes over the plan below −0.9 (about 8× fewer)."""
    r = full()
    iv = r.claim("SNS reaches the tolerance in at least 10× fewer total iterations than Sinkhorn (η = 1000)")
    assert iv["interval"]["high"] < -1.5, iv["interval"]
    iv = r.claim("SNS needs at least 3× fewer passes over the plan than Sinkhorn (η = 1000)")
    assert iv["interval"]["high"] < -0.9, iv["interval"]


def test_full_run_sparse_newton_converges_like_dense_newton_at_lower_cost_but_only_just():
    """Sparse and dense Newton take the same number of Newton steps within 20 % (|log10 ratio| < 0.08), and
    SNS is cheaper — but by a factor close to the claimed 2 (interval inside (−0.4, −0.3)): the validation
    chose κ = 32 of n = 80 (40 % of the plan kept), far from the paper's 2/n."""
    r = full()
    its = r.claim(
        "sparsifying the Hessian costs little convergence: SNS takes at most 2× the Newton iterations of "
        "dense Newton (η = 1000)"
    )["interval"]
    assert -0.08 < its["low"] and its["high"] < 0.08, its
    cheaper = r.claim("SNS needs at least 2× fewer passes over the plan than dense Newton (η = 1000)")
    cost = cheaper["interval"]
    assert -0.4 < cost["low"] and cost["high"] < -0.301, cost
    assert r.selected["SNS"]["kappa"] / r.notes["n"] > 0.2


def test_full_run_the_papers_sparsity_level_is_too_sparse_for_these_problems():
    """Diagnostic from the validation scores: keeping κ = 2 entries per row (the paper's λ = 2/n) is the worst
    SNS setting here, more than a decade of passes above the selected one (it often fails to reach the
    tolerance in 100 Newton steps)."""
    r = full()
    best = {}
    for row in r.selection:
        if row["method"] == "SNS":
            best[row["kappa"]] = min(best.get(row["kappa"], np.inf), row["score"])
    assert max(best, key=best.get) == 2
    assert best[2] - best[r.selected["SNS"]["kappa"]] > 1.0, best


def test_full_run_newton_phase_is_superexponential():
    """The last Newton step contracts the error more than three decades more than the first (η = 1000)."""
    iv = full().claim(
        "the Newton phase of SNS converges super-exponentially: its last step contracts the error at least a "
        "decade more than its first (η = 1000)"
    )["interval"]
    assert iv["high"] < -3.0, iv
