"""Magnitude Invariant Parametrizations for hypernetworks: the encoding, the homogeneity of the default
hypernetwork, θ = θ₀ + residual, hyperlight's per-tensor head initialisation, gradients of the toy's loss
through the primary network and the hypernetwork (float64), the quick run's code path, and the paper's
claims on the recorded full result."""

import math

import numpy as np
import pytest

import refimpl as rf
from refimpl.autograd.tensor import Tensor, no_grad
from refimpl.experiments import freshness, recorded
from refimpl.techniques.regularization_normalization import mip_hypernetworks as mip
from refimpl.techniques.regularization_normalization.mip_hypernetworks import experiment as exp
from refimpl.techniques.regularization_normalization.mip_hypernetworks.cases import reference_cases


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


def test_encoding_has_unit_norm_everywhere():
    g = np.linspace(0, 1, 101)
    assert np.allclose(np.linalg.norm(mip.encode(g), axis=-1), 1.0)
    with pytest.raises(ValueError, match="gamma"):
        mip.encode([1.5])


def test_default_hypernet_is_positively_homogeneous_at_init():
    """With zero biases and LeakyReLU, θ(cγ) = c θ(γ) for c > 0 and θ(0) = 0 (the paper's motivation)."""
    net = mip.HyperNet(encoding=False, residual=False, rng=0)
    with no_grad():
        t1, t3 = net(0.1).data, net(0.3).data
        assert np.allclose(t3, 3 * t1, atol=1e-12)
        assert np.all(net(0.0).data == 0.0)
    assert mip.init_norm_ratio(net) == pytest.approx(10.0)


def test_mip_output_is_theta0_plus_residual():
    net = mip.HyperNet(encoding=True, residual=True, rng=1)
    theta0 = net.layers[-1].bias.data.copy()
    with no_grad():
        h = Tensor(mip.encode([0.4]))
        for lin in net.layers[:-1]:
            h = rf.autograd.ops.leaky_relu(lin(h), 0.01)
        residual = h.data @ net.layers[-1].weight.data.T
        assert np.allclose(net(0.4).data, theta0 + residual[0], atol=1e-12)
    assert 0.5 < mip.init_norm_ratio(net) < 2.0


def test_independent_weights_are_kaiming_fan_in_with_zero_biases():
    theta0 = np.stack([mip.init_independent_weights(np.random.default_rng(s)) for s in range(400)])
    for name, shape in mip.PRIMARY_SHAPES:
        i, n = mip.OFFSETS[name]
        block = theta0[:, i : i + n]
        if name.startswith("b"):
            assert np.all(block == 0.0)
        else:  # std √2/√fan_in, fan_in = shape[1]
            assert block.std() == pytest.approx(math.sqrt(2.0 / shape[1]), rel=0.1)


def test_output_split_init_scales_each_predicted_tensor_by_its_own_size():
    """hyperlight `_init_output_split`: the rows of tensor t have std √2/√n_t; without it, one fan-out over
    all P outputs with the linear gain gives std 1/√P for every row, √(2P/n_t) times smaller."""
    rows = {name: [] for name, _ in mip.PRIMARY_SHAPES}
    single = []
    for s in range(200):
        w = mip.HyperNet(rng=s).layers[-1].weight.data
        for name in rows:
            i, n = mip.OFFSETS[name]
            rows[name].append(w[i : i + n].ravel())
        single.append(mip.HyperNet(output_split_init=False, rng=s).layers[-1].weight.data.ravel())
    for name, shape in mip.PRIMARY_SHAPES:
        n = int(np.prod(shape))
        assert np.concatenate(rows[name]).std() == pytest.approx(math.sqrt(2.0 / n), rel=0.1), name
    assert np.concatenate(single).std() == pytest.approx(1 / math.sqrt(mip.N_PRIMARY), rel=0.05)
    assert mip.N_PRIMARY == 321  # the 1-bias b3 row is then √(2·321) ≈ 25× larger; the 256-entry w2 rows 1.6×


