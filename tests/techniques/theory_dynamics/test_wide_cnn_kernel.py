"""Local and global kernels: the reference cases; the local kernel is a positive-definite average of patch
kernels (it equals the global kernel when the patch is the whole ring); the teacher's samples have the local
kernel as covariance (Monte Carlo); interpolation reproduces the training targets; bad input; the recorded run."""

import numpy as np
import pytest

from refimpl.experiments import freshness, recorded
from refimpl.techniques.theory_dynamics import wide_cnn_kernel as WC
from refimpl.techniques.theory_dynamics.wide_cnn_kernel.cases import reference_cases

SLUG = "wide-cnn-kernel"


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


def test_local_kernel_structure():
    X = np.random.default_rng(0).uniform(-1, 1, size=(30, 5))
    K = WC.local_kernel(X, patch=2)
    assert np.linalg.eigvalsh(K).min() > 0
    np.testing.assert_allclose(np.diag(K), 1.0)
    np.testing.assert_allclose(WC.local_kernel(X, patch=5), WC.laplace_kernel(X), rtol=1e-12)
    brute = np.mean([WC.laplace_kernel(np.roll(X, -i, axis=1)[:, :2]) for i in range(5)], axis=0)
    np.testing.assert_allclose(K, brute, rtol=1e-12)


def test_teacher_covariance_is_the_local_kernel():
    X = np.random.default_rng(1).uniform(-1, 1, size=(4, 6))
    draws = np.array([WC.sample_local_teacher(X, patch=2, rng=s) for s in range(4000)])
    np.testing.assert_allclose(draws.T @ draws / 4000, WC.local_kernel(X, patch=2), atol=0.07)


def test_interpolation_reproduces_the_training_targets():
    X = np.random.default_rng(2).uniform(-1, 1, size=(40, 3))
    y = np.sin(X.sum(1))
    K = WC.local_kernel(X, patch=2)
    np.testing.assert_allclose(WC.krr_ridgeless(K, K, y), y, atol=1e-6)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="patch"):
        WC.local_kernel(np.zeros((2, 3)), patch=4)


def test_recorded_full_run():
    """On the recorded per-seed exponents: the local student at d = 8 is within 0.1 of 1/s = 0.5 on average and
    steeper than the global one on every seed; the global exponent falls from d = 4 to d = 8 on average, the
    local one moves by less than 0.1 on average."""
    assert freshness(SLUG) == "fresh"
    r = recorded(SLUG)
    assert not r.quick and len(r.seeds) >= 3
    loc8, loc4 = (
        np.array(r.values("local kernel, d = 8", "beta")),
        np.array(r.values("local kernel, d = 4", "beta")),
    )
    glob8, glob4 = (
        np.array(r.values("global kernel, d = 8", "beta")),
        np.array(r.values("global kernel, d = 4", "beta")),
    )
    assert abs(loc8.mean() - 0.5) < 0.1
    assert np.all(loc8 > glob8)
    assert glob8.mean() < glob4.mean()
    assert abs(loc8.mean() - loc4.mean()) < 0.1
