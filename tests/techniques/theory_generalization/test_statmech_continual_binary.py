"""The field-space continual perceptron: the reference cases; the free-energy gradient by finite differences
(float64); the Gaussian preactivation against sampled binary weights; arccos(R)/π against sampled inputs; the KL
is zero at the prior and keeps the fields near it; the replica fixed point is self-consistent, converged in its grid
and falls with the load; bad input; the recorded run."""

import numpy as np
import pytest

from refimpl.experiments import freshness, recorded
from refimpl.techniques.theory_generalization import statmech_continual_binary as SC
from refimpl.techniques.theory_generalization.statmech_continual_binary.cases import reference_cases

SLUG = "statmech-continual-binary"


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


def test_gradient_by_finite_differences():
    rng = np.random.default_rng(0)
    N = 8
    X, y = rng.normal(size=(6, N)), np.sign(rng.normal(size=6))
    theta, prior = rng.normal(size=N) * 0.5, np.tanh(rng.normal(size=N))
    g = SC.free_energy_gradient(theta, X, y, prior, 0.7)
    num = [
        (SC.free_energy(theta + e, X, y, prior, 0.7) - SC.free_energy(theta - e, X, y, prior, 0.7)) / 2e-6
        for e in np.eye(N) * 1e-6
    ]
    np.testing.assert_allclose(g, num, rtol=1e-6, atol=1e-8)


def test_preactivation_moments_against_sampled_weights():
    rng = np.random.default_rng(1)
    N = 400
    m, x = np.tanh(rng.normal(size=N)), rng.normal(size=N)
    w = np.where(rng.uniform(size=(20_000, N)) < (1 + m) / 2, 1.0, -1.0)
    h = w @ x / np.sqrt(N)
    mu, s2 = SC.preactivation_moments(m, x[None, :])
    assert h.mean() == pytest.approx(mu[0], abs=0.03) and h.var() == pytest.approx(s2[0], rel=0.03)


def test_error_from_overlap_against_sampled_inputs():
    rng = np.random.default_rng(2)
    t1, t2 = SC.teacher_pair(100, 0.3, 3)
    X = rng.normal(size=(100_000, 100))
    assert np.mean(np.sign(X @ t1) != np.sign(X @ t2)) == pytest.approx(
        SC.generalization_error(t1, t2), abs=0.005
    )


def test_kl_anchors_the_fields():
    prior = np.tanh(np.random.default_rng(4).normal(size=10) * 2)
    assert SC.bernoulli_kl(prior, prior) == pytest.approx(0.0, abs=1e-12)
    rng = np.random.default_rng(5)
    X = rng.normal(size=(30, 10))
    y = np.sign(X @ -np.sign(prior))  # data that pull every weight away from the prior
    free = np.tanh(SC.train_task(np.arctanh(prior), X, y, prior, 0.0, 0.05, 300))
    held = np.tanh(SC.train_task(np.arctanh(prior), X, y, prior, 5.0, 0.05, 300))
    assert np.abs(held - prior).mean() < np.abs(free - prior).mean()


def test_replica_fixed_point_is_self_consistent_and_grid_converged():
    coarse = {"n_z": 201, "n_x": 301, "n_m": 200}
    sol = SC.replica_first_task(0.5, **coarse)
    # the conjugates of the returned (q, r, q*) map back onto them (the fixed-point equations)
    q_hat, r_hat, q_star_hat = SC._conjugates(sol["q"], sol["r"], sol["q_star"], 0.5, 20.0, 201, 301)
    site = SC.replica_site(q_hat, r_hat, q_star_hat, 201, 200)
    for k in ("q", "r", "q_star"):
        assert site[k] == pytest.approx(sol[k], abs=2e-5)
    fine = SC.replica_first_task(0.5)  # the default grid, twice as fine in every direction
    assert fine["error"] == pytest.approx(sol["error"], abs=1e-3)


def test_replica_error_falls_with_the_load():
    errors = [SC.replica_first_task(a, n_z=201, n_x=301, n_m=200)["error"] for a in (0.25, 0.75, 1.25)]
    assert 0.5 > errors[0] > errors[1] > errors[2] > 0


def test_replica_bad_input_is_named():
    with pytest.raises(ValueError, match="r² < q"):
        SC.replica_energy(0.5, 0.8, 0.7, 20.0)
    with pytest.raises(ValueError, match="alpha"):
        SC.replica_first_task(-1.0)
    with pytest.raises(ValueError, match="q_hat"):
        SC.replica_site(-1.0, 0.0, 0.0)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="`flip_fraction`"):
        SC.teacher_pair(10, 1.5, 0)
    with pytest.raises(ValueError, match="`w` and `teacher`"):
        SC.generalization_error(np.ones(3), np.ones(4))
    with pytest.raises(ValueError, match="`lr`"):
        SC.train_task(np.zeros(3), np.ones((2, 3)), np.ones(2), np.zeros(3), 1.0, 0.0, 10)


def test_recorded_full_run():
    """On the recorded per-seed numbers: fine-tuning forgets task 1 at α = 1 on every seed, and the measured errors
    are within 0.02 of arccos(R)/π on every seed."""
    assert freshness(SLUG) == "fresh"
    r = recorded(SLUG)
    assert not r.quick and len(r.seeds) >= 3
    assert min(r.values("fine-tuning", "forgetting_a1")) > 0
    assert max(r.values("VCL", "theory_gap")) < 0.02
