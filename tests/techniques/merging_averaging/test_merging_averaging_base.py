"""The shared base of the merging-averaging family: arithmetic checked against hand values and loops."""

from collections import OrderedDict

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import refimpl
from refimpl.autograd.tensor import Tensor
from refimpl.techniques.merging_averaging import _base as B


def _mlp_state(sizes, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    sd = OrderedDict()
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        sd[f"{2 * i}.weight"] = rng.standard_normal((b, a)).astype(dtype)
        sd[f"{2 * i}.bias"] = rng.standard_normal(b).astype(dtype)
    return sd


def test_flatten_roundtrip_and_order():
    sd = OrderedDict(a=np.array([[1.0, 2.0], [3.0, 4.0]]), b=np.array([5.0], dtype=np.float32))
    vec, spec = B.flatten_state(sd)
    np.testing.assert_array_equal(vec, [1, 2, 3, 4, 5])
    back = B.unflatten_state(vec, spec)
    assert list(back) == ["a", "b"] and back["b"].dtype == np.float32
    np.testing.assert_array_equal(back["a"], sd["a"])
    with pytest.raises(ValueError, match="vec"):
        B.unflatten_state(vec[:4], spec)


def test_interpolate_average_task_vectors_by_hand():
    a = {"w": np.array([0.0, 0.0])}
    b = {"w": np.array([2.0, 4.0])}
    np.testing.assert_allclose(B.interpolate(a, b, 0.25)["w"], [0.5, 1.0])
    np.testing.assert_allclose(B.average([a, b, b])["w"], [4 / 3, 8 / 3])
    np.testing.assert_allclose(B.average([a, b], [0.5, 2.0])["w"], [4.0, 8.0])
    # catalogue case: θ0 = [0,0], τ1 = [1,0], τ2 = [0,2], λ = [0.3, 0.5] → [0.3, 1.0]
    t1, t2 = {"w": np.array([1.0, 0.0])}, {"w": np.array([0.0, 2.0])}
    np.testing.assert_allclose(B.add_task_vectors(a, [t1, t2], [0.3, 0.5])["w"], [0.3, 1.0])
    np.testing.assert_allclose(B.add_task_vectors(a, [t1, t2], [{"w": 1.0}, {}])["w"], [1.0, 0.0])
    np.testing.assert_allclose(B.task_vector(b, a)["w"], [2.0, 4.0])


def test_family_contract_on_arithmetic():
    sd = _mlp_state([3, 4, 2])
    one = B.average([sd])
    for k in sd:
        np.testing.assert_array_equal(one[k], sd[k])  # merging one model returns it
    same = B.average([sd, sd, sd])
    for k in sd:
        np.testing.assert_allclose(same[k], sd[k], rtol=0, atol=1e-15)  # identical models → same weights
    other = _mlp_state([3, 4, 2], seed=1)
    zero = B.add_task_vectors(sd, [B.task_vector(other, sd)], [0.0])
    for k in sd:
        np.testing.assert_array_equal(zero[k], sd[k])  # zero coefficient → base


def test_layer_cosines_norms_distance_by_hand():
    anchor = {"w": np.array([1.0, 1.0]), "b": np.array([0.0])}
    a = {"w": np.array([2.0, 1.0]), "b": np.array([1.0])}
    b = {"w": np.array([2.0, 2.0]), "b": np.array([-1.0])}
    cos = B.layer_cosines(a, b, anchor)
    assert cos["w"] == pytest.approx(1 / np.sqrt(2))  # (1,0)·(1,1)/√2
    assert cos["b"] == pytest.approx(-1.0)
    assert B.layer_norms(a)["w"] == pytest.approx(np.sqrt(5))
    assert B.distance(a, b) == pytest.approx(np.sqrt(0 + 1 + 4))


def test_mlp_forward_matches_loop_and_tensor_path():
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
    np.testing.assert_allclose(B.mlp_forward(sd, x), out, atol=1e-12)
    tsd = OrderedDict((k, Tensor(v, requires_grad=True)) for k, v in sd.items())
    np.testing.assert_allclose(B.mlp_forward(tsd, x).data, out, atol=1e-12)


def test_mlp_forward_gradcheck_through_coefficients():
    base = _mlp_state([3, 4, 2], seed=0)
    tau = _mlp_state([3, 4, 2], seed=1)
    x = np.random.default_rng(2).standard_normal((5, 3))

    def f(lam):
        sd = B.add_task_vectors(base, [tau], [lam])
        return B.mlp_forward(sd, x).sum()

    refimpl.gradcheck(f, Tensor(np.array(0.3), requires_grad=True))


@settings(deadline=None, max_examples=10)
@given(seed=st.integers(0, 10_000), hidden=st.lists(st.integers(1, 6), min_size=1, max_size=3))
def test_permutation_leaves_function_unchanged(seed, hidden):
    sizes = [4] + hidden + [3]
    sd = _mlp_state(sizes, seed=seed)
    perms = B.random_permutations(sd, seed=seed + 1)
    x = np.random.default_rng(seed).standard_normal((7, 4))
    np.testing.assert_allclose(
        B.mlp_forward(B.permute_state(sd, perms), x), B.mlp_forward(sd, x), rtol=0, atol=1e-12
    )


def test_permutation_spec_and_by_hand():
    sd = OrderedDict(
        [
            ("0.weight", np.array([[1.0], [2.0]])),
            ("0.bias", np.array([10.0, 20.0])),
            ("2.weight", np.array([[3.0, 4.0]])),
            ("2.bias", np.array([0.0])),
        ]
    )
    spec = B.mlp_permutation_spec(sd)
    assert spec == {
        "0.weight": ("P_0", None),
        "0.bias": ("P_0",),
        "2.weight": (None, "P_0"),
        "2.bias": (None,),
    }
    p = B.permute_state(sd, {"P_0": np.array([1, 0])})
    np.testing.assert_array_equal(p["0.weight"], [[2.0], [1.0]])
    np.testing.assert_array_equal(p["0.bias"], [20.0, 10.0])
    np.testing.assert_array_equal(p["2.weight"], [[4.0, 3.0]])
    with pytest.raises(ValueError, match="perms"):
        B.permute_state(sd, {"P_0": np.array([0, 0])})


def test_loss_barrier_by_hand():
    # ends 1 and 3, chord at λ=0.5 is 2, midpoint loss 5 → barrier 3
    assert B.loss_barrier([1.0, 5.0, 3.0]) == pytest.approx(3.0)
    assert B.loss_barrier([1.0, 1.5, 2.0]) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="losses"):
        B.loss_barrier([1.0])


