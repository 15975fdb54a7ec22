"""Reference cases of ARM-Net, derived by hand: exponential neurons Π_j e_j^{w_ij} for small integer-friendly
embeddings and powers (ε = 0), sparsemax of small vectors from its threshold rule (τ such that Σ [s − τ]₊ = 1),
and the gate with one field dominating (sparsemax gives it all the weight)."""

from __future__ import annotations

import math

import numpy as np

from ....catalog import ReferenceCase
from . import exponential_neurons, interaction_weights, sparsemax

_P = "refimpl.techniques.architectures.arm_net."


def reference_cases() -> list:
    e = np.array([[[2.0, 1.0], [4.0, 9.0]]])  # B = 1, m = 2 fields, n_e = 2
    w = np.array([[[0.5, 1.0], [1.0, 1.0], [2.0, -1.0], [0.0, 0.5]]])  # o = 4 neurons
    return [
        ReferenceCase(
            "exponential_neurons_by_hand",
            {"e": e, "w": w, "eps": 0.0},
            {
                "y": np.array(
                    [
                        [
                            [math.sqrt(2.0) * 4.0, 1.0 * 9.0],  # 2^½·4, 1^½·9
                            [8.0, 9.0],  # second order: 2·4, 1·9
                            [1.0, 1.0 / 9.0],  # 2²/4, 1²/9
                            [2.0, 3.0],  # √4, √9
                        ]
                    ]
                )
            },
            lambda e, w, eps: {"y": exponential_neurons(e, w, eps).data},
            function=_P + "exponential_neurons",
            note="y_i = Π_j e_j^{w_ij} coordinate-wise; powers (½,1) (1,1) (2,−1) (0,½) by hand",
            atol=1e-12,
            conventions={
                "log": "ln(|e| + eps), here eps = 0",
                "axes": "e (B, m, n_e), w (B, o, m) → (B, o, n_e)",
            },
        ),
        ReferenceCase(
            "sparsemax_small_vectors",
            {"s": np.array([[0.5, 0.2, -1.0], [1.0, 1.0, 1.0], [3.0, 1.0, 0.0], [0.1, 0.3, 0.2]])},
            {
                "z": np.array(
                    [[0.65, 0.35, 0.0], [1 / 3, 1 / 3, 1 / 3], [1.0, 0.0, 0.0], [7 / 30, 13 / 30, 10 / 30]]
                )
            },
            lambda s: {"z": sparsemax(s).data},
            function=_P + "sparsemax",
            note="τ by hand: [.5,.2,−1] → support {1,2}, τ = (.7−1)/2 = −.15; ties → uniform; [3,1,0] → τ = 2; "
            "[.1,.3,.2] → all three in the support, τ = (.6−1)/3 = −2/15 → [7/30, 13/30, 10/30]",
            atol=1e-12,
            conventions={"axis": "last"},
        ),
        ReferenceCase(
            "sparse_gate_single_field",
            {
                "e": np.array([[[1.0], [0.0], [0.0]]]),
                "W_att": np.array([[1.0]]),
                "query": np.array([[4.0]]),
                "values": np.array([[2.0, 5.0, 7.0]]),
            },
            {"w": np.array([[[2.0, 0.0, 0.0]]])},
            lambda e, W_att, query, values: {"w": interaction_weights(e, W_att, query, values).data},
            function=_P + "interaction_weights",
            note="scores [4, 0, 0]/√1: sparsemax = [1, 0, 0] (τ = 3), times the values [2, 5, 7] → [2, 0, 0]",
            atol=1e-12,
            conventions={"gate": "sparsemax over fields", "scale": "1/√d_k with d_k = W_att.shape[1]"},
        ),
    ]
