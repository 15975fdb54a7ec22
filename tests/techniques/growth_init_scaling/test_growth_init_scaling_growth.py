"""The family's growth operators (growth_init_scaling/growth.py): Net2Net widening by hand, function
preservation to 1e-12 in float64 for widening and identity insertion under every parametrization, the
grown network keeps its parametrization, and the non-preserving variants really change the function."""

import numpy as np
import pytest

from refimpl.techniques.growth_init_scaling import growth as G
from refimpl.techniques.growth_init_scaling.parametrization import PARAMETRIZATIONS, WidthMLP


def _model(parametrization="mup", activation="relu", seed=0):
    return WidthMLP(6, [12, 10], 3, depth=2, parametrization=parametrization, base_width=[8, 8],
                    activation=activation, dtype=np.float64, rng=np.random.default_rng(seed))  # fmt: skip


def _x():
    return np.random.default_rng(9).normal(size=(7, 6))


def test_net2wider_by_hand():
    W, b, Wn = np.array([[1.0], [2.0]]), np.array([0.5, -1.0]), np.array([[3.0, 4.0]])
    W2, b2, Wn2, g = G.net2wider(W, b, Wn, 4, rng=np.random.default_rng(0))
    assert list(g[:2]) == [0, 1]
    counts = np.bincount(g, minlength=2)
    for j, src in enumerate(g):  # every copy: same incoming row, outgoing column split among its copies
        np.testing.assert_array_equal(W2[j], W[src])
        assert b2[j] == b[src]
        assert Wn2[0, j] == Wn[0, src] / counts[src]
    # the copies' outgoing weights add back to the original column
    np.testing.assert_allclose([Wn2[0, g == k].sum() for k in range(2)], Wn[0])


def test_zero_wider_by_hand():
    W, Wn = np.eye(2), np.array([[1.0, 2.0]])
    W2, b2, Wn2 = G.zero_wider(W, np.zeros(2), Wn, 3, [[5.0, 6.0]])
    np.testing.assert_array_equal(W2, [[1, 0], [0, 1], [5, 6]])
    np.testing.assert_array_equal(Wn2, [[1, 2, 0]])
    np.testing.assert_array_equal(b2, [0, 0, 0])


@pytest.mark.parametrize("parametrization", PARAMETRIZATIONS)
@pytest.mark.parametrize("mode", ["split", "zero"])
@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_widen_preserves_the_function(parametrization, mode, activation):
    model = _model(parametrization, activation)
    x = _x()
    for layer in (0, 1):
        grown = G.widen(model, layer, 29, mode=mode, rng=np.random.default_rng(1))
        assert grown.widths[layer] == 29 and model.widths == [12, 10]  # the original is left alone
        np.testing.assert_allclose(grown(x).data, model(x).data, rtol=0, atol=1e-12)


@pytest.mark.parametrize("parametrization", PARAMETRIZATIONS)
def test_insert_identity_layer_preserves_the_function(parametrization):
    model = _model(parametrization)
    x = _x()
    for after in (0, 1):
        grown = G.insert_layer(model, after)
        assert len(grown.layers) == len(model.layers) + 1
        np.testing.assert_allclose(grown(x).data, model(x).data, rtol=0, atol=1e-12)


def test_grown_network_keeps_its_parametrization_rules():
    model = _model("mup")
    grown = G.widen(model, 1, 32, rng=np.random.default_rng(2))  # readout fan-in 10 → 32, base 8
    layers = list(grown.layers)
    assert layers[2].multiplier == pytest.approx(8 / 32)  # μP readout multiplier at the new width
    for i, layer in enumerate(layers):
        assert layer.rule == grown.rule_for(i, layer.in_features, layer.out_features)


def test_non_preserving_growth_changes_the_function():
    model = _model("standard")
    x = _x()
    for grown in (
        G.widen(model, 0, 30, mode="split", preserve_function=False, rng=np.random.default_rng(3)),
        G.widen(model, 0, 30, mode="zero", preserve_function=False, rng=np.random.default_rng(3)),
        G.insert_layer(model, 0, preserve_function=False, rng=np.random.default_rng(3)),
    ):
        assert np.abs(grown(x).data - model(x).data).max() > 1e-3


def test_bad_arguments_are_named():
    model = _model(activation="tanh")
    with pytest.raises(ValueError, match="`new_width`"):
        G.widen(model, 0, 5)
    with pytest.raises(ValueError, match="`layer`"):
        G.widen(model, 2, 20)
    with pytest.raises(ValueError, match="`mode`"):
        G.widen(model, 0, 20, mode="copy")
    with pytest.raises(ValueError, match="relu or linear"):
        G.insert_layer(model, 0)
    with pytest.raises(TypeError, match="`model`"):
        G.widen(object(), 0, 20)
    with pytest.raises(ValueError, match="`W_next`"):
        G.net2wider(np.ones((2, 3)), None, np.ones((1, 3)), 4)
