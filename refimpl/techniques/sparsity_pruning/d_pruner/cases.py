"""Reference cases of D-Pruner: the general importance, the regularised gradient and the domain score
worked by hand, and a random general-importance case against an explicit cofactor inverse."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from . import dpruner_scores, general_importance, regularised_gradient, unstructured_masks

_P = "refimpl.techniques.sparsity_pruning.d_pruner."


def _inv_diag_by_cofactors(A):
    """diag(A⁻¹) by Cramer's rule, [A⁻¹]_jj = det(A without row/col j) / det(A) (independent of inv)."""
    n = A.shape[0]
    keep = lambda j: [i for i in range(n) if i != j]  # noqa: E731
    return np.array([np.linalg.det(A[np.ix_(keep(j), keep(j))]) for j in range(n)]) / np.linalg.det(A)


def reference_cases() -> list:
    def gi(W, X, percdamp):
        return {"G": general_importance(np.asarray(W), np.asarray(X), float(percdamp))}

    def rg(g, G, lam, eta):
        return {"g_tilde": regularised_gradient(np.asarray(g), np.asarray(G), float(lam), float(eta))}

    def sc(g, w):
        return {"S": dpruner_scores(np.asarray(g), np.asarray(w))}

    def um(s1, sparsity):
        return {"mask": unstructured_masks({"a": np.asarray(s1)}, float(sparsity))["a"]}

    rng = np.random.default_rng(2405)
    W, X = rng.normal(size=(2, 3)), rng.normal(size=(6, 3))
    H = 2 * X.T @ X
    H = H + 0.01 * np.mean(np.diag(H)) * np.eye(3)
    return [
        ReferenceCase(
            "general_importance_identity_inputs",
            {"W": np.array([[2.0, 1.0]]), "X": np.eye(2), "percdamp": 0.0},
            {"G": np.array([[16.0, 4.0]])},
            gi,
            function=_P + "general_importance",
            note="by hand: H = 2I, [H⁻¹]_jj = 1/2, G = W²·4 = [16, 4]",
        ),
        ReferenceCase(
            "general_importance_random_vs_cofactors",
            {"W": W, "X": X, "percdamp": 0.01},
            {"G": W**2 / _inv_diag_by_cofactors(H)[None, :] ** 2},
            gi,
            function=_P + "general_importance",
            note="diag(H⁻¹) by Cramer's rule (2×2 minors over det H), H = 2XᵀX + 1 % mean-diagonal damping",
            atol32=1e-3,
            rtol32=1e-3,
        ),
        ReferenceCase(
            "regularised_gradient_hand",
            {"g": np.array([1.0, -2.0]), "G": np.array([3.0, 0.5]), "lam": 0.5, "eta": 2.0},
            {"g_tilde": np.array([13.0, 6.0])},
            rg,
            function=_P + "regularised_gradient",
            note="by hand: 2λη² = 4; 1 + 4·3·1 = 13, −2 + 4·0.5·4 = 6",
        ),
        ReferenceCase(
            "dpruner_score_hand",
            {"g": np.array([2.0, -4.0]), "w": np.array([0.5, 0.5])},
            {"S": np.array([1.1255, 1.873])},
            sc,
            function=_P + "dpruner_scores",
            note="by hand: gw = 1 → |1 + 1/2000 + 0.125| = 1.1255; gw = −2 → |−2 + 4/2000 + 0.125| = 1.873",
        ),
        ReferenceCase(
            "unstructured_mask_50pct",
            {"s1": np.array([[0.3, 0.1], [0.4, 0.2]]), "sparsity": 0.5},
            {"mask": np.array([[1.0, 0.0], [1.0, 0.0]])},
            um,
            function=_P + "unstructured_masks",
            note="by hand: the 2 smallest of 4 scores (0.1, 0.2) pruned",
        ),
    ]
