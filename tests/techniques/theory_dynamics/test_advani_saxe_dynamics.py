"""Advani–Saxe dynamics: the reference cases; GD against the mode-wise formula, the mode-wise formula against
its Marchenko–Pastur limit, the quadrature against a plain Riemann sum, the converged error against the exact
inverse-Wishart moment and against least squares; bad input; the quick run; the claims on the record."""

import numpy as np
import pytest

from refimpl.experiments import freshness, recorded
from refimpl.techniques.theory_dynamics import advani_saxe_dynamics as AS
from refimpl.techniques.theory_dynamics.advani_saxe_dynamics.cases import reference_cases

SLUG = "advani-saxe-dynamics"


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


def test_gd_follows_the_closed_form_mode_by_mode():
    """On one draw, GD's weights equal the eigenbasis solution w̄ + r (w₀ − w̄) + (1 − r) ε̃/λ, computed by
    diagonalising XᵀX (zero modes keep w₀)."""
    d = AS.teacher_student(30, 20, noise=0.3, init=0.7, rng=3)
    X, y, w0, wbar = d["X"], d["y"], d["w0"], d["w_teacher"]
    lam, V = np.linalg.eigh(X.T @ X)
    t = 37
    eps = V.T @ (X.T @ (y - X @ wbar))
    r = (1 - 0.1 * lam) ** t
    target = np.where(lam > 1e-10, eps / np.where(lam > 1e-10, lam, 1), 0.0)
    z = r * (V.T @ (w0 - wbar)) + (1 - r) * target
    np.testing.assert_allclose(AS.gd_trajectory(X, y, w0, 0.1, t)[-1], wbar + V @ z, atol=1e-10)


def test_record_returns_the_weights_at_those_steps():
    d = AS.teacher_student(8, 12, noise=0.1, rng=0)
    every = AS.gd_trajectory(d["X"], d["y"], d["w0"], 0.2, 9)
    picked = AS.gd_trajectory(d["X"], d["y"], d["w0"], 0.2, 9, record=[0, 4, 9])
    np.testing.assert_array_equal(picked, every[[0, 4, 9]])


def test_mode_formula_tends_to_the_marchenko_pastur_curve():
    """The finite-N formula on a large draw's spectrum is close to the MP integral at every time."""
    t = np.array([0, 3, 30, 300, 3000])
    for alpha, n in ((0.5, 1200), (2.0, 800)):
        d = AS.teacher_student(n, int(alpha * n), noise=0.4, rng=1)
        lam = np.linalg.eigvalsh(d["X"].T @ d["X"])
        finite = AS.mode_error_curve(lam, t, lr=0.1, noise=0.4, init=0.3)
        limit = AS.mp_error_curve(alpha, t, lr=0.1, noise=0.4, init=0.3)
        np.testing.assert_allclose(finite, limit, rtol=0.03)


@pytest.mark.parametrize("alpha", [0.3, 0.5, 1.5, 2.0, 4.0])
def test_mp_curve_at_long_times_is_the_converged_closed_form(alpha):
    late = AS.mp_error_curve(alpha, [1e7], lr=0.1, noise=0.5, init=0.4)[0]
    assert late == pytest.approx(AS.converged_error(alpha, noise=0.5, init=0.4), rel=1e-3)


@pytest.mark.parametrize("alpha", [0.25, 0.5, 0.8, 1.25, 2.0, 3.0])
def test_quadrature_against_a_riemann_sum(alpha):
    """∫ρ(λ) f(λ) dλ by the θ-substituted Gauss–Legendre rule and by a fine midpoint sum agree."""
    lo, hi = (1 - np.sqrt(alpha)) ** 2, (1 + np.sqrt(alpha)) ** 2
    edges = np.linspace(lo, hi, 400_001)
    mid = (edges[1:] + edges[:-1]) / 2
    f = lambda lam: np.exp(-0.7 * lam) + 0.2 * lam  # noqa: E731
    riemann = np.sum(AS.mp_density(mid, alpha) * f(mid)) * (edges[1] - edges[0])
    lam, w = AS._mp_nodes(alpha)
    assert np.sum(w * f(lam)) == pytest.approx(riemann, rel=1e-5)


