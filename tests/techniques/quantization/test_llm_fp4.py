"""LLM-FP4: the real-bias FP quantizer against the integer-bias format and brute force, the pre-shift
(Ŵ = Q(W)·2^−k, on W's own grid; deployed = simulated), the format chosen by layer-output error, the quick
run's code path, and the paper's claims on the recorded full result."""

import numpy as np
import pytest

from refimpl.experiments import freshness, recorded, tasks
from refimpl.techniques.quantization import fp_formats as F
from refimpl.techniques.quantization import llm_fp4 as L
from refimpl.techniques.quantization.llm_fp4.cases import reference_cases

SLUG = "llm-fp4"


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


@pytest.mark.parametrize("e,m", [(1, 2), (2, 1), (3, 0), (4, 3)])
def test_integer_bias_equals_the_enumerated_format(e, m):
    # with an integer bias b the quantizer is the all-finite E{e}M{m} format of bias b: brute force
    fmt = F.FPFormat(e, m, bias=2, special="none")
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


def _outlier_layer(seed=0, n=128):
    W = tasks.weight_matrix((16, 32), "gaussian", seed=seed).astype(np.float64)
    X = tasks.weight_matrix((n, 32), "outlier_channels", seed=seed + 1).astype(np.float64) * np.sqrt(32)
    return W, X


def test_preshift_keeps_q_w_and_absorbs_2_pow_minus_k_losslessly():
    W, X = _outlier_layer()
    r = L.search_layer(W, X, per_channel_act=True, grid=10, rounds=1)
    k, e, m = r["k"], r["exp_bits_w"], 3 - r["exp_bits_w"]
    assert k.max() > 0  # the outlier layer does shift some channels
    # Ŵ·2^k lies on W's own grid: it is Q(W), a fixed point of W's quantizer (per-row bias)
    w_bias = L.bias_from_maxval(r["w_maxval"], e, m)[:, None]
    back = r["W_hat"] * 2.0**k
    np.testing.assert_array_equal(back, r["W_q"])
    np.testing.assert_array_equal(L.fpq(back, e, m, w_bias), back)
    np.testing.assert_array_equal(L.fpq(W, e, m, w_bias), r["W_q"])  # Q applied to W itself, not to W·2^−k
    # deployed (one tensor bias ρ on Q_ρ(X·2^k), weights Q(W)·2^−k) = simulated per-channel biases ρ + k_j
    ea = r["exp_bits_a"]
    rho = L.bias_from_maxval(r["a_maxval"], ea, 3 - ea)
    per_channel = L.fpq(X, ea, 3 - ea, rho + k)  # the code's direct per-channel quantization
    np.testing.assert_array_equal(r["quantize_input"](X) @ r["W_hat"].T, per_channel @ r["W_q"].T)
    assert set(np.unique(k)) <= {0.0, 1.0, 2.0, 3.0}


def test_preshift_lowers_the_search_loss_on_outlier_channels():
    W, X = _outlier_layer(1)
    plain = L.search_layer(W, X, grid=12, rounds=1)
    shifted = L.search_layer(W, X, per_channel_act=True, grid=12, rounds=1)
    assert shifted["loss"] < plain["loss"]


def test_format_is_chosen_by_layer_output_error():
    # brute force over the weight formats in round 1: the activations are then quantized as initialised
    # (E2M1, clipping range max|X|); each weight format at its best per-row clipping on the same grid; the
    # search must keep the format with the least *layer-output* error
    W, X = _outlier_layer(0)
    r = L.search_layer(W, X, grid=10, rounds=1)
    ref = X @ W.T
    Xh = L.fpq(X, 2, 1, L.bias_from_maxval(np.abs(X).max(), 2, 1))
    base = np.abs(W).max(1, keepdims=True)
    ratios = np.linspace(0.01, 1.2, 10)

    def best_err(e):
        m = 3 - e
        errs = [
            ((ref - Xh @ L.fpq(W, e, m, L.bias_from_maxval(q * base, e, m)).T) ** 2).sum(0) for q in ratios
        ]
        return float(np.min(errs, axis=0).sum())

    def tensor_err(e):  # the rule this replaces: the weight tensor's own quantization error
        m = 3 - e
        errs = [((W - L.fpq(W, e, m, L.bias_from_maxval(q * base, e, m))) ** 2).sum(1) for q in ratios]
        return float(np.min(errs, axis=0).sum())

    assert r["exp_bits_w"] == min((1, 2, 3), key=best_err)
    assert min((1, 2, 3), key=tensor_err) != r["exp_bits_w"]  # on this layer the two rules disagree


