"""AdaQuant/CalibTIP: the knapsack against brute force, the learnable affine quantizer, AdaQuant on one layer,
bias tuning, the demo."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from refimpl import Tensor
from refimpl.techniques.quantization import adaquant_calibtip as A


def test_reference_cases():
    for case in A.reference_cases():
        case.check()


@settings(deadline=None, max_examples=25)
@given(st.integers(1, 4), st.integers(1, 4), st.integers(0, 10_000), st.data())
def test_knapsack_equals_brute_force(n_layers, n_opts, seed, data):
    rng = np.random.default_rng(seed)
    dl = rng.uniform(0, 1, (n_layers, n_opts)).round(3).tolist()
    sz = rng.integers(1, 9, (n_layers, n_opts)).tolist()
    budget = data.draw(st.integers(int(np.min(sz, 1).sum()), int(np.max(sz, 1).sum())))
    c1, l1, s1 = A.allocate_bits(dl, sz, budget)
    c2, l2, s2 = A.allocate_bits_brute_force(dl, sz, budget)
    assert np.isclose(l1, l2) and s1 <= budget
    assert np.isclose(sum(dl[i][k] for i, k in enumerate(c1)), l1)


def test_knapsack_infeasible_and_bad_input():
    with pytest.raises(ValueError, match="budget"):
        A.allocate_bits([[0.1]], [[5]], 4)
    with pytest.raises(ValueError, match="sizes"):
        A.allocate_bits([[0.1]], [[-1]], 4)


def test_affine_quantizer_gradients_reach_range_and_input():
    x = Tensor(np.array([-0.3, 0.2, 0.9, 2.0]), requires_grad=True)
    lo = Tensor(np.array(-0.4), requires_grad=True)
    rng = Tensor(np.array(1.2), requires_grad=True)
    A.affine_quant_t(x, lo, rng, 2).sum().backward()
    # STE: x passes inside [lo, lo + range], 2.0 is clipped; lo and range get gradients
    np.testing.assert_array_equal(x.grad, [1, 1, 1, 0])
    assert lo.grad is not None and rng.grad is not None


def test_adaquant_lowers_the_layer_error():
    rng = np.random.default_rng(0)
    W, X = rng.normal(size=(8, 12)) * 0.3, np.abs(rng.normal(size=(200, 12)))
    b = rng.normal(size=8) * 0.1
    r = A.adaquant_layer(W, b, X, X @ W.T + b, 2, 4, iters=100)
    assert r["mse_after"] < 0.7 * r["mse_before"]
    with pytest.raises(ValueError, match="X"):
        A.adaquant_layer(W, b, X[:, :3], X @ W.T, 2, 4)


@pytest.mark.parametrize("seed", [0, 1])
def test_demo_adaquant_part_of_the_claim(seed, demo_result):
    m = demo_result("adaquant-calibtip", seed)["metrics"]
    assert max(m["acc_w2a4_adaquant_seq"], m["acc_w2a4_adaquant_par"]) > m["acc_w2a4_minmax"] + 0.005
    assert m["alloc_avg_bits_ip"] <= 3.0 + 1e-12
