"""Bone / Bat (Kang, 2024; arXiv 2409.15371), as in HF PEFT tuners/bone/layer.py."""

import numpy as np
import pytest

import refimpl as rf
from refimpl.nn import Linear, Sequential
from refimpl.techniques.lowrank_peft_sharing import adapters as Bse
from refimpl.techniques.lowrank_peft_sharing import bone as BN

SLUG = "bone"


@pytest.mark.parametrize("case", BN.reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


def _loops_bat(W, Bm):
    """Independent oracle: explicit loops over the r×r blocks."""
    r = Bm.shape[1]
    out = np.zeros_like(W)
    for i in range(W.shape[0] // r):
        for j in range(W.shape[1] // r):
            blk = W[i * r : (i + 1) * r, j * r : (j + 1) * r]
            out[i * r : (i + 1) * r, j * r : (j + 1) * r] = blk @ Bm[i] + Bm[i]
    return out


def test_bat_matches_block_loop_and_unmerge_inverts():
    rng = np.random.default_rng(0)
    W, Bm = rng.normal(size=(6, 4)), 0.3 * rng.normal(size=(3, 2, 2))
    dW = BN.bat_delta(W, Bm).data
    np.testing.assert_allclose(dW, _loops_bat(W, Bm), atol=1e-12)
    np.testing.assert_allclose(BN.bat_unmerge(W + dW, Bm), W, atol=1e-10)
    rf.gradcheck(lambda w, b: BN.bat_delta(w, b), W, Bm)


def test_bone_forward_is_sum_of_input_chunks():
    rng = np.random.default_rng(1)
    D, x = rng.normal(size=(2, 3)), rng.normal(size=(5, 6))
    dW = BN.bone_delta(D, 6).data
    chunks = x.reshape(5, 3, 2).sum(axis=1)  # Σ_j x_j  (PEFT's forward)
    np.testing.assert_allclose(x @ dW.T, chunks @ D, atol=1e-12)
    assert np.linalg.matrix_rank(dW) <= 2
    rf.gradcheck(lambda d: BN.bone_delta(d, 6), D)


def test_adapters_counts_and_merge():
    layer = Linear(8, 6, dtype=np.float64, rng=np.random.default_rng(2))
    model = Sequential(layer)
    x = rf.tensor(np.random.default_rng(3).normal(size=(4, 8)))
    ads = Bse.attach(model, lambda n, l: BN.Bat.for_layer(l, 2))
    ad = ads["0"]
    assert ad.num_trainable() == 6 * 2 == ad.B.data.size
    ad.B.data[...] = np.random.default_rng(4).normal(scale=0.2, size=ad.B.shape)
    y = model(x).data.copy()
    Bse.merge(model)
    np.testing.assert_allclose(model(x).data, y, atol=1e-10)
    # the merged weight can also be unmerged PEFT's way, by the inverse
    np.testing.assert_allclose(
        BN.bat_unmerge(layer.parametrizations.weight.original.data, ad.B.data), ad._saved, atol=1e-10
    )
    assert BN.Bone.for_layer(layer, 2).num_trainable() == 2 * 6


def test_bad_block_sizes_are_named():
    with pytest.raises(ValueError, match="r=3"):
        BN.Bone(6, 8, 3)
    with pytest.raises(ValueError, match="r=4"):
        BN.Bat(6, 8, 4)
    with pytest.raises(ValueError, match="`r`"):
        BN.Bone(6, 8, 0)


def test_demo_runs_and_counts_are_comparable(demo_result):
    for seed in (0, 1):
        m = demo_result(SLUG, seed)["metrics"]
        assert m["params_lora4"] <= m["params_bone"] == m["params_bat"] <= m["params_lora5"]
        assert (
            min(m["acc_new_bone"], m["acc_new_bat"]) > 0.8
        )  # both adapt (at toy scale below LoRA, see notebook)
