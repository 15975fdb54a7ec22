"""RSQ: Hadamard rotation, AttnCon against a hand case and the model's attention, weighted-Hessian GPTQ."""

import numpy as np
import pytest

from refimpl import Tensor
from refimpl.nn import TransformerBlock
from refimpl.techniques.quantization import quantizers as Q
from refimpl.techniques.quantization import rsq as R


def test_reference_cases():
    for case in R.reference_cases():
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


@pytest.mark.parametrize("seed", [0, 1])
def test_demo_gptq_part_of_the_claim(seed, demo_result):
    m = demo_result("rsq", seed)["metrics"]
    assert m["ppl_w3_gptq"] < m["ppl_w3_rtn"]
    assert m["werr_w3_gptq"] < 0.5 * m["werr_w3_rtn"]
