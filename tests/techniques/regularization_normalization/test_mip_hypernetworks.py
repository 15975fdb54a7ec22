"""Magnitude Invariant Parametrizations for hypernetworks (Ortiz, Guttag, Dalca, 2024; arXiv 2304.07645)."""

import numpy as np
import pytest

import refimpl as rf
from refimpl.autograd.tensor import Tensor, no_grad
from refimpl.techniques.regularization_normalization import mip_hypernetworks as mip


@pytest.mark.parametrize("case", mip.reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


def test_encoding_has_unit_norm_everywhere():
    g = np.linspace(0, 1, 101)
    assert np.allclose(np.linalg.norm(mip.encode(g), axis=-1), 1.0)
    with pytest.raises(ValueError, match="gamma"):
        mip.encode([1.5])


def test_naive_hypernet_is_positively_homogeneous_at_init():
    """With zero biases and LeakyReLU, θ(cγ) = c θ(γ) for c > 0 and θ(0) = 0 (the paper's motivation)."""
    net = mip.HyperNet(False, rng=0)
    with no_grad():
        t1, t3 = net(0.1).data, net(0.3).data
        assert np.allclose(t3, 3 * t1, atol=1e-12)
        assert np.all(net(0.0).data == 0.0)
    assert mip.init_norm_ratio(net) == pytest.approx(10.0)


def test_mip_output_is_theta0_plus_residual():
    net = mip.HyperNet(True, rng=1)
    theta0 = net.layers[-1].bias.data.copy()
    with no_grad():
        h = Tensor(mip.encode([0.4]))
        for lin in net.layers[:-1]:
            h = rf.autograd.ops.leaky_relu(lin(h), 0.01)
        residual = h.data @ net.layers[-1].weight.data.T
        assert np.allclose(net(0.4).data, theta0 + residual[0], atol=1e-12)
    assert mip.init_norm_ratio(net) == pytest.approx(1.0, abs=0.2)


def test_primary_network_matches_numpy_and_gradcheck():
    rng = np.random.default_rng(2)
    theta = rng.normal(size=mip.N_PRIMARY) * 0.5
    x = np.linspace(-1, 1, 5)[:, None]
    p, i = {}, 0
    for name, shape in mip.PRIMARY_SHAPES:
        n = int(np.prod(shape))
        p[name] = theta[i : i + n].reshape(shape)
        i += n
    h = np.tanh(x @ p["w1"].T + p["b1"])
    h = np.tanh(h @ p["w2"].T + p["b2"])
    ref = h @ p["w3"].T + p["b3"]
    assert np.allclose(mip.primary(Tensor(theta), Tensor(x)).data, ref, atol=1e-12)
    y = np.sin(3 * x)
    rf.gradcheck(lambda t: mip.mixed_loss(t, x, y, 0.3), theta)


def test_mixed_loss_hand_case():
    # a zero network f ≡ 0: MSE = mean(y²), smoothness = 0
    x, y = np.array([[0.0], [1.0]]), np.array([[1.0], [3.0]])
    loss = mip.mixed_loss(Tensor(np.zeros(mip.N_PRIMARY)), x, y, 0.25)
    assert float(loss.data) == pytest.approx(0.75 * 5.0)


@pytest.mark.parametrize("seed", [0, 1])
def test_demo_mip_converges_faster_and_is_magnitude_invariant(seed, demo_result):
    r = demo_result("mip-hypernetworks", seed)
    rf.catalog.check_demo_result(r)
    m = r["metrics"]
    assert m["steps_to_threshold_mip"] < m["steps_to_threshold_naive"]
    assert m["init_norm_ratio_naive"] == pytest.approx(10.0)
    assert abs(m["init_norm_ratio_mip"] - 1.0) < 0.2
    assert m["mean_loss_mip"] <= 1.05 * m["mean_loss_naive"]
    assert r["claim"]["holds"]