def test_search_beats_minmax_and_bad_inputs():
    W, X = _outlier_layer(3)
    r = L.search_layer(W, X, grid=12, rounds=1)
    e, ea = r["exp_bits_w"], r["exp_bits_a"]
    naive_w = L.fpq(W, e, 3 - e, L.bias_from_maxval(np.abs(W).max(1, keepdims=True), e, 3 - e))
    naive_x = L.fpq(X, ea, 3 - ea, L.bias_from_maxval(np.abs(X).max(), ea, 3 - ea))
    assert r["loss"] <= np.mean((X @ W.T - naive_x @ naive_w.T) ** 2)
    with pytest.raises(ValueError, match="kind"):
        L.search_layer(W, X, kind="nf4")
    with pytest.raises(ValueError, match="X"):
        L.search_layer(W, X[:, :3])
    with pytest.raises(ValueError, match="kind='fp'"):
        L.search_layer(W, X, kind="int", per_channel_act=True)
    with pytest.raises(ValueError, match="alpha"):
        L.search_layer(W, X, alpha=0.0)


def test_int_search_is_on_a_symmetric_int4_grid():
    W, X = _outlier_layer(4)
    r = L.search_layer(W, X, kind="int", grid=8, rounds=1)
    s = r["w_maxval"][:, None] / 7
    codes = r["W_q"] / s
    np.testing.assert_allclose(codes, np.rint(codes), atol=1e-9)
    assert np.abs(np.rint(codes)).max() <= 8 and r["exp_bits_w"] is None


# ---- the experiment ---------------------------------------------------------------------------------------
def test_quick_run_code_path_and_premises(quick_result):
    r = quick_result(SLUG)
    assert r.smoke
    assert [p["metric"] for p in r.premises] == [
        "weight_kurtosis",
        "weight_kurtosis",
        "act_outlier_ratio",
        "act_outlier_ratio",
    ]
    for p in r.premises:
        assert all(np.isfinite(p["values"]))
    assert r.values("LLM-FP4@outlier-layer", "mean_shift_k")[0] > 0  # the pre-shift is exercised
    assert r.values("INT4@digits-mlp", "exp_bits_w") == [0.0] * len(r.seeds)  # INT: no format


def full():
    assert freshness(SLUG) == "fresh", f"run `refimpl record {SLUG}`"
    return recorded(SLUG)


def _paired(r, metric, a, b):
    return np.array(r.values(a, metric)) - np.array(r.values(b, metric))


def test_full_run_premises_measured():
    r = full()
    assert len(r.seeds) >= 5
    kurt = np.array(r.values("FP4@digits-mlp", "weight_kurtosis"))
    assert 3.0 < kurt.mean() < 3.5, kurt  # trained from a normal init: Gaussian-like tails, not heavy ones
    assert min(r.values("FP4@laplace-layer", "weight_kurtosis")) > 4.5
    assert min(r.values("LLM-FP4@outlier-layer", "act_outlier_ratio")) > 4.0
    assert max(r.values("LLM-FP4@digits-mlp", "act_outlier_ratio")) < 2.0  # the MLP lacks the spread


def test_full_run_fp4_beats_int4_at_equal_bits():
    r = full()
    mlp = _paired(r, "test_err", "FP4@digits-mlp", "INT4@digits-mlp")
    assert mlp.max() < 0, mlp  # every seed: FP4 search has the lower layer-output error
    assert (
        r.claim("At equal bits, FP4 search has a lower W4A4 layer-output error than INT4 search (trained")[
            "interval"
        ]["high"]
        < 0
    )
    lap = _paired(r, "test_err", "FP4@laplace-layer", "INT4@laplace-layer")
    base = np.array(r.values("INT4@laplace-layer", "test_err"))
    assert np.all(lap < -0.1 * base), lap / base  # heavy tails: at least a tenth of INT4's error, every seed


def test_full_run_lower_error_does_not_show_as_accuracy_on_the_mlp():
    # the measured result, not the paper's: FP4's lower layer error does not raise the W4A4 MLP's accuracy
    # above INT4's on this toy; the two stay within a point of each other (the interval straddles zero)
    r = full()
    iv = r.claim("W4A4 FP4 search keeps a higher test accuracy")["interval"]
    assert iv["low"] < 0 < iv["high"] and abs(iv["mean"]) < 0.01, iv


def test_full_run_preshift_lowers_error_on_outlier_channels():
    r = full()
    d = _paired(r, "test_err", "LLM-FP4@outlier-layer", "FP4@outlier-layer")
    base = np.array(r.values("FP4@outlier-layer", "test_err"))
    assert np.all(d < -0.5 * base), d / base  # at least half of FP4's error removed on every seed
    # without the spread (the MLP, premise absent) the pre-shift changes little: under a tenth on average
    m = _paired(r, "test_err", "LLM-FP4@digits-mlp", "FP4@digits-mlp")
    assert abs(m.mean()) < 0.1 * np.mean(r.values("FP4@digits-mlp", "test_err")), m
