"""The diffusion-generative family's shared base, each piece against an independent computation: the mixture's
density against scipy, its score and noised law against finite differences and sampling, the schedules against
hand values, the samplers and the Euler flow driven by the exact score or velocity of a known density (so they
are checked apart from any learning), the metrics on cases with known answers, and the losses' gradients."""

import numpy as np
import pytest
from scipy import stats

from refimpl.techniques.diffusion_generative import denoisers, flow, metrics, samplers, schedules, toys
from refimpl.techniques.diffusion_generative.training import fit_generative


def _mixture():
    return toys.GaussianMixture([[0.0, 0.0], [2.0, 1.0], [-1.0, 2.0]], [0.5, 0.3, 0.7], [0.5, 0.3, 0.2])


def test_log_prob_against_scipy():
    g, x = _mixture(), np.array([[0.1, -0.2], [1.5, 1.0], [-3.0, 0.5]])
    ref = np.log(
        sum(
            w * stats.multivariate_normal(m, s**2 * np.eye(2)).pdf(x)
            for w, m, s in zip(g.weights, g.means, g.stds)
        )
    )
    np.testing.assert_allclose(g.log_prob(x), ref, rtol=1e-12)


def test_score_is_the_gradient_of_log_prob():
    g, x = _mixture(), np.array([[0.3, 0.4], [1.0, -1.0]])
    h = 1e-6
    num = np.stack([(g.log_prob(x + h * e) - g.log_prob(x - h * e)) / (2 * h) for e in np.eye(2)], axis=1)
    np.testing.assert_allclose(g.score(x), num, rtol=1e-6, atol=1e-8)


def test_noised_mixture_is_the_law_of_the_noised_samples():
    g = _mixture()
    x, _ = g.sample(400_000, 0)
    y = 0.6 * x + 0.8 * np.random.default_rng(1).standard_normal(x.shape)
    n = g.noised(0.6, 0.8)
    mean = n.weights @ n.means
    second = sum(w * (np.outer(m, m) + s**2 * np.eye(2)) for w, m, s in zip(n.weights, n.means, n.stds))
    np.testing.assert_allclose(y.mean(0), mean, atol=0.01)
    np.testing.assert_allclose(np.cov(y.T), second - np.outer(mean, mean), atol=0.02)


def test_toy_shapes_and_bad_input():
    assert toys.eight_gaussians().means.shape == (8, 2)
    np.testing.assert_allclose(np.linalg.norm(toys.eight_gaussians(radius=2).means, axis=1), 2.0)
    assert toys.grid(5).means.shape == (25, 2)
    r = toys.rings((1.0, 2.0))
    radii = np.linalg.norm(r.means, axis=1)
    assert set(np.round(radii, 9)) == {1.0, 2.0}
    assert toys.moons().means.shape[1] == 2
    x, y = toys.digits_8x8("val")
    assert x.shape[1] == 64 and x.min() >= -1 and x.max() <= 1 and len(x) == len(y)
    with pytest.raises(ValueError, match="weights"):
        toys.GaussianMixture([[0.0], [1.0]], 1.0, [0.7, 0.7])
    with pytest.raises(ValueError, match="shape"):
        _mixture().log_prob(np.zeros((3, 3)))


def test_schedules_against_hand_values():
    # the catalogue's example: β = [0.1, 0.2, 0.3, 0.4] → ᾱ = [0.9, 0.72, 0.504, 0.3024]
    abar = schedules.alpha_bars([0.1, 0.2, 0.3, 0.4])
    np.testing.assert_allclose(abar, [0.9, 0.72, 0.504, 0.3024], rtol=1e-12)
    np.testing.assert_allclose(schedules.snr(abar), [9, 0.72 / 0.28, 0.504 / 0.496, 0.3024 / 0.6976])
    b = schedules.linear_betas(1000)
    assert b[0] == 1e-4 and b[-1] == 0.02 and len(b) == 1000
    c = schedules.cosine_betas(4, s=0.0)  # s = 0: ᾱ_t = cos²(πt/8)
    np.testing.assert_allclose(schedules.alpha_bars(c)[:3], np.cos(np.pi * np.arange(1, 4) / 8) ** 2)
    assert c[-1] == 0.999  # ᾱ_T = 0 exactly: clipped
    x0, eps = np.ones((2, 3)), np.full((2, 3), 2.0)
    np.testing.assert_allclose(
        schedules.q_sample(x0, np.array([0, 3]), eps, abar)[:, 0],
        [
            np.sqrt(0.9) + 2 * np.sqrt(0.1),
            np.sqrt(0.3024) + 2 * np.sqrt(0.6976),
        ],
    )


