"""Optimally weighted regression ensembles by QP (Echtenbruck et al., 2022; arXiv 2206.11263)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from refimpl.techniques.merging_averaging import optimal_ensemble_qp as oe


def test_reference_cases():
    for case in oe.reference_cases():
        case.check()


@settings(deadline=None, max_examples=40)
@given(seed=st.integers(0, 100_000), m=st.integers(1, 6), rank=st.integers(1, 6))
def test_active_set_equals_support_enumeration(seed, m, rank):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((rank, m))
    H = A.T @ A  # PSD, singular when rank < m
    g = rng.standard_normal(m)
    w = oe.simplex_qp(H, g)
    wb = oe.simplex_qp_bruteforce(H, g)
    f = lambda v: 0.5 * v @ H @ v + g @ v  # noqa: E731
    assert w.min() >= 0 and w.sum() == pytest.approx(1.0)
    assert f(w) <= f(wb) + 1e-8 * max(1.0, np.abs(H).max())
    # KKT: on the support the gradient is constant ν; elsewhere it is ≥ ν
    grad = H @ w + g
    nu = grad[w > 1e-9].mean()
    assert np.all(grad >= nu - 1e-7)


def test_data_weights_equal_duplicated_rows():
    rng = np.random.default_rng(0)
    P, y = rng.standard_normal((8, 3)), rng.standard_normal(8)
    d = np.array([1, 2, 1, 3, 1, 1, 2, 1])
    w_weighted = oe.ensemble_weights(P, y, d)
    w_dup = oe.ensemble_weights(np.repeat(P, d, axis=0), np.repeat(y, d))
    np.testing.assert_allclose(w_weighted, w_dup, atol=1e-9)


def test_never_worse_than_best_single_on_fit_data():
    rng = np.random.default_rng(1)
    P, y = rng.standard_normal((30, 5)), rng.standard_normal(30)
    w = oe.ensemble_weights(P, y)
    assert oe.ensemble_mse(P, y, w) <= np.min(np.mean((P - y[:, None]) ** 2, axis=0)) + 1e-12


def test_family_contract_one_and_identical_models():
    P = np.array([[1.0], [2.0], [4.0]])
    y = np.array([0.0, 1.0, 1.0])
    np.testing.assert_array_equal(oe.ensemble_weights(P, y), [1.0])
    P3 = np.repeat(P, 3, axis=1)  # identical models: any convex weights give the same predictions
    w = oe.ensemble_weights(P3, y)
    assert w.sum() == pytest.approx(1.0) and w.min() >= 0
    np.testing.assert_allclose(P3 @ w, P[:, 0], atol=1e-12)


def test_bad_inputs():
    with pytest.raises(ValueError, match="P"):
        oe.ensemble_weights(np.zeros(3), np.zeros(3))
    with pytest.raises(ValueError, match="d"):
        oe.ensemble_weights(np.zeros((3, 2)), np.zeros(3), d=-np.ones(3))
    with pytest.raises(ValueError, match="H"):
        oe.simplex_qp(np.zeros((2, 3)), np.zeros(2))


def test_demo_claim_over_seeds(demo_result):
    """The QP ensemble is far better than the uniform average and within 2 % of model selection in every
    seed; whether it strictly beats selection varies (the claim flag says so honestly)."""
    for seed in (0, 1, 2):
        m = demo_result("optimal-ensemble-qp", seed)["metrics"]
        assert m["test_mse_qp"] < 0.9 * m["test_mse_uniform"]
        assert m["test_mse_qp"] < 1.02 * m["test_mse_best_single"]
