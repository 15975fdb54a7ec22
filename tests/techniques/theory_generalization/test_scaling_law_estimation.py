"""Scaling-law estimation: the reference cases; each fit recovers the constants of exact synthetic laws; the
S_min/E_min conversion satisfies the trade-off hyperbola; the implicit prediction solves its equation and
matches a brute-force root search; the SGD simulation agrees with its expected-loss recursion (exact minibatches
and the moment-matched surrogate); the contract adapter; bad input; the quick run; the recorded run."""

import numpy as np
import pytest

from refimpl.experiments import freshness, recorded
from refimpl.techniques.theory_generalization import scaling_law_estimation as SL
from refimpl.techniques.theory_generalization.scaling_law_estimation.cases import reference_cases

SLUG = "scaling-law-estimation"


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


def test_fits_recover_exact_laws():
    N = np.array([10.0, 30, 100, 300])
    f = SL.fit_power_law(N, (50.0 / N) ** 0.3)
    assert f["N_c"] == pytest.approx(50.0, rel=1e-10) and f["alpha_N"] == pytest.approx(0.3, rel=1e-10)
    L = np.array([0.5, 1.0, 2.0, 4.0])
    f = SL.fit_critical_batch(L, 7.0 / L ** (1 / 0.25))
    assert f["B_star"] == pytest.approx(7.0, rel=1e-10) and f["alpha_B"] == pytest.approx(0.25, rel=1e-10)
    NN, SS = np.meshgrid([8.0, 16, 32, 64], [10.0, 30, 100, 300, 1000])
    LL = (20.0 / NN) ** 0.5 + (40.0 / SS) ** 0.35
    f = SL.fit_loss_surface(NN, SS, LL, init={"N_c": 5.0, "alpha_N": 0.3, "S_c": 5.0, "alpha_S": 0.5})
    assert [f[k] for k in ("N_c", "alpha_N", "S_c", "alpha_S")] == pytest.approx(
        [20.0, 0.5, 40.0, 0.35], rel=1e-6
    )
    assert f["rms_log_residual"] < 1e-8


def test_conversion_satisfies_the_tradeoff_hyperbola():
    """With S = S_min + E_min/B and B_crit = E_min/S_min, Eqs. 5.4/5.5 give back S_min and E_min and
    (S/S_min − 1)(E/E_min − 1) = 1 (Eq. 5.1), for any batch."""
    S_min, E_min = 120.0, 3000.0
    B = np.array([2.0, 25.0, 400.0])
    S = S_min + E_min / B
    L = 0.8
    alpha_B = 0.4
    B_star = (E_min / S_min) * L ** (1 / alpha_B)  # so that B_crit(L) = E_min/S_min
    np.testing.assert_allclose(SL.steps_min(S, B, L, B_star, alpha_B), S_min, rtol=1e-12)
    np.testing.assert_allclose(SL.examples_min(B * S, B, L, B_star, alpha_B), E_min, rtol=1e-12)
    np.testing.assert_allclose((S / S_min - 1) * (B * S / E_min - 1), 1.0, rtol=1e-12)


def test_prediction_solves_the_implicit_equation_and_matches_brute_force():
    c = {"N_c": 30.0, "alpha_N": 0.4, "S_c": 50.0, "alpha_S": 0.45, "B_star": 3.0, "alpha_B": 0.3}
    N, B, S = 500.0, 16.0, np.array([5.0, 50.0, 500.0, 5000.0])
    L = SL.predict_loss_curve(N, B, S, c)
    rhs = SL.loss_of_size_and_steps(
        N,
        SL.steps_min(S, B, L, c["B_star"], c["alpha_B"]),
        *[c[k] for k in ("N_c", "alpha_N", "S_c", "alpha_S")],
    )
    np.testing.assert_allclose(L, rhs, rtol=1e-10)
    grid = np.geomspace(0.01, 100, 400_001)  # brute force: the sign change of L − rhs(L) on a fine grid
    for s, l in zip(S, L):
        g = grid - SL.loss_of_size_and_steps(
            N, SL.steps_min(s, B, grid, c["B_star"], c["alpha_B"]), 30.0, 0.4, 50.0, 0.45
        )
        root = grid[np.flatnonzero(np.diff(np.sign(g)))[0]]
        assert l == pytest.approx(root, rel=1e-4)
    assert np.all(np.diff(L) < 0) and L[-1] > SL.loss_of_size(N, 30.0, 0.4)


def test_steps_to_reach_by_hand():
    curve = np.array([1.0, 0.5, 0.6, 0.25])  # losses after steps 1..4; running min 1, .5, .5, .25
    assert SL.steps_to_reach(curve, 1.0) == 1.0
    assert SL.steps_to_reach(curve, 0.5) == pytest.approx(2.0)
    assert SL.steps_to_reach(curve, np.sqrt(0.5 * 0.25)) == pytest.approx(
        3.5
    )  # halfway in log between steps 3, 4
    assert SL.steps_to_reach(curve, 0.1) == np.inf


