"""Parametrizations: forward sees transform(θ); gradients reach θ and the transform's own parameters;
several stack in order; removal bakes the value; functional_call swaps weights."""

import numpy as np
import pytest

import refimpl as rf
from refimpl import nn
from refimpl.nn import parametrize as P


class Scale(nn.Module):
    """W = k·θ with a learnable k (stands in for a compander's learnable hyperparameter)."""

    def __init__(self, k=2.0):
        super().__init__()
        self.k = nn.Parameter(np.array(k))

    def forward(self, w):
        return w * self.k


class Mask(nn.Module):
    def __init__(self, mask):
        super().__init__()
        self.mask = mask

    def forward(self, w):
        return w * self.mask


class RoundSTE(nn.Module):
    """A fake quantizer: round to a grid of step s, straight-through gradient."""

    def __init__(self, step):
        super().__init__()
        self.step = step

    def forward(self, w):
        return rf.straight_through(w, np.round(w.data / self.step) * self.step)


class LowRankDelta(nn.Module):
    def __init__(self, out_f, in_f, rank, rng):
        super().__init__()
        self.A = nn.Parameter(rng.normal(size=(rank, in_f)))
        self.B = nn.Parameter(np.zeros((out_f, rank)))

    def forward(self, w):
        return w + self.B @ self.A


class Doubler(nn.Module):
    """Has a right_inverse, so registering it keeps the current weight."""

    def forward(self, w):
        return w * 2.0

    def right_inverse(self, w):
        return w / 2.0


def _layer():
    lin = nn.Linear(3, 2, rng=0).double()
    return lin


def test_forward_sees_transformed_weight_and_gradients_reach_theta_and_k():
    lin = _layer()
    theta = lin.weight.data.copy()
    P.register_parametrization(lin, "weight", Scale(3.0))
    np.testing.assert_array_equal(lin.weight.data, 3.0 * theta)
    x = np.random.default_rng(1).normal(size=(4, 3))
    lin(rf.tensor(x)).sum().backward()
    orig = lin.parametrizations.weight.original
    k = lin.parametrizations.weight[0].k
    # d/dθ Σ x (kθ)ᵀ = k · Σ_n x_n  for every output row;  d/dk = Σ θ ⊙ Σ_n x_n
    colsum = x.sum(0)
    np.testing.assert_allclose(orig.grad, 3.0 * np.tile(colsum, (2, 1)))
    np.testing.assert_allclose(k.grad, np.sum(theta * colsum))
    names = dict(lin.named_parameters())
    assert set(names) == {"bias", "parametrizations.weight.original", "parametrizations.weight.0.k"}


def test_parametrized_gradcheck_through_theta_and_hyperparameter():
    lin = _layer()
    P.register_parametrization(lin, "weight", Scale(1.5))
    x = np.random.default_rng(2).normal(size=(3, 3))

    def f(theta, k):
        return nn.functional_call(lin, {"weight": theta * k}, rf.tensor(x))

    rf.gradcheck(f, lin.parametrizations.weight.original.data, np.array(1.5))


def test_stacking_compander_mask_quantizer_lowrank_in_order():
    rng = np.random.default_rng(0)
    lin = _layer()
    theta = lin.weight.data.copy()
    mask = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
    delta = LowRankDelta(2, 3, 1, rng)
    delta.B.data[...] = rng.normal(size=(2, 1))
    P.register_parametrization(lin, "weight", Scale(2.0))
    P.register_parametrization(lin, "weight", Mask(mask))
    P.register_parametrization(lin, "weight", RoundSTE(0.25))
    P.register_parametrization(lin, "weight", delta)
    expected = np.round(2.0 * theta * mask / 0.25) * 0.25 + delta.B.data @ delta.A.data
    np.testing.assert_allclose(lin.weight.data, expected)
    # order matters: the same transforms in another order give another weight
    other = _layer()
    other.weight.data[...] = theta
    P.register_parametrization(other, "weight", RoundSTE(0.25))
    P.register_parametrization(other, "weight", Scale(2.0))
    np.testing.assert_allclose(other.weight.data, 2.0 * np.round(theta / 0.25) * 0.25)
    # gradients reach θ (through STE and mask), k, and the low-rank factors
    lin(rf.tensor(np.ones((2, 3)))).sum().backward()
    g = lin.parametrizations.weight.original.grad
    np.testing.assert_allclose(g, 2.0 * mask * 2.0)  # d/dθ: k · mask · Σ_n x_n (x = ones, N = 2)
    assert lin.parametrizations.weight[0].k.grad is not None
    assert delta.B.grad is not None and delta.A.grad is not None


