"""QFX: the fixed-point cast and its contract, the learnable binary point's gradient by hand (and a wrong
gradient caught), K-hot grids against brute force, GPTQ on the fixed-point grid (the family's GPTQ with the
cast as its quantizer), the fixed-point residual model (every cast on its grid, frozen points stay put,
learned ones receive a gradient), the quick run's code path and the paper's claims on the recorded full
result."""

import math

import numpy as np
import pytest

from refimpl import Tensor
from refimpl.experiments import freshness, recorded, tasks
from refimpl.techniques.quantization import qfx as Q
from refimpl.techniques.quantization.qfx.cases import reference_cases

SLUG = "qfx"


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


@pytest.mark.parametrize("wbit,fbit", [(3, 1), (4, 2), (6, 3), (8, 7), (5, -1)])
def test_cast_contract(wbit, fbit):
    x = np.random.default_rng(wbit).normal(size=200) * 2.0 ** (wbit - 1 - fbit) / 2
    q = Q.fixed_point_cast(x, wbit, fbit)
    step = 2.0 ** (-fbit)
    codes = q / step
    np.testing.assert_allclose(codes, np.rint(codes))
    assert codes.min() >= -(2 ** (wbit - 1)) and codes.max() <= 2 ** (wbit - 1) - 1
    np.testing.assert_array_equal(Q.fixed_point_cast(q, wbit, fbit), q)
    inside = np.abs(x) < (2 ** (wbit - 1) - 1) * step
    assert np.all(np.abs(x - q)[inside] <= step / 2 + 1e-12)
    # the differentiable cast is the same function
    np.testing.assert_array_equal(Q.fixed_point_t(Tensor(x), Tensor(np.array(float(fbit))), wbit).data, q)


def _phi_grad_by_hand(x, f, wbit):
    """∂Σx̂/∂φ = −ln2·2^−f·Σ(round(v) − v inside | q_min or q_max where clipped), v = x·2^f."""
    v = x * 2.0**f
    qmin, qmax = -(2 ** (wbit - 1)), 2 ** (wbit - 1) - 1
    factor = np.where(np.rint(v) > qmax, qmax, np.where(np.rint(v) < qmin, qmin, np.rint(v) - v))
    return float(np.sum(-math.log(2) * 2.0**-f * factor))


def test_binary_point_gradient_by_hand():
    x = Tensor(np.array([0.3, -0.55, 5.0, -9.0]), requires_grad=True)
    phi = Tensor(np.array(1.8), requires_grad=True)  # f = 2, s = 0.25
    y = Q.fixed_point_t(x, phi, 4)
    np.testing.assert_allclose(y.data, [0.25, -0.5, 1.75, -2.0])
    y.backward(np.ones(4))
    np.testing.assert_allclose(phi.grad, _phi_grad_by_hand(x.data, 2, 4), rtol=1e-12)
    np.testing.assert_array_equal(x.grad, [1, 1, 0, 0])  # the STE passes the gradient inside the range only
    # a wrong rule (ignoring the clipped values) is caught by the same comparison
    wrong = float(np.sum(-math.log(2) * 0.25 * (np.rint(x.data[:2] * 4) - x.data[:2] * 4)))
    assert not np.isclose(phi.grad, wrong)


def test_binary_point_gradient_random_upstream():
    rng = np.random.default_rng(3)
    xv, g = rng.normal(size=50) * 3, rng.normal(size=50)
    phi = Tensor(np.array(1.2), requires_grad=True)  # f = 1
    Q.fixed_point_t(Tensor(xv), phi, 3).backward(g)
    v = xv * 2.0
    factor = np.where(np.rint(v) > 3, 3, np.where(np.rint(v) < -4, -4, np.rint(v) - v))
    np.testing.assert_allclose(phi.grad, np.sum(g * -math.log(2) * 0.5 * factor), rtol=1e-12)


