"""`refimpl.nn.functional`: the functional layer API, with PyTorch's names and argument conventions.

Fused primitives (softmax, log_softmax, cross_entropy, conv, pooling, normalisation) live in
`refimpl.autograd.ops`; everything else here is composed from primitives, so it needs no backward.
"""

from __future__ import annotations

import math

import numpy as np

from ..autograd import ops
from ..autograd.ops.conv import AvgPool2d, Conv2d, MaxPool2d
from ..autograd.ops.nnops import (
    BatchNormEval,
    BCEWithLogits,
    CrossEntropy,
    DropoutMask,
    Normalize,
    UpdateRunningStats,
)
from ..autograd.tensor import Tensor

# activations and basic ops, re-exported
relu = ops.relu
leaky_relu = ops.leaky_relu
gelu = ops.gelu
silu = ops.silu
softplus = ops.softplus
sigmoid = ops.sigmoid
tanh = ops.tanh
softmax = ops.softmax
log_softmax = ops.log_softmax
linear = ops.linear  # checks shapes, see refimpl.autograd.ops.linalg.linear
logsumexp = ops.logsumexp

_REDUCTIONS = ("mean", "sum", "none")


def _learned_weight(weight, what: str, allowed: bool) -> bool:
    """Whether `weight` is a Tensor whose gradient is wanted.  Where PyTorch does not differentiate a
    loss's weight, neither do we, and a weight that asks for a gradient is an error (not silently a
    constant); `allowed` is where it is differentiated (cross-entropy with probability targets)."""
    if not (isinstance(weight, Tensor) and weight.requires_grad and Tensor._grad_enabled):
        return False
    if not allowed:
        raise ValueError(
            f"{what}: `weight` requires grad, but it is not differentiated here (as in PyTorch); "
            "pass weight.detach() or an array"
        )
    return True


def _check_reduction(reduction):
    if reduction not in _REDUCTIONS:
        raise ValueError(f"`reduction` must be one of {_REDUCTIONS}, got {reduction!r}")


def _pair(v, name):
    if isinstance(v, (int, np.integer)):
        return (int(v), int(v))
    v = tuple(int(a) for a in v)
    if len(v) != 2:
        raise ValueError(f"`{name}` must be an int or a pair of ints, got {v}")
    return v


# --- losses ----------------------------------------------------------------------------------
def cross_entropy(
    input,
    target,
    weight=None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
):
    """Softmax cross-entropy of logits `input` (N, C) or (N, C, d₁, …) with class indices `target`
    (N,) / (N, d₁, …), or class probabilities of the input's shape.  PyTorch's semantics: probability
    targets and a class `weight` Tensor are differentiated with probability targets; with class indices
    a `weight` that requires grad is an error."""
    _check_reduction(reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"`label_smoothing` must be in [0, 1], got {label_smoothing}")
    if not isinstance(target, Tensor):
        target = np.asarray(target)
    elif target.dtype.kind != "f":  # class indices are not differentiated; probabilities may be
        target = target.data
    if input.ndim < 1:
        raise ValueError("cross_entropy: `input` must have a class dimension, got a 0-d tensor")
    single = input.ndim == 1
    if single:  # a single sample
        input = ops.reshape(input, (1, input.shape[0]))
        target = ops.reshape(target, (1,) + target.shape) if target.dtype.kind == "f" else target.reshape(1)
    c = input.shape[1]
    extra = input.shape[2:]
    w = None
    plain = False  # class indices in range, no weights, smoothing or ignored entries: the fast path
    learned = ()  # the weight as a differentiated input of the op
    if weight is not None:
        # an array takes the input's dtype; with probability targets a weight Tensor promotes, as in PyTorch
        promotes = isinstance(weight, Tensor) and target.dtype.kind == "f"
        wdt = np.result_type(input.dtype, weight.dtype) if promotes else input.dtype
        w = np.asarray(weight.data if isinstance(weight, Tensor) else weight, dtype=wdt)
        if w.shape != (c,):
            raise ValueError(f"cross_entropy: `weight` must have shape ({c},), got {w.shape}")
        if _learned_weight(weight, "cross_entropy with class-index targets", target.dtype.kind == "f"):
            learned = (weight,)
    if target.dtype.kind == "f":
        if target.shape != input.shape:
            raise ValueError(
                f"cross_entropy: probability `target` must have the input's shape {input.shape}, got {target.shape}"
            )
    else:
        if target.dtype.kind not in "iu":
            raise TypeError(
                f"cross_entropy: `target` must hold integer class indices, got dtype {target.dtype}"
            )
        expected = (input.shape[0],) + extra
        if target.shape != expected:
            raise ValueError(
                f"cross_entropy: `target` must have shape {expected} for input {input.shape}, got {target.shape}"
            )
        lo, hi = (int(target.min()), int(target.max())) if target.size else (0, 0)
        if lo < 0 or hi >= c:  # only then look for the offending entry (ignore_index may explain it)
            bad = (target != ignore_index) & ((target < 0) | (target >= c))
            if bad.any():
                raise ValueError(
                    f"cross_entropy: `target` holds class index {int(target[bad].flat[0])}, "
                    f"expected values in [0, {c - 1}] (or ignore_index={ignore_index})"
                )
        plain = w is None and label_smoothing == 0 and (lo >= 0 and hi < c) and not lo <= ignore_index <= hi
    if extra:  # move the class axis last and flatten the rest
        perm = (0,) + tuple(range(2, input.ndim)) + (1,)
        input = ops.reshape(ops.permute(input, perm), (-1, c))
        if target.dtype.kind == "f":
            target = ops.reshape(ops.permute(target, perm), (-1, c))
        else:
            target = target.reshape(-1)
    out = CrossEntropy.apply(
        input,
        target,
        *learned,
        weight=w,
        reduction=reduction,
        label_smoothing=label_smoothing,
        ignore_index=ignore_index,
        plain=plain,
    )
    if reduction == "none" and extra:
        out = ops.reshape(out, (-1,) + extra)
    elif reduction == "none" and single:
        out = ops.reshape(out, ())
    return out


