"""Ghost batch normalization (Hoffer et al., 2017; arXiv 1705.08741)."""

import numpy as np
import pytest

import refimpl as rf
from refimpl.nn import functional as F
from refimpl.techniques.regularization_normalization import ghost_batchnorm as gbn


def _numpy_ghost_bn(x, g, eps):
    """Independent oracle: plain NumPy batch norm on each consecutive chunk of g samples."""
    out = np.empty_like(x)
    axes = (0,) + tuple(range(2, x.ndim))
    for i in range(0, len(x), g):
        part = x[i : i + g]
        out[i : i + g] = (part - part.mean(axis=axes, keepdims=True)) / np.sqrt(
            part.var(axis=axes, keepdims=True) + eps
        )
    return out


@pytest.mark.parametrize("shape,g", [((8, 3), 4), ((10, 3), 4), ((6, 2, 5), 3), ((4, 2, 3, 3), 2)])
def test_forward_equals_per_chunk_batchnorm(shape, g):
    x = np.random.default_rng(0).normal(size=shape)
    y = gbn.ghost_batch_norm(rf.tensor(x), g, eps=1e-5).data
    np.testing.assert_allclose(y, _numpy_ghost_bn(x, g, 1e-5), atol=1e-12)


def test_ghost_size_of_whole_batch_is_batch_norm():
    x = rf.tensor(np.random.default_rng(1).normal(size=(12, 4)))
    np.testing.assert_allclose(
        gbn.ghost_batch_norm(x, None).data, F.batch_norm(x, training=True).data, atol=1e-12
    )


def test_running_statistics_one_ema_step_per_ghost_batch():
    x = rf.tensor(np.array([[1.0], [3.0], [5.0], [7.0]]))
    rm, rv = np.zeros(1), np.ones(1)
    gbn.ghost_batch_norm(x, 2, running_mean=rm, running_var=rv, momentum=0.1)
    # chunk [1,3]: mean 2, unbiased var 2 → rm = 0.2, rv = 0.9 + 0.2 = 1.1
    # chunk [5,7]: mean 6, unbiased var 2 → rm = 0.18 + 0.6 = 0.78, rv = 0.99 + 0.2 = 1.19
    np.testing.assert_allclose(rm, [0.78])
    np.testing.assert_allclose(rv, [1.19])


def test_eval_uses_running_statistics():
    layer = gbn.GhostBatchNorm(2, ghost_batch_size=2).double()
    layer.running_mean[...] = [1.0, -1.0]
    layer.running_var[...] = [4.0, 1.0]
    layer.eval()
    y = layer(rf.tensor(np.array([[3.0, 0.0]])))
    np.testing.assert_allclose(y.data, [[2 / np.sqrt(4 + 1e-5), 1 / np.sqrt(1 + 1e-5)]])


@pytest.mark.parametrize("n", [8, 7])  # the fused path and the chunked path (last ghost batch smaller)
def test_gradcheck(n):
    rng = np.random.default_rng(2)
    x, w, b = rng.normal(size=(n, 3)), rng.normal(size=3), rng.normal(size=3)
    rf.gradcheck(lambda x, w, b: gbn.ghost_batch_norm(x, 4, w, b), x, w, b)


def test_gradient_equals_official_chunked_gradient_averaging():
    """main_gbn.py runs each chunk through ordinary BN, backpropagates each chunk's mean loss and divides the
    summed gradients by the number of chunks; GBN on the whole batch with the overall mean loss is the same."""
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(8, 5)), rng.integers(0, 3, size=8)
    w = rng.normal(size=(3, 5))

    def loss_of(xs, ys, ghost, wt):
        h = gbn.ghost_batch_norm(rf.tensor(xs), ghost)
        return F.cross_entropy(F.linear(h, wt), ys)

    wt = rf.tensor(w, requires_grad=True)
    loss_of(x, y, 4, wt).backward()
    whole = wt.grad
    wt2 = rf.tensor(w, requires_grad=True)
    for s in (slice(0, 4), slice(4, 8)):
        loss_of(x[s], y[s], None, wt2).backward()
    np.testing.assert_allclose(whole, wt2.grad / 2, atol=1e-12)


def test_bad_arguments():
    with pytest.raises(ValueError, match="ghost_batch_size"):
        gbn.GhostBatchNorm(4, ghost_batch_size=1)
    with pytest.raises(ValueError, match=r"expected input \(N, 4"):
        gbn.GhostBatchNorm(4)(rf.tensor(np.zeros((2, 3), dtype=np.float32)))
    with pytest.raises(ValueError, match="lr_small"):
        gbn.sqrt_lr_scaling(0.0, 512, 16)
    with pytest.raises(ValueError, match="momentum"):
        gbn.ghost_batch_norm(rf.tensor(np.zeros((4, 2))), 2, momentum=2.0)


@pytest.mark.parametrize("seed", [0, 1])
def test_demo_large_batch_gap_and_its_closing(seed, demo_result):
    m = demo_result("ghost-batchnorm", seed)["metrics"]
    assert m["gap_large_batch"] > 0.02, m  # same epochs, 32× fewer updates: worse
    assert m["test_acc_large_batch_all_fixes"] > m["test_acc_large_batch"] + 0.02, m
    assert m["gap_after_fixes"] < 0.5 * m["gap_large_batch"], m  # most of the gap closed
