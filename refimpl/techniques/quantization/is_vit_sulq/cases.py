"""Reference cases of I&S-ViT: SULQ by hand, the per-row weight grid by hand, and the stage-2 fold, whose
layer-wise output must equal the channel-wise one exactly."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from . import _q, channel_qparams, reparameterize, sulq, weight_qparams

_F = "refimpl.techniques.quantization.is_vit_sulq."

_SULQ = {
    "rounding": "half to even (np.rint), twice: the code k = round((log2(x + η) − lo)/Δ), then the "
    "exponent round(k·Δ + lo), output 2^exponent − η",
    "saturation": "k clamped to [0, 2^b − 1]",
    "scheme": "shift-uniform-log2: a uniform grid of 2^b levels over [min, max] of log2(x + η)",
}
_WEIGHT_GRID = {
    "rounding": "z = round(−lo/s), half to even (np.rint); z is not clamped",
    "scheme": "affine min–max with 0 included: lo = min(min w, 0), hi = max(max w, 0), "
    "s = max(hi − lo, 1e-12)/(2^b − 1)",
    "granularity": "per output row of W (out, in)",
}
_FOLD = {
    "rounding": "divide: code = round(x/s) + z, half to even (np.rint); z_c = round(−lo_c/s_c), "
    "z̃ = round(mean z_c)",
    "saturation": "codes clamped to [0, 2^b − 1]",
    "scheme": "affine min–max with 0 included (quant_params, symmetric=False)",
    "granularity": "per channel (last axis of x) before the fold; one (s̃ = mean s_c, z̃) after it",
}

_X = [[0.05, 1.2, -2.5, 0.3], [-0.1, 0.4, -1.0, 0.9], [0.12, 2.0, -3.1, -0.2], [0.0, 0.9, -1.8, 0.6]]
_W = [[0.5, -0.2, 0.1, 0.3], [-0.4, 0.25, 0.2, -0.1], [0.05, 0.6, -0.3, 0.2]]
_B = [0.1, -0.2, 0.05]


def _fold(x, W, b, bits):
    """Channel-wise quantization of x (playing LN(x), identity affine) then Wx̂ + b, and the folded
    layer-wise version: returns their difference."""
    x, W, b = (np.asarray(v, np.float64) for v in (x, W, b))
    s, z = channel_qparams(x, bits)
    rp = reparameterize(np.ones(x.shape[1]), np.zeros(x.shape[1]), W, b, s, z)
    channel = _q(x, s, z, bits) @ W.T + b
    layer = _q(x * rp["gamma"] + rp["beta"], rp["s_layer"], rp["z_layer"], bits) @ rp["W"].T + rp["b"]
    return layer - channel


def reference_cases() -> list:
    return [
        ReferenceCase(
            name="sulq_one_bit",
            conventions=_SULQ,
            inputs={"x": [0.5, 0.25, 0.125, 0.125], "bits": 1, "eta": 0.0},
            expected={"q": [0.5, 0.125, 0.125, 0.125]},
            compute=lambda x, bits, eta: {"q": sulq(x, bits, eta)},
            function=_F + "sulq",
            note="By hand: log2 = [−1, −2, −3, −3]; 2 levels over [−3, −1], Δ = 2; (y + 3)/2 = [1, 0.5, 0, 0] "
            "→ round half to even [1, 0, 0, 0] → 2^[−1, −3, −3, −3].",
            atol=1e-12,
        ),
        ReferenceCase(
            name="sulq_shift_reaches_one",
            conventions=_SULQ,
            inputs={"x": [1.0, 0.0, 0.3], "bits": 2, "eta": 1.0},
            expected={"q": [1.0, 0.0, 0.0]},
            compute=lambda x, bits, eta: {"q": sulq(x, bits, eta)},
            function=_F + "sulq",
            note="By hand: η = 1 → y = log2([2, 1, 1.3]) = [1, 0, 0.3785]; 4 levels over [0, 1], Δ = 1/3; "
            "k = round([3, 0, 1.14]) = [3, 0, 1] → exponents round([1, 0, 0.333]) = [1, 0, 0] → 2^e − 1 = "
            "[1, 0, 0].",
            atol=1e-12,
        ),
        ReferenceCase(
            name="weight_grid_by_hand",
            conventions=_WEIGHT_GRID,
            inputs={"W": [[-0.3, 0.0, 0.4], [0.2, 0.6, 0.1]], "bits": 2},
            expected={"s": [[0.7 / 3], [0.2]], "z": [[1.0], [0.0]]},
            compute=lambda W, bits: dict(zip(("s", "z"), weight_qparams(W, bits))),
            function=_F + "weight_qparams",
            note="By hand: row 1 spans [−0.3, 0.4]: s = 0.7/3, z = round(0.3/s) = round(1.29) = 1; row 2 spans "
            "[0, 0.6] (0 included): s = 0.2, z = 0.",
            atol=1e-12,
        ),
        ReferenceCase(
            name="stage2_fold_is_exact",
            conventions=_FOLD,
            inputs={"x": _X, "W": _W, "b": _B, "bits": 3},
            expected={"difference": np.zeros((4, 3))},
            compute=lambda x, W, b, bits: {"difference": _fold(x, W, b, bits)},
            function=_F + "reparameterize",
            note="Derived: with x'_c = x_c/r_c + s̃(z_c − z̃), x'_c/s̃ + z̃ = x_c/s_c + z_c, so both quantizers "
            "pick the same integer codes and W′x̂′ + b′ = Wx̂ + b; the difference is zero up to rounding.",
            atol=1e-12,
        ),
    ]
