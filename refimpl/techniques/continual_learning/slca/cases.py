"""Reference cases of SLCA, by hand: Gaussian pseudo-features through a hand-computed Cholesky factor, a class's
mean and unbiased covariance, the logit-normalised cross-entropy of one example, and the code's mean scaling."""

from __future__ import annotations

import numpy as np

from ....autograd.tensor import Tensor
from ....catalog import ReferenceCase
from . import class_statistics, logit_norm_loss, mean_scale, sample_pseudo_features

_PATH = "refimpl.techniques.continual_learning.slca"


def _sample(mean, cov, n, seed):
    return {"samples": sample_pseudo_features(np.asarray(mean), np.asarray(cov), n, seed)}


def _stats(features, labels, classes, ridge):
    mu, cov = class_statistics(np.asarray(features), np.asarray(labels), classes, ridge)[classes[0]]
    return {"mean": mu, "cov": cov}


def _ln(logits, y, task_blocks, tau):
    out = logit_norm_loss(Tensor(np.asarray(logits, dtype=np.float64)), np.asarray(y), task_blocks, tau)
    return {"loss": np.array([float(out.data)])}


def _scale(task_of_class, current_task):
    return {"scale": np.array([mean_scale(task_of_class, current_task)])}


def reference_cases() -> list:
    # z drawn from NumPy's generator directly; L = [[2, 0], [1, 2]] by hand, since L Lᵀ = [[4, 2], [2, 5]]
    z = np.random.default_rng(7).standard_normal((3, 2))
    samples = np.stack([1.0 + 2.0 * z[:, 0], -2.0 + z[:, 0] + 2.0 * z[:, 1]], axis=1)
    return [
        ReferenceCase(
            name="gaussian_pseudo_features_hand_cholesky",
            inputs={"mean": [1.0, -2.0], "cov": [[4.0, 2.0], [2.0, 5.0]], "n": 3, "seed": 7},
            expected={"samples": samples},
            compute=_sample,
            function=f"{_PATH}.sample_pseudo_features",
            note="Σ = [[4, 2], [2, 5]] has Cholesky factor L = [[2, 0], [1, 2]] (2·2 = 4, 1·2 = 2, 1 + 4 = 5), so "
            "a sample is (1 + 2 z₁, −2 + z₁ + 2 z₂), z = default_rng(7).standard_normal((3, 2)).",
            conventions={
                "sampling": "mean + z Lᵀ, L lower Cholesky, z = default_rng(seed).standard_normal((n, d))"
            },
            atol=1e-12,
        ),
        ReferenceCase(
            name="class_mean_and_unbiased_covariance",
            inputs={
                "features": [[0.0, 0.0], [2.0, 0.0], [1.0, 3.0], [9.0, 9.0]],
                "labels": [0, 0, 0, 1],
                "classes": [0],
                "ridge": 0.0,
            },
            expected={"mean": [1.0, 1.0], "cov": [[1.0, 0.0], [0.0, 3.0]]},
            compute=_stats,
            function=f"{_PATH}.class_statistics",
            note="Class 0: mean (1, 1); deviations (−1, −1), (1, −1), (0, 2); Σ = [[2, 0], [0, 6]] / (3 − 1).",
            conventions={"covariance": "unbiased (divide by N − 1), plus ridge·I"},
            atol=1e-12,
        ),
        ReferenceCase(
            name="logit_norm_loss_one_example",
            inputs={"logits": [[3.0, 4.0, 0.0, 0.0]], "y": [1], "task_blocks": [[0, 1], [2, 3]], "tau": 0.4},
            expected={"loss": [np.log(np.exp(3.0) + np.exp(4.0) + 2.0) - 4.0]},
            compute=_ln,
            function=f"{_PATH}.logit_norm_loss",
            note="Task norms 5 and 0, mean 2.5; τ·2.5 = 1, so the loss is plain cross-entropy of (3, 4, 0, 0) at "
            "class 1: ln(e³ + e⁴ + 2) − 4.",
            conventions={
                "norm": "mean over tasks of each task block's L2 logit norm (+1e-14 inside the sqrt)"
            },
            atol=1e-9,
        ),
        ReferenceCase(
            name="mean_scale_oldest_class",
            inputs={"task_of_class": 0, "current_task": 4},
            expected={"scale": [0.92]},
            compute=_scale,
            function=f"{_PATH}.mean_scale",
            note="0.9 + 0.1 · (0 + 1)/(4 + 1) = 0.92 (the authors' code, models/slca.py).",
            atol=1e-12,
        ),
    ]
