"""SAF and its SAM baseline: hand values, the trajectory loss's gradient (gradcheck and closed form), the memory
bank, fit integration, the quick run's code path, and the paper's claims on the recorded full result."""

import numpy as np
import pytest

import refimpl
from refimpl import nn, optim, train
from refimpl.autograd.tensor import Tensor
from refimpl.experiments import freshness, recorded
from refimpl.nn import functional as F
from refimpl.techniques.optimizers_training_rules import saf
from refimpl.techniques.optimizers_training_rules.saf.cases import reference_cases

SLUG = "saf"


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


def test_trajectory_loss_gradcheck_and_zero_at_equal_logits():
    rng = np.random.default_rng(0)
    past = rng.normal(size=(4, 3))
    refimpl.gradcheck(lambda z: saf.trajectory_loss(z, past, tau=2.5), rng.normal(size=(4, 3)))
    same = saf.trajectory_loss(Tensor(past.copy()), past, tau=5.0)
    assert abs(float(same.data)) < 1e-12


def test_trajectory_loss_matches_brute_force_kl():
    rng = np.random.default_rng(1)
    z, past, tau = rng.normal(size=(5, 4)), rng.normal(size=(5, 4)), 3.0

    def sm(a):
        e = np.exp(a - a.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)

    expect = tau**2 * np.mean(
        [sum(p * np.log(p / q) for p, q in zip(sm(past[i] / tau), sm(z[i] / tau))) for i in range(5)]
    )
    got = float(saf.trajectory_loss(Tensor(z), past, tau).data)
    assert np.isclose(got, expect, rtol=1e-12)


def test_memory_bank_errors_and_indexing():
    mem = saf.LogitMemory(3, 2, E=2, dtype=np.float64)
    mem.record([0], 0, [[1.0, 2.0]])
    with pytest.raises(ValueError, match="no logits recorded at epoch 0"):
        mem.past([1], 2)  # sample 1 was not seen at epoch 0
    np.testing.assert_array_equal(mem.past([0], 2), [[1.0, 2.0]])
    mem.record([0], 3, [[9.0, 9.0]])  # slot 0 overwritten (3 mod 3): epoch 0 is gone
    with pytest.raises(ValueError):
        mem.past([0], 2)
    with pytest.raises(ValueError, match="E must be"):
        saf.LogitMemory(3, 2, E=0)


def test_saf_loss_switches_on_after_kl_start_and_uses_past_logits():
    """With a model that outputs fixed logits, the KL term is 0 when the logits never change, and the
    loss equals CE until epoch kl_start + 1."""
    n = 6
    x = np.random.default_rng(0).normal(size=(n, 3))
    y = np.stack([np.arange(n) % 2, np.arange(n)], 1)
    loss_fn = saf.SAFLoss(n, 2, lam=0.5, tau=2.0, E=1, kl_start=1)
    lin = nn.Linear(3, 2, dtype=np.float64, rng=0)
    for epoch in range(4):
        loss_fn.epoch = epoch
        out = lin(Tensor(x))
        total = float(loss_fn(out, y).data)
        ce = float(F.cross_entropy(out, y[:, 0]).data)
        assert np.isclose(total, ce, atol=1e-12)  # logits unchanged between epochs → KL = 0
    assert loss_fn.kl_steps == 2  # epochs 2 and 3 (kl_start < epoch)
    # change the weights: the KL term appears and is positive
    lin.weight.data[0] += 0.5  # one class only (a shift of all logits would not change the softmax)
    loss_fn.epoch = 4
    out = lin(Tensor(x))
    assert float(loss_fn(out, y).data) > float(F.cross_entropy(out, y[:, 0]).data) + 1e-6
    with pytest.raises(ValueError, match="target must be"):
        loss_fn(out, np.zeros((n, 3), dtype=np.int64))


def test_sam_callback_equals_sam_gradient_and_counts_passes():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 4))
    y = rng.integers(0, 3, 32)
    a = nn.MLP([4, 5, 3], dtype=np.float64, rng=0)
    b = nn.MLP([4, 5, 3], dtype=np.float64, rng=0)
    _, g_ref = saf.sam_gradient(a, F.cross_entropy, x, y, rho=0.1)
    w_before = [p.data.copy() for p in a.parameters()]
    sam = saf.SAM(F.cross_entropy, rho=0.1)
    opt = optim.SGD(b.parameters(), lr=0.1)
    hist = train.fit(b, F.cross_entropy, [(x, y)], opt, epochs=1, callbacks=[sam], progress=False)
    assert sam.extra_gradient_evaluations == 1 and len(hist["step_loss"]) == 1
    for p, w0, g in zip(b.parameters(), w_before, g_ref):
        np.testing.assert_allclose(p.data, w0 - 0.1 * g, rtol=1e-12, atol=1e-14)
    for p, w0 in zip(a.parameters(), w_before):  # sam_gradient restored the weights
        np.testing.assert_array_equal(p.data, w0)
    with pytest.raises(ValueError, match="rho"):
        saf.SAM(F.cross_entropy, rho=-1)


