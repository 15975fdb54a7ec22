"""Every layer of `refimpl.nn` against its PyTorch counterpart, in float64: given the same weights
(our state dict loaded into the torch module under the same names), the forward output, the input
gradient and every parameter gradient agree, with a random (not all-ones) upstream gradient."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
tnn = torch.nn

import refimpl  # noqa: E402
from refimpl import nn  # noqa: E402

ATOL, RTOL = 1e-10, 1e-8


def _rng(seed=0):
    return np.random.default_rng(seed)


def _load_into_torch(ours: nn.Module, theirs, rename=None):
    """Copy our parameters and buffers into the torch module (names mapped by `rename`)."""
    rename = rename or (lambda k: k)
    sd = {rename(k): torch.tensor(np.asarray(v)) for k, v in ours.state_dict().items()}
    theirs.double()
    missing, unexpected = theirs.load_state_dict(sd, strict=False)
    assert not unexpected, unexpected
    assert all(k.endswith("num_batches_tracked") for k in missing), missing
    return theirs


def _close(a, b, what):
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape, f"{what}: shapes {a.shape} vs {b.shape}"
    assert np.isfinite(a).all() and np.isfinite(b).all(), f"{what}: non-finite values (ours {a}, torch {b})"
    err = np.abs(a - b)
    tol = ATOL + RTOL * np.abs(b)
    if (err > tol).any():
        k = np.unravel_index(np.argmax(err - tol), a.shape)
        raise AssertionError(f"{what}: max abs error {err.max():.3e} at {k}: ours {a[k]!r}, torch {b[k]!r}")


def compare(ours, theirs, *inputs, rename=None, call=None, tcall=None, grad_inputs=True, seed=1):
    """Forward and backward of `ours` and `theirs` on the same float64 inputs (ndarrays; integer
    arrays are passed without gradients) with the same random upstream gradient."""
    ours.double()
    ours.zero_grad()
    theirs = _load_into_torch(ours, theirs, rename)
    theirs.zero_grad()
    call = call or (lambda m, *xs: m(*xs))
    tcall = tcall or call
    ox = [
        refimpl.tensor(x, requires_grad=grad_inputs and x.dtype.kind == "f")
        if isinstance(x, np.ndarray)
        else x
        for x in inputs
    ]
    tx = [
        torch.tensor(x, requires_grad=grad_inputs and x.dtype.kind == "f") if isinstance(x, np.ndarray) else x
        for x in inputs
    ]
    y = call(ours, *ox)
    ty = tcall(theirs, *tx)
    _close(y.data, ty.detach().numpy(), "forward")
    g = _rng(seed).standard_normal(y.shape)
    y.backward(g)
    ty.backward(torch.tensor(g))
    for i, (a, b) in enumerate(zip(ox, tx)):
        if isinstance(a, refimpl.Tensor) and a.requires_grad:
            _close(a.grad, b.grad.numpy(), f"input {i} gradient")
    tparams = dict(theirs.named_parameters())
    rename = rename or (lambda k: k)
    names = [n for n, _ in ours.named_parameters()]
    assert len(names) == len(tparams), (names, list(tparams))
    for name, p in ours.named_parameters():
        tp = tparams[rename(name)]
        _close(p.grad, tp.grad.numpy(), f"gradient of {name}")
    return y, ty, theirs


# --- linear, convolution, pooling -----------------------------------------------------------------
@pytest.mark.parametrize("bias", [True, False])
def test_linear(bias):
    compare(nn.Linear(5, 3, bias=bias, rng=0), tnn.Linear(5, 3, bias=bias), _rng().standard_normal((2, 4, 5)))


CONV2D = [
    dict(),
    dict(stride=2, padding=1),
    dict(stride=(2, 1), padding=(0, 2), dilation=(1, 2)),
    dict(padding="same", dilation=2),
    dict(padding="valid", stride=3),
    dict(groups=2, padding=1),
    dict(groups=2, stride=2, dilation=2, padding=2, bias=False),
]


@pytest.mark.parametrize("kw", CONV2D, ids=[str(k) for k in CONV2D])
def test_conv2d(kw):
    x = _rng().standard_normal((2, 4, 9, 8))
    compare(nn.Conv2d(4, 6, 3, rng=0, **kw), tnn.Conv2d(4, 6, 3, **kw), x)


def test_conv2d_rectangular_kernel_depthwise():
    x = _rng().standard_normal((2, 4, 7, 6))
    compare(
        nn.Conv2d(4, 8, (3, 2), groups=4, stride=(1, 2), rng=0),
        tnn.Conv2d(4, 8, (3, 2), groups=4, stride=(1, 2)),
        x,
    )


CONV1D = [
    dict(),
    dict(stride=2, padding=2, dilation=2),
    dict(padding="same", groups=3),
    dict(bias=False, padding=1),
]


@pytest.mark.parametrize("kw", CONV1D, ids=[str(k) for k in CONV1D])
def test_conv1d(kw):
    x = _rng().standard_normal((2, 3, 11))
    compare(nn.Conv1d(3, 6, 3, rng=0, **kw), tnn.Conv1d(3, 6, 3, **kw), x)


@pytest.mark.parametrize(
    "kw",
    [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1), dict(kernel_size=(2, 3), stride=(1, 2))],
)
def test_max_pool2d(kw):
    x = _rng().standard_normal((2, 3, 7, 8))  # continuous values: no ties
    compare(nn.MaxPool2d(**kw), tnn.MaxPool2d(**kw), x)


def test_max_pool2d_dilation():
    x = _rng().standard_normal((1, 2, 9, 9))
    compare(nn.MaxPool2d(3, stride=2, dilation=2), tnn.MaxPool2d(3, stride=2, dilation=2), x)


@pytest.mark.parametrize(
    "kw",
    [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1), dict(kernel_size=(2, 3), stride=(1, 2))],
)
def test_avg_pool2d(kw):
    x = _rng().standard_normal((2, 3, 7, 8))
    compare(nn.AvgPool2d(**kw), tnn.AvgPool2d(**kw), x)


# --- embedding, activations, shape ----------------------------------------------------------------
def test_embedding():
    idx = _rng().integers(0, 7, (3, 5))
    compare(nn.Embedding(7, 4, rng=0), tnn.Embedding(7, 4), idx)


def test_embedding_padding_idx_gets_no_gradient():
    idx = np.array([[0, 2, 2, 5], [2, 1, 0, 6]])
    ours = nn.Embedding(7, 4, padding_idx=2, rng=0)
    assert np.all(ours.weight.data[2] == 0)
    ours.weight.data[2] = 0.5  # a non-zero padding row is still output but gets no gradient
    compare(ours, tnn.Embedding(7, 4, padding_idx=2), idx)


ACTS = [
    (lambda: nn.ReLU(), lambda: tnn.ReLU()),
    (lambda: nn.GELU(), lambda: tnn.GELU()),
    (lambda: nn.GELU("tanh"), lambda: tnn.GELU(approximate="tanh")),
    (lambda: nn.Tanh(), lambda: tnn.Tanh()),
    (lambda: nn.SiLU(), lambda: tnn.SiLU()),
    (lambda: nn.Sigmoid(), lambda: tnn.Sigmoid()),
    (lambda: nn.LeakyReLU(0.2), lambda: tnn.LeakyReLU(0.2)),
    (lambda: nn.Identity(), lambda: tnn.Identity()),
    (lambda: nn.Flatten(), lambda: tnn.Flatten()),
    (lambda: nn.Flatten(0, 2), lambda: tnn.Flatten(0, 2)),
    (lambda: nn.Dropout(0.3).eval(), lambda: tnn.Dropout(0.3).eval()),
]


@pytest.mark.parametrize(
    "make",
    ACTS,
    ids=[
        "relu",
        "gelu",
        "gelu_tanh",
        "tanh",
        "silu",
        "sigmoid",
        "leaky_relu",
        "identity",
        "flatten",
        "flatten02",
        "dropout_eval",
    ],
)
def test_activation(make):
    x = _rng().standard_normal((2, 3, 4, 5))
    x[np.abs(x) < 1e-3] = 0.5  # keep away from the ReLU kink
    compare(make[0](), make[1](), x)


# --- normalisation --------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [6, (4, 6)])
def test_layer_norm(shape):
    ours = nn.LayerNorm(shape)
    x = _rng().standard_normal((3, 4, 6))
    ours.weight.data[...] = _rng(5).standard_normal(ours.weight.shape)  # non-trivial affine
    ours.bias.data[...] = _rng(6).standard_normal(ours.bias.shape)
    compare(ours, tnn.LayerNorm(shape), x)


def test_layer_norm_without_bias():
    compare(nn.LayerNorm(6, bias=False), tnn.LayerNorm(6, bias=False), _rng().standard_normal((3, 6)))


@pytest.mark.parametrize("eps", [None, 1e-3])
def test_rms_norm(eps):
    ours = nn.RMSNorm(6, eps=eps)
    ours.weight.data[...] = _rng(5).standard_normal(6)
    compare(ours, tnn.RMSNorm(6, eps=eps), _rng().standard_normal((3, 4, 6)))


def test_group_norm():
    ours = nn.GroupNorm(3, 6)
    ours.weight.data[...] = _rng(5).standard_normal(6)
    ours.bias.data[...] = _rng(6).standard_normal(6)
    compare(ours, tnn.GroupNorm(3, 6), _rng().standard_normal((2, 6, 4, 5)))


@pytest.mark.parametrize(
    "cls,tcls,shape",
    [
        (nn.BatchNorm1d, tnn.BatchNorm1d, (8, 3)),
        (nn.BatchNorm1d, tnn.BatchNorm1d, (4, 3, 5)),
        (nn.BatchNorm2d, tnn.BatchNorm2d, (4, 3, 5, 2)),
    ],
)
@pytest.mark.parametrize("momentum", [0.1, 0.3, None])
def test_batch_norm_train_steps_then_eval(cls, tcls, shape, momentum):
    ours = cls(3, momentum=momentum)
    ours.weight.data[...] = [0.5, 2.0, -1.0]
    ours.bias.data[...] = [0.1, -0.2, 0.3]
    theirs = tcls(3, momentum=momentum)
    x = 3 + 2 * _rng().standard_normal(shape)
    _, _, theirs = compare(ours, theirs, x)  # a training step: batch statistics, running stats updated
    for step in range(2):  # two more steps, so the momentum (and momentum=None's average) matters
        x2 = _rng(10 + step).standard_normal(shape)
        ours(refimpl.tensor(x2))
        theirs(torch.tensor(x2))
    for name in ("running_mean", "running_var"):
        _close(getattr(ours, name), getattr(theirs, name).numpy(), name)
    assert int(ours.num_batches_tracked) == int(theirs.num_batches_tracked) == 3
    ours.eval()
    theirs.eval()
    xe = _rng(20).standard_normal(shape)
    _close(ours(refimpl.tensor(xe)).data, theirs(torch.tensor(xe)).detach().numpy(), "eval output")
    compare(ours, theirs, xe)  # eval-mode gradients (through the running statistics)


@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_without_running_stats(affine):
    ours = nn.BatchNorm2d(3, affine=affine, track_running_stats=False).eval()
    theirs = tnn.BatchNorm2d(3, affine=affine, track_running_stats=False).eval()
    compare(ours, theirs, _rng().standard_normal((4, 3, 2, 2)))


# --- containers -----------------------------------------------------------------------------------
def test_mlp_with_batch_norm_equals_torch_sequential():
    ours = nn.MLP([5, 8, 7, 3], activation="tanh", norm="batch", rng=0)
    theirs = tnn.Sequential(
        tnn.Linear(5, 8),
        tnn.BatchNorm1d(8),
        tnn.Tanh(),
        tnn.Linear(8, 7),
        tnn.BatchNorm1d(7),
        tnn.Tanh(),
        tnn.Linear(7, 3),
    )
    compare(ours, theirs, _rng().standard_normal((6, 5)))


def test_small_cnn_sequential():
    ours = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1, rng=0),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(4, 6, 3, padding=1, rng=1),
        nn.ReLU(),
        nn.AvgPool2d(2),
        nn.Flatten(),
        nn.Linear(6 * 2 * 2, 10, rng=2),
    )
    theirs = tnn.Sequential(
        tnn.Conv2d(1, 4, 3, padding=1),
        tnn.BatchNorm2d(4),
        tnn.ReLU(),
        tnn.MaxPool2d(2),
        tnn.Conv2d(4, 6, 3, padding=1),
        tnn.ReLU(),
        tnn.AvgPool2d(2),
        tnn.Flatten(),
        tnn.Linear(6 * 2 * 2, 10),
    )
    compare(ours, theirs, _rng().standard_normal((3, 1, 8, 8)))


# --- attention and transformers -------------------------------------------------------------------
def _mha_pair(bias=True, e=8, h=2):
    ours = nn.MultiHeadAttention(e, h, bias=bias, rng=0)
    if bias:  # non-zero biases, so that their gradients and placement are tested
        ours.in_proj_bias.data[...] = _rng(7).standard_normal(3 * e)
        ours.out_proj.bias.data[...] = _rng(8).standard_normal(e)
    return ours, tnn.MultiheadAttention(e, h, bias=bias, batch_first=True)


def _torch_mha(**kw):
    return lambda m, q, k=None, v=None: m(
        q, q if k is None else k, q if v is None else v, need_weights=False, **kw
    )[0]


@pytest.mark.parametrize("bias", [True, False])
def test_mha_self_attention(bias):
    ours, theirs = _mha_pair(bias)
    compare(ours, theirs, _rng().standard_normal((2, 5, 8)), call=lambda m, x: m(x), tcall=_torch_mha())


def test_mha_causal():
    ours, theirs = _mha_pair()
    causal = torch.triu(torch.ones(5, 5, dtype=torch.bool), 1)  # torch needs the mask with is_causal
    compare(
        ours,
        theirs,
        _rng().standard_normal((2, 5, 8)),
        call=lambda m, x: m(x, is_causal=True),
        tcall=_torch_mha(attn_mask=causal, is_causal=True),
    )


def test_mha_causal_flag_equals_explicit_boolean_mask():
    ours, theirs = _mha_pair()
    mask = np.triu(
        np.ones((5, 5), dtype=bool), 1
    )  # True = not allowed, torch.nn.MultiheadAttention's convention
    compare(
        ours,
        theirs,
        _rng().standard_normal((2, 5, 8)),
        call=lambda m, x: m(x, attn_mask=mask),
        tcall=_torch_mha(attn_mask=torch.tensor(mask)),
    )


def _padding_mask():
    kpm = np.zeros((2, 5), dtype=bool)
    kpm[0, 3:] = True
    kpm[1, 0] = True
    return kpm


def test_mha_float_masks_per_head_and_key_padding():
    ours, theirs = _mha_pair()
    fmask = _rng(3).standard_normal((2 * 2, 5, 5))  # (N·H, L, S), added to the scores
    kpm = np.where(_padding_mask(), -np.inf, 0.0)  # a float key-padding mask is added too
    compare(
        ours,
        theirs,
        _rng().standard_normal((2, 5, 8)),
        call=lambda m, x: m(x, attn_mask=fmask, key_padding_mask=kpm),
        tcall=_torch_mha(attn_mask=torch.tensor(fmask), key_padding_mask=torch.tensor(kpm)),
    )


def test_mha_boolean_masks_and_key_padding():
    ours, theirs = _mha_pair()
    bmask = _rng(3).random((5, 5)) < 0.3  # True = not allowed
    np.fill_diagonal(bmask, False)  # every query keeps at least itself
    kpm = _padding_mask()
    kpm[1, 0] = False
    compare(
        ours,
        theirs,
        _rng().standard_normal((2, 5, 8)),
        call=lambda m, x: m(x, attn_mask=bmask, key_padding_mask=kpm),
        tcall=_torch_mha(attn_mask=torch.tensor(bmask), key_padding_mask=torch.tensor(kpm)),
    )


def test_mha_cross_attention():
    ours, theirs = _mha_pair()
    r = _rng()
    q, k, v = r.standard_normal((2, 4, 8)), r.standard_normal((2, 6, 8)), r.standard_normal((2, 6, 8))
    compare(ours, theirs, q, k, v, call=lambda m, q, k, v: m(q, k, v), tcall=_torch_mha())


def test_mha_unbatched():
    ours, theirs = _mha_pair()
    compare(ours, theirs, _rng().standard_normal((5, 8)), call=lambda m, x: m(x), tcall=_torch_mha())


@pytest.mark.parametrize("norm_first", [True, False])
@pytest.mark.parametrize("activation", ["gelu", "relu"])
@pytest.mark.parametrize("causal", [False, True])
def test_transformer_block_equals_encoder_layer(norm_first, activation, causal):
    ours = nn.TransformerBlock(8, 2, 12, norm_first=norm_first, activation=activation, rng=0)
    ours.self_attn.in_proj_bias.data[...] = _rng(7).standard_normal(24)
    theirs = tnn.TransformerEncoderLayer(
        8, 2, 12, dropout=0.0, activation=activation, batch_first=True, norm_first=norm_first
    )
    mask = torch.triu(torch.ones(5, 5, dtype=torch.bool), 1) if causal else None
    compare(
        ours,
        theirs,
        _rng().standard_normal((2, 5, 8)),
        call=lambda m, x: m(x, is_causal=causal),
        tcall=lambda m, x: m(x, src_mask=mask, is_causal=causal),
    )


class _TorchCharLM(tnn.Module):
    """The same architecture written with torch layers (for the cross-check only)."""

    def __init__(self, v, block, d, n_layers, h, d_ff):
        super().__init__()
        self.tok_emb, self.pos_emb = tnn.Embedding(v, d), tnn.Embedding(block, d)
        self.blocks = tnn.ModuleList(
            tnn.TransformerEncoderLayer(
                d, h, d_ff, dropout=0.0, activation="gelu", batch_first=True, norm_first=True
            )
            for _ in range(n_layers)
        )
        self.ln_f, self.head = tnn.LayerNorm(d), tnn.Linear(d, v)

    def forward(self, idx):
        t = idx.shape[1]
        h = self.tok_emb(idx) + self.pos_emb(torch.arange(t))
        mask = torch.triu(torch.ones(t, t, dtype=torch.bool), 1)
        for b in self.blocks:
            h = b(h, src_mask=mask, is_causal=True)
        return self.head(self.ln_f(h))


def test_char_transformer_lm_logits_and_gradients():
    ours = nn.CharTransformerLM(11, 6, d_model=8, n_layers=2, n_heads=2, d_ff=16, rng=0)
    theirs = _TorchCharLM(11, 6, 8, 2, 2, 16)
    idx = _rng().integers(0, 11, (3, 6))
    compare(ours, theirs, idx)


def test_char_transformer_lm_loss_equals_torch_cross_entropy():
    ours = nn.CharTransformerLM(11, 6, d_model=8, n_layers=1, n_heads=2, rng=0).double()
    theirs = _load_into_torch(ours, _TorchCharLM(11, 6, 8, 1, 2, 32))
    idx, tgt = _rng().integers(0, 11, (3, 5)), _rng(1).integers(0, 11, (3, 5))
    loss = ours.loss(idx, tgt)
    tloss = torch.nn.functional.cross_entropy(
        theirs(torch.tensor(idx)).reshape(-1, 11), torch.tensor(tgt).reshape(-1)
    )
    _close(loss.data, tloss.detach().numpy(), "loss")
