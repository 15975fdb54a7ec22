"""Reference cases of DP-FedAvg with per-layer clipping: the two clipping rules on a two-layer update worked
by hand (norms 5 and 12, total 13), the server optimizers' first step written out, and the Rényi-DP of the
sampled Gaussian from its closed forms (q = 1: α/(2σ²); α = 2 and α = 3 expanded term by term) and the
RDP → (ε, δ) conversion on a two-order curve."""

from __future__ import annotations

import math

import numpy as np

from ....catalog import ReferenceCase
from . import (
    ServerAdam,
    ServerLAMB,
    clip_flat,
    clip_per_layer,
    dp_average,
    rdp_sampled_gaussian,
    rdp_to_epsilon,
)

_PATH = "refimpl.techniques.optimizers_training_rules.dp_fl_layerwise_clipping"
_DELTA = {"layer_0": [3.0, 4.0], "layer_1": [0.0, 0.0, 12.0]}  # layer norms 5 and 12, total 13


def _layers(delta):
    return [np.asarray(d, dtype=np.float64) for d in delta]


def _clip(layer_0, layer_1, C, rule, budget="uniform"):
    d = _layers([layer_0, layer_1])
    out = clip_flat(d, C) if rule == "flat" else clip_per_layer(d, C, budget)
    return {"layer_0": out[0], "layer_1": out[1]}


def _rdp(q, sigma, orders):
    return {"rdp": rdp_sampled_gaussian(q, sigma, orders)}


def _eps(rdp, orders, delta):
    eps, order = rdp_to_epsilon(rdp, orders, delta)
    return {"epsilon": eps, "order": order}


def _server(name, lr, params, grads):
    opt = {"adam": ServerAdam, "lamb": ServerLAMB}[name](lr)
    new = opt.step(_layers(params), _layers(grads))
    return {"layer_0": new[0], "layer_1": new[1]}


def _average(
    client_0_layer_0, client_0_layer_1, client_1_layer_0, client_1_layer_1, C, sigma, denominator, seed
):
    updates = [_layers([client_0_layer_0, client_0_layer_1]), _layers([client_1_layer_0, client_1_layer_1])]
    out = dp_average(updates, C, sigma, denominator, np.random.default_rng(seed))
    return {"layer_0": out[0], "layer_1": out[1]}


def _lamb_by_hand():
    """m̂ = g, v̂ = g² at the first step, so u = g/(|g| + 1e-6); layer 0 has ‖w‖ = 5, layer 1 ‖w‖ = 0 (ratio 1)."""
    g0, g1 = np.array([0.5, -2.0]), np.array([1.0, 0.0])
    u0, u1 = g0 / (np.abs(g0) + 1e-6), g1 / (np.abs(g1) + 1e-6)
    return {"layer_0": np.array([3.0, 4.0]) - 0.1 * 5.0 / np.linalg.norm(u0) * u0, "layer_1": -0.1 * u1}


def _adam_by_hand():
    g0, g1 = np.array([0.5, -2.0]), np.array([1.0, 0.0])
    return {
        "layer_0": np.array([3.0, 4.0]) - 0.1 * g0 / (np.abs(g0) + 1e-8),
        "layer_1": -0.1 * g1 / (np.abs(g1) + 1e-8),
    }


