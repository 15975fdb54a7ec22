"""The family's shared tools: power-law fitting, the bootstrap over repeated curves, and that the techniques use
the one copy of the spectral and bound calculators."""

import numpy as np
import pytest

from refimpl.techniques.theory_generalization import bounds, farms, fitting, prompt_pac_bayes, spectral


@pytest.mark.parametrize("log_residuals", [False, True])
def test_fit_recovers_a_noiseless_law(log_residuals):
    x = np.array([10.0, 30.0, 100.0, 300.0, 1000.0, 3000.0])
    y = 3.0 * x**-0.7 + 0.05  # chosen by hand
    f = fitting.fit_power_law(x, y, log_residuals=log_residuals)
    assert f["a"] == pytest.approx(3.0, rel=1e-5)
    assert f["alpha"] == pytest.approx(0.7, rel=1e-5)
    assert f["e"] == pytest.approx(0.05, rel=1e-5)
    assert f["predict"](1e4) == pytest.approx(3.0 * 1e4**-0.7 + 0.05, rel=1e-5)


def test_pure_law_is_the_least_squares_line_in_log_log():
    # three points, the line by the normal equations written out by hand
    x, y = np.array([1.0, 2.0, 4.0]), np.array([8.0, 5.0, 2.0])
    u, v = np.log(x), np.log(y)
    slope = np.sum((u - u.mean()) * (v - v.mean())) / np.sum((u - u.mean()) ** 2)
    f = fitting.fit_power_law(x, y, floor=False)
    assert f["alpha"] == pytest.approx(-slope, rel=1e-12)
    assert np.log(f["a"]) == pytest.approx(v.mean() - slope * u.mean(), rel=1e-12)
    assert f["e"] == 0.0


def test_fit_rejects_bad_input():
    with pytest.raises(ValueError, match="≥ 3 points"):
        fitting.fit_power_law([1.0, 2.0], [1.0, 0.5])
    with pytest.raises(ValueError, match="positive"):
        fitting.fit_power_law([1.0, 2.0, 3.0], [1.0, -0.5, 0.2])
    with pytest.raises(ValueError, match="matching"):
        fitting.fit_power_law([1.0, 2.0, 3.0], [1.0, 0.5])


def test_bootstrap_of_a_mean_over_two_rows():
    # resampling two rows gives the mean of (r1, r1), (r1, r2), (r2, r1) or (r2, r2): r1 or r2 with probability 1/4
    # each, so the 90 % percentile interval runs from r1 to r2
    x = np.array([1.0, 2.0])
    rows = np.array([[1.0, 1.0], [3.0, 3.0]])
    out = fitting.bootstrap_fit(lambda x, y: {"m": float(y.mean())}, x, rows, n_boot=400, level=0.9, seed=1)
    assert out["point"]["m"] == 2.0
    assert out["m"] == (1.0, 3.0)


def test_bootstrap_collapses_on_identical_curves_and_covers_the_truth_with_noise():
    x = np.array([10.0, 30.0, 100.0, 300.0, 1000.0])
    law = 2.0 * x**-0.5 + 0.1
    same = fitting.bootstrap_fit(fitting.fit_power_law, x, np.tile(law, (4, 1)), n_boot=20, at=x)
    assert same["alpha"][0] == pytest.approx(same["alpha"][1], rel=1e-6)
    np.testing.assert_allclose(same["predict"][0], same["predict"][1], rtol=1e-6)
    rng = np.random.default_rng(0)
    noisy = law * np.exp(0.05 * rng.standard_normal((8, x.size)))
    out = fitting.bootstrap_fit(
        lambda x, y: fitting.fit_power_law(x, y, log_residuals=True), x, noisy, n_boot=200, at=x
    )
    lo, hi = out["predict"]
    assert np.all(lo <= hi)
    assert out["alpha"][0] < out["alpha"][1]
    assert np.mean((lo <= law) & (law <= hi)) >= 0.8  # the band holds the true curve at most sizes


def test_bootstrap_rejects_bad_input():
    with pytest.raises(ValueError, match="shape"):
        fitting.bootstrap_fit(fitting.fit_power_law, [1.0, 2.0, 3.0], np.ones((3, 2)))
    with pytest.raises(ValueError, match="≥ 2 rows"):
        fitting.bootstrap_fit(fitting.fit_power_law, [1.0, 2.0, 3.0], np.ones((1, 3)))


def test_techniques_use_the_shared_copies():
    assert farms.hill_alpha is spectral.hill_alpha and farms.mp_density is spectral.mp_density
    assert prompt_pac_bayes.kl_bound is bounds.kl_bound
    assert prompt_pac_bayes.mcallester_bound is bounds.mcallester_bound


def test_hill_alpha_on_exact_pareto_quantiles():
    # eigenvalues at the quantiles of a Pareto law with tail exponent α = 3 (density ∝ λ^−3): the ML estimate on
    # the upper half approaches 3 as n grows
    n = 20001
    u = (np.arange(n) + 0.5) / n
    eigs = (1 - u) ** (-1 / 2.0)  # P(λ > t) = t^−2, density ∝ t^−3
    assert spectral.hill_alpha(eigs) == pytest.approx(3.0, rel=0.01)


def test_pools_are_shared_and_train():
    from refimpl.experiments.tasks import digits
    from refimpl.techniques.theory_generalization import pools, pretraining_infinite_compute

    assert pretraining_infinite_compute.train_mlp is pools.train_mlp
    v, xtr, ytr, xva, yva, xte, yte = pools.char_lm_onehot(3, 200, 50, 50)
    assert xtr.shape == (200, 3 * v) and np.all(xtr.sum(1) == 3)  # three one-hot codes per row
    assert pools.n_params(v, 3, 8) == (3 * v + 1) * 8 + (8 + 1) * v
    task = digits()
    order = np.random.default_rng(0).permutation(len(task.y_train))
    val_err, test_err = pools.digits_mlp_errors(task, 200, 16, 3e-3, 0, order, steps=100)
    assert 0 <= val_err < 0.5 and 0 <= test_err < 0.5  # far better than chance (0.9)
