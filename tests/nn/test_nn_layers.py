"""Tests of the layers in `refimpl.nn.layers`: output shapes, values against independent NumPy
references (naive loops, closed forms, hand-computed numbers), float64 gradchecks of the input and
parameter gradients, state-dict round trips, BatchNorm statistics, Dropout, initialisation formulas,
containers, the causal LM, and input validation.  (PyTorch comparisons live in tests/xcheck/.)"""

from __future__ import annotations

import math

import numpy as np
import pytest

import refimpl
from refimpl import nn
from refimpl.nn import functional_call


def _rng(seed=0):
    return np.random.default_rng(seed)


def _t(x, requires_grad=False):
    return refimpl.tensor(np.asarray(x), requires_grad=requires_grad)


def check_grads(model, *inputs, before=None, mode="auto"):
    """float64 gradcheck of model(*inputs) with respect to the float inputs and every parameter
    (the parameters enter through `functional_call`).  `before` runs before each evaluation (e.g. to
    reseed a dropout generator so every evaluation draws the same mask)."""
    model.double()
    names = [n for n, _ in model.named_parameters()]
    params = [p.data for _, p in model.named_parameters()]
    k = len(inputs)

    def fn(*args):
        if before is not None:
            before()
        return functional_call(model, dict(zip(names, args[k:])), *args[:k])

    assert refimpl.gradcheck(fn, *inputs, *params, mode=mode)


