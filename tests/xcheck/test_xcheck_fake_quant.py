"""The "torch" rounding rule of `quantizers.fake_quant` against PyTorch's fake quantization, bit for bit.

PyTorch rounds x · float32(1/s); refimpl's default rounds x / s.  On float32 inputs built to sit on and
around ties (x ≈ (k + ½)·s, and the float32 neighbours of that), rounding="torch" must reproduce
`torch.fake_quantize_per_tensor_affine` and `torch.fake_quantize_per_channel_affine` exactly, with both
kernel backends; the default rule must differ somewhere on the same inputs (else the test would not be
exercising the difference it is about).
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from refimpl.techniques.quantization import quantizers as Q  # noqa: E402


def _near_ties(scales, ks, rng):
    """float32 values on and around k + ½ steps of each scale: the rounded tie and ±1, ±2 ulp."""
    out = []
    for s in scales:
        t = np.float32((ks + 0.5) * np.float64(s))
        for d in (-2, -1, 0, 1, 2):
            v = t.copy()
            for _ in range(abs(d)):
                v = np.nextafter(v, np.float32(np.inf if d > 0 else -np.inf), dtype=np.float32)
            out.append(v)
    return np.concatenate(out).astype(np.float32)


def _backends():
    for b in ("numpy", "numba"):
        Q.kernel_backend(b)
        yield b
    Q.kernel_backend("auto")


@pytest.mark.parametrize("zero_point", [0, 3])
def test_torch_rule_matches_fake_quantize_per_tensor_affine(zero_point):
    rng = np.random.default_rng(0)
    scales = rng.uniform(0.01, 0.3, 40).astype(np.float32)
    ks = np.arange(-9, 9, dtype=np.float64)
    diffs = 0
    for s in scales:
        x = _near_ties([s], ks, rng)
        x = np.concatenate([x, rng.normal(size=200).astype(np.float32)]).reshape(1, -1)
        want = torch.fake_quantize_per_tensor_affine(torch.from_numpy(x), float(s), zero_point, -8, 7).numpy()
        qp = Q.QParams(np.array([[s]], np.float32), np.array([[zero_point]], np.float32), -8, 7, "torch")
        for backend in _backends():
            got = Q.fake_quant(x, qp)
            assert got.dtype == np.float32
            bad = np.flatnonzero(got != want)
            assert bad.size == 0, f"{backend}: s={s!r}, x={x.ravel()[bad[:3]]}, got {got.ravel()[bad[:3]]}"
        diffs += int(np.sum(Q.fake_quant(x, qp, rounding="divide") != want))
    assert diffs > 0  # the default rule x/s does differ from PyTorch's at some constructed near-ties


def test_torch_rule_matches_fake_quantize_per_channel_affine():
    rng = np.random.default_rng(1)
    scales = rng.uniform(0.005, 0.5, 24).astype(np.float32)
    zps = rng.integers(-3, 4, 24).astype(np.int32)
    ks = np.arange(-8, 8, dtype=np.float64)
    x = np.stack([_near_ties([s], ks, rng) for s in scales])  # (channels, values): each row its own ties
    want = torch.fake_quantize_per_channel_affine(
        torch.from_numpy(x), torch.from_numpy(scales), torch.from_numpy(zps), 0, -8, 7
    ).numpy()
    qp = Q.QParams(scales[:, None], zps[:, None].astype(np.float32), -8, 7, rounding="torch")
    for backend in _backends():
        got = Q.fake_quant(x, qp)
        np.testing.assert_array_equal(got, want, err_msg=backend)
    np.testing.assert_array_equal(Q.fake_quant_numpy(x, qp), want)
    assert np.sum(Q.fake_quant(x, qp, rounding="divide") != want) > 0
    # per channel along axis 1 (a 3-D input takes the NumPy twin)
    x3 = rng.normal(size=(3, 24, 5)).astype(np.float32)
    want3 = torch.fake_quantize_per_channel_affine(
        torch.from_numpy(x3), torch.from_numpy(scales), torch.from_numpy(zps), 1, -8, 7
    ).numpy()
    qp3 = Q.QParams(scales[None, :, None], zps[None, :, None].astype(np.float32), -8, 7, "torch")
    np.testing.assert_array_equal(Q.fake_quant(x3, qp3), want3)


def test_quant_params_carries_the_rule_into_fake_quant():
    x = np.random.default_rng(2).normal(size=(4, 64)).astype(np.float32)
    qp = Q.quant_params(x, 4, granularity="channel", rounding="torch")
    assert qp.rounding == "torch"
    want = torch.fake_quantize_per_channel_affine(
        torch.from_numpy(x),
        torch.from_numpy(qp.scale[:, 0].astype(np.float32)),
        torch.zeros(4, dtype=torch.int32),
        0,
        qp.qmin,
        qp.qmax,
    ).numpy()
    np.testing.assert_array_equal(Q.fake_quant(x, qp), want)
