"""`refimpl.nn.functional`: losses, convolution, pooling, normalisation, attention, embedding, dropout.

Each forward is compared with an independent reference written here (brute-force loops for conv and
pooling, the per-sample definitions from PyTorch's documentation for the losses, textbook formulas for
the norms and attention), and each gradient with a float64 `refimpl.gradcheck` (random upstream
gradient).  Stability: log-softmax, cross-entropy, sigmoid, softplus and BCE at logits of ±1e4.
"""

import functools
import math

import numpy as np
import pytest
from closeness import close as _close

import refimpl.nn.functional as F
from refimpl import gradcheck, tensor
from refimpl.autograd import ops

close = functools.partial(_close, rtol=1e-10)  # losses and norms sum many terms: a looser default rtol


def randn(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def T(a, grad=False):
    return tensor(np.asarray(a), requires_grad=grad)


# =================================================================================================
# losses
# =================================================================================================
def ce_reference(z, target, weight=None, ignore_index=-100, reduction="mean", eps=0.0):
    """PyTorch's documented cross-entropy, one sample (and one spatial position) at a time."""
    z = np.moveaxis(z, 1, -1).reshape(-1, z.shape[1])  # rows of class scores
    c = z.shape[1]
    w = np.ones(c) if weight is None else weight
    probs = target.dtype.kind == "f"
    t = np.moveaxis(target, 1, -1).reshape(-1, c) if probs else target.reshape(-1)
    losses, denom = [], 0.0
    for n in range(z.shape[0]):
        logp = [z[n, k] - math.log(sum(math.exp(z[n, j]) for j in range(c))) for k in range(c)]
        if probs:
            tn = [(1 - eps) * t[n, k] + eps / c for k in range(c)]
            losses.append(-sum(w[k] * tn[k] * logp[k] for k in range(c)))
            denom += 1
        elif t[n] == ignore_index:
            losses.append(0.0)
        else:
            y = t[n]
            losses.append(-(1 - eps) * w[y] * logp[y] - eps / c * sum(w[k] * logp[k] for k in range(c)))
            denom += w[y]
    losses = np.array(losses)
    if reduction == "none":
        return losses
    return losses.sum() if reduction == "sum" else losses.sum() / denom


CE_CASES = {
    "mean": dict(),
    "sum": dict(reduction="sum"),
    "none": dict(reduction="none"),
    "label_smoothing": dict(label_smoothing=0.2),
    "weights": dict(weight=np.array([0.5, 2.0, 1.0, 3.0])),
    "ignore_index_default": dict(target=np.array([1, -100, 3, 0, -100])),
    "ignore_index_custom": dict(ignore_index=2, target=np.array([2, 1, 3, 2, 0])),
    "all_options": dict(
        weight=np.array([0.5, 2.0, 1.0, 3.0]),
        label_smoothing=0.1,
        ignore_index=0,
        target=np.array([1, 0, 3, 2, 0]),
    ),
    "all_options_none": dict(
        weight=np.array([0.5, 2.0, 1.0, 3.0]),
        label_smoothing=0.1,
        ignore_index=0,
        target=np.array([1, 0, 3, 2, 0]),
        reduction="none",
    ),
    "probabilities": dict(target="probs"),
    "probabilities_smoothing_weights": dict(
        target="probs", label_smoothing=0.3, weight=np.array([0.5, 2.0, 1.0, 3.0])
    ),
    "probabilities_sum": dict(target="probs", reduction="sum"),
}


@pytest.mark.parametrize("case", sorted(CE_CASES))
def test_cross_entropy_forward_and_gradcheck(case):
    kw = dict(CE_CASES[case])
    z = randn(5, 4)
    target = kw.pop("target", np.array([1, 0, 3, 2, 2]))
    if isinstance(target, str):
        target = np.random.default_rng(1).dirichlet(np.ones(4), size=5)
    ref_kw = dict(
        weight=kw.get("weight"),
        ignore_index=kw.get("ignore_index", -100),
        reduction=kw.get("reduction", "mean"),
        eps=kw.get("label_smoothing", 0.0),
    )
    close(F.cross_entropy(T(z), target, **kw).data, ce_reference(z, target, **ref_kw), what=case)
    assert gradcheck(lambda t: F.cross_entropy(t, target, **kw), z, mode="full")


@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_cross_entropy_spatial_inputs(reduction):
    z = randn(2, 3, 4, seed=1)  # (N, C, d)
    target = np.array([[0, 2, 1, -100], [2, 2, 0, 1]])
    w = np.array([1.0, 0.5, 2.0])
    got = F.cross_entropy(T(z), target, weight=w, reduction=reduction)
    want = ce_reference(z, target, weight=w, reduction=reduction)
    close(got.data, want if reduction == "mean" else want.reshape(2, 4))
    assert gradcheck(
        lambda t: F.cross_entropy(t, target, weight=w, reduction=reduction, label_smoothing=0.1), z
    )
    z4 = randn(2, 3, 2, 2, seed=2)  # (N, C, d1, d2) with probabilities
    p = np.moveaxis(np.random.default_rng(3).dirichlet(np.ones(3), size=(2, 2, 2)), -1, 1)
    close(F.cross_entropy(T(z4), p).data, ce_reference(z4, p))
    assert gradcheck(lambda t: F.cross_entropy(t, p, label_smoothing=0.2), z4)


def test_cross_entropy_single_sample():
    z = randn(4)
    close(F.cross_entropy(T(z), np.array(2)).data, ce_reference(z[None], np.array([2])))
    assert gradcheck(lambda t: F.cross_entropy(t, np.array(2)), z)


def test_cross_entropy_single_sample_probability_target():
    z, p = randn(4), np.array([0.1, 0.2, 0.3, 0.4])
    close(F.cross_entropy(T(z), p).data, ce_reference(z[None], p[None]))


def test_cross_entropy_single_sample_none_reduction_is_0d():
    assert F.cross_entropy(T(randn(4)), np.array(2), reduction="none").shape == ()


def test_cross_entropy_all_targets_ignored_gives_zero_gradient():
    # e.g. a batch of padding only; PyTorch: loss NaN (0/0), gradient exactly 0
    z = T(randn(2, 3), grad=True)
    loss = F.cross_entropy(z, np.array([-100, -100]))
    assert np.isnan(loss.item())
    with np.errstate(all="raise"):
        loss.backward()
    np.testing.assert_array_equal(z.grad, np.zeros((2, 3)))


@pytest.mark.parametrize(
    "kw",
    [
        dict(),
        dict(reduction="sum"),
        dict(reduction="none"),
        dict(weight=np.array([1.0, 3.0, 0.5])),
        dict(ignore_index=1),
    ],
    ids=["mean", "sum", "none", "weights", "ignore"],
)
def test_nll_loss_forward_and_gradcheck(kw):
    logp = randn(4, 3)
    target = np.array([2, 1, 0, 1])
    w = kw.get("weight", np.ones(3))
    keep = target != kw.get("ignore_index", -100)
    per = np.array([-w[t] * logp[n, t] if keep[n] else 0.0 for n, t in enumerate(target)])
    red = kw.get("reduction", "mean")
    want = per if red == "none" else per.sum() if red == "sum" else per.sum() / (w[target] * keep).sum()
    close(F.nll_loss(T(logp), target, **kw).data, want)
    assert gradcheck(lambda t: F.nll_loss(t, target, **kw), logp)
    # nll_loss ∘ log_softmax is cross_entropy
    close(
        F.nll_loss(F.log_softmax(T(logp), 1), target, **kw).data, F.cross_entropy(T(logp), target, **kw).data
    )


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_and_l1_loss(reduction):
    x, y = randn(3, 4), randn(3, 4, seed=1)
    red = {"mean": np.mean, "sum": np.sum, "none": lambda a: a}[reduction]
    close(F.mse_loss(T(x), T(y), reduction).data, red((x - y) ** 2))
    close(F.l1_loss(T(x), y, reduction).data, red(np.abs(x - y)))
    assert gradcheck(lambda a, b: F.mse_loss(a, b, reduction), x, y)
    assert gradcheck(lambda a: F.l1_loss(a, y, reduction), x)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
def test_bce_with_logits_forward_and_gradcheck(reduction, weighted):
    z, y = randn(3, 4) * 2, np.random.default_rng(1).random((3, 4))
    w = np.random.default_rng(2).uniform(0.5, 2.0, (3, 4)) if weighted else None
    s = 1 / (1 + np.exp(-z))
    per = -(y * np.log(s) + (1 - y) * np.log(1 - s)) * (1.0 if w is None else w)
    red = {"mean": np.mean, "sum": np.sum, "none": lambda a: a}[reduction]
    close(F.binary_cross_entropy_with_logits(T(z), y, weight=w, reduction=reduction).data, red(per))
    assert gradcheck(
        lambda a, b: F.binary_cross_entropy_with_logits(a, b, weight=w, reduction=reduction), z, y
    )


# =================================================================================================
# stability at logits of ±1e4
# =================================================================================================
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_log_softmax_and_cross_entropy_at_huge_logits(dtype):
    z = np.array([[1e4, -1e4, 0.0], [1e4, 1e4, -1e4]], dtype=dtype)
    ln2 = math.log(2.0)
    # closed form: log p_k = z_k − max − log Σ exp(z − max), where the sum is 1 or 2 up to e^{-1e4}
    want = np.array([[0.0, -2e4, -1e4], [-ln2, -ln2, -2e4 - ln2]])
    x = T(z, grad=True)
    y = F.log_softmax(x, 1)
    close(y.data, want, rtol=1e-6 if dtype == np.float32 else 1e-14, atol=0, what="log_softmax")
    y.backward(np.ones_like(z))
    close(x.grad, [[1 - 3 * 1.0, 1.0, 1.0], [1 - 1.5, 1 - 1.5, 1.0]], atol=1e-6)  # 1 − p Σ ḡ
    x2 = T(z, grad=True)
    loss = F.cross_entropy(x2, np.array([1, 2]))  # losses 2e4 and 2e4 + log 2
    close(loss.data, (2e4 + 2e4 + ln2) / 2, rtol=1e-6 if dtype == np.float32 else 1e-14)
    loss.backward()
    close(x2.grad, np.array([[1.0, -1.0, 0.0], [0.5, 0.5, -1.0]]) / 2, atol=1e-7)
    assert x2.grad.dtype == dtype


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sigmoid_softplus_bce_at_huge_logits(dtype):
    z = np.array([1e4, -1e4], dtype=dtype)
    x = T(z, grad=True)
    s = F.sigmoid(x)
    close(s.data, [1.0, 0.0], atol=0)
    s.sum().backward()
    close(x.grad, [0.0, 0.0], atol=0)
    x = T(z, grad=True)
    sp = F.softplus(x)
    close(sp.data, [1e4, 0.0], atol=0)
    sp.sum().backward()
    close(x.grad, [1.0, 0.0], atol=0)
    x = T(np.concatenate([z, z]), grad=True)
    y = np.array([1.0, 0.0, 0.0, 1.0], dtype=dtype)
    loss = F.binary_cross_entropy_with_logits(x, y, reduction="none")
    close(loss.data, [0.0, 0.0, 1e4, 1e4], atol=0)  # −log σ(±1e4) is 0 or 1e4 to double precision
    loss.sum().backward()
    close(x.grad, [0.0, 0.0, 1.0, -1.0], atol=0)  # σ(z) − y
    for t in (s, sp, loss):
        assert t.dtype == dtype


# =================================================================================================
# convolution and pooling, against brute-force loops
# =================================================================================================
def conv2d_reference(x, w, b=None, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1):
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding[0], padding[0]), (padding[1], padding[1])))
    oh = (h + 2 * padding[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (wd + 2 * padding[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    y = np.zeros((n, o, oh, ow))
    og = o // groups
    for oc in range(o):
        g = oc // og
        for i in range(oh):
            for j in range(ow):
                for ci in range(cg):
                    for p in range(kh):
                        for q in range(kw):
                            y[:, oc, i, j] += (
                                w[oc, ci, p, q]
                                * xp[
                                    :,
                                    g * cg + ci,
                                    i * stride[0] + p * dilation[0],
                                    j * stride[1] + q * dilation[1],
                                ]
                            )
    return y if b is None else y + b[None, :, None, None]


CONV2D = {
    "basic": ((2, 3, 5, 5), (4, 3, 3, 3), True, {}),
    "stride_padding": ((2, 3, 6, 5), (4, 3, 3, 3), True, dict(stride=2, padding=1)),
    "dilation": ((1, 2, 7, 7), (3, 2, 3, 3), True, dict(dilation=2, padding=2)),
    "groups": ((2, 4, 5, 5), (6, 2, 3, 3), True, dict(groups=2, padding=1)),
    "depthwise": ((2, 3, 4, 4), (3, 1, 3, 3), False, dict(groups=3, stride=(1, 2))),
    "rectangular": ((2, 2, 5, 6), (3, 2, 2, 3), True, dict(stride=(2, 1), padding=(1, 0), dilation=(1, 2))),
    "same": ((1, 2, 5, 5), (2, 2, 3, 3), True, dict(padding="same")),
    "no_bias_1x1": ((2, 3, 3, 3), (5, 3, 1, 1), False, {}),
}


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


@pytest.mark.parametrize("case", sorted(CONV2D))
def test_conv2d_forward_and_gradcheck(case):
    xs, ws, has_b, kw = CONV2D[case]
    x, w, b = randn(*xs), randn(*ws, seed=1), randn(ws[0], seed=2)
    pad = kw.get("padding", 0)
    ref_pad = (ws[2] // 2, ws[3] // 2) if pad == "same" else _pair(pad)
    ref = conv2d_reference(
        x,
        w,
        b if has_b else None,
        _pair(kw.get("stride", 1)),
        ref_pad,
        _pair(kw.get("dilation", 1)),
        kw.get("groups", 1),
    )
    args = (x, w, b) if has_b else (x, w)
    close(F.conv2d(*map(T, args), **kw).data, ref, what=case)
    assert gradcheck(lambda *t: F.conv2d(*t, **kw), *args, mode="full")


@pytest.mark.parametrize(
    "kw",
    [dict(), dict(stride=2, padding=1), dict(dilation=2, padding=2), dict(groups=3), dict(padding="same")],
    ids=["basic", "stride_padding", "dilation", "groups", "same"],
)
def test_conv1d_forward_and_gradcheck(kw):
    x, b = randn(2, 3, 7), randn(6, seed=2)
    w = randn(6, 1 if kw.get("groups") else 3, 3, seed=1)
    pad = kw.get("padding", 0)
    ref = conv2d_reference(
        x[:, :, None],
        w[:, :, None],
        b,
        (1, kw.get("stride", 1)),
        (0, 1 if pad == "same" else pad),
        (1, kw.get("dilation", 1)),
        kw.get("groups", 1),
    )[:, :, 0]
    close(F.conv1d(T(x), T(w), T(b), **kw).data, ref)
    assert gradcheck(lambda *t: F.conv1d(*t, **kw), x, w, b, mode="full")


def pool_reference(x, kernel, stride, padding, dilation=(1, 1), kind="max"):
    n, c, h, w = x.shape
    fill = -np.inf if kind == "max" else 0.0
    xp = np.pad(x, ((0, 0), (0, 0), (padding[0],) * 2, (padding[1],) * 2), constant_values=fill)
    oh = (h + 2 * padding[0] - dilation[0] * (kernel[0] - 1) - 1) // stride[0] + 1
    ow = (w + 2 * padding[1] - dilation[1] * (kernel[1] - 1) - 1) // stride[1] + 1
    y = np.zeros((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            win = [
                xp[:, :, i * stride[0] + p * dilation[0], j * stride[1] + q * dilation[1]]
                for p in range(kernel[0])
                for q in range(kernel[1])
            ]
            y[:, :, i, j] = np.max(win, axis=0) if kind == "max" else np.mean(win, axis=0)
    return y


def _distinct(*shape, seed=0):
    return np.random.default_rng(seed).permutation(int(np.prod(shape))).reshape(shape) * 0.1 - 3.0


POOLS = {
    "k2": dict(kernel_size=2),
    "k3_s2_p1": dict(kernel_size=3, stride=2, padding=1),
    "rect_s1": dict(kernel_size=(2, 3), stride=1),
    "k2_dilation2": dict(kernel_size=2, stride=1, dilation=2),
}


@pytest.mark.parametrize("case", sorted(POOLS))
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pool2d_forward_and_gradcheck(kind, case):
    kw = dict(POOLS[case])
    if kind == "avg" and "dilation" in kw:
        pytest.skip("avg_pool2d has no dilation (as in PyTorch)")
    x = _distinct(2, 2, 6, 7)  # distinct values: no ties, so max pooling is differentiable
    k = _pair(kw["kernel_size"])
    ref = pool_reference(
        x, k, _pair(kw.get("stride", k)), _pair(kw.get("padding", 0)), _pair(kw.get("dilation", 1)), kind
    )
    fn = F.max_pool2d if kind == "max" else F.avg_pool2d
    close(fn(T(x), **kw).data, ref, what=f"{kind} {case}")
    assert gradcheck(lambda t: fn(t, **kw), x, mode="full")


def test_max_pool_gradient_goes_to_the_window_maximum():
    x = T(np.array([[[[1.0, 5.0], [3.0, 2.0]]]]), grad=True)
    F.max_pool2d(x, 2).backward(np.array([[[[7.0]]]]))
    np.testing.assert_array_equal(x.grad, [[[[0.0, 7.0], [0.0, 0.0]]]])


def test_adaptive_avg_pool_to_one():
    x = randn(2, 3, 4, 5)
    close(F.adaptive_avg_pool2d_1(T(x)).data, x.mean(axis=(2, 3), keepdims=True))
    assert gradcheck(F.adaptive_avg_pool2d_1, x)


# =================================================================================================
# embedding and dropout
# =================================================================================================
def test_embedding_forward_and_repeated_index_gradient():
    w = randn(5, 3)
    idx = np.array([[0, 4, 0], [2, 0, 4]])
    close(F.embedding(idx, T(w)).data, np.stack([[w[i] for i in row] for row in idx]), atol=0)
    wt = T(w, grad=True)
    g = randn(2, 3, 3, seed=1)
    F.embedding(T(idx), wt).backward(g)
    want = np.zeros_like(w)
    for (r, c), i in np.ndenumerate(idx):
        want[i] += g[r, c]
    close(wt.grad, want)
    assert gradcheck(lambda t: F.embedding(idx, t), w)


def test_dropout_with_fixed_generator():
    x = np.random.default_rng(0).uniform(1.0, 2.0, (200, 50))
    p = 0.3
    y = F.dropout(T(x), p, generator=123).data
    y2 = F.dropout(T(x), p, generator=np.random.default_rng(123)).data
    np.testing.assert_array_equal(y, y2)  # an int seed and a generator seeded with it agree
    kept = y != 0
    close(y[kept], x[kept] / (1 - p), rtol=1e-15)  # survivors are scaled by 1/(1−p)
    assert abs((~kept).mean() - p) < 0.02  # 10 000 draws: 4.6 standard deviations
    assert not np.array_equal(kept, F.dropout(T(x), p, generator=124).data != 0)
    xt = T(x, grad=True)
    F.dropout(xt, p, generator=123).sum().backward()
    close(xt.grad, kept / (1 - p), atol=0)
    assert gradcheck(lambda t: F.dropout(t, 0.5, generator=7), randn(4, 5))


def test_dropout_eval_and_edge_probabilities():
    x = T(randn(3, 4))
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0) is x
    np.testing.assert_array_equal(F.dropout(x, 1.0).data, np.zeros((3, 4)))


# =================================================================================================
# normalisation
# =================================================================================================
@pytest.mark.parametrize("affine", [False, True])
@pytest.mark.parametrize("shape", [(4,), (3, 4)])
def test_layer_norm(shape, affine):
    x = randn(2, 3, 4)
    gamma, beta = randn(*shape, seed=1), randn(*shape, seed=2)
    axes = tuple(range(3 - len(shape), 3))
    want = (x - x.mean(axes, keepdims=True)) / np.sqrt(x.var(axes, keepdims=True) + 1e-5)
    if affine:
        want = want * gamma + beta
    args = (x, gamma, beta) if affine else (x,)
    fn = (lambda t, g, b: F.layer_norm(t, shape, g, b)) if affine else (lambda t: F.layer_norm(t, shape))
    close(fn(*map(T, args)).data, want)
    assert gradcheck(fn, *args, mode="full")


@pytest.mark.parametrize("groups", [1, 2, 6])
def test_group_norm(groups):
    x = randn(2, 6, 3, 2)
    gamma, beta = randn(6, seed=1), randn(6, seed=2)
    xg = x.reshape(2, groups, -1)
    xhat = ((xg - xg.mean(-1, keepdims=True)) / np.sqrt(xg.var(-1, keepdims=True) + 1e-5)).reshape(x.shape)
    want = xhat * gamma[:, None, None] + beta[:, None, None]
    close(F.group_norm(T(x), groups, T(gamma), T(beta)).data, want)
    assert gradcheck(lambda t, g, b: F.group_norm(t, groups, g, b), x, gamma, beta, mode="full")


@pytest.mark.parametrize("shape", [(6, 3), (3, 2, 2, 3)])
def test_batch_norm_training_and_running_stats(shape):
    x = randn(*shape) * 2 + 1
    c = shape[1]
    gamma, beta = randn(c, seed=1), randn(c, seed=2)
    axes = (0,) + tuple(range(2, len(shape)))
    bshape = (1, c) + (1,) * (len(shape) - 2)
    mu, var = x.mean(axes), x.var(axes)
    want = (x - mu.reshape(bshape)) / np.sqrt(var.reshape(bshape) + 1e-5) * gamma.reshape(
        bshape
    ) + beta.reshape(bshape)
    rm, rv = np.full(c, 0.5), np.full(c, 2.0)
    y = F.batch_norm(T(x), rm, rv, T(gamma), T(beta), training=True, momentum=0.1)
    close(y.data, want)
    m = x.size // c
    close(rm, 0.9 * 0.5 + 0.1 * mu)
    close(rv, 0.9 * 2.0 + 0.1 * var * m / (m - 1))  # unbiased batch variance, as PyTorch
    assert gradcheck(
        lambda t, g, b: F.batch_norm(t, None, None, g, b, training=True), x, gamma, beta, mode="full"
    )


def test_batch_norm_eval_uses_running_stats_and_leaves_them_alone():
    x = randn(4, 3, 2)
    rm, rv = np.array([0.5, -1.0, 0.0]), np.array([2.0, 0.5, 1.0])
    gamma, beta = randn(3, seed=1), randn(3, seed=2)
    want = (x - rm[:, None]) / np.sqrt(rv[:, None] + 1e-5) * gamma[:, None] + beta[:, None]
    close(F.batch_norm(T(x), rm, rv, T(gamma), T(beta), training=False).data, want)
    np.testing.assert_array_equal(rm, [0.5, -1.0, 0.0])
    assert gradcheck(lambda t, g, b: F.batch_norm(t, rm, rv, g, b), x, gamma, beta, mode="full")


@pytest.mark.parametrize("shape", [4, (3, 4)])
def test_rms_norm(shape):
    x = randn(2, 3, 4)
    k = 1 if isinstance(shape, int) else len(shape)
    w = randn(*((shape,) if k == 1 else shape), seed=1)
    axes = tuple(range(3 - k, 3))
    eps = np.finfo(np.float64).eps
    want = x / np.sqrt((x * x).mean(axes, keepdims=True) + eps) * w
    close(F.rms_norm(T(x), shape, T(w)).data, want)
    assert gradcheck(lambda t, g: F.rms_norm(t, shape, g, eps=1e-6), x, w, mode="full")


# =================================================================================================
# attention
# =================================================================================================
def sdpa_reference(q, k, v, keep=None, add=None, scale=None):
    s = (q @ np.swapaxes(k, -1, -2)) * (1 / math.sqrt(q.shape[-1]) if scale is None else scale)
    if add is not None:
        s = s + add
    if keep is not None:
        s = np.where(keep, s, -np.inf)
    e = np.exp(s - s.max(-1, keepdims=True))
    return (e / e.sum(-1, keepdims=True)) @ v


BOOL_MASK = np.array([[1, 0, 1, 1, 0], [0, 1, 0, 0, 0], [1, 1, 1, 1, 1]], dtype=bool)
SDPA = {
    "plain": (dict(), dict()),
    "bool_mask": (dict(attn_mask=BOOL_MASK), dict(keep=BOOL_MASK)),
    "float_mask": (dict(attn_mask=randn(3, 5, seed=9)), dict(add=randn(3, 5, seed=9))),
    "scale": (dict(scale=0.3), dict(scale=0.3)),
    "causal": (dict(is_causal=True), dict(keep=np.tril(np.ones((3, 5), dtype=bool)))),
    "causal_and_mask": (
        dict(is_causal=True, attn_mask=BOOL_MASK),
        dict(keep=np.tril(np.ones((3, 5), bool)) & BOOL_MASK),
    ),
}


@pytest.mark.parametrize("case", sorted(SDPA))
def test_scaled_dot_product_attention(case):
    kw, ref_kw = SDPA[case]
    q, k, v = randn(2, 3, 4), randn(2, 5, 4, seed=1), randn(2, 5, 6, seed=2)
    close(
        F.scaled_dot_product_attention(T(q), T(k), T(v), **kw).data,
        sdpa_reference(q, k, v, **ref_kw),
        what=case,
    )
    assert gradcheck(lambda a, b, c: F.scaled_dot_product_attention(a, b, c, **kw), q, k, v, mode="full")


def test_scaled_dot_product_attention_multihead_causal():
    q, k, v = randn(2, 2, 4, 3), randn(2, 2, 4, 3, seed=1), randn(2, 2, 4, 3, seed=2)
    keep = np.tril(np.ones((4, 4), dtype=bool))
    close(
        F.scaled_dot_product_attention(T(q), T(k), T(v), is_causal=True).data,
        sdpa_reference(q, k, v, keep=keep),
    )
    assert gradcheck(lambda a, b, c: F.scaled_dot_product_attention(a, b, c, is_causal=True), q, k, v)
    # causality: the first output position depends on the first key/value only
    qt, kt, vt = T(q, True), T(k, True), T(v, True)
    F.scaled_dot_product_attention(qt, kt, vt, is_causal=True)[:, :, 0].sum().backward()
    assert np.all(kt.grad[:, :, 1:] == 0) and np.all(vt.grad[:, :, 1:] == 0)


def test_functional_activation_exports_match_ops():
    x = randn(2, 3)
    for name in ["relu", "gelu", "silu", "softplus", "sigmoid", "tanh"]:
        close(getattr(F, name)(T(x)).data, getattr(ops, name)(T(x)).data, atol=0)
    close(F.softmax(T(x), 0).data, ops.softmax(T(x), 0).data, atol=0)


def test_one_hot():
    got = F.one_hot(np.array([[2, 0], [1, 2]]), 3)
    want = np.zeros((2, 2, 3), dtype=np.float32)
    for (i, j), k in np.ndenumerate(np.array([[2, 0], [1, 2]])):
        want[i, j, k] = 1.0
    np.testing.assert_array_equal(got, want)
    assert got.dtype == np.float32