def nll_loss(input, target, weight=None, ignore_index: int = -100, reduction: str = "mean"):
    """Negative log-likelihood of log-probabilities `input` (N, C) at class indices `target` (N,)."""
    _check_reduction(reduction)
    target = np.asarray(target.data if isinstance(target, Tensor) else target)
    n, c = input.shape
    if target.shape != (n,):
        raise ValueError(f"nll_loss: `target` must have shape ({n},), got {target.shape}")
    valid = target != ignore_index
    if ((target[valid] < 0) | (target[valid] >= c)).any():
        raise ValueError(
            f"nll_loss: `target` values must be in [0, {c - 1}], got {target[valid].min()}..{target[valid].max()}"
        )
    idx = np.where(valid, target, 0)
    _learned_weight(weight, "nll_loss", False)
    w = (
        np.ones(c, dtype=input.dtype)
        if weight is None
        else np.asarray(getattr(weight, "data", weight), dtype=input.dtype)
    )
    wy = (w[idx] * valid).astype(input.dtype)
    picked = ops.getitem(input, (np.arange(n), idx)) * wy
    if reduction == "none":
        return -picked
    if reduction == "sum":
        return -ops.sum(picked)
    total = float(wy.sum())
    if total == 0:  # every target ignored: NaN loss with a zero gradient, as cross_entropy
        return ops.sum(picked) * 0.0 + np.nan
    return -ops.sum(picked) / total


def mse_loss(input, target, reduction: str = "mean"):
    _check_reduction(reduction)
    if tuple(np.shape(getattr(target, "data", target))) != tuple(input.shape):
        raise ValueError(
            f"mse_loss: `target` shape {np.shape(getattr(target, 'data', target))} differs from input {input.shape}"
        )
    d = input - target
    sq = d * d
    return sq if reduction == "none" else (ops.sum(sq) if reduction == "sum" else ops.mean(sq))


def l1_loss(input, target, reduction: str = "mean"):
    _check_reduction(reduction)
    a = ops.abs(input - target)
    return a if reduction == "none" else (ops.sum(a) if reduction == "sum" else ops.mean(a))