@pytest.mark.parametrize("sampler", ["ddpm", "ddpm-posterior", "ddim"])
def test_samplers_with_the_exact_score_reach_a_gaussian(sampler):
    # data N(m, s² I) (a one-component mixture): with the exact ε the sampler's output must have its moments
    # (DDPM on the standard T = 1000 linear schedule; DDIM η = 0 on 100 of 1000 cosine steps)
    g = toys.GaussianMixture([[1.5, -0.5]], 0.4)
    shape = (10_000, 2)
    if sampler.startswith("ddpm"):
        betas = schedules.linear_betas(1000)
        eps = samplers.exact_eps(g, schedules.alpha_bars(betas))
        variance = "posterior" if sampler.endswith("posterior") else "beta"
        x = samplers.ddpm_sample(eps, shape, betas, 0, variance=variance)
    else:
        abar = schedules.alpha_bars(schedules.cosine_betas(1000))
        x = samplers.ddim_sample(samplers.exact_eps(g, abar), shape, abar, 100, 0)
    np.testing.assert_allclose(x.mean(0), [1.5, -0.5], atol=0.02)
    np.testing.assert_allclose(x.std(0), [0.4, 0.4], atol=0.015)


def test_ddim_with_eta_one_on_every_step_is_ddpm_with_the_posterior_variance():
    # Song et al.: η = 1 gives σ² = β̃_t, and over all T steps the updates are DDPM's (the same noise draws)
    g = _mixture()
    betas = schedules.linear_betas(100, 1e-3, 0.1)
    abar = schedules.alpha_bars(betas)
    eps = samplers.exact_eps(g, abar)
    a = samplers.ddim_sample(eps, (500, 2), abar, 100, 5, eta=1.0)
    b = samplers.ddpm_sample(eps, (500, 2), betas, 5, variance="posterior")
    np.testing.assert_allclose(a, b, atol=1e-10)


def test_ddim_with_eta_zero_is_deterministic_and_covers_the_modes():
    g = toys.eight_gaussians()
    abar = schedules.alpha_bars(schedules.cosine_betas(200))
    eps = samplers.exact_eps(g, abar)
    x_T = np.random.default_rng(3).standard_normal((2000, 2))
    a = samplers.ddim_sample(eps, x_T.shape, abar, 50, 0, x_T=x_T)
    b = samplers.ddim_sample(eps, x_T.shape, abar, 50, 1, x_T=x_T)
    np.testing.assert_array_equal(a, b)
    assert metrics.mode_coverage(a, g.means, 0.5, min_count=100) == 1.0
    assert metrics.mode_precision(a, g.means, 0.5) > 0.95


def test_exact_velocity_against_monte_carlo_and_the_flow_reaches_the_data():
    g = _mixture()
    v = flow.exact_velocity(g)
    # E[x1 − x0 | x_t ≈ x] by rejection over many pairs
    rng = np.random.default_rng(0)
    x1, _ = g.sample(2_000_000, rng)
    x0 = rng.standard_normal(x1.shape)
    t, point = 0.6, np.array([0.8, 0.9])
    xt, u = flow.interpolate(x0, x1, np.full(len(x0), t))
    near = np.linalg.norm(xt - point, axis=1) < 0.05
    np.testing.assert_allclose(v(point[None], t)[0], u[near].mean(0), atol=0.05)
    # integrating the exact field carries N(0, I) to the mixture
    samples = flow.euler(v, np.random.default_rng(1).standard_normal((20_000, 2)), 200, t_end=0.999)
    ref, _ = g.sample(20_000, 2)
    assert metrics.sliced_wasserstein(samples, ref) < 0.05


def test_interpolate_hand_case():
    # the catalogue's case: x0 = [0, 0], x1 = [2, 2], t = 0.25 → x_t = [0.5, 0.5], target [2, 2]
    xt, u = flow.interpolate(np.zeros((1, 2)), np.full((1, 2), 2.0), [0.25])
    np.testing.assert_allclose(xt, [[0.5, 0.5]])
    np.testing.assert_allclose(u, [[2.0, 2.0]])


