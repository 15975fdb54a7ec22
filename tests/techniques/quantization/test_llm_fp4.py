"""LLM-FP4: the real-bias FP quantizer against the base format and brute force, the pre-shift identity,
the search, the demo's claim."""

import numpy as np
import pytest

from refimpl.techniques.quantization import _base as B
from refimpl.techniques.quantization import llm_fp4 as L


def test_reference_cases():
    for case in L.reference_cases():
        case.check()


@pytest.mark.parametrize("e,m", [(1, 2), (2, 1), (3, 0), (4, 3)])
def test_integer_bias_equals_the_enumerated_format(e, m):
    # with an integer bias b the quantizer is the all-finite E{e}M{m} format of bias b: brute force
    fmt = B.FPFormat(e, m, bias=2, special="none")
    vals = fmt.values()
    x = np.random.default_rng(0).uniform(-1.3, 1.3, 500) * fmt.max_value
    got = L.fpq(x, e, m, 2.0)
    assert np.all(np.isin(got, vals))
    nearest = vals[np.argmin(np.abs(x[:, None] - vals[None]), axis=1)]
    np.testing.assert_array_equal(got, nearest)  # random x: no ties
    assert L.maxval_from_bias(2.0, e, m) == fmt.max_value


def test_bias_maxval_roundtrip():
    for e, m in [(2, 1), (3, 0), (1, 2)]:
        mv = np.array([0.1, 3.7, 250.0])
        np.testing.assert_allclose(L.maxval_from_bias(L.bias_from_maxval(mv, e, m), e, m), mv)


def test_preshift_reparameterisation_is_exact_for_a_layer():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(16, 8)) * 2.0 ** rng.integers(0, 5, 8)
    W = rng.normal(size=(4, 8))
    r = L.search_layer(W, X, per_channel_act=True, grid=10, rounds=1)
    k = r["k"]
    # Q_ρ(X 2^k) (W 2^−k)ᵀ equals the per-channel-bias quantization of X times the same weights
    mv = r["a_maxval"]
    e = r["exp_bits_a"]
    rho = L.bias_from_maxval(mv, e, 3 - e)
    per_channel = L.fpq(X, e, 3 - e, rho + k)
    np.testing.assert_allclose(
        r["quantize_input"](X) @ r["W_hat"].T, per_channel @ (r["W_hat"] * 2.0**k).T, rtol=1e-12, atol=1e-12
    )
    assert set(np.unique(k)) <= {0.0, 1.0, 2.0, 3.0}


def test_search_beats_minmax_and_bad_inputs():
    W, Xc, Xt = L.outlier_channel_layer(0, n=64)
    r = L.search_layer(W, Xc, grid=12, rounds=1)
    e = r["exp_bits_w"]
    naive = L.fpq(W, e, 3 - e, L.bias_from_maxval(np.abs(W).max(1, keepdims=True), e, 3 - e))
    naive_x = L.fpq(
        Xc,
        r["exp_bits_a"],
        3 - r["exp_bits_a"],
        L.bias_from_maxval(np.abs(Xc).max(), r["exp_bits_a"], 3 - r["exp_bits_a"]),
    )
    assert r["loss"] <= np.mean((Xc @ W.T - naive_x @ naive.T) ** 2)
    with pytest.raises(ValueError, match="kind"):
        L.search_layer(W, Xc, kind="nf4")
    with pytest.raises(ValueError, match="X"):
        L.search_layer(W, Xc[:, :3])


@pytest.mark.parametrize("seed", [0, 1])
def test_demo_claim_holds(seed, demo_result):
    r = demo_result("llm-fp4", seed)
    m = r["metrics"]
    assert r["claim"]["holds"], r["table"]
    assert m["wmse_laplace_fp4"] < 0.85 * m["wmse_laplace_int4"]
    assert m["outlier_err_fp4_search"] < 0.9 * m["outlier_err_int4_search"]
    assert m["outlier_err_fp4_preshift"] < m["outlier_err_fp4_search"]
