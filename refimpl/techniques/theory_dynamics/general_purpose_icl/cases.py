"""Reference cases of general-purpose in-context learning: one task's view of three points by hand, the
(x̄_t, ȳ_{t−1}) tokens of a three-step sequence by hand, the sequence loss of uniform logits (ln C), and the
nearest-neighbour in-context learner on a one-dimensional sequence by hand."""

from __future__ import annotations

import numpy as np

from .... import tensor
from ....catalog import ReferenceCase
from . import apply_task, nearest_neighbour_accuracy, sequence_loss, sequences

_PATH = "refimpl.techniques.theory_dynamics.general_purpose_icl"


def _apply(X, y, A, perm):
    xs, ys = apply_task(np.asarray(X), np.asarray(y), np.asarray(A), np.asarray(perm))
    return {"x_bar": xs, "y_bar": ys}


def _sequences(X, y, A, perm, task_idx, point_idx):
    tok, tgt = sequences(*(np.asarray(a) for a in (X, y, A, perm, task_idx, point_idx)))
    return {"tokens": tok, "targets": tgt}


def _loss(logits, targets):
    return {"loss": sequence_loss(tensor(np.asarray(logits, dtype=np.float64)), np.asarray(targets)).data}


def _nn(tokens, targets, n_classes):
    return {"accuracy": nearest_neighbour_accuracy(np.asarray(tokens), np.asarray(targets), n_classes)}


def reference_cases() -> list:
    return [
        ReferenceCase(
            name="one_task_view",
            inputs={
                "X": [[1.0, 2.0], [3.0, -1.0], [0.0, 0.5]],
                "y": [0, 1, 2],
                "A": [[0.0, 1.0], [2.0, 0.0]],
                "perm": [2, 0, 1],
            },
            expected={"x_bar": [[2.0, 2.0], [-1.0, 6.0], [0.5, 0.0]], "y_bar": [2, 0, 1]},
            compute=_apply,
            function=f"{_PATH}.apply_task",
            note="x̄ = A x with A = [[0, 1], [2, 0]] swaps the coordinates and doubles the new second one: "
            "(1, 2) → (2, 2), (3, −1) → (−1, 6), (0, 0.5) → (0.5, 0); ȳ = ρ(y) with ρ = (2, 0, 1).",
            atol=1e-15,
            conventions={"scheme": "labels are 0-based indices; ρ is applied as perm[y]"},
        ),
        ReferenceCase(
            name="tokens_carry_the_previous_label",
            inputs={
                "X": [[1.0, 0.0], [0.0, 1.0], [2.0, 2.0]],
                "y": [0, 1, 0],
                "A": [[[1.0, 0.0], [0.0, 1.0]]],
                "perm": [[1, 0]],
                "task_idx": [0],
                "point_idx": [[0, 1, 2]],
            },
            expected={
                "tokens": [[[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 1.0], [2.0, 2.0, 1.0, 0.0]]],
                "targets": [[1, 0, 1]],
            },
            compute=_sequences,
            function=f"{_PATH}.sequences",
            note="A = I and ρ swaps the two labels, so ȳ = (1, 0, 1).  Token 1 is (x̄₁, 0, 0) (no previous "
            "label), token 2 is (x̄₂, one-hot ȳ₁ = (0, 1)), token 3 is (x̄₃, one-hot ȳ₂ = (1, 0)); the targets "
            "are ȳ itself.",
            atol=1e-15,
            conventions={"scheme": "token t = (x̄_t, one-hot ȳ_{t−1}); zeros in the label slot at t = 1"},
        ),
        ReferenceCase(
            name="uniform_logits_cost_log_c",
            inputs={"logits": np.zeros((2, 3, 3)).tolist(), "targets": [[0, 1, 2], [2, 2, 0]]},
            expected={"loss": np.log(3.0)},
            compute=_loss,
            function=f"{_PATH}.sequence_loss",
            note="Equal logits give every class probability 1/3, so every position costs ln 3 and so does "
            "the mean over positions and sequences (Eq. 1 divided by B L).",
            atol=1e-14,
            conventions={
                "scheme": "Eq. 1's sum over positions is averaged (divided by L) and over sequences"
            },
        ),
        ReferenceCase(
            name="nearest_neighbour_in_context_by_hand",
            inputs={
                "tokens": [[[0.0, 0.0, 0.0], [10.0, 1.0, 0.0], [1.0, 0.0, 1.0], [9.0, 1.0, 0.0]]],
                "targets": [[0, 1, 0, 1]],
                "n_classes": 2,
            },
            expected={"accuracy": [1.0, 0.0, 1.0, 1.0]},
            compute=_nn,
            function=f"{_PATH}.nearest_neighbour_accuracy",
            note="Inputs 0, 10, 1, 9 with labels 0, 1, 0, 1.  t = 1: no earlier point, label 0 predicted, "
            "right.  t = 2: nearest earlier to 10 is 0 (label 0), wrong.  t = 3: nearest to 1 is 0, right.  "
            "t = 4: nearest to 9 is 10 (label 1), right.",
            atol=1e-15,
            conventions={"scheme": "the first position predicts label 0; ties go to the earliest point"},
        ),
    ]
