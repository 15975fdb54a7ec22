"""EvoNorm-B0 / S0 (Liu, Brock, Simonyan, Le, 2020; arXiv 2004.02967)."""

import numpy as np
import pytest

import refimpl as rf
from refimpl.autograd.tensor import Tensor, no_grad
from refimpl.techniques.regularization_normalization import evonorm as ev


@pytest.mark.parametrize("case", ev.reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


def _np_b0(x, g, b, v, eps, bvar=None):
    if bvar is None:
        bvar = x.var(axis=(0, 2, 3), keepdims=True)
    else:
        bvar = bvar.reshape(1, -1, 1, 1)
    ivar = x.var(axis=(2, 3), keepdims=True)
    den = np.maximum(np.sqrt(bvar + eps), v.reshape(1, -1, 1, 1) * x + np.sqrt(ivar + eps))
    return x / den * g.reshape(1, -1, 1, 1) + b.reshape(1, -1, 1, 1)


def _np_s0(x, g, b, v, groups, eps):
    n, c, h, w = x.shape
    xg = x.reshape(n, groups, -1)
    std = np.sqrt(xg.var(axis=2, keepdims=True) + eps)
    std = np.broadcast_to(std, xg.shape).reshape(x.shape)
    vx = v.reshape(1, -1, 1, 1) * x
    return x / (1 + np.exp(-vx)) / std * g.reshape(1, -1, 1, 1) + b.reshape(1, -1, 1, 1)


def _params(rng, c):
    return rng.uniform(0.5, 2, c), rng.normal(size=c), rng.normal(size=c)


def test_b0_and_s0_match_numpy_oracles():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 4, 5, 5))
    g, b, v = _params(rng, 4)
    got = ev.evonorm_b0(Tensor(x), g, b, v, None, True, eps=1e-5).data
    assert np.max(np.abs(got - _np_b0(x, g, b, v, 1e-5))) < 1e-12
    got = ev.evonorm_s0(Tensor(x), g, b, v, 2, eps=1e-5).data
    assert np.max(np.abs(got - _np_s0(x, g, b, v, 2, 1e-5))) < 1e-12


def test_b0_running_variance_and_eval_mode():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(4, 2, 3, 3))
    layer = ev.EvoNorm2d(2, "B0", dtype=np.float64)
    layer(Tensor(x))
    biased = x.var(axis=(0, 2, 3))
    assert np.allclose(layer.running_var, 0.9 * 1.0 + 0.1 * biased)  # decay 0.9 from ones, biased variance
    layer.eval()
    with no_grad():
        y = layer(Tensor(x)).data
    assert np.allclose(y, _np_b0(x, np.ones(2), np.zeros(2), np.ones(2), 1e-5, bvar=layer.running_var))


def test_s0_never_mixes_samples():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(5, 4, 3, 3))
    g, b, v = _params(rng, 4)
    full = ev.evonorm_s0(Tensor(x), g, b, v, 2).data
    alone = ev.evonorm_s0(Tensor(x[2:3]), g, b, v, 2).data
    assert np.allclose(full[2:3], alone, atol=1e-13)


def test_gradchecks():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 2, 3, 3))
    g, b, v = _params(rng, 2)
    rf.gradcheck(lambda x, g, b, v: ev.evonorm_s0(x, g, b, v, 2), x, g, b, v)
    rf.gradcheck(lambda x, g, b, v: ev.evonorm_b0(x, g, b, v, None, True), x, g, b, v)


def test_group_count_and_bad_arguments():
    assert ev.largest_divisor_at_most(12, 32) == 12 and ev.largest_divisor_at_most(12, 5) == 4
    with pytest.raises(ValueError, match="kind"):
        ev.EvoNorm2d(4, "B1")
    with pytest.raises(ValueError, match="groups"):
        ev.evonorm_s0(Tensor(np.zeros((1, 3, 2, 2))), np.ones(3), np.zeros(3), np.ones(3), 2)
    with pytest.raises(ValueError, match="spatial"):
        ev.evonorm_b0(Tensor(np.zeros((2, 3))), np.ones(3), np.zeros(3), np.ones(3))


def test_demo_runs_and_reports_honestly(demo_result):
    r = demo_result("evonorm", 0)
    rf.catalog.check_demo_result(r)
    for row in r["table"]:  # every layer trains at every batch size (far above chance 0.1)
        assert min(row[k] for k in ("bn", "gn", "b0", "s0")) > 0.5
    assert r["claim"]["holds"] == all(r["checks"].values())
