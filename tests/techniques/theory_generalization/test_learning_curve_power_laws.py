"""Learning-curve power laws: the reference cases; the floored fit against a brute-force grid search of the
same objective; noise-free extrapolation is exact; bad input; the recorded run (whose two extrapolation claims
are honest failures, asserted as such)."""

import numpy as np
import pytest

from refimpl.experiments import freshness, recorded
from refimpl.techniques.theory_generalization import learning_curve_power_laws as LC
from refimpl.techniques.theory_generalization.learning_curve_power_laws.cases import reference_cases

SLUG = "learning-curve-power-laws"


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


def test_floored_fit_is_the_least_squares_optimum():
    """No point of a fine grid over (β, γ), with α solved in closed form, beats the fit's log-error residual."""
    rng = np.random.default_rng(0)
    m = np.array([20.0, 40, 80, 160, 320])
    err = (3 * m**-0.6 + 0.02) * np.exp(0.03 * rng.normal(size=5))
    fit = LC.fit_power_law(m, err)

    def sse(a, b, g):
        return np.sum((np.log(a * m**b + g) - np.log(err)) ** 2)

    best = sse(fit["alpha"], fit["beta"], fit["gamma"])
    for b in np.linspace(-1.5, -0.1, 57):
        for g in np.linspace(0, 0.999 * err.min(), 41):
            for a in np.exp(np.linspace(-2, 4, 61)):
                assert sse(a, b, g) >= best - 1e-9


def test_noise_free_extrapolation_is_exact():
    m = np.array([10.0, 20, 40, 80])
    fit = LC.fit_power_law(m, 5 * m**-0.8 + 0.03)
    assert fit["predict"](1000.0) == pytest.approx(5 * 1000**-0.8 + 0.03, rel=1e-5)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="positive"):
        LC.fit_pure_power_law([1, 2], [0.1, 0.0])
    with pytest.raises(ValueError, match="3 points"):
        LC.fit_power_law([1, 2], [0.5, 0.2])
    with pytest.raises(ValueError, match="matching"):
        LC.growth_exponent([1, 2, 3], [1, 2])


def test_recorded_full_run():
    """On the recorded per-seed numbers: the floored law fits the whole curve (R² > 0.94 on every seed), but
    fitted on m ≤ 200 it misses the error at m = 899 by more than 30 % on average and does worse than the pure
    power law on most seeds (the honest negative); the best width's growth exponent is below 1 on every seed."""
    assert freshness(SLUG) == "fresh"
    r = recorded(SLUG)
    assert not r.quick and len(r.seeds) >= 3
    m = next(iter(r.selected))
    assert min(r.values(m, "fit_r2")) > 0.94
    assert np.mean(r.values(m, "extrapolation_abs_err")) > 0.3
    assert np.mean(np.array(r.values(m, "law_minus_pure_err")) > 0) >= 0.6
    assert max(r.values(m, "width_growth_delta")) < 1
