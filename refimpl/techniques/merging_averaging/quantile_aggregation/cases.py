"""Reference cases of quantile aggregation: the pinball loss, sorting / PAVA and the coarse / fine weights,
each worked by hand."""

from __future__ import annotations

import numpy as np

from ....autograd.tensor import Tensor
from ....catalog import ReferenceCase
from . import aggregate, pava, pava_forward, pinball_loss, sort_forward, sort_quantiles

_PKG = "refimpl.techniques.merging_averaging.quantile_aggregation"


def reference_cases() -> list:
    def pin(q, y, taus):
        return {
            "loss": pinball_loss(np.asarray(q, dtype=float), np.asarray(y, dtype=float), taus, reduce=False)
        }

    def srt(q, y, taus):
        s = sort_quantiles(q)
        return {
            "sorted": s,
            "pava": pava(q),
            "loss_before": np.array(pinball_loss(np.asarray(q), y, taus)),
            "loss_after": np.array(pinball_loss(s, y, taus)),
        }

    def agg(Q, logits):
        return {"q": aggregate(np.asarray(Q), np.asarray(logits))}

    def forward_grads(q, g):
        out = {}
        for name, fn in (("sort", sort_forward), ("pava", pava_forward)):
            t = Tensor(np.asarray(q, dtype=np.float64), requires_grad=True)
            y = fn(t)
            (y * Tensor(np.asarray(g, dtype=np.float64))).sum().backward()
            out[f"{name}_value"], out[f"{name}_grad"] = y.data, t.grad
        return out

    ln3 = np.log(3.0)
    return [
        ReferenceCase(
            "pinball_hand",
            {"q": [[0.0], [1.0]], "y": [1.0, 0.0], "taus": [0.9]},
            {"loss": np.array([[0.9], [0.1]])},
            pin,
            function=f"{_PKG}.pinball_loss",
            note="by hand: ρ_0.9(1 − 0) = 0.9, ρ_0.9(0 − 1) = 0.1",
            atol=1e-12,
        ),
        ReferenceCase(
            "sort_fixes_crossing",
            {"q": [[0.6, 0.4, 0.8]], "y": [0.5], "taus": [0.1, 0.5, 0.9]},
            {
                "sorted": np.array([[0.4, 0.6, 0.8]]),
                "pava": np.array([[0.5, 0.5, 0.8]]),
                "loss_before": np.array((0.09 + 0.05 + 0.03) / 3),
                "loss_after": np.array((0.01 + 0.05 + 0.03) / 3),
            },
            srt,
            function=f"{_PKG}.sort_quantiles",
            note="by hand: before u = y − q = (−.1, .1, −.3): ρ_.1 = .09, ρ_.5 = .05, ρ_.9 = .03; sorted "
            "(.4, .6, .8): u = (.1, −.1, −.3): .01, .05, .03; PAVA pools (.6, .4) to .5",
            atol=1e-12,
        ),
        ReferenceCase(
            "aggregate_equal_logits",
            {"Q": [[[1.0, 2.0], [3.0, 6.0]]], "logits": [0.0, 0.0]},
            {"q": np.array([[2.0, 4.0]])},
            agg,
            function=f"{_PKG}.aggregate",
            note="by hand: zero logits = equal weights 1/2 (coarse)",
            atol=1e-12,
        ),
        ReferenceCase(
            "aggregate_fine_cross_levels",
            {
                "Q": [[[1.0, 2.0], [3.0, 6.0]]],  # K = 2 models, T = 2 levels; rows k·T + s: (1, 2, 3, 6)
                "logits": [[ln3, 0.0], [0.0, 0.0], [0.0, 0.0], [0.0, ln3]],
            },
            {"q": np.array([[(3 * 1 + 2 + 3 + 6) / 6, (1 + 2 + 3 + 3 * 6) / 6]])},
            agg,
            function=f"{_PKG}.aggregate",
            note="by hand: fine weights, softmax over the 4 (model, level) pairs per output level: level 1 has "
            "logit ln 3 on (model 1, level 1) → weights (3, 1, 1, 1)/6 on (1, 2, 3, 6) = 14/6; level 2 has "
            "ln 3 on (model 2, level 2) → (1, 1, 1, 3)/6 → 24/6",
            atol=1e-12,
        ),
        ReferenceCase(
            "training_time_sort_and_pava_gradients",
            {"q": [[0.6, 0.4, 0.8]], "g": [[1.0, 2.0, 3.0]]},
            {
                "sort_value": np.array([[0.4, 0.6, 0.8]]),
                "sort_grad": np.array([[2.0, 1.0, 3.0]]),
                "pava_value": np.array([[0.5, 0.5, 0.8]]),
                "pava_grad": np.array([[1.5, 1.5, 3.0]]),
            },
            forward_grads,
            function=f"{_PKG}.sort_forward",
            note="by hand (3): sort moves q_1 to place 2 and q_2 to place 1, so ∂(g·sort q)/∂q = (g_2, g_1, g_3) "
            "= (2, 1, 3); PAVA averages the block {1, 2}, so the gradient is (g_1+g_2)/2 on both = 1.5",
            atol=1e-12,
        ),
    ]
