"""UNEM: reference cases (the E-step and one EM step by hand, the unrolled network against a scalar textbook
EM), float64 gradient checks of the unrolled layer and of the network in its per-layer λ and T, properties of
the generalised E-step, learning through the unrolled EM, named errors, the quick run and the recorded full
result."""

import numpy as np
import pytest

from refimpl.autograd.gradcheck import gradcheck
from refimpl.autograd.tensor import Tensor
from refimpl.experiments import freshness, recorded
from refimpl.techniques.representations_weighting import unem_unrolled_em as U
from refimpl.techniques.representations_weighting.toys import few_shot_gaussian_task
from refimpl.techniques.representations_weighting.unem_unrolled_em.cases import reference_cases

SLUG = "unem-unrolled-em"


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


def _batch(n=3, seed=0, K=3, n_query=12, dim=2):
    rng = np.random.default_rng(seed)
    ts = [
        few_shot_gaussian_task(
            K, 1, n_query, dim, [seed, i], separation=1.5, query_proportions=rng.dirichlet(np.full(K, 2.0))
        )
        for i in range(n)
    ]
    return (
        np.stack([t.x_query for t in ts]),
        np.stack([t.x_support for t in ts]),
        np.stack([t.y_support for t in ts]),
        np.stack([t.y_query for t in ts]),
    )


def test_unrolled_layer_gradient_matches_finite_differences_in_float64():
    zq, zs, ys, _ = _batch()
    onehot = (ys[..., None] == np.arange(3)).astype(float)
    rng = np.random.default_rng(1)
    W = U.support_means(zs, onehot) + 0.1 * rng.standard_normal((3, 3, 2))
    log_pi = np.log(rng.dirichlet(np.ones(3), 3))
    up = [rng.standard_normal((3, 12, 3)), rng.standard_normal((3, 3)), rng.standard_normal((3, 3, 2))]

    def f(zq_, W_, lp_, lam, T):  # a random projection of all three outputs: upstream gradient not all ones
        Uq, lp, W1 = U.gem_layer(zq_, W_, lp_, Tensor(onehot), Tensor(zs), lam, T)
        return (Uq * up[0]).sum() + (lp * up[1]).sum() + (W1 * up[2]).sum()

    assert gradcheck(f, zq, W, log_pi, np.array(1.3), np.array(0.7), mode="full")


def test_unrolled_network_gradient_in_per_layer_lambda_and_T():
    zq, zs, ys, yq = _batch()

    def loss(lam, T):
        return U.unem_loss(zq, zs, ys, yq, 3, lam, T)

    assert gradcheck(loss, np.array([1.0, 0.6, 1.8]), np.array([0.8, 1.2, 0.5]), mode="full")


def test_first_layer_lambda_has_no_effect_from_a_uniform_start():
    zq, zs, ys, yq = _batch()
    lam = Tensor(np.array([1.0, 0.6, 1.8]), requires_grad=True)
    U.unem_loss(zq, zs, ys, yq, 3, lam, Tensor(np.ones(3))).backward()
    assert lam.grad[0] == pytest.approx(0.0, abs=1e-12) and abs(lam.grad[1]) > 1e-6


def test_e_step_rows_are_distributions_and_limits_behave():
    rng = np.random.default_rng(0)
    logits, log_pi = rng.normal(size=(2, 5, 4)), np.log(rng.dirichlet(np.ones(4), 2))
    u = U.e_step(logits, log_pi, 1.0, 1.0).numpy()
    np.testing.assert_allclose(u.sum(-1), 1.0, atol=1e-12)
    # λ = T = 1: Bayes posterior with prior π (the +1 cancels)
    post = np.exp(logits) * np.exp(log_pi)[:, None]
    np.testing.assert_allclose(u, post / post.sum(-1, keepdims=True), atol=1e-12)
    # T → 0 with λ = 0: hard assignment to the largest logit
    hard = U.e_step(logits, log_pi, 0.0, 1e-4).numpy()
    np.testing.assert_array_equal(hard.argmax(-1), logits.argmax(-1))
    assert np.all(hard.max(-1) > 1 - 1e-6)


def test_zero_iterations_of_information_is_the_prototype_classifier():
    """With λ = 0 and a tiny temperature, one layer's assignment is the nearest support mean."""
    zq, zs, ys, _ = _batch(seed=2)
    u = U.gem_em(zq, zs, ys, 3, 0.0, 1e-6, 1)
    np.testing.assert_array_equal(u.argmax(-1), U.prototype_predict(zq, zs, ys, 3))


def test_learning_through_the_unrolled_em_lowers_the_validation_loss():
    zq, zs, ys, yq = _batch(n=20, seed=3, n_query=30)
    fit = U.fit_unem(zq, zs, ys, yq, 3, n_layers=4, lr=0.05, steps=15)
    assert fit.losses[-1] < fit.losses[0] - 1e-3
    assert fit.lam.shape == (4,) and np.all(fit.T > 0) and fit.lam[0] == pytest.approx(1.0)


def test_bad_input_is_named():
    zq, zs, ys, yq = _batch()
    with pytest.raises(ValueError, match="`T`"):
        U.gem_em(zq, zs, ys, 3, 1.0, 0.0, 2)
    with pytest.raises(ValueError, match="`lam`"):
        U.gem_em(zq, zs, ys, 3, -1.0, 1.0, 2)
    with pytest.raises(ValueError, match="`y_support`"):
        U.gem_em(zq, zs, ys + 5, 3, 1.0, 1.0, 2)
    with pytest.raises(ValueError, match="`z_query`"):
        U.gem_em(zq[..., :1], zs, ys, 3, 1.0, 1.0, 2)
    with pytest.raises(ValueError, match="`y_query`"):
        U.unem_loss(zq, zs, ys, yq[:, :3], 3, np.ones(2), np.ones(2))
    with pytest.raises(ValueError, match="`lr`"):
        U.fit_unem(zq, zs, ys, yq, 3, n_layers=2, lr=0.0, steps=1)


def test_quick_run_is_a_smoke_run_with_every_arm(quick_result):
    r = quick_result(SLUG)
    assert r.smoke and {row["method"] for row in r.table} == {"UNEM", "EM (grid)", "inductive", "Bayes"}


def full():
    assert freshness(SLUG) == "fresh", f"run `refimpl record {SLUG}`"
    return recorded(SLUG)


def test_full_run_premises_are_present_and_judged_on_five_seeds():
    r = full()
    assert all(p["present"] for p in r.premises)
    assert len(r.seeds) == 5 and all(c["interval"]["n"] == 5 for c in r.claims)


def _claim(r, baseline):
    return next(c for c in r.claims if c["baseline"] == baseline)


def test_full_run_learned_hyperparameters_beat_the_grid_searched_em():
    """The paper's distinguishing claim: the whole 95 % interval of UNEM − EM (grid) is above 0."""
    assert _claim(full(), "EM (grid)")["interval"]["low"] > 0.0


def test_full_run_transduction_beats_the_inductive_classifier():
    assert _claim(full(), "inductive")["interval"]["low"] > 0.0


def test_full_run_choices_are_inside_their_grids():
    assert full().grid_edges() == []
