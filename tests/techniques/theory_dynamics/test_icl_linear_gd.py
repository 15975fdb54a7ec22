"""In-context linear regression: the reference cases; the constructed layer against one GD step on random
prompts and step sizes; the attention stack's gradient in float64; GD and ridge against direct linear
algebra; the best single step against Monte Carlo; bad input; the recorded run."""

import numpy as np
import pytest

import refimpl as rf
from refimpl.experiments import freshness, recorded
from refimpl.techniques.theory_dynamics import icl_linear_gd as ICL
from refimpl.techniques.theory_dynamics.icl_linear_gd.cases import reference_cases

SLUG = "icl-linear-gd"


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


@pytest.mark.parametrize("lr", [0.01, 0.2, 1.3])
def test_constructed_layer_equals_one_gd_step_on_random_prompts(lr):
    t = ICL.sample_tasks(50, 7, 4, noise=0.3, rng=1)
    model = ICL.constructed_gd_layer(4, lr)
    out = model(rf.tensor(ICL.tokens(t["X"], t["y"], t["xq"]))).data
    np.testing.assert_allclose(out, ICL.gd_prediction(t["X"], t["y"], t["xq"], lr), rtol=1e-12, atol=1e-13)


def test_attention_stack_gradcheck_float64():
    """The two-layer stack written with explicit (V, Q) tensors equals the module, and its gradient with
    respect to every V and Q passes a float64 finite-difference check."""
    t = ICL.sample_tasks(3, 4, 2, noise=0.1, rng=2)
    model = ICL.LinearSelfAttention(2, 2, init_scale=0.3, rng=0)
    Z = rf.tensor(ICL.tokens(t["X"], t["y"], t["xq"]))

    def g(*ps):
        n = Z.shape[1] - 1
        h = Z
        for V, Q in zip(ps[0::2], ps[1::2]):
            ctx = h[:, :n, :]
            h = h + ((h @ Q.T) @ ctx.transpose(1, 2)) @ (ctx @ V.T)
        return h[:, n, 2]

    inputs = [rf.tensor(p.data.copy(), requires_grad=True) for V_Q in model.layers() for p in V_Q]
    np.testing.assert_allclose(g(*inputs).data, model(Z).data, rtol=1e-13)
    assert rf.gradcheck(g, *inputs)


def test_gd_and_ridge_against_direct_linear_algebra():
    t = ICL.sample_tasks(4, 6, 3, noise=0.2, rng=3)
    for b in range(4):
        X, y, xq = t["X"][b], t["y"][b], t["xq"][b]
        w = np.zeros(3)
        for _ in range(3):
            w = w + 0.05 * X.T @ (y - X @ w)
        assert ICL.gd_prediction(t["X"], t["y"], t["xq"], 0.05, 3)[b] == pytest.approx(w @ xq, rel=1e-12)
        ridge = xq @ np.linalg.solve(X.T @ X + 0.7 * np.eye(3), X.T @ y)
        assert ICL.ridge_prediction(t["X"], t["y"], t["xq"], 0.7)[b] == pytest.approx(ridge, rel=1e-12)
        assert ICL.ridge_prediction(t["X"], t["y"], t["xq"], 0.0)[b] == pytest.approx(
            xq @ np.linalg.lstsq(X, y, rcond=None)[0], rel=1e-10
        )


def test_best_single_step_matches_monte_carlo():
    t = ICL.sample_tasks(200_000, 10, 5, noise=0.1, rng=4)
    a = ICL.gd_prediction(t["X"], t["y"], t["xq"], 1.0)
    eta = np.sum(a * t["yq"]) / np.sum(a * a)
    mse = np.mean((eta * a - t["yq"]) ** 2) / np.mean(t["yq"] ** 2)
    best = ICL.optimal_gd_step(10, 5, 0.1)
    assert eta == pytest.approx(best["eta"], rel=0.02)
    assert mse == pytest.approx(best["mse"], rel=0.02)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="noise"):
        ICL.sample_tasks(2, 2, 2, noise=-0.1)
    with pytest.raises(ValueError, match="n_tasks"):
        ICL.sample_tasks(0, 2, 2)
    with pytest.raises(ValueError, match="lam"):
        ICL.ridge_prediction(np.ones((1, 2, 2)), np.ones((1, 2)), np.ones((1, 2)), -1.0)
    with pytest.raises(ValueError, match="n_layers"):
        ICL.LinearSelfAttention(3, 0)


def test_recorded_full_run():
    """On the recorded per-seed numbers: the one-layer model's predictions differ from the tuned one-step GD
    predictor's by under 5 % of E[y²] on every seed and are far from ridge; the two-layer model is closer to
    ridge than the one-layer model on every seed."""
    assert freshness(SLUG) == "fresh"
    r = recorded(SLUG)
    assert not r.quick and len(r.seeds) >= 3
    one, two = "linear attention, 1 layer", "linear attention, 2 layers"
    assert max(r.values(one, "spd_gd1")) < 0.05
    assert min(r.values(one, "spd_ridge")) > 5 * max(r.values(one, "spd_gd1"))
    assert np.all(np.array(r.values(two, "spd_ridge")) < np.array(r.values(one, "spd_ridge")))
    assert min(r.values(one, "spd_gd1_vs_ridge")) > 0.1
