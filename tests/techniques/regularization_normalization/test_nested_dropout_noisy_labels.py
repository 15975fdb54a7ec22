"""Nested dropout + co-teaching against noisy labels (Chen et al., 2021; arXiv 2104.13766): hand cases, the
pieces of the official protocol checked independently, float64 gradients, the quick run's code path, and
the claims on the recorded full result."""

import numpy as np
import pytest

from refimpl.autograd.gradcheck import gradcheck
from refimpl.autograd.tensor import Tensor, no_grad
from refimpl.experiments import freshness, recorded
from refimpl.nn import functional as F
from refimpl.techniques.regularization_normalization import nested_dropout_noisy_labels as nd
from refimpl.techniques.regularization_normalization.nested_dropout_noisy_labels.cases import reference_cases

SLUG = "nested-dropout-noisy-labels"


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
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


def test_nested_dropout_gradient_only_reaches_kept_units_float64():
    rng = np.random.default_rng(0)
    up = rng.normal(size=(3, 5))  # a random upstream gradient, not all ones
    assert gradcheck(lambda t: nd.nested_dropout(t, 3) * up, rng.normal(size=(3, 5)))
    net = nd.NestedNet(6, 4, 5, 3, sigma=2.0, rng=1, dtype=np.float64)
    up3 = rng.normal(size=(2, 3))
    assert gradcheck(lambda x: net.logits(x, 2) * up3, rng.uniform(0.1, 1.0, size=(2, 6)))
    h = Tensor(rng.normal(size=(3, 5)), requires_grad=True)
    nd.nested_dropout(h, 3).sum().backward()
    assert np.array_equal(h.grad, np.tile([1.0, 1, 1, 0, 0], (3, 1)))


def test_prefix_logits_equal_the_masked_classifier_for_every_k():
    net = nd.NestedNet(64, 16, 8, 10, sigma=4.0, rng=0, dtype=np.float64)
    x = np.random.default_rng(1).uniform(size=(5, 64))
    all_k = net.all_k_logits(x)
    with no_grad():
        for k in range(1, 9):
            assert np.allclose(all_k[k - 1], net.logits(Tensor(x), k).data, atol=1e-12)


def test_best_k_is_the_official_argmax_with_tie_break():
    rng = np.random.default_rng(3)
    for _ in range(20):
        acc = rng.integers(0, 5, size=12) / 4  # many ties
        k = nd.best_k(acc)
        assert acc[k - 1] == acc.max() and np.all(acc[: k - 1] < acc.max())


def test_training_mode_draws_k_from_the_distribution_and_eval_mode_uses_the_validated_k():
    net = nd.NestedNet(64, 16, 8, 10, sigma=3.0, rng=0)
    draws = np.array([net.sample_k() for _ in range(4000)])
    freq = np.bincount(draws, minlength=9)[1:] / len(draws)
    assert np.abs(freq - nd.gaussian_truncation_dist(0.0, 3.0, 8)).max() < 0.03
    x = np.random.default_rng(2).uniform(size=(4, 64)).astype(np.float32)
    net.eval()
    net.k = 3
    with no_grad():
        assert np.allclose(net(Tensor(x)).data, net.all_k_logits(x)[2], atol=1e-5)
    assert nd.NestedNet(sigma=None, rng=0).sample_k() is None


def test_forget_rate_is_constant_without_ramp():
    assert np.array_equal(nd.forget_rate_schedule(4, 0.3, 0), [0.3] * 4)
    assert np.allclose(nd.forget_rate_schedule(7, 0.4, 5), [0, 0.1, 0.2, 0.3, 0.4, 0.4, 0.4])
    with pytest.raises(ValueError, match="tau"):
        nd.forget_rate_schedule(3, 1.0)


def test_co_teaching_selection_matches_brute_force():
    rng = np.random.default_rng(2)
    l1, l2 = rng.uniform(size=20), rng.uniform(size=20)
    i1, i2 = nd.co_teaching_select(l1, l2, 0.3)
    assert len(i1) == len(i2) == 14
    assert set(i1) == {i for i in range(20) if (l1 < l1[i]).sum() < 14}
    assert set(i2) == {i for i in range(20) if (l2 < l2[i]).sum() < 14}


def test_co_teaching_losses_cross_update_on_the_peer_selection():
    """Each network's loss is the cross-entropy, at the training K, of the samples its peer kept from the
    other half — recomputed here by hand from the networks' own logits."""
    rng = np.random.default_rng(4)
    n1, n2 = (nd.NestedNet(64, 16, 8, 10, sigma=3.0, rng=s, dtype=np.float64) for s in (0, 1))
    x1, x2 = rng.uniform(size=(6, 64)), rng.uniform(size=(6, 64))
    y1, y2 = rng.integers(0, 10, 6), rng.integers(0, 10, 6)
    n1.k = n2.k = 5
    loss1, loss2 = nd.co_teaching_losses(n1, n2, x1, y1, x2, y2, 0.5, 2)

    def ce(z, y):
        z = z - z.max(1, keepdims=True)
        return -(z[np.arange(len(y)), y] - np.log(np.exp(z).sum(1)))

    s1 = np.argsort(ce(n1.all_k_logits(x1)[4], y1))[:3]  # ranked at the validated K = 5
    s2 = np.argsort(ce(n2.all_k_logits(x2)[4], y2))[:3]
    assert float(loss1.data) == pytest.approx(ce(n1.all_k_logits(x2[s2])[1], y2[s2]).mean(), abs=1e-12)
    assert float(loss2.data) == pytest.approx(ce(n2.all_k_logits(x1[s1])[1], y1[s1]).mean(), abs=1e-12)
    loss1.backward()
    assert n1.cls.weight.grad is not None and np.all(n1.cls.weight.grad[:, 2:] == 0)  # K = 2 at training
    assert n2.cls.weight.grad is None  # network 1's loss never reaches network 2


