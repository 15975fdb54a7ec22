"""Reference cases of ST-3: the soft threshold, the rescaled STE forward and its gradient, the hard STE
ablation, and the global (and σ-scaled) quantile threshold, all worked by hand; medium-size random cases
computed by explicit loops and a hand-written quantile."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from . import soft_threshold, st3_forward, st3_thresholds


def _st3_by_loops(w, tau):
    """ŵ = γ_o sign(w) max(|w| − τ, 0) row by row (output channel o), with ρ_o = (mean_i |w_oi| m_oi + 1e-6) /
    (mean_i |w_oi| + 1e-6), m = 1[|w| > τ], γ_o = 1.01/(ρ_o + 0.01) (the paper's rescale, official get_scale)."""
    out = np.zeros_like(w)
    for o in range(w.shape[0]):
        row = [float(v) for v in w[o]]
        kept = [abs(v) if abs(v) > tau else 0.0 for v in row]
        rho = (sum(kept) / len(row) + 1e-6) / (sum(abs(v) for v in row) / len(row) + 1e-6)
        gamma = 1.01 / (rho + 0.01)
        out[o] = [gamma * np.sign(v) * max(abs(v) - tau, 0.0) for v in row]
    return out


def _quantile_linear(values, q):
    """The q-quantile with linear interpolation between order statistics (numpy's default), by hand."""
    v = sorted(values)
    pos = q * (len(v) - 1)
    lo = int(pos // 1)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (pos - lo) * (v[hi] - v[lo])


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
    rng = np.random.default_rng(2206)
    rw = rng.normal(0.0, 1.0, size=(8, 16))
    rw1 = rng.normal(0.0, 0.2, size=(8, 16))  # σ₁ = 1/√24
    rw2 = rng.normal(0.0, 0.5, size=(4, 8))  # σ₂ = 1/√12
    s1, s2 = 1 / np.sqrt(24.0), 1 / np.sqrt(12.0)
    q_sigma = _quantile_linear([abs(v) / s1 for v in rw1.ravel()] + [abs(v) / s2 for v in rw2.ravel()], 0.6)
    q_plain = _quantile_linear([abs(v) for v in rw1.ravel()] + [abs(v) for v in rw2.ravel()], 0.6)
    random_cases = [
        ReferenceCase(
            "random_8x16_st3_tau0.6",
            {"w": rw, "tau": 0.6, "soft": True, "rescale": True},
            {"w_hat": _st3_by_loops(rw, 0.6), "grad": np.ones((8, 16))},
            st3,
            function="refimpl.techniques.sparsity_pruning.st3_soft_threshold.st3_forward",
            note="explicit loops per output row o: m = 1[|w| > 0.6], ρ_o = (mean|w|m + 1e-6)/(mean|w| + 1e-6), "
            "γ_o = 1.01/(ρ_o + 0.01), ŵ = γ_o sign(w) max(|w| − 0.6, 0); the STE gradient of Σŵ is all ones "
            "(w ~ N(0, 1), seed 2206; no |w| within 5e-4 of τ)",
            atol=1e-12,
            rtol=1e-12,
            atol32=1e-6,
            rtol32=1e-5,
        ),
        ReferenceCase(
            "random_two_layers_quantile_60pct",
            {"w1": rw1, "w2": rw2, "ratio": 0.6, "sigma": False},
            {"tau": np.array([q_plain, q_plain])},
            thresholds,
            function="refimpl.techniques.sparsity_pruning.st3_soft_threshold.st3_thresholds",
            note="by a hand-written quantile: sort the 160 |w| of both layers, position 0.6·159 = 95.4, "
            "τ = v₉₅ + 0.4 (v₉₆ − v₉₅) (linear interpolation, numpy's default); the same τ for both layers "
            "(w1 (8, 16) ~ N(0, 0.2²), w2 (4, 8) ~ N(0, 0.5²), seed 2206)",
            atol=1e-12,
            rtol=1e-12,
            atol32=1e-6,
            rtol32=1e-5,
        ),
        ReferenceCase(
            "random_two_layers_sigma_quantile_60pct",
            {"w1": rw1, "w2": rw2, "ratio": 0.6, "sigma": True},
            {"tau": np.array([q_sigma * s1, q_sigma * s2])},
            thresholds,
            function="refimpl.techniques.sparsity_pruning.st3_soft_threshold.st3_thresholds",
            note="by a hand-written quantile: σ₁ = 1/√(8+16), σ₂ = 1/√(4+8); the 0.6-quantile (linear, position "
            "95.4 of 160 sorted values) of |w|/σ_l over both layers, times σ_l per layer (ST-3σ)",
            atol=1e-12,
            rtol=1e-12,
            atol32=1e-6,
            rtol32=1e-5,
        ),
    ]
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
    ] + random_cases