# --- independent NumPy references -----------------------------------------------------------------
def conv2d_naive(x, w, b, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1):
    """Direct loop over every output element (the test oracle for Conv2d)."""
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    oh = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    ow = (wd + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((n, o, oh, ow))
    og = o // groups
    for ni in range(n):
        for oi in range(o):
            g = oi // og
            for i in range(oh):
                for j in range(ow):
                    patch = xp[
                        ni,
                        g * cg : (g + 1) * cg,
                        i * sh : i * sh + dh * (kh - 1) + 1 : dh,
                        j * sw : j * sw + dw * (kw - 1) + 1 : dw,
                    ]
                    out[ni, oi, i, j] = np.sum(patch * w[oi]) + (0 if b is None else b[oi])
    return out


def pool_naive(x, k, s, reduce):
    n, c, h, w = x.shape
    oh, ow = (h - k) // s + 1, (w - k) // s + 1
    out = np.zeros((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            out[:, :, i, j] = reduce(x[:, :, i * s : i * s + k, j * s : j * s + k], axis=(2, 3))
    return out


def softmax_np(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def mha_naive(xq, xk, w_in, b_in, w_out, b_out, h, keep=None):
    """Per-sample, per-head loop; keep[i, j] = True where query i may attend to key j."""
    n, lq, e = xq.shape
    d = e // h
    q = xq @ w_in[:e].T + b_in[:e]
    k = xk @ w_in[e : 2 * e].T + b_in[e : 2 * e]
    v = xk @ w_in[2 * e :].T + b_in[2 * e :]
    out = np.zeros((n, lq, e))
    for ni in range(n):
        for hi in range(h):
            sl = slice(hi * d, (hi + 1) * d)
            s = q[ni, :, sl] @ k[ni, :, sl].T / math.sqrt(d)
            if keep is not None:
                s = np.where(keep, s, -np.inf)
            out[ni, :, sl] = softmax_np(s) @ v[ni, :, sl]
    return out @ w_out.T + b_out


def layer_norm_np(x, axes, eps=1e-5):
    mu = x.mean(axis=axes, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=axes, keepdims=True)
    return (x - mu) / np.sqrt(var + eps)


_erf = np.vectorize(math.erf)

# --- shapes ---------------------------------------------------------------------------------------
SHAPES = [
    ("linear", lambda: nn.Linear(5, 3), (2, 4, 5), (2, 4, 3)),
    ("conv1d", lambda: nn.Conv1d(3, 6, 3, stride=2, padding=1), (2, 3, 11), (2, 6, 6)),
    ("conv1d_same", lambda: nn.Conv1d(3, 6, 5, padding="same", dilation=2), (2, 3, 11), (2, 6, 11)),
    ("conv2d", lambda: nn.Conv2d(4, 6, 3), (2, 4, 9, 8), (2, 6, 7, 6)),
    (
        "conv2d_strided",
        lambda: nn.Conv2d(4, 6, (3, 2), stride=(2, 1), padding=(1, 0), dilation=(1, 2), groups=2),
        (2, 4, 9, 8),
        (2, 6, 5, 6),
    ),
    ("conv2d_same", lambda: nn.Conv2d(4, 6, 3, padding="same"), (2, 4, 9, 8), (2, 6, 9, 8)),
    ("conv2d_valid", lambda: nn.Conv2d(4, 6, 3, padding="valid"), (2, 4, 9, 8), (2, 6, 7, 6)),
    ("maxpool", lambda: nn.MaxPool2d(2), (2, 3, 9, 8), (2, 3, 4, 4)),
    ("maxpool_pad", lambda: nn.MaxPool2d(3, stride=2, padding=1), (2, 3, 9, 8), (2, 3, 5, 4)),
    ("avgpool", lambda: nn.AvgPool2d(3, stride=1), (2, 3, 9, 8), (2, 3, 7, 6)),
    ("layernorm", lambda: nn.LayerNorm((4, 5)), (2, 3, 4, 5), (2, 3, 4, 5)),
    ("rmsnorm", lambda: nn.RMSNorm(5), (2, 3, 5), (2, 3, 5)),
    ("groupnorm", lambda: nn.GroupNorm(2, 4), (2, 4, 3, 3), (2, 4, 3, 3)),
    ("batchnorm1d", lambda: nn.BatchNorm1d(4), (5, 4), (5, 4)),
    ("batchnorm1d_3d", lambda: nn.BatchNorm1d(4), (5, 4, 3), (5, 4, 3)),
    ("batchnorm2d", lambda: nn.BatchNorm2d(4), (5, 4, 3, 2), (5, 4, 3, 2)),
    ("dropout", lambda: nn.Dropout(0.5), (4, 5), (4, 5)),
    ("relu", lambda: nn.ReLU(), (4, 5), (4, 5)),
    ("gelu", lambda: nn.GELU(), (4, 5), (4, 5)),
    ("tanh", lambda: nn.Tanh(), (4, 5), (4, 5)),
    ("silu", lambda: nn.SiLU(), (4, 5), (4, 5)),
    ("sigmoid", lambda: nn.Sigmoid(), (4, 5), (4, 5)),
    ("leaky_relu", lambda: nn.LeakyReLU(), (4, 5), (4, 5)),
    ("identity", lambda: nn.Identity(7, foo=1), (4, 5), (4, 5)),
    ("flatten", lambda: nn.Flatten(), (2, 3, 4, 5), (2, 60)),
    ("flatten_mid", lambda: nn.Flatten(1, 2), (2, 3, 4, 5), (2, 12, 5)),
    ("sequential", lambda: nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 2)), (3, 5), (3, 2)),
    ("mlp", lambda: nn.MLP([5, 8, 8, 2], norm="batch", dropout=0.1), (3, 5), (3, 2)),
    ("mha", lambda: nn.MultiHeadAttention(8, 2), (2, 5, 8), (2, 5, 8)),
    ("mha_unbatched", lambda: nn.MultiHeadAttention(8, 2), (5, 8), (5, 8)),
    ("block", lambda: nn.TransformerBlock(8, 2, 16), (2, 5, 8), (2, 5, 8)),
]


@pytest.mark.parametrize("make,in_shape,out_shape", [s[1:] for s in SHAPES], ids=[s[0] for s in SHAPES])
def test_output_shape_and_dtype(make, in_shape, out_shape):
    m = make()
    y = m(_t(_rng().standard_normal(in_shape).astype(np.float32)))
    assert y.shape == out_shape
    assert y.dtype == np.float32


def test_embedding_and_lm_shapes():
    idx = _rng().integers(0, 7, (2, 3, 4))
    assert nn.Embedding(7, 5)(idx).shape == (2, 3, 4, 5)
    lm = nn.CharTransformerLM(11, 8, d_model=16, n_layers=2, n_heads=4)
    assert lm(_rng().integers(0, 11, (3, 6))).shape == (3, 6, 11)
    assert lm.loss(_rng().integers(0, 11, (3, 6)), _rng(1).integers(0, 11, (3, 6))).shape == ()


def test_dtype_argument_gives_float64_layers():
    for m in (
        nn.Linear(3, 2, dtype=np.float64),
        nn.Conv2d(1, 2, 3, dtype=np.float64),
        nn.LayerNorm(3, dtype=np.float64),
        nn.MultiHeadAttention(4, 2, dtype=np.float64),
    ):
        assert all(p.dtype == np.float64 for p in m.parameters())
    bn = nn.BatchNorm1d(3, dtype=np.float64)
    assert bn.running_mean.dtype == bn.running_var.dtype == np.float64


# --- values against independent references --------------------------------------------------------
CONV_CASES = [
    dict(),
    dict(stride=(2, 1), padding=(1, 2)),
    dict(dilation=(2, 1), padding=2),
    dict(groups=2, stride=2, bias=False),
    dict(groups=4, padding="same"),
]


@pytest.mark.parametrize("kw", CONV_CASES, ids=[str(k) for k in CONV_CASES])
def test_conv2d_equals_naive_loop(kw):
    conv = nn.Conv2d(4, 8, 3, rng=0, dtype=np.float64, **kw)
    x = _rng().standard_normal((2, 4, 7, 6))
    pad = (1, 1) if kw.get("padding") == "same" else conv.padding
    b = None if conv.bias is None else conv.bias.data
    ref = conv2d_naive(x, conv.weight.data, b, conv.stride, pad, conv.dilation, conv.groups)
    np.testing.assert_allclose(conv(_t(x)).data, ref, rtol=1e-12, atol=1e-12)


def test_conv1d_equals_naive_loop_on_a_height_one_image():
    conv = nn.Conv1d(3, 6, 3, stride=2, padding=1, dilation=2, groups=3, rng=0, dtype=np.float64)
    x = _rng().standard_normal((2, 3, 10))
    ref = conv2d_naive(
        x[:, :, None], conv.weight.data[:, :, None], conv.bias.data, (1, 2), (0, 1), (1, 2), 3
    )[:, :, 0]
    np.testing.assert_allclose(conv(_t(x)).data, ref, rtol=1e-12, atol=1e-12)


def test_pools_equal_naive_loops():
    x = _rng().standard_normal((2, 3, 7, 8))
    np.testing.assert_allclose(nn.MaxPool2d(3, stride=2)(_t(x)).data, pool_naive(x, 3, 2, np.max), atol=1e-15)
    np.testing.assert_allclose(nn.AvgPool2d(2)(_t(x)).data, pool_naive(x, 2, 2, np.mean), atol=1e-15)


def test_avg_pool_counts_zero_padding():
    # a 2×2 image of ones, kernel 3, padding 1: the top-left window sees 4 ones and 5 zeros
    y = nn.AvgPool2d(3, stride=1, padding=1)(_t(np.ones((1, 1, 2, 2))))
    np.testing.assert_allclose(y.data, np.full((1, 1, 2, 2), 4 / 9))


def test_activations_match_their_formulas():
    x = np.array([-3.0, -1.0, -0.25, 0.0, 0.5, 2.0])
    sig = 1 / (1 + np.exp(-x))
    cases = {
        nn.ReLU(): np.maximum(x, 0),
        nn.LeakyReLU(0.1): np.where(x > 0, x, 0.1 * x),
        nn.Tanh(): np.tanh(x),
        nn.Sigmoid(): sig,
        nn.SiLU(): x * sig,
        nn.GELU(): 0.5 * x * (1 + _erf(x / math.sqrt(2))),
        nn.GELU("tanh"): 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3))),
        nn.Identity(): x,
    }
    for m, ref in cases.items():
        np.testing.assert_allclose(m(_t(x)).data, ref, rtol=1e-12, atol=1e-15, err_msg=repr(m))


def test_layer_group_rms_norm_match_formulas():
    r = _rng()
    x = 2 + 3 * r.standard_normal((2, 6, 3, 4))
    ln = nn.LayerNorm((3, 4), dtype=np.float64)
    ln.weight.data[...] = r.standard_normal((3, 4))
    ln.bias.data[...] = r.standard_normal((3, 4))
    np.testing.assert_allclose(
        ln(_t(x)).data, layer_norm_np(x, (2, 3)) * ln.weight.data + ln.bias.data, atol=1e-12
    )
    gn = nn.GroupNorm(3, 6, dtype=np.float64)
    gn.weight.data[...] = r.standard_normal(6)
    gn.bias.data[...] = r.standard_normal(6)
    ref = layer_norm_np(x.reshape(2, 3, 2, 3, 4), (2, 3, 4)).reshape(x.shape)
    ref = ref * gn.weight.data[:, None, None] + gn.bias.data[:, None, None]
    np.testing.assert_allclose(gn(_t(x)).data, ref, atol=1e-12)
    rms = nn.RMSNorm(4, eps=1e-6, dtype=np.float64)
    rms.weight.data[...] = r.standard_normal(4)
    ref = x / np.sqrt((x**2).mean(-1, keepdims=True) + 1e-6) * rms.weight.data
    np.testing.assert_allclose(rms(_t(x)).data, ref, atol=1e-12)


