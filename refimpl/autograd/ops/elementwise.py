"""Elementwise primitives.  Each docstring gives the forward and the vector-Jacobian product (VJP).

Binary ops broadcast like NumPy; their `backward` returns gradients in the broadcast shape and the
engine reduces them (`unbroadcast`).  Conventions follow PyTorch where users compare: relu'(0) = 0,
|x|'(0) = 0, sign' = 0, clip passes the gradient on the closed interval [lo, hi].  Dtypes promote as in
NumPy: a Python scalar takes the tensor's dtype, but a 0-d float64 array makes a float32 operand
float64 (a 0-d PyTorch tensor does not).
"""

from __future__ import annotations

import math

import numpy as np

from ..function import Function
from ..tensor import Tensor


class Add(Function):
    """z = x + y;  x̄ = z̄, ȳ = z̄"""

    def forward(ctx, x, y):
        return x + y

    def backward(ctx, g):
        return g, g

    def backward_graph(ctx, g, z, x, y):
        return g, g


class Sub(Function):
    """z = x − y;  x̄ = z̄, ȳ = −z̄"""

    def forward(ctx, x, y):
        return x - y

    def backward(ctx, g):
        return g, (-g if ctx.needs_input_grad[1] else None)

    def backward_graph(ctx, g, z, x, y):
        return g, (neg(g) if ctx.needs_input_grad[1] else None)


class Mul(Function):
    """z = x ⊙ y;  x̄ = z̄ ⊙ y, ȳ = z̄ ⊙ x"""

    def forward(ctx, x, y):
        ctx.x, ctx.y = x, y
        return x * y

    def backward(ctx, g):
        nx, ny = ctx.needs_input_grad
        return (g * ctx.y if nx else None), (g * ctx.x if ny else None)

    def backward_graph(ctx, g, z, x, y):
        nx, ny = ctx.needs_input_grad
        return (mul(g, y) if nx else None), (mul(g, x) if ny else None)


class Div(Function):
    """z = x / y;  x̄ = z̄ / y, ȳ = −z̄ ⊙ z / y"""

    def forward(ctx, x, y):
        z = x / y
        ctx.y, ctx.z = y, z
        return z

    def backward(ctx, g):
        nx, ny = ctx.needs_input_grad
        gx = g / ctx.y
        return (gx if nx else None), (-gx * ctx.z if ny else None)

    def backward_graph(ctx, g, z, x, y):
        nx, ny = ctx.needs_input_grad
        gx = div(g, y)
        return (gx if nx else None), (neg(mul(gx, z)) if ny else None)


class Pow(Function):
    """z = x ** y;  x̄ = z̄ ⊙ y x^(y−1) (0 where y = 0, so d(x⁰)/dx = 0 at x = 0 too, as PyTorch),
    ȳ = z̄ ⊙ z log x  (defined for x > 0; 0 where x ≤ 0, where PyTorch gives 0 at x = 0 and NaN for x < 0)"""

    def forward(ctx, x, y):
        z = np.power(x, y)
        ctx.x, ctx.y, ctx.z = x, y, z
        return z

    def backward(ctx, g):
        nx, ny = ctx.needs_input_grad
        x, y = ctx.x, ctx.y
        gx = None
        if nx:
            with np.errstate(divide="ignore", invalid="ignore"):
                gx = np.where(y == 0, 0, g * y * np.power(x, y - 1)).astype(g.dtype, copy=False)
        gy = None
        if ny:
            with np.errstate(divide="ignore", invalid="ignore"):
                logx = np.where(x > 0, np.log(np.where(x > 0, x, 1)), 0)
            gy = g * ctx.z * logx
        return gx, gy

    def backward_graph(ctx, g, z, x, y):
        nx, ny = ctx.needs_input_grad
        gx = gy = None
        if nx:  # y x^(y−1), 0 where y = 0; x is replaced by 1 there so no inf enters the graph
            nonzero = np.broadcast_to(y.data != 0, z.shape)
            one = np.ones((), x.dtype)
            gx = where(nonzero, mul(g, mul(y, pow(where(nonzero, x, one), sub(y, 1)))), np.zeros((), g.dtype))
        if ny:  # z log x where x > 0, else 0
            pos = x.data > 0
            gy = mul(mul(g, z), mul(log(where(pos, x, np.ones((), x.dtype))), pos.astype(g.dtype)))
        return gx, gy


