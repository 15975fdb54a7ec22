"""Robust weight perturbation: hand cases, the masked gradient, the rescalings, the perturb/restore
training rule, PGD, the quick run's code path, and the paper's claims on the recorded full result."""

import math

import numpy as np
import pytest

import refimpl as rf
from refimpl.autograd.tensor import Tensor
from refimpl.experiments import freshness, recorded
from refimpl.nn import MLP
from refimpl.nn import functional as F
from refimpl.techniques.regularization_normalization import robust_weight_perturbation as rwp
from refimpl.techniques.regularization_normalization.robust_weight_perturbation.cases import reference_cases

SLUG = "robust-weight-perturbation"


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


def _model_and_batch(seed=0):
    rng = np.random.default_rng(seed)
    model = MLP([64, 16, 16, 10], rng=np.random.default_rng(seed), dtype=np.float64)
    x, y = rng.uniform(size=(12, 64)), rng.integers(0, 10, size=12)
    return model, x, y


def _norm(arrays):
    return math.sqrt(sum(float(np.sum(a**2)) for a in arrays))


def test_rwp_norm_is_the_global_weight_norm_and_weights_are_restored():
    model, x, y = _model_and_batch()
    before = [p.data.copy() for p in model.parameters()]
    v = rwp.rwp_perturbation(model, x, y, c_min=100.0, steps=3)
    assert _norm(v) == pytest.approx(_norm([p.data for p in rwp.perturbed_params(model)]))
    assert all(np.array_equal(b, p.data) for b, p in zip(before, model.parameters()))
    assert all(p.grad is None for p in model.parameters())
    # the weights only, no biases
    assert [a.shape for a in v] == [p.data.shape for p in rwp.perturbed_params(model)]


def test_awp_is_rescaled_per_layer():
    model, x, y = _model_and_batch(1)
    v = rwp.awp_perturbation(model, x, y)
    for w, d in zip(rwp.perturbed_params(model), v):
        assert np.linalg.norm(d) == pytest.approx(np.linalg.norm(w.data))


def test_rwp_one_step_direction_is_the_gradient_of_the_kept_examples():
    """∇ (1/n) Σ 1[ℓ_i < c] ℓ_i = (1/n) Σ_{kept} ∇ℓ_i: the direction of the kept examples' summed loss."""
    model, x, y = _model_and_batch(2)
    per = F.cross_entropy(model(Tensor(x)), y, reduction="none").data
    c_min = float(np.median(per))
    keep = per < c_min
    model.zero_grad()
    F.cross_entropy(model(Tensor(x[keep])), y[keep], reduction="sum").backward()
    g = [p.grad.copy() for p in rwp.perturbed_params(model)]
    model.zero_grad()
    v, passed = rwp.rwp_perturbation(model, x, y, c_min=c_min, steps=1, return_pass_fraction=True)
    cos = sum(np.sum(a * b) for a, b in zip(g, v)) / (_norm(g) * _norm(v))
    assert cos == pytest.approx(1.0, abs=1e-10)
    assert passed == pytest.approx(keep.mean())


def test_later_steps_are_taken_at_the_perturbed_weights():
    """Step 2 adds η ∇L at w + γ v⁽¹⁾ (not at w): recompute it by hand and compare."""
    model, x, y = _model_and_batch(5)
    gamma, eta = 0.5, 0.01  # a large γ so that the two points differ visibly
    ws = rwp.perturbed_params(model)
    w0 = [p.data.copy() for p in ws]
    d1 = [eta * g for g in rwp._weight_grads(model, x, y, math.inf)[0]]
    v1 = rwp.global_rescale(d1, w0)
    for p, a, b in zip(ws, w0, v1):
        p.data[...] = a + gamma * b
    d2 = [a + eta * g for a, g in zip(d1, rwp._weight_grads(model, x, y, math.inf)[0])]
    for p, a in zip(ws, w0):
        p.data[...] = a
    expected = rwp.global_rescale(d2, w0)
    got = rwp.rwp_perturbation(model, x, y, gamma=gamma, c_min=math.inf, steps=2, eta=eta)
    for a, b in zip(got, expected):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_no_example_below_cmin_gives_no_perturbation():
    """At initialisation every adversarial loss is ≈ ln 10 > a tiny c_min: v = 0 and RWP's step is AT's."""
    model, x, y = _model_and_batch(3)
    v, passed = rwp.rwp_perturbation(model, x, y, c_min=1e-3, return_pass_fraction=True)
    assert passed == 0.0 and all(np.all(a == 0) for a in v)


def test_gradcheck_masked_loss_in_weights():
    model, x, y = _model_and_batch(4)
    w = model[2].weight

    def f(wt):
        from refimpl.nn import functional_call

        per = F.cross_entropy(functional_call(model, {"2.weight": wt}, Tensor(x)), y, reduction="none")
        return (per * rwp.lsc_mask(per.data, 2.5)).sum()

    rf.gradcheck(f, w.data.copy())


