"""Weight compander (Cakaj, Mehnert, Yang, 2023; arXiv 2306.16993) — reconstructed compander form."""

import numpy as np
import pytest

import refimpl as rf
from refimpl.autograd.tensor import Tensor, no_grad
from refimpl.nn.layers.linear import Linear
from refimpl.nn.parametrize import register_parametrization
from refimpl.techniques.regularization_normalization import weight_compander as wc


@pytest.mark.parametrize("case", wc.reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


def test_matches_plain_numpy_formula_and_properties():
    v = np.linspace(-3, 3, 61)
    p, eps = 0.4, 0.05
    ref = np.sign(v) * ((np.abs(v) + eps) ** p - eps**p)
    w = wc.compander(Tensor(v), p, eps).data
    assert np.allclose(w, ref, atol=1e-14)
    assert np.allclose(w, -w[::-1])  # odd
    assert np.all(np.diff(w) > 0)  # increasing
    assert np.all(np.abs(w[np.abs(v) > 1.5]) < np.abs(v[np.abs(v) > 1.5]))  # compresses large weights
    assert wc.compander_derivative(0.0, p, eps) > 1  # expands around zero


def test_gradcheck_including_zero_and_hyperparameters():
    v = np.array([0.0, 0.3, -0.7, 2.0, -1e-3])
    rf.gradcheck(lambda v, p, e: wc.compander(v, p, e), v, np.array(0.4), np.array(0.2))


def test_slope_at_zero_is_not_lost():
    v = Tensor(np.zeros(3), requires_grad=True)
    wc.compander(v, 0.5, 0.25).sum().backward()
    assert np.allclose(v.grad, 0.5 / np.sqrt(0.25))  # p ε^{p−1} = 0.5 · 0.25^{−1/2} = 1


def test_parametrization_keeps_weights_and_trains_hyperparameters():
    rng = np.random.default_rng(0)
    lin = Linear(5, 4, dtype=np.float64, rng=rng)
    w0 = lin.weight.data.copy()
    comp = wc.Compander(0.5, 0.1, dtype=np.float64)
    register_parametrization(lin, "weight", comp)
    with no_grad():
        assert np.max(np.abs(lin.weight.data - w0)) < 1e-12  # right_inverse keeps W
    names = dict(lin.named_parameters())
    assert "parametrizations.weight.original" in names and "parametrizations.weight.0.rho" in names
    out = lin(Tensor(rng.normal(size=(3, 5))))
    (out * out).sum().backward()
    assert comp.rho.grad is not None and comp.eta.grad is not None and abs(float(comp.rho.grad)) > 0


def test_bad_arguments():
    with pytest.raises(ValueError, match="p"):
        wc.Compander(p=1.5)
    with pytest.raises(ValueError, match="eps"):
        wc.Compander(eps=0.0)


@pytest.mark.parametrize("seed", [0, 3])
def test_demo_smaller_max_and_fewer_near_zero_weights(seed, demo_result):
    r = demo_result("weight-compander", seed)
    rf.catalog.check_demo_result(r)
    m = r["metrics"]
    assert m["max_abs_w_WD+WC_mean"] < 0.85 * m["max_abs_w_WD_mean"]
    assert m["frac_abs_w_below_0.01_WD+WC_mean"] < 0.5 * m["frac_abs_w_below_0.01_WD_mean"]
    assert r["claim"]["holds"] == all(r["checks"].values())
