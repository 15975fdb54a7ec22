"""Reference cases of Single-Path NAS, each worked out by hand: the superkernel decisions on a 2×1×5 kernel
(outer-ring norm vs. threshold, then the channel-group norm of the kernel-masked weights) and the cost R of
a decision vector."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from . import network_cost, superkernel

_P = "refimpl.techniques.architectures.single_path_nas."

# channel 0: taps [3, 1, 1, 1, 4]  -> ring norm over both channels = √(3² + 4² + 0 + 0) = 5
# channel 1: taps [0, 2, 0, 0, 0]
_W = np.array([[[3.0, 1.0, 1.0, 1.0, 4.0]], [[0.0, 2.0, 0.0, 0.0, 0.0]]])


def _decide(w, t_k, t_c):
    out, d_k, d_c = superkernel(w, t_k, t_c)
    return {"w": out.data, "d_k": float(d_k.data), "d_c": float(d_c.data)}


def reference_cases() -> list:
    conv = {
        "indicator": "1(x ≥ 0) on x = ‖group‖₂ − t (authors' code; the paper writes the squared norm)",
        "kernel_groups": "centre = taps 1..3 of 5, ring = taps 0 and 4, norm over all channels",
        "channel_groups": "first half of output channels always on; second half gated on ‖w_k[C/2:]‖₂",
    }
    ring_off = _W.copy()
    ring_off[0, 0, [0, 4]] = 0.0
    return [
        ReferenceCase(
            "ring_kept_channels_dropped",
            {"w": _W, "t_k": 4.0, "t_c": 2.5},
            {"w": np.concatenate([_W[:1], np.zeros((1, 1, 5))]), "d_k": 1.0, "d_c": 0.0},
            _decide,
            function=_P + "superkernel",
            note="by hand: ‖ring‖ = 5 > 4 keeps the 5-tap kernel; channel 1 of w_k is [0,2,0,0,0], norm 2 < 2.5, "
            "so it is switched off",
            atol=1e-12,
            conventions=conv,
        ),
        ReferenceCase(
            "ring_dropped_channels_kept",
            {"w": _W, "t_k": 6.0, "t_c": 1.5},
            {"w": ring_off, "d_k": 0.0, "d_c": 1.0},
            _decide,
            function=_P + "superkernel",
            note="by hand: ‖ring‖ = 5 < 6 leaves the 3-tap centre; channel norm 2 > 1.5 keeps both channels",
            atol=1e-12,
            conventions=conv,
        ),
        ReferenceCase(
            "cost_of_a_decision_vector",
            {"decisions": [(1, 0), (0, 1)], "width": 8, "c_in": 1},
            {"R": np.array(1 * 4 * 5 + 4 * 8 * 3.0)},
            lambda decisions, width, c_in: {"R": np.array(float(network_cost(decisions, width, c_in)))},
            function=_P + "network_cost",
            note="layer 1: 1 input × 4 channels (narrow) × 5 taps = 20; layer 2: 4 × 8 (wide) × 3 taps = 96; R = 116",
            atol=1e-12,
            conventions={"cost": "MACs per output position, Σ c_in·c_out·k, c_out = C/2 or C"},
        ),
    ]
