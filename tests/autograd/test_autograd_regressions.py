"""Regression tests for engine bugs that a differential comparison with PyTorch found: six from the
per-op cross-check, then three from the seeded graph fuzzer (tests/xcheck/graph_fuzz.py, from no. 7).

Each expected value is worked out by hand in the test (no PyTorch needed); each test fails on the code
before its fix.
"""

import numpy as np
import pytest

import refimpl
import refimpl.nn.functional as F
from refimpl.autograd import ops


def leaf(a):
    return refimpl.tensor(np.asarray(a, dtype=np.float64), requires_grad=True)


# 1. reducing a 0-d tensor over axis 0 or -1 (PyTorch accepts both; the result is the element itself)
@pytest.mark.parametrize("axis", [0, -1, (0,), (-1,)])
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("reduce", ["sum", "mean", "var", "max", "min", "logsumexp"])
def test_zero_d_reduction_over_axis_0_or_minus_1(reduce, axis, keepdims):
    x = leaf(2.0)
    kwargs = {"correction": 0} if reduce == "var" else {}
    y = getattr(x, reduce)(axis=axis, keepdims=keepdims, **kwargs)
    assert y.shape == ()
    want_value, want_grad = {"var": (0.0, 0.0)}.get(reduce, (2.0, 1.0))
    assert y.item() == pytest.approx(want_value)
    y.backward()
    assert isinstance(x.grad, np.ndarray) and x.grad.shape == ()
    assert x.grad == pytest.approx(want_grad)


@pytest.mark.parametrize("axis", [1, -2, (0, 0), (0, -1)])
def test_zero_d_reduction_rejects_other_axes(axis):
    with pytest.raises(ValueError, match="axis"):
        leaf(2.0).sum(axis=axis)


def test_repeated_axis_is_an_error():
    with pytest.raises(ValueError, match="more than once"):
        leaf(np.ones((2, 3))).sum(axis=(1, -1))


def test_zero_d_softmax_is_one():
    x = leaf(3.0)
    y = x.softmax(-1)
    assert y.item() == 1.0
    y.backward()
    assert x.grad == 0.0
    assert leaf(3.0).log_softmax(0).item() == 0.0


# 2. a 0-d leaf's .grad and a 0-d result's .data are arrays (in-place zeroing works)
def test_zero_d_grad_and_data_are_arrays():
    p = leaf(1.5)
    y = p * p
    assert type(y.data) is np.ndarray
    y.backward()
    assert type(p.grad) is np.ndarray and p.grad == 3.0
    (p * p).backward()  # accumulation keeps an array too
    assert type(p.grad) is np.ndarray and p.grad == 6.0
    refimpl.optim.SGD([p], lr=0.1).zero_grad(set_to_none=False)
    assert p.grad == 0.0


# 3. cross-entropy with probability targets differentiates the target: t̄_c = −log p_c (mean over 1 row)
def test_cross_entropy_probability_target_gets_a_gradient():
    z = leaf([1.0, 2.0, 3.0])
    t = leaf([0.2, 0.3, 0.5])
    F.cross_entropy(z, t).backward()
    logp = np.array([1.0, 2.0, 3.0]) - np.log(np.exp([1.0, 2.0, 3.0]).sum())
    np.testing.assert_allclose(t.grad, -logp, rtol=1e-12)  # = [2.4076, 1.4076, 0.4076]
    np.testing.assert_allclose(t.grad, [2.40760596, 1.40760596, 0.40760596], atol=1e-8)


def test_cross_entropy_probability_target_gradient_with_smoothing_weights_and_extra_axes():
    rng = np.random.default_rng(0)
    z = leaf(rng.standard_normal((2, 3, 4)))
    t = leaf(rng.dirichlet(np.ones(3), size=(2, 4)).transpose(0, 2, 1))
    w = np.array([1.0, 2.0, 0.5])
    eps = 0.1
    F.cross_entropy(z, t, weight=w, label_smoothing=eps, reduction="sum").backward()
    logp = z.data - np.log(np.exp(z.data).sum(axis=1, keepdims=True))
    np.testing.assert_allclose(t.grad, -(1 - eps) * w[None, :, None] * logp, rtol=1e-12)