def test_saf_usable_from_fit():
    rng = np.random.default_rng(3)
    n = 48
    x = rng.normal(size=(n, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    loss_fn = saf.SAFLoss(n, 2, E=1, kl_start=1)
    model = nn.MLP([4, 8, 2], rng=0)
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    hist = train.fit(
        model,
        loss_fn,
        (x, np.stack([y, np.arange(n)], 1)),
        opt,
        epochs=5,
        batch_size=16,
        callbacks=[loss_fn],
        eval_data=(x, y),
        progress=False,
    )
    assert loss_fn.kl_steps == 3 * 3  # epochs 2, 3, 4 × 3 batches
    assert hist["val_accuracy"][-1] > 0.8


def test_trajectory_loss_gradient_is_tau_times_q_minus_p_over_batch():
    """The docstring's derivation: ∂/∂z τ²·mean_i KL(p_i ‖ softmax(z_i/τ)) = τ (q_i − p_i) / B."""
    rng = np.random.default_rng(7)
    z, past, tau = rng.normal(size=(6, 5)), 3 * rng.normal(size=(6, 5)), 5.0

    def sm(a):
        e = np.exp(a - a.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)

    zt = Tensor(z.copy(), requires_grad=True)
    saf.trajectory_loss(zt, past, tau).backward()
    np.testing.assert_allclose(zt.grad, tau * (sm(z / tau) - sm(past / tau)) / 6, rtol=1e-10, atol=1e-14)


def test_saf_loss_defaults_follow_the_official_readme():
    loss_fn = saf.SAFLoss(10, 3)
    assert (loss_fn.lam, loss_fn.tau, loss_fn.memory.E, loss_fn.kl_start) == (0.3, 5.0, 3, 5)
    assert not loss_fn.active(5) and loss_fn.active(6)  # strict: kl_start < epoch (SAF_train.py L734)


def test_quick_run_code_path(quick_result):
    r = quick_result(SLUG)
    r.validate()
    assert r.smoke
    assert r.values("SAM", "grad_evals_per_step") == [2.0] * len(r.seeds)
    for name in ("SGD", "SGD+wd", "SAF"):
        assert r.values(name, "grad_evals_per_step") == [1.0] * len(r.seeds)
    assert r.premises[0]["metric"] == "test_accuracy" and r.premises[0]["baseline"] == "SGD"
    assert isinstance(r.premises[0]["present"], bool)
    assert all(v > 0 for v in r.values("SGD", "hessian_top"))  # near a (noisy) minimum


def full():
    assert freshness(SLUG) == "fresh", f"run `refimpl record {SLUG}`"
    return recorded(SLUG)


def test_full_run_premise_sam_helps_over_sgd():
    p = full().premises[0]
    assert p["interval"]["low"] > 0 and p["interval"]["mean"] > 0.005, p["interval"]


def test_full_run_saf_beats_sgd_with_the_same_recipe():
    iv = full().claim("SAF improves test accuracy over SGD with the same recipe")["interval"]
    assert iv["low"] > 0.005, iv  # more than half a point (about three test images), over seeds


def test_full_run_saf_beats_sgd_with_tuned_weight_decay_barely():
    iv = full().claim("SAF improves test accuracy over SGD with its weight decay tuned")["interval"]
    assert iv["low"] > 0 and iv["mean"] < 0.01, iv  # resolved, but by well under a point


def test_full_run_saf_is_flatter_than_sgd_but_not_as_flat_as_sam():
    r = full()
    iv = r.claim("SAF ends in a flatter minimum than SGD")["interval"]
    assert iv["high"] < -1.0, iv  # the top Hessian eigenvalue drops by more than 1 on average
    sam, saf_ = r.values("SAM", "hessian_top"), r.values("SAF", "hessian_top")
    assert all(a < b for a, b in zip(sam, saf_)), (sam, saf_)  # SAM is flatter still, on every seed


def test_full_run_saf_matches_sam_at_half_the_gradient_cost():
    r = full()
    iv = r.claim("SAF matches SAM's test accuracy within one point")["interval"]
    assert iv["low"] > -0.005, iv  # not even half a point below SAM
    assert r.values("SAF", "grad_evals_per_step") == [1.0] * len(r.seeds)
    assert r.values("SAM", "grad_evals_per_step") == [2.0] * len(r.seeds)
