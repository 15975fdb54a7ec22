"""Weight compander (Cakaj, Mehnert, Yang, IJCNN 2023): Ψ(v) = a·arctan(v/b) and its Table VII variants
against hand values and float64 finite differences, the initialization and weight-decay rules, the
adaptive optimizer's first step, the quick run's code path, and the paper's claims on the recorded run."""

import math

import numpy as np
import pytest

import refimpl as rf
from refimpl.autograd.tensor import Tensor, no_grad
from refimpl.experiments import freshness, recorded
from refimpl.nn import MLP
from refimpl.nn.layers.linear import Linear
from refimpl.nn.parametrize import register_parametrization, remove_parametrizations
from refimpl.techniques.regularization_normalization import weight_compander as wc
from refimpl.techniques.regularization_normalization.weight_compander.cases import reference_cases

SLUG = "weight-compander"


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


def test_psi_at_b_is_a_pi_over_4_and_bounded_by_a_pi_over_2():
    a, b = 0.7, 0.9
    assert float(wc.psi(np.array(b), a, b).data) == pytest.approx(a * math.pi / 4, abs=1e-15)
    v = np.linspace(-1e4, 1e4, 2001)
    w = wc.psi(v, a, b).data
    assert np.all(np.abs(w) < a * math.pi / 2)  # Eq. 1's bound, for every v
    assert np.allclose(w, -w[::-1]) and np.all(np.diff(w) > 0)  # odd, increasing
    # the slope is largest at 0 and decays: weights near zero move fastest (Eq. 3)
    s = wc.psi_derivative(np.abs(v[1000:]), a, b)
    assert s[0] == pytest.approx(a / b) and np.all(np.diff(s) < 0)


@pytest.mark.parametrize("kind", wc.KINDS)
def test_inverse_round_trips(kind):
    rng = np.random.default_rng(0)
    a, b = 0.6, 0.8
    w = rng.uniform(-0.5, 0.5, size=50)  # inside every kind's range for a = 0.6
    v = wc.psi_inverse(w, a, b, kind)
    assert np.max(np.abs(wc.psi(v, a, b, kind).data - w)) < 1e-14
    assert np.max(np.abs(wc.psi_inverse(wc.psi(v, a, b, kind).data, a, b, kind) - v)) < 1e-12


def test_inverse_refuses_weights_outside_the_range():
    with pytest.raises(ValueError, match="range"):
        wc.psi_inverse(np.array([0.8]), 0.5, 1.0)  # 0.8 > 0.5·π/2
    with pytest.raises(ValueError, match="range"):
        wc.psi_inverse(np.array([0.6]), 0.5, 1.0, "erf")  # erf is bounded by a


@pytest.mark.parametrize("kind", wc.KINDS)
def test_gradcheck_in_v_a_and_b_float64(kind):
    v = np.array([0.0, 0.3, -0.7, 2.0, -1e-3, 1.1])
    rf.gradcheck(lambda v, a, b: wc.psi(v, a, b, kind), v, np.array(0.7), np.array(0.9))
    rf.gradgradcheck(lambda v, a, b: wc.psi(v, a, b, kind), v, np.array(0.7), np.array(0.9))


def test_gradient_is_eq3_times_upstream():
    v = Tensor(np.array([0.0, 0.5, -2.0]), requires_grad=True)
    g = np.array([1.0, -2.0, 3.0])
    (wc.psi(v, 0.8, 0.5) * Tensor(g)).sum().backward()
    assert np.allclose(v.grad, g * 0.8 / (0.5 * (1 + v.data**2 / 0.25)), atol=1e-15)  # Eq. 2–3


def test_a_wrong_vjp_fails_the_checker(monkeypatch):
    orig = wc._Psi.backward

    def wrong(ctx, g):
        gv, ga, gb = orig(ctx, g)
        return 1.01 * gv, ga, gb

    monkeypatch.setattr(wc._Psi, "backward", wrong)
    assert not rf.gradcheck(lambda v: wc.psi(v, 0.7, 0.9), np.array([0.2, -0.4]), raise_exception=False)


