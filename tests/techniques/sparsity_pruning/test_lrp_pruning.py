"""LRP pruning: rules by hand, relevance conservation, the closed-form Taylor/gradient backprop against
autograd, unit removal is exact, and the demo runs and reports honestly (quick mode)."""

import numpy as np
import pytest

from refimpl.autograd.tensor import Tensor, no_grad
from refimpl.nn import MLP
from refimpl.nn import functional as F
from refimpl.techniques.sparsity_pruning import _base as B
from refimpl.techniques.sparsity_pruning import lrp_pruning as L


@pytest.mark.parametrize("case", L.reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


def _net(seed=0, bias=True):
    m = MLP([5, 7, 6, 3], rng=np.random.default_rng(seed))
    if not bias:
        for mod in B.prunable_layers(m).values():
            mod.bias.data[:] = 0
    return m


@pytest.mark.parametrize("rule", ["epsilon", "zplus"])
def test_relevance_is_conserved_layer_by_layer_without_biases(rule):
    m = _net(bias=False)
    x = np.abs(np.random.default_rng(1).normal(size=(6, 5)))  # a ≥ 0 as after a ReLU / for z⁺
    acts, out = L._forward_acts(m, x)
    t = np.argmax(out, 1)
    units, r_in = L.lrp_mlp(m, x, t, rule=rule)
    logit = out[np.arange(6), t]
    for u in units:
        np.testing.assert_allclose(u.sum(1), logit, rtol=1e-6)
    np.testing.assert_allclose(r_in.sum(1), logit, rtol=1e-6)


def test_lrp_linear_equals_a_loop_oracle():
    rng = np.random.default_rng(2)
    a, W, R = rng.random((3, 4)), rng.normal(size=(2, 4)), rng.normal(size=(3, 2))
    got = L.lrp_linear(a, W, R, rule="epsilon", eps=0.1)
    want = np.zeros_like(a)
    for n in range(3):
        for j in range(2):
            z = sum(a[n, i] * W[j, i] for i in range(4))
            z = z + 0.1 * (1 if z >= 0 else -1)
            for i in range(4):
                want[n, i] += a[n, i] * W[j, i] / z * R[n, j]
    np.testing.assert_allclose(got, want, rtol=1e-12)
    with pytest.raises(ValueError, match="rule"):
        L.lrp_linear(a, W, R, rule="alpha")


def test_closed_form_pre_activation_grads_equal_autograd():
    m = _net(3)
    x = np.random.default_rng(4).normal(size=(5, 5))
    y = np.array([0, 1, 2, 1, 0])
    lin = L._linears(m)
    acts, out = L._forward_acts(m, x)
    zs = [acts[i] @ w.T + b for i, (w, b) in enumerate(lin[:-1])]
    grads = L._pre_activation_grads(out.copy(), zs, [w for w, _ in lin], y)
    # autograd: make each pre-activation a leaf by re-running the tail from it
    for li in range(2):
        z = Tensor(zs[li], requires_grad=True)
        h = z.relu()
        for j in range(li + 1, 3):
            w, b = lin[j]
            h = h @ Tensor(w.astype(np.float64)).T + Tensor(b.astype(np.float64))
            if j < 2:
                h = h.relu()
        F.cross_entropy(h, y).backward()
        np.testing.assert_allclose(grads[li], z.grad, rtol=1e-6, atol=1e-9)


def test_prune_units_removes_units_exactly():
    m = _net(5)
    x = np.random.default_rng(6).normal(size=(4, 5)).astype(np.float32)
    scores = [np.arange(7, dtype=float), np.arange(6, dtype=float)]
    k = L.prune_units(m, scores, 4 / 13)  # the 4 smallest: units 0, 0, 1, 1 (ties → first layer first)
    assert k == 4
    # removing units 0 and 1 of both hidden layers by hand: drop their outgoing columns and biases
    ref = _net(5)
    with no_grad():
        ref[2].weight.data[:, :2] = 0
        ref[0].bias.data[:2] = 0
        ref[4].weight.data[:, :2] = 0
        ref[2].bias.data[:2] = 0
        np.testing.assert_allclose(m(Tensor(x)).data, ref(Tensor(x)).data, rtol=1e-6)


def test_unit_scores_are_normalised_per_layer():
    m = _net(7)
    x = np.abs(np.random.default_rng(8).normal(size=(6, 5)))
    y = np.array([0, 1, 2, 0, 1, 2])
    for c in ("lrp", "weight"):
        for s in L.unit_scores(m, x, y, c):
            assert s.sum() == pytest.approx(1.0)
    for c in ("taylor", "grad"):
        for s in L.unit_scores(m, x, y, c):
            assert np.sum(s * s) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="criterion"):
        L.unit_scores(m, x, y, "random")


def test_demo_reports_honestly(demo_result):
    """The toy does not reproduce the paper's ranking (see the module docstring); the demo must still run,
    start from the unpruned accuracy for every criterion, and set the claim flag by its definition."""
    r = demo_result("lrp-pruning", 0)
    first = r["table"][0]
    assert first["lrp"] == first["weight"] == first["taylor"] == first["grad"] > 0.9
    m = r["metrics"]
    assert r["claim"]["holds"] == (m["lrp_minus_best_other"] >= 0)
