"""Bad input raises ValueError/TypeError whose message names the argument, what was expected and what came.

Each case is (callable, exception type, regex the message must match).  The regexes pin the argument
name and both the expected and the received value, so a bare NumPy broadcasting error does not pass.
"""

import numpy as np
import pytest

import refimpl.nn.functional as F
from refimpl import Tensor, tensor
from refimpl.autograd import ops


def t(*shape, grad=False, seed=0):
    return tensor(np.random.default_rng(seed).standard_normal(shape), requires_grad=grad)


IMG, W333 = t(2, 3, 5, 5), t(4, 3, 3, 3)
CASES = {
    # matmul / linear
    "matmul_inner": (
        lambda: ops.matmul(t(3, 4), t(5, 2)),
        ValueError,
        r"matmul.*\(3, 4\).*last axis 4.*\(5, 2\).*axis 5",
    ),
    "matmul_vector": (lambda: t(3) @ t(4), ValueError, r"matmul.*\(3,\).*\(4,\)"),
    "matmul_0d": (lambda: ops.matmul(t(), t(3)), ValueError, r"matmul.*at least 1 dimension.*\(\)"),
    "linear_features": (
        lambda: F.linear(t(2, 3), t(4, 5)),
        ValueError,
        r"linear.*input has 3 features.*\(2, 3\).*expects 5.*\(4, 5\)",
    ),
    # conv2d
    "conv2d_channels": (
        lambda: F.conv2d(IMG, t(4, 2, 3, 3)),
        ValueError,
        r"conv2d.*3 channels.*\(4, 2, 3, 3\).*expects 2",
    ),
    "conv2d_input_rank": (
        lambda: F.conv2d(t(3, 5, 5), W333),
        ValueError,
        r"conv2d: `input`.*\(N, C, H, W\).*\(3, 5, 5\)",
    ),
    "conv2d_weight_rank": (lambda: F.conv2d(IMG, t(4, 3, 3)), ValueError, r"conv2d: `weight`.*\(4, 3, 3\)"),
    "conv2d_groups": (
        lambda: F.conv2d(IMG, W333, groups=2),
        ValueError,
        r"`groups`=2.*in_channels=3.*out_channels=4",
    ),
    "conv2d_kernel_too_big": (
        lambda: F.conv2d(t(1, 3, 2, 2), W333),
        ValueError,
        r"kernel \(3, 3\).*padded input \(2, 2\)",
    ),
    "conv2d_bias": (lambda: F.conv2d(IMG, W333, t(3)), ValueError, r"`bias`.*\(4,\).*\(3,\)"),
    "conv2d_stride": (
        lambda: F.conv2d(IMG, W333, stride=(1, 2, 3)),
        ValueError,
        r"`stride`.*pair.*\(1, 2, 3\)",
    ),
    # cross-entropy and friends
    "ce_target_shape": (
        lambda: F.cross_entropy(t(4, 3), np.array([0, 1, 2])),
        ValueError,
        r"`target`.*\(4,\).*\(4, 3\).*got \(3,\)",
    ),
    "ce_class_out_of_range": (
        lambda: F.cross_entropy(t(3, 3), np.array([0, 3, 1])),
        ValueError,
        r"`target`.*class index 3.*\[0, 2\]",
    ),
    "ce_negative_class": (
        lambda: F.cross_entropy(t(2, 3), np.array([0, -1])),
        ValueError,
        r"class index -1.*\[0, 2\]",
    ),
    "ce_prob_target_shape": (
        lambda: F.cross_entropy(t(2, 3), np.full((2, 4), 0.25)),
        ValueError,
        r"probability `target`.*\(2, 3\).*\(2, 4\)",
    ),
    "ce_float_indices_dtype": (
        lambda: F.cross_entropy(t(2, 3), np.array([True, False])),
        TypeError,
        r"`target`.*integer class indices.*bool",
    ),
    "ce_weight_shape": (
        lambda: F.cross_entropy(t(2, 3), np.array([0, 1]), weight=np.ones(4)),
        ValueError,
        r"`weight`.*\(3,\).*\(4,\)",
    ),
    "ce_reduction": (
        lambda: F.cross_entropy(t(2, 3), np.array([0, 1]), reduction="avg"),
        ValueError,
        r"`reduction`.*'mean'.*'avg'",
    ),
    "ce_label_smoothing": (
        lambda: F.cross_entropy(t(2, 3), np.array([0, 1]), label_smoothing=1.5),
        ValueError,
        r"`label_smoothing`.*\[0, 1\].*1.5",
    ),
    "nll_class_out_of_range": (
        lambda: F.nll_loss(t(2, 3), np.array([0, 7])),
        ValueError,
        r"`target`.*\[0, 2\].*7",
    ),
    "nll_target_shape": (lambda: F.nll_loss(t(2, 3), np.array([0])), ValueError, r"`target`.*\(2,\).*\(1,\)"),
    "mse_shape": (lambda: F.mse_loss(t(2, 3), np.zeros((3, 2))), ValueError, r"`target`.*\(3, 2\).*\(2, 3\)"),
    "bce_shape": (
        lambda: F.binary_cross_entropy_with_logits(t(2, 3), np.zeros(3)),
        ValueError,
        r"`target`.*\(2, 3\).*\(3,\)",
    ),
    # tensors and backward
    "requires_grad_int": (
        lambda: tensor(np.array([1, 2]), requires_grad=True),
        TypeError,
        r"requires_grad.*floating-point.*int64",
    ),
    "requires_grad_bool": (
        lambda: Tensor([True], requires_grad=True),
        TypeError,
        r"requires_grad.*floating-point.*bool",
    ),
    "requires_grad_method": (
        lambda: tensor([1, 2]).requires_grad_(),
        TypeError,
        r"requires_grad.*floating-point.*int",
    ),
    "backward_non_scalar": (
        lambda: (t(3, grad=True) * 2.0).backward(),
        ValueError,
        r"backward\(\) without `grad`.*scalar.*shape \(3,\)",
    ),
    "backward_grad_shape": (
        lambda: (t(3, grad=True) * 2.0).backward(np.ones(4)),
        ValueError,
        r"`grad`.*shape \(3,\).*\(4,\)",
    ),
    "item_non_scalar": (lambda: t(2).item(), ValueError, r"item\(\).*one element.*\(2,\)"),
    # shape ops
    "reshape": (lambda: ops.reshape(t(2, 3), (4, 2)), ValueError, r"reshape.*\(2, 3\).*\(4, 2\)"),
    "expand": (lambda: t(2, 3).expand(3, 3), ValueError, r"expand.*\(2, 3\).*\(3, 3\)"),
    "permute": (lambda: t(2, 3).permute(0, 0), ValueError, r"permute: `dims`.*permutation.*\(0, 0\)"),
    "stack_shapes": (lambda: ops.stack([t(2), t(3)]), ValueError, r"stack.*same shape.*\(2,\).*\(3,\)"),
    "concatenate_empty": (lambda: ops.concatenate([]), ValueError, r"concatenate.*at least one"),
    "pad_widths": (lambda: ops.pad(t(2, 3), ((1, 1),)), ValueError, r"pad: `widths`.*\(2\).*got 1"),
    "pad_negative": (lambda: ops.pad(t(2), ((-1, 0),)), ValueError, r"`widths`.*non-negative.*-1"),
    "sum_axis": (lambda: t(2, 3).sum(axis=2), ValueError, r"axis 2.*2 dimensions"),
    "var_too_few": (lambda: t(1).var(), ValueError, r"var.*correction=1.*got 1"),
    # elementwise
    "where_cond_dtype": (
        lambda: ops.where(np.array([1, 0]), t(2), t(2)),
        TypeError,
        r"where: `cond`.*boolean.*int64",
    ),
    "clip_no_bounds": (lambda: ops.clip(t(2)), ValueError, r"clip.*`min`.*`max`"),
    "clip_order": (lambda: ops.clip(t(2), 1.0, -1.0), ValueError, r"`min`.*≤ `max`.*min=1.0, max=-1.0"),
    "cast_int_with_grad": (lambda: t(2, grad=True).astype(np.int32), TypeError, r"cast.*float dtype.*int32"),
    # layers
    "embedding_dtype": (
        lambda: F.embedding(np.array([0.5]), t(4, 2)),
        TypeError,
        r"embedding: `input`.*integer.*float64",
    ),
    "embedding_range": (
        lambda: F.embedding(np.array([0, 4]), t(4, 2)),
        ValueError,
        r"indices.*\[0, 3\].*0\.\.4",
    ),
    "dropout_p": (lambda: F.dropout(t(2), 1.5), ValueError, r"dropout: `p`.*\[0, 1\].*1.5"),
    "layer_norm_shape": (
        lambda: F.layer_norm(t(2, 3), (4,)),
        ValueError,
        r"layer_norm.*\(3,\).*normalized_shape \(4,\)",
    ),
    "rms_norm_shape": (
        lambda: F.rms_norm(t(2, 3), 4),
        ValueError,
        r"rms_norm.*\(3,\).*normalized_shape \(4,\)",
    ),
    "group_norm_groups": (lambda: F.group_norm(t(2, 6, 2), 4), ValueError, r"`num_groups`=4.*6 channels"),
    "batch_norm_eval_stats": (
        lambda: F.batch_norm(t(4, 3)),
        ValueError,
        r"batch_norm.*`running_mean`.*`running_var`",
    ),
    "batch_norm_one_value": (
        lambda: F.batch_norm(t(1, 3), training=True),
        ValueError,
        r"batch_norm.*more than one value per channel.*\(1, 3\)",
    ),
    "sdpa_features": (
        lambda: F.scaled_dot_product_attention(t(2, 3, 4), t(2, 5, 3), t(2, 5, 6)),
        ValueError,
        r"query and key.*\(2, 3, 4\).*\(2, 5, 3\)",
    ),
    "sdpa_lengths": (
        lambda: F.scaled_dot_product_attention(t(2, 3, 4), t(2, 5, 4), t(2, 4, 6)),
        ValueError,
        r"key and value lengths.*\(2, 5, 4\).*\(2, 4, 6\)",
    ),
    "max_pool_padding": (
        lambda: F.max_pool2d(IMG, 2, padding=2),
        ValueError,
        r"`padding` \(2, 2\).*half the kernel \(2, 2\)",
    ),
}

BUGS = {
    # NumPy's own broadcasting message, which names neither the function nor the argument
    "matmul_batch": (
        lambda: ops.matmul(t(2, 3, 4), t(5, 4, 6)),
        ValueError,
        r"matmul.*\(2, 3, 4\).*\(5, 4, 6\)",
    ),
    "linear_bias": (lambda: F.linear(t(2, 3), t(4, 3), t(5)), ValueError, r"linear.*`bias`.*\(4,\).*\(5,\)"),
    "concatenate_shapes": (
        lambda: ops.concatenate([t(2, 3), t(2, 4)], axis=0),
        ValueError,
        r"concatenate.*\(2, 3\).*\(2, 4\)",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_message(case):
    fn, exc, pattern = CASES[case]
    with pytest.raises(exc, match=pattern):
        fn()


@pytest.mark.parametrize("case", sorted(BUGS))
def test_bad_input_message_known_gaps(case):
    fn, exc, pattern = BUGS[case]
    with pytest.raises(exc, match=pattern):
        fn()


def test_backward_on_a_tensor_without_grad_is_a_runtime_error():
    with pytest.raises(RuntimeError, match="does not require grad"):
        t(3).sum().backward()