def test_averaged_logits_are_the_mean_of_the_two_networks():
    n1, n2 = (nd.NestedNet(64, 16, 8, 10, rng=s, dtype=np.float64) for s in (0, 1))
    x = np.random.default_rng(5).uniform(size=(3, 64))
    with no_grad():
        full = 0.5 * (n1.logits(Tensor(x), None).data + n2.logits(Tensor(x), None).data)
    assert np.allclose(nd.averaged_logits(n1, n2, x)[-1], full, atol=1e-12)


def test_per_sample_loss_used_for_selection():
    logits = Tensor(np.array([[2.0, 0.0], [0.0, 2.0]]))
    loss = F.cross_entropy(logits, np.array([0, 0]), reduction="none").data
    assert loss[0] < loss[1]


def test_quick_run_follows_the_protocol_and_measures_the_premise(quick_result):
    r = quick_result(SLUG)
    r.validate()
    assert r.premises[0]["metric"] == "memorised_last_epoch"
    assert r.methods == ["plain", "nested", "co-teaching", "nested+co-teaching"]
    sel = r.selected["nested+co-teaching"]
    assert (sel["stage1_lr"], sel["stage1_sigma"]) == (
        r.selected["nested"]["lr"],
        r.selected["nested"]["sigma"],
    )
    assert r.values("plain", "k") == [64.0] * len(r.seeds)  # the plain arms use every feature
    assert r.values("co-teaching", "k") == [64.0] * len(r.seeds)
    assert r.smoke


def full():
    assert freshness(SLUG) == "fresh", f"run `refimpl record {SLUG}`"
    return recorded(SLUG)


def test_full_run_premise_absent_at_the_validated_rate():
    """With the rate grid widened to 5e-4, plain training selects 1e-3 on validation and at that rate fits
    the wrong label on only about a quarter of the flipped examples by its last epoch (threshold: half), so
    the premise — and with it every claim — is judged absent.  (At the 5e-3 it chose on the first grid it
    memorised most of them.)  Nested dropout still fits fewer of them on every seed."""
    r = full()
    assert not r.premises[0]["present"]
    mem = np.asarray(r.values("plain", "memorised_last_epoch"))
    assert 0.15 < mem.mean() < 0.5, mem
    assert all(c["verdict"] == "premise absent" for c in r.claims)
    nested = np.asarray(r.values("nested", "memorised_last_epoch"))
    assert np.all(nested < mem), (nested, mem)


def test_full_run_nested_dropout_delays_memorisation_without_early_stopping():
    """What nested dropout does on the toy (reported, not a claim of the margin): at the last epoch it has
    fitted far fewer wrong labels than plain training, and its last-epoch test accuracy is higher on every
    seed (early stopping on validation removes that difference, claim 1)."""
    r = full()
    mem = np.subtract(r.values("plain", "memorised_last_epoch"), r.values("nested", "memorised_last_epoch"))
    acc = np.subtract(
        r.values("nested", "test_accuracy_last_epoch"), r.values("plain", "test_accuracy_last_epoch")
    )
    assert mem.min() > 0.1, mem
    assert acc.min() > 0.0 and acc.mean() > 0.05, acc


def test_full_run_nested_dropout_alone_does_not_beat_plain_at_the_validated_checkpoint():
    """Claim (1), measured contradiction: with both arms early-stopped on the noisy validation split, as the
    official scripts do, nested dropout's gain over plain training does not appear — the interval of
    nested − plain lies below +2 points and straddles 0."""
    iv = full().claim("Nested dropout alone")["interval"]
    assert iv["high"] < 0.02 and iv["low"] > -0.05, iv


def test_full_run_nested_plus_co_teaching_does_not_beat_co_teaching():
    """Claim (2), measured contradiction: the paper's two-stage model is within a point of co-teaching
    from scratch (which had the same total budget) — no gain of a point or more."""
    iv = full().claim("Nested dropout + co-teaching")["interval"]
    assert iv["high"] < 0.01 and iv["low"] > -0.02, iv


def test_full_run_co_teaching_fine_tune_over_nested_alone():
    """Claim (3): the fine-tune's gain over nested dropout alone is positive over the whole interval (about
    1.8 points) but judged under the absent premise; it is not larger than 4 points."""
    iv = full().claim("The co-teaching fine-tune")["interval"]
    assert 0.0 < iv["low"] and iv["high"] < 0.04, iv