def test_weight_perturbation_callback_perturbs_then_restores_around_the_step():
    """One `fit` step with a zero learning rate: the weights come back exactly; the gradient the optimizer
    saw is the one at w + γv, not at w."""
    from refimpl.optim import SGD
    from refimpl.train import fit

    model, x, y = _model_and_batch(6)
    before = [p.data.copy() for p in model.parameters()]
    cb = rwp.WeightPerturbation("RWP", gamma=0.01, c_min=math.inf, steps=2)
    seen = []

    class Spy:
        def after_backward(self, state):
            seen.append([p.data.copy() for p in rwp.perturbed_params(model)])

    opt = SGD(model.parameters(), lr=1e-300)
    fit(model, F.cross_entropy, [(x, y)], opt, epochs=1, callbacks=[cb, Spy()], progress=False)
    for b, p in zip(before, model.parameters()):
        np.testing.assert_allclose(p.data, b, atol=1e-15)
    moved = [s - b for s, b in zip(seen[0], before[0::2])]
    assert _norm(moved) == pytest.approx(0.01 * _norm(before[0::2]), rel=1e-9)  # ‖γ v‖ = γ ‖w‖
    assert cb.v is None and len(cb.pass_fraction) == 1 and cb.pass_fraction[0] == 1.0


def test_pgd_stays_in_the_ball_and_the_data_range_and_lowers_accuracy():
    rng = np.random.default_rng(0)
    model = MLP([4, 16, 3], rng=np.random.default_rng(0), dtype=np.float64)
    x, y = rng.uniform(size=(64, 4)), rng.integers(0, 3, size=64)
    params = list(model.parameters())
    xa = rwp.pgd(model, x, y, eps=0.2, alpha=0.05, steps=10, rng=0)
    assert np.all(np.abs(xa - x) <= 0.2 + 1e-12) and xa.min() >= 0 and xa.max() <= 1
    assert all(p.grad is None for p in params)
    clean = rwp.robust_accuracy(model, x, y, eps=0.0, alpha=0.0, steps=0)
    assert rwp.robust_accuracy(model, x, y, eps=0.3, alpha=0.05, steps=10, rng=0) <= clean
    with pytest.raises(ValueError, match="eps"):
        rwp.pgd(model, x, y, eps=-1, alpha=0.1, steps=1)


def test_quick_run_reaches_the_code_path_and_measures_the_premises(quick_result):
    r = quick_result(SLUG)
    r.validate()
    assert r.smoke
    assert [p["metric"] for p in r.premises] == [
        "val_robust_loss_rise",
        "val_robust_acc_drop",
        "lsc_pass_fraction",
        "lsc_pass_fraction",
    ]
    assert r.methods == ["AT", "AWP", "RWP (no LSC)", "RWP"]
    for row in r.table:
        assert 0 <= row["test_robust_accuracy"] <= row["test_clean_accuracy"] <= 1
    assert r.values("RWP (no LSC)", "lsc_pass_fraction") == [1.0] * len(r.seeds)  # c_min = ∞ keeps all


# --- the recorded full run ------------------------------------------------------------------------------
def full():
    assert freshness(SLUG) == "fresh", f"run `refimpl record {SLUG}`"
    return recorded(SLUG)


def test_full_run_premise_at_overfits_robustly_in_the_loss():
    p = full().premises[0]
    assert p["metric"] == "val_robust_loss_rise" and p["interval"]["low"] > 0.1, p["interval"]


def test_full_run_the_mask_is_selective():
    r = full()
    passed = r.values("RWP", "lsc_pass_fraction")
    assert 0.05 < min(passed) and max(passed) < 0.95, passed


ACCURACY_CLAIMS = (
    "RWP ends with a higher PGD test robust accuracy than AT",
    "RWP ends with a higher PGD test robust accuracy than AWP",
    "The loss-stationary condition",
)


@pytest.mark.parametrize("start", ACCURACY_CLAIMS)
def test_full_run_rwp_gains_are_under_a_point_and_unresolved(start):
    """Measured on this toy: RWP's mean PGD-20 test robust accuracy is above AT's, AWP's and that of RWP
    without the mask, each by less than one point, and every 95 % interval over five seeds includes zero
    (the paper reports clear gains on CIFAR-10)."""
    iv = full().claim(start)["interval"]
    assert 0 < iv["mean"] < 0.01 and iv["low"] < 0 < iv["high"], iv


def test_full_run_rwp_overfitting_reduction_is_unresolved():
    """Measured: RWP's held-out robust loss rises less than AT's on average (by more than 0.05), but the
    interval over five seeds still reaches above zero."""
    iv = full().claim("RWP overfits less than AT")["interval"]
    assert iv["mean"] < -0.05 and iv["high"] > 0, iv
