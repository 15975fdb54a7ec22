"""Nested dropout against noisy labels (+ co-teaching) (Chen et al., 2022; arXiv 2206.13140)."""

import numpy as np
import pytest

import refimpl as rf
from refimpl.autograd.tensor import Tensor, no_grad
from refimpl.nn import functional as F
from refimpl.techniques.regularization_normalization import nested_dropout_noisy_labels as nd


@pytest.mark.parametrize("case", nd.reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


def test_truncation_distributions_are_normalised_and_ordered():
    p = nd.gaussian_truncation_dist(0.0, 8.0, 32)
    assert p.sum() == pytest.approx(1.0) and np.all(np.diff(p) < 0)  # μ = 0: small K most likely
    g = nd.geometric_truncation_dist(0.3, 10)
    assert g.sum() == pytest.approx(1.0) and np.allclose(g[1:] / g[:-1], 0.7)
    with pytest.raises(ValueError, match="sigma"):
        nd.gaussian_truncation_dist(0.0, 0.0, 4)
    with pytest.raises(ValueError, match="k"):
        nd.nested_mask(0, 4)


def test_nested_dropout_gradient_only_reaches_kept_units():
    h = Tensor(np.arange(1.0, 6.0), requires_grad=True)
    nd.nested_dropout(h, 3).sum().backward()
    assert np.array_equal(h.grad, [1, 1, 1, 0, 0])


def test_truncated_classifier_equals_prefix_of_features():
    net = nd.FeatNet(8, rng=0)
    x = np.random.default_rng(1).uniform(size=(4, 64))
    with no_grad():
        full = net(Tensor(x), 3).data
    fast = nd._logits_all_k(net, x, [3])[3]
    assert np.allclose(full, fast, atol=1e-12)


def test_co_teaching_selection_matches_brute_force():
    rng = np.random.default_rng(2)
    l1, l2 = rng.uniform(size=20), rng.uniform(size=20)
    i1, i2 = nd.co_teaching_select(l1, l2, 0.3)
    assert len(i1) == len(i2) == 14
    assert set(i1) == {i for i in range(20) if (l1 < l1[i]).sum() < 14}
    assert nd.forget_rate(0, 0.4, 5) == 0.0 and nd.forget_rate(10, 0.4, 5) == pytest.approx(0.4)
    assert nd.forget_rate(2, 0.4, 5) == pytest.approx(0.16)


def test_per_sample_loss_used_for_selection():
    logits = Tensor(np.array([[2.0, 0.0], [0.0, 2.0]]))
    loss = F.cross_entropy(logits, np.array([0, 0]), reduction="none").data
    assert loss[0] < loss[1]


def test_demo_nested_memorises_fewer_noisy_labels(demo_result):
    r = demo_result("nested-dropout-noisy-labels", 0)
    rf.catalog.check_demo_result(r)
    m = r["metrics"]
    assert m["final_memorised_nested"] < m["final_memorised_baseline"]
    assert m["final_test_acc_nested"] > 0.5  # learns the clean signal despite 40 % noise
    assert r["claim"]["holds"] == all(r["checks"].values())