def binary_cross_entropy_with_logits(input, target, weight=None, reduction: str = "mean"):
    """ℓ = −[y log σ(z) + (1−y) log(1−σ(z))], computed stably from the logits z."""
    _check_reduction(reduction)
    if tuple(np.shape(getattr(target, "data", target))) != tuple(input.shape):
        raise ValueError(
            "binary_cross_entropy_with_logits: `target` must have the input's shape "
            f"{input.shape}, got {np.shape(getattr(target, 'data', target))}"
        )
    _learned_weight(weight, "binary_cross_entropy_with_logits", False)
    w = None if weight is None else np.asarray(getattr(weight, "data", weight), dtype=input.dtype)
    return BCEWithLogits.apply(input, target, weight=w, reduction=reduction)


# --- convolution and pooling ------------------------------------------------------------------
def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups: int = 1):
    """2-D convolution (cross-correlation) with PyTorch's layout and arguments; `padding` may be an
    int, a pair, "valid" or "same" (stride 1 and an odd effective kernel: PyTorch also pads an even one,
    asymmetrically)."""
    if input.ndim != 4:
        raise ValueError(f"conv2d: `input` must be (N, C, H, W), got shape {input.shape}")
    if weight.ndim != 4:
        raise ValueError(f"conv2d: `weight` must be (O, C/groups, kh, kw), got shape {weight.shape}")
    c, o = input.shape[1], weight.shape[0]
    if groups < 1 or c % groups or o % groups:
        raise ValueError(f"conv2d: `groups`={groups} must divide in_channels={c} and out_channels={o}")
    if weight.shape[1] * groups != c:
        raise ValueError(
            f"conv2d: input has {c} channels but weight {tuple(weight.shape)} with groups={groups} expects "
            f"{weight.shape[1] * groups}"
        )
    stride, dilation = _pair(stride, "stride"), _pair(dilation, "dilation")
    kh, kw = weight.shape[2:]
    if padding == "valid":
        padding = (0, 0)
    elif padding == "same":
        if stride != (1, 1):
            raise ValueError("conv2d: padding='same' needs stride 1")
        total = (dilation[0] * (kh - 1), dilation[1] * (kw - 1))
        if total[0] % 2 or total[1] % 2:
            raise ValueError("conv2d: padding='same' with an even effective kernel is not supported")
        padding = (total[0] // 2, total[1] // 2)
    else:
        padding = _pair(padding, "padding")
    h, w = input.shape[2:]
    if h + 2 * padding[0] < dilation[0] * (kh - 1) + 1 or w + 2 * padding[1] < dilation[1] * (kw - 1) + 1:
        raise ValueError(
            f"conv2d: kernel {(kh, kw)} (dilation {dilation}) is larger than the padded input {(h, w)}"
        )
    if bias is not None and tuple(bias.shape) != (o,):
        raise ValueError(f"conv2d: `bias` must have shape ({o},), got {bias.shape}")
    args = (input, weight) if bias is None else (input, weight, bias)
    return Conv2d.apply(*args, stride=stride, padding=padding, dilation=dilation, groups=groups)


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups: int = 1):
    """1-D convolution: x (N, C, L), W (O, C/groups, k) — a conv2d over a height-1 image."""
    if input.ndim != 3:
        raise ValueError(f"conv1d: `input` must be (N, C, L), got shape {input.shape}")
    if weight.ndim != 3:
        raise ValueError(f"conv1d: `weight` must be (O, C/groups, k), got shape {weight.shape}")
    if not isinstance(padding, str):
        padding = (0, int(padding if isinstance(padding, (int, np.integer)) else padding[0]))
    one = lambda v: (1, int(v if isinstance(v, (int, np.integer)) else v[0]))
    x4 = ops.unsqueeze(input, 2)
    w4 = ops.unsqueeze(weight, 2)
    y = conv2d(x4, w4, bias, stride=one(stride), padding=padding, dilation=one(dilation), groups=groups)
    return ops.squeeze(y, 2)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1):
    if input.ndim != 4:
        raise ValueError(f"max_pool2d: `input` must be (N, C, H, W), got shape {input.shape}")
    kernel = _pair(kernel_size, "kernel_size")
    stride = kernel if stride is None else _pair(stride, "stride")
    padding = _pair(padding, "padding")
    if padding[0] > kernel[0] // 2 or padding[1] > kernel[1] // 2:
        raise ValueError(f"max_pool2d: `padding` {padding} must be at most half the kernel {kernel}")
    return MaxPool2d.apply(
        input, kernel=kernel, stride=stride, padding=padding, dilation=_pair(dilation, "dilation")
    )