class Neg(Function):
    """y = −x;  x̄ = −ȳ"""

    def forward(ctx, x):
        return -x

    def backward(ctx, g):
        return (-g,)

    def backward_graph(ctx, g, y, x):
        return (neg(g),)


class Exp(Function):
    """y = eˣ;  x̄ = ȳ ⊙ y"""

    def forward(ctx, x):
        ctx.y = np.exp(x)
        return ctx.y

    def backward(ctx, g):
        return (g * ctx.y,)

    def backward_graph(ctx, g, y, x):
        return (mul(g, y),)


class Log(Function):
    """y = log x;  x̄ = ȳ / x"""

    def forward(ctx, x):
        ctx.x = x
        return np.log(x)

    def backward(ctx, g):
        return (g / ctx.x,)

    def backward_graph(ctx, g, y, x):
        return (div(g, x),)


class Sqrt(Function):
    """y = √x;  x̄ = ȳ / (2y)"""

    def forward(ctx, x):
        ctx.y = np.sqrt(x)
        return ctx.y

    def backward(ctx, g):
        return (g / (2 * ctx.y),)

    def backward_graph(ctx, g, y, x):
        return (div(g, mul(y, 2)),)


class Abs(Function):
    """y = |x|;  x̄ = ȳ ⊙ sign(x)  (0 at x = 0)"""

    def forward(ctx, x):
        ctx.x = x
        return np.abs(x)

    def backward(ctx, g):
        return (g * np.sign(ctx.x),)

    def backward_graph(ctx, g, y, x):  # piecewise linear: the second derivative is 0
        return (mul(g, np.sign(x.data).astype(g.dtype)),)


class Sign(Function):
    """y = sign(x);  x̄ = 0 (piecewise constant)"""

    def forward(ctx, x):
        return np.sign(x)

    def backward(ctx, g):
        return (np.zeros_like(g),)

    def backward_graph(ctx, g, y, x):
        return (mul(g, np.zeros((), g.dtype)),)


class Tanh(Function):
    """y = tanh x;  x̄ = ȳ ⊙ (1 − y²)"""

    def forward(ctx, x):
        ctx.y = np.tanh(x)
        return ctx.y

    def backward(ctx, g):
        return (g * (1 - ctx.y * ctx.y),)

    def backward_graph(ctx, g, y, x):
        return (mul(g, sub(1, mul(y, y))),)


def _sigmoid(x):
    # exp of a non-positive number only: stable at any |x|
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


class Sigmoid(Function):
    """y = 1/(1+e^{−x});  x̄ = ȳ ⊙ y(1 − y)"""

    def forward(ctx, x):
        ctx.y = _sigmoid(x)
        return ctx.y

    def backward(ctx, g):
        y = ctx.y
        return (g * y * (1 - y),)

    def backward_graph(ctx, g, y, x):
        return (mul(g, mul(y, sub(1, y))),)


class ReLU(Function):
    """y = max(x, 0);  x̄ = ȳ ⊙ [x > 0]"""

    def forward(ctx, x):
        y = np.maximum(x, 0)
        ctx.y = y
        return y

    def backward(ctx, g):
        return (g * (ctx.y > 0),)

    def backward_graph(ctx, g, y, x):  # piecewise linear: the second derivative is 0
        return (mul(g, (y.data > 0).astype(g.dtype)),)


class LeakyReLU(Function):
    """y = x if x > 0 else a·x;  x̄ = ȳ ⊙ (1 if x > 0 else a)"""

    def forward(ctx, x, *, negative_slope):
        ctx.x, ctx.a = x, negative_slope
        return np.where(x > 0, x, x * negative_slope)

    def backward(ctx, g):
        return (np.where(ctx.x > 0, g, g * ctx.a),)

    def backward_graph(ctx, g, y, x):
        return (mul(g, np.where(x.data > 0, 1, ctx.a).astype(g.dtype)),)


