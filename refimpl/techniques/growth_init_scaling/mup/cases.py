"""Reference cases of μP: the rules at base width 64 and width 256 (the catalogue's hand case), the abc
exponents, and one SGD step of a tiny linear μP network worked by hand."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from ....nn.module import Parameter
from . import effective_exponents, mup_mlp, mup_optimizer, mup_rules, relative_feature_change

_MOD = "refimpl.techniques.growth_init_scaling.mup"


def reference_cases() -> list:
    def rules_case(width, base_width, d_in, d_out, optimizer, sigma):
        r = mup_rules(
            int(width), int(base_width), int(d_in), int(d_out), optimizer=optimizer, sigma=float(sigma)
        )
        return {
            f"{role}_{k}": np.array(getattr(r[role], k))
            for role in ("input", "hidden", "output")
            for k in ("init_std", "multiplier", "lr_mult")
        }

    def exponents_case(parametrization):
        e = effective_exponents(parametrization)
        return {
            f"{role}_{k}": np.array(v[i]) for role, v in e.items() for i, k in enumerate(("init", "rate"))
        }

    def sgd_step_case(w1, w2, x, y, lr):
        model = mup_mlp(
            1,
            2,
            1,
            base_width=1,
            depth=1,
            activation="linear",
            bias=False,
            sigma=1.0,
            dtype=np.float64,
            rng=np.random.default_rng(0),
        )
        layers = list(model.layers)
        layers[0].weight, layers[1].weight = (
            Parameter(np.asarray(w1, float)),
            Parameter(np.asarray(w2, float)),
        )
        from ....nn import functional as F

        opt = mup_optimizer(model, float(lr))
        opt.zero_grad()
        F.mse_loss(model(np.asarray(x, float)), np.asarray(y, float)).backward()
        opt.step()
        return {
            "w1": layers[0].weight.data,
            "w2": layers[1].weight.data,
            "f": model(np.asarray(x, float)).data,
        }

    def change_case(h0, h1):
        return {"relative_change": np.array(relative_feature_change(h0, h1))}

    # width 256 over base 64: m = 4 (σ = 1, d_in = 16, d_out = 10)
    sgd_expected = {
        "input_init_std": np.array(1 / 4),  # 1/√16
        "input_multiplier": np.array(1.0),
        "input_lr_mult": np.array(4.0),  # MuSGD: vector-like · width_mult
        "hidden_init_std": np.array(1 / 16),  # 1/√256
        "hidden_multiplier": np.array(1.0),
        "hidden_lr_mult": np.array(1.0),  # MuSGD: / (fanin_mult / fanout_mult) = /(4/4)
        "output_init_std": np.array(1 / 8),  # 1/√256 · √4 = 1/√64
        "output_multiplier": np.array(0.25),  # MuReadout: 1 / width_mult
        "output_lr_mult": np.array(4.0),
    }
    adam_expected = {
        **sgd_expected,
        "input_lr_mult": np.array(1.0),
        "hidden_lr_mult": np.array(0.25),
        "output_lr_mult": np.array(1.0),
    }
    # one SGD step, by hand: m = 2/1 = 2; f = (1/2)·w2·(w1 x) = 0.5·(3·1 + 4·2) = 5.5; dL/df = 2(f − y) = 10;
    # ∂L/∂w2 = 10·0.5·(w1 x) = [5, 10], ∂L/∂w1 = 10·0.5·w2ᵀ x = [15, 20]; lr·m = 0.02 on both (vector-like):
    # w2 = [3 − 0.1, 4 − 0.2] = [2.9, 3.8], w1 = [1 − 0.3, 2 − 0.4] = [0.7, 1.6];
    # f = 0.5·(2.03 + 6.08) = 4.055
    return [
        ReferenceCase(
            "mup_rules_sgd_base64_width256",
            {"width": 256, "base_width": 64, "d_in": 16, "d_out": 10, "optimizer": "sgd", "sigma": 1.0},
            sgd_expected,
            rules_case,
            function=f"{_MOD}.mup_rules",
            note="by hand from TP5 Table 3 / mup's MuReadout and MuSGD with width_mult 256/64 = 4",
            atol=1e-12,
            conventions={
                "scheme": "SP form relative to the base width (microsoft/mup), readout multiplier 1/m"
            },
        ),
        ReferenceCase(
            "mup_rules_adam_base64_width256",
            {"width": 256, "base_width": 64, "d_in": 16, "d_out": 10, "optimizer": "adam", "sigma": 1.0},
            adam_expected,
            rules_case,
            function=f"{_MOD}.mup_rules",
            note="by hand: MuAdam divides the hidden (two-width-dims) rate by width_mult 4, keeps the others",
            atol=1e-12,
            conventions={
                "scheme": "SP form relative to the base width (microsoft/mup), readout multiplier 1/m"
            },
        ),
        ReferenceCase(
            "mup_abc_effective_exponents",
            {"parametrization": "mup"},
            {
                "input_init": np.array(0.0),
                "input_rate": np.array(-1.0),
                "hidden_init": np.array(0.5),
                "hidden_rate": np.array(0.0),
                "output_init": np.array(1.0),
                "output_rate": np.array(1.0),
            },
            exponents_case,
            function=f"{_MOD}.effective_exponents",
            note="by hand: (a, b) = (−½, ½), (0, ½), (½, ½), c = 0 → a + b and 2a + c",
            atol=0,
        ),
        ReferenceCase(
            "mup_one_sgd_step_linear_width2",
            {"w1": [[1.0], [2.0]], "w2": [[3.0, 4.0]], "x": [[1.0]], "y": [[0.5]], "lr": 0.01},
            {"w1": np.array([[0.7], [1.6]]), "w2": np.array([[2.9, 3.8]]), "f": np.array([[4.055]])},
            sgd_step_case,
            function=f"{_MOD}.mup_optimizer",
            note="by hand (see the comment above): width 2 over base 1, linear, no bias, MSE, one MuSGD step",
            atol=1e-12,
            conventions={"gradient": "MSE = mean (f − y)², no ½", "scheme": "readout multiplier 1/m, lr·m"},
        ),
        ReferenceCase(
            "relative_feature_change_3_4_5",
            {"h0": [[3.0, 4.0]], "h1": [[3.0, 9.0]]},
            {"relative_change": np.array(1.0)},
            change_case,
            function=f"{_MOD}.relative_feature_change",
            note="by hand: ‖(0, 5)‖ / ‖(3, 4)‖ = 5/5",
            atol=1e-15,
        ),
    ]