def avg_pool2d(input, kernel_size, stride=None, padding=0):
    if input.ndim != 4:
        raise ValueError(f"avg_pool2d: `input` must be (N, C, H, W), got shape {input.shape}")
    kernel = _pair(kernel_size, "kernel_size")
    stride = kernel if stride is None else _pair(stride, "stride")
    return AvgPool2d.apply(input, kernel=kernel, stride=stride, padding=_pair(padding, "padding"))


def adaptive_avg_pool2d_1(input):
    """Global average pooling to 1×1: (N, C, H, W) → (N, C, 1, 1)."""
    return ops.mean(input, axis=(2, 3), keepdims=True)


# --- embedding and dropout ---------------------------------------------------------------------
def embedding(input, weight):
    """Rows of `weight` (num_embeddings, dim) at integer indices `input` (any shape)."""
    idx = np.asarray(input.data if isinstance(input, Tensor) else input)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"embedding: `input` must hold integer indices, got dtype {idx.dtype}")
    n = weight.shape[0]
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise ValueError(f"embedding: indices must be in [0, {n - 1}], got {idx.min()}..{idx.max()}")
    return ops.getitem(weight, idx)


def dropout(input, p: float = 0.5, training: bool = True, generator=None):
    """Zero each element with probability p and scale the rest by 1/(1−p) (inverted dropout).  The mask
    comes from a NumPy generator (`generator`: a seed or Generator), so it differs from PyTorch's."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: `p` must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return input
    if p == 1.0:
        return input * np.zeros(input.shape, dtype=input.dtype)
    return input * DropoutMask.apply(
        input.data if isinstance(input, Tensor) else input, p=p, generator=generator
    )


# --- normalisation ---------------------------------------------------------------------------------
def _affine(x, weight, bias, shape):
    if weight is not None:
        x = x * (ops.reshape(weight, shape) if shape is not None else weight)
    if bias is not None:
        x = x + (ops.reshape(bias, shape) if shape is not None else bias)
    return x


def layer_norm(input, normalized_shape, weight=None, bias=None, eps: float = 1e-5):
    normalized_shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    k = len(normalized_shape)
    if tuple(input.shape[-k:]) != normalized_shape:
        raise ValueError(
            f"layer_norm: input's last dimensions {tuple(input.shape[-k:])} must equal normalized_shape {normalized_shape}"
        )
    xhat = Normalize.apply(input, axes=tuple(range(input.ndim - k, input.ndim)), eps=eps)
    return _affine(xhat, weight, bias, None)


def group_norm(input, num_groups: int, weight=None, bias=None, eps: float = 1e-5):
    """Normalise each of `num_groups` channel groups of each sample (over its channels and positions).
    A group of one value normalises to 0, as layer_norm does (PyTorch raises)."""
    n, c = input.shape[:2]
    if c % num_groups:
        raise ValueError(f"group_norm: `num_groups`={num_groups} must divide the {c} channels")
    grouped = ops.reshape(input, (n, num_groups, -1))
    xhat = ops.reshape(Normalize.apply(grouped, axes=(2,), eps=eps), input.shape)
    shape = (1, c) + (1,) * (input.ndim - 2)
    return _affine(xhat, weight, bias, shape)


def batch_norm(
    input,
    running_mean=None,
    running_var=None,
    weight=None,
    bias=None,
    training: bool = False,
    momentum: float | None = 0.1,
    eps: float = 1e-5,
    num_batches_tracked=None,
):
    """Batch normalisation over all axes but the channel axis 1.  In training, batch statistics are used
    and the running statistics (ndarrays, updated in place) move by `momentum` — the running variance
    with the unbiased batch variance, as PyTorch does; `num_batches_tracked` (a 0-d int array, optional)
    counts the batches, and momentum None then means a cumulative average.  In eval, the running
    statistics are used."""
    if input.ndim < 2:
        raise ValueError(f"batch_norm: `input` must be (N, C, ...), got shape {input.shape}")
    c = input.shape[1]
    shape = (1, c) + (1,) * (input.ndim - 2)
    axes = (0,) + tuple(range(2, input.ndim))
    if training:
        count = input.data.size // c
        if count <= 1:
            raise ValueError(
                f"batch_norm: training needs more than one value per channel, got input shape {input.shape}"
            )
        xhat = Normalize.apply(input, axes=axes, eps=eps)
        if running_mean is not None:
            UpdateRunningStats.apply(
                input.data if isinstance(input, Tensor) else np.asarray(input),
                running_mean=running_mean,
                running_var=running_var,
                momentum=momentum,
                axes=axes,
                num_batches_tracked=num_batches_tracked,
            )
    else:
        if running_mean is None or running_var is None:
            raise ValueError("batch_norm: eval mode needs `running_mean` and `running_var`")
        xhat = BatchNormEval.apply(input, running_mean, running_var, eps=eps, shape=shape)
    return _affine(xhat, weight, bias, shape)


def rms_norm(input, normalized_shape, weight=None, eps: float | None = None):
    """x / √(mean(x²) + ε) · w over the last dimensions (ε defaults to the dtype's machine epsilon).
    The result has the promoted dtype of x and w (PyTorch keeps x's)."""
    normalized_shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    k = len(normalized_shape)
    if tuple(input.shape[-k:]) != normalized_shape:
        raise ValueError(
            f"rms_norm: input's last dimensions {tuple(input.shape[-k:])} must equal normalized_shape {normalized_shape}"
        )
    eps = float(np.finfo(input.dtype).eps) if eps is None else eps
    ms = ops.mean(input * input, axis=tuple(range(input.ndim - k, input.ndim)), keepdims=True)
    y = input / ops.sqrt(ms + eps)
    return y if weight is None else y * weight


# --- attention ---------------------------------------------------------------------------------
def scaled_dot_product_attention(
    query,
    key,
    value,
    attn_mask=None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
    generator=None,
):
    """softmax(Q Kᵀ · scale + mask) V over the last two axes (…, L, E).  A boolean `attn_mask` marks
    the positions that may be attended to (True = keep), a float mask is added to the scores (a Tensor
    mask that requires grad is differentiated: a learned attention bias); `is_causal` keeps j ≤ i.
    A row with every position masked gives NaN here; PyTorch's fused kernels may give 0 instead.  A mask
    and `is_causal` combine (PyTorch refuses the pair)."""
    if query.shape[-1] != key.shape[-1]:
        raise ValueError(
            f"scaled_dot_product_attention: query and key feature sizes differ: {query.shape} vs {key.shape}"
        )
    if key.shape[-2] != value.shape[-2]:
        raise ValueError(
            f"scaled_dot_product_attention: key and value lengths differ: {key.shape} vs {value.shape}"
        )
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else scale
    scores = ops.matmul(query, ops.transpose(key, -1, -2)) * scale
    lq, lk = query.shape[-2], key.shape[-2]
    keep = None
    if is_causal:
        keep = np.tril(np.ones((lq, lk), dtype=bool))
    if attn_mask is not None:
        if not isinstance(attn_mask, Tensor):
            attn_mask = np.asarray(attn_mask)
        if attn_mask.dtype == bool:
            m = attn_mask.data if isinstance(attn_mask, Tensor) else attn_mask
            keep = m if keep is None else keep & m
        elif isinstance(attn_mask, Tensor):
            scores = scores + ops.cast(attn_mask, scores.dtype)
        else:
            scores = scores + attn_mask.astype(scores.dtype, copy=False)
    if keep is not None:
        scores = ops.where(
            np.broadcast_to(keep, scores.shape), scores, np.asarray(-np.inf, dtype=scores.dtype)
        )
    attn = ops.softmax(scores, -1)
    if dropout_p > 0:
        attn = dropout(attn, dropout_p, True, generator)
    return ops.matmul(attn, value)


def one_hot(indices, num_classes: int, dtype=np.float32) -> np.ndarray:
    idx = np.asarray(getattr(indices, "data", indices))
    out = np.zeros(idx.shape + (num_classes,), dtype=dtype)
    np.put_along_axis(out, idx[..., None], 1, axis=-1)
    return out
