"""Reference cases of Polyhistor: hypernetwork output/parameter counts and a Kronecker-scaled template,
worked by hand."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from . import hypernet_output_count, hypernet_param_count, scaled_kernel, template_kernel

_MOD = "refimpl.techniques.lowrank_peft_sharing.polyhistor"


def reference_cases() -> list:
    def counts(m, n, rho, in_dim):
        return {
            "outputs_whole": np.array(hypernet_output_count(m, n)),
            "outputs_decomposed": np.array(hypernet_output_count(m, n, rho)),
            "params_decomposed": np.array(hypernet_param_count(in_dim, m, n, rho)),
        }

    def kernel(c, W_A, b_A, W_B, b_B, m, n, rho, S):
        K = template_kernel(c, W_A, b_A, W_B, b_B, m, n, rho)
        return {"K": K.data, "D": scaled_kernel(S, K).data}

    # c = [1, 2]; W_A = I (2×2), W_B = [[1, 0]] → A = [[1], [2]] (m=2, ρ=1), B = [[1]] (n=1) → K = [[1], [2]]
    # S = [[1, -1]] → S ⊗ K = [[1, -1], [2, -2]]
    return [
        ReferenceCase(
            "hyperformer_vs_decomposed_counts",
            {"m": 16, "n": 128, "rho": 2, "in_dim": 16},
            {
                "outputs_whole": np.array(2048),
                "outputs_decomposed": np.array(288),
                "params_decomposed": np.array(4896),
            },
            counts,
            function=f"{_MOD}.hypernet_param_count",
            note="arithmetic: whole kernel 16·128 = 2048 outputs; factors 2·(16 + 128) = 288; (16 + 1)·288 = 4896",
            atol=0,
        ),
        ReferenceCase(
            "template_then_scaling_kernel",
            {
                "c": np.array([1.0, 2.0]),
                "W_A": np.eye(2),
                "b_A": np.zeros(2),
                "W_B": np.array([[1.0, 0.0]]),
                "b_B": np.zeros(1),
                "m": 2,
                "n": 1,
                "rho": 1,
                "S": np.array([[1.0, -1.0]]),
            },
            {"K": np.array([[1.0], [2.0]]), "D": np.array([[1.0, -1.0], [2.0, -2.0]])},
            kernel,
            function=f"{_MOD}.template_kernel",
            note="by hand: A = W_A c = [1, 2]ᵀ, B = W_B c = [1], K = A Bᵀ = [[1], [2]]; "
            "S ⊗ K = [[1·K, −1·K]] = [[1, −1], [2, −2]]",
            conventions={
                "kronecker": "(S ⊗ K)[i·p + k, j·q + l] = S[i, j]·K[k, l]",
                "rank_scale": "K = A Bᵀ/√ρ",
            },
            atol=1e-12,
        ),
    ]
