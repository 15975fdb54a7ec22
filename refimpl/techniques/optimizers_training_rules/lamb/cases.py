"""Reference cases of LAMB and LARS: first steps worked by hand."""

from __future__ import annotations

import math

import numpy as np

from ....catalog import ReferenceCase
from . import LAMB, LARS

_PATH = "refimpl.techniques.optimizers_training_rules.lamb"


def _one_step(opt_cls, x, g, **kw):
    from ....nn import Parameter

    p = Parameter(np.asarray(x, dtype=np.float64))
    opt = opt_cls([p], **kw)
    p.grad = np.asarray(g, dtype=np.float64)
    opt.step()
    return {"x": p.data.copy(), "trust_ratio": np.asarray(opt.state[p]["trust_ratio"])}


def reference_cases() -> list:
    def lamb(x, g, lr, eps, weight_decay):
        return _one_step(LAMB, x, g, lr=lr, eps=eps, weight_decay=weight_decay)

    def lars(x, g, lr, momentum, weight_decay):
        return _one_step(LARS, x, g, lr=lr, momentum=momentum, weight_decay=weight_decay)

    return [
        ReferenceCase(
            "lamb_first_step",
            {"x": [1.0, 0.0], "g": [3.0, 4.0], "lr": 0.1, "eps": 0.0, "weight_decay": 0.0},
            {"x": [1 - 0.1 / math.sqrt(2), -0.1 / math.sqrt(2)], "trust_ratio": 1 / math.sqrt(2)},
            lamb,
            function=f"{_PATH}.LAMB",
            note="By hand: step 1 gives m̂ = g, v̂ = g², r = sign(g) = [1, 1]; ‖x‖ = 1, ‖r‖ = √2 → ratio 1/√2, "
            "x' = x − 0.1/√2 · [1, 1] = [0.929289, −0.070711].",
            atol=1e-12,
        ),
        ReferenceCase(
            "lamb_first_step_weight_decay",
            {"x": [1.0, 0.0], "g": [3.0, 4.0], "lr": 0.1, "eps": 0.0, "weight_decay": 0.5},
            {
                "x": [1 - 0.1 * 1.5 / math.sqrt(3.25), -0.1 * 1.0 / math.sqrt(3.25)],
                "trust_ratio": 1 / math.sqrt(3.25),
            },
            lamb,
            function=f"{_PATH}.LAMB",
            note="By hand: u = r + λx = [1, 1] + 0.5·[1, 0] = [1.5, 1], ‖u‖ = √3.25, ratio = 1/√3.25, "
            "x' = x − 0.1·u/√3.25.",
            atol=1e-12,
        ),
        ReferenceCase(
            "lamb_zero_weight_gives_ratio_one",
            {"x": [0.0, 0.0], "g": [3.0, 4.0], "lr": 0.1, "eps": 0.0, "weight_decay": 0.0},
            {"x": [-0.1, -0.1], "trust_ratio": 1.0},
            lamb,
            function=f"{_PATH}.LAMB",
            note="‖x‖ = 0 → ratio 1 (TF-Addons' convention), so the first step is the signed Adam step −lr·sign(g).",
            atol=1e-12,
        ),
        ReferenceCase(
            "lars_first_step",
            {"x": [3.0, 4.0], "g": [1.0, 0.0], "lr": 0.1, "momentum": 0.9, "weight_decay": 0.0},
            {"x": [3.0 - 0.1 * 5.0, 4.0], "trust_ratio": 5.0 / 0.1},
            lars,
            function=f"{_PATH}.LARS",
            note="By hand: m = 0.1·g = [0.1, 0]; ‖x‖ = 5, ‖m‖ = 0.1 → ratio 50, x' = x − 0.1·50·[0.1, 0] = [2.5, 4].",
            atol=1e-12,
        ),
        ReferenceCase(
            "lars_first_step_weight_decay",
            {"x": [3.0, 4.0], "g": [0.25, -2.0], "lr": 0.1, "momentum": 0.9, "weight_decay": 0.25},
            {
                "x": [3.0 - 0.5 / math.sqrt(2), 4.0 + 0.5 / math.sqrt(2)],
                "trust_ratio": 5.0 / (0.1 * math.sqrt(2)),
            },
            lars,
            function=f"{_PATH}.LARS",
            note="By hand: g + λx = [0.25, −2] + 0.25·[3, 4] = [1, −1], m = 0.1·[1, −1], ‖m‖ = 0.1√2; ratio "
            "= 5/(0.1√2); the step has length lr·‖x‖ = 0.5 along −[1, −1]/√2.",
            atol=1e-12,
        ),
    ]
