"""NoProp-DT: the schedule algebra, the posterior coefficients and the ELBO weight re-derived, gradient
isolation between blocks (the defining property), the vectorised trainer against the block-by-block
loop, the inference readouts, the quick run's code path and the claims on the recorded full result."""

import numpy as np
import pytest

from refimpl.autograd.tensor import Tensor
from refimpl.experiments import freshness, recorded
from refimpl.techniques.optimizers_training_rules import noprop as NP
from refimpl.techniques.optimizers_training_rules.noprop.cases import reference_cases

SLUG = "noprop"


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
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


def test_elbo_weight_is_the_snr_difference():
    """The KL between posterior and model step is a_t²‖û − u‖²/(2c_t); a_t²/c_t = SNR(t) − SNR(t−1) is the
    weight of Eq. 8 (the docstring's derivation), and (T/2)η times it is `loss_weight`."""
    ab = NP.cosine_schedule(7)
    a, _, c = NP.posterior_coefficients(ab)
    s = NP.snr(ab)
    t = np.arange(1, 8)
    np.testing.assert_allclose(a[t] ** 2 / c[t], s[t] - s[t - 1], rtol=1e-10)
    model = NP.NoPropDT(3, 2, T=7, eta=0.3, rng=0)
    for k in t:
        assert np.isclose(model.loss_weight(int(k)), 0.5 * 7 * 0.3 * a[k] ** 2 / c[k], rtol=1e-10)


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


def test_stacked_losses_and_gradients_equal_each_block_loss():
    """`StackedBlocks`: term t of the batched pass equals `block_loss(t)` on the same z_{t−1}, and the
    gradient of the summed terms restricted to slice t equals block t's own gradient (transposed)."""
    rng = np.random.default_rng(1)
    T, x, y = 3, rng.random((7, 5)), rng.integers(0, 4, 7)
    model = NP.NoPropDT(5, 4, T=T, hidden=6, dtype=np.float64, rng=2)
    z_prev = rng.standard_normal((T, 7, 4))
    stack = NP.StackedBlocks(model)
    losses = stack.losses(Tensor(x), y, z_prev)
    losses.sum().backward()
    for t in range(1, T + 1):
        loss = NP.block_loss(model, t, x, y, None, z_prev=z_prev[t - 1])
        loss.backward()
        assert np.isclose(float(losses.data[t - 1]), float(loss.data), rtol=1e-12)
        for n in NP.StackedBlocks.LAYERS:
            layer = getattr(model.blocks[t - 1], n)
            np.testing.assert_allclose(stack.W[n].grad[t - 1], layer.weight.grad.T, rtol=1e-10, atol=1e-13)
            np.testing.assert_allclose(stack.b[n].grad[t - 1, 0], layer.bias.grad, rtol=1e-10, atol=1e-13)


def test_vectorised_training_equals_the_block_by_block_loop():
    """With one minibatch per epoch both modes take the same steps on the same noise: the weights agree."""
    rng = np.random.default_rng(3)
    x, y = rng.random((12, 5)), np.arange(12) % 3
    models = [NP.NoPropDT(5, 3, T=4, hidden=6, dtype=np.float64, rng=0) for _ in range(2)]
    hists = [
        NP.train_noprop(m, x, y, 3, lr=0.02, batch_size=12, seed=4, vectorized=v)
        for m, v in zip(models, (True, False))
    ]
    for p, q in zip(models[0].parameters(), models[1].parameters()):
        np.testing.assert_allclose(p.data, q.data, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(hists[0]["block_loss"], hists[1]["block_loss"], rtol=1e-10)
    assert hists[0]["block_loss"].shape == (3, 4) and np.all(np.isfinite(hists[0]["classifier_loss"]))
    with pytest.raises(ValueError, match="epochs"):
        NP.train_noprop(models[0], x, y, 0, lr=0.01)


def test_training_lowers_every_block_loss():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(60, 4))
    y = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0)
    model = NP.NoPropDT(4, 3, T=3, hidden=8, rng=0)
    h = NP.train_noprop(model, x, y, 15, lr=0.01, batch_size=20)["block_loss"]
    assert np.all(h[-1] < h[0]), h


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


