"""Uniform-transformer ATT: reference cases, the reflected kernel's mass, the transform making controls
uniform, consistency on the experiment's design, bad input, the quick run and the recorded result."""

import numpy as np
import pytest

from refimpl.experiments import freshness, recorded
from refimpl.techniques.representations_weighting import uniform_transformer_ate as U
from refimpl.techniques.representations_weighting.uniform_transformer_ate import experiment as UX
from refimpl.techniques.representations_weighting.uniform_transformer_ate.cases import reference_cases

SLUG = "uniform-transformer-ate"


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


@pytest.mark.parametrize("h", [0.01, 0.1, 0.4])
def test_reflected_kernel_keeps_its_mass_on_the_unit_interval(h):
    pts = np.random.default_rng(0).random(50)
    grid = (np.arange(20000) + 0.5) / 20000
    assert U.reflected_gaussian_kde(pts, grid, h).mean() == pytest.approx(1.0, abs=2e-3)


def test_the_transform_makes_controls_uniform():
    x, t, _ = UX.study(0, n=4000)
    u = U.control_ecdf(x[t == 0])(x[t == 0])
    assert np.allclose(np.sort(u), np.arange(1, (t == 0).sum() + 1) / (t == 0).sum())


def test_weights_balance_the_covariate():
    """The controls weighted by ĝ(F̂₀(X_j)) reproduce the treated group's moments of x: (1/n₀) Σ w_j f(X_j) ≈
    mean of f over the treated."""
    x, t, _ = UX.study(1, n=6000)
    w = U.transformed_weights(x, t, 0.005)
    xc, xt = x[t == 0], x[t == 1]

    def bump(v):
        return np.abs(np.sin(3 * np.pi * v))  # where the groups differ (the design is symmetric in x)

    for f in (lambda v: v, lambda v: v**2, bump):
        assert np.mean(w * f(xc)) == pytest.approx(np.mean(f(xt)), abs=0.015)
    assert abs(np.mean(bump(xc)) - np.mean(bump(xt))) > 0.1  # unweighted, the groups are unbalanced


def test_consistent_on_the_design():
    x, t, y = UX.study(2, n=8000)
    assert U.att_uniform_transformer(x, t, y, 0.005) == pytest.approx(UX.true_att(), abs=0.05)
    assert abs(U.att_difference_in_means(x, t, y) - UX.true_att()) > 0.3  # confounded


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="`h`"):
        U.att_uniform_transformer(np.array([0.1, 0.2]), np.array([0, 1]), np.array([1.0, 2.0]), 0.0)
    with pytest.raises(ValueError, match="both groups"):
        U.att_difference_in_means(np.array([0.1, 0.2]), np.array([1, 1]), np.array([1.0, 2.0]))


def test_quick_run_is_a_smoke_run_with_every_arm(quick_result):
    r = quick_result(SLUG)
    assert r.smoke and {row["method"] for row in r.table} == set(UX.ARMS)


def full():
    assert freshness(SLUG) == "fresh", f"run `refimpl record {SLUG}`"
    return recorded(SLUG)


def test_full_run_confounding_premise_and_twenty_seeds():
    r = full()
    assert r.premises[0]["present"] and len(r.seeds) == 20