def test_layer_norm_without_affine_has_no_parameters():
    ln = nn.LayerNorm(4, elementwise_affine=False)
    assert list(ln.parameters()) == []
    x = _rng().standard_normal((3, 4))
    np.testing.assert_allclose(ln(_t(x)).data, layer_norm_np(x, -1), atol=1e-6)


def test_embedding_is_a_row_lookup():
    emb = nn.Embedding(5, 3, rng=0)
    idx = np.array([[4, 0], [4, 2]])
    np.testing.assert_array_equal(emb(idx).data, emb.weight.data[idx])
    np.testing.assert_array_equal(emb(_t(idx)).data, emb.weight.data[idx])  # a Tensor of ids works too


def test_embedding_padding_row_starts_at_zero_and_gets_no_gradient():
    emb = nn.Embedding(5, 3, padding_idx=-1, rng=0)  # negative index → row 4
    assert emb.padding_idx == 4 and np.all(emb.weight.data[4] == 0)
    idx = np.array([4, 1, 4, 1, 0])
    emb(idx).sum().backward()
    np.testing.assert_array_equal(emb.weight.grad[:, 0], [1, 2, 0, 0, 0])


@pytest.mark.parametrize("causal", [False, True])
def test_mha_self_attention_equals_per_head_loop(causal):
    mha = nn.MultiHeadAttention(8, 2, rng=0, dtype=np.float64)
    mha.in_proj_bias.data[...] = _rng(5).standard_normal(24)
    mha.out_proj.bias.data[...] = _rng(6).standard_normal(8)
    x = _rng().standard_normal((2, 5, 8))
    keep = np.tril(np.ones((5, 5), dtype=bool)) if causal else None
    ref = mha_naive(
        x,
        x,
        mha.in_proj_weight.data,
        mha.in_proj_bias.data,
        mha.out_proj.weight.data,
        mha.out_proj.bias.data,
        2,
        keep,
    )
    np.testing.assert_allclose(mha(_t(x), is_causal=causal).data, ref, atol=1e-12)
    if causal:  # the same through an explicit boolean mask (True = NOT allowed, torch.nn's convention)
        out = mha(_t(x), attn_mask=~keep).data
        np.testing.assert_allclose(out, ref, atol=1e-12)
        # and through an additive float mask
        np.testing.assert_allclose(mha(_t(x), attn_mask=np.where(keep, 0.0, -np.inf)).data, ref, atol=1e-12)


def test_mha_cross_attention_and_key_padding_equal_per_head_loop():
    mha = nn.MultiHeadAttention(6, 3, rng=0, dtype=np.float64)
    mha.in_proj_bias.data[...] = _rng(5).standard_normal(18)
    xq, xk = _rng(1).standard_normal((1, 3, 6)), _rng(2).standard_normal((1, 4, 6))
    kpm = np.array([[False, True, False, True]])  # keys 1 and 3 are padding
    keep = np.broadcast_to(~kpm[0], (3, 4))
    ref = mha_naive(
        xq,
        xk,
        mha.in_proj_weight.data,
        mha.in_proj_bias.data,
        mha.out_proj.weight.data,
        mha.out_proj.bias.data,
        3,
        keep,
    )
    np.testing.assert_allclose(mha(_t(xq), _t(xk), _t(xk), key_padding_mask=kpm).data, ref, atol=1e-12)


def test_transformer_block_pre_and_post_norm_compose_as_documented():
    blk = nn.TransformerBlock(8, 2, 12, norm_first=True, rng=0).double()
    x = _t(_rng().standard_normal((2, 5, 8)))
    h = x + blk.self_attn(blk.norm1(x), is_causal=True)
    ref = h + blk.linear2(blk.activation(blk.linear1(blk.norm2(h))))
    np.testing.assert_allclose(blk(x, is_causal=True).data, ref.data, atol=1e-12)
    blk.norm_first = False
    h = blk.norm1(x + blk.self_attn(x))
    ref = blk.norm2(h + blk.linear2(blk.activation(blk.linear1(h))))
    np.testing.assert_allclose(blk(x).data, ref.data, atol=1e-12)


# --- gradchecks (float64; input and parameter gradients) ------------------------------------------
GRAD = [
    ("linear", lambda: nn.Linear(4, 3, rng=0), [(2, 4)]),
    ("linear_nobias", lambda: nn.Linear(4, 3, bias=False, rng=0), [(2, 3, 4)]),
    ("conv1d", lambda: nn.Conv1d(2, 4, 3, stride=2, padding=1, dilation=2, groups=2, rng=0), [(2, 2, 7)]),
    ("conv2d", lambda: nn.Conv2d(2, 3, 3, stride=2, padding=1, rng=0), [(2, 2, 5, 4)]),
    (
        "conv2d_groups_dilation",
        lambda: nn.Conv2d(4, 4, 2, groups=2, dilation=2, padding=1, rng=0),
        [(1, 4, 4, 4)],
    ),
    ("maxpool", lambda: nn.MaxPool2d(2), [(2, 2, 4, 4)]),
    ("maxpool_pad", lambda: nn.MaxPool2d(3, stride=2, padding=1), [(1, 2, 5, 5)]),
    ("avgpool", lambda: nn.AvgPool2d(3, stride=2, padding=1), [(1, 2, 5, 5)]),
    ("layernorm", lambda: nn.LayerNorm(5), [(3, 5)]),
    ("rmsnorm", lambda: nn.RMSNorm(5), [(3, 5)]),
    ("groupnorm", lambda: nn.GroupNorm(2, 4), [(2, 4, 3)]),
    ("batchnorm1d_train", lambda: nn.BatchNorm1d(3), [(5, 3)]),
    ("batchnorm2d_train", lambda: nn.BatchNorm2d(2), [(3, 2, 2, 2)]),
    ("relu", lambda: nn.ReLU(), [(3, 4)]),
    ("gelu", lambda: nn.GELU(), [(3, 4)]),
    ("gelu_tanh", lambda: nn.GELU("tanh"), [(3, 4)]),
    ("tanh", lambda: nn.Tanh(), [(3, 4)]),
    ("silu", lambda: nn.SiLU(), [(3, 4)]),
    ("sigmoid", lambda: nn.Sigmoid(), [(3, 4)]),
    ("leaky_relu", lambda: nn.LeakyReLU(0.2), [(3, 4)]),
    ("flatten", lambda: nn.Flatten(), [(2, 3, 2)]),
    ("mlp", lambda: nn.MLP([4, 6, 3], activation="silu", norm="layer", rng=0), [(3, 4)]),
    ("mha_self", lambda: nn.MultiHeadAttention(4, 2, rng=0), [(2, 3, 4)]),
    ("mha_cross", lambda: nn.MultiHeadAttention(4, 2, rng=0), [(1, 2, 4), (1, 3, 4), (1, 3, 4)]),
    ("block_prenorm", lambda: nn.TransformerBlock(4, 2, 6, rng=0), [(1, 3, 4)]),
    (
        "block_postnorm",
        lambda: nn.TransformerBlock(4, 2, 6, norm_first=False, activation="relu", rng=0),
        [(1, 3, 4)],
    ),
]


