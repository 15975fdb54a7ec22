"""DynamicLRP: hand cases, conservation op by op, equality with an independent layer-wise LRP-ε (written
here in NumPy), the LRP-0 = gradient×input identity on ReLU nets, named errors, the quick run and the
recorded full result.  No op with a custom backward is added (the rules reuse the engine's VJPs), so there is
no new gradient to check."""

import numpy as np
import pytest

from refimpl import nn
from refimpl.autograd import Tensor
from refimpl.autograd.ops import elementwise as E
from refimpl.autograd.ops import linalg as L
from refimpl.autograd.ops import reduce as Rd
from refimpl.autograd.ops import shape as S
from refimpl.experiments import freshness, recorded
from refimpl.nn import functional as F
from refimpl.techniques.representations_weighting import dynamic_lrp as D
from refimpl.techniques.representations_weighting.dynamic_lrp.cases import reference_cases

SLUG = "dynamic-lrp"


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


def _leaf(a):
    return Tensor(np.asarray(a, dtype=np.float64), requires_grad=True)


def _mlp(rng, bias=True, sizes=(6, 5, 4, 3)):
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b, bias=bias, dtype=np.float64, rng=rng))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def test_every_op_conserves_relevance_without_biases_at_eps_zero():
    """Eq. 8 node by node: a graph with matmul, a bilinear matmul, add, mul by a constant and by a tensor,
    sub, reshape, concatenate, getitem, sum, mean, conv, max-pool — all bias-free, ε = 0."""
    rng = np.random.default_rng(0)
    x = _leaf(rng.random((2, 1, 4, 4)) + 0.1)
    w = _leaf(rng.normal(size=(3, 1, 3, 3)))
    h = E.relu(F.conv2d(x, w, padding=1))  # (2, 3, 4, 4)
    p = F.max_pool2d(h, 2)  # (2, 3, 2, 2)
    v = S.reshape(p, (2, 12))
    a = L.matmul(v, _leaf(rng.normal(size=(12, 4))))
    b = E.mul(E.add(a, v[:, :4]), 2.0)  # residual add, scale by a constant
    c = S.concatenate([b, E.sub(E.mul(b, b), a)], axis=1)  # product of two dependent tensors, sub
    q = L.matmul(S.reshape(c, (2, 2, 4)), S.transpose(S.reshape(c, (2, 2, 4)), -1, -2))  # bilinear
    out = E.add(Rd.sum(q, axis=(1, 2)), Rd.mean(c, axis=1))
    for add_rule in ("abs", "square"):
        r = D.propagate(out, x, eps=0.0, add_rule=add_rule)
        names = {rec["op"] for rec in r.ops}
        assert {
            "Conv2d",
            "MaxPool2d",
            "MatMul",
            "Add",
            "Sub",
            "Mul",
            "Concatenate",
            "GetItem",
            "Sum",
            "Mean",
        } <= names
        for rec in r.ops:
            assert abs(rec["leak"]) <= 1e-9 * (1 + abs(rec["R_out"])), rec
        np.testing.assert_allclose(r.relevance.sum(), out.data.sum(), rtol=1e-10)


def test_bias_and_epsilon_are_where_relevance_leaks():
    rng = np.random.default_rng(1)
    m = _mlp(rng)
    x = _leaf(rng.random((3, 6)))
    out = m(x)
    r = D.propagate(out, x, eps=0.1)
    for rec in r.ops:
        if rec["op"] in ("ReLU",):
            assert rec["leak"] == 0.0
    assert np.isclose(r.total - r.relevance.sum(), r.leak)
    assert np.isclose(sum(rec["leak"] for rec in r.ops), r.leak)  # every leak is accounted for, op by op


def _layerwise_epsilon(weights, biases, x, target, eps):
    """Textbook layer-wise LRP-ε on a ReLU MLP, z_jk = a_j w_kj formed explicitly (independent of the graph)."""
    acts = [x]
    for i, (W, b) in enumerate(zip(weights, biases)):
        z = acts[-1] @ W.T + b
        acts.append(z if i == len(weights) - 1 else np.maximum(z, 0))
    R = np.zeros_like(acts[-1])
    R[np.arange(len(x)), target] = acts[-1][np.arange(len(x)), target]
    for W, b, a in zip(weights[::-1], biases[::-1], acts[-2::-1]):
        zjk = a[:, None, :] * W[None]  # (n, out, in)
        z = zjk.sum(-1) + b
        R = (zjk * (R / (z + eps * np.where(z >= 0, 1, -1)))[:, :, None]).sum(1)
    return R


@pytest.mark.parametrize("eps", [0.0, 1e-3, 0.5])
def test_equals_layerwise_lrp_epsilon_on_an_mlp(eps):
    rng = np.random.default_rng(2)
    m = _mlp(rng)
    x = rng.random((5, 6))
    target = np.array([0, 1, 2, 0, 1])
    lin = [mod for mod in m._modules.values() if isinstance(mod, nn.Linear)]
    ref = _layerwise_epsilon([l.weight.data for l in lin], [l.bias.data for l in lin], x, target, eps)
    np.testing.assert_allclose(D.lrp(m, x, target, eps=eps), ref, atol=1e-12)


@pytest.mark.parametrize("bias", [False, True])
def test_lrp0_equals_gradient_times_input_on_relu_nets(bias):
    rng = np.random.default_rng(3)
    m = _mlp(rng, bias=bias)
    x = rng.normal(size=(4, 6))
    np.testing.assert_allclose(D.lrp(m, x, eps=0.0), D.gradient(m, x) * x, atol=1e-12)


