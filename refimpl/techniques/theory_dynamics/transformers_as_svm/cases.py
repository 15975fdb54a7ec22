"""Reference cases of attention as an SVM: the two-token Att-SVM solved by hand, the output of uniform
attention (W = 0) by hand, and the optimal token by its score."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from . import att_svm, attention_output, optimal_tokens

_PATH = "refimpl.techniques.theory_dynamics.transformers_as_svm"
_X = [[[1.0, 0.0], [0.0, 1.0]]]


def _svm(X, z, opt):
    return {"W": att_svm(np.asarray(X), np.asarray(z), np.asarray(opt))}


def _uniform(X, z, v):
    f, a = attention_output(np.zeros((2, 2)), np.asarray(X), np.asarray(z), np.asarray(v))
    return {"f": f, "attention": a}


def _opt(X, y, v):
    return {"opt": optimal_tokens(np.asarray(X), np.asarray(y), np.asarray(v))}


def reference_cases() -> list:
    return [
        ReferenceCase(
            name="att_svm_two_tokens",
            inputs={"X": _X, "z": [[1.0, 0.0]], "opt": [0]},
            expected={"W": [[0.5, 0.0], [-0.5, 0.0]]},
            compute=_svm,
            function=f"{_PATH}.att_svm",
            note="One constraint (x₁ − x₂)ᵀWz ≥ 1 with x₁ − x₂ = (1, −1), z = (1, 0): the least-norm W on the hyperplane "
            "is (x₁ − x₂)zᵀ/(‖x₁ − x₂‖²‖z‖²) = [[1, 0], [−1, 0]]/2.",
            atol=1e-6,
        ),
        ReferenceCase(
            name="uniform_attention_output",
            inputs={"X": _X, "z": [[1.0, 0.0]], "v": [1.0, 2.0]},
            expected={"f": [1.5], "attention": [[0.5, 0.5]]},
            compute=_uniform,
            function=f"{_PATH}.attention_output",
            note="W = 0: every score is 0, softmax is uniform, f = vᵀ(x₁ + x₂)/2 = (1 + 2)/2 = 1.5.",
            atol=1e-15,
        ),
        ReferenceCase(
            name="optimal_token_by_score",
            inputs={
                "X": [[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]],
                "y": [1.0, -1.0],
                "v": [2.0, -1.0],
            },
            expected={"opt": [0, 1]},
            compute=_opt,
            function=f"{_PATH}.optimal_tokens",
            note="Token values vᵀx = (2, −1, 1): label +1 picks the largest (token 0), label −1 the smallest (token 1).",
            atol=0.0,
        ),
    ]
