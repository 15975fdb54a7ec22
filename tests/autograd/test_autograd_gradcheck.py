"""`refimpl.gradcheck` itself: it must fail on a wrong VJP (in both modes) and say where and by how much.

The wrong VJPs are tiny Functions defined here; a checker that passes them would make every other
gradcheck in the suite worthless.
"""

import numpy as np
import pytest

import refimpl
from refimpl import Function, GradcheckError, gradcheck
from refimpl.autograd import ops


class Square(Function):
    """y = x²;  x̄ = 2x ȳ  (the right VJP, as a control)"""

    def forward(ctx, x):
        ctx.x = x
        return x * x

    def backward(ctx, g):
        return (2 * ctx.x * g,)


class BadSquare(Square):
    """y = x², with the factor 2 forgotten in the VJP."""

    def backward(ctx, g):
        return (ctx.x * g,)


class SlightlyBadExp(Function):
    """y = eˣ, with a VJP that is 0.1 % off: too small for a loose eye, not for gradcheck."""

    def forward(ctx, x):
        ctx.y = np.exp(x)
        return ctx.y

    def backward(ctx, g):
        return (1.001 * ctx.y * g,)


class BadSecondInput(Function):
    """z = x ⊙ y, right for x, wrong sign for y."""

    def forward(ctx, x, y):
        ctx.x, ctx.y = x, y
        return x * y

    def backward(ctx, g):
        return g * ctx.y, -g * ctx.x


def _x(shape=(3, 4), seed=0):
    return np.random.default_rng(seed).uniform(0.5, 1.5, shape)


@pytest.mark.parametrize("mode", ["full", "random"])
def test_right_vjp_passes(mode):
    assert gradcheck(lambda x: Square.apply(x), _x(), mode=mode)
    assert gradcheck(lambda x, y: ops.mul(x, y), _x(), _x(seed=1), mode=mode)


def test_wrong_vjp_fails_full_mode_and_message_names_input_and_errors():
    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda x: BadSquare.apply(x), _x(), mode="full")
    msg = str(info.value)
    assert "input 0" in msg and "shape (3, 4)" in msg
    assert "max abs error" in msg and "max rel error" in msg
    assert "analytic" in msg and "numeric" in msg


def test_wrong_vjp_fails_full_mode_reports_the_right_numbers():
    x = _x()
    v = np.random.default_rng(0).standard_normal(x.shape)  # gradcheck's own seed-0 upstream gradient
    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda t: BadSquare.apply(t), x, mode="full")
    # analytic x v, numeric 2 x v: abs error |x v|, rel error exactly 1/2
    want_abs = np.max(np.abs(x * v))
    assert f"max abs error {want_abs:.3e}" in str(info.value)
    assert "max rel error 5.000e-01" in str(info.value)


def test_wrong_vjp_of_second_input_is_named():
    with pytest.raises(GradcheckError, match=r"input 1 of shape \(4,\)"):
        gradcheck(lambda x, y: BadSecondInput.apply(x, y), _x(), _x((4,), seed=2), mode="full")


@pytest.mark.parametrize("mode", ["full", "random"])
def test_slightly_wrong_vjp_fails(mode):
    with pytest.raises(GradcheckError):
        gradcheck(lambda x: SlightlyBadExp.apply(x), _x(), mode=mode)


def test_wrong_vjp_fails_random_mode_with_errors_in_message():
    with pytest.raises(GradcheckError, match=r"abs error .*rel error"):
        gradcheck(lambda x: BadSquare.apply(x), _x(), mode="random")
    with pytest.raises(GradcheckError):
        gradcheck(lambda x, y: BadSecondInput.apply(x, y), _x(), _x((4,), seed=2), mode="random")


def test_random_mode_message_names_the_input():
    with pytest.raises(GradcheckError, match=r"input 1"):
        gradcheck(lambda x, y: BadSecondInput.apply(x, y), _x(), _x((4,), seed=2), mode="random")


def test_auto_mode_goes_random_for_large_inputs_and_still_fails():
    big = _x((30, 30))  # 900 elements > 400: random directions
    with pytest.raises(GradcheckError, match="random direction"):
        gradcheck(lambda x: BadSquare.apply(x), big)
    assert gradcheck(lambda x: Square.apply(x), big)


def test_raise_exception_false_returns_false():
    assert gradcheck(lambda x: BadSquare.apply(x), _x(), raise_exception=False) is False
    assert gradcheck(lambda x: BadSquare.apply(x), _x(), mode="random", raise_exception=False) is False


def test_inputs_are_not_modified_and_non_float_inputs_pass_through():
    x = _x()
    before = x.copy()
    idx = np.array([2, 0, 0])
    assert gradcheck(lambda t, i: ops.getitem(t, i) * 3.0, x, idx)
    np.testing.assert_array_equal(x, before)


def test_full_mode_accepts_a_transposed_input():
    xt = _x((4, 3)).T  # Fortran-ordered; astype keeps that layout and reshape(-1) then copies
    assert gradcheck(lambda x: ops.exp(x), xt, mode="full")


def test_argument_errors():
    with pytest.raises(ValueError, match=r"`mode`.*'full'.*got 'exact'"):
        gradcheck(lambda x: x, _x(), mode="exact")
    with pytest.raises(ValueError, match="no floating-point input"):
        gradcheck(lambda i: refimpl.tensor(i * 1.0), np.arange(3))
    with pytest.raises(TypeError, match="must return a Tensor, got ndarray"):
        gradcheck(lambda x: x.data, _x())
