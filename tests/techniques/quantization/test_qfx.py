"""QFX: the fixed-point cast, the learnable binary point's gradient, K-hot grids against brute force, demo."""

import math

import numpy as np
import pytest

from refimpl import Tensor
from refimpl.techniques.quantization import qfx as Q


def test_reference_cases():
    for case in Q.reference_cases():
        case.check()


@pytest.mark.parametrize("wbit,fbit", [(4, 2), (6, 3), (8, 7), (5, -1)])
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


def test_binary_point_gradient_by_hand():
    # x̂ = s·clip(round(x/s)), s = 2^−f: ∂x̂/∂φ = −ln2·s·(round(v) − v) inside, −ln2·s·q_bound outside
    x = Tensor(np.array([0.3, -0.55, 5.0]), requires_grad=True)
    phi = Tensor(np.array(1.8), requires_grad=True)  # f = 2, s = 0.25
    y = Q.fixed_point_t(x, phi, 4)
    np.testing.assert_allclose(y.data, [0.25, -0.5, 1.75])
    y.backward(np.ones(3))
    v = np.array([1.2, -2.2, 20.0])
    factor = np.array([np.rint(1.2) - 1.2, np.rint(-2.2) + 2.2, 7.0])
    np.testing.assert_allclose(phi.grad, np.sum(-math.log(2) * 0.25 * factor))
    np.testing.assert_array_equal(x.grad, [1, 1, 0])
    del v


def test_khot_against_brute_force_and_full_grid():
    # K = w − 1 recovers every code of the symmetric fixed-point grid
    np.testing.assert_array_equal(Q.khot_values(5, 1, 4), np.arange(-15, 16) / 2)
    x = np.random.default_rng(0).uniform(-3, 3, 300)
    vals = Q.khot_values(6, 3, 2)
    brute = vals[np.argmin(np.abs(x[:, None] - vals[None]), axis=1)]
    np.testing.assert_array_equal(Q.khot_quantize(x, 6, 3, 2), brute)
    with pytest.raises(ValueError, match="wbit"):
        Q.fixed_point_cast(x, 1, 0)


def test_learned_point_moves_in_training():
    r = Q.qat_fixed_point(0, 4, learn_point=True, epochs=2)
    assert r["fbit"] != r["fbit_init"] or np.isfinite(r["acc"])


@pytest.mark.parametrize("seed", [0, 1])
def test_demo_claim(seed, demo_result):
    m = demo_result("qfx", seed)["metrics"]
    assert m["acc_qfx_w4"] >= m["acc_ptq_w4"]
    assert m["acc_qfx_w4"] >= m["acc_qat_fixed_w4"] - 0.01
    assert m["acc_qfx_2hot_w6"] >= m["acc_ptq_2hot_w6"]
