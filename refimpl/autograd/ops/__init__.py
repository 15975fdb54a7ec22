"""All differentiable primitives, one `Function` subclass each, and their functional forms."""

from .elementwise import (  # noqa: F401
    abs,
    add,
    cast,
    clip,
    div,
    exp,
    gelu,
    leaky_relu,
    log,
    maximum,
    minimum,
    mul,
    neg,
    pow,
    relu,
    sigmoid,
    sign,
    silu,
    softplus,
    sqrt,
    sub,
    tanh,
    where,
)
from .linalg import linear, matmul  # noqa: F401
from .nnops import LogSoftmax, Softmax  # noqa: F401
from .reduce import _norm_axis, logsumexp, max, mean, min, sum, var  # noqa: F401
from .shape import (  # noqa: F401
    broadcast_to,
    cat,
    concatenate,
    expand,
    flatten,
    getitem,
    pad,
    permute,
    reshape,
    squeeze,
    stack,
    transpose,
    unsqueeze,
)


def softmax(x, dim: int = -1):
    return Softmax.apply(x, axis=_norm_axis(dim, x.ndim))


def log_softmax(x, dim: int = -1):
    return LogSoftmax.apply(x, axis=_norm_axis(dim, x.ndim))
