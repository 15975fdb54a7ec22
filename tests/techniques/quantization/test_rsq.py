"""RSQ: Hadamard rotation, AttnCon against a hand case and the model's attention, weighted-Hessian GPTQ
(against brute force on the weighted objective), the quick run's code path, and the claims on the recorded
full result."""

import numpy as np
import pytest

from refimpl import Tensor
from refimpl.experiments import freshness, recorded
from refimpl.nn import TransformerBlock
from refimpl.techniques.quantization import quantizers as Q
from refimpl.techniques.quantization import rsq as R
from refimpl.techniques.quantization.rsq.cases import reference_cases

SLUG = "rsq"


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


def test_rotation_is_exact_before_quantization():
    rng = np.random.default_rng(0)
    W, X = rng.normal(size=(5, 16)), rng.normal(size=(30, 16))
    Rm = R.random_hadamard(16, 3)
    np.testing.assert_allclose((X @ Rm) @ (W @ Rm).T, X @ W.T, atol=1e-12)
    with pytest.raises(ValueError, match="power of two"):
        R.hadamard(12)


def test_block_attention_matches_the_layer():
    # the attention probabilities we recompute reproduce the block's attention output (independent path)
    blk = TransformerBlock(8, 2, 16, dtype=np.float64, rng=0)
    x = np.random.default_rng(1).normal(size=(2, 5, 8))
    p = R.block_attention(blk, Tensor(x))
    np.testing.assert_allclose(p.sum(-1), 1.0)
    assert np.all(np.triu(p[0, 0], 1) == 0)  # causal
    mha = blk.self_attn
    h = blk.norm1(Tensor(x)).data
    W, b = mha.in_proj_weight.data, mha.in_proj_bias.data
    v = (h @ W[16:].T + b[16:]).reshape(2, 5, 2, 4).transpose(0, 2, 1, 3)
    ctx = (p @ v).transpose(0, 2, 1, 3).reshape(2, 5, 8)
    ref = mha(blk.norm1(Tensor(x)), is_causal=True).data
    np.testing.assert_allclose(ctx @ mha.out_proj.weight.data.T + mha.out_proj.bias.data, ref, atol=1e-10)


def test_weighted_gptq_lowers_the_weighted_error():
    rng = np.random.default_rng(2)
    W = rng.normal(size=(8, 16))
    X = np.concatenate(
        [
            rng.normal(size=(20, 16)) @ rng.normal(size=(16, 16)),  # important tokens: other statistics
            rng.normal(size=(180, 16)) * np.linspace(0.1, 2, 16),
        ]
    )
    r = np.where(np.arange(200) < 20, 10.0, 1.0)
    plain = R.rsq_quantize(W, X, 3, rotate=False)
    weighted = R.rsq_quantize(W, X, 3, importance=r, rotate=False)
    assert R.weighted_error(W, weighted, X, r) < R.weighted_error(W, plain, X, r)
    # with r = 1 and no rotation it is exactly the family's GPTQ (quantizers.gptq)
    qfn, _ = R.sym_grid_quantizer(W, 3)
    np.testing.assert_allclose(plain, Q.gptq(W, Q.hessian(X), qfn), atol=1e-12)


def test_weighted_hessian_is_the_weighted_objective():
    # ½ (w − ŵ)ᵀ H (w − ŵ) with H = 2Xᵀdiag(r)X/Σr equals Σ_t r_t ((w − ŵ)·x_t)² / Σr, for any ŵ
    rng = np.random.default_rng(5)
    X, r, d = rng.normal(size=(40, 6)), rng.uniform(1, 3, 40), rng.normal(size=6)
    H = Q.hessian(X, r)
    np.testing.assert_allclose(0.5 * d @ H @ d, np.sum(r * (X @ d) ** 2) / r.sum(), rtol=1e-12)


def test_gptq_on_the_weighted_hessian_is_optimal_for_one_row_of_two_columns():
    # brute force over the grid: with two columns GPTQ's greedy step is the best second value given the
    # first, on the *weighted* objective
    rng = np.random.default_rng(6)
    X, r = rng.normal(size=(50, 2)) @ np.array([[1.0, 0.8], [0.0, 0.6]]), rng.uniform(1, 3, 50)
    w = np.array([[0.37, -0.21]])
    step = 0.1
    got = Q.gptq(w, Q.hessian(X, r), lambda c, j: np.rint(c / step) * step, percdamp=0.0)
    q1 = np.rint(w[0, 0] / step) * step
    grid = np.arange(-20, 21) * step
    obj = [np.sum(r * (X @ (w[0] - [q1, q2])) ** 2) for q2 in grid]
    assert got[0, 0] == q1 and np.isclose(got[0, 1], grid[int(np.argmin(obj))])


