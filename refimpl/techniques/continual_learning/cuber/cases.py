"""Reference cases of CUBER, by hand: a GPM basis (as its projector, free of the singular vectors' sign), the
projection of a gradient out of a subspace, the two correlation tests, and the hand-written loss and gradients
of a two-unit network."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from . import input_basis, loss_and_grads, project_out, select_correlated

_PATH = "refimpl.techniques.continual_learning.cuber"
L3 = float(np.log(3.0))


def _basis(R, threshold):
    B = input_basis(np.asarray(R), threshold)
    return {"projector": B @ B.T}


def _project(g, M):
    return {"g": project_out(np.asarray(g), np.asarray(M))}


def _select(g_new, bases, old_grads, eps):
    return {
        "released": np.array(
            select_correlated(
                np.asarray(g_new), [np.asarray(b) for b in bases], [np.asarray(g) for g in old_grads], eps
            )
        )
    }


def _loss(W1, W2, W3, b3, x, y, mask):
    p = {"W1": np.asarray(W1), "W2": np.asarray(W2), "W3": np.asarray(W3), "b3": np.asarray(b3)}
    loss, g = loss_and_grads(p, np.asarray(x), np.asarray(y), np.asarray(mask))
    return {"loss": np.array([loss]), **{f"d{k}": v for k, v in g.items()}}


def reference_cases() -> list:
    return [
        ReferenceCase(
            name="gpm_basis_energy_threshold",
            inputs={"R": [[3.0, 0.0], [0.0, 1.0]], "threshold": 0.9},
            expected={"projector": [[1.0, 0.0], [0.0, 0.0]]},
            compute=_basis,
            function=f"{_PATH}.input_basis",
            note="Singular values 3 and 1: the first keeps 9/10 of the energy, which meets 0.9, so k = 1 and the "
            "basis is ±e1 (projector diag(1, 0)).",
            conventions={"threshold": "smallest k with kept energy ≥ threshold", "sign": "compared as B Bᵀ"},
            atol=1e-12,
        ),
        ReferenceCase(
            name="project_out_first_input",
            inputs={"g": [[1.0, 2.0], [3.0, 4.0]], "M": [[1.0], [0.0]]},
            expected={"g": [[0.0, 2.0], [0.0, 4.0]]},
            compute=_project,
            function=f"{_PATH}.project_out",
            note="Removing the first input direction zeroes the first column of the (out × in) gradient.",
            atol=1e-12,
        ),
        ReferenceCase(
            name="select_correlated_two_old_tasks",
            inputs={
                "g_new": [[3.0, 4.0]],
                "bases": [[[1.0], [0.0]], [[0.0], [1.0]]],
                "old_grads": [[[2.0, 7.0]], [[1.0, -1.0]]],
                "eps": 0.5,
            },
            expected={"released": [0]},
            compute=_select,
            function=f"{_PATH}.select_correlated",
            note="Task 0: ‖gP‖/‖g‖ = 3/5 ≥ 0.5 and ⟨(3, 0), (2, 7)⟩ = 6 > 0, released; task 1: ratio 4/5 but "
            "⟨(0, 4), (1, −1)⟩ = −4 < 0, kept protected.",
            atol=0.0,
        ),
        ReferenceCase(
            name="loss_and_grads_two_units",
            inputs={
                "W1": [[1.0, 0.0], [0.0, 1.0]],
                "W2": [[1.0, 0.0], [0.0, 1.0]],
                "W3": [[L3, 0.0], [0.0, 0.0], [5.0, 5.0]],
                "b3": [0.0, 0.0, 0.0],
                "x": [[1.0, -1.0]],
                "y": [0],
                "mask": [True, True, False],
            },
            expected={
                "loss": [np.log(4 / 3)],
                "dW1": [[-L3 / 4, L3 / 4], [0.0, 0.0]],
                "dW2": [[-L3 / 4, 0.0], [0.0, 0.0]],
                "dW3": [[-0.25, 0.0], [0.25, 0.0], [0.0, 0.0]],
                "db3": [-0.25, 0.25, 0.0],
            },
            compute=_loss,
            function=f"{_PATH}.loss_and_grads",
            note="h1 = h2 = relu(1, −1) = (1, 0); logits (ln 3, 0) with class 2 masked: p = (¾, ¼), loss ln 4/3; "
            "dz = (−¼, ¼, 0); dW3 = dz h2ᵀ; back through W3: (−ln3/4, 0), the second unit inactive.",
            conventions={"relu'(0)": "0", "mask": "masked logits get −inf (probability 0)"},
            atol=1e-12,
        ),
    ]
