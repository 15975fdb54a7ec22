"""Structured FFNs and self-guided training (Wei et al., 2024; arXiv 2406.16450)."""

import numpy as np
import pytest

import refimpl as rf
from refimpl.nn import functional_call
from refimpl.techniques.lowrank_peft_sharing import structured_ffn as S

SLUG = "structured-ffn"


@pytest.mark.parametrize("case", S.reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


def test_blockdense_equals_dense_matrix_with_zeros_and_gradcheck():
    layer = S.BlockDenseLinear(8, 6, rank=4, nblocks=2, dtype=np.float64, rng=0)
    x = np.random.default_rng(1).normal(size=(2, 3, 8))
    W = layer.L.data @ S.block_diag(layer.D.data)
    np.testing.assert_allclose(layer(rf.tensor(x)).data, x @ W.T + layer.bias.data, atol=1e-12)
    np.testing.assert_allclose(S.block_diag(layer.D.data)[:2, 4:], 0)  # off-diagonal blocks are zero
    rf.gradcheck(
        lambda d, l_, xx: functional_call(layer, {"D": d, "L": l_}, xx),
        layer.D.data.copy(),
        layer.L.data.copy(),
        x[0],
    )


def test_lowrank_svd_init_and_rank():
    layer = S.LowRankLinear(10, 7, rank=3, dtype=np.float64, rng=0)
    W = layer.dense_weight()
    assert np.linalg.matrix_rank(W) == 3
    # the official post-init: U and Vᵀ share the same √S, so UᵀU = V Vᵀ = diag(S_r)
    np.testing.assert_allclose(layer.U.data.T @ layer.U.data, layer.V.data @ layer.V.data.T, atol=1e-10)
    x = np.random.default_rng(1).normal(size=(4, 10))
    rf.gradcheck(
        lambda u, v, xx: functional_call(layer, {"U": u, "V": v}, xx),
        layer.U.data.copy(),
        layer.V.data.copy(),
        x,
    )


def test_self_guided_starts_as_the_structured_function_and_mixes():
    layer = S.LowRankLinear(6, 5, rank=2, guided=True, dtype=np.float64, rng=0)
    x = rf.tensor(np.random.default_rng(2).normal(size=(3, 6)))
    np.testing.assert_allclose(layer.guide.data, layer.dense_weight(), atol=1e-12)  # W_g ← structured product
    layer.alpha = 1.0
    y1 = layer(x).data.copy()
    layer.alpha = 0.0
    np.testing.assert_allclose(layer(x).data, y1, atol=1e-12)  # same function at initialisation
    layer.guide.data += 1.0
    layer.alpha = 0.25
    expect = 0.25 * x.data @ layer.guide.data.T + 0.75 * x.data @ layer.dense_weight().T + layer.bias.data
    np.testing.assert_allclose(layer(x).data, expect, atol=1e-12)
    assert layer.num_structured() == 2 * (6 + 5) + 5


def test_guide_ratio_schedule_and_errors():
    vals = [S.guide_ratio(t, 8) for t in range(10)]
    assert vals[0] == 1.0 and vals[8] == 0.0 and vals[9] == 0.0
    assert all(a >= b for a, b in zip(vals, vals[1:]))
    with pytest.raises(ValueError, match="t_max"):
        S.guide_ratio(0, 0)
    with pytest.raises(ValueError, match="nblocks"):
        S.BlockDenseLinear(6, 4, rank=4, nblocks=4)
    with pytest.raises(ValueError, match="rank"):
        S.LowRankLinear(4, 4, rank=5)


def test_demo_equal_parameters_and_sane_losses(demo_result):
    # one seed only: a quick LM run costs ~10 s; the loss differences of quick runs are within noise anyway
    # (the full-run comparison is reported in the notebook)
    for seed in (0,):
        m = demo_result(SLUG, seed)["metrics"]
        for k in ("lowrank", "blockdense"):
            assert abs(m[f"params_{k}"] - m["params_narrow"]) / m["params_narrow"] < 0.07  # ≈ equal FFN size
        assert m["params_dense"] > 2 * m["params_narrow"]
        assert all(1.5 < m[k] < 3.5 for k in m if k.startswith("val_loss"))