def test_fixed_lr_sgd_matches_its_expected_loss():
    """The mean of exact-minibatch SGD and of the moment-matched surrogate over 1000 runs is within four
    standard errors of the exact recursion at every step (the surrogate has the same first two gradient moments,
    so the same expected loss), and within 5 %."""
    lam, w = SL.teacher(128, 1.2, 1.5, 3)
    N, B = 16, 8
    floor = float(lam[N:] @ w[N:] ** 2)
    exp = SL.expected_loss_curve(lam[:N], w[:N], floor, B, 30, 0.3)
    for exact in (True, False):
        runs = np.array(
            [
                SL.train_curve(lam[:N], w[:N], floor, B, 30, s, lr=0.3, exact_minibatch=exact)
                for s in range(1000)
            ]
        )
        se = runs.std(0, ddof=1) / np.sqrt(len(runs))
        assert np.all(np.abs(runs.mean(0) - exp) < 4 * se), exact
        np.testing.assert_allclose(runs.mean(0), exp, rtol=0.05)


def test_optimal_lr_schedule_is_the_best_fixed_step_one_step_ahead():
    lam, w = SL.teacher(64, 1.2, 1.5, 0)
    c, floor = w[:32] ** 2, float(lam[32:] @ w[32:] ** 2)
    eta = SL.expected_optimal_lr(lam[:32], c, floor, 8, lr_max=10.0)
    grid = np.linspace(0.01, 3, 3000)
    one = [SL.expected_loss_curve(lam[:32], w[:32], floor, 8, 1, g)[0] for g in grid]
    assert eta == pytest.approx(grid[int(np.argmin(one))], abs=2e-3)


# --- the family contract adapter (the CONTRACTS entry is added to the family file by the lead) -------------
_CT_LAM, _CT_W = SL.teacher(256, 1.2, 1.5, [5, 5])
_CT_N, _CT_B, _CT_LR, _CT_STEPS = 32, 4, 0.3, np.array([1, 10, 40])
_CT_FLOOR = float(_CT_LAM[_CT_N:] @ _CT_W[_CT_N:] ** 2)


def _contract_predict():
    """The exact expected loss of fixed-step SGD (N = 32, B = 4, η = 0.3) after 1, 10 and 40 steps."""
    curve = SL.expected_loss_curve(
        _CT_LAM[:_CT_N], _CT_W[:_CT_N], _CT_FLOOR, _CT_B, int(_CT_STEPS[-1]), _CT_LR
    )
    return curve[_CT_STEPS - 1]


def _contract_simulate(seed):
    """The mean loss of 100 exact-minibatch SGD runs of the same setting."""
    runs = [
        SL.train_curve(
            _CT_LAM[:_CT_N],
            _CT_W[:_CT_N],
            _CT_FLOOR,
            _CT_B,
            int(_CT_STEPS[-1]),
            [seed, r],
            lr=_CT_LR,
            exact_minibatch=True,
        )
        for r in range(100)
    ]
    return np.mean(runs, axis=0)[_CT_STEPS - 1]


def test_contract_adapter_agrees():
    a, b, s0, s1 = _contract_predict(), _contract_predict(), _contract_simulate(0), _contract_simulate(1)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(s0, _contract_simulate(0))
    assert not np.allclose(s0, s1) and s0.shape == a.shape
    mean = np.mean([_contract_simulate(s) for s in range(12)], axis=0)
    np.testing.assert_allclose(mean, a, rtol=0.03)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="distinct batch"):
        SL.fit_step_tradeoff([8, 8], [10, 12])
    with pytest.raises(ValueError, match="trade-off"):
        SL.fit_step_tradeoff([4, 8, 16], [10, 20, 40])  # more steps at larger batches: no trade-off
    with pytest.raises(ValueError, match="positive"):
        SL.fit_power_law([1, 2], [0.5, 0.0])
    with pytest.raises(ValueError, match="same length"):
        SL.fit_loss_surface([1, 2, 3, 4], [1, 2, 3], [1, 1, 1, 1])


def test_quick_run(quick_result):
    r = quick_result(SLUG)
    assert r.quick and len(r.claims) == 7
    assert set(r.selected) == {
        "L(N, S_min) + B_crit(L) (paper)",
        "L(N) only",
        "L(N, S), raw steps pooled",
        "L(N, S), raw steps per batch",
    }


def test_recorded_full_run():
    """On the recorded per-seed numbers: the batch size matters (≥ 3× more steps at the smallest batch on
    every seed); the paper's prediction of the held-out width beats L(N) alone by more than 0.5 and the raw-step
    fit by more than 0.03 in mean |log| error on every seed; its own error stays below 0.25 on every seed (the
    measured shortfall: above the claimed 0.10 on average); its predicted minimum loss is off by more than 0.1
    in log on average (the floor is not recovered in this toy)."""
    assert freshness(SLUG) == "fresh"
    r = recorded(SLUG)
    assert not r.quick and len(r.seeds) >= 3
    paper, ln, raw = "L(N, S_min) + B_crit(L) (paper)", "L(N) only", "L(N, S), raw steps pooled"
    err = np.array(r.values(paper, "test_curve_err"))
    assert min(r.values(paper, "batch_step_ratio")) > 3
    assert np.all(np.array(r.values(ln, "test_curve_err")) - err > 0.5)
    assert np.all(np.array(r.values(raw, "test_curve_err")) - err > 0.03)
    assert err.max() < 0.25 and err.mean() > 0.10
    assert np.mean(r.values(paper, "floor_log_err")) > 0.1