@pytest.mark.parametrize("make,shapes", [g[1:] for g in GRAD], ids=[g[0] for g in GRAD])
def test_gradcheck(make, shapes):
    r = _rng(3)
    inputs = [r.standard_normal(s) for s in shapes]
    check_grads(make(), *inputs)


def test_gradcheck_mha_causal_and_masks():
    mha = nn.MultiHeadAttention(4, 2, rng=0).double()
    fmask = _rng(1).standard_normal((3, 3))
    kpm = np.array([[False, False, True]])
    x = _rng().standard_normal((1, 3, 4))
    names = [n for n, _ in mha.named_parameters()]
    params = [p.data for _, p in mha.named_parameters()]
    for kw in (dict(is_causal=True), dict(attn_mask=fmask, key_padding_mask=kpm)):

        def fn(x, *ps, kw=kw):
            return functional_call(mha, dict(zip(names, ps)), x, **kw)

        assert refimpl.gradcheck(fn, x, *params)


def test_gradcheck_batchnorm_eval_uses_running_stats():
    bn = nn.BatchNorm1d(3).double()
    bn.running_mean[...] = [0.5, -1.0, 2.0]
    bn.running_var[...] = [0.3, 2.0, 1.5]
    bn.eval()
    check_grads(bn, _rng().standard_normal((4, 3)))


def test_gradcheck_dropout_with_a_fixed_mask():
    d = nn.Dropout(0.4)
    reseed = lambda: setattr(d, "generator", np.random.default_rng(7))  # noqa: E731
    reseed()
    check_grads(d, _rng().standard_normal((4, 5)), before=reseed)


def test_gradcheck_embedding_weight():
    emb = nn.Embedding(5, 3, rng=0).double()
    idx = np.array([[0, 2, 2], [4, 0, 1]])
    assert refimpl.gradcheck(lambda w: functional_call(emb, {"weight": w}, idx), emb.weight.data)


def test_gradcheck_char_lm_parameters():
    lm = nn.CharTransformerLM(7, 4, d_model=4, n_layers=1, n_heads=2, d_ff=6, rng=0).double()
    names = [n for n, _ in lm.named_parameters()]
    idx, tgt = _rng().integers(0, 7, (2, 4)), _rng(1).integers(0, 7, (2, 4))

    def loss(*ps):
        logits = functional_call(lm, dict(zip(names, ps)), idx)
        return refimpl.nn.functional.cross_entropy(logits.reshape(-1, 7), tgt.reshape(-1))

    assert refimpl.gradcheck(loss, *[p.data for _, p in lm.named_parameters()], n_directions=6)


# --- state dicts ----------------------------------------------------------------------------------
STATE = [
    ("linear", lambda r: nn.Linear(4, 3, rng=r), (2, 4)),
    ("conv1d", lambda r: nn.Conv1d(2, 4, 3, rng=r), (2, 2, 6)),
    ("conv2d", lambda r: nn.Conv2d(2, 4, 3, groups=2, rng=r), (2, 2, 5, 5)),
    ("layernorm", lambda r: nn.LayerNorm(4), (2, 4)),
    ("rmsnorm", lambda r: nn.RMSNorm(4), (2, 4)),
    ("groupnorm", lambda r: nn.GroupNorm(2, 4), (2, 4, 3)),
    ("batchnorm1d", lambda r: nn.BatchNorm1d(4), (5, 4)),
    ("batchnorm2d", lambda r: nn.BatchNorm2d(2), (3, 2, 2, 2)),
    ("mlp", lambda r: nn.MLP([4, 5, 3], norm="batch", rng=r), (3, 4)),
    ("mha", lambda r: nn.MultiHeadAttention(4, 2, rng=r), (2, 3, 4)),
    ("block", lambda r: nn.TransformerBlock(4, 2, 8, rng=r), (2, 3, 4)),
]


@pytest.mark.parametrize("make,shape", [s[1:] for s in STATE], ids=[s[0] for s in STATE])
def test_state_dict_round_trip_through_npz(make, shape, tmp_path):
    a, b = make(1), make(2)
    for p in a.parameters():  # make every parameter non-default (norm layers start at 1 / 0)
        p.data[...] = _rng(9).standard_normal(p.shape)
    x = _t(_rng().standard_normal(shape).astype(np.float32))
    a.train()
    a(x)  # one training-mode call: BatchNorm's running statistics move away from (0, 1)
    a.eval()
    b.eval()
    assert not np.array_equal(a(x).data, b(x).data)
    a.save(tmp_path / "m.npz")
    b.load(tmp_path / "m.npz")
    np.testing.assert_array_equal(a(x).data, b(x).data)
    for k, v in a.state_dict().items():
        np.testing.assert_array_equal(b.state_dict()[k], v, err_msg=k)


def test_state_dict_round_trip_embedding_and_lm(tmp_path):
    a, b = (
        nn.CharTransformerLM(9, 5, d_model=8, n_heads=2, rng=1),
        nn.CharTransformerLM(9, 5, d_model=8, n_heads=2, rng=2),
    )
    a.save(tmp_path / "lm.npz")
    b.load(tmp_path / "lm.npz")
    idx = _rng().integers(0, 9, (2, 5))
    np.testing.assert_array_equal(a(idx).data, b(idx).data)
    assert "blocks.1.self_attn.in_proj_weight" in a.state_dict()


