"""The family's BatchNorm folding against a hand case and against the eval-mode Linear/Conv + BN blocks."""

from __future__ import annotations

import numpy as np
import pytest

import refimpl
from refimpl.autograd.tensor import Tensor, no_grad
from refimpl.nn.layers.conv import Conv1d, Conv2d
from refimpl.nn.layers.linear import Linear
from refimpl.nn.layers.norm import BatchNorm1d, BatchNorm2d
from refimpl.techniques.regularization_normalization import folding as FO


def _randomise_bn(bn, rng):
    c = bn.num_features
    bn.weight.data[...] = rng.uniform(0.5, 2.0, c)
    bn.bias.data[...] = rng.normal(size=c)
    bn.running_mean[...] = rng.normal(size=c)
    bn.running_var[...] = rng.uniform(0.2, 3.0, c)


def test_fold_bn_hand_case():
    # W=2, b=0, γ=1, β=0.5, μ=1, σ²=3, ε=1: s = 1/2 → W' = 1, b' = 0.5 + 0.5·(0 − 1) = 0
    w, b = FO.fold_bn(
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
    w, b = FO.fold_bn(np.array([[4.0, 8.0]]), None, None, None, np.array([2.0]), np.array([15.0]), eps=1.0)
    assert np.allclose(w, [[1.0, 2.0]]) and np.allclose(b, [-0.5])


@pytest.mark.parametrize("kind", ["linear", "conv2d", "conv1d"])
def test_folded_layer_equals_eval_block(kind):
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
    w, b = FO.fold_bn(
        layer.weight.data,
        layer.bias.data,
        bn.weight.data,
        bn.bias.data,
        bn.running_mean,
        bn.running_var,
        bn.eps,
    )
    layer.weight.data[...] = w  # the deploy form: the layer alone, with the folded weight and bias
    layer.bias.data[...] = b
    with no_grad():
        got = layer(Tensor(x)).data
    assert np.max(np.abs(ref - got)) <= 1e-10


def test_fold_bn_tensor_path_is_differentiable():
    rng = np.random.default_rng(1)
    rm, rv = rng.normal(size=3), rng.uniform(0.5, 2, 3)

    def f(w, b, g, beta):
        wf, bf = FO.fold_bn(w, b, g, beta, rm, rv, 1e-5)
        return (wf * wf).sum() + (bf * bf * bf).sum()

    refimpl.gradcheck(
        f, rng.normal(size=(3, 2, 2)), rng.normal(size=3), rng.uniform(0.5, 2, 3), rng.normal(size=3)
    )
