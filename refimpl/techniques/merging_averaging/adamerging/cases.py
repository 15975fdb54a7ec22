"""Reference cases of AdaMerging: the entropy of two softmax rows, a task-arithmetic merge and a layer-wise
merge with clamped coefficients, all worked by hand."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from . import add_task_vectors, entropy, merge_coefficients, merged_encoder

_PKG = "refimpl.techniques.merging_averaging.adamerging"


def reference_cases() -> list:
    def ent(logits):
        return {"H": entropy(np.asarray(logits))}

    def merge(theta0, tau1, tau2, lam):
        out = add_task_vectors(
            {"w": np.asarray(theta0)}, [{"w": np.asarray(tau1)}, {"w": np.asarray(tau2)}], list(lam)
        )
        return {"theta": out["w"]}

    def clamp(lam_raw):
        return {"lam": np.array(merge_coefficients(np.asarray(lam_raw), ["w"], "task"), dtype=np.float64)}

    def layer_merge(a0, b0, tau1_a, tau1_b, tau2_a, tau2_b, lam_raw):
        theta0 = {"a": np.asarray(a0), "b": np.asarray(b0)}
        taus = [
            {"a": np.asarray(tau1_a), "b": np.asarray(tau1_b)},
            {"a": np.asarray(tau2_a), "b": np.asarray(tau2_b)},
        ]
        out = merged_encoder(theta0, taus, np.asarray(lam_raw), "layer")
        return {"a": out["a"], "b": out["b"]}

    return [
        ReferenceCase(
            "entropy_uniform_and_peaked",
            {"logits": [[0.0, 0.0], [np.log(3.0), 0.0]]},
            {"H": np.array([np.log(2.0), -(0.75 * np.log(0.75) + 0.25 * np.log(0.25))])},
            ent,
            function=f"{_PKG}.entropy",
            note="by hand: p = [1/2, 1/2] gives ln 2 = 0.693147; p = [3/4, 1/4] gives 0.562335",
            atol=1e-12,
        ),
        ReferenceCase(
            "task_wise_merge",
            {"theta0": [0.0, 0.0], "tau1": [1.0, 0.0], "tau2": [0.0, 2.0], "lam": [0.3, 0.5]},
            {"theta": np.array([0.3, 1.0])},
            merge,
            function=f"{_PKG}.add_task_vectors",
            note="by hand: θ_0 + 0.3·[1,0] + 0.5·[0,2] = [0.3, 1.0]",
            atol=1e-12,
        ),
        ReferenceCase(
            "clamp_to_unit_interval",
            {"lam_raw": [-0.2, 0.4, 1.3]},
            {"lam": np.array([0.0, 0.4, 1.0])},
            clamp,
            function=f"{_PKG}.merge_coefficients",
            note="by hand: clamp to [0, 1] as the official code's torch.clamp",
            atol=0,
        ),
        ReferenceCase(
            "layer_wise_merge_with_clamp",
            {
                "a0": [1.0],
                "b0": [2.0],
                "tau1_a": [1.0],
                "tau1_b": [1.0],
                "tau2_a": [10.0],
                "tau2_b": [-1.0],
                "lam_raw": [[0.5, 2.0], [-1.0, 0.25]],
            },
            {"a": np.array([1.0 + 0.5 * 1.0 + 1.0 * 10.0]), "b": np.array([2.0 + 0.0 * 1.0 + 0.25 * -1.0])},
            layer_merge,
            function=f"{_PKG}.merged_encoder",
            note="by hand: rows are tensors a, b, columns tasks; clamp gives [[0.5, 1], [0, 0.25]]; "
            "a = 1 + 0.5·1 + 1·10 = 11.5, b = 2 + 0·1 + 0.25·(−1) = 1.75",
            atol=1e-12,
        ),
    ]