def test_state_dict_names_follow_pytorch():
    assert set(nn.BatchNorm2d(3).state_dict()) == {
        "weight",
        "bias",
        "running_mean",
        "running_var",
        "num_batches_tracked",
    }
    assert set(nn.MultiHeadAttention(4, 2).state_dict()) == {
        "in_proj_weight",
        "in_proj_bias",
        "out_proj.weight",
        "out_proj.bias",
    }
    assert list(nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)).state_dict()) == [
        "0.weight",
        "0.bias",
        "2.weight",
        "2.bias",
    ]
    assert set(nn.BatchNorm1d(3, track_running_stats=False, affine=False).state_dict()) == set()


# --- BatchNorm statistics -------------------------------------------------------------------------
def test_batchnorm1d_running_statistics_by_hand():
    bn = nn.BatchNorm1d(2, momentum=0.1, eps=0.0, dtype=np.float64)
    x = np.array([[1.0, 2.0], [3.0, 6.0], [5.0, 10.0]])
    # batch mean (3, 6); biased variance (8/3, 32/3); unbiased variance (4, 16)
    y = bn(_t(x)).data
    np.testing.assert_allclose(y[:, 0], np.array([-2.0, 0.0, 2.0]) / math.sqrt(8 / 3))
    np.testing.assert_allclose(y[:, 1], np.array([-4.0, 0.0, 4.0]) / math.sqrt(32 / 3))
    np.testing.assert_allclose(bn.running_mean, [0.3, 0.6])  # 0.9·0 + 0.1·mean
    np.testing.assert_allclose(bn.running_var, [0.9 + 0.4, 0.9 + 1.6])  # 0.9·1 + 0.1·unbiased var
    assert int(bn.num_batches_tracked) == 1
    bn.eval()  # eval: normalise with the running statistics, and leave them alone
    ye = bn(_t(x)).data
    np.testing.assert_allclose(ye[:, 0], (x[:, 0] - 0.3) / math.sqrt(1.3))
    np.testing.assert_allclose(ye[:, 1], (x[:, 1] - 0.6) / math.sqrt(2.5))
    np.testing.assert_allclose(bn.running_mean, [0.3, 0.6])
    assert int(bn.num_batches_tracked) == 1
    assert not np.allclose(y, ye)


def test_batchnorm2d_running_statistics_by_hand():
    bn = nn.BatchNorm2d(1, momentum=0.5, dtype=np.float64)
    x = np.array([1.0, 2.0, 3.0, 6.0]).reshape(2, 1, 1, 2)  # mean 3, biased var 3.5, unbiased 14/3
    y = bn(_t(x)).data
    np.testing.assert_allclose(y.ravel(), (x.ravel() - 3) / math.sqrt(3.5 + 1e-5))
    np.testing.assert_allclose(bn.running_mean, [1.5])
    np.testing.assert_allclose(bn.running_var, [0.5 + 0.5 * 14 / 3])


def test_batchnorm_momentum_none_is_a_cumulative_average():
    bn = nn.BatchNorm1d(1, momentum=None, dtype=np.float64)
    batches = [np.array([[1.0], [3.0]]), np.array([[4.0], [8.0]]), np.array([[0.0], [3.0]])]
    for b in batches:
        bn(_t(b))
    np.testing.assert_allclose(bn.running_mean, [np.mean([2.0, 6.0, 1.5])])
    np.testing.assert_allclose(bn.running_var, [np.mean([2.0, 8.0, 4.5])])  # unbiased variances
    assert int(bn.num_batches_tracked) == 3


def test_batchnorm_without_running_stats_uses_batch_statistics_in_eval():
    bn = nn.BatchNorm1d(2, track_running_stats=False, dtype=np.float64).eval()
    assert bn.running_mean is None and bn.num_batches_tracked is None
    x = _rng().standard_normal((6, 2))
    np.testing.assert_allclose(bn(_t(x)).data, layer_norm_np(x, 0), atol=1e-12)


def test_batchnorm_reset_running_stats():
    bn = nn.BatchNorm1d(2)
    bn(_t(_rng().standard_normal((4, 2)).astype(np.float32)))
    bn.reset_running_stats()
    np.testing.assert_array_equal(bn.running_mean, 0)
    np.testing.assert_array_equal(bn.running_var, 1)
    assert int(bn.num_batches_tracked) == 0


# --- Dropout --------------------------------------------------------------------------------------
def test_dropout_eval_is_identity():
    x = _t(_rng().standard_normal((3, 4)))
    d = nn.Dropout(0.7).eval()
    np.testing.assert_array_equal(d(x).data, x.data)


def test_dropout_train_keeps_one_minus_p_and_rescales():
    p = 0.3
    d = nn.Dropout(p, rng=0)
    x = _t(np.ones((200, 500)), requires_grad=True)
    y = d(x)
    kept = y.data != 0
    frac = kept.mean()
    sigma = math.sqrt(p * (1 - p) / kept.size)
    assert abs(frac - (1 - p)) < 5 * sigma, frac
    np.testing.assert_allclose(y.data[kept], 1 / (1 - p))
    g = _rng().standard_normal(y.shape)
    y.backward(g)
    np.testing.assert_allclose(x.grad, g * kept / (1 - p))
    assert not np.array_equal(d(x).data, y.data)  # a fresh mask per call


def test_dropout_edge_probabilities_and_default_generator():
    x = _t(_rng().standard_normal((3, 4)))
    np.testing.assert_array_equal(nn.Dropout(0.0)(x).data, x.data)
    np.testing.assert_array_equal(nn.Dropout(1.0)(x).data, 0)
    refimpl.manual_seed(5)
    a = nn.Dropout(0.5)(x).data
    refimpl.manual_seed(5)
    np.testing.assert_array_equal(nn.Dropout(0.5)(x).data, a)


def test_train_eval_propagate_to_nested_dropout():
    m = nn.MLP([3, 4, 2], dropout=0.5)
    m.eval()
    assert not m[3].training
    x = _t(_rng().standard_normal((5, 3)).astype(np.float32))
    np.testing.assert_array_equal(m(x).data, m(x).data)


