"""NoProp-DT: the schedule algebra, the posterior coefficients re-derived, gradient isolation between
blocks (the defining property), and the digits demo against backprop."""

import numpy as np
import pytest

from refimpl.autograd.tensor import Tensor
from refimpl.techniques.optimizers_training_rules import noprop as NP


@pytest.mark.parametrize("case", NP.reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


def test_schedule_products_and_monotone_snr():
    ab = NP.cosine_schedule(10)
    al = NP.alphas_from_alpha_bar(ab)
    for t in range(11):  # ᾱ_t = ∏_{s=t}^{T} α_s
        assert np.isclose(np.prod(al[t:]), ab[t], rtol=1e-12, atol=1e-15)
    s = NP.snr(ab)
    assert np.all(np.diff(s) > 0)  # loss weights SNR(t) − SNR(t−1) are positive
    with pytest.raises(ValueError, match="T must be"):
        NP.cosine_schedule(0)


def test_posterior_coefficients_are_the_gaussian_posterior():
    """Complete the square independently: q(z_t | y) = N(√ᾱ_t u, 1−ᾱ_t), q(z_{t−1} | z_t) =
    N(√α_{t−1} z_t, 1−α_{t−1}) ⇒ q(z_t | z_{t−1}, y) has precision 1/(1−ᾱ_t) + α_{t−1}/(1−α_{t−1}) and
    mean var·(√ᾱ_t u/(1−ᾱ_t) + √α_{t−1} z_{t−1}/(1−α_{t−1}))."""
    ab = np.array([0.05, 0.3, 0.6, 0.9])
    al = NP.alphas_from_alpha_bar(ab)
    a, b, c = NP.posterior_coefficients(ab)
    for t in range(1, 4):
        var = 1.0 / (1.0 / (1 - ab[t]) + al[t - 1] / (1 - al[t - 1]))
        assert np.isclose(c[t], var, rtol=1e-12)
        assert np.isclose(a[t], var * np.sqrt(ab[t]) / (1 - ab[t]), rtol=1e-12)
        assert np.isclose(b[t], var * np.sqrt(al[t - 1]) / (1 - al[t - 1]), rtol=1e-12)


def test_posterior_by_monte_carlo():
    """Sample the joint (z_t, z_{t−1}) from the fixed process and regress z_t on z_{t−1}: slope b_t,
    intercept a_t·u, residual variance c_t."""
    ab = np.array([0.1, 0.4, 0.8])
    al = NP.alphas_from_alpha_bar(ab)
    a, b, c = NP.posterior_coefficients(ab)
    rng = np.random.default_rng(0)
    u, n, t = 1.0, 400_000, 2
    z_t = np.sqrt(ab[t]) * u + np.sqrt(1 - ab[t]) * rng.standard_normal(n)
    z_prev = np.sqrt(al[t - 1]) * z_t + np.sqrt(1 - al[t - 1]) * rng.standard_normal(n)
    slope, intercept = np.polyfit(z_prev, z_t, 1)
    resid = z_t - (slope * z_prev + intercept)
    assert abs(slope - b[t]) < 0.01 and abs(intercept - a[t] * u) < 0.01 and abs(resid.var() - c[t]) < 0.01


def test_no_gradient_flows_between_blocks():
    """Block t's loss gives gradient to block t's parameters only (every other block and the classifier
    keep grad None), and its value and gradient are unchanged when every other block's weights are NaN:
    block t neither receives a forward signal from, nor sends a backward signal to, any other block."""
    rng = np.random.default_rng(0)
    x, y = rng.random((8, 5)), rng.integers(0, 3, 8)
    model = NP.NoPropDT(5, 3, T=4, hidden=6, dtype=np.float64, rng=0)
    for t in range(1, 5):
        for p in model.parameters():
            p.grad = None
        loss = NP.block_loss(model, t, x, y, np.random.default_rng(t))
        loss.backward()
        for i, blk in enumerate(model.blocks, start=1):
            got = [p.grad is not None for p in blk.parameters()]
            assert all(got) if i == t else not any(got), f"block {i} grads after block {t}'s loss: {got}"
        assert all(p.grad is None for p in model.classifier.parameters())
        ref_val, ref_grads = float(loss.data), [p.grad.copy() for p in model.blocks[t - 1].parameters()]

        saved = {}
        for i, blk in enumerate(model.blocks, start=1):
            if i != t:
                for p in blk.parameters():
                    saved[id(p)] = p.data.copy()
                    p.data[...] = np.nan
        for p in model.blocks[t - 1].parameters():
            p.grad = None
        loss2 = NP.block_loss(model, t, x, y, np.random.default_rng(t))
        loss2.backward()
        assert float(loss2.data) == ref_val
        for p, g in zip(model.blocks[t - 1].parameters(), ref_grads):
            np.testing.assert_array_equal(p.grad, g)
        for blk in model.blocks:
            for p in blk.parameters():
                if id(p) in saved:
                    p.data[...] = saved[id(p)]


def test_block_loss_value_by_hand():
    """û = softmax(ℓ)·I; with all block weights 0 the logits are 0, û = 1/C everywhere, so
    ‖û − u_y‖² = (1 − 1/C)² + (C−1)/C² = 1 − 1/C, times (T/2)η(SNR(t) − SNR(t−1))."""
    model = NP.NoPropDT(4, 3, T=5, hidden=4, dtype=np.float64, rng=0)
    for p in model.blocks[1].parameters():
        p.data[...] = 0.0
    loss = NP.block_loss(model, 2, np.ones((6, 4)), np.arange(6) % 3, np.random.default_rng(0))
    w = 0.5 * 5 * 0.1 * (model.snr[2] - model.snr[1])
    assert np.isclose(float(loss.data), w * (1 - 1 / 3), rtol=1e-12)
    with pytest.raises(ValueError, match="t must be in 1..5"):
        NP.block_loss(model, 0, np.ones((6, 4)), np.arange(6) % 3, np.random.default_rng(0))
    with pytest.raises(ValueError, match="embed"):
        NP.NoPropDT(4, 3, embed="learned")


def test_inference_is_deterministic_for_a_generator_and_uses_every_block():
    model = NP.NoPropDT(4, 3, T=3, hidden=4, dtype=np.float64, rng=0)
    x = np.random.default_rng(1).random((5, 4))
    a = model(x, rng=np.random.default_rng(7)).data
    b = model(x, rng=np.random.default_rng(7)).data
    np.testing.assert_array_equal(a, b)
    model.blocks[2].out.bias.data += 5.0 * np.array([1.0, 0.0, 0.0])
    c = model(x, rng=np.random.default_rng(7)).data
    assert not np.allclose(a, c)
    assert isinstance(model(Tensor(x)), Tensor)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_demo_noprop_close_to_backprop(seed, demo_result):
    """Quick mode (10 epochs): NoProp is within 1–6 points of backprop on seeds 0–3 (the demo's claim uses
    5 points and reports seed 2, at 5.6, as not holding); asserted here with an 8-point margin."""
    m = demo_result("noprop", seed)["metrics"]
    assert m["noprop_test_acc"] > 0.8
    assert m["noprop_test_acc"] >= m["backprop_test_acc"] - 0.08
