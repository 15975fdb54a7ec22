"""Reference cases of EBVs: the generator on instances whose optimum is known (k ≤ d: orthonormal, max|cos| →
0; three lines in the plane: max|cos| = 1/2), the simplex frame, and the training loss on a hand embedding."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from . import ebv_loss, generate_ebv, max_abs_cos, simplex_etf

_P = "refimpl.techniques.representations_weighting.equiangular_basis_vectors."


def reference_cases() -> list:
    return [
        ReferenceCase(
            "generator_k_le_d_reaches_orthogonal",
            {"k": 4, "d": 6, "alpha": 0.002, "seed": 0},
            {"max_abs_cos": np.array(0.0)},
            lambda k, d, alpha, seed: {
                "max_abs_cos": np.array(max_abs_cos(generate_ebv(k, d, alpha, seed=seed)[0]))
            },
            function=_P + "generate_ebv",
            note="k ≤ d: an orthonormal set exists (max|cos| = 0), so the generator stops below α + 1e-4",
            atol=0.0021,
            conventions={
                "stop": "max|cos| ≤ α + 1e-4, official rule",
                "step": "SGD lr 1e-3, rows renormalised",
            },
        ),
        ReferenceCase(
            "generator_three_lines_in_the_plane",
            {"k": 3, "d": 2, "alpha": 0.5, "seed": 0},
            {"max_abs_cos": np.array(0.5)},
            lambda k, d, alpha, seed: {
                "max_abs_cos": np.array(max_abs_cos(generate_ebv(k, d, alpha, seed=seed)[0]))
            },
            function=_P + "generate_ebv",
            note="three lines through the origin of ℝ² are best spread at 60°, |cos 60°| = 1/2 (no three lines "
            "do better: the three angles between them sum to 180°, so one is ≤ 60°); α = 1/2 is reached",
            atol=1.1e-4,
        ),
        ReferenceCase(
            "simplex_etf_d2_k3",
            {"k": 3, "d": 2},
            {"gram": np.array([[1.0, -0.5, -0.5], [-0.5, 1.0, -0.5], [-0.5, -0.5, 1.0]])},
            lambda k, d: {"gram": simplex_etf(k, d) @ simplex_etf(k, d).T},
            function=_P + "simplex_etf",
            note="by hand: the three cube roots of unity, cos 120° = −1/2",
            atol=1e-12,
        ),
        ReferenceCase(
            "ebv_loss_hand_embedding",
            {"z": np.array([[2.0, 0.0]]), "y": np.array([0]), "W": np.eye(2), "tau": 0.5},
            {"loss": np.array(np.log1p(np.exp(-2.0)))},
            lambda z, y, W, tau: {"loss": np.array(ebv_loss(z, y, W, tau).data)},
            function=_P + "ebv_loss",
            note="by hand: z normalised to (1, 0), cosines (1, 0), logits (2, 0) at τ = ½, "
            "loss = −log(e²/(e² + 1)) = log(1 + e⁻²)",
            atol=1e-10,
            conventions={"embedding": "normalised to unit length before the cosine", "reduction": "mean"},
        ),
    ]