def test_primary_network_matches_numpy_and_the_loss_gradient_checks():
    rng = np.random.default_rng(2)
    theta = rng.normal(size=mip.N_PRIMARY) * 0.5
    x = np.linspace(-1, 1, 5)[:, None]
    p = {
        name: theta[i : i + n].reshape(shape)
        for (name, shape), (i, n) in zip(mip.PRIMARY_SHAPES, mip.OFFSETS.values())
    }
    h = np.tanh(x @ p["w1"].T + p["b1"])
    h = np.tanh(h @ p["w2"].T + p["b2"])
    ref = h @ p["w3"].T + p["b3"]
    assert np.allclose(mip.primary(Tensor(theta), Tensor(x)).data, ref, atol=1e-12)
    y = np.sin(3 * x)
    rf.gradcheck(lambda t: exp.mixed_loss(t, x, y, 0.3), theta)


@pytest.mark.parametrize("encoding, residual", [(True, True), (False, False)])
def test_gradient_reaches_the_hypernetwork_and_checks_in_float64(encoding, residual):
    """L_γ(θ(γ)) as a function of the hypernetwork's head weight, through θ = W h + b and the primary
    network: the VJP checks against central differences; a backward pass reaches every layer."""
    net = mip.HyperNet(encoding, residual, rng=5)
    x = np.linspace(-1, 1, 6)[:, None]
    y = np.cos(2 * x)
    head = net.layers[-1]

    def loss_of_head(w):
        theta = rf.autograd.ops.linear(net.hidden(0.7), w, head.bias)[0]
        return exp.mixed_loss(theta, x, y, 0.7)

    rf.gradcheck(loss_of_head, head.weight.data.copy())
    net.zero_grad()
    exp.mixed_loss(net(0.7), x, y, 0.7).backward()
    assert all(np.any(lin.weight.grad != 0) for lin in net.layers)


def test_smoothing_task_is_fixed_and_sorted():
    a, b = exp.smoothing_task(), exp.smoothing_task()
    assert np.array_equal(a.y_train, b.y_train)
    for x in (a.x_train, a.x_val, a.x_test):
        assert np.all(np.diff(x[:, 0]) > 0)
    assert np.allclose(a.y_test, np.sin(3 * a.x_test))


SLUG = "mip-hypernetworks"


def test_quick_run_measures_the_premise_and_the_curves(quick_result):
    r = quick_result(SLUG)
    r.validate()
    assert r.premises[0]["metric"] == "init_norm_ratio"
    assert r.values("default", "init_norm_ratio") == pytest.approx([10.0] * len(r.seeds))
    curve = r.arrays["log10_test_curve"]
    assert curve.shape == (4, len(r.arrays["steps"])) and r.arrays["steps"][0] == 0
    assert r.smoke


def full():
    assert freshness(SLUG) == "fresh", f"run `refimpl record {SLUG}`"
    return recorded(SLUG)


def test_full_run_premise_the_default_scales_its_weights_with_the_input():
    r = full()
    assert r.values("default", "init_norm_ratio") == pytest.approx([10.0] * len(r.seeds), rel=1e-9)


def test_full_run_mip_converges_faster_than_the_default():
    c = full().claim("MIP converges faster")
    assert c["interval"]["high"] < 0.0, c[
        "interval"
    ]  # lower area under the log10 test-loss curve, over seeds


def test_full_run_mip_final_loss_is_within_five_percent_of_the_default():
    c = full().claim("MIP's final test loss")
    assert c["interval"]["high"] < math.log10(1.05), c["interval"]


def test_full_run_mip_weights_do_not_follow_the_input_magnitude():
    c = full().claim("with MIP the predicted weights")
    assert c["interval"]["high"] < math.log10(2.0), c["interval"]


def test_full_run_default_is_the_one_that_breaks_at_the_largest_learning_rate():
    """Reported, not claimed: the validation loss (mean of the selection seeds) at the grid's largest
    learning rate, where the default hypernetwork's training breaks down on some seed and MIP's does not."""
    r = full()
    score = {(s["method"], s["lr"]): s["score"] for s in r.selection}
    top = max(s["lr"] for s in r.selection)
    assert score[("default", top)] > 2 * score[("MIP", top)], score
