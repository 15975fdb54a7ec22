"""Reference cases of robust weight perturbation, worked by hand on a one-layer model and on the
two rescalings; medium-size random cases computed with the cross-entropy gradient written out."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from . import awp_perturbation, global_rescale, layerwise_rescale, lsc_mask, rwp_perturbation

_PKG = "refimpl.techniques.regularization_normalization.robust_weight_perturbation"


def _rwp_by_hand(w, x, y, gamma, c_min, steps, eta):
    """RWP on one bias-free linear layer, the gradient of the masked mean cross-entropy written out
    (independent of the code under test): at W_k = W + γ v_k, ℓ_i = logsumexp(W_k x_i) − (W_k x_i)_{y_i},
    m_i = 1[ℓ_i < c_min], ∇ = (1/n) Σ_i m_i (softmax(W_k x_i) − e_{y_i}) x_iᵀ; d += η ∇; v = ‖W‖/‖d‖ · d."""
    n = len(y)
    d, v = np.zeros_like(w), np.zeros_like(w)
    for _ in range(steps):
        wk = w + gamma * v
        g = np.zeros_like(w)
        for i in range(n):
            z = [float(sum(wk[o, j] * x[i, j] for j in range(w.shape[1]))) for o in range(w.shape[0])]
            top = max(z)
            e = [np.exp(zo - top) for zo in z]
            loss = top + np.log(sum(e)) - z[y[i]]
            if loss < c_min:
                for o in range(w.shape[0]):
                    g[o] += ((e[o] / sum(e)) - (o == y[i])) * x[i] / n
        d = d + eta * g
        v = np.sqrt(np.sum(w**2)) / np.sqrt(np.sum(d**2)) * d
    return v


def reference_cases() -> list:
    def one_layer(w, x, y, gamma, c_min, steps, eta):
        from ....nn.layers.linear import Linear

        lin = Linear(2, 2, bias=False, dtype=np.float64)
        lin.weight.data[...] = np.asarray(w, dtype=np.float64)
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y)
        return {
            "rwp": rwp_perturbation(
                lin, x, y, gamma=float(gamma), c_min=float(c_min), steps=int(steps), eta=float(eta)
            )[0],
            "awp": awp_perturbation(lin, x, y, eta=float(eta))[0],
        }

    def rescale(d1, d2, w1, w2):
        d, w = [np.asarray(d1, float), np.asarray(d2, float)], [np.asarray(w1, float), np.asarray(w2, float)]
        g, lw = global_rescale(d, w), layerwise_rescale(d, w)
        return {"global_1": g[0], "global_2": g[1], "layer_1": lw[0], "layer_2": lw[1]}

    def rwp_layer(w, x, y, gamma, c_min, steps, eta):
        from ....nn.layers.linear import Linear

        w = np.asarray(w, dtype=np.float64)
        lin = Linear(w.shape[1], w.shape[0], bias=False, dtype=np.float64)
        lin.weight.data[...] = w
        v = rwp_perturbation(
            lin,
            np.asarray(x, dtype=np.float64),
            np.asarray(y),
            gamma=float(gamma),
            c_min=float(c_min),
            steps=int(steps),
            eta=float(eta),
        )
        return {"v": v[0]}

    def mask(losses, c_min):
        return {"mask": lsc_mask(np.asarray(losses, dtype=np.float64), float(c_min))}

    e = np.e
    rng = np.random.default_rng(2209)
    rw = rng.normal(0.0, 0.5, size=(4, 8))
    rx = rng.normal(0.0, 1.0, size=(12, 8))
    ry = rng.integers(0, 4, size=12)
    rwp_in = {"w": rw, "x": rx, "y": ry, "gamma": 0.5, "c_min": 1.7, "steps": 2, "eta": 0.01}
    d1, d2 = rng.normal(0.0, 1.0, size=(8, 16)), rng.normal(0.0, 0.1, size=16)
    w1, w2 = rng.normal(0.0, 0.3, size=(8, 16)), rng.normal(0.0, 1.0, size=16)
    norm = np.sqrt(np.sum(w1**2) + np.sum(w2**2)) / np.sqrt(np.sum(d1**2) + np.sum(d2**2))
    random_cases = [
        ReferenceCase(
            "random_4x8_batch12_two_steps",
            rwp_in,
            {"v": _rwp_by_hand(rw, rx, ry, 0.5, 1.7, 2, 0.01)},
            rwp_layer,
            function=f"{_PKG}.rwp_perturbation",
            note="written out: two ascent steps on one bias-free 8→4 linear layer; at W + γv the per-sample "
            "CE ℓ_i = logsumexp(z_i) − z_{i,y_i}, mask 1[ℓ_i < 1.7] recomputed at each step, gradient "
            "(1/12) Σ_i m_i (softmax(z_i) − e_{y_i}) x_iᵀ; d accumulates η·gradient, v = ‖W‖/‖d‖·d "
            "(γ = 0.5, η = 0.01; W ~ N(0, 0.5²), x ~ N(0, 1), seed 2209; no ℓ_i within 1e-3 of c_min)",
            atol=1e-10,
            rtol=1e-10,
            atol32=1e-5,
            rtol32=1e-4,
        ),
        ReferenceCase(
            "random_global_vs_layerwise_8x16_and_16",
            {"d1": d1, "d2": d2, "w1": w1, "w2": w2},
            {
                "global_1": norm * d1,
                "global_2": norm * d2,
                "layer_1": np.sqrt(np.sum(w1**2)) / np.sqrt(np.sum(d1**2)) * d1,
                "layer_2": np.sqrt(np.sum(w2**2)) / np.sqrt(np.sum(d2**2)) * d2,
            },
            rescale,
            function=f"{_PKG}.global_rescale",
            note="closed form: global v = √(Σ w²)/√(Σ d²)·d with both sums over the two layers; per layer "
            "v_l = ‖w_l‖/‖d_l‖·d_l (d1 ~ N(0, 1), d2 ~ N(0, 0.1²), w1 ~ N(0, 0.3²), w2 ~ N(0, 1), seed 2209)",
            atol=1e-12,
            rtol=1e-12,
            atol32=1e-6,
            rtol32=1e-5,
        ),
    ]
    return [
        ReferenceCase(
            "all_samples_pass",
            {
                "w": np.eye(2),
                "x": [[1.0, 0.0]],
                "y": [0],
                "gamma": 0.01,
                "c_min": 10.0,
                "steps": 1,
                "eta": 0.01,
            },
            {"rwp": np.array([[-1.0, 0.0], [1.0, 0.0]]), "awp": np.array([[-1.0, 0.0], [1.0, 0.0]])},
            one_layer,
            function=f"{_PKG}.rwp_perturbation",
            note="by hand: logits [1, 0], p = [e, 1]/(e+1); ∇_W CE = (p − e_0) xᵀ = [[−a, 0], [a, 0]] with "
            "a = 1/(e+1); rescaled to ‖W‖ = √2 → [[−1, 0], [1, 0]] (one layer: RWP = AWP)",
            atol=1e-12,
        ),
        ReferenceCase(
            "loss_above_cmin_is_masked",
            {
                "w": np.eye(2),
                "x": [[1.0, 0.0]],
                "y": [0],
                "gamma": 0.01,
                "c_min": 0.1,
                "steps": 1,
                "eta": 0.01,
            },
            {"rwp": np.zeros((2, 2)), "awp": np.array([[-1.0, 0.0], [1.0, 0.0]])},
            one_layer,
            function=f"{_PKG}.rwp_perturbation",
            note=f"by hand: the sample's loss −log(e/(e+1)) = {np.log((e + 1) / e):.4f} ≥ c_min = 0.1, so the "
            "masked loss has zero gradient and v = 0 (RWP is AT on this batch); AWP still perturbs",
            atol=1e-12,
        ),
        ReferenceCase(
            "global_vs_layerwise_rescaling",
            {"d1": [3.0, 4.0], "d2": [0.0, 1.0], "w1": [1.0, 0.0], "w2": [0.0, 2.0]},
            {
                "global_1": np.array([3.0, 4.0]) * np.sqrt(5) / np.sqrt(26),
                "global_2": np.array([0.0, 1.0]) * np.sqrt(5) / np.sqrt(26),
                "layer_1": np.array([0.6, 0.8]),
                "layer_2": np.array([0.0, 2.0]),
            },
            rescale,
            function=f"{_PKG}.global_rescale",
            note="by hand: ‖w‖ = √(1+4) = √5, ‖d‖ = √(9+16+1) = √26 → v = (√5/√26) d for RWP; per layer "
            "‖w_1‖/‖d_1‖ = 1/5 and ‖w_2‖/‖d_2‖ = 2/1 for AWP",
            atol=1e-12,
        ),
        ReferenceCase(
            "lsc_mask_is_strict",
            {"losses": [0.2, 1.7, 2.5, 1.69], "c_min": 1.7},
            {"mask": np.array([1.0, 0.0, 0.0, 1.0])},
            mask,
            function=f"{_PKG}.lsc_mask",
            note="by hand: 1[ℓ < 1.7]; a loss equal to c_min does not pass (official `loss < LSC_loss`)",
            atol=0.0,
        ),
    ] + random_cases