def test_parametrization_keeps_the_initialization_eq4_and_bakes():
    rng = np.random.default_rng(0)
    lin = Linear(5, 4, dtype=np.float64, rng=rng)
    w0 = lin.weight.data.copy()
    comp = wc.WeightCompander(0.8, 0.5)
    register_parametrization(lin, "weight", comp)
    v = lin.parametrizations.weight.original.data
    assert np.allclose(v, 0.5 * np.tan(w0 / 0.8), atol=1e-15)  # Eq. 4
    with no_grad():
        assert np.max(np.abs(lin.weight.data - w0)) < 1e-15
    x = Tensor(rng.normal(size=(3, 5)))
    with no_grad():
        before = lin(x).data
    remove_parametrizations(lin, "weight", bake=True)  # Sec. III-A4: inference on the baked Ψ(v)
    with no_grad():
        assert np.allclose(lin(x).data, before, atol=1e-15)


def test_compand_covers_linear_weights_only_and_fixed_decay_is_on_psi():
    model = MLP([4, 6, 3], rng=np.random.default_rng(1), dtype=np.float64)
    comps = wc.compand(model, 0.8, 0.5)
    assert len(comps) == 2 and len(wc.companders(model)) == 2
    names = [n for n, _ in model.named_parameters()]
    assert all(not n.endswith("bias.original") for n in names)  # biases are not reparametrized
    lam = 1e-2
    groups = wc.param_groups(model, lam)
    vs = [layer.parametrizations.weight.original for layer, _ in wc.companders(model)]
    assert groups[0]["params"] == vs and groups[0]["weight_decay"] == 0.0  # v: decayed through Ψ(v)
    assert groups[1]["weight_decay"] == lam  # biases as in the plain network
    # the penalty's gradient in v is λ Ψ(v) Ψ'(v): the weight's λw carried back by Eq. 2
    model.zero_grad()
    wc.weight_decay_on_psi(model, lam).backward()
    for v in vs:
        w = wc.psi(v.data, 0.8, 0.5).data
        assert np.allclose(v.grad, lam * w * wc.psi_derivative(v.data, 0.8, 0.5), atol=1e-15)


def test_learnable_version_decays_v_never_a_b_and_trains_a_b():
    model = MLP([4, 6, 3], rng=np.random.default_rng(2), dtype=np.float64)
    comps = wc.compand(model, 0.5, 1.0, learnable=True)  # Sec. IV-E's initialization
    assert comps[0].values() == (0.5, 1.0)
    groups = wc.param_groups(model, 1e-3)
    hyper = {id(p) for c in comps for p in (c.a, c.b)}
    assert {id(p) for p in groups[1]["params"]} == hyper and groups[1]["weight_decay"] == 0.0
    assert not hyper & {id(p) for p in groups[0]["params"]} and groups[0]["weight_decay"] == 1e-3
    out = model(Tensor(np.random.default_rng(3).normal(size=(5, 4))))
    (out * out).sum().backward()
    assert all(abs(float(c.a.grad)) > 0 and abs(float(c.b.grad)) > 0 for c in comps)


def test_compander_adam_first_step_by_hand():
    """Sec. III-A3: Adam's step on ∂L/∂Ψ(v), rescaled by ∂Ψ/∂v.  On the first step m̂ = g_w and
    √n̂ = |g_w|, so v₁ = v₀ − γ Ψ'(v₀) g_w/(|g_w| + ε); plain Adam would move every v by ≈ γ instead."""
    lin = Linear(3, 2, dtype=np.float64, rng=np.random.default_rng(4))
    comp = wc.WeightCompander(0.8, 0.5)
    register_parametrization(lin, "weight", comp)
    v = lin.parametrizations.weight.original
    v0 = v.data.copy()
    opt = wc.CompanderAdam(wc.compander_adam_groups(lin, lr=0.01))
    x = Tensor(np.random.default_rng(5).normal(size=(4, 3)))
    out = lin(x)
    (out * out).sum().backward()
    slope = wc.psi_derivative(v0, 0.8, 0.5)
    gw = v.grad / slope  # ∂L/∂Ψ(v)
    opt.step()
    assert np.allclose(v.data, v0 - 0.01 * slope * gw / (np.abs(gw) + 1e-8), atol=1e-15)
    with pytest.raises(ValueError, match="weight_decay"):
        wc.CompanderAdam([{"params": [v], "compander": comp, "weight_decay": 0.1}])


