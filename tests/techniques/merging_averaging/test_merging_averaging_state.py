"""The merging-averaging family's state-dict arithmetic and evaluation, against hand values and loops."""

from collections import OrderedDict

import numpy as np
import pytest

from refimpl.techniques.merging_averaging import state as S


def _mlp_state(sizes, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    sd = OrderedDict()
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        sd[f"{2 * i}.weight"] = rng.standard_normal((b, a)).astype(dtype)
        sd[f"{2 * i}.bias"] = rng.standard_normal(b).astype(dtype)
    return sd


def test_interpolate_and_average_by_hand():
    a = {"w": np.array([0.0, 0.0])}
    b = {"w": np.array([2.0, 4.0])}
    np.testing.assert_allclose(S.interpolate(a, b, 0.25)["w"], [0.5, 1.0])
    np.testing.assert_allclose(S.average([a, b, b])["w"], [4 / 3, 8 / 3])
    np.testing.assert_allclose(S.average([a, b], [0.5, 2.0])["w"], [4.0, 8.0])


def test_family_contract_on_arithmetic():
    sd = _mlp_state([3, 4, 2])
    one = S.average([sd])
    for k in sd:
        np.testing.assert_array_equal(one[k], sd[k])  # merging one model returns it
    same = S.average([sd, sd, sd])
    for k in sd:
        np.testing.assert_allclose(same[k], sd[k], rtol=0, atol=1e-15)  # identical models → same weights


def test_mlp_forward_matches_loop():
    sd = _mlp_state([3, 5, 4, 2], seed=3)
    x = np.random.default_rng(0).standard_normal((6, 3))
    out = np.empty((6, 2))
    for n in range(6):  # explicit loop over samples and units
        h = x[n]
        for i, w_key in enumerate(["0.weight", "2.weight", "4.weight"]):
            w, b = sd[w_key], sd[w_key.replace("weight", "bias")]
            h = np.array([sum(w[j, k] * h[k] for k in range(w.shape[1])) + b[j] for j in range(w.shape[0])])
            if i < 2:
                h = np.maximum(h, 0)
        out[n] = h
    np.testing.assert_allclose(S.mlp_forward(sd, x), out, atol=1e-12)


def test_loss_barrier_by_hand():
    # ends 1 and 3, chord at λ=0.5 is 2, midpoint loss 5 → barrier 3
    assert S.loss_barrier([1.0, 5.0, 3.0]) == pytest.approx(3.0)
    assert S.loss_barrier([1.0, 1.5, 2.0]) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="losses"):
        S.loss_barrier([1.0])


def test_evaluate_state_by_hand():
    sd = OrderedDict([("0.weight", np.array([[1.0, 0.0], [0.0, 1.0]])), ("0.bias", np.zeros(2))])
    x = np.array([[np.log(3.0), 0.0], [0.0, 0.0]])
    r = S.evaluate_state(sd, x, np.array([0, 1]))
    # softmax([ln3, 0]) = [3/4, 1/4]; softmax([0,0]) = [1/2,1/2]; argmax ties → class 0
    assert r["loss"] == pytest.approx((-np.log(0.75) - np.log(0.5)) / 2)
    assert r["accuracy"] == pytest.approx(0.5)


def test_bad_inputs_name_the_argument():
    with pytest.raises(TypeError, match="sd"):
        S.evaluate_state([1, 2], np.zeros((1, 2)), np.zeros(1, int))
    with pytest.raises(ValueError, match="sds"):
        S.average([])
    with pytest.raises(ValueError, match=r"sd_a, sd_b"):
        S.interpolate({"w": np.zeros(2)}, {"w": np.zeros(3)}, 0.5)
    with pytest.raises(ValueError, match="weights"):
        S.average([{"w": np.zeros(2)}], [0.5, 0.5])
