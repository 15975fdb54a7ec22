"""EvoNorm-B0 / S0: hand cases, NumPy oracles with the official (biased) variance conventions, float64
gradient checks, the quick run's code path, and the paper's claims on the recorded full result."""

import numpy as np
import pytest

import refimpl as rf
from refimpl.autograd.tensor import Tensor, no_grad
from refimpl.experiments import freshness, recorded
from refimpl.techniques.regularization_normalization import evonorm as ev
from refimpl.techniques.regularization_normalization.evonorm import experiment as ex
from refimpl.techniques.regularization_normalization.evonorm.cases import reference_cases

SLUG = "evonorm"


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


def _np_b0(x, g, b, v, eps, bvar=None):
    if bvar is None:
        bvar = x.var(axis=(0, 2, 3), keepdims=True)  # biased, as tf.nn.moments
    else:
        bvar = bvar.reshape(1, -1, 1, 1)
    ivar = x.var(axis=(2, 3), keepdims=True)
    den = np.maximum(np.sqrt(bvar + eps), v.reshape(1, -1, 1, 1) * x + np.sqrt(ivar + eps))
    return x / den * g.reshape(1, -1, 1, 1) + b.reshape(1, -1, 1, 1)


def _np_s0(x, g, b, v, groups, eps):
    n, c, h, w = x.shape
    xg = x.reshape(n, groups, -1)
    std = np.sqrt(xg.var(axis=2, keepdims=True) + eps)
    std = np.broadcast_to(std, xg.shape).reshape(x.shape)
    vx = v.reshape(1, -1, 1, 1) * x
    return x / (1 + np.exp(-vx)) / std * g.reshape(1, -1, 1, 1) + b.reshape(1, -1, 1, 1)


def _params(rng, c):
    return rng.uniform(0.5, 2, c), rng.normal(size=c), rng.normal(size=c)


def test_b0_and_s0_match_numpy_oracles():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 4, 5, 5))
    g, b, v = _params(rng, 4)
    got = ev.evonorm_b0(Tensor(x), g, b, v, None, True, eps=1e-5).data
    assert np.max(np.abs(got - _np_b0(x, g, b, v, 1e-5))) < 1e-12
    got = ev.evonorm_s0(Tensor(x), g, b, v, 2, eps=1e-5).data
    assert np.max(np.abs(got - _np_s0(x, g, b, v, 2, 1e-5))) < 1e-12


def test_b0_moving_variance_is_the_biased_one_with_decay_0_9_and_used_in_eval():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(4, 2, 3, 3))
    layer = ev.EvoNorm2d(2, "B0", dtype=np.float64)
    layer(Tensor(x))
    biased = x.var(axis=(0, 2, 3))
    assert np.allclose(layer.running_var, 0.9 * 1.0 + 0.1 * biased, rtol=1e-14)
    # not timm's n/(n−1) correction: with 36 values per channel the two differ by 1/35 of the update
    assert not np.allclose(layer.running_var, 0.9 + 0.1 * biased * 36 / 35, rtol=1e-6)
    layer.eval()
    with no_grad():
        y = layer(Tensor(x)).data
    assert np.allclose(y, _np_b0(x, np.ones(2), np.zeros(2), np.ones(2), 1e-5, bvar=layer.running_var))


def test_s0_never_mixes_samples_and_b0_does():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(5, 4, 3, 3))
    g, b, v = _params(rng, 4)
    full = ev.evonorm_s0(Tensor(x), g, b, v, 2).data
    alone = ev.evonorm_s0(Tensor(x[2:3]), g, b, v, 2).data
    assert np.allclose(full[2:3], alone, atol=1e-13)
    full = ev.evonorm_b0(Tensor(x), g, b, v, None, True).data
    alone = ev.evonorm_b0(Tensor(x[2:3]), g, b, v, None, True).data
    assert np.max(np.abs(full[2:3] - alone)) > 1e-3