def test_converged_error_matches_the_inverse_wishart_moment_and_least_squares():
    """Finite N: E tr((XᵀX)⁻¹) = N²/(P − N − 1)·(1/N) per mode, so E E_g(∞) = σ²(1 + N/(P − N − 1)); and
    GD run long lands on `least_squares_limit` (a frozen subspace keeps w₀ when N > P)."""
    n, p, noise = 40, 100, 0.5
    errs = []
    for s in range(400):
        d = AS.teacher_student(n, p, noise=noise, rng=s)
        errs.append(
            AS.generalization_error(AS.least_squares_limit(d["X"], d["y"], d["w0"]), d["w_teacher"], noise)
        )
    exact = noise**2 * (1 + n / (p - n - 1))
    assert np.mean(errs) == pytest.approx(exact, rel=0.03)
    d = AS.teacher_student(30, 12, noise=0.2, init=1.0, rng=5)
    long = AS.gd_trajectory(d["X"], d["y"], d["w0"], 0.1, 40_000, record=[40_000])[0]
    np.testing.assert_allclose(long, AS.least_squares_limit(d["X"], d["y"], d["w0"]), atol=1e-6)


def test_zero_modes_are_frozen():
    """With N > P, the part of w₀ in the null space of X never changes."""
    d = AS.teacher_student(20, 8, noise=0.1, init=1.0, rng=2)
    _, _, Vt = np.linalg.svd(d["X"])
    null = Vt[8:]
    w = AS.gd_trajectory(d["X"], d["y"], d["w0"], 0.2, 300, record=[300])[0]
    np.testing.assert_allclose(null @ w, null @ d["w0"], atol=1e-12)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="alpha"):
        AS.mp_density([1.0], 0.0)
    with pytest.raises(ValueError, match="noise"):
        AS.teacher_student(4, 4, noise=-1.0, rng=0)
    with pytest.raises(ValueError, match="lr"):
        AS.gd_trajectory(np.eye(2), np.ones(2), np.zeros(2), 0.0, 3)
    with pytest.raises(ValueError, match="shapes"):
        AS.gd_trajectory(np.eye(2), np.ones(3), np.zeros(2), 0.1, 3)
    with pytest.raises(ValueError, match="record"):
        AS.gd_trajectory(np.eye(2), np.ones(2), np.zeros(2), 0.1, 3, record=[2, 1])


def test_recorded_full_run_matches_the_theory():
    """The theorem's predictions on the recorded per-draw numbers (not the verdict flags): the simulated
    curves within ±10 % of the Marchenko–Pastur curve, overtraining highest at α = 1 on every draw, the
    frozen subspace costing (1 − α)σ₀² = 0.5 ± 0.1 on average, early stopping within 10 % of the best."""
    assert freshness(SLUG) == "fresh"
    r = recorded(SLUG)
    assert not r.quick and len(r.seeds) >= 3
    for cell in ("α=2", "α=0.5"):
        gap = np.array(r.values(cell, "gap_mp"))
        assert abs(gap.mean()) + 2 * gap.std(ddof=1) / np.sqrt(len(gap)) < 0.1, cell
    peak = np.array(r.values("α=1", "overtraining"))
    for other in ("α=0.8", "α=1.25"):
        assert np.all(peak > np.array(r.values(other, "overtraining"))), other
    frozen = np.array(r.values("α=0.5, σ₀=1", "converged_error")) - np.array(
        r.values("α=0.5", "converged_error")
    )
    assert abs(frozen.mean() - 0.5) < 0.1
    assert np.mean(r.values("α=1", "es_excess")) < 0.1
    assert max(r.values("α=1", "lambda_min")) < 0.01
