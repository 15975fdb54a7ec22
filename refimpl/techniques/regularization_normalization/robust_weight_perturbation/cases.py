"""Reference cases of robust weight perturbation, worked by hand on a one-layer model and on the
two rescalings."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from . import awp_perturbation, global_rescale, layerwise_rescale, lsc_mask, rwp_perturbation

_PKG = "refimpl.techniques.regularization_normalization.robust_weight_perturbation"


def reference_cases() -> list:
    def one_layer(w, x, y, c_min):
        from ....nn.layers.linear import Linear

        lin = Linear(2, 2, bias=False, dtype=np.float64)
        lin.weight.data[...] = np.asarray(w, dtype=np.float64)
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y)
        return {
            "rwp": rwp_perturbation(lin, x, y, gamma=0.01, c_min=float(c_min), steps=1)[0],
            "awp": awp_perturbation(lin, x, y)[0],
        }

    def rescale(d1, d2, w1, w2):
        d, w = [np.asarray(d1, float), np.asarray(d2, float)], [np.asarray(w1, float), np.asarray(w2, float)]
        g, lw = global_rescale(d, w), layerwise_rescale(d, w)
        return {"global_1": g[0], "global_2": g[1], "layer_1": lw[0], "layer_2": lw[1]}

    def mask(losses, c_min):
        return {"mask": lsc_mask(np.asarray(losses, dtype=np.float64), float(c_min))}

    e = np.e
    return [
        ReferenceCase(
            "all_samples_pass",
            {"w": np.eye(2), "x": [[1.0, 0.0]], "y": [0], "c_min": 10.0},
            {"rwp": np.array([[-1.0, 0.0], [1.0, 0.0]]), "awp": np.array([[-1.0, 0.0], [1.0, 0.0]])},
            one_layer,
            function=f"{_PKG}.rwp_perturbation",
            note="by hand: logits [1, 0], p = [e, 1]/(e+1); ∇_W CE = (p − e_0) xᵀ = [[−a, 0], [a, 0]] with "
            "a = 1/(e+1); rescaled to ‖W‖ = √2 → [[−1, 0], [1, 0]] (one layer: RWP = AWP)",
            atol=1e-12,
        ),
        ReferenceCase(
            "loss_above_cmin_is_masked",
            {"w": np.eye(2), "x": [[1.0, 0.0]], "y": [0], "c_min": 0.1},
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
    ]
