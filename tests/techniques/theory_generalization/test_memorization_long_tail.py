"""Memorization on a long tail: the reference cases; τ₁ and E[M₁] against brute-force enumeration of every sample
of a tiny world; E[M₁] = τ₁·E[#singletons]; Good–Turing unbiased for the singleton mass of a sample one draw
shorter (its classical identity), checked by enumeration; the lookup learners; bad input; the recorded run."""

import itertools

import numpy as np
import pytest

from refimpl.experiments import freshness, recorded
from refimpl.techniques.theory_generalization import memorization_long_tail as ML
from refimpl.techniques.theory_generalization.memorization_long_tail.cases import reference_cases

SLUG = "memorization-long-tail"


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


def _enumerate(psi, n):
    """Every ordered sample of n draws with its probability and counts."""
    for seq in itertools.product(range(len(psi)), repeat=n):
        yield np.prod([psi[i] for i in seq]), np.bincount(seq, minlength=len(psi))


def test_singleton_mass_and_tau_by_enumeration():
    """Fixed frequencies in random order: every order has the same E[M₁], so enumerating one order is enough; τ₁ is
    the frequency of a uniformly random subpopulation given it was seen once."""
    psi, n = np.array([0.5, 0.3, 0.15, 0.05]), 4
    mass = sum(p * psi[c == 1].sum() for p, c in _enumerate(psi, n))
    singles = sum(p * np.sum(c == 1) for p, c in _enumerate(psi, n))
    assert ML.expected_singleton_mass(psi, n) == pytest.approx(mass, rel=1e-12)
    assert ML.expected_singletons(psi, n) == pytest.approx(singles, rel=1e-12)
    assert ML.singleton_tau(psi, n) == pytest.approx(mass / singles, rel=1e-12)


def test_good_turing_identity_by_enumeration():
    """E[2N₂/n] over samples of n equals E[M₁] over samples of n − 1 (Good–Turing's identity)."""
    psi, n = np.array([0.4, 0.3, 0.2, 0.1]), 5
    gt = sum(p * ML.good_turing_singleton_mass(c) for p, c in _enumerate(psi, n))
    assert gt == pytest.approx(ML.expected_singleton_mass(psi, n - 1), rel=1e-12)


def test_long_tail_has_tau_of_order_one_over_n():
    psi = ML.zipf_frequencies(5000)
    for n in (1000, 2000, 4000):
        assert 0.1 < ML.singleton_tau(psi, n) * n < 1.0
    assert ML.expected_singleton_mass(np.full(50, 0.02), 2000) < 1e-12


def test_lookup_learners_fit_what_they_see():
    subpops, labels = np.array([0, 0, 1, 2, 2, 2]), np.array([3, 3, 1, 0, 2, 2])
    mem = ML.lookup_predict(subpops, labels, 4, 5, 1, 0)
    skip = ML.lookup_predict(subpops, labels, 4, 5, 2, 0)
    assert list(mem[:3]) == [3, 1, 2] and list(skip[[0, 2]]) == [3, 2]
    guess = np.random.default_rng(0).integers(0, 5, 4)
    assert skip[1] == guess[1] and mem[3] == skip[3] == guess[3]  # skipped or unseen: the seeded guesses


def test_measured_cost_matches_the_closed_form_on_average():
    psi, n, k = ML.zipf_frequencies(300), 200, 4
    costs = []
    for seed in range(300):
        rng = np.random.default_rng(seed)
        truth = rng.integers(0, k, psi.size)
        train = rng.choice(psi.size, n, p=psi)
        guess = [seed, 1]  # not the stream that drew the labels
        mem = ML.lookup_predict(train, truth[train], psi.size, k, 1, guess)
        skip = ML.lookup_predict(train, truth[train], psi.size, k, 2, guess)
        costs.append(np.sum(psi * ((skip != truth).astype(float) - (mem != truth))))
    assert np.mean(costs) == pytest.approx(ML.memorization_cost(psi, n, k), rel=0.05)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="`psi`"):
        ML.singleton_tau([0.5, 0.6], 3)
    with pytest.raises(ValueError, match="`n`"):
        ML.expected_singleton_mass([1.0], 0)
    with pytest.raises(ValueError, match="`noise`"):
        ML.memorization_cost([1.0], 2, 3, noise=1.5)
    with pytest.raises(ValueError, match="`n_classes`"):
        ML.memorization_cost([1.0], 2, 1)
    with pytest.raises(ValueError, match="`min_count`"):
        ML.lookup_predict([0], [0], 1, 2, 0, 0)
    with pytest.raises(ValueError, match="`counts`"):
        ML.good_turing_singleton_mass([0, 0])


def test_recorded_full_run():
    """On the recorded per-seed numbers: skipping singletons costs at least 5 points on every seed (clean and noisy),
    nothing on the short tail, and the measured cost is within 20 % of the closed form on every seed."""
    assert freshness(SLUG) == "fresh"
    r = recorded(SLUG)
    assert not r.quick and len(r.seeds) >= 3
    cost = r.arrays["measured_cost"]
    assert cost.min() > 0.05
    assert max(abs(v) for v in r.values("skip singletons", "cost_vs_theory")) < 0.2
    assert r.values("skip singletons", "test_error_short") == r.values("memorize", "test_error_short")