def test_remove_bakes_value_or_restores_theta():
    lin = _layer()
    theta = lin.weight.data.copy()
    P.register_parametrization(lin, "weight", Scale(2.0))
    P.remove_parametrizations(lin, "weight", bake=True)
    assert not P.is_parametrized(lin)
    assert isinstance(lin.weight, nn.Parameter)
    np.testing.assert_array_equal(lin.weight.data, 2.0 * theta)
    assert set(dict(lin.named_parameters())) == {"weight", "bias"}
    lin2 = _layer()
    P.register_parametrization(lin2, "weight", Scale(2.0))
    P.remove_parametrizations(lin2, "weight", bake=False)
    np.testing.assert_array_equal(lin2.weight.data, theta)


def test_right_inverse_keeps_current_weight():
    lin = _layer()
    w = lin.weight.data.copy()
    P.register_parametrization(lin, "weight", Doubler())
    np.testing.assert_allclose(lin.parametrizations.weight.original.data, w / 2)
    np.testing.assert_allclose(lin.weight.data, w)


def test_optimizer_updates_theta_not_effective_weight():
    lin = _layer()
    P.register_parametrization(lin, "weight", Scale(2.0))
    params = list(lin.parameters())
    theta_before = lin.parametrizations.weight.original.data.copy()
    lin(rf.tensor(np.ones((1, 3)))).sum().backward()
    for p in params:  # a plain SGD step
        p.data -= 0.1 * p.grad
    assert not np.allclose(lin.parametrizations.weight.original.data, theta_before)


def test_state_dict_round_trip_with_parametrization(tmp_path):
    lin = _layer()
    P.register_parametrization(lin, "weight", Scale(2.0))
    lin.save(tmp_path / "p.npz")
    other = _layer()
    P.register_parametrization(other, "weight", Scale(5.0))
    other.load(tmp_path / "p.npz")
    np.testing.assert_array_equal(other.weight.data, lin.weight.data)


def test_errors_name_the_problem():
    lin = _layer()
    with pytest.raises(ValueError, match="no parameter 'weights'"):
        P.register_parametrization(lin, "weights", Scale())
    with pytest.raises(TypeError, match="must be a Module"):
        P.register_parametrization(lin, "weight", lambda w: w)
    with pytest.raises(ValueError, match="not parametrized"):
        P.remove_parametrizations(lin, "weight")
    P.register_parametrization(lin, "weight", Scale())
    with pytest.raises(AttributeError, match="parametrized"):
        lin.weight = nn.Parameter(np.zeros((2, 3)))


def test_functional_call_uses_given_weights_and_restores():
    lin = _layer()
    x = rf.tensor(np.ones((1, 3)))
    w = rf.tensor(np.zeros((2, 3)), requires_grad=True)
    out = nn.functional_call(lin, {"weight": w}, x)
    np.testing.assert_allclose(out.data, lin.bias.data[None])
    out.sum().backward()
    np.testing.assert_allclose(w.grad, np.ones((2, 3)))
    assert lin.weight.grad is None
    assert lin.weight is dict(lin.named_parameters())["weight"]
    np.testing.assert_allclose(lin(x).data, x.data @ lin.weight.data.T + lin.bias.data)


def test_weight_norm_keeps_weight_and_has_unit_direction_gradient():
    from refimpl.nn.parametrizations import weight_norm

    lin = _layer()
    w = lin.weight.data.copy()
    weight_norm(lin)
    np.testing.assert_allclose(lin.weight.data, w)
    g = lin.parametrizations.weight[0].g
    np.testing.assert_allclose(g.data[:, 0], np.linalg.norm(w, axis=1))
    g.data[...] = 2.0  # every row now has norm 2
    np.testing.assert_allclose(np.linalg.norm(lin.weight.data, axis=1), [2.0, 2.0])
    x = np.random.default_rng(0).normal(size=(4, 3))
    v0 = lin.parametrizations.weight.original.data.copy()

    def f(v, g):
        wn = lin.parametrizations.weight[0]
        old = wn.g
        wn.__dict__["g"] = g
        try:
            return nn.functional_call(lin, {"weight": wn(v)}, rf.tensor(x))
        finally:
            wn.__dict__["g"] = old

    rf.gradcheck(f, v0, np.full((2, 1), 2.0))