# 4. a float attention mask that requires grad is differentiated (a learned attention bias)
def test_float_attention_mask_gets_a_gradient():
    rng = np.random.default_rng(1)
    q, k, v = (rng.standard_normal((3, 2)) for _ in range(3))
    bias = leaf(rng.standard_normal((3, 3)))
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
    assert out.requires_grad
    u = rng.standard_normal(out.shape)
    out.backward(u)
    # by hand: s = qkᵀ/√2 + b, a = softmax(s), o = a v; ā = u vᵀ, s̄ = a ⊙ (ā − Σ ā ⊙ a) = b̄
    s = q @ k.T / np.sqrt(2) + bias.data
    a = np.exp(s - s.max(1, keepdims=True))
    a /= a.sum(1, keepdims=True)
    abar = u @ v.T
    np.testing.assert_allclose(bias.grad, a * (abar - (abar * a).sum(1, keepdims=True)), rtol=1e-10)


# 5. x ** 0 has derivative 0 everywhere, x = 0 included (0 · 0⁻¹ used to give NaN)
def test_pow_zero_exponent_at_zero():
    x = leaf([0.0, 2.0])
    (x**0).sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.0])
    x, y = leaf([0.0, 2.0]), leaf([0.0, 0.0])
    ops.pow(x, y).sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.0])
    np.testing.assert_allclose(y.grad, [0.0, np.log(2.0)])  # ȳ = z log x, 0 where x = 0


# 6. no_grad holds through ops whose result equals their input
@pytest.mark.parametrize(
    "op",
    [
        lambda x: x.expand(x.shape),
        lambda x: x.squeeze(0),
        lambda x: x.squeeze(),
        lambda x: ops.broadcast_to(x, (2, 3)),
    ],
)
def test_no_grad_holds_for_identity_shaped_ops(op):
    x = leaf(np.ones((2, 3)))
    with refimpl.no_grad():
        y = op(x)
    assert y is not x and not y.requires_grad
    y2 = op(x)  # with grad on: a new node through which the gradient flows
    assert y2 is not x
    (y2 * 2).sum().backward()
    np.testing.assert_array_equal(x.grad, np.full((2, 3), 2.0))


LOG2 = float(np.log(2.0))


# 7. cross-entropy with probability targets: a class weight that requires grad is a learned weight and
#    gets its gradient (it was silently a constant); with z = 0 every p = 1/2, so −log p_c = log 2 and
#    ℓₙ = Σ_c w_c t'_{n,c} log 2,  w̄_c = Σₙ t'_{n,c} log 2 (÷ N for 'mean').
@pytest.mark.parametrize(
    "smoothing, reduction, want_loss, want_wgrad",
    [
        (0.0, "sum", 2 * LOG2 + 3 * LOG2, [LOG2, LOG2]),  # t = one-hot rows [1, 0], [0, 1]; w = [2, 3]
        (0.0, "mean", (2 + 3) / 2 * LOG2, [LOG2 / 2, LOG2 / 2]),
        (0.5, "sum", (2 * 0.75 + 3 * 0.25 + 2 * 0.25 + 3 * 0.75) * LOG2, [LOG2, LOG2]),  # t' = 0.5 t + 0.25
    ],
)
def test_cross_entropy_learned_class_weight_with_probability_targets(
    smoothing, reduction, want_loss, want_wgrad
):
    z = leaf(np.zeros((2, 2)))
    w = leaf([2.0, 3.0])
    loss = F.cross_entropy(z, np.eye(2), weight=w, reduction=reduction, label_smoothing=smoothing)
    assert loss.requires_grad
    assert loss.item() == pytest.approx(want_loss, rel=1e-14)
    loss.backward()
    np.testing.assert_allclose(w.grad, want_wgrad, rtol=1e-14)
    if (
        smoothing == 0 and reduction == "sum"
    ):  # z̄ₙ = (Σ_c wₙ,c) pₙ − coefₙ with coef = t·w: [−1, 1], [1.5, −1.5]
        np.testing.assert_allclose(z.grad, [[-1.0, 1.0], [1.5, -1.5]], rtol=1e-14)


