"""Reference cases of DiT-μP, worked by hand: the sinusoidal timestep features, the DDPM schedule and forward
process, the per-part μP rules of the toy DiT (the paper's roles and the SP-time-path ablation), and one
forward pass of a width-2 denoiser."""

from __future__ import annotations

import math

import numpy as np

from ....catalog import ReferenceCase
from ....nn.module import Parameter
from . import DiTMLPDenoiser, ddpm_schedule, noised, part_rules, timestep_features

_MOD = "refimpl.techniques.growth_init_scaling.dit_mup"


def _silu(v: float) -> float:
    return v / (1.0 + math.exp(-v))


def reference_cases() -> list:
    def features_case(t, dim, max_period):
        return {"phi": timestep_features(np.asarray(t, float), int(dim), float(max_period))}

    def schedule_case(T, beta_1, beta_T):
        return {"alpha_bar": ddpm_schedule(int(T), float(beta_1), float(beta_T))}

    def noised_case(x0, t, eps, alpha_bar):
        return {"x_t": noised(np.asarray(x0, float), np.asarray(t, int), np.asarray(eps, float), alpha_bar)}

    def rules_case(width, base_width, d_data, n_freq, d_out, parametrization, optimizer, sigma):
        r = part_rules(
            int(width),
            int(base_width),
            int(d_data),
            int(n_freq),
            int(d_out),
            parametrization=parametrization,
            optimizer=optimizer,
            sigma=float(sigma),
        )
        return {
            f"{part}_{k}": np.array(getattr(rule, k))
            for part, rule in r.items()
            for k in ("init_std", "multiplier", "lr_mult")
        }

    def forward_case(z, W_x, W_t1, W_t2, W_o, width, base_width):
        model = DiTMLPDenoiser(
            1, int(width), 1, n_freq=2, depth=0, base_width=int(base_width), dtype=np.float64,
            rng=np.random.default_rng(0),
        )  # fmt: skip
        for layer, w in ((model.x_embed, W_x), (model.t_embed_1, W_t1), (model.t_embed_2, W_t2)):
            layer.weight = Parameter(np.asarray(w, float))
        model.final.weight = Parameter(np.asarray(W_o, float))
        return {"eps_hat": model(np.asarray(z, float)).data}

    # dim 4, max_period 100: ω = (100^0, 100^{-1/2}) = (1, 0.1); t = 10 → args (10, 1)
    phi = np.array([[1.0, 1.0, 0.0, 0.0], [math.cos(10.0), math.cos(1.0), math.sin(10.0), math.sin(1.0)]])
    rules_common = {"width": 128, "base_width": 32, "d_data": 2, "n_freq": 16, "d_out": 2}
    # m = 128/32 = 4, σ = 1, MuAdam: hidden lr ÷ m, readout std 1/√(base fan-in), multiplier 1/m
    mup_expected = {
        "x_embed_init_std": np.array(1 / math.sqrt(2)),
        "x_embed_multiplier": np.array(1.0),
        "x_embed_lr_mult": np.array(1.0),
        "t_embed_1_init_std": np.array(0.25),  # 1/√16: fan-in init, finite fan-in (input weights)
        "t_embed_1_multiplier": np.array(1.0),
        "t_embed_1_lr_mult": np.array(1.0),
        "t_embed_2_init_std": np.array(1 / math.sqrt(128)),
        "t_embed_2_multiplier": np.array(1.0),
        "t_embed_2_lr_mult": np.array(0.25),  # hidden: ÷ m
        "block_init_std": np.array(1 / math.sqrt(128)),
        "block_multiplier": np.array(1.0),
        "block_lr_mult": np.array(0.25),
        "final_init_std": np.array(1 / math.sqrt(32)),
        "final_multiplier": np.array(0.25),
        "final_lr_mult": np.array(1.0),
    }
    ablation = {"x_embed": "mup", "t_embed_1": "standard", "t_embed_2": "standard", "block": "mup"}
    ablation["final"] = "mup"
    ablation_expected = {**mup_expected, "t_embed_2_lr_mult": np.array(1.0)}  # SP: no ÷ m on the time path
    # width 2 over base 1 (m = 2), t = 0 → φ = (cos 0, sin 0) = (1, 0), x_t = 0.5:
    # e_x = (0.5, −0.5); t-embedder: silu((1, 0)) = (silu 1, 0), identity W_t2 → c = (silu 1, 0);
    # h = silu(e_x + c); readout multiplier 1/m = ½ with W_o = (1, 1)
    s1 = _silu(1.0)
    eps_hat = 0.5 * (_silu(0.5 + s1) + _silu(-0.5))
    return [
        ReferenceCase(
            "timestep_features_dim4_period100",
            {"t": [0.0, 10.0], "dim": 4, "max_period": 100.0},
            {"phi": phi},
            features_case,
            function=f"{_MOD}.timestep_features",
            note="by hand: ω_k = 100^{-k/2}, k = 0, 1 → (1, 0.1); [cos(tω), sin(tω)]",
            atol=1e-12,
            conventions={"scheme": "cosines first, then sines (DiT / GLIDE timestep_embedding)"},
        ),
        ReferenceCase(
            "ddpm_schedule_T3",
            {"T": 3, "beta_1": 0.1, "beta_T": 0.3},
            {"alpha_bar": np.array([0.9, 0.72, 0.504])},
            schedule_case,
            function=f"{_MOD}.ddpm_schedule",
            note="by hand: β = (0.1, 0.2, 0.3); ᾱ = 0.9, 0.9·0.8, 0.72·0.7",
            atol=1e-12,
            conventions={"scheme": "linear β from beta_1 to beta_T, t indexed from 0"},
        ),
        ReferenceCase(
            "ddpm_forward_process",
            {"x0": [[1.0, 2.0]], "t": [1], "eps": [[0.5, -1.0]], "alpha_bar": [0.9, 0.64, 0.5]},
            {"x_t": np.array([[1.1, 1.0]])},
            noised_case,
            function=f"{_MOD}.noised",
            note="by hand: √0.64 = 0.8, √0.36 = 0.6 → (0.8 + 0.3, 1.6 − 0.6)",
            atol=1e-12,
        ),
        ReferenceCase(
            "part_rules_dit_mup_adam_base32_width128",
            {**rules_common, "parametrization": "mup", "optimizer": "adam", "sigma": 1.0},
            mup_expected,
            rules_case,
            function=f"{_MOD}.part_rules",
            note="by hand from the roles of DiT/models_mup.py and MuAdam with m = 4",
            atol=1e-12,
            conventions={
                "scheme": "SP form relative to the base width (microsoft/mup), readout multiplier 1/m"
            },
        ),
        ReferenceCase(
            "part_rules_sp_time_path_ablation",
            {**rules_common, "parametrization": ablation, "optimizer": "adam", "sigma": 1.0},
            ablation_expected,
            rules_case,
            function=f"{_MOD}.part_rules",
            note="by hand: as DiT-μP except the t-embedder's width×width layer keeps the base rate (SP)",
            atol=1e-12,
            conventions={
                "scheme": "SP form relative to the base width (microsoft/mup), readout multiplier 1/m"
            },
        ),
        ReferenceCase(
            "denoiser_forward_width2_base1",
            {
                "z": [[0.5, 1.0, 0.0]],
                "W_x": [[1.0], [-1.0]],
                "W_t1": [[1.0, 0.0], [0.0, 1.0]],
                "W_t2": [[1.0, 0.0], [0.0, 1.0]],
                "W_o": [[1.0, 1.0]],
                "width": 2,
                "base_width": 1,
            },
            {"eps_hat": np.array([[eps_hat]])},
            forward_case,
            function=f"{_MOD}.DiTMLPDenoiser",
            note="by hand (comment above) with silu(v) = v/(1 + e^{−v}) from math.exp; biases 0, no block",
            atol=1e-12,
            conventions={"scheme": "input [x_t, φ(t)]; readout multiplier 1/m on the product, bias unscaled"},
        ),
    ]