def reference_cases() -> list:
    clip_conv = {
        "granularity": "a layer is one tensor of the model (weights and biases separate)",
        "scheme": "flat: Δ·min(1, C/‖Δ‖); per-layer: unchanged if ‖Δ‖ < C, else every layer rescaled to exactly "
        "C_l (official clip_layer_grads); exact norms (the official code adds 1e-6 / 1e-10)",
    }
    q, s = 0.5, 1.0
    e = math.exp(1 / s**2)
    A3 = (1 - q) ** 3 + 3 * q * (1 - q) ** 2 + 3 * q**2 * (1 - q) * e + q**3 * math.exp(3 / s**2)
    server = {"params": [[3.0, 4.0], [0.0, 0.0]], "grads": [[0.5, -2.0], [1.0, 0.0]], "lr": 0.1}
    return [
        ReferenceCase(
            name="clip_flat_total_13",
            inputs={**_DELTA, "C": 6.5, "rule": "flat"},
            expected={"layer_0": [1.5, 2.0], "layer_1": [0.0, 0.0, 6.0]},
            compute=_clip,
            function=f"{_PATH}.clip_flat",
            note="‖Δ‖ = √(5² + 12²) = 13 > C = 6.5: every layer × 6.5/13 = ½.",
            atol=1e-12,
            conventions=clip_conv,
        ),
        ReferenceCase(
            name="clip_per_layer_uniform",
            inputs={**_DELTA, "C": 5 * math.sqrt(2), "rule": "layer", "budget": "uniform"},
            expected={"layer_0": [3.0, 4.0], "layer_1": [0.0, 0.0, 5.0]},
            compute=_clip,
            function=f"{_PATH}.clip_per_layer",
            note="‖Δ‖ = 13 ≥ C = 5√2; L = 2 layers, C_l = C/√2 = 5: layer 0 (norm 5) unchanged, layer 1 (norm 12) "
            "scaled to 5.",
            atol=1e-12,
            conventions=clip_conv,
        ),
        ReferenceCase(
            name="clip_per_layer_by_dimension",
            inputs={**_DELTA, "C": 5.0, "rule": "layer", "budget": "dim"},
            expected={
                "layer_0": [0.6 * math.sqrt(10), 0.8 * math.sqrt(10)],
                "layer_1": [0.0, 0.0, math.sqrt(15)],
            },
            compute=_clip,
            function=f"{_PATH}.clip_per_layer",
            note="Sizes 2 and 3 of d = 5: C_0 = 5√(2/5) = √10, C_1 = 5√(3/5) = √15; each layer set to its "
            "budget along its own direction (C_0² + C_1² = 25 = C²).",
            atol=1e-12,
            conventions=clip_conv,
        ),
        ReferenceCase(
            name="clip_per_layer_below_bound",
            inputs={**_DELTA, "C": 20.0, "rule": "layer", "budget": "uniform"},
            expected={"layer_0": [3.0, 4.0], "layer_1": [0.0, 0.0, 12.0]},
            compute=_clip,
            function=f"{_PATH}.clip_per_layer",
            note="‖Δ‖ = 13 < C = 20: the update is left alone (no layer is scaled up).",
            atol=0.0,
            rtol=0.0,
            conventions=clip_conv,
        ),
        ReferenceCase(
            name="dp_average_without_noise",
            inputs={
                "client_0_layer_0": [1.0, 2.0],
                "client_0_layer_1": [0.5],
                "client_1_layer_0": [3.0, 4.0],
                "client_1_layer_1": [1.5],
                "C": 1.0,
                "sigma": 0.0,
                "denominator": 2.0,
                "seed": 0,
            },
            expected={"layer_0": [2.0, 3.0], "layer_1": [1.0]},
            compute=_average,
            function=f"{_PATH}.dp_average",
            note="σ = 0: (Σ_i Δ_i)/M = ((1, 2) + (3, 4))/2, (0.5 + 1.5)/2.",
            atol=1e-12,
        ),
        ReferenceCase(
            name="rdp_no_subsampling",
            inputs={"q": 1.0, "sigma": 2.0, "orders": [2, 3, 10]},
            expected={"rdp": [2 / 8, 3 / 8, 10 / 8]},
            compute=_rdp,
            function=f"{_PATH}.rdp_sampled_gaussian",
            note="q = 1 is the Gaussian mechanism: RDP α/(2σ²) with σ = 2.",
            atol=1e-12,
        ),
        ReferenceCase(
            name="rdp_sampled_orders_2_and_3",
            inputs={"q": q, "sigma": s, "orders": [2, 3]},
            expected={"rdp": [math.log(1 + q**2 * (e - 1)), math.log(A3) / 2]},
            compute=_rdp,
            function=f"{_PATH}.rdp_sampled_gaussian",
            note="α = 2: A = (1−q)² + 2q(1−q) + q² e^{1/σ²} = 1 + q²(e^{1/σ²} − 1); α = 3: A = (1−q)³ + 3q(1−q)² + "
            "3q²(1−q) e^{1/σ²} + q³ e^{3/σ²}; RDP = log A/(α − 1). Written out term by term.",
            atol=1e-12,
            atol32=1e-6,
        ),
        ReferenceCase(
            name="rdp_to_epsilon_two_orders",
            inputs={"rdp": [1.0, 0.5], "orders": [2, 3], "delta": math.exp(-2.0)},
            expected={"epsilon": 1.5, "order": 3},
            compute=_eps,
            function=f"{_PATH}.rdp_to_epsilon",
            note="log(1/δ) = 2: α = 2 gives 1 + 2/1 = 3, α = 3 gives 0.5 + 2/2 = 1.5; the minimum is 1.5 at α = 3.",
            atol=1e-12,
        ),
        ReferenceCase(
            name="server_lamb_first_step",
            inputs={"name": "lamb", **server},
            expected=_lamb_by_hand(),
            compute=_server,
            function=f"{_PATH}.ServerLAMB",
            note="First step: m̂ = g, v̂ = g², u = g/(|g| + 1e-6); layer 0 moves by lr·(‖w‖ = 5)/‖u‖·u, layer 1 "
            "(‖w‖ = 0) by lr·u (trust ratio 1).",
            atol=1e-12,
            conventions={"scheme": "optax.lamb: eps outside the sqrt (1e-6), ratio 1 when ‖w‖ or ‖u‖ is 0"},
        ),
        ReferenceCase(
            name="server_adam_first_step",
            inputs={"name": "adam", **server},
            expected=_adam_by_hand(),
            compute=_server,
            function=f"{_PATH}.ServerAdam",
            note="First step of Adam: w − lr·g/(|g| + 1e-8) coordinate-wise.",
            atol=1e-12,
            conventions={"scheme": "optax.adam: eps 1e-8 outside the sqrt, bias-corrected moments"},
        ),
    ]
