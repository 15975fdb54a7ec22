"""Every op of refimpl.autograd.ops and refimpl.nn.functional against PyTorch, in float64.

One table row per op variant: our function, PyTorch's, and the inputs (NumPy arrays).  Floating-point
arrays become leaves that require a gradient on both sides (wrap one in `Const` to keep it out of the
differentiation); integer and boolean arrays pass as indices / masks.  Both sides get the same random
upstream gradient; outputs and every input gradient must agree to ~1e-9 relative.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
TF = torch.nn.functional

import refimpl  # noqa: E402
import refimpl.nn.functional as F  # noqa: E402
from refimpl.autograd import ops  # noqa: E402

RTOL, ATOL = 1e-9, 1e-11


class Const:
    """A floating-point input that is not differentiated (targets, masks added to scores...)."""

    def __init__(self, a):
        self.a = np.asarray(a)


def _ours(inputs):
    args, leaves = [], []
    for a in inputs:
        if isinstance(a, Const):
            args.append(a.a)
        elif a.dtype.kind == "f":
            leaves.append(refimpl.tensor(a, requires_grad=True))
            args.append(leaves[-1])
        else:
            args.append(a)
    return args, leaves


def _theirs(inputs):
    args, leaves = [], []
    for a in inputs:
        if isinstance(a, Const):
            args.append(torch.from_numpy(a.a.copy()))
        elif a.dtype.kind == "f":
            leaves.append(torch.tensor(a, dtype=torch.float64, requires_grad=True))
            args.append(leaves[-1])
        else:
            args.append(torch.from_numpy(a.copy()))
    return args, leaves


def assert_close(got, want, what):
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape, f"{what}: shape {got.shape}, PyTorch {want.shape}"
    err = np.abs(got - want)
    if err.size and not np.all(err <= ATOL + RTOL * np.abs(want)):
        k = tuple(int(i) for i in np.unravel_index(np.argmax(err), err.shape))
        rel = (err / np.maximum(np.abs(want), 1e-300)).max()
        raise AssertionError(
            f"{what}: max abs error {err.max():.3e}, max rel error {rel:.3e}; worst at {k}: "
            f"refimpl {float(got[k])!r}, PyTorch {float(want[k])!r}"
        )


def check(ours, theirs, inputs, seed=0):
    """Forward and every input gradient of `ours` equal `theirs`, with one random upstream gradient."""
    a, la = _ours(inputs)
    b, lb = _theirs(inputs)
    out, tout = ours(*a), theirs(*b)
    assert_close(out.data, tout.detach().numpy(), "forward")
    v = np.random.default_rng(seed).standard_normal(out.shape)
    out.backward(v)
    tout.backward(torch.from_numpy(v))
    for i, (x, tx) in enumerate(zip(la, lb)):
        assert_close(x.grad, tx.grad.numpy(), f"gradient of input {i}")


# --- inputs ------------------------------------------------------------------------------------------
def rn(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def pos(*shape, seed=0):
    return np.random.default_rng(seed).uniform(0.3, 2.0, shape)


def nonzero(*shape, seed=0):
    r = np.random.default_rng(seed)
    return r.uniform(0.2, 2.0, shape) * r.choice([-1.0, 1.0], shape)


def distinct(*shape, seed=0):
    return np.random.default_rng(seed).permutation(int(np.prod(shape))).reshape(shape) * 0.1 - 2.0


X, Y = rn(2, 3, 4), rn(3, 1, seed=1)
MASK = np.random.default_rng(5).random((2, 3, 4)) > 0.5
IDX = np.array([2, 0, 2, 1])
W4 = np.array([0.5, 2.0, 1.0, 3.0])
T5 = np.array([1, 0, 3, 2, 2])
T5_IGN = np.array([1, -100, 3, 0, -100])
P5 = np.random.default_rng(1).dirichlet(np.ones(4), size=5)
CMASK = np.array([[1, 0, 1, 1, 0], [0, 1, 0, 0, 0], [1, 1, 1, 1, 1]], dtype=bool)
DROP_MASK = np.random.default_rng(3).random((3, 4)) >= 0.4  # what F.dropout(generator=3, p=0.4) draws
t_ = torch.from_numpy

P = pytest.param
CASES = [
    # elementwise
    P(ops.add, torch.add, [X, Y], id="add"),
    P(ops.sub, torch.sub, [X, Y], id="sub"),
    P(ops.mul, torch.mul, [X, Y], id="mul"),
    P(ops.div, torch.div, [X, nonzero(3, 1)], id="div"),
    P(ops.pow, torch.pow, [pos(2, 3), rn(3)], id="pow"),
    P(lambda x: x**3, lambda x: x**3, [X], id="pow_scalar"),
    P(ops.neg, torch.neg, [X], id="neg"),
    P(ops.exp, torch.exp, [X], id="exp"),
    P(ops.log, torch.log, [pos(3, 4)], id="log"),
    P(ops.sqrt, torch.sqrt, [pos(3, 4)], id="sqrt"),
    P(ops.abs, torch.abs, [nonzero(3, 4)], id="abs"),
    P(ops.sign, torch.sign, [nonzero(3, 4)], id="sign"),
    P(ops.tanh, torch.tanh, [X], id="tanh"),
    P(ops.sigmoid, torch.sigmoid, [X * 3], id="sigmoid"),
    P(ops.relu, torch.relu, [nonzero(3, 4)], id="relu"),
    P(lambda x: F.leaky_relu(x, 0.2), lambda x: TF.leaky_relu(x, 0.2), [nonzero(3, 4)], id="leaky_relu"),
    P(F.gelu, TF.gelu, [X * 2], id="gelu"),
    P(F.silu, TF.silu, [X * 2], id="silu"),
    P(F.softplus, TF.softplus, [X * 3], id="softplus"),
    P(ops.maximum, torch.maximum, [distinct(2, 3), distinct(2, 3, seed=1) + 0.05], id="maximum"),
    P(ops.minimum, torch.minimum, [distinct(2, 3), distinct(2, 3, seed=1) + 0.05], id="minimum"),
    P(
        lambda x, y: ops.where(MASK, x, y),
        lambda x, y: torch.where(t_(MASK), x, y),
        [X, rn(4, seed=2)],
        id="where",
    ),
    P(
        lambda x: ops.clip(x, -0.5, 0.7),
        lambda x: torch.clamp(x, -0.5, 0.7),
        [distinct(3, 4) + 0.05],
        id="clip",
    ),
    # reductions
    P(ops.sum, torch.sum, [X], id="sum_all"),
    P(lambda x: ops.sum(x, (0, 2), True), lambda x: x.sum((0, 2), keepdim=True), [X], id="sum_axes_keepdims"),
    P(lambda x: ops.mean(x, 1), lambda x: x.mean(1), [X], id="mean_axis"),
    P(lambda x: ops.var(x, -1), lambda x: x.var(-1), [X], id="var_axis"),
    P(lambda x: ops.var(x, None, correction=0), lambda x: x.var(correction=0), [X], id="var_all_biased"),
    P(ops.max, torch.max, [distinct(2, 3, 4)], id="max_all"),
    P(lambda x: ops.max(x, 1, True), lambda x: x.amax(1, keepdim=True), [distinct(2, 3, 4)], id="max_axis"),
    P(lambda x: ops.min(x, -1), lambda x: x.amin(-1), [distinct(2, 3, 4)], id="min_axis"),
    P(
        lambda x: ops.logsumexp(x, 1, True),
        lambda x: torch.logsumexp(x, 1, True),
        [X],
        id="logsumexp_keepdims",
    ),
    P(lambda x: ops.logsumexp(x, (0, 2)), lambda x: torch.logsumexp(x, (0, 2)), [X], id="logsumexp_axes"),
    # matmul, linear
    P(ops.matmul, torch.matmul, [rn(3, 4), rn(4, 5)], id="matmul"),
    P(ops.matmul, torch.matmul, [rn(2, 1, 3, 4), rn(3, 4, 2)], id="matmul_batched_broadcast"),
    P(ops.matmul, torch.matmul, [rn(4), rn(2, 4, 5)], id="matmul_1d_left"),
    P(ops.matmul, torch.matmul, [rn(2, 3, 4), rn(4)], id="matmul_1d_right"),
    P(ops.matmul, torch.matmul, [rn(4), rn(4, seed=1)], id="matmul_inner"),
    P(F.linear, TF.linear, [rn(2, 5, 3), rn(4, 3), rn(4)], id="linear"),
    P(F.linear, TF.linear, [rn(5, 3), rn(4, 3)], id="linear_no_bias"),
    # shape
    P(lambda x: ops.reshape(x, (4, -1)), lambda x: x.reshape(4, -1), [X], id="reshape"),
    P(lambda x: x.transpose(0, 2), lambda x: x.transpose(0, 2), [X], id="transpose"),
    P(lambda x: x.permute(2, 0, 1), lambda x: x.permute(2, 0, 1), [X], id="permute"),
    P(lambda x: x.expand(2, 5, 3, 1), lambda x: x.expand(2, 5, 3, 1), [rn(5, 1, 1)], id="expand"),
    P(lambda x: x[:, 1:, ::2], lambda x: x[:, 1:, ::2], [X], id="getitem_slices"),
    P(lambda x: x[IDX], lambda x: x[t_(IDX)], [rn(3, 2)], id="getitem_repeated_indices"),
    P(lambda x: x[0, IDX], lambda x: x[0, t_(IDX)], [X], id="getitem_int_and_array"),
    P(lambda x: x[MASK], lambda x: x[t_(MASK)], [X], id="getitem_bool_mask"),
    P(
        lambda a, b: ops.concatenate([a, b], 1),
        lambda a, b: torch.cat([a, b], 1),
        [rn(2, 3), rn(2, 2)],
        id="concatenate",
    ),
    P(
        lambda a, b: ops.stack([a, b], -1),
        lambda a, b: torch.stack([a, b], -1),
        [rn(2, 3), rn(2, 3, seed=1)],
        id="stack",
    ),
    P(
        lambda x: ops.pad(x, ((0, 0), (1, 2), (2, 0)), 0.5),
        lambda x: TF.pad(x, (2, 0, 1, 2), value=0.5),
        [X],
        id="pad",
    ),
    P(lambda x: F.softmax(x, 1), lambda x: TF.softmax(x, 1), [X], id="softmax"),
    P(lambda x: F.log_softmax(x, -1), lambda x: TF.log_softmax(x, -1), [X], id="log_softmax"),
    # losses
    P(lambda z: F.cross_entropy(z, T5), lambda z: TF.cross_entropy(z, t_(T5)), [rn(5, 4)], id="ce"),
    P(
        lambda z: F.cross_entropy(z, T5, reduction="sum"),
        lambda z: TF.cross_entropy(z, t_(T5), reduction="sum"),
        [rn(5, 4)],
        id="ce_sum",
    ),
    P(
        lambda z: F.cross_entropy(z, T5, reduction="none"),
        lambda z: TF.cross_entropy(z, t_(T5), reduction="none"),
        [rn(5, 4)],
        id="ce_none",
    ),
    P(
        lambda z: F.cross_entropy(z, T5, label_smoothing=0.2),
        lambda z: TF.cross_entropy(z, t_(T5), label_smoothing=0.2),
        [rn(5, 4)],
        id="ce_label_smoothing",
    ),
    P(
        lambda z, w: F.cross_entropy(z, T5, weight=w),
        lambda z, w: TF.cross_entropy(z, t_(T5), weight=w),
        [rn(5, 4), Const(W4)],
        id="ce_weights",
    ),
    P(
        lambda z: F.cross_entropy(z, T5_IGN),
        lambda z: TF.cross_entropy(z, t_(T5_IGN)),
        [rn(5, 4)],
        id="ce_ignore_index",
    ),
    P(
        lambda z, w: F.cross_entropy(z, T5_IGN, weight=w, label_smoothing=0.1),
        lambda z, w: TF.cross_entropy(z, t_(T5_IGN), weight=w, label_smoothing=0.1),
        [rn(5, 4), Const(W4)],
        id="ce_weights_smoothing_ignore",
    ),
    P(
        lambda z, w: F.cross_entropy(z, T5_IGN, weight=w, label_smoothing=0.1, reduction="none"),
        lambda z, w: TF.cross_entropy(z, t_(T5_IGN), weight=w, label_smoothing=0.1, reduction="none"),
        [rn(5, 4), Const(W4)],
        id="ce_weights_smoothing_ignore_none",
    ),
    P(
        lambda z, p: F.cross_entropy(z, p),
        lambda z, p: TF.cross_entropy(z, p),
        [rn(5, 4), Const(P5)],
        id="ce_probs",
    ),
    P(
        lambda z, p, w: F.cross_entropy(z, p, weight=w, label_smoothing=0.3),
        lambda z, p, w: TF.cross_entropy(z, p, weight=w, label_smoothing=0.3),
        [rn(5, 4), Const(P5), Const(W4)],
        id="ce_probs_weights_smoothing",
    ),
    P(
        lambda z, t: F.cross_entropy(z, t, label_smoothing=0.1, ignore_index=1),
        lambda z, t: TF.cross_entropy(z, t, label_smoothing=0.1, ignore_index=1),
        [rn(2, 3, 4), np.array([[0, 2, 1, 1], [2, 2, 0, 1]])],
        id="ce_spatial",
    ),
    P(
        lambda z, t: F.cross_entropy(z, t, reduction="none"),
        lambda z, t: TF.cross_entropy(z, t, reduction="none"),
        [rn(2, 3, 2, 2), np.array([[[0, 2], [1, 1]], [[2, 2], [0, 1]]])],
        id="ce_spatial_2d_none",
    ),
    P(lambda z: F.nll_loss(z, T5_IGN), lambda z: TF.nll_loss(z, t_(T5_IGN)), [rn(5, 4)], id="nll"),
    P(
        lambda z, w: F.nll_loss(z, T5, weight=w, reduction="sum"),
        lambda z, w: TF.nll_loss(z, t_(T5), weight=w, reduction="sum"),
        [rn(5, 4), Const(W4)],
        id="nll_weights_sum",
    ),
    P(F.mse_loss, TF.mse_loss, [rn(3, 4), rn(3, 4, seed=1)], id="mse"),
    P(
        lambda a, b: F.mse_loss(a, b, "sum"),
        lambda a, b: TF.mse_loss(a, b, reduction="sum"),
        [rn(3, 4), rn(3, 4, seed=1)],
        id="mse_sum",
    ),
    P(
        F.binary_cross_entropy_with_logits,
        TF.binary_cross_entropy_with_logits,
        [rn(3, 4) * 3, np.random.default_rng(1).random((3, 4))],
        id="bce_logits",
    ),
    P(
        lambda z, y, w: F.binary_cross_entropy_with_logits(z, y, w, reduction="none"),
        lambda z, y, w: TF.binary_cross_entropy_with_logits(z, y, w, reduction="none"),
        [rn(3, 4) * 3, Const(np.random.default_rng(1).random((3, 4))), Const(pos(4))],
        id="bce_logits_weights_none",
    ),
    # convolution, pooling
    P(F.conv2d, TF.conv2d, [rn(2, 3, 5, 5), rn(4, 3, 3, 3), rn(4)], id="conv2d"),
    P(
        lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1),
        lambda x, w, b: TF.conv2d(x, w, b, stride=2, padding=1),
        [rn(2, 3, 6, 5), rn(4, 3, 3, 3), rn(4)],
        id="conv2d_stride_padding",
    ),
    P(
        lambda x, w: F.conv2d(x, w, dilation=2, padding=(2, 1)),
        lambda x, w: TF.conv2d(x, w, dilation=2, padding=(2, 1)),
        [rn(1, 2, 7, 7), rn(3, 2, 3, 3)],
        id="conv2d_dilation",
    ),
    P(
        lambda x, w, b: F.conv2d(x, w, b, groups=2, stride=(1, 2)),
        lambda x, w, b: TF.conv2d(x, w, b, groups=2, stride=(1, 2)),
        [rn(2, 4, 5, 5), rn(6, 2, 3, 2), rn(6)],
        id="conv2d_groups",
    ),
    P(
        lambda x, w: F.conv2d(x, w, padding="same"),
        lambda x, w: TF.conv2d(x, w, padding="same"),
        [rn(1, 2, 5, 5), rn(2, 2, 3, 3)],
        id="conv2d_same",
    ),
    P(
        lambda x, w, b: F.conv1d(x, w, b, stride=2, padding=1, dilation=2),
        lambda x, w, b: TF.conv1d(x, w, b, stride=2, padding=1, dilation=2),
        [rn(2, 3, 9), rn(4, 3, 3), rn(4)],
        id="conv1d",
    ),
    P(
        lambda x, w: F.conv1d(x, w, groups=3),
        lambda x, w: TF.conv1d(x, w, groups=3),
        [rn(2, 3, 7), rn(6, 1, 3)],
        id="conv1d_groups",
    ),
    P(lambda x: F.max_pool2d(x, 2), lambda x: TF.max_pool2d(x, 2), [distinct(2, 2, 6, 7)], id="max_pool2d"),
    P(
        lambda x: F.max_pool2d(x, 3, 2, 1),
        lambda x: TF.max_pool2d(x, 3, 2, 1),
        [distinct(2, 2, 6, 7)],
        id="max_pool2d_stride_padding",
    ),
    P(
        lambda x: F.max_pool2d(x, 2, 1, 0, 2),
        lambda x: TF.max_pool2d(x, 2, 1, 0, 2),
        [distinct(1, 2, 5, 5)],
        id="max_pool2d_dilation",
    ),
    P(lambda x: F.avg_pool2d(x, 2), lambda x: TF.avg_pool2d(x, 2), [rn(2, 2, 6, 7)], id="avg_pool2d"),
    P(
        lambda x: F.avg_pool2d(x, 3, 2, 1),
        lambda x: TF.avg_pool2d(x, 3, 2, 1),
        [rn(2, 2, 6, 7)],
        id="avg_pool2d_stride_padding",
    ),
    # embedding, dropout (PyTorch's RNG differs: its side applies the mask refimpl draws for generator=3)
    P(
        lambda w: F.embedding(np.array([[0, 4, 0], [2, 0, 4]]), w),
        lambda w: TF.embedding(torch.tensor([[0, 4, 0], [2, 0, 4]]), w),
        [rn(5, 3)],
        id="embedding",
    ),
    P(lambda x: F.dropout(x, 0.4, generator=3), lambda x: x * t_(DROP_MASK) / 0.6, [rn(3, 4)], id="dropout"),
    # normalisation
    P(
        lambda x, g, b: F.layer_norm(x, (4,), g, b),
        lambda x, g, b: TF.layer_norm(x, (4,), g, b),
        [X, rn(4, seed=1), rn(4, seed=2)],
        id="layer_norm",
    ),
    P(lambda x: F.layer_norm(x, (3, 4)), lambda x: TF.layer_norm(x, (3, 4)), [X], id="layer_norm_2d"),
    P(
        lambda x, g, b: F.group_norm(x, 3, g, b),
        lambda x, g, b: TF.group_norm(x, 3, g, b),
        [rn(2, 6, 3, 2), rn(6, seed=1), rn(6, seed=2)],
        id="group_norm",
    ),
    P(
        lambda x, g, b: F.batch_norm(x, None, None, g, b, training=True),
        lambda x, g, b: TF.batch_norm(x, None, None, g, b, training=True),
        [rn(3, 2, 2, 3), rn(2, seed=1), rn(2, seed=2)],
        id="batch_norm_train",
    ),
    P(
        lambda x, m, v, g, b: F.batch_norm(x, m, v, g, b),
        lambda x, m, v, g, b: TF.batch_norm(x, m, v, g, b),
        [rn(4, 3), Const(rn(3, seed=3)), Const(pos(3)), rn(3, seed=1), rn(3, seed=2)],
        id="batch_norm_eval",
    ),
    P(
        lambda x, w: F.rms_norm(x, 4, w),
        lambda x, w: TF.rms_norm(x, (4,), w),
        [X, rn(4, seed=1)],
        id="rms_norm",
    ),
    P(
        lambda x: F.rms_norm(x, (3, 4), eps=1e-3),
        lambda x: TF.rms_norm(x, (3, 4), eps=1e-3),
        [X],
        id="rms_norm_eps",
    ),
    # attention
    P(
        F.scaled_dot_product_attention,
        TF.scaled_dot_product_attention,
        [rn(2, 3, 4), rn(2, 5, 4), rn(2, 5, 6)],
        id="sdpa",
    ),
    P(
        lambda q, k, v: F.scaled_dot_product_attention(q, k, v, CMASK),
        lambda q, k, v: TF.scaled_dot_product_attention(q, k, v, t_(CMASK)),
        [rn(2, 3, 4), rn(2, 5, 4), rn(2, 5, 6)],
        id="sdpa_bool_mask",
    ),
    P(
        lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v, m, scale=0.3),
        lambda q, k, v, m: TF.scaled_dot_product_attention(q, k, v, m, scale=0.3),
        [rn(2, 3, 4), rn(2, 5, 4), rn(2, 5, 6), Const(rn(3, 5))],
        id="sdpa_float_mask_scale",
    ),
    P(
        lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
        lambda q, k, v: TF.scaled_dot_product_attention(q, k, v, is_causal=True),
        [rn(2, 2, 4, 3), rn(2, 2, 4, 3, seed=1), rn(2, 2, 4, 3, seed=2)],
        id="sdpa_causal",
    ),
]


@pytest.mark.parametrize("ours, theirs, inputs", CASES)
def test_matches_pytorch(ours, theirs, inputs):
    check(ours, theirs, inputs)


@pytest.mark.parametrize("shape", [(6, 3), (3, 2, 2, 3)])
def test_batch_norm_running_stats_match_pytorch(shape):
    x = rn(*shape) * 2 + 1
    c = shape[1]
    ours_m, ours_v = np.full(c, 0.5), np.full(c, 2.0)
    th_m, th_v = torch.full((c,), 0.5, dtype=torch.float64), torch.full((c,), 2.0, dtype=torch.float64)
    for _ in range(3):
        F.batch_norm(refimpl.tensor(x), ours_m, ours_v, training=True, momentum=0.2)
        TF.batch_norm(torch.from_numpy(x), th_m, th_v, training=True, momentum=0.2)
    assert_close(ours_m, th_m.numpy(), "running_mean")
    assert_close(ours_v, th_v.numpy(), "running_var")


def test_dropout_mask_is_the_documented_draw():
    # the dropout row above relies on F.dropout(generator=3) keeping exactly DROP_MASK
    y = F.dropout(refimpl.tensor(np.ones((3, 4))), 0.4, generator=3).data
    np.testing.assert_array_equal(y != 0, DROP_MASK)