def test_evaluate_state_by_hand():
    sd = OrderedDict([("0.weight", np.array([[1.0, 0.0], [0.0, 1.0]])), ("0.bias", np.zeros(2))])
    x = np.array([[np.log(3.0), 0.0], [0.0, 0.0]])
    r = B.evaluate_state(sd, x, np.array([0, 1]))
    # softmax([ln3, 0]) = [3/4, 1/4]; softmax([0,0]) = [1/2,1/2]; argmax ties → class 0
    assert r["loss"] == pytest.approx((-np.log(0.75) - np.log(0.5)) / 2)
    assert r["accuracy"] == pytest.approx(0.5)


def test_rotation_and_shift_by_hand():
    x = np.arange(64, dtype=np.float64).reshape(1, 64)
    np.testing.assert_allclose(B.rotate_images(x, 90).reshape(8, 8), np.rot90(x.reshape(8, 8)), atol=1e-12)
    np.testing.assert_allclose(B.rotate_images(x, 0), x)
    s = B.shift_images(x, 1, 0).reshape(8, 8)
    np.testing.assert_array_equal(s[0], 0)
    np.testing.assert_array_equal(s[1:], x.reshape(8, 8)[:-1])


def test_bad_inputs_name_the_argument():
    with pytest.raises(TypeError, match="sd"):
        B.layer_norms([1, 2])
    with pytest.raises(ValueError, match="sds"):
        B.average([])
    with pytest.raises(ValueError, match=r"sd_a, sd_b"):
        B.interpolate({"w": np.zeros(2)}, {"w": np.zeros(3)}, 0.5)
    with pytest.raises(ValueError, match="weights"):
        B.average([{"w": np.zeros(2)}], [0.5, 0.5])
    with pytest.raises(TypeError, match="config"):
        B.train_mlp([2, 2], np.zeros((1, 2)), np.zeros(1, int), config={"lr": 1})


def test_train_mlp_is_cached_and_deterministic():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(int)
    cfg = B.TrainConfig(lr=1e-2, epochs=2, batch_size=16, seed=3)
    a = B.train_mlp([4, 8, 2], x, y, cfg)
    a["0.weight"][:] = 0  # the cache hands out copies
    b = B.train_mlp([4, 8, 2], x, y, cfg)
    B.clear_cache()
    c = B.train_mlp([4, 8, 2], x, y, cfg)
    assert np.abs(b["0.weight"]).sum() > 0
    for k in b:
        np.testing.assert_array_equal(b[k], c[k])
    # frozen parameters do not move
    d = B.train_mlp(
        [4, 8, 2], x, y, B.TrainConfig(lr=1e-2, epochs=1, seed=4), init_state=c, trainable=["0.weight"]
    )
    np.testing.assert_array_equal(d["2.weight"], c["2.weight"])
    assert not np.array_equal(d["0.weight"], c["0.weight"])