def test_khot_against_brute_force_and_full_grid():
    # K = w − 1 recovers every code of the symmetric fixed-point grid
    np.testing.assert_array_equal(Q.khot_values(5, 1, 4), np.arange(-15, 16) / 2)
    x = np.random.default_rng(0).uniform(-3, 3, 300)
    vals = Q.khot_values(6, 3, 2)
    brute = vals[np.argmin(np.abs(x[:, None] - vals[None]), axis=1)]
    np.testing.assert_array_equal(Q.khot_quantize(x, 6, 3, 2), brute)
    with pytest.raises(ValueError, match="wbit"):
        Q.fixed_point_cast(x, 1, 0)


def test_gptq_on_the_fixed_point_grid():
    rng = np.random.default_rng(0)
    W = rng.normal(size=(12, 16)) * 0.4
    # uncorrelated inputs (H diagonal): no error feedback, GPTQ is the plain cast, whatever the damping
    X = np.eye(16) * rng.uniform(0.5, 2.0, size=16)
    for percdamp in (0.0, 0.1):
        np.testing.assert_array_equal(
            Q.gptq_fixed_point_cast(W, X, 3, 2, percdamp=percdamp), Q.fixed_point_cast(W, 3, 2)
        )
    # correlated inputs: on the same grid, and a smaller layer-output error than the cast's
    X = rng.normal(size=(400, 4)) @ rng.normal(size=(4, 16)) + 0.1 * rng.normal(size=(400, 16))
    G, C = Q.gptq_fixed_point_cast(W, X, 3, 2), Q.fixed_point_cast(W, 3, 2)
    np.testing.assert_array_equal(Q.fixed_point_cast(G, 3, 2), G)  # on the grid: codes in [−4, 3], step ¼
    assert np.sum((X @ (W - G).T) ** 2) < 0.7 * np.sum((X @ (W - C).T) ** 2)


def test_fixed_point_model_casts_everything():
    m = Q.FixedPointResidualMLP(d=8, n_blocks=2, seed=0)
    assert abs(tasks.kurtosis(m.fc1[0].weight.data) - 3.0) < 1.0  # normal init
    n_w, n_a = len(m.linears()), len(m.act_sites())
    m.enable_casts(3, 4, [1] * n_w, [0] * n_a, learn_point=True)
    assert len(m.casts()) == n_w + n_a
    for lin in m.linears():  # every effective weight is on its 3-bit grid (f = 1: step ½, codes −4…3)
        codes = lin.weight.data * 2
        np.testing.assert_array_equal(codes, np.rint(codes))
        assert codes.min() >= -4 and codes.max() <= 3
    x = np.random.default_rng(0).uniform(0, 1, size=(16, 64))
    m(Tensor(x)).sum().backward()
    assert all(c.phi.grad is not None and np.isfinite(c.phi.grad) for c in m.casts())
    assert any(c.phi.grad != 0 for c in m.casts())


def test_frozen_points_stay_and_learned_points_move():
    from refimpl.optim import Adam

    x = np.random.default_rng(1).uniform(0, 1, size=(32, 64))
    for learn in (False, True):
        m = Q.FixedPointResidualMLP(d=8, n_blocks=1, seed=0)
        m.enable_casts(3, 4, [3] * 4, [3] * 4, learn_point=learn)  # f = 3: far too little range
        phis = [c.phi for c in m.casts()]
        opt = Adam([{"params": phis, "lr": 0.3}])
        for _ in range(10):
            opt.zero_grad()
            (m(Tensor(x)) ** 2).sum().backward()
            opt.step()
        moved = [c.fbit != 3 for c in m.casts()]
        assert any(moved) == learn


