"""Self-distillation in KRR: the reference cases; the explicit rounds against the eigenbasis recursion; the
α > 0 fixed point against KRR with ridge λ/α; pure self-distillation's collapse; bad input; the recorded run."""

import numpy as np
import pytest

from refimpl.experiments import freshness, recorded
from refimpl.techniques.theory_dynamics import self_distillation_krr as SD
from refimpl.techniques.theory_dynamics.self_distillation_krr.cases import reference_cases

SLUG = "self-distillation-krr"


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


def _problem(seed=0, n=12):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, n)
    return SD.rbf_kernel(x, bandwidth=0.2), rng.normal(size=n)


@pytest.mark.parametrize("alpha", [0.0, 0.3, 1.0])
def test_explicit_rounds_equal_the_eigenbasis_recursion(alpha):
    K, y = _problem()
    rounds = SD.self_distill(K, K, y, 0.05, alpha, 6)
    np.testing.assert_allclose(rounds, SD.fitted_values(K, y, 0.05, alpha, 6), rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("alpha", [0.2, 0.5])
def test_mixed_rounds_converge_to_krr_with_ridge_over_alpha(alpha):
    K, y = _problem(1)
    far = SD.self_distill(K, K, y, 0.1, alpha, 400)[-1]
    np.testing.assert_allclose(
        far, K @ np.linalg.solve(K + (0.1 / alpha) * np.eye(12), y), rtol=1e-8, atol=1e-10
    )


def test_pure_self_distillation_collapses_to_zero():
    K, y = _problem(2)
    fits = SD.self_distill(K, K, y, 1.0, 0.0, 200)  # the top mode shrinks by s = 6.2/7.2 per round
    norms = np.linalg.norm(fits, axis=1)
    assert np.all(np.diff(norms) < 0) and norms[-1] < 1e-3 * norms[0]


def test_bad_input_is_named():
    K, y = _problem()
    with pytest.raises(ValueError, match="lam"):
        SD.self_distill(K, K, y, 0.0, 0.5, 2)
    with pytest.raises(ValueError, match="alpha"):
        SD.self_distill(K, K, y, 0.1, 1.5, 2)
    with pytest.raises(ValueError, match="rounds"):
        SD.distillation_factors([1.0], 0.1, 0.5, 0)
    with pytest.raises(ValueError, match="shapes"):
        SD.self_distill(K, K, y[:3], 0.1, 0.5, 2)
    with pytest.raises(ValueError, match="bandwidth"):
        SD.rbf_kernel([0.0], bandwidth=0.0)


def test_recorded_full_run():
    """On the recorded per-seed numbers: 50 rounds of pure self-distillation are worse than its tuned count
    on every seed, and worse than 50 mixed rounds on every seed; from λ = 0.001 the chosen rounds beat one
    round on most seeds; with everything tuned, distillation is never better than tuned KRR (it picks one
    round)."""
    assert freshness(SLUG) == "fresh"
    r = recorded(SLUG)
    assert not r.quick and len(r.seeds) >= 3
    pure, tuned, krr = "self-distillation α = 0", "self-distillation α tuned", "KRR (λ tuned)"
    assert min(r.values(pure, "far_minus_tuned")) > 0
    assert min(r.values(pure, "far_pure_minus_mixed")) > 0
    assert np.mean(np.array(r.values(pure, "small_lambda_gain")) > 0) >= 0.8
    assert np.all(np.array(r.values(tuned, "test_mse")) >= np.array(r.values(krr, "test_mse")) - 1e-12)
    assert min(r.values(krr, "smallest_lambda_ratio")) > 1.2
