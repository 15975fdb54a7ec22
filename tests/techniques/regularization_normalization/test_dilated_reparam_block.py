"""Dilated Reparam Block of UniRepLKNet (Ding et al., 2024; arXiv 2311.15599)."""

import copy

import numpy as np
import pytest

import refimpl as rf
from refimpl.autograd.tensor import Tensor, no_grad
from refimpl.techniques.regularization_normalization import dilated_reparam_block as drb


@pytest.mark.parametrize("case", drb.reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


def _dw_loop_1d(x, w, dilation):
    """Oracle: direct 'same' depthwise 1-D convolution, x (N, C, L), w (C, 1, k)."""
    k = w.shape[-1]
    pad = dilation * (k - 1) // 2
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad)))
    out = np.zeros_like(x)
    for i in range(x.shape[2]):
        for j in range(k):
            out[:, :, i] += w[None, :, 0, j] * xp[:, :, i + j * dilation]
    return out


def test_training_form_matches_a_loop_oracle_and_merge_is_exact():
    rng = np.random.default_rng(0)
    blk = drb._randomised_block(1, rng)
    x = rng.normal(size=(2, 3, 20))
    ref = 0.0
    for conv, bn, r in [(blk.lk, blk.lk_bn, 1)] + [(c, b, r) for (c, b), r in zip(blk.convs, blk.dils)]:
        s = bn.weight.data / np.sqrt(bn.running_var + bn.eps)
        ref = (
            ref
            + s[None, :, None] * (_dw_loop_1d(x, conv.weight.data, r) - bn.running_mean[None, :, None])
            + bn.bias.data[None, :, None]
        )
    with no_grad():
        got = blk(Tensor(x)).data
        merged = copy.deepcopy(blk).merge()(Tensor(x)).data
    assert np.max(np.abs(got - ref)) < 1e-12
    assert np.max(np.abs(merged - ref)) < 1e-12


@pytest.mark.parametrize("k", sorted(drb.BRANCHES))
def test_every_official_setting_merges_exactly_in_2d(k):
    rng = np.random.default_rng(k)
    blk = drb.DilatedReparamBlock(2, k, ndim=2, dtype=np.float64, rng=rng)
    for bn in [blk.lk_bn] + [b for _, b in blk.convs]:
        bn.weight.data[...] = rng.uniform(0.5, 2, 2)
        bn.running_var[...] = rng.uniform(0.5, 2, 2)
        bn.running_mean[...] = rng.normal(size=2)
    blk.eval()
    x = rng.normal(size=(1, 2, k + 2, k + 2))
    with no_grad():
        a = blk(Tensor(x)).data
        b = copy.deepcopy(blk).merge()(Tensor(x)).data
    assert np.max(np.abs(a - b)) < 1e-10
    assert all(r * (kk - 1) + 1 <= k for kk, r in zip(blk.ks, blk.dils))


def test_gradcheck_training_form():
    rng = np.random.default_rng(1)
    blk = drb._randomised_block(1, rng)
    x = rng.normal(size=(1, 3, 9))
    rf.gradcheck(lambda x: blk(x), x)


def test_bad_arguments():
    with pytest.raises(ValueError, match="kernel_size"):
        drb.branch_config(6)
    with pytest.raises(ValueError, match="ndim"):
        drb.DilatedReparamBlock(2, 7, ndim=3)


@pytest.mark.parametrize("seed", [0, 1])
def test_demo_merge_is_exact_at_deploy_cost(seed, demo_result):
    r = demo_result("dilated-reparam-block", seed)
    rf.catalog.check_demo_result(r)
    assert r["claim"]["holds"]
    assert r["metrics"]["max_abs_logit_diff_merged"] < 1e-10
    drb_rows = [row for row in r["table"] if row["model"] == "drb"]
    assert all(row["test_acc"] == row["test_acc_deployed"] for row in drb_rows)
    assert all(row["params_deploy"] < row["params_train"] for row in drb_rows)
