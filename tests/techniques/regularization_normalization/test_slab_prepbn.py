"""SLAB (RepBN / PRepBN and simplified linear attention): hand cases, NumPy oracles, gradients, the
schedule, the fold, the quick run's code path, and the claims on the recorded full result."""

import numpy as np
import pytest

import refimpl as rf
from refimpl.autograd.tensor import Tensor, no_grad
from refimpl.experiments import freshness, recorded
from refimpl.nn.layers.linear import Linear
from refimpl.techniques.regularization_normalization import slab_prepbn as sl
from refimpl.techniques.regularization_normalization.slab_prepbn import experiment as E
from refimpl.techniques.regularization_normalization.slab_prepbn.cases import reference_cases


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
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


def test_gradcheck_repbn_train_mode():
    rng = np.random.default_rng(5)
    rep = sl.RepBN(3)
    rep.alpha.data[...] = 0.4
    rf.gradcheck(lambda x: rep(x), rng.normal(size=(2, 4, 3)))


def test_linear_norm_follows_the_schedule_and_eval_uses_repbn():
    rng = np.random.default_rng(1)
    x = Tensor(rng.normal(size=(2, 3, 4)))
    ln = sl.LinearNorm(4, total=2, warm=1)
    outs = [ln(x).data for _ in range(4)]
    with no_grad():
        a, r = ln.norm1(x).data, ln.norm2(x).data  # LN, and RepBN with batch statistics (train mode)
        ln.train(False)
        assert np.allclose(ln(x).data, ln.norm2(x).data)  # eval: RepBN (running statistics) only
    assert np.allclose(outs[0], a)  # warm-up: LN only
    assert np.allclose(outs[1], a)  # λ = 1 (first post-warm-up call)
    assert np.allclose(outs[2], 0.5 * a + 0.5 * r)  # λ = 0.5
    assert np.allclose(outs[3], r)  # λ = 0 from then on


def test_linear_norm_gradient_splits_by_lambda():
    """∂y/∂θ_LN = λ ∂LN/∂θ_LN and ∂y/∂θ_Rep = (1 − λ) ∂RepBN/∂θ_Rep: at λ = 1 RepBN gets no gradient, at
    λ = 0 LN gets none."""
    rng = np.random.default_rng(2)
    x = Tensor(rng.normal(size=(2, 3, 4)))
    ln = sl.LinearNorm(4, total=1)
    for expect_ln in (True, False):  # call 0: λ = 1; call 1: λ = 0
        ln.zero_grad()
        y = ln(x)
        (y * y).sum().backward()
        g_ln = np.abs(ln.norm1.weight.grad).sum()
        g_rep = np.abs(ln.norm2.alpha.grad).sum() + np.abs(ln.norm2.bn.weight.grad).sum()
        assert (g_ln > 0) == expect_ln and (g_rep > 0) != expect_ln


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


def test_linear_attention_equals_the_quadratic_form():
    """Associativity: ReLU(Q)(ReLU(K)ᵀV) = (ReLU(Q)ReLU(K)ᵀ)V, row-normalised — the linear-cost form is exact."""
    rng = np.random.default_rng(3)
    q, k, v = (rng.normal(size=(1, 1, 4, 2)) for _ in range(3))
    zero_w, zero_b = np.zeros((2, 1, 1, 1)), np.zeros(2)
    got = sl.simplified_linear_attention(
        Tensor(q), Tensor(k), Tensor(v), Tensor(zero_w), Tensor(zero_b), 2
    ).data
    a = np.maximum(q, 0) @ np.swapaxes(np.maximum(k, 0), -1, -2)  # (N × N) attention scores
    assert np.allclose(got, (a @ v) / (a.sum(-1, keepdims=True) + 1e-6), atol=1e-12)


@pytest.mark.parametrize("norm", ["prepbn", "repbn", "bn"])
def test_fold_removes_every_norm_and_is_exact(norm):
    m = sl.randomised_eval_model(3, norm)
    folded = sl.fold_model(m)
    assert not any(isinstance(mod, (sl.TokenBN, sl.LinearNorm)) for mod in folded.modules())
    x = sl.TinyViT.patches(np.random.default_rng(4).uniform(size=(5, 64)))
    with no_grad():
        assert np.max(np.abs(m(Tensor(x)).data - folded(Tensor(x)).data)) < 1e-10