# ---- the experiment ---------------------------------------------------------------------------------------
def test_quick_run_code_path_and_premises(quick_result):
    r = quick_result(SLUG)
    assert r.smoke
    r.validate()
    assert [p["metric"] for p in r.premises] == ["gap_to_fp"] * 3
    for p in r.premises:
        assert all(np.isfinite(p["values"]))
    assert r.methods == [
        *("PTQ", "GPTQ", "fixed f0-1", "fixed f0+0", "fixed f0+1", "fixed f0+2", "best fixed", "QFX")
    ]
    assert r.values("fixed f0+0", "points_moved") == [0.0] * len(r.seeds)  # frozen points do not move
    assert max(r.values("QFX", "points_moved")) > 0  # learned ones do


def test_gptq_arm_quick():
    """The GPTQ arm's model: every weight GPTQ-cast onto its frozen fixed-point grid (so the weight cast is
    the identity on it), activations still cast, and it runs in quick mode."""
    from refimpl.techniques.quantization.qfx import experiment as E

    model, _ = E.gptq_model(0, True, 1, 0, 0.01)
    for lin in model.linears():
        theta = lin.parametrizations.weight.original.data
        f = lin.parametrizations.weight[0].fbit
        np.testing.assert_array_equal(lin.weight.data, theta)  # already on the grid
        np.testing.assert_array_equal(Q.fixed_point_cast(theta, E.WBIT, f), theta)
    assert model.acts is not None and len(model.acts) == len(model.act_sites())
    out = E._gptq_run(0, True, 1, 0, 0.01)
    assert 0.1 < out["test_accuracy"] <= 1 and out["points_moved"] == 0


def full():
    assert freshness(SLUG) == "fresh", f"run `refimpl record {SLUG}`"
    return recorded(SLUG)


def _paired(r, metric, a, b):
    return np.array(r.values(a, metric)) - np.array(r.values(b, metric))


def test_full_run_premises_measured():
    r = full()
    assert len(r.seeds) >= 5
    assert all(p["present"] for p in r.premises)
    assert min(r.values("PTQ", "gap_to_fp")) > 0.15  # every seed: the 3-bit cast costs > 15 points
    assert min(r.values("fixed f0+0", "gap_to_fp")) > 0.01  # every seed: QAT at f0 leaves room


def test_full_run_qfx_beats_ptq():
    r = full()
    assert r.claim("QFX (learned binary points) beats the post-training")["interval"]["low"] > 0.2


def test_full_run_learned_point_beats_every_nearby_fixed_point():
    r = full()
    iv = r.claim("QFX beats the best nearby fixed binary point")["interval"]
    assert iv["low"] > 0.005, iv  # half a point at least, the whole interval
    assert _paired(r, "test_accuracy", "QFX", "best fixed").min() > 0  # every seed
    qfx = np.mean(r.values("QFX", "test_accuracy"))
    for d in ("-1", "+0", "+1", "+2"):  # and every shift of all points together, on average
        assert qfx > np.mean(r.values(f"fixed f0{d}", "test_accuracy")), d
    # the learned points do move, mostly toward more fractional bits (the range rule leaves too little
    # resolution), and not all the same way: no single shift of every point reproduces them
    moved = np.array(r.values("QFX", "points_moved"))
    shift = np.array(r.values("QFX", "mean_point_shift"))
    assert moved.mean() > 0.5 and shift.mean() > 0, (moved, shift)
    assert np.all(shift < moved), (shift, moved)  # some points moved the other way or by less than one


def test_full_run_qfx_beats_the_gptq_cast():
    r = full()
    # the GPTQ arm is a real, stronger baseline: it beats the plain post-training cast on every seed
    assert _paired(r, "test_accuracy", "GPTQ", "PTQ").min() > 0.05
    assert min(r.values("GPTQ", "gap_to_fp")) > 0.01  # and it still leaves room below the float model
    iv = r.claim("QFX beats the GPTQ fixed-point cast")["interval"]
    assert iv["low"] > 0.03, iv  # three points at least, the whole interval
    assert _paired(r, "test_accuracy", "QFX", "GPTQ").min() > 0  # every seed
