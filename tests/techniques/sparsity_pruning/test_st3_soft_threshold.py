"""ST-3: soft threshold by hand, straight-through gradient, rescaling, the hard-STE ablation, thresholds
(ST-3 and ST-3σ) hit the target ratio, the parametrization on a layer, the schedule, the sticky GMP
baseline, the quick run's code path, and the paper's claims on the recorded full result."""

import numpy as np
import pytest

import refimpl as rf
from refimpl.autograd.tensor import Tensor
from refimpl.experiments import freshness, paired_interval, recorded
from refimpl.nn import MLP
from refimpl.nn import functional as F
from refimpl.optim import SGD
from refimpl.techniques.sparsity_pruning import masks as B
from refimpl.techniques.sparsity_pruning import st3_soft_threshold as st3
from refimpl.techniques.sparsity_pruning.st3_soft_threshold import experiment as ex
from refimpl.techniques.sparsity_pruning.st3_soft_threshold.cases import reference_cases

SLUG = "st3-soft-threshold"


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
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


def test_hard_ste_ablation_keeps_survivors_unchanged_and_passes_the_gradient():
    rng = np.random.default_rng(5)
    w = rng.normal(size=(4, 6))
    t = Tensor(w, requires_grad=True)
    y = st3.st3_forward(t, 0.7, rescale=False, soft=False)
    np.testing.assert_array_equal(y.data, np.where(np.abs(w) > 0.7, w, 0.0))
    g = rng.normal(size=w.shape)
    y.backward(g)
    np.testing.assert_array_equal(t.grad, g)
    # the jump at the threshold: hard thresholding moves a weight crossing τ by τ, soft-thresholding by 0
    eps = 1e-9
    w_edge = np.array([[0.7 + eps, 0.3]])
    hard = st3.st3_forward(Tensor(w_edge), 0.7, rescale=False, soft=False).data
    soft = st3.st3_forward(Tensor(w_edge), 0.7, rescale=False, soft=True).data
    assert hard[0, 0] == pytest.approx(0.7) and abs(soft[0, 0]) < 1e-8


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
        assert st3.layer_scale((30, 20)) == pytest.approx(1 / np.sqrt(50))
    assert st3.st3_thresholds(ws, 0.0) == {"a": -1.0, "b": -1.0}
    with pytest.raises(ValueError, match="ratio"):
        st3.st3_thresholds(ws, 1.5)


def test_sigma_threshold_equalises_layers_whose_weights_follow_their_scale():
    """The point of ST-3σ: if every layer's weights have the spread σ_l = 1/√(out + in) (the same
    distribution up to that scale), the σ-scaled quantile prunes every layer alike, whereas the plain
    global quantile prunes the layer with the smaller σ_l harder."""
    rng = np.random.default_rng(6)
    shapes = {"wide": (64, 256), "narrow": (16, 8)}
    ws = {k: rng.standard_normal(s) * st3.layer_scale(s) for k, s in shapes.items()}
    per_layer = {}
    for sigma in (False, True):
        taus = st3.st3_thresholds(ws, 0.8, sigma=sigma)
        per_layer[sigma] = {k: float(np.mean(np.abs(w) <= taus[k])) for k, w in ws.items()}
    assert abs(per_layer[True]["wide"] - per_layer[True]["narrow"]) < 0.1
    assert per_layer[False]["wide"] - per_layer[False]["narrow"] > 0.3


def test_pruner_follows_the_cubic_schedule_and_latent_weights_stay_dense():
    rng = np.random.default_rng(3)
    model = MLP([8, 16, 4], rng=rng)
    pruner = st3.ST3Pruner(model, 0.8, start_step=0, end_step=4)
    opt = SGD(list(model.parameters()), lr=0.1, momentum=0.9)
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


def test_ramp_follows_the_official_config_fractions():
    start, end = ex.ramp_steps(160, 640, batch=64)  # 10 steps per epoch: epochs 5 → 80 of 160
    assert (start, end) == (50, 800)


# --- the experiment --------------------------------------------------------------------------------------
N_WEIGHTS = 64 * 128 + 128 * 128 + 128 * 10


