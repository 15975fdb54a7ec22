"""Reference cases of OFQ: StatsQ, the oscillation count, the CGA mask, QKR and the per-channel LSQ
baseline's initial step and grid, each by hand."""

from __future__ import annotations

import numpy as np

from ....autograd.tensor import Tensor
from ....catalog import ReferenceCase
from . import (
    LSQWeight,
    cga_trainable_mask,
    count_oscillations,
    qk_levels,
    qk_reparam_weight,
    quantized_attention_scores,
    statsq_levels,
    statsq_quantize,
    statsq_scale,
)

_F = "refimpl.techniques.quantization.ofq_statsq."

_STATSQ = {
    "rounding": "k = round(n·clip(W/s) − ½), half to even (np.rint), n = 2^(b−1); Ŵ = s·(k + ½)/n",
    "saturation": "W/s clamped to [−1, 1 − 1e−6], so k ∈ [−n, n − 1]",
    "scheme": "StatsQ: s = 2·mean|W| per row, levels at odd multiples of s/(2n) (no zero level)",
    "granularity": "per output row (W (out, in); W_qk viewed as (H·C, C))",
}
_CGA = {
    "saturation": "u = n·clip(W/s, −1, 1 − 1e−6) − ½, as StatsQ",
    "boundaries": "the interior rounding boundaries i + ½, i = −n … n − 2; |u − (i + ½)| ≤ δ inclusive "
    "keeps the weight trainable",
}
_LSQ = {
    "rounding": "divide: code = round(W/s), half to even (np.rint)",
    "saturation": "codes clamped to [−2^(b−1), 2^(b−1) − 1]",
    "scheme": "symmetric, learned step s initialised at 2·mean|W_i|/√Q_p, Q_p = 2^(b−1) − 1, clamped ≥ 1e-5",
    "granularity": "per output channel (rows)",
}


def _lsq(W, bits):
    W = np.asarray(W, dtype=np.float64)
    q = LSQWeight(bits, W)
    return {"s": q.s.data, "q": q(Tensor(W)).data}


def reference_cases() -> list:
    return [
        ReferenceCase(
            name="statsq_row",
            conventions=_STATSQ,
            function=_F + "statsq_quantize",
            inputs={"W": [[0.3, -0.1, 0.05, -0.55]], "bits": 2},
            expected={
                "q": [[0.375, -0.125, 0.125, -0.375]],
                "levels": [[1.0, -1.0, 0.0, -2.0]],
                "s": [[0.5]],
            },
            compute=lambda W, bits: {
                "q": statsq_quantize(np.asarray(W), bits),
                "levels": statsq_levels(np.asarray(W), bits),
                "s": statsq_scale(W),
            },
            note="By hand: s = 2·mean(0.3, 0.1, 0.05, 0.55) = 0.5; W/s = [0.6, −0.2, 0.1, −1.1] → clip "
            "→ [0.6, −0.2, "
            "0.1, −1]; ×2 − ½ = [0.7, −0.9, −0.3, −2.5] → round (half to even) [1, −1, 0, −2]; (k + ½)/2·s = "
            "[0.375, −0.125, 0.125, −0.375] (catalogue example).",
            atol=1e-12,
        ),
        ReferenceCase(
            name="oscillation_count",
            function=_F + "count_oscillations",
            inputs={"trajectory": [1, 2, 1, 2]},
            expected={"count": 2, "monotone": 0, "with_pause": 1},
            compute=lambda trajectory: {
                "count": count_oscillations(trajectory),
                "monotone": count_oscillations([0, 1, 2, 3]),
                "with_pause": count_oscillations([0, 1, 1, 1, 0]),
            },
            note="By hand: 1→2 (up), 2→1 (down: 1), 1→2 (up: 2); a monotone path never reverses; 0→1, "
            "pause, 1→0 "
            "reverses the last non-zero change once.",
            atol=0,
        ),
        ReferenceCase(
            name="cga_mask",
            conventions=_CGA,
            function=_F + "cga_trainable_mask",
            inputs={"W": [[0.3, -0.1, 0.05, -0.55]], "bits": 2, "delta": 0.25},
            expected={"trainable": [[True, False, True, False]]},
            compute=lambda W, bits, delta: {"trainable": cga_trainable_mask(np.asarray(W), bits, delta)},
            note="By hand: u = [0.7, −0.9, −0.3, −2.5]; interior boundaries −1.5, −0.5, 0.5; distances "
            "[0.2, 0.4, 0.2, "
            "1.0] → within δ = 0.25: weights 1 and 3 keep training (−2.5 is the clip floor, not a boundary).",
            atol=0,
        ),
        ReferenceCase(
            name="qkr_weight_and_scores",
            conventions=_STATSQ,
            function=_F + "quantized_attention_scores",
            inputs={"Wq": [[1.0, 2.0], [0.0, 1.0]], "Wk": [[1.0, 0.0], [1.0, 1.0]], "bits": 2},
            expected={
                "Wqk": [[[1.0, 0.0], [3.0, 1.0]]],
                "levels": [[1.0, 0.0], [1.0, 0.0]],
                "scores_quantized": [[[[0.75, 0.25], [3.0, 1.0]]]],
            },
            compute=lambda Wq, Wk, bits: {
                "Wqk": qk_reparam_weight(np.asarray(Wq), np.asarray(Wk), 1),
                "levels": qk_levels(np.asarray(Wq), np.asarray(Wk), 1, bits, reparam=True),
                "scores_quantized": quantized_attention_scores(
                    np.eye(2)[None], np.asarray(Wq), np.asarray(Wk), 1, bits, reparam=True, scale=1.0
                ).data,
            },
            note="By hand (one head, d = C = 2): W_qᵀW_k = [[1, 0], [2, 1]]·[[1, 0], [1, 1]] = "
            "[[1, 0], [3, 1]]; row scales 2·mean|·| = 1 and 4; W/s = [1, 0] → clip [1 − 1e−6, 0] → "
            "×2 − ½ → [1.5 − 2e−6, −0.5] → "
            "round [1, 0]; [0.75, 0.25] → ×2 − ½ = [1, 0]; (k + ½)/2·s = [0.75, 0.25] and [3, 1]; with x = I "
            "(two tokens, scale 1) the scores x·Q(W_qk)·xᵀ are Q(W_qk) itself.",
            atol=1e-12,
        ),
        ReferenceCase(
            name="lsq_per_channel_init_and_grid",
            conventions=_LSQ,
            function=_F + "LSQWeight",
            inputs={"W": [[0.3, -0.1, 0.05, -0.55], [2.0, -1.0, 0.0, 1.0]], "bits": 2},
            expected={
                "s": [[0.5], [2.0]],
                "q": [[0.5, 0.0, 0.0, -0.5], [2.0, 0.0, 0.0, 0.0]],
            },
            compute=lambda W, bits: _lsq(W, bits),
            note="By hand (official LsqQuantizerWeight init): 2 bits → Q_p = 1, s_i = 2·mean|W_i|/√1 = "
            "[0.5, 2.0]; row 1: W/s = [0.6, −0.2, 0.1, −1.1], inside the clip [−2, 1] → round [1, 0, 0, −1] → "
            "×0.5 = [0.5, 0, 0, −0.5]; row 2: W/s = [1, −0.5, 0, 0.5] → round half to even [1, 0, 0, 0] → ×2.",
            atol=1e-12,
        ),
    ]
