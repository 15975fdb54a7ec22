"""Optimistic OMD: hand-worked rounds, the per-round inequality (D1) and the per-realisation bound (D2) on
random sequences, the closed forms the experiment relies on (best fixed decision, E A_T, the learner-
independent stochastic regret), the quick run's code path, and the claims on the recorded full result.
No new autograd op: nothing to gradient-check."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from refimpl.experiments import freshness, recorded
from refimpl.techniques.optimizers_training_rules import optimistic_omd as O
from refimpl.techniques.optimizers_training_rules.optimistic_omd import experiment as E
from refimpl.techniques.optimizers_training_rules.optimistic_omd.cases import reference_cases

SLUG = "optimistic-omd"


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


@settings(deadline=None, max_examples=40)
@given(st.integers(0, 10_000), st.floats(0.01, 3.0))
def test_per_round_inequality_D1(seed, eta):
    """⟨g, x − u⟩ ≤ (‖u − x̂‖² − ‖u − x̂'‖²)/(2η) + η‖g − M‖² − (‖x − x̂‖² + ‖x − x̂'‖²)/(2η) for any u in the ball."""
    rng = np.random.default_rng(seed)
    x_hat = O.project_ball(rng.normal(size=3), 1.0)
    M, g = rng.normal(size=3) * 2, rng.normal(size=3) * 2
    x, _, x_next = O.optimistic_round(x_hat, M, lambda x: g, eta, "euclidean", 1.0)
    for _ in range(20):
        u = O.project_ball(rng.normal(size=3), 1.0)
        lhs = g @ (x - u)
        rhs = (
            (np.sum((u - x_hat) ** 2) - np.sum((u - x_next) ** 2)) / (2 * eta)
            + eta * np.sum((g - M) ** 2)
            - (np.sum((x - x_hat) ** 2) + np.sum((x - x_next) ** 2)) / (2 * eta)
        )
        assert lhs <= rhs + 1e-10


def _regret(c, opt, alpha, delta, R=1.0):
    learner = O.OptimisticOMD(c.shape[1], 2 * R, alpha, delta, optimism=opt, radius=R)
    loss = 0.0
    for ct in c:
        loss += ct @ learner.play()
        learner.update(ct)
    return loss + R * np.linalg.norm(c.sum(0)), learner.A


@settings(deadline=None, max_examples=30)
@given(st.integers(0, 10_000), st.sampled_from([0.05, 0.3, 1.0, 4.0]), st.booleans())
def test_realisation_bound_D2_holds_on_adversarial_sequences(seed, alpha, opt):
    """(D2) holds on every sequence, with or without the hint: sign flips, random walks, heavy scales."""
    rng = np.random.default_rng(seed)
    T = 200
    kind = seed % 3
    if kind == 0:
        c = np.outer((-1.0) ** np.arange(T), rng.normal(size=4)) + 0.1 * rng.normal(size=(T, 4))
    elif kind == 1:
        c = np.cumsum(rng.normal(size=(T, 4)), axis=0) * 0.1
    else:
        c = rng.standard_t(2, size=(T, 4))
    G = np.linalg.norm(c, axis=1).max()
    regret, A = _regret(c, opt, alpha, 4 * G * G)
    assert regret <= O.empirical_bound(A, 2.0, alpha, 4 * G * G) + 1e-9


def test_a_wrong_bound_fails_on_some_sequence():
    """The check above can fail: dropping the 2α term (R_T ≤ D/(2α)·√(δ + A_T)) is violated at a large α."""
    rng = np.random.default_rng(0)
    T, alpha = 400, 4.0
    c = np.outer((-1.0) ** np.arange(T), [1.0, 0.0]) + 0.01 * rng.normal(size=(T, 2))
    G = np.linalg.norm(c, axis=1).max()
    regret, A = _regret(c, True, alpha, 4 * G * G)
    assert regret <= O.empirical_bound(A, 2.0, alpha, 4 * G * G)
    assert regret > 2.0 / (2 * alpha) * np.sqrt(4 * G * G + A)


def test_best_fixed_decision_closed_form_against_brute_force():
    """min_{‖x‖≤1} ⟨C, x⟩ = −‖C‖: no point of a dense sample of the ball does better, and −C/‖C‖ attains it."""
    rng = np.random.default_rng(1)
    C = rng.normal(size=3)
    pts = rng.normal(size=(200_000, 3))
    pts /= np.linalg.norm(pts, axis=1, keepdims=True)
    pts *= rng.uniform(0, 1, size=(len(pts), 1)) ** (1 / 3)
    best = (pts @ C).min()
    assert best >= -np.linalg.norm(C) - 1e-12
    assert best < -np.linalg.norm(C) + 1e-2
    np.testing.assert_allclose(C @ (-C / np.linalg.norm(C)), -np.linalg.norm(C))


def test_expected_variation_closed_form_by_monte_carlo():
    """E A_T of both learners (x-independent gradients) against the average of the realised sums."""
    T = 50
    for cell in ("rotating", "adversarial", "sweep s=0.3"):
        A_opt, A_plain = [], []
        for seed in range(400):
            c, mu, s = E.sequence(cell, T, seed)
            A_opt.append(np.sum(c[0] ** 2) + np.sum(np.diff(c, axis=0) ** 2))
            A_plain.append(np.sum(c**2))
        q = E.sea_quantities(mu, s)
        np.testing.assert_allclose(np.mean(A_opt), q["EA_optimistic"], rtol=0.02)
        np.testing.assert_allclose(np.mean(A_plain), q["EA_plain"], rtol=0.02)


def test_learner_reports_the_realised_variation():
    c, mu, s = E.sequence("rotating", 100, 3)
    _, A = _regret(c, True, 0.3, 16.0)
    np.testing.assert_allclose(A, np.sum(c[0] ** 2) + np.sum(np.diff(c, axis=0) ** 2), rtol=1e-12)
    _, A = _regret(c, False, 0.3, 16.0)
    np.testing.assert_allclose(A, np.sum(c**2), rtol=1e-12)


def test_stochastic_cell_regret_does_not_depend_on_the_learner():
    """The reason the stochastic cell is left out of the tuning: E R_T = R·E‖Σξ‖ for every α."""
    T = 300
    means = []
    for alpha in (1 / 64, 2.0):
        means.append(np.mean([E.simulate("stochastic", T, sd, alpha, True)["regret"] for sd in range(60)]))
    floor = np.mean([np.linalg.norm(E.sequence("stochastic", T, sd)[0].sum(0)) for sd in range(60)])
    np.testing.assert_allclose(means, floor, rtol=0.1)


def test_entropic_learner_stays_on_the_simplex():
    rng = np.random.default_rng(2)
    learner = O.OptimisticOMD(5, 1.0, 0.5, 1.0, mirror="entropic")
    for _ in range(50):
        x = learner.play()
        assert np.all(x > 0) and abs(x.sum() - 1) < 1e-12
        learner.update(rng.normal(size=5))


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match="radius"):
        O.project_ball([1.0], 0.0)
    with pytest.raises(ValueError, match="mirror"):
        O.mirror_step([0.5, 0.5], [0.0, 0.0], 0.1, mirror="lp")
    with pytest.raises(ValueError, match="eta"):
        O.mirror_step([0.0], [1.0], -0.1)
    with pytest.raises(ValueError, match="same shape"):
        O.mirror_step([0.0, 0.0], [1.0], 0.1)
    with pytest.raises(ValueError, match="x_hat"):
        O.mirror_step([0.0, 1.0], [1.0, 0.0], 0.1, mirror="entropic")
    with pytest.raises(ValueError, match="alpha"):
        O.OptimisticOMD(2, 2.0, 0.0, 1.0)
    with pytest.raises(ValueError, match="dim"):
        O.OptimisticOMD(0, 2.0, 1.0, 1.0)
    with pytest.raises(RuntimeError, match="play"):
        O.OptimisticOMD(2, 2.0, 1.0, 1.0).update([1.0, 0.0])
    with pytest.raises(ValueError, match="sigma2_total"):
        O.sea_bound(-1.0, 0.0, 2.0, 1.0, 1.0)


# --- the quick run's code path ---------------------------------------------------------------------
def test_quick_run_code_path(quick_result):
    r = quick_result(SLUG)
    r.validate()
    assert r.smoke and r.methods == ["optimistic OMD", "OMD (no hint)"]
    assert r.premises[0]["metric"] == "premise_variation_ratio" and isinstance(r.premises[0]["present"], bool)
    # (D2) is a theorem about every realisation: it holds for both learners on every cell and seed
    for m in r.methods:
        assert max(r.values(m, "max_ratio_emp")) <= 1.0
    assert r.arrays["regret_optimistic"].shape == (len(E.CELLS), len(r.seeds))
    assert np.all(r.arrays["bound_sea"] > 0)


# --- the paper's claims on the recorded full result ----------------------------------------------------
def full():
    assert freshness(SLUG) == "fresh", f"run `refimpl record {SLUG}`"
    return recorded(SLUG)


def test_full_run_is_tuned_inside_its_grid():
    r = full()
    assert not r.grid_edges(), r.grid_edges()


def test_full_run_regret_below_the_sea_bound_everywhere():
    """Claim 1: the worst cell's regret/bound (D3) ratio is below 1 on every seed, and (D2) holds exactly for
    both learners on every cell and seed."""
    r = full()
    assert max(r.values("optimistic OMD", "max_ratio_sea")) < 1.0
    for m in ("optimistic OMD", "OMD (no hint)"):
        assert max(r.values(m, "max_ratio_emp")) <= 1.0
    assert r.claim("the regret of optimistic OMD stays below")["interval"]["high"] < 1.0


def test_full_run_rate_on_the_noise_sweep():
    """Claim 2: the regret grows no faster than √(σ²_{1:T} + Σ²_{1:T}) on the sweep (slope's interval below 1.15)."""
    r = full()
    assert r.claim("on the noise sweep")["interval"]["high"] < E.SLOPE_MARGIN


def test_full_run_hint_helps_with_predictable_gradients():
    """Claim 3 with its premise: the variation with the hint is < 1/10 of without, and the hint lowers the
    normalised regret on every seed (the interval's high end below 0)."""
    r = full()
    assert r.premises[0]["present"]
    assert r.claim("with predictable gradients")["interval"]["high"] < 0
    opt, plain = (
        r.values("optimistic OMD", "norm_regret_rotating"),
        r.values("OMD (no hint)", "norm_regret_rotating"),
    )
    assert all(a < b for a, b in zip(opt, plain))


def test_full_run_hint_is_cheap_in_the_adversarial_cell():
    """Claim 4: the hint costs less than 0.5 normalised regret when the mean flips every round."""
    r = full()
    assert r.claim("in the fully adversarial cell")["interval"]["high"] < E.ADV_MARGIN
