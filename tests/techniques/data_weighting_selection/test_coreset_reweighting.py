"""CW-ERM (coreset-reweighting, arXiv 2403.12166; official-code): hand cases, properties of the moderate
coreset and of the broadcasting, the Meta-Weight-Net meta-gradient against float64 finite differences, the
trainer, errors, the quick run, and the claims on the recorded full result."""

import numpy as np
import pytest

from refimpl import grad, nn
from refimpl.experiments import freshness, recorded
from refimpl.techniques.data_weighting_selection import coreset_reweighting as CR
from refimpl.techniques.data_weighting_selection.coreset_reweighting.cases import reference_cases

SLUG = "coreset-reweighting"


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


def test_moderate_coreset_keeps_the_middle_ranks_per_class_and_skips_outliers():
    """Brute force of the official rule: count = int(f·N), k = count // C per class; an example is kept
    when the number of its class's examples before it in the (distance, index) order lies in the window."""
    rng = np.random.default_rng(0)
    f = np.concatenate([rng.normal(0, 1, (40, 3)), rng.normal(8, 1, (21, 3)), [[30.0, 30.0, 30.0]]])
    y = np.array([0] * 40 + [1] * 21 + [0])
    core = CR.moderate_coreset(f, y, 0.25)  # count 15, k 7 per class
    assert 61 not in core  # the far outlier of class 0
    for c in (0, 1):
        idx = np.flatnonzero(y == c)
        m = np.array([np.median(f[idx, j]) for j in range(3)])
        d = np.sqrt(((f[idx] - m) ** 2).sum(1))
        n, r = len(idx), 7 / len(idx)
        lo, hi = round(n * (0.5 - r / 2)), round(n * (0.5 + r / 2))
        rank = [sum((d[j] < d[i]) or (d[j] == d[i] and j < i) for j in range(n)) for i in range(n)]
        want = {int(idx[i]) for i in range(n) if lo <= rank[i] < hi}
        assert set(core[y[core] == c].tolist()) == want and len(want) == 7


def test_moderate_coreset_falls_back_to_one_window_when_fewer_than_one_per_class():
    f = np.arange(10.0)[:, None]
    y = np.array([0] * 5 + [1] * 5)  # class medians 2 and 7: d = 2, 1, 0, 1, 2 in each class
    # count 1 < C = 2: the global window with r = 0.1, ranks round(10·0.45) = 4 (4.5, half to even) to
    # round(10·0.55) − 1 = 5 (10·0.55 is 5.500…01 in floating point) — two examples, as the official code
    # gives; ascending (d, index): 2, 7, 1, 3, 6, 8, 0, 4, 5, 9 → ranks 4, 5 are indices 6, 8
    assert CR.moderate_coreset(f, y, 0.1).tolist() == [6, 8]


def test_broadcast_gives_coreset_members_their_own_weight_and_is_a_nearest_neighbour_map():
    rng = np.random.default_rng(1)
    f, y = rng.normal(size=(30, 2)), rng.integers(0, 3, 30)
    core = np.array([0, 4, 7, 11, 19, 25])
    w_core = rng.uniform(size=len(core))
    for same in (True, False):
        w = CR.broadcast_nearest(f, y, core, w_core, same_label=same)
        np.testing.assert_array_equal(w[core], w_core)
        for i in range(30):  # brute force
            cand = [j for j in range(len(core)) if not same or y[core[j]] == y[i]] or list(range(len(core)))
            dist = [np.sum((f[i] - f[core[j]]) ** 2) for j in cand]
            assert w[i] == w_core[cand[int(np.argmin(dist))]]


def _tiny(dtype=np.float64):
    rng = np.random.default_rng(2)
    model = nn.Sequential(
        nn.Linear(3, 4, dtype=dtype, rng=rng), nn.Tanh(), nn.Linear(4, 2, dtype=dtype, rng=rng)
    )
    wnet = CR.weight_net(hidden=3, dtype=dtype, rng=3)
    x, y = rng.normal(size=(5, 3)).astype(dtype), rng.integers(0, 2, 5)
    xm, ym = rng.normal(size=(4, 3)).astype(dtype), rng.integers(0, 2, 4)
    return model, wnet, x, y, xm, ym


def test_meta_gradient_matches_float64_finite_differences():
    model, wnet, x, y, xm, ym = _tiny()
    params = list(wnet.parameters())
    meta = CR.virtual_step_meta_loss(model, wnet, x, y, xm, ym, lr=0.5)
    got = grad(meta, params)
    h = 1e-6
    for p, g in zip(params, got):
        g = np.asarray(getattr(g, "data", g))
        fd = np.zeros_like(p.data)
        for k in np.ndindex(p.data.shape):
            old = p.data[k]
            p.data[k] = old + h
            up = float(CR.virtual_step_meta_loss(model, wnet, x, y, xm, ym, lr=0.5).data)
            p.data[k] = old - h
            down = float(CR.virtual_step_meta_loss(model, wnet, x, y, xm, ym, lr=0.5).data)
            p.data[k] = old
            fd[k] = (up - down) / (2 * h)
        np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-9)
    assert any(np.abs(np.asarray(getattr(g, "data", g))).max() > 1e-6 for g in got)  # not trivially zero


def test_meta_loss_without_the_virtual_step_is_the_plain_meta_loss():
    from refimpl import tensor
    from refimpl.nn import functional as F

    model, wnet, x, y, xm, ym = _tiny()
    meta = CR.virtual_step_meta_loss(model, wnet, x, y, xm, ym, lr=0.0)
    np.testing.assert_allclose(meta.data, F.cross_entropy(model(tensor(xm)), ym).data, rtol=1e-12)