def test_attention_dropout_acts_only_in_training():
    blk = nn.TransformerBlock(8, 2, 16, dropout=0.5, rng=0)
    ref = nn.TransformerBlock(8, 2, 16, dropout=0.0, rng=0)
    x = _t(_rng().standard_normal((2, 5, 8)).astype(np.float32))
    assert not np.allclose(blk(x).data, ref(x).data)
    blk.eval()
    np.testing.assert_allclose(blk(x).data, ref(x).data, rtol=1e-6)
    assert not blk.self_attn.training


class _Double(nn.Module):
    def forward(self, w):
        return w * 2.0


@pytest.mark.parametrize(
    "make,name,x",
    [
        (lambda: nn.Conv2d(2, 3, 3, rng=0), "weight", lambda: _t(_rng().standard_normal((1, 2, 5, 5)))),
        (lambda: nn.Embedding(5, 3, rng=0), "weight", lambda: np.array([[1, 4]])),
        (
            lambda: nn.MultiHeadAttention(4, 2, bias=False, rng=0),
            "in_proj_weight",
            lambda: _t(_rng().standard_normal((1, 3, 4))),
        ),
    ],
)
def test_layers_read_parametrized_weights(make, name, x):
    from refimpl.nn.parametrize import register_parametrization

    m = make().double()
    xs = x()
    y0 = m(xs).data
    y_2x = m(xs * 2.0).data if name == "in_proj_weight" else None
    register_parametrization(m, name, _Double())
    y1 = m(xs).data
    if name == "in_proj_weight":  # bias-free projections: (2W) x = W (2x)
        np.testing.assert_allclose(y1, y_2x, atol=1e-12)
    else:  # the weight's term doubles, the bias stays
        b = getattr(m, "bias", None)
        b = 0 if b is None else b.data.reshape((-1,) + (1,) * (y0.ndim - 2))
        np.testing.assert_allclose(y1 - b, 2 * (y0 - b), atol=1e-12)


# --- initialisation -------------------------------------------------------------------------------
def _uniform_bound_ok(a, bound):
    # within the bound, and the spread of a uniform on [-bound, bound] (std = bound/√3, to 3%)
    assert np.abs(a).max() <= bound
    assert abs(a.std() - bound / math.sqrt(3)) < 0.03 * bound / math.sqrt(3)


def test_linear_and_conv_init_bounds():
    lin = nn.Linear(400, 300, rng=0)
    _uniform_bound_ok(lin.weight.data, 1 / math.sqrt(400))  # kaiming-uniform(a=√5) = U(±1/√fan_in)
    assert np.abs(lin.bias.data).max() <= 1 / math.sqrt(400)
    conv = nn.Conv2d(16, 64, 3, groups=4, rng=0)  # fan_in = 16/4 · 3 · 3 = 36
    assert conv.weight.shape == (64, 4, 3, 3)
    _uniform_bound_ok(conv.weight.data, 1 / 6)
    assert np.abs(conv.bias.data).max() <= 1 / 6


def test_mha_embedding_norm_init():
    mha = nn.MultiHeadAttention(64, 4, rng=0)
    _uniform_bound_ok(mha.in_proj_weight.data, math.sqrt(6 / (64 + 3 * 64)))  # xavier-uniform on (3E, E)
    np.testing.assert_array_equal(mha.in_proj_bias.data, 0)
    np.testing.assert_array_equal(mha.out_proj.bias.data, 0)
    _uniform_bound_ok(mha.out_proj.weight.data, 1 / 8)
    w = nn.Embedding(1000, 50, rng=0).weight.data
    assert abs(w.mean()) < 0.01 and abs(w.std() - 1) < 0.01
    for m in (nn.LayerNorm(5), nn.GroupNorm(1, 5), nn.BatchNorm1d(5)):
        np.testing.assert_array_equal(m.weight.data, 1)
        np.testing.assert_array_equal(m.bias.data, 0)
    np.testing.assert_array_equal(nn.RMSNorm(5).weight.data, 1)


def test_rng_argument_makes_init_reproducible():
    a, b, c = nn.Conv2d(2, 3, 3, rng=4), nn.Conv2d(2, 3, 3, rng=4), nn.Conv2d(2, 3, 3, rng=5)
    np.testing.assert_array_equal(a.weight.data, b.weight.data)
    assert not np.array_equal(a.weight.data, c.weight.data)
    g = np.random.default_rng(0)
    l1, l2 = nn.Linear(3, 3, rng=g), nn.Linear(3, 3, rng=g)  # a shared Generator advances
    assert not np.array_equal(l1.weight.data, l2.weight.data)
    m1, m2 = nn.MLP([3, 4, 4, 2], rng=1), nn.MLP([3, 4, 4, 2], rng=1)
    assert not np.array_equal(m1[0].weight.data[:3, :3], m1[2].weight.data[:3, :3])
    for p, q in zip(m1.parameters(), m2.parameters()):
        np.testing.assert_array_equal(p.data, q.data)


# --- containers and MLP ---------------------------------------------------------------------------
def test_sequential_indexing_iteration_length():
    l1, act, l2 = nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)
    seq = nn.Sequential(l1, act, l2)
    assert len(seq) == 3 and list(seq) == [l1, act, l2]
    assert seq[0] is l1 and seq[-1] is l2
    head = seq[:2]
    assert isinstance(head, nn.Sequential) and len(head) == 2 and head[1] is act
    x = _t(_rng().standard_normal((5, 3)).astype(np.float32))
    np.testing.assert_array_equal(seq(x).data, l2(act(l1(x))).data)
    np.testing.assert_array_equal(head(x).data, act(l1(x)).data)
    new = nn.Linear(4, 2)
    seq[2] = new
    assert seq[2] is new and len(list(seq.parameters())) == 4
    seq.append(nn.Tanh())
    assert len(seq) == 4 and isinstance(seq[3], nn.Tanh)
    with pytest.raises(IndexError, match="index"):
        seq[4]


def test_sequential_from_ordered_dict_keeps_names():
    from collections import OrderedDict

    seq = nn.Sequential(OrderedDict(fc=nn.Linear(2, 3), act=nn.ReLU(), out=nn.Linear(3, 1)))
    assert list(seq.state_dict()) == ["fc.weight", "fc.bias", "out.weight", "out.bias"]
    assert isinstance(seq[1], nn.ReLU)


def test_module_list_registers_its_modules():
    ml = nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 3)])
    ml.append(nn.Linear(3, 1))
    assert len(ml) == 3 and len(list(ml.parameters())) == 6
    assert ml[-1].out_features == 1 and [m.out_features for m in ml] == [2, 3, 1]
    assert len(ml[1:]) == 2
    with pytest.raises(TypeError, match="forward"):
        ml(1)
    with pytest.raises(TypeError, match="Module"):
        ml.append(3)


