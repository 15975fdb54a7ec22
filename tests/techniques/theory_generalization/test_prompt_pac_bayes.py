"""The prompt PAC-Bayes bound: the reference cases; the kl inverse against a root finder; the kl bound below its
square-root relaxation; the prompt table against brute-force enumeration of every token string; the grammar
prior a sub-probability; the bound's failure rate below δ by simulation; bad input; the recorded run."""

import itertools

import numpy as np
import pytest
from scipy import optimize

from refimpl.experiments import freshness, recorded
from refimpl.techniques.theory_generalization import prompt_pac_bayes as PB
from refimpl.techniques.theory_generalization.prompt_pac_bayes.cases import reference_cases

SLUG = "prompt-pac-bayes"


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


def test_kl_inverse_against_a_root_finder():
    for q, c in [(0.1, 0.05), (0.3, 0.2), (0.02, 0.01), (0.5, 1e-4)]:
        p = optimize.brentq(lambda p, q=q, c=c: PB.kl_bernoulli(q, p) - c, q + 1e-12, 1 - 1e-15, xtol=1e-15)
        assert PB.kl_inverse_upper(q, c) == pytest.approx(p, abs=1e-10)
    np.testing.assert_allclose(
        PB.kl_inverse_upper(np.array([0.1, 0.3]), np.array([0.05, 0.2])),
        [PB.kl_inverse_upper(0.1, 0.05), PB.kl_inverse_upper(0.3, 0.2)],
    )


def test_kl_bound_is_below_its_square_root_relaxation():
    for e, lp, n in [(0.1, -10.0, 1000), (0.3, -3.0, 50), (0.0, -20.0, 200)]:
        assert PB.kl_bound(e, lp, n) <= PB.mcallester_bound(e, lp, n) + 1e-12


def test_prompt_table_matches_brute_force_enumeration():
    """Every string of ≤ 4 tokens over {x0, x1, NOT, AND, OR} that parses is in the table exactly once, with the same
    predictions and log prior."""
    X = np.array(list(itertools.product([0, 1], repeat=2)) * 3, dtype=bool)
    table = PB.enumerate_prompts(X, 4)
    brute = set()
    for length in range(1, 5):
        for toks in itertools.product(["x0", "x1", "NOT", "AND", "OR"], repeat=length):
            try:
                PB.log_prior(toks, 2)
            except ValueError:
                continue
            brute.add(" ".join(toks))
    spelled = [table.prompt(i) for i in range(len(table))]
    assert len(spelled) == len(set(spelled)) and set(spelled) == brute
    for i, p in enumerate(spelled):
        assert table.log_prior[i] == pytest.approx(PB.log_prior(p, 2), abs=1e-12)
        np.testing.assert_array_equal(np.unpackbits(table.bits[i])[: len(X)].astype(bool), PB.evaluate(p, X))


def test_errors_count_disagreements():
    X = np.random.default_rng(0).integers(0, 2, (37, 3)).astype(bool)
    y = np.random.default_rng(1).integers(0, 2, 37).astype(bool)
    table = PB.enumerate_prompts(X, 3)
    direct = [np.mean(PB.evaluate(table.prompt(i), X) != y) for i in range(len(table))]
    np.testing.assert_allclose(table.errors(y), direct, atol=1e-15)


def test_grammar_prior_is_a_sub_probability():
    table = PB.enumerate_prompts(np.zeros((1, 2), dtype=bool), 7)
    total = np.exp(table.log_prior).sum()
    assert 0.5 < total <= 1.0


def test_bound_fails_less_often_than_delta():
    """One fixed prompt (prior 1), true error 0.2, n = 200: the bound falls below 0.2 in under δ = 5 % of samples."""
    errs = np.random.default_rng(2).binomial(200, 0.2, 4000) / 200
    bounds = PB.kl_bound(errs, np.zeros_like(errs), 200, 0.05)
    assert np.mean(bounds < 0.2) < 0.05


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="`q`"):
        PB.kl_bernoulli(1.5, 0.5)
    with pytest.raises(ValueError, match="`c`"):
        PB.kl_inverse_upper(0.1, -1.0)
    with pytest.raises(ValueError, match="`delta`"):
        PB.kl_bound(0.1, -1.0, 10, delta=0.0)
    with pytest.raises(ValueError, match="`log_p`"):
        PB.kl_bound(0.1, 1.0, 10)
    with pytest.raises(ValueError, match="incomplete"):
        PB.log_prior("AND x0", 2)
    with pytest.raises(ValueError, match="not NOT, AND, OR"):
        PB.log_prior("x5", 2)
    with pytest.raises(ValueError, match="`max_tokens`"):
        PB.enumerate_prompts(np.zeros((2, 2)), 9)


def test_recorded_full_run():
    """On the recorded per-seed numbers: the grammar-prior bound is above the test error on every seed and below the
    uniform-prior bound on every seed; on random labels it stays above 0.45 on every seed."""
    assert freshness(SLUG) == "fresh"
    r = recorded(SLUG)
    assert not r.quick and len(r.seeds) >= 3
    assert min(r.values("grammar prior", "bound_minus_test")) > 0
    uni = r.values("uniform prior (T = 20)", "bound")
    assert all(g < u for g, u in zip(r.values("grammar prior", "bound"), uni))
    assert min(r.values("grammar prior", "random_bound")) > 0.45