@pytest.mark.parametrize(
    "loss",
    [
        lambda z, w: F.cross_entropy(z, np.array([0, 1]), weight=w),
        lambda z, w: F.nll_loss(z, np.array([0, 1]), weight=w),
        lambda z, w: F.binary_cross_entropy_with_logits(z, np.full((2, 2), 0.5), weight=w),
    ],
)
def test_a_loss_weight_that_cannot_be_differentiated_is_an_error_not_a_constant(loss):
    z, w = leaf(np.zeros((2, 2))), leaf([1.0, 2.0])
    with pytest.raises(ValueError, match="weight"):
        loss(z, w)
    with refimpl.no_grad():  # no gradient wanted: fine
        loss(z, w)
    loss(z, w.detach())  # fine


# 8. cross-entropy with float64 probability targets and float32 logits: the loss is float64, as in PyTorch
#    (it was cast to float32); with z = 0 every −log p_c = log 2, so ℓₙ = Σ_c t_{n,c} log 2 = log 2.
# 9. binary cross-entropy with logits, float32 logits and a float64 target: every reduction gives the
#    promoted float64 loss (only "none" did); with z = 0: ℓ = max(0, 0) − 0·y + log(1 + e⁰) = log 2.
#    (log p and log(1 + e⁰) are computed from float32 logits: the values are float32-accurate.)
@pytest.mark.parametrize(
    "which, reduction, want",
    [
        ("cross_entropy", "mean", LOG2),
        ("cross_entropy", "sum", 2 * LOG2),
        ("cross_entropy", "none", [LOG2, LOG2]),
        ("bce_with_logits", "mean", LOG2),
        ("bce_with_logits", "sum", 4 * LOG2),
        ("bce_with_logits", "none", [[LOG2, LOG2], [LOG2, LOG2]]),
    ],
)
def test_mixed_precision_losses_have_the_promoted_dtype(which, reduction, want):
    z = refimpl.tensor(np.zeros((2, 2), dtype=np.float32), requires_grad=True)
    t = np.array([[0.25, 0.75], [0.5, 0.5]])  # float64 (rows sum to 1)
    if which == "cross_entropy":
        loss = F.cross_entropy(z, t, reduction=reduction)
    else:
        loss = F.binary_cross_entropy_with_logits(z, t, reduction=reduction)
    assert loss.dtype == np.float64
    np.testing.assert_allclose(loss.data, want, rtol=1e-6)
    loss.backward(np.ones(loss.shape))
    assert z.grad.dtype == np.float32


@pytest.mark.parametrize("learned", [False, True])
def test_cross_entropy_probabilities_promote_with_a_float64_weight_tensor(learned):
    # float32 logits and targets, a float64 weight Tensor: float64 loss, as in PyTorch (an array weight
    # takes the logits' dtype).  z = 0: ℓₙ = Σ_c w_c t_{n,c} log 2 = (0.25·1 + 0.75·3) log 2 = 2.5 log 2.
    z = refimpl.tensor(np.zeros((1, 2), dtype=np.float32), requires_grad=True)
    t = np.array([[0.25, 0.75]], dtype=np.float32)
    w = refimpl.tensor(np.array([1.0, 3.0]), requires_grad=learned)
    loss = F.cross_entropy(z, t, weight=w)
    assert loss.dtype == np.float64
    assert loss.item() == pytest.approx(2.5 * LOG2, rel=1e-6)
    assert F.cross_entropy(z, t, weight=np.array([1.0, 3.0])).dtype == np.float32


def test_linear_weight_gradient_of_one_sample_is_the_outer_product():
    """Batch 1 takes the outer-product path: the same numbers as the matmul, exactly."""
    rng = np.random.default_rng(0)
    x = refimpl.tensor(rng.standard_normal((1, 7)).astype(np.float32))
    w = refimpl.tensor(rng.standard_normal((5, 7)).astype(np.float32), requires_grad=True)
    g = rng.standard_normal((1, 5)).astype(np.float32)
    F.linear(x, w).backward(g)
    np.testing.assert_array_equal(w.grad, g.T @ x.data)
