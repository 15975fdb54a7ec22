"""Reference cases of NUPES: the power map and its inverse, the 3-bit power grid against the uniform one,
the searched exponent by brute force, and the learned dequantizer Ŵ(θ, a) at given codes — all by hand or
by an independent computation."""

from __future__ import annotations

import numpy as np

from ....autograd.tensor import Tensor
from ....catalog import ReferenceCase
from . import inverse_power_map, power_dequantize, power_map, power_quantize, search_exponent

_F = "refimpl.techniques.quantization.nupes."

_POWER = {
    "rounding": "divide in power space: code = round(t/s), half to even (np.rint), t = sign(W)·|W|^a",
    "saturation": "codes clamped to [−q, q], q = 2^(b−1) − 1 (symmetric, no −2^(b−1) code)",
    "scheme": "symmetric in power space, s = max|t|/q; mapped back by sign·|·|^(1/a)",
}
_SEARCH = {
    **_POWER,
    "granularity": "per output row (per_channel=True, the default)",
    "search": "argmin over the grid of ‖W − Q_a(W)‖², summed over rows; a tie goes to the first grid value",
}
_DEQUANT = {
    "rounding": "codes ⌊θ⌉ half to even (np.rint), straight-through in the backward",
    "saturation": "codes clamped to [−q, q], q = 2^(b−1) − 1",
    "scheme": "Ŵ = sign(c)·|c·s_a|^(1/a), s_a = m^a/q with m the per-row max|W|",
}


def _brute_force_exponent(W, bits, grid):
    """argmin over the grid of the weight error, each Q_a built level by level (nearest of the levels
    ±max|W|·(k/q)^(1/a), k = 0…q, per row) — independent of `power_quantize`."""
    W = np.asarray(W, dtype=np.float64)
    q = 2 ** (bits - 1) - 1
    errs = []
    for a in grid:
        err = 0.0
        for row in W:
            mag = np.abs(row).max() * (np.arange(q + 1) / q) ** (1.0 / a)
            levels = np.concatenate([-mag[::-1], mag[1:]])
            err += np.sum((row - levels[np.argmin(np.abs(row[:, None] - levels[None]), axis=1)]) ** 2)
        errs.append(err)
    return float(grid[int(np.argmin(errs))])


_W_SEARCH = [[0.9, -0.05, 0.3, 0.01, -0.6, 0.12], [-0.2, 0.02, 1.5, -0.08, 0.4, 0.03]]
_GRID = [0.3, 0.5, 0.7, 1.0]


def reference_cases() -> list:
    return [
        ReferenceCase(
            name="power_map_roundtrip",
            inputs={"w": [0.25, -0.09, 0.0, 4.0], "a": 0.5},
            expected={"y": [0.5, -0.3, 0.0, 2.0], "back": [0.25, -0.09, 0.0, 4.0]},
            compute=lambda w, a: {"y": power_map(w, a), "back": inverse_power_map(power_map(w, a), a)},
            function=_F + "power_map",
            note="By hand: √0.25 = 0.5, −√0.09 = −0.3, √4 = 2; the inverse squares back.",
            atol=1e-12,
        ),
        ReferenceCase(
            name="power_grid_3bit",
            conventions={**_POWER, "granularity": "per tensor (per_channel=False)"},
            inputs={"W": [0.3, -0.9, 0.04, 1.0], "a": 0.5, "bits": 3, "per_channel": False},
            expected={"q": [4.0 / 9.0, -1.0, 1.0 / 9.0, 1.0], "uniform": [1.0 / 3.0, -1.0, 0.0, 1.0]},
            compute=lambda W, a, bits, per_channel: {
                "q": power_quantize(W, a, bits, per_channel=per_channel),
                "uniform": power_quantize(W, 1.0, bits, per_channel=per_channel),
            },
            function=_F + "power_quantize",
            note="By hand (3 bits → q = 3): t = √|W|·sign = [0.5477, −0.9487, 0.2, 1]; s = 1/3; t/s = "
            "[1.64, −2.85, 0.6, 3] → [2, −3, 1, 3] → [2/3, −1, 1/3, 1] → squared back [4/9, −1, 1/9, 1]. "
            "Uniform (a = 1): W/s = [0.9, −2.7, 0.12, 3] → [1, −3, 0, 3] → [1/3, −1, 0, 1]: the small "
            "weight 0.04 survives only in power space.",
            atol=1e-12,
        ),
        ReferenceCase(
            name="searched_exponent_brute_force",
            conventions=_SEARCH,
            inputs={"W": _W_SEARCH, "bits": 3, "grid": _GRID},
            expected={"a": np.array(_brute_force_exponent(_W_SEARCH, 3, _GRID))},
            compute=lambda W, bits, grid: {"a": np.array(search_exponent(W, bits, grid=grid)[0])},
            function=_F + "search_exponent",
            note="Eq. 3 by brute force: per row, the levels ±max|W|·(k/3)^(1/a), k = 0…3, built explicitly; "
            "each weight to its nearest level; the exponent with the least total squared error.",
            atol=0,
        ),
        ReferenceCase(
            name="dequantize_codes",
            conventions=_DEQUANT,
            inputs={"theta": [[2.6, -0.4, -7.0, 1.2]], "a": 0.5, "m": [[2.0]], "bits": 3},
            expected={"W_hat": [[2.0, 0.0, -2.0, 2.0 / 9.0]]},
            compute=lambda theta, a, m, bits: {
                "W_hat": power_dequantize(Tensor(np.asarray(theta, float)), Tensor(np.array(a)), m, bits)
            },
            function=_F + "power_dequantize",
            note="By hand, Eq. 4 with q = 3, max|W| = 2: codes ⌊θ⌉ clipped = [3, 0, −3, 1]; Ŵ = "
            "2·sign(c)·|c/3|² = [2, 0, −2, 2/9].",
            atol=1e-12,
        ),
    ]