def test_quick_run_code_path_determinism_and_premise(quick_result):
    r = quick_result(SLUG)
    r.validate()
    assert r.quick and r.smoke  # two seeds, one learning rate, ten epochs: not evidence
    for row in r.table:  # every pruned arm ends exactly at its target (to one weight), dense at 0
        target = float(row["method"].split("@")[1]) if "@" in row["method"] else 0.0
        assert abs(row["achieved_sparsity"] - target) * N_WEIGHTS <= 1.0, row
        if row["method"].startswith("GMP"):
            assert row["mask_changes_after_ramp"] == 0.0  # sticky: nothing comes back
    assert [p["method"] for p in r.premises] == ["GMP@0.98", "GMP@0.99"]
    assert all(p["metric"] == "drop_vs_dense" and len(p["values"]) == 2 for p in r.premises)
    again = ex.run(quick=True, progress=False)
    assert again.table == r.table and again.selected == r.selected


def full():
    assert freshness(SLUG) == "fresh", f"run `refimpl record {SLUG}`"
    r = recorded(SLUG)
    assert not r.quick and len(r.seeds) >= 10
    return r


def _premise(r, method):
    return next(p for p in r.premises if p["method"] == method)


def test_full_run_premise_hard_pruning_costs_a_point_at_99_but_not_clearly_at_98():
    r = full()
    p99, p98 = _premise(r, "GMP@0.99"), _premise(r, "GMP@0.98")
    assert p99["present"] and p99["interval"]["low"] > 0.01, p99["interval"]  # > 1 point lost, over seeds
    # at 98 % the cost of hard pruning is not established above one point (and is below three)
    assert not p98["present"] and p98["interval"]["low"] < 0.01 and p98["interval"]["high"] < 0.03


def test_full_run_soft_thresholding_adds_no_measurable_gain_over_hard_straight_through():
    """The paper's distinguishing claim is not reproduced at toy scale: with the same straight-through
    training, threshold and schedule, soft-thresholding gains at most under a point over a hard mask,
    and at 99 % no gain at all is established."""
    r = full()
    for s in ("98%", "99%"):
        iv = r.claim(f"At {s} sparsity soft-thresholding")["interval"]
        assert iv["high"] < 0.01, (s, iv)
    assert r.claim("At 99% sparsity soft-thresholding")["interval"]["low"] < 0.0


def test_full_run_st3_beats_sticky_gmp_at_99_and_straight_through_alone_does_too():
    r = full()
    iv = r.claim("At 99% sparsity ST-3 beats")["interval"]
    assert iv["low"] > 0.0, iv  # ST-3 above GMP on the whole interval over seeds
    # the gain is the straight-through gradient's: STE-hard (no soft threshold) is also above GMP
    ste = paired_interval(r.values("STE-hard@0.99", "test_accuracy"), r.values("GMP@0.99", "test_accuracy"))
    assert ste.low > 0.0, ste
    # and straight-through weights keep crossing the threshold after the ramp; GMP's never do
    assert min(r.values("ST-3@0.99", "mask_changes_after_ramp")) > 0.0
    assert max(r.values("GMP@0.99", "mask_changes_after_ramp")) == 0.0


def test_full_run_rescaling_does_not_help_at_toy_scale():
    iv = full().claim("At 99% sparsity the per-channel rescaling")["interval"]
    assert iv["high"] < 0.0, iv  # ST-3 without γ is better on the whole interval (the claim fails)


def test_full_run_sigma_threshold_spreads_pruning_more_evenly_at_a_small_cost():
    r = full()
    iv = r.claim("At 99% sparsity the σ-scaled threshold")["interval"]
    assert iv["high"] < 0.0, iv
    for s in ("0.9", "0.98"):  # at the lower sparsities too (no claim there; the same direction)
        d = paired_interval(
            r.values(f"ST-3σ@{s}", "layer_sparsity_range"), r.values(f"ST-3@{s}", "layer_sparsity_range")
        )
        assert d.high < 0.0, (s, d)
    acc = r.claim("At 99% sparsity ST-3σ costs")["interval"]
    # "slightly worse" than ST-3 (the official README): below it, by less than two points
    assert acc["high"] < 0.0 and acc["low"] > -0.02, acc