def test_tinyvit_starts_like_deit():
    m = sl.TinyViT("ln", depth=2, rng=0)
    for mod in m.modules():
        if isinstance(mod, Linear) and mod is not m.embed:
            assert abs(mod.weight.data.std() - 0.02) < 0.006 and not mod.bias.data.any()


def test_bad_arguments():
    with pytest.raises(ValueError, match="norm"):
        sl.TinyViT("rms")
    with pytest.raises(ValueError, match="total"):
        sl.progressive_lambda(0, 0)
    with pytest.raises(TypeError, match="RepBN"):
        sl.fold_model(sl.TinyViT("ln", depth=1))
    with pytest.raises(ValueError, match="scale"):
        sl.fold_affine_into_next_linear([1.0], [1.0, 1.0], [[1.0, 2.0]])


def test_schedule_warms_up_then_decays_to_zero():
    total = 150
    lrs = [E.schedule(t, total, 1.0) for t in range(total)]
    warm = round(E.WARMUP_FRACTION * total)
    assert lrs[warm - 1] == 1.0 and lrs[0] == 1.0 / warm
    assert all(b <= a for a, b in zip(lrs[warm:], lrs[warm + 1 :])) and lrs[-1] < 1e-3


SLUG = "slab-prepbn"


def test_quick_run_code_path(quick_result):
    r = quick_result(SLUG)
    r.validate()
    assert r.premises[0]["metric"] == "test_accuracy" and r.premises[0]["baseline"] == "BN"
    assert max(r.values("PRepBN", "fold_max_abs_logit_diff")) < 1e-9
    assert r.values("PRepBN", "norms_left_after_fold") == [0.0] * len(r.seeds)
    assert r.values("PRepBN", "final_lambda") == [0.0] * len(r.seeds)  # the ramp ends inside training
    assert r.smoke


def full():
    assert freshness(SLUG) == "fresh", f"run `refimpl record {SLUG}`"
    return recorded(SLUG)


def test_full_run_fold_is_exact_and_leaves_no_norm():
    r = full()
    for arm in ("PRepBN", "RepBN", "BN"):
        assert max(r.values(arm, "fold_max_abs_logit_diff")) < 1e-9, arm
        assert r.values(arm, "norms_left_after_fold") == [0.0] * len(r.seeds)
    assert r.values("PRepBN", "final_lambda") == [0.0] * len(r.seeds)


def test_full_run_premise_the_bn_swap_does_not_fall_short_of_layernorm():
    """The measured contradiction of the paper's motivation on this toy: with 6 blocks, no clipping and each
    arm at its own learning rate, the direct BN swap is at least as accurate as LayerNorm in every seed."""
    r = full()
    ln, bn = np.array(r.values("LN", "test_accuracy")), np.array(r.values("BN", "test_accuracy"))
    assert np.all(bn > ln), (bn, ln)
    assert not r.premises[0]["present"]
    assert max(r.values("BN", "diverged")) == 0.0  # no BN run collapsed


def test_full_run_prepbn_is_level_with_the_bn_swap_and_with_repbn():
    # within a point of the BN swap either way, over seeds; against RepBN (which now selects 0.03, the top of
    # the widened grid) the mean stays under a point and the interval straddles zero
    r = full()
    iv = r.claim("PRepBN beats the direct BN swap")["interval"]
    assert -0.01 < iv["low"] and iv["high"] < 0.01, iv
    iv = r.claim("The progressive schedule adds")["interval"]
    assert iv["low"] < 0 < iv["high"] and abs(iv["mean"]) < 0.01, iv


def test_full_run_prepbn_is_above_layernorm_in_every_seed():
    r = full()
    diff = np.array(r.values("PRepBN", "test_accuracy")) - np.array(r.values("LN", "test_accuracy"))
    assert diff.min() > 0, diff  # the "within one point" claim is left inconclusive only by LN's spread
