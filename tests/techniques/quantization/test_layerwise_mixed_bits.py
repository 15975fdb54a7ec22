"""Layer-wise mixed bits: LIM/ZD hand cases and properties, allocation bookkeeping, the demo's claim."""

import numpy as np
import pytest

from refimpl.techniques.quantization import layerwise_mixed_bits as L


def test_reference_cases():
    for case in L.reference_cases():
        case.check()


def test_lim_properties():
    x = np.random.default_rng(0).normal(size=(10, 5))
    assert np.isclose(L.lim_score(x, x), -1.0)  # identity layer: least important
    assert np.isclose(L.lim_score(x, -x), 1.0)  # sign flip: most
    assert np.isclose(L.lim_score(x, 3 * x), -1.0)  # scale-invariant
    with pytest.raises(ValueError, match="shape"):
        L.lim_score(x, x[:, :3])


def test_allocation_counts_and_average():
    imp = np.array([0.5, 0.1, 0.9, 0.3])
    for k in range(5):
        bits = L.allocation(imp, k)
        assert (bits == 2).sum() == k
        assert np.isclose(L.average_bits(bits, [1, 1, 1, 1]), 4 - 2 * k / 4)
    np.testing.assert_array_equal(L.allocation(imp, 2), [4, 2, 4, 2])


def test_quantized_accuracy_restores_weights():
    model, split = L.trained_model(0, epochs=1, n_layers=2)
    w = model.fc1[0].weight.data.copy()
    L._quantized_accuracy(model, [2, 2], split.x_test[:50], split.y_test[:50])
    np.testing.assert_array_equal(model.fc1[0].weight.data, w)


@pytest.mark.parametrize("seed", [0, 1])
def test_demo_claim_holds(seed, demo_result):
    r = demo_result("layerwise-mixed-bits", seed)
    m = r["metrics"]
    assert r["claim"]["holds"], r["table"]
    assert m["mean_acc_lim"] > m["mean_acc_random"] + 0.01
