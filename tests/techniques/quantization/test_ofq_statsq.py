"""OFQ: StatsQ against its hand case and grid contract, the CGA mask, the oscillation tracker, QAT demo."""

import numpy as np
import pytest

from refimpl import Tensor
from refimpl.nn import Linear
from refimpl.nn.parametrize import register_parametrization
from refimpl.techniques.quantization import ofq_statsq as O


def test_reference_cases():
    for case in O.reference_cases():
        case.check()


@pytest.mark.parametrize("bits", [2, 3, 4])
def test_statsq_grid_contract(bits):
    W = np.random.default_rng(bits).normal(size=(5, 40))
    q = O.statsq_quantize(W, bits)
    k = O.statsq_levels(W, bits)
    n = 2 ** (bits - 1)
    assert k.min() >= -n and k.max() <= n - 1  # 2^b codes
    s = O.statsq_scale(W)
    np.testing.assert_allclose(q, s * (k + 0.5) / n)  # on the zero-free grid
    inside = np.abs(W / s) < 1 - 1e-6
    assert np.all(np.abs(W - q)[inside] <= (s / (2 * n) * np.ones_like(W))[inside] + 1e-12)  # ≤ step/2
    # idempotent for a fixed scale: re-quantizing Ŵ/s on the same grid gives the same levels
    np.testing.assert_array_equal(np.rint(np.clip(q / s, -1, 1 - 1e-6) * n - 0.5), k)


def test_one_bit_is_rejected():
    with pytest.raises(ValueError, match="bits"):
        O.statsq_quantize(np.ones((2, 2)), 1)


def test_statsq_ste_gradient_is_identity():
    layer = Linear(4, 3, dtype=np.float64, rng=0)
    register_parametrization(layer, "weight", O.StatsQWeight(2))
    g = np.random.default_rng(0).normal(size=(5, 3))
    layer(Tensor(np.ones((5, 4)))).backward(g)
    np.testing.assert_allclose(layer.parametrizations.weight.original.grad, g.T @ np.ones((5, 4)))


def test_tracker_counts_match_brute_force():
    rng = np.random.default_rng(0)
    traj = np.cumsum(rng.integers(-1, 2, size=(50, 6)), axis=0)
    got = O.count_oscillations(list(traj))
    brute = 0
    for j in range(6):  # independent: reversals of the sequence of non-zero changes
        d = np.sign(np.diff(traj[:, j]))
        d = d[d != 0]
        brute += int(np.sum(d[1:] * d[:-1] == -1))
    assert got == brute


def test_cga_freezes_confident_weights_in_qat():
    r = O.qat("statsq+cga", 2, seed=0, epochs=2, cga_fraction=0.5)
    assert np.isfinite(r["acc"])
    with pytest.raises(ValueError, match="method"):
        O.qat("pact", 2)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_demo_cga_part_of_the_claim(seed, demo_result):
    m = demo_result("ofq-statsq", seed)["metrics"]
    # CGA removes most late oscillation and is as accurate as LSQ; StatsQ-alone vs LSQ is reported, not asserted
    assert m["late_osc_w2_statsq_cga"] < 0.6 * m["late_osc_w2_statsq"]
    assert m["acc_w2_statsq_cga"] >= m["acc_w2_lsq"] - 0.01