def test_lrp0_equals_gradient_times_input_on_a_cnn():
    rng = np.random.default_rng(4)
    c = nn.Sequential(
        nn.Conv2d(1, 3, 3, padding=1, dtype=np.float64, rng=rng),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(12, 4, dtype=np.float64, rng=rng),
    )
    x = rng.random((3, 1, 4, 4))
    np.testing.assert_allclose(D.lrp(c, x, eps=0.0), D.gradient(c, x) * x, atol=1e-12)


def test_matmul_plus_bias_with_the_signed_add_rule_is_the_fused_linear():
    rng = np.random.default_rng(5)
    W, b = _leaf(rng.normal(size=(4, 6))), _leaf(rng.normal(size=4))
    xv = rng.random((3, 6))
    x1 = _leaf(xv)
    fused = D.propagate(L.linear(x1, W, b), x1, eps=1e-9).relevance
    x2 = _leaf(xv)
    split = D.propagate(E.add(L.matmul(x2, W.T), b), x2, eps=1e-9, add_rule="epsilon").relevance
    np.testing.assert_allclose(split, fused, atol=1e-6)
    x3 = _leaf(xv)  # the paper's |·| add rule gives the bias another share: not the layer-wise result
    absr = D.propagate(E.add(L.matmul(x3, W.T), b), x3, eps=1e-9, add_rule="abs").relevance
    assert np.abs(absr - fused).max() > 1e-3


def test_zplus_on_nonnegative_inputs_gives_nonnegative_relevance():
    rng = np.random.default_rng(6)
    W = _leaf(rng.normal(size=(3, 5)))
    x = _leaf(rng.random((2, 5)))
    out = L.linear(x, W)
    R_out = np.abs(out.data)
    r = D.propagate(out, x, R_out, eps=0.0, rule="zplus")
    Wp = np.maximum(W.data, 0)
    zp = x.data @ Wp.T
    expected = x.data * ((R_out / zp) @ Wp)  # hand z⁺ rule
    np.testing.assert_allclose(r.relevance, expected, atol=1e-12)
    assert np.all(r.relevance >= 0)


def test_bad_input_and_unknown_ops_are_named():
    x = _leaf([1.0, 2.0])
    with pytest.raises(NotImplementedError, match="`Exp`"):
        D.propagate(E.exp(x), x)
    y = E.relu(x)
    with pytest.raises(ValueError, match="`eps`"):
        D.propagate(y, x, eps=-1.0)
    with pytest.raises(ValueError, match="`rule`"):
        D.propagate(y, x, rule="alpha-beta")
    with pytest.raises(ValueError, match="`add_rule`"):
        D.propagate(y, x, add_rule="max")
    with pytest.raises(ValueError, match="`R_out`"):
        D.propagate(y, x, np.ones(3))
    with pytest.raises(ValueError, match="`x`"):
        D.propagate(y, Tensor(np.ones(2)))
    s = Rd.sum(E.relu(x))
    s.backward()
    with pytest.raises(RuntimeError, match="freed"):
        D.propagate(s, x)


def test_quick_run_is_a_smoke_run_with_every_arm(quick_result):
    r = quick_result(SLUG)
    assert r.smoke and len({row["method"] for row in r.table}) == 8


def full():
    assert freshness(SLUG) == "fresh", f"run `refimpl record {SLUG}`"
    return recorded(SLUG)


def _claim(r, start):
    return next(c for c in r.claims if c["statement"].startswith(start))


def test_full_run_premises_are_present_and_no_grid_edge():
    r = full()
    assert all(p["present"] for p in r.premises)
    assert r.grid_edges() == []


@pytest.mark.parametrize("arch", ["MLP", "CNN"])
def test_full_run_per_op_lrp_is_the_layerwise_lrp(arch):
    """The paper's exactness claim where both apply: the whole 95 % interval below 1e-8, five seeds."""
    c = _claim(full(), f"per-op LRP-ε equals an independent layer-wise LRP-ε on the {arch}")
    assert c["interval"]["n"] == 5 and c["interval"]["high"] < 1e-8


@pytest.mark.parametrize("arch", ["MLP", "CNN"])
@pytest.mark.parametrize("base", ["random", "saliency"])
def test_full_run_lrp_beats_random_and_saliency_on_abpc(arch, base):
    c = _claim(full(), f"LRP-ε has a larger pixel-flipping ABPC than {base} on the {arch}")
    assert c["interval"]["low"] > 1.0  # logit units; the gaps measured are several logits


def test_full_run_lrp_and_gradient_times_input_nearly_tie():
    """LRP-ε and its ε → 0 limit (gradient×input) differ by hundredths of a logit on ABPCs near 12: a tie on
    the MLP, a small edge on the CNN.  Fails if either gap grows past 0.2 logit."""
    r = full()
    for arch in ("MLP", "CNN"):
        iv = _claim(r, f"LRP-ε has a larger pixel-flipping ABPC than gradient×input on the {arch}")[
            "interval"
        ]
        assert -0.2 < iv["low"] and iv["high"] < 0.2


def test_constant_operands_are_weights_too():
    """A weight passed as a plain array (a constant of the graph) works like a Parameter."""
    rng = np.random.default_rng(7)
    W, v = rng.normal(size=(3, 4)), rng.normal(size=(3, 1))
    x1, x2 = _leaf(rng.normal(size=(5, 4))), None
    x2 = _leaf(x1.data)
    as_const = D.propagate(L.matmul(E.relu(L.matmul(x1, W.T)), v), x1, eps=0.0).relevance
    as_param = D.propagate(L.matmul(E.relu(L.matmul(x2, _leaf(W).T)), _leaf(v)), x2, eps=0.0).relevance
    np.testing.assert_allclose(as_const, as_param, atol=1e-12)