def test_s0_is_invariant_to_a_per_image_scale_only_through_its_denominator():
    """S0's group std removes a per-image scale a, the gate σ(v·a·x) does not:
    y(a·x) = a·x σ(v a x)/(a·std)."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(1, 2, 3, 3))
    one, zero = np.ones(2), np.zeros(2)
    y_ax = ev.evonorm_s0(Tensor(3.0 * x), one, zero, one, 1, eps=0.0).data
    by_hand = x / (1 + np.exp(-3.0 * x)) / x.std()
    assert np.allclose(y_ax, by_hand, atol=1e-12)
    # with v → 0 the gate is the constant 1/2 and S0 becomes exactly scale invariant
    y1 = ev.evonorm_s0(Tensor(x), one, zero, zero, 1, eps=0.0).data
    y3 = ev.evonorm_s0(Tensor(3.0 * x), one, zero, zero, 1, eps=0.0).data
    assert np.allclose(y1, y3, atol=1e-12)


def test_gradchecks_float64():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 4, 3, 3))
    g, b, v = _params(rng, 4)
    rf.gradcheck(lambda x, g, b, v: ev.evonorm_s0(x, g, b, v, 2), x, g, b, v)
    rf.gradcheck(lambda x, g, b, v: ev.evonorm_b0(x, g, b, v, None, True), x, g, b, v)
    rv = rng.uniform(0.5, 2.0, 4)  # eval mode: the moving variance is a constant
    rf.gradcheck(lambda x, g, b, v: ev.evonorm_b0(x, g, b, v, rv.copy(), False), x, g, b, v)


def test_gradgradchecks_float64():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(2, 2, 2, 2))
    g, b, v = _params(rng, 2)
    rf.gradgradcheck(lambda x, v: ev.evonorm_s0(x, g, b, v, 1), x, v)
    rf.gradgradcheck(lambda x, v: ev.evonorm_b0(x, g, b, v, None, True), x, v)


def test_group_count_and_bad_arguments():
    assert ev.largest_divisor_at_most(12, 32) == 12 and ev.largest_divisor_at_most(12, 5) == 4
    assert ev.EvoNorm2d(24, "S0").groups == 24 and ev.EvoNorm2d(96, "S0").groups == 32
    with pytest.raises(ValueError, match="kind"):
        ev.EvoNorm2d(4, "B1")
    with pytest.raises(ValueError, match="groups"):
        ev.evonorm_s0(Tensor(np.zeros((1, 3, 2, 2))), np.ones(3), np.zeros(3), np.ones(3), 2)
    with pytest.raises(ValueError, match="spatial"):
        ev.evonorm_b0(Tensor(np.zeros((2, 3))), np.ones(3), np.zeros(3), np.ones(3))
    with pytest.raises(ValueError, match="running_var"):
        ev.evonorm_b0(Tensor(np.zeros((2, 3, 2))), np.ones(3), np.zeros(3), np.ones(3), None, False)


def test_shifted_task_is_fixed_and_spans_the_contrast_range():
    t = ex.shifted_digits()
    assert t.x_train.shape[1:] == (1, 8, 8) and t.x_train.dtype == np.float64
    a = t.meta["test_contrast"]
    assert a.min() >= 1 / ex.CONTRAST and a.max() <= ex.CONTRAST and a.max() / a.min() > 100
    again = ex._shift(rf.experiments.tasks.digits().x_test, 3)[0]
    assert np.array_equal(again, t.x_test)


def test_quick_run_measures_the_premises(quick_result):
    r = quick_result(SLUG)
    assert [p["metric"] for p in r.premises] == ["test_accuracy", "contrast_gap", "test_accuracy"]
    assert r.smoke  # one epoch on 200 images at one learning rate: not evidence
    for row in r.table:
        gap = row["test_accuracy_high_contrast"] - row["test_accuracy_low_contrast"]
        assert row["contrast_gap"] == pytest.approx(gap)


def full():
    assert freshness(SLUG) == "fresh", f"run `refimpl record {SLUG}`"
    return recorded(SLUG)


def test_full_run_premises_batchnorm_fails_at_one_image_per_step_and_on_low_contrast():
    r = full()
    tiny = r.premises[0]
    assert tiny["baseline"] == "BN-ReLU@1" and tiny["interval"]["low"] > 0.15, tiny["interval"]
    gaps = r.values("BN-ReLU@1", "contrast_gap")
    assert min(gaps) > 0.5, gaps  # every seed: the lowest-contrast third is far worse than the highest
    assert max(r.values("BN-ReLU@32", "contrast_gap")) < min(gaps)  # one image per step makes it worse


def test_full_run_two_images_per_step_do_not_hurt_batchnorm_on_this_toy():
    """The measured contradiction of the third premise: batch 2 is within noise of batch 32."""
    p = full().premises[2]
    assert p["baseline"] == "BN-ReLU@2" and not p["present"]
    assert p["interval"]["low"] < 0 < p["interval"]["high"] < 0.05, p["interval"]


def test_full_run_s0_beats_batchnorm_at_one_image_per_step():
    c = full().claim("EvoNorm-S0 beats BN-ReLU")
    assert c["interval"]["low"] > 0.2, c["interval"]  # twenty points at the least, over five seeds


def test_full_run_s0_contrast_gap_is_smaller_than_batchnorms():
    c = full().claim("EvoNorm-S0 is less sensitive")
    assert c["interval"]["high"] < -0.5, c["interval"]


def test_full_run_groupnorm_relu_beats_s0_contrary_to_the_paper():
    """The measured contradiction: on this toy GN-ReLU, not S0, is the better per-sample layer."""
    r = full()
    c = r.claim("EvoNorm-S0 beats GroupNorm-ReLU")
    assert c["interval"]["high"] < 0, c["interval"]
    assert r.stat("GN-ReLU@1", "test_accuracy")["mean"] > r.stat("EvoNorm-S0@1", "test_accuracy")["mean"]
