"""ST-3: soft threshold by hand, straight-through gradient, rescaling, thresholds hit the target
ratio, the parametrization on a layer, the schedule, and the demo's claim (quick mode)."""

import numpy as np
import pytest

import refimpl as rf
from refimpl.autograd.tensor import Tensor
from refimpl.nn import MLP
from refimpl.optim import SGD
from refimpl.techniques.sparsity_pruning import _base as B
from refimpl.techniques.sparsity_pruning import st3_soft_threshold as st3


@pytest.mark.parametrize("case", st3.reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


def test_forward_equals_a_loop_oracle_and_grad_is_identity():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(3, 5))
    tau = 0.6
    want = np.zeros_like(w)
    for o in range(3):  # loop oracle of the official formula
        kept = [abs(v) for v in w[o] if abs(v) > tau]
        rho = (sum(kept) / 5 + 1e-6) / (sum(abs(v) for v in w[o]) / 5 + 1e-6)
        gamma = 1.01 / (rho + 0.01)
        for i in range(5):
            v = w[o, i]
            want[o, i] = gamma * (v - np.sign(v) * tau) if abs(v) > tau else 0.0
    t = Tensor(w, requires_grad=True)
    y = st3.st3_forward(t, tau)
    np.testing.assert_allclose(y.data, want, rtol=1e-12, atol=1e-12)
    g = rng.normal(size=(3, 5))
    y.backward(g)
    np.testing.assert_array_equal(t.grad, g)  # straight-through: zeroed weights get the gradient too
    assert st3.st3_forward(t, -1.0) is t  # τ ≤ 0: untouched


def test_gradcheck_through_a_layer_with_the_parametrization_fixed_tau_far_from_kinks():
    """The STE op is not differentiable as a function of w by design; its surrogate gradient is the
    identity, so d/dw of loss(ŵ) equals the true gradient of loss at ŵ: check that against central
    differences of loss in ŵ-space."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(4, 3))
    w = rng.normal(size=(2, 3))
    t = Tensor(w, requires_grad=True)
    y = st3.st3_forward(t, 0.5)
    what = y.data.copy()
    loss = (Tensor(x) @ y.T).tanh().sum()
    loss.backward()
    rf.gradcheck(lambda a: (Tensor(x) @ a.T).tanh().sum(), what)  # the true gradient at ŵ …
    a = Tensor(what, requires_grad=True)
    (Tensor(x) @ a.T).tanh().sum().backward()
    np.testing.assert_allclose(t.grad, a.grad, rtol=1e-12)  # … is what the latent weights receive


@pytest.mark.parametrize("sigma", [False, True])
def test_thresholds_reach_the_ratio_within_one_weight(sigma):
    rng = np.random.default_rng(2)
    ws = {"a": rng.normal(size=(30, 20)), "b": rng.normal(size=(10, 30)) * 0.3}
    n = sum(w.size for w in ws.values())
    for r in (0.5, 0.9, 0.98):
        taus = st3.st3_thresholds(ws, r, sigma=sigma)
        zeros = sum(int(np.sum(np.abs(w) <= taus[k])) for k, w in ws.items())
        assert abs(zeros - r * n) <= 1.0
    if sigma:  # ST-3σ: the layer's threshold is the global one scaled by σ_l = 1/√(Σ shape)
        taus = st3.st3_thresholds(ws, 0.5, sigma=True)
        assert taus["a"] / taus["b"] == pytest.approx(np.sqrt(40) / np.sqrt(50))
    assert st3.st3_thresholds(ws, 0.0) == {"a": -1.0, "b": -1.0}
    with pytest.raises(ValueError, match="ratio"):
        st3.st3_thresholds(ws, 1.5)


def test_pruner_follows_the_cubic_schedule_and_latent_weights_stay_dense():
    rng = np.random.default_rng(3)
    model = MLP([8, 16, 4], rng=rng)
    pruner = st3.ST3Pruner(model, 0.8, start_step=0, end_step=4)
    opt = SGD(list(model.parameters()), lr=0.1, momentum=0.9)
    from refimpl.nn import functional as F

    x, y = rng.normal(size=(32, 8)).astype(np.float32), rng.integers(0, 4, size=32)
    for step in range(1, 6):
        opt.zero_grad()
        F.cross_entropy(model(Tensor(x)), y).backward()
        opt.step()
        pruner.on_step_end(None)
        want = 0.8 * (1 - (1 - min(step, 4) / 4) ** 3)
        got = B.total_sparsity(model)
        assert abs(got - want) * 192 <= 1.0, (step, got, want)  # 8·16 + 16·4 = 192 weights
    # the latent weights are dense: the zeroed ones keep learning (straight-through)
    lat = np.concatenate([B.latent_weight(m).data.ravel() for m in B.prunable_layers(model).values()])
    assert np.count_nonzero(lat) == lat.size


def test_gmp_baseline_is_sticky_and_masked():
    rng = np.random.default_rng(4)
    model = MLP([8, 16, 4], rng=rng)
    pruner = st3.GMPPruner(model, 0.75, start_step=0, end_step=3)
    opt = SGD(list(model.parameters()), lr=0.1, momentum=0.9)
    from refimpl.nn import functional as F

    class S:
        optimizer = opt

    x, y = rng.normal(size=(32, 8)).astype(np.float32), rng.integers(0, 4, size=32)
    pruned_before = None
    for _ in range(5):
        opt.zero_grad()
        F.cross_entropy(model(Tensor(x)), y).backward()
        opt.step()
        pruner.on_step_end(S)
        masks = B.current_masks(model)
        pruned = np.concatenate([(m == 0).ravel() for m in masks.values()])
        if pruned_before is not None:
            assert np.all(pruned[pruned_before])  # once pruned, always pruned
        pruned_before = pruned
        for name, mod in B.prunable_layers(model).items():
            assert np.all(B.latent_weight(mod).data[masks[name] == 0] == 0)
    assert abs(B.total_sparsity(model) - 0.75) * 192 <= 1.0


@pytest.mark.parametrize("seed", [0, 1])
def test_demo_reports_the_comparison_honestly(seed, demo_result):
    """At toy scale ST-3 and gradual hard pruning are on par (the paper's advantage is not reproduced;
    see the module docstring): both train a useful 98 %-sparse net, the gap stays within noise, and the
    claim flag is exactly its stated definition."""
    r = demo_result("st3-soft-threshold", seed)
    m = r["metrics"]
    for row in r["table"]:
        assert abs(row["achieved_sparsity"] - row["sparsity"]) < 1e-4
    assert m["acc_st3_0.98"] > 0.85 and m["acc_gmp_0.98"] > 0.85
    assert m["max_abs_gap"] < 0.04
    assert r["claim"]["holds"] == (m["st3_minus_gmp_at_top"] > 0 and m["st3_minus_gmp_mean"] >= 0)