class NormalCDF(Function):
    """y = Φ(x) = (1 + erf(x/√2))/2, the normal CDF;  x̄ = ȳ ⊙ φ(x), φ(x) = e^{−x²/2}/√(2π)
    (GELU's derivative contains Φ, so its differentiable backward needs Φ as an op)"""

    def forward(ctx, x):
        from scipy.special import erf

        ctx.x = x
        return (0.5 * (1 + erf(x / math.sqrt(2)))).astype(x.dtype, copy=False)

    def backward(ctx, g):
        return (g * np.exp(-0.5 * ctx.x * ctx.x) / math.sqrt(2 * math.pi),)

    def backward_graph(ctx, g, y, x):
        return (mul(g, mul(exp(mul(mul(x, x), -0.5)), 1 / math.sqrt(2 * math.pi))),)


class GELU(Function):
    """y = x Φ(x) with Φ the normal CDF (exact, via erf);  x̄ = ȳ ⊙ (Φ(x) + x φ(x))"""

    def forward(ctx, x):
        from scipy.special import erf

        cdf = 0.5 * (1 + erf(x / math.sqrt(2)))
        ctx.x, ctx.cdf = x, cdf.astype(x.dtype, copy=False)
        return x * ctx.cdf

    def backward(ctx, g):
        x = ctx.x
        pdf = np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
        return (g * (ctx.cdf + x * pdf),)

    def backward_graph(ctx, g, y, x):  # Φ(x) + x φ(x), φ(x) = e^{−x²/2}/√(2π)
        pdf = mul(exp(mul(mul(x, x), -0.5)), 1 / math.sqrt(2 * math.pi))
        return (mul(g, add(NormalCDF.apply(x), mul(x, pdf))),)


class SiLU(Function):
    """y = x σ(x);  x̄ = ȳ ⊙ σ(x)(1 + x(1 − σ(x)))"""

    def forward(ctx, x):
        s = _sigmoid(x)
        ctx.x, ctx.s = x, s
        return x * s

    def backward(ctx, g):
        s, x = ctx.s, ctx.x
        return (g * s * (1 + x * (1 - s)),)

    def backward_graph(ctx, g, y, x):
        s = sigmoid(x)
        return (mul(g, mul(s, add(1, mul(x, sub(1, s))))),)


class Softplus(Function):
    """y = log(1 + eˣ) (computed stably, exact for every x: PyTorch returns x itself above 20);  x̄ = ȳ ⊙ σ(x)"""

    def forward(ctx, x):
        ctx.x = x
        return np.logaddexp(0, x).astype(x.dtype, copy=False)

    def backward(ctx, g):
        return (g * _sigmoid(ctx.x),)

    def backward_graph(ctx, g, y, x):
        return (mul(g, sigmoid(x)),)


class Maximum(Function):
    """z = max(x, y);  the gradient goes to the larger input, split evenly on ties (as PyTorch)"""

    def forward(ctx, x, y):
        ctx.x, ctx.y = x, y
        return np.maximum(x, y)

    @staticmethod
    def share(x, y, dtype):
        return np.where(x > y, 1.0, np.where(x == y, 0.5, 0.0)).astype(dtype)

    def backward(ctx, g):
        share = ctx.share(ctx.x, ctx.y, g.dtype)
        return g * share, g * (1 - share)

    def backward_graph(ctx, g, z, x, y):  # the split is piecewise constant: second derivative 0
        share = ctx.share(x.data, y.data, g.dtype)
        return mul(g, share), mul(g, 1 - share)


class Minimum(Function):
    """z = min(x, y);  the gradient goes to the smaller input, split evenly on ties (as PyTorch)"""

    def forward(ctx, x, y):
        ctx.x, ctx.y = x, y
        return np.minimum(x, y)

    @staticmethod
    def share(x, y, dtype):
        return np.where(x < y, 1.0, np.where(x == y, 0.5, 0.0)).astype(dtype)

    def backward(ctx, g):
        share = ctx.share(ctx.x, ctx.y, g.dtype)
        return g * share, g * (1 - share)

    def backward_graph(ctx, g, z, x, y):  # the split is piecewise constant: second derivative 0
        share = ctx.share(x.data, y.data, g.dtype)
        return mul(g, share), mul(g, 1 - share)


