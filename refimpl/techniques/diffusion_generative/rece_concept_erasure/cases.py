"""Reference cases of RECE: the closed-form edit on a 2-D example by hand and against `np.linalg.lstsq` on the
stacked rows of the ridge problem, and the derived embedding on a 2-D example by hand."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from . import closed_form_edit, regenerating_embedding

_PATH = "refimpl.techniques.diffusion_generative.rece_concept_erasure"


def _edit(W, c_erase, v_target, c_preserve, v_preserve, lam, erase_scale, preserve_scale):
    return {
        "W_new": closed_form_edit(
            np.asarray(W),
            np.asarray(c_erase),
            np.asarray(v_target),
            np.asarray(c_preserve),
            np.asarray(v_preserve),
            lam=lam,
            erase_scale=erase_scale,
            preserve_scale=preserve_scale,
        )
    }


def _embedding(W_edit, W, c, gamma):
    return {"c_new": regenerating_embedding(np.asarray(W_edit), np.asarray(W), np.asarray(c), gamma=gamma)}


def _stacked_lstsq(W, c_erase, v_target, c_preserve, v_preserve, lam, erase_scale, preserve_scale):
    """The edit as ordinary least squares: rows √λ e_j → √λ W[:, j], √s_e c → √s_e v*, √s_p c_p → √s_p v_p."""
    W, C, V, Cp, Vp = (
        np.atleast_2d(np.asarray(a, dtype=np.float64)) for a in (W, c_erase, v_target, c_preserve, v_preserve)
    )
    X = np.concatenate(
        [np.sqrt(lam) * np.eye(W.shape[1]), np.sqrt(erase_scale) * C, np.sqrt(preserve_scale) * Cp]
    )
    Y = np.concatenate([np.sqrt(lam) * W.T, np.sqrt(erase_scale) * V, np.sqrt(preserve_scale) * Vp])
    return np.linalg.lstsq(X, Y, rcond=None)[0].T


_LSQ = {
    "W": [[1.0, 0.5], [-0.5, 2.0]],
    "c_erase": [[1.0, 1.0]],
    "v_target": [[0.0, -1.0]],
    "c_preserve": [[1.0, -1.0]],
    "v_preserve": [[0.5, -2.5]],
    "lam": 0.3,
    "erase_scale": 2.0,
    "preserve_scale": 0.7,
}


def reference_cases() -> list:
    return [
        ReferenceCase(
            name="edit_by_hand",
            inputs={
                "W": [[1.0, 0.0], [0.0, 1.0]],
                "c_erase": [[1.0, 0.0]],
                "v_target": [[0.0, 0.0]],
                "c_preserve": [[0.0, 1.0]],
                "v_preserve": [[0.0, 1.0]],
                "lam": 1.0,
                "erase_scale": 1.0,
                "preserve_scale": 1.0,
            },
            expected={"W_new": [[0.5, 0.0], [0.0, 1.0]]},
            compute=_edit,
            function=f"{_PATH}.closed_form_edit",
            note="W = I, λ = 1: (I + 0·e₁ᵀ + e₂e₂ᵀ)(I + e₁e₁ᵀ + e₂e₂ᵀ)⁻¹ = diag(1, 2)·diag(½, ½)… by column: "
            "column 1 is λW e₁/(λ + 1) = e₁/2, column 2 is (λ e₂ + e₂)/(λ + 1) = e₂.",
            atol=1e-15,
        ),
        ReferenceCase(
            name="edit_against_stacked_lstsq",
            inputs=_LSQ,
            expected={"W_new": _stacked_lstsq(**_LSQ)},
            compute=_edit,
            function=f"{_PATH}.closed_form_edit",
            note="The same ridge problem solved as ordinary least squares on stacked rows "
            "[√λ I; √s_e c_eᵀ; √s_p c_pᵀ] → [√λ Wᵀ; √s_e v*ᵀ; √s_p v_pᵀ] by np.linalg.lstsq.",
            conventions={"objective": "λ‖W' − W‖²_F + s_e Σ‖W'c_e − v*‖² + s_p Σ‖W'c_p − v_p‖²"},
            atol=1e-12,
        ),
        ReferenceCase(
            name="derived_embedding_by_hand",
            inputs={
                "W_edit": [[0.5, 0.0], [0.0, 1.0]],
                "W": [[1.0, 0.0], [0.0, 1.0]],
                "c": [1.0, 0.0],
                "gamma": 0.25,
            },
            expected={"c_new": [1.0, 0.0]},
            compute=_embedding,
            function=f"{_PATH}.regenerating_embedding",
            note="Along e₁: (0.5² + 0.25)⁻¹ · 0.5 · 1 = 0.5/0.5 = 1; along e₂ the target is 0.",
            conventions={"regulariser": "ridge towards 0, γ‖c'‖² (the authors' close_form_emb_regzero)"},
            atol=1e-15,
        ),
        ReferenceCase(
            name="derived_embedding_unregularised",
            inputs={
                "W_edit": [[0.5, 0.0], [0.0, 1.0]],
                "W": [[1.0, 0.0], [0.0, 1.0]],
                "c": [1.0, 0.0],
                "gamma": 0.0,
            },
            expected={"c_new": [2.0, 0.0]},
            compute=_embedding,
            function=f"{_PATH}.regenerating_embedding",
            note="γ = 0: c' = W'⁻¹ W c = (2, 0): the halved direction needs twice the embedding.",
            atol=1e-15,
        ),
    ]
