"""MaskUNet: the reference cases; a float64 gradient check of the masked layer (in h, W and the mask) and of the
hard mask's straight-through gradient against σ'(L) by central differences of σ; the adapter's initialisation
makes the masked denoiser equal the pretrained one; only the generator trains and the base stays frozen; the
time-independent ablation gives one mask for every t; the official Gumbel-sigmoid mask is Bernoulli(σ(L));
bad input; the quick run; the recorded run."""

import numpy as np
import pytest

from refimpl import gradcheck
from refimpl.autograd.tensor import Tensor
from refimpl.experiments import freshness, recorded
from refimpl.techniques.diffusion_generative import maskunet as MU
from refimpl.techniques.diffusion_generative.denoisers import TimeMLP, eps_loss
from refimpl.techniques.diffusion_generative.maskunet.cases import reference_cases
from refimpl.techniques.diffusion_generative.schedules import alpha_bars, linear_betas
from refimpl.techniques.diffusion_generative.training import fit_generative

SLUG = "maskunet"


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


def _frozen_base(seed=0):
    base = TimeMLP(2, hidden=8, depth=3, emb_dim=4, rng=seed)
    for p in base.parameters():
        p.requires_grad_(False)
    return base


def test_masked_linear_gradcheck_float64():
    rng = np.random.default_rng(0)
    h, w, b = rng.standard_normal((3, 4)), rng.standard_normal((2, 4)), rng.standard_normal(2)
    m = rng.uniform(size=(3, 2, 4))
    assert gradcheck(lambda h, w, b, m: MU.masked_linear(h, w, b, m), h, w, b, m)
    assert gradcheck(lambda h, w, b, m: MU.masked_linear(h, w, b, m), h, w, b, m[0])


def test_straight_through_gradient_is_the_sigmoid_slope():
    """Away from L = 0 the forward is locally constant; the STE gradient must equal the derivative of σ,
    taken here by float64 central differences of σ itself (an independent computation)."""
    z = np.array([-2.3, -0.4, 0.7, 3.1])
    t = Tensor(z, requires_grad=True)
    MU.hard_mask(t).sum().backward()
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    fd = (sig(z + 1e-6) - sig(z - 1e-6)) / 2e-6
    np.testing.assert_allclose(t.grad, fd, rtol=1e-7)
    assert np.array_equal(MU.hard_mask(Tensor(z)).data, [0, 0, 1, 1])


def test_initial_mask_is_all_ones_so_the_masked_net_is_the_pretrained_one():
    base = _frozen_base()
    model = MU.MaskedDenoiser(base, rng=1)
    x, t = np.random.default_rng(2).standard_normal((6, 2)).astype(np.float32), np.linspace(0, 1, 6)
    assert all(np.all(m.data == 1) for m in model.masks(x, t))
    np.testing.assert_allclose(model(x, t).data, base(x, t).data, atol=1e-6)


def test_only_the_generator_trains_and_the_base_is_frozen():
    base = _frozen_base()
    before = [p.data.copy() for p in base.parameters()]
    model = MU.MaskedDenoiser(base, rng=1)
    gen_before = [p.data.copy() for p in model.parameters()]
    assert {n.split(".")[0] for n, _ in model.named_parameters()} == {"generator"}
    abar = alpha_bars(linear_betas(20, 1e-3, 0.2))
    x0 = np.random.default_rng(3).standard_normal((32, 2))
    fit_generative(model, lambda rng: eps_loss(model, x0, abar, rng), steps=5, lr=1e-2, seed=0)
    assert all(np.array_equal(a, p.data) for a, p in zip(before, base.parameters()))
    assert any(not np.array_equal(a, p.data) for a, p in zip(gen_before, model.parameters()))


def test_time_independent_ablation_ignores_t_but_not_x():
    gen = MU.MaskGenerator(2, [(8, 8)], time_dependent=False, rng=0)
    for p in gen.parameters():  # move off the all-ones start so masks vary
        p.data[...] = np.random.default_rng(1).standard_normal(p.data.shape)
    x = np.random.default_rng(2).standard_normal((4, 2)).astype(np.float32)
    a, b = gen(x, np.zeros(4))[0].data, gen(x, np.ones(4))[0].data
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(gen(x[::-1].copy(), np.zeros(4))[0].data, a)
    timed = MU.MaskGenerator(2, [(8, 8)], time_dependent=True, rng=0)
    for p in timed.parameters():
        p.data[...] = np.random.default_rng(1).standard_normal(p.data.shape)
    assert not np.allclose(timed(x, np.zeros(4))[0].data, timed(x, np.ones(4))[0].data)


def test_gumbel_sigmoid_mask_is_bernoulli_of_the_sigmoid():
    logits = np.array([-2.0, 0.0, 1.5])
    draws = np.mean([MU.gumbel_sigmoid_mask(logits, s, tau=0.5) for s in range(4000)], axis=0)
    np.testing.assert_allclose(draws, 1 / (1 + np.exp(-logits)), atol=0.025)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="mask"):
        MU.masked_linear(np.zeros((2, 3)), np.zeros((4, 3)), None, np.zeros((4, 2)))
    with pytest.raises(ValueError, match="`h`"):
        MU.masked_linear(np.zeros((2, 2)), np.zeros((4, 3)), None, np.zeros((4, 3)))
    with pytest.raises(ValueError, match="tau"):
        MU.gumbel_sigmoid_mask(np.zeros(2), 0, tau=0.0)
    with pytest.raises(TypeError, match="logits"):
        MU.hard_mask(np.zeros(2))
    with pytest.raises(ValueError, match="shapes"):
        MU.MaskGenerator(2, [])


def test_quick_run(quick_result):
    r = quick_result(SLUG)
    assert r.quick and len(r.selected) == 3


def test_recorded_full_run():
    """On the recorded per-seed numbers: the premise holds on every seed (the pretrained net is clearly worse than
    the exact denoiser); MaskUNet's masks really switch weights off (fewer than 99 % kept at x = 0 over t) and its
    samples beat the frozen pretrained net's in SW on every seed (the paper's central claim, on the toy)."""
    assert freshness(SLUG) == "fresh"
    r = recorded(SLUG)
    assert not r.quick and len(r.seeds) >= 3
    assert np.all(np.array(r.values("MaskUNet", "premise_gap")) > 0.02)
    assert np.all(np.array(r.values("MaskUNet", "mask_density")) < 0.99)
    sw, pre = np.array(r.values("MaskUNet", "sw")), np.array(r.values("MaskUNet", "sw_pretrained"))
    assert np.all(sw < pre)
