"""Reference cases of TAS: channel-wise interpolation worked by hand (up- and down-sizing a small vector),
the official width choices, the cosine temperature, the parameter count of an MLP and the cost loss's
three cases, and the KD loss against a direct NumPy formula."""

from __future__ import annotations

import numpy as np

from ....autograd.tensor import Tensor
from ....catalog import ReferenceCase
from . import channel_wise_interpolation, cost_loss, kd_loss, mlp_params, tau_schedule, width_choices

_P = "refimpl.techniques.sparsity_pruning.tas_pruning."


def reference_cases() -> list:
    def cwi(x, c_out):
        return {"y": channel_wise_interpolation(Tensor(np.asarray(x, dtype=np.float64)), int(c_out)).data}

    def choices(n):
        return {"widths": np.array(width_choices(int(n)), dtype=float)}

    def tau(tau_max, tau_min, ratio):
        return {"tau": np.array(tau_schedule(float(tau_max), float(tau_min), float(ratio)))}

    def params(widths):
        return {"params": np.array(float(mlp_params(list(np.asarray(widths, dtype=int)))))}

    def cost(expected, current, budget, tolerance):
        out = cost_loss(Tensor(np.array(float(expected))), float(current), float(budget), float(tolerance))
        return {"loss": np.array(0.0 if out is None else float(out.data))}

    def kd(student, teacher, y, temperature, weight):
        s = Tensor(np.asarray(student, dtype=np.float64))
        return {
            "loss": np.array(float(kd_loss(s, np.asarray(teacher), np.asarray(y), temperature, weight).data))
        }

    # KD by a direct formula (independent of kd_loss): (1−λ)·CE + λ·T²·KL(q‖p) with q, p tempered softmaxes
    zs, zt, y, T, lam = np.array([[1.0, 0.0, -1.0]]), np.array([[0.0, 2.0, 0.0]]), np.array([1]), 2.0, 0.5
    p_s = np.exp(zs) / np.exp(zs).sum()
    q, p = np.exp(zt / T) / np.exp(zt / T).sum(), np.exp(zs / T) / np.exp(zs / T).sum()
    kd_expected = (1 - lam) * -np.log(p_s[0, 1]) + lam * T**2 * float(np.sum(q * np.log(q / p)))

    return [
        ReferenceCase(
            "cwi_upsample_2_to_4",
            {"x": [[1.0, 3.0]], "c_out": 4},
            {"y": np.array([[1.0, 1.0, 3.0, 3.0]])},
            cwi,
            function=_P + "channel_wise_interpolation",
            note="by hand: output i averages inputs ⌊2i/4⌋ … ⌈2(i+1)/4⌉−1 → (x0, x0, x1, x1)",
            conventions={
                "bins": "[floor(i·C/C'), ceil((i+1)·C/C')), mean (ChannelWiseInterV1 / adaptive pooling)"
            },
        ),
        ReferenceCase(
            "cwi_upsample_3_to_5",
            {"x": [[2.0, 4.0, 8.0]], "c_out": 5},
            {"y": np.array([[2.0, 3.0, 4.0, 6.0, 8.0]])},
            cwi,
            function=_P + "channel_wise_interpolation",
            note="by hand: bins [0,1) [0,2) [1,2) [1,3) [2,3) → 2, (2+4)/2, 4, (4+8)/2, 8",
            conventions={"bins": "[floor(i·C/C'), ceil((i+1)·C/C')), mean"},
        ),
        ReferenceCase(
            "cwi_downsample_4_to_2",
            {"x": [[1.0, 3.0, 5.0, 9.0]], "c_out": 2},
            {"y": np.array([[2.0, 7.0]])},
            cwi,
            function=_P + "channel_wise_interpolation",
            note="by hand: bins [0,2) [2,4) → (1+3)/2, (5+9)/2",
        ),
        ReferenceCase(
            "cwi_identity",
            {"x": [[1.0, -2.0, 0.5]], "c_out": 3},
            {"y": np.array([[1.0, -2.0, 0.5]])},
            cwi,
            function=_P + "channel_wise_interpolation",
            note="C = C': unchanged",
        ),
        ReferenceCase(
            "width_choices_128",
            {"n": 128},
            {"widths": np.array([12.0, 25, 38, 51, 64, 76, 89, 102, 115, 128])},
            choices,
            function=_P + "width_choices",
            note="by hand: int(128·f) for f = 0.1 … 1.0",
            conventions={"rounding": "int() truncation, as get_width_choices"},
        ),
        ReferenceCase(
            "tau_cosine_midpoint",
            {"tau_max": 10.0, "tau_min": 0.1, "ratio": 0.5},
            {"tau": np.array(5.05)},
            tau,
            function=_P + "tau_schedule",
            note="closed form: cos(π/2) = 0 → τ_min + (τ_max − τ_min)/2",
            atol=1e-12,
        ),
        ReferenceCase(
            "mlp_params_64_38_25_10",
            {"widths": [64, 38, 25, 10]},
            {"params": np.array(3705.0)},
            params,
            function=_P + "mlp_params",
            note="by hand: 64·38+38 + 38·25+25 + 25·10+10 = 2470 + 975 + 260",
        ),
        ReferenceCase(
            "cost_loss_over_budget",
            {"expected": np.e**2, "current": 5000.0, "budget": 4000.0, "tolerance": 0.2},
            {"loss": np.array(2.0)},
            cost,
            function=_P + "cost_loss",
            note="F > R → log E = log e² = 2",
            atol=1e-12,
        ),
        ReferenceCase(
            "cost_loss_under_budget",
            {"expected": np.e**3, "current": 3000.0, "budget": 4000.0, "tolerance": 0.2},
            {"loss": np.array(-3.0)},
            cost,
            function=_P + "cost_loss",
            note="F < (1 − 0.2)·R = 3200 → −log E = −3",
            atol=1e-12,
        ),
        ReferenceCase(
            "cost_loss_within_tolerance",
            {"expected": 10.0, "current": 3500.0, "budget": 4000.0, "tolerance": 0.2},
            {"loss": np.array(0.0)},
            cost,
            function=_P + "cost_loss",
            note="3200 ≤ F ≤ 4000 → no cost loss",
        ),
        ReferenceCase(
            "kd_loss_one_example",
            {"student": zs, "teacher": zt, "y": y, "temperature": T, "weight": lam},
            {"loss": np.array(kd_expected)},
            kd,
            function=_P + "kd_loss",
            note="direct NumPy: (1−λ)·(−log softmax(z_s)_y) + λT²·Σ q log(q/p), tempered softmaxes",
            atol=1e-9,
        ),
    ]