def test_sequence_importance_weighs_every_sequence_equally():
    attn = np.random.default_rng(7).dirichlet(np.ones(5), size=(3, 2, 5))[:, :, :, :]
    attn = attn * np.tril(np.ones((5, 5)))
    attn /= attn.sum(-1, keepdims=True)
    r = R.sequence_importance(attn, 1.0, 3.0).reshape(3, 5)
    np.testing.assert_allclose(r.mean(axis=1), 1.0)
    assert np.all(np.argmax(r, axis=1) == np.argmax(attn.sum(1).sum(1), axis=1))


# ---- the experiment ---------------------------------------------------------------------------------------
def test_quick_run_code_path_and_premises(quick_result):
    r = quick_result(SLUG)
    assert r.smoke
    assert [p["metric"] for p in r.premises] == [
        "input_outlier_ratio",
        "outlier_ratio_drop",
        "attn_concentration",
    ] * 3
    for p in r.premises:
        assert all(np.isfinite(p["values"]))
    # the synthetic inputs carry the outlier channels the rotation is for, and the rotation removes them
    for s in ("outlier-attn", "sink-attn"):
        assert min(r.values(f"GPTQ+rot@{s}", "input_outlier_ratio")) > 10
        assert max(r.values(f"GPTQ+rot@{s}", "rotated_input_outlier_ratio")) < 2
    r.validate()


def full():
    assert freshness(SLUG) == "fresh", f"run `refimpl record {SLUG}`"
    return recorded(SLUG)


def _paired(r, metric, a, b):
    return np.array(r.values(a, metric)) - np.array(r.values(b, metric))


def test_full_run_premises_measured():
    r = full()
    assert len(r.seeds) >= 5
    # the tiny trained LM has no outlier channels, and the rotation raises its (already low) outlier ratio
    assert max(r.values("GPTQ+rot@char-lm", "input_outlier_ratio")) < 2.0
    assert max(r.values("GPTQ+rot@char-lm", "outlier_ratio_drop")) < 0
    assert max(r.values("RSQ@char-lm", "attn_concentration")) < 2.0  # and its attention is nearly flat
    for s in ("outlier-attn", "sink-attn"):  # the synthetic inputs have them, and the rotation removes them
        assert min(r.values(f"GPTQ+rot@{s}", "input_outlier_ratio")) > 10
        assert max(r.values(f"GPTQ+rot@{s}", "rotated_input_outlier_ratio")) < 1.5
        assert min(r.values(f"RSQ@{s}", "attn_concentration")) > 5


def _ratio(r, s, a, b):
    return np.array(r.values(f"{a}@{s}", "test_err")) / np.array(r.values(f"{b}@{s}", "test_err"))


def test_full_run_token_weighting_helps_where_the_important_token_differs():
    r = full()
    # attention sink with its own input: RSQ below GPTQ + the same rotation (interval below 0, 5 % on average)
    iv = r.claim("sink-attn: RSQ's token weighting lowers the error below GPTQ with the same rotation")[
        "interval"
    ]
    assert iv["high"] < 0, iv
    assert _ratio(r, "sink-attn", "RSQ", "GPTQ+rot").mean() < 0.95
    # the measured limit: where the attended tokens are drawn like the rest (outlier-attn), the weighting
    # changes the error by under 5 % on every seed.  The interval straddled zero until the baselines'
    # damping grid was widened; now GPTQ + rotation picks 0.001 and RSQ is ahead by about 1.5 % (holds,
    # narrowly: the interval's far end is 2.5 % of the mean error)
    ratio = _ratio(r, "outlier-attn", "RSQ", "GPTQ+rot")
    assert np.abs(ratio - 1).max() < 0.05 and ratio.mean() < 1, ratio
    iv = r.claim("outlier-attn: RSQ's token weighting lowers the error")["interval"]
    scale = np.mean(r.values("GPTQ+rot@outlier-attn", "test_err"))
    assert iv["high"] < 0 and -iv["low"] < 0.03 * scale, iv


def test_full_run_rotation_pays_only_with_outlier_channels():
    r = full()
    for s in (
        "outlier-attn",
        "sink-attn",
    ):  # GPTQ + rotation keeps under a quarter of GPTQ's error, every seed
        assert _ratio(r, s, "GPTQ+rot", "GPTQ").max() < 0.25
    # the measured contradiction on the LM without outliers: the rotation raises the perplexity increase
    iv = r.claim("char-lm: the rotation lowers GPTQ's error")["interval"]
    assert iv["low"] > 0, iv
