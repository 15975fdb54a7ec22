"""NUPES: the power quantizer (hand cases, grid contract, brute-force exponent search), the learned variant."""

import numpy as np
import pytest

from refimpl.techniques.quantization import nupes as N


def test_reference_cases():
    for case in N.reference_cases():
        case.check()


@pytest.mark.parametrize("a", [0.3, 0.5, 0.8, 1.0])
def test_power_quantizer_contract(a):
    W = np.random.default_rng(0).normal(size=(4, 50))
    q = N.power_quantize(W, a, 3)
    np.testing.assert_allclose(N.power_quantize(q, a, 3), q, atol=1e-12)  # idempotent
    s = np.abs(N.power_map(W, a)).max(1, keepdims=True) / 3
    codes = N.power_map(q, a) / s
    np.testing.assert_allclose(codes, np.rint(codes), atol=1e-9)  # on the power grid
    assert np.abs(codes).max() <= 3 + 1e-9
    assert np.all(np.abs(N.power_map(W, a) - N.power_map(q, a)) <= s / 2 + 1e-12)  # ≤ s/2 in power space


def test_a_equal_one_is_the_uniform_symmetric_quantizer():
    from refimpl.techniques.quantization import quantizers as Q

    W = np.random.default_rng(1).normal(size=(3, 20))
    qp = Q.QParams(np.abs(W).max(1, keepdims=True) / 3, np.zeros((3, 1)), -3, 3)
    np.testing.assert_allclose(N.power_quantize(W, 1.0, 3), Q.fake_quant_numpy(W, qp), atol=1e-12)


def test_search_is_the_brute_force_argmin():
    W = np.random.default_rng(2).laplace(size=(8, 64))
    grid = [0.3, 0.45, 0.6, 0.75, 1.0]
    a, errs, _ = N.search_exponent(W, 3, grid=grid)
    brute = [np.sum((W - N.power_quantize(W, g, 3)) ** 2) for g in grid]
    assert a == grid[int(np.argmin(brute))] and a < 1.0
    np.testing.assert_allclose(errs, brute)


def test_learning_never_ends_worse_than_its_start():
    rng = np.random.default_rng(3)
    W, X = rng.normal(size=(6, 10)), rng.normal(size=(80, 10))
    r = N.nupes_layer(W, X, 3, steps=30)
    start = N.power_quantize(W, r["a0"], 3)
    assert np.mean((X @ (r["W_hat"] - W).T) ** 2) <= np.mean((X @ (start - W).T) ** 2) + 1e-12
    assert 0.2 <= r["a"] <= 1.0
    with pytest.raises(ValueError, match="a"):
        N.power_quantize(W, 0.0, 3)
    with pytest.raises(ValueError, match="X"):
        N.nupes_layer(W, X[:, :3], 3)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_demo_claim_holds(seed, demo_result):
    r = demo_result("nupes", seed)
    m = r["metrics"]
    assert r["claim"]["holds"], r["table"]
    assert m["a_laplace_w3"] < 0.8 and m["gain_laplace_w3"] > 1.2
    assert m["mlp_err_nupes"] < 0.7 * m["mlp_err_uniform"]