def test_inference_modes_and_readouts():
    model = NP.NoPropDT(4, 3, T=3, hidden=4, dtype=np.float64, rng=0)
    x = np.random.default_rng(1).random((5, 4))
    a = model(x, rng=np.random.default_rng(7)).data
    np.testing.assert_array_equal(a, model(x, rng=np.random.default_rng(7)).data)
    # noise-free: z_0 = 0 and ε = 0, so the rng does not matter; the path is the mean recursion of Eq. 3
    nf1 = model(x, rng=np.random.default_rng(1), noise=False).data
    nf2 = model(x, rng=np.random.default_rng(2), noise=False).data
    np.testing.assert_array_equal(nf1, nf2)
    z = np.zeros((5, 3))
    for t in range(1, 4):
        u = model.blocks[t - 1](Tensor(z), Tensor(x), model.W_embed).data
        z = model.a[t] * u + model.b[t] * z
    np.testing.assert_allclose(nf1, model.classifier(Tensor(z)).data, rtol=1e-12)
    # block 1 alone: argmax û_1(z_0, x) with the z_0 the sampled path starts from
    y = np.array([0, 1, 2, 0, 1])
    acc = NP.accuracy(model, x, y, seed=3)
    z0 = np.random.default_rng(3).standard_normal((5, 3))
    u1 = model.blocks[0](Tensor(z0), Tensor(x), model.W_embed).data
    assert acc["block1"] == np.mean(np.argmax(u1, -1) == y) == acc["chain"][0]
    assert len(acc["chain"]) == 3
    model.blocks[2].out.bias.data += 5.0 * np.array([1.0, 0.0, 0.0])  # the last block matters
    assert not np.allclose(a, model(x, rng=np.random.default_rng(7)).data)


def test_quick_run_code_path(quick_result):
    r = quick_result(SLUG)
    r.validate()
    assert r.smoke and set(r.selected) == {"NoProp-DT", "backprop"}
    assert [p["metric"] for p in r.premises] == ["train_accuracy", "train_accuracy"]
    assert all(isinstance(p["present"], bool) for p in r.premises)
    diff = np.subtract(r.values("NoProp-DT", "test_accuracy"), r.values("NoProp-DT", "test_accuracy_block1"))
    np.testing.assert_allclose(r.values("NoProp-DT", "chain_minus_block1"), diff)
    assert r.arrays["chain"].shape == (len(r.seeds), 10)
    np.testing.assert_allclose(r.arrays["chain"][:, 0], r.values("NoProp-DT", "test_accuracy_block1"))


def full():
    assert freshness(SLUG) == "fresh", f"run `refimpl record {SLUG}`"
    return recorded(SLUG)


def test_full_run_both_methods_converged_at_interior_rates():
    """The premise the issue asked for: the comparison is between converged models (the earlier gap was
    an epoch-budget artefact), each at a learning rate inside its grid, not at an edge."""
    r = full()
    assert all(p["present"] for p in r.premises)
    assert min(r.values("backprop", "train_accuracy")) == 1.0
    assert min(r.values("NoProp-DT", "train_accuracy")) > 0.99  # sampled inference on the training set
    for method, hp in r.selected.items():
        grid = sorted(row["lr"] for row in r.selection if row["method"] == method)
        assert grid[0] < hp["lr"] < grid[-1], (method, hp, grid)


def test_full_run_noprop_within_a_point_of_backprop_but_unresolved():
    """The paper's claim, measured: NoProp-DT trails backprop by under a point on average, but the 95 %
    interval reaches past the one-point margin (inconclusive over 5 seeds), and NoProp never wins."""
    iv = full().claim("NoProp-DT matches backprop's test accuracy within one point")["interval"]
    assert -0.01 < iv["mean"] < 0, iv
    assert iv["low"] < -0.01 < iv["high"] < 0.005, iv


def test_full_run_noise_free_readout_ties_backprop():
    """Read without sampling noise, the same NoProp models are level with backprop (paired mean within half
    a point): what separates the paper's readout from backprop is the inference noise, not the training."""
    r = full()
    names = r.notes["readouts"]
    rows = dict(zip(names, r.arrays["readouts"]))
    diff = rows["NoProp-DT noise-free"] - rows["backprop"]
    assert abs(diff.mean()) < 0.005, diff


def test_full_run_chain_adds_nothing_measurable_over_block_one():
    """Diagnostic: the T-block chain does not beat its first block alone on the digits — the interval
    straddles 0 and the mean is within half a point of it."""
    iv = full().claim("the chain of T denoising blocks beats its first block alone")["interval"]
    assert iv["low"] < 0 < iv["high"] and abs(iv["mean"]) < 0.005, iv


def test_full_run_sampling_noise_costs_accuracy():
    """Diagnostic: the sampled readout is below the noise-free one (paired interval
    wholly below 0), by less than a point on average."""
    iv = full().claim("sampling noise at inference (Eq. 3) costs at most one point")["interval"]
    assert iv["high"] < 0 and iv["mean"] > -0.01, iv
