"""Reference cases of FARMS, by hand: the Hill exponent of four eigenvalues, the Marchenko–Pastur edges at
q = 1/4, the window grid that tiles a 4 × 6 matrix, and the pooled spectrum of 1 × 2 windows (squared row norms)."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from . import farms_eigenvalues, farms_windows, hill_alpha, mp_edges

_PATH = "refimpl.techniques.theory_generalization.farms"


def _hill(eigs):
    return {"alpha": np.array([hill_alpha(np.asarray(eigs))])}


def _edges(q):
    return {"edges": np.array(mp_edges(q))}


def _windows(shape, rows, q_ratio, ops):
    return {"windows": np.array(farms_windows(shape, rows, q_ratio, ops), dtype=np.float64)}


def _pooled(W, rows, q_ratio, ops):
    return {"eigenvalues": farms_eigenvalues(np.asarray(W, dtype=np.float64), rows, q_ratio, ops)}


def reference_cases() -> list:
    return [
        ReferenceCase(
            name="hill_four_eigenvalues",
            inputs={"eigs": [8.0, 1.0, 4.0, 2.0]},
            expected={"alpha": [1 + 2 / np.log(2)]},
            compute=_hill,
            function=f"{_PATH}.hill_alpha",
            note="Sorted 1, 2, 4, 8; λ_min = the value at index ⌊4/2⌋ = 4; the two tail logs are log 1 = 0 and "
            "log 2, so α = 1 + 2/log 2 ≈ 3.885.",
            atol=1e-14,
        ),
        ReferenceCase(
            name="mp_edges_quarter",
            inputs={"q": 0.25},
            expected={"edges": [0.25, 2.25]},
            compute=_edges,
            function=f"{_PATH}.mp_edges",
            note="(1 ∓ √¼)² = (½)², (3/2)².",
            atol=1e-15,
        ),
        ReferenceCase(
            name="windows_tile_4x6",
            inputs={"shape": [4, 6], "rows": 2, "q_ratio": 1.5, "ops": 2},
            expected={"windows": [[0, 0, 2, 3], [0, 3, 2, 3], [2, 0, 2, 3], [2, 3, 2, 3]]},
            compute=_windows,
            function=f"{_PATH}.farms_windows",
            note="2 × 3 windows, two starts per side: rows 0 and 4 − 2 = 2, columns 0 and 6 − 3 = 3 — the four blocks "
            "of the matrix.",
            atol=0.0,
        ),
        ReferenceCase(
            name="pooled_row_windows",
            inputs={"W": [[1.0, 2.0, 3.0, 4.0], [0.0, 1.0, 1.0, 0.0]], "rows": 1, "q_ratio": 2.0, "ops": 2},
            expected={"eigenvalues": [1.0, 1.0, 5.0, 25.0]},
            compute=_pooled,
            function=f"{_PATH}.farms_eigenvalues",
            note="Four 1 × 2 windows (1, 2), (3, 4), (0, 1), (1, 0); a row vector's one eigenvalue is its squared norm: "
            "5, 25, 1, 1.",
            atol=1e-12,
        ),
    ]
