"""Repeated sampling: the reference cases; pass@k against the binomial-coefficient formula and against brute
force over all k-subsets; its unbiasedness and the plug-in's bias by exact expectation over the binomial; the
Beta closed form against numerical integration; the fit recovers an exact exponentiated power law; bad input;
the recorded run."""

from itertools import combinations
from math import comb

import numpy as np
import pytest
from scipy import integrate, stats

from refimpl.experiments import freshness, recorded
from refimpl.techniques.theory_generalization import repeated_sampling_coverage as RS
from refimpl.techniques.theory_generalization.repeated_sampling_coverage.cases import reference_cases

SLUG = "repeated-sampling-coverage"


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


def test_pass_at_k_against_binomials_and_brute_force():
    for n, c, k in [(12, 5, 3), (20, 1, 7), (8, 6, 4)]:
        assert RS.pass_at_k(n, c, k) == pytest.approx(1 - comb(n - c, k) / comb(n, k), rel=1e-12)
    samples = [1, 0, 0, 1, 0, 0, 0]
    subsets = list(combinations(samples, 3))
    assert RS.pass_at_k(7, 2, 3) == pytest.approx(np.mean([any(s) for s in subsets]), rel=1e-12)


def test_unbiased_in_expectation_and_plugin_biased_low():
    n, k, p = 20, 5, 0.1
    c = np.arange(n + 1)
    w = stats.binom(n, p).pmf(c)
    truth = 1 - (1 - p) ** k
    assert np.sum(w * RS.pass_at_k(n, c, k)) == pytest.approx(truth, rel=1e-12)
    assert np.sum(w * RS.plugin_pass_at_k(n, c, k)) < truth - 0.01


def test_beta_coverage_against_integration():
    a, b, k = 0.4, 2.5, 17
    num = integrate.quad(lambda p: (1 - (1 - p) ** k) * stats.beta(a, b).pdf(p), 0, 1, limit=200)[0]
    assert RS.beta_coverage(k, a, b) == pytest.approx(num, rel=1e-7)


def test_fit_recovers_an_exact_exponentiated_power_law():
    ks = np.array([1.0, 2, 4, 8, 16])
    fit = RS.fit_exponentiated_power_law(ks, np.exp(-1.3 * ks**-0.4))
    assert fit["a"] == pytest.approx(-1.3, rel=1e-10) and fit["b"] == pytest.approx(-0.4, rel=1e-10)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="`k`"):
        RS.pass_at_k(5, 1, 6)
    with pytest.raises(ValueError, match="`c`"):
        RS.pass_at_k(5, 7, 2)
    with pytest.raises(ValueError, match="alpha"):
        RS.beta_coverage(3, 0.0, 1.0)
    with pytest.raises(ValueError, match="strictly between"):
        RS.fit_exponentiated_power_law([1, 2], [0.5, 1.0])


def test_recorded_full_run():
    """On the recorded per-seed numbers: the unbiased estimate is within 3 % of the truth at k = n on every seed
    and within 2 % on average, the plug-in is low on every seed, coverage is log-linear (R² > 0.95) on every
    seed, and the extrapolation is within 5 % on every seed."""
    assert freshness(SLUG) == "fresh"
    r = recorded(SLUG)
    assert not r.quick and len(r.seeds) >= 3
    m = next(iter(r.selected))
    unb = np.array(r.values(m, "unbiased_rel_err"))
    assert np.abs(unb).max() < 0.03 and abs(unb.mean()) < 0.02
    assert max(r.values(m, "plugin_rel_err")) < 0
    assert min(r.values(m, "loglinear_r2")) > 0.95
    assert max(r.values(m, "extrapolation_abs_err")) < 0.05