class Where(Function):
    """z = cond ? x : y;  x̄ = z̄ ⊙ cond, ȳ = z̄ ⊙ ¬cond  (cond is not differentiated)"""

    def forward(ctx, x, y, *, cond):
        ctx.cond = cond
        return np.where(cond, x, y)

    def backward(ctx, g):
        zero = np.zeros((), dtype=g.dtype)
        nx, ny = ctx.needs_input_grad
        return (np.where(ctx.cond, g, zero) if nx else None), (np.where(ctx.cond, zero, g) if ny else None)

    def backward_graph(ctx, g, z, x, y):
        zero = np.zeros((), dtype=g.dtype)
        nx, ny = ctx.needs_input_grad
        return (where(ctx.cond, g, zero) if nx else None), (where(ctx.cond, zero, g) if ny else None)


class Clip(Function):
    """y = min(max(x, lo), hi);  x̄ = ȳ ⊙ [lo ≤ x ≤ hi]"""

    def forward(ctx, x, *, lo, hi):
        ctx.x, ctx.lo, ctx.hi = x, lo, hi
        return np.clip(x, lo, hi)

    def inside(ctx, x):
        inside = np.ones(x.shape, dtype=bool)
        if ctx.lo is not None:
            inside &= x >= ctx.lo
        if ctx.hi is not None:
            inside &= x <= ctx.hi
        return inside

    def backward(ctx, g):
        return (g * ctx.inside(ctx.x),)

    def backward_graph(ctx, g, y, x):
        return (mul(g, ctx.inside(x.data).astype(g.dtype)),)


class Cast(Function):
    """y = x converted to another float dtype;  x̄ = ȳ converted back"""

    def forward(ctx, x, *, dtype):
        ctx.src = x.dtype
        return x.astype(dtype)

    def backward(ctx, g):
        return (g.astype(ctx.src),)

    def backward_graph(ctx, g, y, x):
        return (cast(g, ctx.src),)


# --- functional forms -----------------------------------------------------------------------
def add(x, y):
    return Add.apply(x, y)


def sub(x, y):
    return Sub.apply(x, y)


def mul(x, y):
    return Mul.apply(x, y)


def div(x, y):
    return Div.apply(x, y)


def pow(x, y):
    return Pow.apply(x, y)


def neg(x):
    return Neg.apply(x)


def exp(x):
    return Exp.apply(x)


def log(x):
    return Log.apply(x)


def sqrt(x):
    return Sqrt.apply(x)


def abs(x):
    return Abs.apply(x)


def sign(x):
    return Sign.apply(x)


def tanh(x):
    return Tanh.apply(x)


def sigmoid(x):
    return Sigmoid.apply(x)


def relu(x):
    return ReLU.apply(x)


def leaky_relu(x, negative_slope: float = 0.01):
    return LeakyReLU.apply(x, negative_slope=negative_slope)


def gelu(x):
    return GELU.apply(x)


def silu(x):
    return SiLU.apply(x)


def softplus(x):
    return Softplus.apply(x)


def maximum(x, y):
    return Maximum.apply(x, y)


def minimum(x, y):
    return Minimum.apply(x, y)


def where(cond, x, y):
    """Elementwise `x` where `cond` else `y`; `cond` is a boolean array (or Tensor), not differentiated."""
    cond = cond.data if isinstance(cond, Tensor) else np.asarray(cond)
    if cond.dtype != bool:
        raise TypeError(f"where: `cond` must be a boolean array, got dtype {cond.dtype}")
    return Where.apply(x, y, cond=cond)


def clip(x, min=None, max=None):
    if min is None and max is None:
        raise ValueError("clip: give at least one of `min` and `max`")
    if min is not None and max is not None and min > max:
        raise ValueError(f"clip: `min` must be ≤ `max`, got min={min}, max={max}")
    return Clip.apply(x, lo=min, hi=max)


def cast(x, dtype):
    dtype = np.dtype(dtype)
    if x.data.dtype == dtype:
        return x
    if x.requires_grad and dtype.kind != "f":
        raise TypeError(f"cast: a tensor that requires grad can only become a float dtype, got {dtype}")
    return Cast.apply(x, dtype=dtype)