def test_trainer_steps_both_nets_counts_meta_examples_and_gives_weights_in_0_1():
    model, wnet, x, y, xm, ym = _tiny(np.float32)
    before_phi = [p.data.copy() for p in wnet.parameters()]
    before_theta = [p.data.copy() for p in model.parameters()]
    tr = CR.MetaWeightTrainer(model, wnet, x, y, xm, ym, lr=0.1, batch_size=2)
    tr.fit(2, seed=0)
    assert tr.meta_examples == 2 * len(y)
    assert any(not np.array_equal(a, p.data) for a, p in zip(before_phi, wnet.parameters()))
    assert any(not np.array_equal(a, p.data) for a, p in zip(before_theta, model.parameters()))
    w = tr.weights(x, y)
    assert w.shape == (5,) and np.all((w > 0) & (w < 1))


def test_bad_input_is_named():
    f, y = np.zeros((4, 2)), np.array([0, 1, 0, 1])
    with pytest.raises(ValueError, match="fraction"):
        CR.moderate_coreset(f, y, 0.0)
    with pytest.raises(ValueError, match="features"):
        CR.moderate_coreset(np.zeros(4), y, 0.5)
    with pytest.raises(ValueError, match="y"):
        CR.moderate_coreset(f, y.astype(float), 0.5)
    with pytest.raises(ValueError, match="core_weights"):
        CR.broadcast_nearest(f, y, np.array([0, 1]), np.ones(3))
    with pytest.raises(ValueError, match="core"):
        CR.broadcast_nearest(f, y, np.array([0, 9]), np.ones(2))
    with pytest.raises(ValueError, match="hidden"):
        CR.weight_net(hidden=0)
    model, wnet, x, yy, xm, ym = _tiny()
    with pytest.raises(ValueError, match="lr"):
        CR.MetaWeightTrainer(model, wnet, x, yy, xm, ym, lr=0.0)


def test_quick_run_is_a_smoke_run():
    from refimpl import catalog

    r = catalog.get(SLUG).experiment.run(quick=True, progress=False)
    assert r.quick and r.smoke
    assert set(r.selected) == {
        "uniform ERM",
        "CW-ERM",
        "CW-ERM, random coreset",
        "CW-ERM, weight function",
        "coreset only",
        "MW-Net, full set",
        "clean labels",
    }
    assert 0 < r.notes["meta_cost_ratio"] < 1


# --- the recorded full result -----------------------------------------------------------------------------
def full():
    assert freshness(SLUG) == "fresh", f"run `refimpl record {SLUG}`"
    return recorded(SLUG)


def test_full_run_premises_present():
    r = full()
    assert len(r.seeds) >= 10
    noise, core = r.premises
    assert noise["present"] and noise["interval"]["low"] > 0.03, noise["interval"]
    assert core["present"] and max(r.values("CW-ERM", "noisy_in_coreset")) < 0.15  # pool: 30 %


def test_full_run_broadcast_weights_do_not_single_out_the_flipped_labels():
    """The mechanism measured: Meta-Weight-Net on the full set gives flipped labels a small fraction of the
    clean labels' weight; learned on the (clean) moderate coreset and broadcast by nearest neighbour, the
    weights hardly differ between flipped and clean labels — and the weight function, applied to every
    example, even favours the flipped ones (on a clean coreset it learns to up-weight hard examples)."""
    r = full()
    assert np.mean(r.values("MW-Net, full set", "noisy_weight_ratio")) < 0.3
    assert 0.95 < np.mean(r.values("CW-ERM", "noisy_weight_ratio")) < 1.1
    assert np.mean(r.values("CW-ERM, weight function", "noisy_weight_ratio")) > 1.02
    assert r.notes["meta_cost_ratio"] < 0.2  # 81 coreset examples × 40 epochs against 899 × 20


def test_full_run_cw_erm_is_no_better_than_uniform_erm():
    c = full().claim("CW-ERM beats uniform ERM")
    assert c["verdict"] == "inconclusive" and c["interval"]["low"] < 0 < c["interval"]["high"], c["interval"]
    assert abs(c["interval"]["mean"]) < 0.01


def test_full_run_cw_erm_beats_the_coreset_alone_by_far():
    c = full().claim("CW-ERM beats training on the coreset alone")
    assert c["verdict"] == "holds" and c["interval"]["low"] > 0.05, c["interval"]


def test_full_run_full_set_meta_weight_net_stays_ahead():
    """Within two points of full-set MW-Net is not shown: selected on seeds 0–2, MW-Net's SGD rate is 1 and
    it is stable over the seeds, about 2.4 points ahead of CW-ERM; the interval straddles the −0.02 margin
    and lies wholly below zero."""
    c = full().claim("CW-ERM comes within two points of Meta-Weight-Net")
    iv = c["interval"]
    assert c["verdict"] == "inconclusive" and iv["low"] < -0.02 < iv["high"] < 0, iv


def test_full_run_coreset_choice_does_not_matter():
    c = full().claim("Within CW-ERM the moderate coreset")
    assert c["verdict"] == "inconclusive" and abs(c["interval"]["mean"]) < 0.01, c["interval"]


def test_full_run_broadcasting_the_weight_function_is_worse():
    """Applying the coreset-learned weight function to every example's own loss up-weights the flipped
    labels (hard examples) and costs a few tenths of a point against the nearest neighbour's weight."""
    c = full().claim("Broadcasting the learned weight function")
    assert c["verdict"] == "fails" and -0.02 < c["interval"]["mean"] < 0, c["interval"]
