"""Conv-BN Train/Eval/Deploy/Tune modes (You et al., 2024; arXiv 2305.11624)."""

import copy

import numpy as np
import pytest

import refimpl as rf
from refimpl.autograd.tensor import Tensor
from refimpl.nn import functional as F
from refimpl.techniques.regularization_normalization import convbn_tune_mode as cbt


@pytest.mark.parametrize("case", cbt.reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


def _stats(rng, c):
    return rng.uniform(0.5, 2, c), rng.normal(size=c), rng.normal(size=c), rng.uniform(0.3, 3, c)


def _numpy_eval_block(x, w, b, g, beta, mean, var, eps):
    """Oracle: 1×1-free direct loop convolution ('valid', stride 1) then the BN affine, in NumPy."""
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    z = np.zeros((n, o, h - kh + 1, wd - kw + 1))
    for i in range(z.shape[2]):
        for j in range(z.shape[3]):
            z[:, :, i, j] = np.einsum("nckl,ockl->no", x[:, :, i : i + kh, j : j + kw], w) + b
    return (
        g[None, :, None, None] * (z - mean[None, :, None, None]) / np.sqrt(var[None, :, None, None] + eps)
        + beta[None, :, None, None]
    )


def test_eval_and_tune_equal_a_numpy_oracle():
    rng = np.random.default_rng(0)
    x, w, b = rng.normal(size=(2, 2, 5, 5)), rng.normal(size=(3, 2, 3, 3)), rng.normal(size=3)
    g, beta, mean, var = _stats(rng, 3)
    ref = _numpy_eval_block(x, w, b, g, beta, mean, var, 1e-5)
    args = (Tensor(x), Tensor(w), Tensor(b), Tensor(g), Tensor(beta), mean, var, 1e-5)
    assert np.max(np.abs(cbt.convbn_eval(*args).data - ref)) < 1e-12
    assert np.max(np.abs(cbt.convbn_tune(*args).data - ref)) < 1e-12


def test_tune_and_eval_have_the_same_gradients():
    rng = np.random.default_rng(1)
    x, w, b = rng.normal(size=(2, 2, 6, 6)), rng.normal(size=(3, 2, 3, 3)), rng.normal(size=3)
    g, beta, mean, var = _stats(rng, 3)
    up = rng.normal(size=(2, 3, 6, 6))
    grads = {}
    for name, fn in (("eval", cbt.convbn_eval), ("tune", cbt.convbn_tune)):
        ts = [Tensor(a.copy(), requires_grad=True) for a in (x, w, b, g, beta)]
        fn(*ts, mean, var, 1e-5, padding=1).backward(up)
        grads[name] = [t.grad for t in ts]
    for ge, gt in zip(grads["eval"], grads["tune"]):
        assert np.max(np.abs(ge - gt)) < 1e-11


def test_gradcheck_tune_and_eval():
    rng = np.random.default_rng(2)
    x, w, b = rng.normal(size=(1, 2, 4, 4)), rng.normal(size=(2, 2, 3, 3)), rng.normal(size=2)
    g, beta, mean, var = _stats(rng, 2)
    for fn in (cbt.convbn_tune, cbt.convbn_eval):
        rf.gradcheck(
            lambda x, w, b, g, beta, fn=fn: fn(x, w, b, g, beta, mean, var, 1e-5, padding=1), x, w, b, g, beta
        )


def test_one_sgd_step_moves_the_folded_weight_by_s_squared_times_the_deploy_step():
    """The card's derivation: training W (γ, β frozen) moves W' = sW by −η s² ∂L/∂W'; Deploy by −η ∂L/∂W'."""
    rng = np.random.default_rng(3)
    blk = cbt.ConvBN(2, 3, 3, padding=1, bias=True, rng=rng)
    g, beta, mean, var = _stats(rng, 3)
    blk.bn.weight.data[...], blk.bn.bias.data[...] = g, beta
    blk.bn.running_mean[...], blk.bn.running_var[...] = mean, var
    x, y = rng.normal(size=(4, 2, 5, 5)), rng.normal(size=(4, 3, 5, 5))
    s = g / np.sqrt(var + blk.bn.eps)
    ev, dp, lr = copy.deepcopy(blk).set_mode("eval"), copy.deepcopy(blk).to_deploy(), 0.1
    for m in (ev, dp):
        F.mse_loss(m(Tensor(x)), Tensor(y)).backward()
    w_prime_before = dp.w_folded.data.copy()
    step_eval = s[:, None, None, None] * (-lr * ev.conv.weight.grad)  # ΔW' = s ΔW
    step_deploy = -lr * dp.w_folded.grad
    assert np.allclose(w_prime_before, s[:, None, None, None] * ev.conv.weight.data)
    assert np.allclose(step_eval, (s**2)[:, None, None, None] * step_deploy, atol=1e-12)


def test_memory_tune_keeps_less_than_eval():
    model, _, tgt = cbt.pretrain(seed=0, epochs=1)
    mem = cbt.memory_per_mode(model, tgt.x_train[:32])
    assert mem["tune"]["bytes"] < mem["eval"]["bytes"]
    assert mem["deploy"]["bytes"] <= mem["tune"]["bytes"]


def test_mode_errors_name_the_argument():
    blk = cbt.ConvBN(1, 1, 3)
    with pytest.raises(ValueError, match="mode"):
        blk.set_mode("inference")
    with pytest.raises(ValueError, match="to_deploy"):
        blk.set_mode("deploy")
    blk.to_deploy()
    with pytest.raises(ValueError, match="deploy"):
        blk.set_mode("eval")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_demo_tune_equals_eval_and_saves_memory(seed, demo_result):
    r = demo_result("convbn-tune-mode", seed)
    rf.catalog.check_demo_result(r)
    assert r["checks"]["tune_equals_eval"]
    assert r["metrics"]["max_abs_loss_diff_eval_vs_tune"] < 1e-9
    assert r["metrics"]["bytes_saved_tune"] < 0.8 * r["metrics"]["bytes_saved_eval"]
    # the claim is reported honestly: at toy scale s = γ/σ ≫ 1, so Eval/Tune take s² larger steps on W'
    assert isinstance(r["claim"]["holds"], bool)
    assert r["claim"]["holds"] == all(r["checks"].values())
