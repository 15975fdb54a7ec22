"""Robust Weight Perturbation (Yu et al., 2022; arXiv 2205.14826)."""

import numpy as np
import pytest

import refimpl as rf
from refimpl.autograd.tensor import Tensor
from refimpl.nn import functional as F
from refimpl.techniques.regularization_normalization import robust_weight_perturbation as rwp


@pytest.mark.parametrize("case", rwp.reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


def _model_and_batch(seed=0):
    rng = np.random.default_rng(seed)
    model = rwp.MLP(hidden=16, rng=seed)
    x, y = rng.uniform(size=(12, 64)), rng.integers(0, 10, size=12)
    return model, x, y


def test_rwp_norm_is_the_weight_norm_and_weights_are_restored():
    model, x, y = _model_and_batch()
    before = [p.data.copy() for p in model.parameters()]
    v = rwp.rwp_perturbation(model, x, y, lsc=100.0, steps=3)
    w_norm = np.sqrt(sum(np.sum(p.data**2) for p in rwp.perturbed_params(model)))
    assert np.sqrt(sum(np.sum(a**2) for a in v)) == pytest.approx(w_norm)
    assert all(np.array_equal(b, p.data) for b, p in zip(before, model.parameters()))
    assert all(p.grad is None for p in model.parameters())


def test_awp_is_rescaled_per_layer():
    model, x, y = _model_and_batch(1)
    v = rwp.awp_perturbation(model, x, y)
    for w, d in zip(rwp.perturbed_params(model), v):
        assert np.linalg.norm(d) == pytest.approx(np.linalg.norm(w.data))


def test_rwp_one_step_direction_is_the_masked_loss_gradient():
    model, x, y = _model_and_batch(2)
    per = F.cross_entropy(model(Tensor(x)), y, reduction="none").data
    lsc = float(np.median(per))
    keep = per < lsc
    model.zero_grad()
    F.cross_entropy(model(Tensor(x[keep])), y[keep], reduction="sum").backward()  # Σ over kept samples only
    g = [p.grad.copy() for p in rwp.perturbed_params(model)]
    model.zero_grad()
    v = rwp.rwp_perturbation(model, x, y, lsc=lsc, steps=1)
    cos = sum(np.sum(a * b) for a, b in zip(g, v)) / (
        np.sqrt(sum(np.sum(a**2) for a in g)) * np.sqrt(sum(np.sum(b**2) for b in v))
    )
    assert cos == pytest.approx(1.0, abs=1e-10)


def test_rwp_training_step_equals_at_when_no_loss_is_below_cmin():
    """At initialisation every adversarial loss is ≈ ln 10 > c_min = 1.7: v = 0 and RWP is exactly AT."""
    model, x, y = _model_and_batch(3)
    v = rwp.rwp_perturbation(model, x, y, lsc=1e-3)
    assert all(np.all(a == 0) for a in v)


def test_gradcheck_masked_loss_in_weights():
    model, x, y = _model_and_batch(4)
    w = model.fc3.weight

    def f(wt):
        from refimpl.nn import functional_call

        per = F.cross_entropy(functional_call(model, {"fc3.weight": wt}, Tensor(x)), y, reduction="none")
        return (per * (per.data < 2.5)).sum()

    rf.gradcheck(f, w.data.copy())


def test_demo_reports_robust_accuracies(demo_result):
    r = demo_result("robust-weight-perturbation", 0)
    rf.catalog.check_demo_result(r)
    for row in r["table"]:
        assert 0.0 <= row["final_test_robust"] <= row["final_test_clean"] <= 1.0
    assert r["claim"]["holds"] == all(r["checks"].values())