def test_mlp_structure():
    m = nn.MLP([4, 8, 8, 2], activation="gelu", dropout=0.1, norm="layer")
    kinds = [type(c).__name__ for c in m]
    assert kinds == ["Linear", "LayerNorm", "GELU", "Dropout"] * 2 + ["Linear"]
    assert [m[i].out_features for i in (0, 4, 8)] == [8, 8, 2]
    assert [type(c).__name__ for c in nn.MLP([3, 2])] == ["Linear"]
    assert isinstance(nn.MLP([3, 4, 2], activation=nn.Tanh)[1], nn.Tanh)  # a Module class as the factory
    assert nn.MLP([3, 4, 2], bias=False)[0].bias is None


# --- CharTransformerLM ----------------------------------------------------------------------------
def test_char_lm_is_causal():
    lm = nn.CharTransformerLM(13, 8, d_model=16, n_layers=2, n_heads=4, rng=0)
    idx = _rng().integers(0, 13, (2, 8))
    changed = idx.copy()
    changed[:, 5] = (changed[:, 5] + 1) % 13
    a, b = lm(idx).data, lm(changed).data
    np.testing.assert_array_equal(a[:, :5], b[:, :5])  # earlier positions never see a later token
    assert not np.allclose(a[:, 5:], b[:, 5:])


def test_char_lm_accepts_shorter_contexts_and_initial_loss_is_near_log_vocab():
    lm = nn.CharTransformerLM(20, 8, d_model=16, n_heads=2, rng=0)
    idx = _rng().integers(0, 20, (4, 3))
    assert lm(idx).shape == (4, 3, 20)
    loss = lm.loss(_rng().integers(0, 20, (16, 8)), _rng(1).integers(0, 20, (16, 8))).item()
    assert abs(loss - math.log(20)) < 0.5


def test_char_lm_generate():
    lm = nn.CharTransformerLM(10, 4, d_model=8, n_heads=2, rng=0)
    prompt = np.array([[1, 2], [3, 4]])
    out = lm.generate(prompt, 7, rng=0)  # longer than block_size: the context is cropped
    assert out.shape == (2, 9) and out.dtype == np.int64
    np.testing.assert_array_equal(out[:, :2], prompt)
    assert out.min() >= 0 and out.max() < 10
    np.testing.assert_array_equal(lm.generate(prompt, 7, rng=0), out)  # seeded
    assert lm.generate(np.array([5]), 3, rng=0).shape == (4,)
    assert lm.training  # the mode is restored
    greedy = lm.generate(prompt, 1, temperature=0.0)
    np.testing.assert_array_equal(greedy[:, -1], lm(prompt).data[:, -1].argmax(-1))


def test_char_lm_sampling_follows_the_softmax():
    lm = nn.CharTransformerLM(4, 2, d_model=8, n_heads=2, rng=0)
    lm.head.weight.data[...] = 0
    lm.head.bias.data[...] = np.log([0.1, 0.2, 0.3, 0.4])
    draws = lm.generate(np.zeros((4000, 1), dtype=np.int64), 1, temperature=1.0, rng=1)[:, 1]
    freq = np.bincount(draws, minlength=4) / 4000
    np.testing.assert_allclose(freq, [0.1, 0.2, 0.3, 0.4], atol=0.03)
    hot = lm.generate(np.zeros((4000, 1), dtype=np.int64), 1, temperature=0.5, rng=1)[:, 1]
    p = np.array([0.1, 0.2, 0.3, 0.4]) ** 2
    np.testing.assert_allclose(np.bincount(hot, minlength=4) / 4000, p / p.sum(), atol=0.03)


# --- input validation -----------------------------------------------------------------------------
def _x(*shape):
    return _t(np.zeros(shape, dtype=np.float32))


