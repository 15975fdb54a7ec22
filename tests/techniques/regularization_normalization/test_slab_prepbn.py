"""SLAB: RepBN / PRepBN and simplified linear attention (Guo et al., 2024; arXiv 2405.11582)."""

import numpy as np
import pytest

import refimpl as rf
from refimpl.autograd.tensor import Tensor, no_grad
from refimpl.techniques.regularization_normalization import slab_prepbn as sl


@pytest.mark.parametrize("case", sl.reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


def test_repbn_train_mode_is_token_batchnorm_plus_alpha_x():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 5, 4))
    rep = sl.RepBN(4)
    rep.alpha.data[...] = 0.7
    y = rep(Tensor(x)).data
    mu, var = x.mean(axis=(0, 1)), x.var(axis=(0, 1))  # statistics over batch and tokens, per channel
    assert np.allclose(y, (x - mu) / np.sqrt(var + 1e-5) + 0.7 * x, atol=1e-12)


def test_linear_norm_follows_the_schedule_and_eval_uses_repbn():
    rng = np.random.default_rng(1)
    x = Tensor(rng.normal(size=(2, 3, 4)))
    ln = sl.LinearNorm(4, total=2, warm=1)
    outs = [ln(x).data for _ in range(4)]
    with no_grad():
        ln.train(False)
        a, r = ln.norm1(x).data, ln.norm2(x).data
        assert np.allclose(ln(x).data, r)
    assert np.allclose(outs[0], a)  # warm-up: LN only
    assert np.allclose(outs[1], a)  # λ = 1 (first post-warm-up call)
    # λ = 0.5 on the next call; RepBN in train mode uses batch statistics (same batch → same value)
    ln.train(True)
    assert not np.allclose(outs[2], a)


def _np_sla(q, k, v, w, b, grid):
    q, k = np.maximum(q, 0), np.maximum(k, 0)
    num = q @ (np.swapaxes(k, -1, -2) @ v)
    den = (q * k.sum(axis=2, keepdims=True)).sum(-1, keepdims=True) + 1e-6
    bsz, h, n, d = v.shape
    vg = np.swapaxes(v, -1, -2).reshape(bsz, h, d, grid, grid)
    kk = w.shape[-1]
    pad = kk // 2
    vp = np.pad(vg, ((0, 0), (0, 0), (0, 0), (pad, pad), (pad, pad)))
    conv = np.zeros_like(vg)
    for i in range(grid):
        for j in range(grid):
            conv[..., i, j] = np.einsum("bhdkl,dkl->bhd", vp[..., i : i + kk, j : j + kk], w[:, 0]) + b
    conv = np.swapaxes(conv.reshape(bsz, h, d, n), -1, -2)
    return num / den + conv


def test_linear_attention_matches_numpy_oracle_and_gradcheck():
    rng = np.random.default_rng(2)
    q, k, v = (rng.normal(size=(2, 2, 9, 3)) for _ in range(3))
    w, b = rng.normal(size=(3, 1, 3, 3)), rng.normal(size=3)
    got = sl.simplified_linear_attention(Tensor(q), Tensor(k), Tensor(v), Tensor(w), Tensor(b), 3).data
    assert np.max(np.abs(got - _np_sla(q, k, v, w, b, 3))) < 1e-10
    qp, kp = np.abs(q) + 0.1, np.abs(k) + 0.1  # away from the ReLU kink
    rf.gradcheck(lambda q, k, v, w: sl.simplified_linear_attention(q, k, v, w, None, 3), qp, kp, v, w)


def test_fold_removes_every_norm_and_is_exact():
    m = sl._randomised_eval_model(3)
    folded = sl.fold_model(m)
    assert not any(isinstance(mod, (sl.RepBN, sl.LinearNorm)) for mod in folded.modules())
    x = sl.TinyViT.patches(np.random.default_rng(4).uniform(size=(5, 64)))
    with no_grad():
        assert np.max(np.abs(m(Tensor(x)).data - folded(Tensor(x)).data)) < 1e-10


def test_bad_arguments():
    with pytest.raises(ValueError, match="norm"):
        sl.TinyViT("rms")
    with pytest.raises(ValueError, match="total"):
        sl.progressive_lambda(0, 0)
    with pytest.raises(TypeError, match="RepBN"):
        sl.fold_model(sl.TinyViT("ln", depth=1))


def test_demo_fold_exact_and_reported(demo_result):
    r = demo_result("slab-prepbn", 0)
    rf.catalog.check_demo_result(r)
    assert r["checks"]["fold_exact"]
    assert r["metrics"]["test_acc_prepbn"] > 0.4  # trains well above chance (0.1)
    assert r["claim"]["holds"] == all(r["checks"].values())
