"""The family's shared base: BN folding, kernel merging, saved-tensor counting, FGSM/PGD."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import refimpl
from refimpl.autograd.tensor import Tensor, no_grad
from refimpl.nn.layers.conv import Conv1d, Conv2d
from refimpl.nn.layers.linear import Linear
from refimpl.nn.layers.norm import BatchNorm1d, BatchNorm2d
from refimpl.techniques.regularization_normalization import _base as B


def _conv1d_loop(x, k, b, dilation):
    """Naive 'same'-padded depthwise 1-D convolution (the oracle): x (N, C, L), k (C, 1, K)."""
    n, c, length = x.shape
    kk = k.shape[-1]
    span = dilation * (kk - 1)
    pad = span // 2
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad)))
    out = np.zeros_like(x)
    for ch in range(c):
        for i in range(length):
            out[:, ch, i] = sum(k[ch, 0, j] * xp[:, ch, i + j * dilation] for j in range(kk)) + b[ch]
    return out


def _randomise_bn(bn, rng):
    c = bn.num_features
    bn.weight.data[...] = rng.uniform(0.5, 2.0, c)
    bn.bias.data[...] = rng.normal(size=c)
    bn.running_mean[...] = rng.normal(size=c)
    bn.running_var[...] = rng.uniform(0.2, 3.0, c)


def test_fold_bn_hand_case():
    # W=2, b=0, γ=1, β=0.5, μ=1, σ²=3, ε=1: s = 1/2 → W' = 1, b' = 0.5 + 0.5·(0 − 1) = 0
    w, b = B.fold_bn(
        np.array([[2.0]]),
        np.array([0.0]),
        np.array([1.0]),
        np.array([0.5]),
        np.array([1.0]),
        np.array([3.0]),
        eps=1.0,
    )
    assert np.allclose(w, [[1.0]]) and np.allclose(b, [0.0])
    # Eval(x=3) = (2·3 − 1)/√4 + 0.5 = 3 = W'·3 + b'
    assert float(w[0, 0] * 3 + b[0]) == pytest.approx(3.0)


def test_fold_bn_without_affine_and_bias():
    w, b = B.fold_bn(np.array([[4.0, 8.0]]), None, None, None, np.array([2.0]), np.array([15.0]), eps=1.0)
    assert np.allclose(w, [[1.0, 2.0]]) and np.allclose(b, [-0.5])


@pytest.mark.parametrize("kind", ["linear", "conv2d", "conv1d"])
def test_fold_bn_into_equals_eval_block(kind):
    rng = np.random.default_rng(0)
    if kind == "linear":
        layer, bn, x = (
            Linear(5, 4, dtype=np.float64, rng=rng),
            BatchNorm1d(4, dtype=np.float64),
            rng.normal(size=(3, 5)),
        )
    elif kind == "conv2d":
        layer, bn = Conv2d(2, 3, 3, padding=1, dtype=np.float64, rng=rng), BatchNorm2d(3, dtype=np.float64)
        x = rng.normal(size=(2, 2, 5, 5))
    else:
        layer, bn = Conv1d(2, 3, 3, padding=1, dtype=np.float64, rng=rng), BatchNorm1d(3, dtype=np.float64)
        x = rng.normal(size=(2, 2, 7))
    _randomise_bn(bn, rng)
    bn.eval()
    with no_grad():
        ref = bn(layer(Tensor(x))).data
        got = B.fold_bn_into(layer, bn)(Tensor(x)).data
    assert np.max(np.abs(ref - got)) <= 1e-10


def test_fold_bn_tensor_path_is_differentiable():
    rng = np.random.default_rng(1)
    rm, rv = rng.normal(size=3), rng.uniform(0.5, 2, 3)

    def f(w, b, g, beta):
        wf, bf = B.fold_bn(w, b, g, beta, rm, rv, 1e-5)
        return (wf * wf).sum() + (bf * bf * bf).sum()

    refimpl.gradcheck(
        f, rng.normal(size=(3, 2, 2)), rng.normal(size=3), rng.uniform(0.5, 2, 3), rng.normal(size=3)
    )


def test_fold_affine_into_next_linear_hand_case():
    # W = [[1, 2]], b = 1, a = [2, 3], c = [1, −1]: W(a⊙x + c) + b = 2x₁ + 6x₂ + (1 − 2) + 1
    w, b = B.fold_affine_into_next_linear([2.0, 3.0], [1.0, -1.0], [[1.0, 2.0]], [1.0])
    assert np.allclose(w, [[2.0, 6.0]]) and np.allclose(b, [0.0])
    with pytest.raises(ValueError, match="scale"):
        B.fold_affine_into_next_linear([1.0], [1.0, 1.0], [[1.0, 2.0]])


def test_dilate_and_pad_hand_cases():
    k = np.array([[[1.0, 2.0, 3.0]]])
    assert np.array_equal(B.dilate_kernel(k, 2), [[[1, 0, 2, 0, 3]]])
    assert np.array_equal(B.dilate_kernel(k, 3), [[[1, 0, 0, 2, 0, 0, 3]]])
    assert np.array_equal(B.pad_kernel_to(k, 7), [[[0, 0, 1, 2, 3, 0, 0]]])
    k2 = np.arange(4.0).reshape(1, 1, 2, 2) + 1
    assert np.array_equal(B.dilate_kernel(k2, 2)[0, 0], [[1, 0, 2], [0, 0, 0], [3, 0, 4]])
    with pytest.raises(ValueError, match="dilation"):
        B.dilate_kernel(k, 0)
    with pytest.raises(ValueError, match="centre"):
        B.pad_kernel_to(k, 4)


def test_merge_parallel_kernels_matches_loop_oracle():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 3, 16))
    branches = [
        (rng.normal(size=(3, 1, 7)), rng.normal(size=3), 1),
        (rng.normal(size=(3, 1, 3)), rng.normal(size=3), 2),
        (rng.normal(size=(3, 1, 3)), None, 3),
    ]
    ref = sum(_conv1d_loop(x, k, np.zeros(3) if b is None else b, r) for k, b, r in branches)
    k, b = B.merge_parallel_kernels(branches, 7)
    got = _conv1d_loop(x, k, b, 1)
    assert k.shape == (3, 1, 7)
    assert np.max(np.abs(ref - got)) <= 1e-12
    with pytest.raises(ValueError, match="branches"):
        B.merge_parallel_kernels([], 7)


def test_saved_tensor_bytes_counts_graph_buffers():
    a = Tensor(np.ones(10), requires_grad=True)
    one = a.exp()  # Exp keeps y (10 float64 = 80 bytes)
    assert B.saved_tensor_bytes(one) == {"count": 1, "bytes": 80}
    two = one.exp()
    assert B.saved_tensor_bytes(two) == {"count": 2, "bytes": 160}
    with no_grad():
        assert B.saved_tensor_bytes(a.exp()) == {"count": 0, "bytes": 0}


def _linear_model(w, b):
    m = Linear(w.shape[1], w.shape[0], dtype=np.float64)
    m.weight.data[...] = w
    m.bias.data[...] = b
    return m


def test_input_gradient_closed_form_and_grads_untouched():
    w = np.array([[1.0, -2.0], [0.5, 3.0]])
    m = _linear_model(w, np.zeros(2))
    x, y = np.array([[0.3, -0.1]]), np.array([1])
    z = x @ w.T
    p = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
    expected = (p - np.array([[0.0, 1.0]])) @ w  # ∂CE/∂x = (softmax − onehot) W
    m.weight.grad = np.full_like(w, 7.0)
    g = B.input_gradient(m, x, y)
    assert np.allclose(g, expected, atol=1e-12)
    assert np.all(m.weight.grad == 7.0)


def test_fgsm_and_one_step_pgd_agree_with_hand_sign():
    w = np.array([[1.0, -2.0], [0.5, 3.0]])
    m = _linear_model(w, np.zeros(2))
    x, y = np.array([[0.3, -0.1]]), np.array([1])
    # the gradient (p − e_1) W = p₀ (w₀ − w₁) ∝ (0.5, −5) → sign (+, −)
    adv = B.fgsm(m, x, y, 0.1)
    assert np.allclose(adv, [[0.4, -0.2]])
    one = B.pgd(m, x, y, eps=0.1, alpha=0.1, steps=1, random_start=False)
    assert np.allclose(one, adv)
    assert np.allclose(B.fgsm(m, x, y, 0.5, clip=(0.0, 1.0)), [[0.8, 0.0]])


def test_pgd_l2_on_linear_model_goes_to_the_ball_edge_along_the_weight_difference():
    w = np.array([[1.0, -2.0], [0.5, 3.0]])
    m = _linear_model(w, np.zeros(2))
    x, y = np.array([[0.3, -0.1]]), np.array([1])
    d = w[0] - w[1]  # the CE gradient direction for a 2-class linear model is ± (w₀ − w₁)
    adv = B.pgd(m, x, y, eps=0.25, alpha=1.0, steps=3, norm="l2", random_start=False)
    assert np.allclose(adv, x + 0.25 * d / np.linalg.norm(d), atol=1e-12)


def test_pgd_stays_in_the_ball_and_robust_accuracy_drops():
    rng = np.random.default_rng(3)
    w = rng.normal(size=(3, 6))
    m = _linear_model(w, np.zeros(3))
    x = rng.uniform(0.2, 0.8, size=(40, 6))
    with no_grad():
        y = m(Tensor(x)).data.argmax(1)
    for norm, eps in (("linf", 0.05), ("l2", 0.3)):
        adv = B.pgd(m, x, y, eps=eps, alpha=eps / 4, steps=10, norm=norm, clip=(0.0, 1.0), rng=0)
        delta = adv - x
        size = np.abs(delta).max(1) if norm == "linf" else np.linalg.norm(delta, axis=1)
        assert size.max() <= eps + 1e-12 and adv.min() >= 0.0 and adv.max() <= 1.0
    clean = B.robust_accuracy(m, x, y, attack="clean")
    robust = B.robust_accuracy(m, x, y, attack="pgd", eps=0.3, alpha=0.05, steps=10, rng=0)
    assert clean == 1.0 and robust < clean


def test_attack_argument_errors():
    m = _linear_model(np.eye(2), np.zeros(2))
    x, y = np.zeros((1, 2)), np.array([0])
    with pytest.raises(ValueError, match="norm"):
        B.pgd(m, x, y, eps=0.1, alpha=0.1, steps=1, norm="l1")
    with pytest.raises(ValueError, match="eps"):
        B.fgsm(m, x, y, -1.0)
    with pytest.raises(ValueError, match="attack"):
        B.robust_accuracy(m, x, y, attack="cw")


@settings(deadline=None, max_examples=15)
@given(
    k=st.sampled_from([1, 3, 5]),
    r=st.integers(1, 4),
    length=st.integers(9, 16),
    channels=st.integers(1, 3),
    seed=st.integers(0, 1000),
)
def test_property_dilated_branch_equals_its_dense_kernel(k, r, length, channels, seed):
    size = r * (k - 1) + 1
    size += 2 if size < 7 else 0  # also centre it inside a larger kernel
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(2, channels, length))
    w, b = rng.normal(size=(channels, 1, k)), rng.normal(size=channels)
    ref = _conv1d_loop(x, w, b, r)
    kk, bb = B.merge_parallel_kernels([(w, b, r)], size)
    assert np.max(np.abs(_conv1d_loop(x, kk, bb, 1) - ref)) <= 1e-12