def test_sliced_wasserstein_known_values():
    a = np.random.default_rng(0).standard_normal((500, 2))
    assert metrics.sliced_wasserstein(a, a) == 0.0
    # a shift c moves every projection by c·θ, sorted order kept: SW₂² = mean (c·θ)² → |c|²/2 in 2-D
    c = np.array([0.3, -0.4])
    sw = metrics.sliced_wasserstein(a, a + c, n_projections=20_000)
    assert sw == pytest.approx(np.linalg.norm(c) / np.sqrt(2), rel=0.01)


def test_mmd_known_values():
    # two points per set: a = {0, 0}, b = {d, d} (1-D): within-set kernels are 1, cross e^{−d²/2σ²}
    a, b = np.zeros((2, 1)), np.full((2, 1), 1.0)
    assert metrics.mmd2(a, b, 1.0) == pytest.approx(2 - 2 * np.exp(-0.5), rel=1e-12)
    x = np.random.default_rng(0).standard_normal((400, 2))
    y = np.random.default_rng(1).standard_normal((400, 2))
    assert abs(metrics.mmd2(x, y, 1.0)) < 0.01  # unbiased: near 0 for one law
    assert metrics.mmd2(x, y + 1.0, 1.0) > 0.1


def test_nll_and_mode_metrics_by_hand():
    g = toys.GaussianMixture([[0.0, 0.0]], 1.0)
    assert metrics.nll(g, np.zeros((3, 2))) == pytest.approx(np.log(2 * np.pi))
    modes = np.array([[0.0, 0.0], [5.0, 0.0], [0.0, 5.0]])
    s = np.array([[0.1, 0.0], [0.0, 0.1], [5.0, 0.2], [2.5, 2.5]])
    assert metrics.mode_coverage(s, modes, 0.5) == pytest.approx(2 / 3)
    assert metrics.mode_coverage(s, modes, 0.5, min_count=2) == pytest.approx(1 / 3)
    assert metrics.mode_precision(s, modes, 0.5) == pytest.approx(3 / 4)


def test_sinusoidal_embedding_by_hand():
    e = denoisers.sinusoidal_embedding([0.0, 1.0], 4)  # frequencies 1 and 10⁻⁴
    np.testing.assert_allclose(e[0], [0, 1, 0, 1])
    np.testing.assert_allclose(e[1], [np.sin(1), np.cos(1), np.sin(1e-4), np.cos(1e-4)], rtol=1e-6)
    with pytest.raises(ValueError, match="even"):
        denoisers.sinusoidal_embedding([0.0], 3)


def test_eps_loss_gradient_by_finite_differences():
    # the loss is built from engine ops only; check its gradient end to end in float64 on one weight entry
    model = denoisers.TimeMLP(2, hidden=8, depth=1, emb_dim=4, rng=0)
    for p in model.parameters():
        p.data = p.data.astype(np.float64)
    abar = schedules.alpha_bars(schedules.linear_betas(10, 1e-3, 0.2))
    x0 = np.random.default_rng(0).standard_normal((5, 2))

    def loss():
        return denoisers.eps_loss(model, x0, abar, 7)

    w = model.net[0].weight
    for p in model.parameters():
        p.grad = None
    loss().backward()
    h, (i, j) = 1e-6, (1, 2)
    w.data[i, j] += h
    up = float(loss().data)
    w.data[i, j] -= 2 * h
    down = float(loss().data)
    w.data[i, j] += h
    assert w.grad[i, j] == pytest.approx((up - down) / (2 * h), rel=1e-5, abs=1e-8)


def test_a_small_denoiser_learns_the_score_of_a_gaussian():
    # data N(0, s² I): the optimal ε(x_t, t) is linear, √(1−ᾱ) x_t /(ᾱ s² + 1 − ᾱ); a trained MLP gets close
    s = 0.5
    betas = schedules.linear_betas(50, 1e-3, 0.3)
    abar = schedules.alpha_bars(betas)
    model = denoisers.TimeMLP(2, hidden=32, depth=2, emb_dim=8, rng=0)

    def batch_loss(rng):
        return denoisers.eps_loss(model, s * rng.standard_normal((128, 2)), abar, rng)

    fit_generative(model, batch_loss, steps=600, lr=3e-3, seed=0)
    t = 25
    xt = np.random.default_rng(1).standard_normal((200, 2))
    pred = model(xt, np.full(200, t / 50)).data
    exact = np.sqrt(1 - abar[t]) * xt / (abar[t] * s**2 + 1 - abar[t])
    assert np.mean((pred - exact) ** 2) < 0.05 * np.mean(exact**2)
