"""The FP8 encoder of `quantization.fp_formats` against PyTorch's casts, code for code, on many random
float32 values spread over every binade (subnormals, ties, overflow, ±inf, NaN).

PyTorch 2.13's cast to float8_e5m2 overflows to ±inf (fp_formats' saturate=False, the format's
default); its cast to float8_e4m3fn saturates to ±448 (saturate=True).
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from refimpl.techniques.quantization import fp_formats as F  # noqa: E402

CASES = [("float8_e4m3fn", F.E4M3FN, True), ("float8_e5m2", F.E5M2, False)]


def _values(fmt, n=200_000, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n) * 2.0 ** rng.integers(-24, 20, n)  # every binade, sub- to overflow
    vals = fmt.values()
    ties = (vals[1:] + vals[:-1]) / 2
    special = [0.0, -0.0, np.inf, -np.inf, np.nan, fmt.max_value, -fmt.max_value, fmt.min_subnormal / 2]
    x = np.concatenate([x, vals, ties, -ties, np.array(special)]).astype(np.float32)
    # the float32 neighbours of every tie
    t32 = ties.astype(np.float32)
    return np.concatenate([x, np.nextafter(t32, np.float32(np.inf)), np.nextafter(t32, np.float32(0))])


@pytest.mark.parametrize("dtype,fmt,saturate", CASES, ids=[c[0] for c in CASES])
def test_encode_matches_torch_cast(dtype, fmt, saturate):
    if not hasattr(torch, dtype):
        pytest.skip(f"torch has no {dtype}")
    x = _values(fmt)
    want = torch.from_numpy(x).to(getattr(torch, dtype)).view(torch.uint8).numpy()
    got = F.encode(x, fmt, saturate=saturate)
    bad = np.flatnonzero(got != want)
    assert bad.size == 0, (
        f"{bad.size} mismatches, e.g. x={x[bad[:4]]}: ours {got[bad[:4]]}, torch {want[bad[:4]]}"
    )
    # and decoding agrees with torch's float8 → float32
    back = torch.from_numpy(want).view(getattr(torch, dtype)).to(torch.float64).numpy()
    np.testing.assert_array_equal(F.decode(got, fmt), back)