BAD_CALLS = [
    ("linear_width", lambda: nn.Linear(3, 2)(_x(4, 5)), ValueError, r"5 features.*\(4, 5\).*expects 3"),
    (
        "conv2d_channels",
        lambda: nn.Conv2d(3, 4, 3)(_x(1, 2, 8, 8)),
        ValueError,
        r"in_channels = 3.*\(1, 2, 8, 8\)",
    ),
    ("conv2d_rank", lambda: nn.Conv2d(3, 4, 3)(_x(3, 8, 8)), ValueError, r"\(N, C, H, W\).*\(3, 8, 8\)"),
    (
        "conv1d_channels",
        lambda: nn.Conv1d(2, 4, 3)(_x(1, 3, 10)),
        ValueError,
        r"in_channels = 2.*\(1, 3, 10\)",
    ),
    ("conv2d_groups", lambda: nn.Conv2d(3, 4, 3, groups=2), ValueError, r"groups.*in_channels=3"),
    (
        "conv2d_same_stride",
        lambda: nn.Conv2d(3, 4, 3, padding="same", stride=2),
        ValueError,
        r"padding='same'.*stride",
    ),
    ("conv2d_padding_word", lambda: nn.Conv2d(3, 4, 3, padding="full"), ValueError, r"padding.*'full'"),
    ("conv2d_kernel", lambda: nn.Conv2d(3, 4, 0), ValueError, r"kernel_size.*0"),
    ("maxpool_rank", lambda: nn.MaxPool2d(2)(_x(2, 8, 8)), ValueError, r"\(N, C, H, W\).*\(2, 8, 8\)"),
    ("maxpool_padding", lambda: nn.MaxPool2d(2, padding=2), ValueError, r"padding.*kernel_size"),
    ("avgpool_rank", lambda: nn.AvgPool2d(2)(_x(8, 8)), ValueError, r"\(N, C, H, W\)"),
    (
        "embedding_range",
        lambda: nn.Embedding(5, 3)(np.array([1, 5])),
        ValueError,
        r"num_embeddings=5.*1\.\.5",
    ),
    ("embedding_dtype", lambda: nn.Embedding(5, 3)(np.array([1.0])), TypeError, r"idx.*float64"),
    ("layernorm_shape", lambda: nn.LayerNorm(4)(_x(2, 5)), ValueError, r"normalized_shape=\(4,\).*\(2, 5\)"),
    ("rmsnorm_shape", lambda: nn.RMSNorm(4)(_x(2, 5)), ValueError, r"normalized_shape=\(4,\).*\(2, 5\)"),
    (
        "groupnorm_channels",
        lambda: nn.GroupNorm(2, 4)(_x(2, 6, 3)),
        ValueError,
        r"num_channels = 4.*\(2, 6, 3\)",
    ),
    ("groupnorm_groups", lambda: nn.GroupNorm(3, 4), ValueError, r"num_groups.*3.*num_channels=4"),
    ("batchnorm1d_features", lambda: nn.BatchNorm1d(3)(_x(2, 4)), ValueError, r"num_features = 3.*\(2, 4\)"),
    ("batchnorm2d_rank", lambda: nn.BatchNorm2d(3)(_x(2, 3, 4)), ValueError, r"\(N, C, H, W\).*\(2, 3, 4\)"),
    ("batchnorm_momentum", lambda: nn.BatchNorm1d(3, momentum=2.0), ValueError, r"momentum.*2\.0"),
    (
        "batchnorm_one_value",
        lambda: nn.BatchNorm1d(3)(_x(1, 3)),
        ValueError,
        r"more than one value per channel",
    ),
    ("dropout_p", lambda: nn.Dropout(1.5), ValueError, r"`p`.*1\.5"),
    ("gelu_approx", lambda: nn.GELU("fast"), ValueError, r"approximate.*'fast'"),
    ("flatten_dims", lambda: nn.Flatten(2, 3)(_x(4, 5)), ValueError, r"start_dim=2.*\(4, 5\)"),
    ("mlp_sizes", lambda: nn.MLP([5]), ValueError, r"sizes.*\[5\]"),
    ("mlp_norm", lambda: nn.MLP([5, 2], norm="weird"), ValueError, r"norm.*'weird'"),
    ("mlp_activation", lambda: nn.MLP([5, 3, 2], activation="swoosh"), ValueError, r"activation.*'swoosh'"),
    ("mlp_activation_instance", lambda: nn.MLP([5, 3, 2], activation=nn.ReLU()), TypeError, r"activation"),
    ("mha_heads", lambda: nn.MultiHeadAttention(8, 3), ValueError, r"num_heads.*3.*embed_dim=8"),
    (
        "mha_width",
        lambda: nn.MultiHeadAttention(8, 2)(_x(2, 5, 6)),
        ValueError,
        r"embed_dim = 8.*\(2, 5, 6\)",
    ),
    (
        "mha_key",
        lambda: nn.MultiHeadAttention(8, 2)(_x(2, 5, 8), _x(3, 4, 8), _x(3, 4, 8)),
        ValueError,
        r"key.*\(3, 4, 8\)",
    ),
    (
        "mha_mask",
        lambda: nn.MultiHeadAttention(8, 2)(_x(2, 5, 8), attn_mask=np.zeros((4, 4), bool)),
        ValueError,
        r"attn_mask.*\(5, 5\).*\(4, 4\)",
    ),
    (
        "mha_padding",
        lambda: nn.MultiHeadAttention(8, 2)(_x(2, 5, 8), key_padding_mask=np.zeros((2, 4), bool)),
        ValueError,
        r"key_padding_mask.*\(2, 5\).*\(2, 4\)",
    ),
    (
        "block_width",
        lambda: nn.TransformerBlock(8, 2, 16)(_x(2, 5, 6)),
        ValueError,
        r"d_model = 8.*\(2, 5, 6\)",
    ),
    (
        "lm_block_size",
        lambda: nn.CharTransformerLM(5, 4, d_model=8, n_heads=2)(np.zeros((1, 5), np.int64)),
        ValueError,
        r"block_size = 4.*\(1, 5\)",
    ),
    (
        "lm_targets",
        lambda: nn.CharTransformerLM(5, 4, d_model=8, n_heads=2).loss(
            np.zeros((2, 3), np.int64), np.zeros((2, 4), np.int64)
        ),
        ValueError,
        r"targets.*\(2, 3\).*\(2, 4\)",
    ),
    (
        "lm_n_new",
        lambda: nn.CharTransformerLM(5, 4, d_model=8, n_heads=2).generate(np.zeros((1, 2), np.int64), -1),
        ValueError,
        r"n_new.*-1",
    ),
    ("sequential_item", lambda: nn.Sequential(nn.ReLU(), 3), TypeError, r"Sequential.*argument 1.*int"),
]


@pytest.mark.parametrize("call,exc,match", [b[1:] for b in BAD_CALLS], ids=[b[0] for b in BAD_CALLS])
def test_bad_input_raises_a_clear_error(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_batch_norm_eval_op_formula_and_gradients():
    """Eval-mode batch norm (one op, BatchNormEval): x̂ = (x − μ_run)/sqrt(σ²_run + ε) per channel, a
    float64 finite-difference check of x̄ and of its second derivative, and no gradient to the buffers."""
    from refimpl.nn import functional as F

    g = np.random.default_rng(0)
    x = g.normal(size=(4, 3, 2, 2))
    mean, var = g.normal(size=3), g.uniform(0.5, 2.0, size=3)
    out = F.batch_norm(refimpl.tensor(x), mean, var, training=False, eps=1e-5).data
    by_hand = np.empty_like(x)
    for c in range(3):
        by_hand[:, c] = (x[:, c] - mean[c]) / math.sqrt(var[c] + 1e-5)
    assert np.allclose(out, by_hand, rtol=1e-12, atol=1e-12)
    w = refimpl.tensor(g.normal(size=3), requires_grad=True)

    def fn(t, w):
        return (F.batch_norm(t, mean, var, weight=w, training=False) ** 2).sum()

    xt = refimpl.tensor(x, requires_grad=True)
    assert refimpl.gradcheck(fn, xt, w)
    assert refimpl.gradgradcheck(fn, xt, w)


def test_batch_norm_running_statistics_update_by_hand():
    """The training-mode update (UpdateRunningStats): μ ← (1−m)μ + m·mean, σ² ← (1−m)σ² + m·var·n/(n−1),
    the count up by one, and momentum None = the cumulative average 1/count."""
    bn = nn.BatchNorm1d(2, momentum=None, dtype=np.float64)
    g = np.random.default_rng(1)
    batches = [g.normal(size=(5, 2)) for _ in range(3)]
    for b in batches:
        bn(refimpl.tensor(b))
    assert int(bn.num_batches_tracked) == 3
    assert np.allclose(bn.running_mean, np.mean([b.mean(0) for b in batches], axis=0), atol=1e-12)
    assert np.allclose(bn.running_var, np.mean([b.var(0, ddof=1) for b in batches], axis=0), atol=1e-12)