def test_bad_arguments():
    with pytest.raises(ValueError, match="kind"):
        wc.psi(np.zeros(2), 1.0, 1.0, "tanh")
    with pytest.raises(ValueError, match="> 0"):
        wc.WeightCompander(a=0.0)


def test_weight_statistics():
    s = wc.weight_statistics([np.array([0.005, -0.3]), np.array([[-0.001, 0.02]])], near=0.01)
    assert s == {"max_abs_w": 0.3, "frac_near_zero": 0.5}


def test_quick_run_code_path(quick_result):
    r = quick_result(SLUG)
    r.validate()
    assert r.smoke
    assert r.premises[0]["metric"] == "gen_gap" and np.isfinite(r.premises[0]["interval"]["mean"])
    for row in r.table:  # Ψ's bound holds on every companded network (a ≤ 1 in the grid: |w| < π/2)
        if row["method"] in ("WC", "WC-erf"):
            assert row["max_abs_w_peak"] < math.pi / 2
    assert {"a_layer0", "b_layer2"} <= set(r.table[0]) | {
        k for row in r.table if row["method"] == "WC-learnable" for k in row
    }


def full():
    assert freshness(SLUG) == "fresh", f"run `refimpl record {SLUG}`"
    return recorded(SLUG)


def test_full_run_premise_the_plain_network_overfits():
    r = full()
    iv = r.premises[0]["interval"]
    assert r.premises[0]["metric"] == "gen_gap" and iv["low"] > 0.04, iv  # train − val ≥ 4 points, over seeds


def test_full_run_wc_bounds_the_weights_and_spreads_them_from_zero():
    """Sec. IV-D's two weight effects are reproduced: a much smaller largest weight over training, and
    fewer weights near zero; WC's weights stay inside (−aπ/2, aπ/2) with its selected a."""
    r = full()
    assert r.claim("WC keeps the largest")["interval"]["high"] < -0.5
    assert r.claim("WC leaves fewer weights")["interval"]["high"] < -0.01
    a = float(r.selected["WC"]["ab"].split("/")[0])
    assert max(r.values("WC", "max_abs_w_peak")) < a * math.pi / 2


def test_full_run_wc_does_not_raise_test_accuracy_on_this_toy():
    """The measured contradiction of Tables II–VII: with the same weight decay and a learning rate tuned
    per arm, fixed WC (arctan, arsinh, erf) loses test accuracy to weight decay alone over ten seeds, and
    learnable WC gains less than half a point at best."""
    r = full()
    for arm in ("WC added", "WC with arsinh", "WC with erf"):
        assert r.claim(arm)["interval"]["high"] < 0, (arm, r.claim(arm)["interval"])
    assert r.claim("WC added")["interval"]["mean"] < -0.005
    assert r.claim("learnable WC")["interval"]["high"] < 0.005, r.claim("learnable WC")["interval"]


def test_full_run_wc_is_not_more_robust_to_input_noise():
    c = full().claim("WC makes the network less sensitive")
    assert c["interval"]["high"] < 0, c["interval"]  # noisy-test accuracy below weight decay's


def test_full_run_learned_a_grows_from_its_start():
    r = full()  # every layer's a rises well above its start a = 0.5 (the paper saw growth in the last layer)
    for i in range(3):
        assert min(r.values("WC-learnable", f"a_layer{i}")) > 1.0
