"""Reference cases of ST-3: the soft threshold, the rescaled STE forward and its gradient, the hard STE
ablation, and the global (and σ-scaled) quantile threshold, all worked by hand."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from . import soft_threshold, st3_forward, st3_thresholds


def reference_cases() -> list:
    def soft(w, tau):
        return {"w_hat": soft_threshold(np.asarray(w), float(tau))}

    def st3(w, tau, soft=True, rescale=True):
        from ....autograd.tensor import Tensor

        t = Tensor(np.asarray(w, dtype=np.float64), requires_grad=True)
        y = st3_forward(t, float(tau), rescale=bool(rescale), soft=bool(soft))
        y.sum().backward()
        return {"w_hat": y.data, "grad": t.grad}

    def thresholds(w1, w2, ratio, sigma=False):
        taus = st3_thresholds([np.asarray(w1), np.asarray(w2)], float(ratio), sigma=bool(sigma))
        return {"tau": np.array(taus)}

    w = [[0.5, -0.2, 0.05, -0.8]]
    # ρ = mean(|w|·m)/mean|w| = (0.5+0.8)/(0.5+0.2+0.05+0.8) = 1.3/1.55 (± 1e-6 terms); γ = 1.01/(ρ + 0.01)
    rho = (1.3 / 4 + 1e-6) / (1.55 / 4 + 1e-6)
    gamma = 1.01 / (rho + 0.01)
    return [
        ReferenceCase(
            "soft_threshold_catalogue",
            {"w": w[0], "tau": 0.3},
            {"w_hat": np.array([0.2, 0.0, 0.0, -0.5])},
            soft,
            function="refimpl.techniques.sparsity_pruning.st3_soft_threshold.soft_threshold",
            note="by hand: sign(w)·max(|w| − 0.3, 0); 2 of 4 zero (50 % sparse)",
            atol=1e-12,
        ),
        ReferenceCase(
            "st3_rescaled_with_ste_grad",
            {"w": w, "tau": 0.3},
            {"w_hat": gamma * np.array([[0.2, 0.0, 0.0, -0.5]]), "grad": np.ones((1, 4))},
            st3,
            function="refimpl.techniques.sparsity_pruning.st3_soft_threshold.st3_forward",
            note="by hand: ρ = (1.3/4 + 1e-6)/(1.55/4 + 1e-6), γ = 1.01/(ρ + 0.01); "
            "the STE gradient of Σŵ w.r.t. w is all ones",
            atol=1e-12,
        ),
        ReferenceCase(
            "ste_hard_ablation",
            {"w": w, "tau": 0.3, "soft": False, "rescale": False},
            {"w_hat": np.array([[0.5, 0.0, 0.0, -0.8]]), "grad": np.ones((1, 4))},
            st3,
            function="refimpl.techniques.sparsity_pruning.st3_soft_threshold.st3_forward",
            note="by hand: hard mask 1[|w| > 0.3] keeps 0.5 and −0.8 unchanged; the gradient is still all ones",
            atol=1e-12,
        ),
        ReferenceCase(
            "global_quantile_threshold",
            {"w1": [0.1, -0.4, 0.3], "w2": [0.2, -0.5], "ratio": 0.5},
            {"tau": np.array([0.3, 0.3])},
            thresholds,
            function="refimpl.techniques.sparsity_pruning.st3_soft_threshold.st3_thresholds",
            note="by hand: sorted |w| = .1 .2 .3 .4 .5, the 0.5-quantile (linear) is the median 0.3",
            atol=1e-12,
        ),
        ReferenceCase(
            "sigma_scaled_threshold",
            {"w1": [[0.3, -0.6]], "w2": [[0.2], [-0.4], [0.8]], "ratio": 0.5, "sigma": True},
            {"tau": np.array([0.8 / np.sqrt(3), 0.4])},
            thresholds,
            function="refimpl.techniques.sparsity_pruning.st3_soft_threshold.st3_thresholds",
            note="by hand: σ1 = 1/√(1+2) = 1/√3, σ2 = 1/√(3+1) = 1/2; |w|/σ = {0.3√3, 0.6√3} ∪ {0.4, 0.8, 1.6} "
            "= {0.52, 1.04, 0.4, 0.8, 1.6}; median 0.8 → τ1 = 0.8/√3, τ2 = 0.8/2 = 0.4",
            atol=1e-12,
        ),
    ]
