"""Reference cases of ghost batch norm and its two schedule rules, all worked by hand: the train-mode
normalisation over ghost batches, the train-mode running-statistics update (one EMA step per ghost batch,
unbiased variance), the eval-mode normalisation with the running statistics, and η_L, epochs_L."""

from __future__ import annotations

import math

import numpy as np

from ....autograd.tensor import Tensor
from ....catalog import ReferenceCase
from . import ghost_batch_norm, regime_adaptation, sqrt_lr_scaling

_MODULE = "refimpl.techniques.regularization_normalization.ghost_batchnorm"


def reference_cases() -> list:
    def train_mode(x, ghost_batch_size, eps):
        return {"y": ghost_batch_norm(Tensor(x), int(ghost_batch_size), eps=float(eps)).data}

    def running_stats(x, ghost_batch_size, momentum, running_mean, running_var):
        rm, rv = np.array(running_mean, dtype=np.float64), np.array(running_var, dtype=np.float64)
        ghost_batch_norm(Tensor(x), int(ghost_batch_size), running_mean=rm, running_var=rv, momentum=momentum)
        return {"running_mean": rm, "running_var": rv}

    def eval_mode(x, ghost_batch_size, eps, running_mean, running_var):
        rm, rv = np.array(running_mean, dtype=np.float64), np.array(running_var, dtype=np.float64)
        y = ghost_batch_norm(
            Tensor(x), int(ghost_batch_size), running_mean=rm, running_var=rv, training=False, eps=eps
        )
        return {"y": y.data}

    x = np.array([[1.0], [3.0], [5.0], [7.0]])
    eps = 1e-5
    # ghost batches {1,3} and {5,7}: means 2 and 6, biased variances 1 → (x − μ)/√(1 + ε) = ±1/√(1+ε)
    ghost = np.array([[-1.0], [1.0], [-1.0], [1.0]]) / math.sqrt(1 + eps)
    # one batch: mean 4, biased variance (9+1+1+9)/4 = 5 → (x − 4)/√(5 + ε)
    plain = np.array([[-3.0], [-1.0], [1.0], [3.0]]) / math.sqrt(5 + eps)
    return [
        ReferenceCase(
            "train_mode_ghost_size_2",
            {"x": x, "ghost_batch_size": 2, "eps": eps},
            {"y": ghost},
            train_mode,
            function=f"{_MODULE}.ghost_batch_norm",
            note="by hand: ghost batches [1,3] and [5,7], each mean ±1 deviation, biased variance 1",
            atol=1e-12,
        ),
        ReferenceCase(
            "train_mode_ghost_size_4_is_bn",
            {"x": x, "ghost_batch_size": 4, "eps": eps},
            {"y": plain},
            train_mode,
            function=f"{_MODULE}.ghost_batch_norm",
            note="by hand: one ghost batch = the whole batch, mean 4, biased variance 5",
            atol=1e-12,
        ),
        ReferenceCase(
            "train_mode_running_stats_one_step_per_ghost_batch",
            {"x": x, "ghost_batch_size": 2, "momentum": 0.1, "running_mean": [0.0], "running_var": [1.0]},
            {"running_mean": np.array([0.78]), "running_var": np.array([1.19])},
            running_stats,
            function=f"{_MODULE}.ghost_batch_norm",
            note="by hand: ghost [1,3]: mean 2, unbiased var 2 → μ = 0.2, σ² = 0.9 + 0.2 = 1.1; ghost [5,7]: "
            "mean 6, unbiased var 2 → μ = 0.18 + 0.6 = 0.78, σ² = 0.99 + 0.2 = 1.19",
            atol=1e-12,
        ),
        ReferenceCase(
            "eval_mode_uses_running_stats",
            {"x": x, "ghost_batch_size": 2, "eps": eps, "running_mean": [3.0], "running_var": [4.0]},
            {"y": (x - 3.0) / math.sqrt(4 + eps)},
            eval_mode,
            function=f"{_MODULE}.ghost_batch_norm",
            note="by hand: eval mode ignores the ghost batches: (x − 3)/√(4 + ε) = [−1, 0, 1, 2]/√(4+ε)",
            atol=1e-12,
        ),
        ReferenceCase(
            "sqrt_lr_and_regime",
            {"lr": 0.1, "batch_large": 4096, "batch_small": 256, "epochs": 10},
            {"lr_large": np.array(0.4), "epochs_large": np.array(160)},
            lambda lr, batch_large, batch_small, epochs: {
                "lr_large": sqrt_lr_scaling(lr, batch_large, batch_small),
                "epochs_large": regime_adaptation(epochs, batch_large, batch_small),
            },
            function=f"{_MODULE}.sqrt_lr_scaling",
            note="by hand: 0.1·√16 = 0.4 and 10·16 = 160",
            atol=1e-12,
        ),
    ]
