"""Retrieval-augmented diffusion: the reference cases; kNN against brute force; the neighbour order statistics
against a Monte Carlo; the ablation has the same parameters and ignores the condition; the loss's gradient by
finite differences; with the exact conditional denoiser the database swap moves samples (the mechanism apart
from learning); bad input; the quick run; the recorded run."""

import numpy as np
import pytest

from refimpl.experiments import freshness, recorded
from refimpl.techniques.diffusion_generative import retrieval_augmented_diffusion as RD
from refimpl.techniques.diffusion_generative import samplers, schedules, toys
from refimpl.techniques.diffusion_generative.retrieval_augmented_diffusion.cases import reference_cases

SLUG = "retrieval-augmented-diffusion"


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


def test_knn_matches_brute_force_sort():
    rng = np.random.default_rng(0)
    q, db = rng.standard_normal((20, 3)), rng.standard_normal((50, 3))
    brute = np.array([np.argsort(np.linalg.norm(db - x, axis=1))[:5] for x in q])
    np.testing.assert_array_equal(RD.knn(q, db, 5), brute)
    np.testing.assert_allclose(RD.retrieval_condition(q, db, 5), db[brute].mean(1))


def test_neighbour_order_statistics_by_monte_carlo():
    rng = np.random.default_rng(1)
    n, k = 30, 4
    d2 = np.array([np.sort((rng.standard_normal((n, 2)) ** 2).sum(1))[:k] for _ in range(20_000)])
    np.testing.assert_allclose(d2.mean(0), RD.kth_neighbour_sq_distance_gaussian(n, k), rtol=0.03)


def test_ablation_has_the_same_parameters_and_ignores_the_condition():
    a = RD.RetrievalDenoiser(2, 16, 2, retrieval=True, rng=0)
    b = RD.RetrievalDenoiser(2, 16, 2, retrieval=False, rng=0)
    assert sum(p.data.size for p in a.parameters()) == sum(p.data.size for p in b.parameters())
    x, t = np.ones((4, 2)), np.full(4, 0.3)
    c1, c2 = np.zeros((4, 2)), np.random.default_rng(0).standard_normal((4, 2))
    np.testing.assert_array_equal(b(x, t, c1).data, b(x, t, c2).data)
    np.testing.assert_array_equal(a(x, t, c1).data, b(x, t, c2).data)  # c = 0 is what the ablation sees
    assert not np.allclose(a(x, t, c1).data, a(x, t, c2).data)


def test_rdm_loss_gradient_by_finite_differences():
    model = RD.RetrievalDenoiser(2, hidden=6, depth=1, emb_dim=4, rng=0)
    for p in model.parameters():
        p.data = p.data.astype(np.float64)
    rng = np.random.default_rng(0)
    x0, c = rng.standard_normal((7, 2)), rng.standard_normal((7, 2))
    abar = schedules.alpha_bars(schedules.cosine_betas(20))
    w = model.net[0].weight
    RD.rdm_eps_loss(model, x0, c, abar, 5).backward()
    h, (i, j) = 1e-6, (2, 6)  # weight (out, in); input column 6 is c: the retrieval path
    w.data[i, j] += h
    up = float(RD.rdm_eps_loss(model, x0, c, abar, 5).data)
    w.data[i, j] -= 2 * h
    down = float(RD.rdm_eps_loss(model, x0, c, abar, 5).data)
    w.data[i, j] += h
    assert w.grad[i, j] == pytest.approx((up - down) / (2 * h), rel=1e-5)


def test_swap_with_the_exact_conditional_denoiser():
    # if p(x | c) = N(c, s²I) exactly, sampling with a pseudo-query from a swapped database lands on its modes
    s, T = 0.08, 50
    betas = schedules.cosine_betas(T)
    abar = schedules.alpha_bars(betas)
    new = toys.eight_gaussians(radius=1.5, std=s)
    db, _ = new.sample(1000, 0)
    c = RD.retrieval_condition(RD.sample_queries(db, 400, 1), db, 4)

    def eps(x, t):
        a = abar[t]
        var = a * s**2 + 1 - a
        return -np.sqrt(1 - a) * (np.sqrt(a) * c - x) / var  # −√(1−ᾱ) ∇log N(x; √ᾱ c, (ᾱs² + 1 − ᾱ) I)

    x = samplers.ddpm_sample(eps, (400, 2), betas, 2)
    assert np.mean(np.linalg.norm(x - c, axis=1) < 0.35) > 0.95


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="`k`"):
        RD.knn(np.zeros((1, 2)), np.zeros((3, 2)), 4)
    with pytest.raises(ValueError, match="database"):
        RD.knn(np.zeros((1, 2)), np.zeros((3, 3)), 1)
    with pytest.raises(ValueError, match="condition"):
        RD.RetrievalDenoiser(2, rng=0)(np.zeros((2, 2)), np.zeros(2), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="k ="):
        RD.kth_neighbour_sq_distance_gaussian(3, 5)


def test_quick_run(quick_result):
    r = quick_result(SLUG)
    assert r.quick and set(r.selected) == {"RDM (kNN retrieval)", "unconditional (same net, no retrieval)"}


def test_recorded_full_run():
    """On the recorded per-seed numbers: after the swap the retrieval model covers every new mode on every seed
    and beats the unconditional model's sliced Wasserstein to the new mixture on every seed."""
    assert freshness(SLUG) == "fresh"
    r = recorded(SLUG)
    assert not r.quick and len(r.seeds) >= 3
    rdm, unc = "RDM (kNN retrieval)", "unconditional (same net, no retrieval)"
    assert min(r.values(rdm, "test_cov_new_modes")) == 1.0
    assert np.all(
        np.array(r.values(rdm, "test_sw_swapped_db")) < np.array(r.values(unc, "test_sw_swapped_db"))
    )
