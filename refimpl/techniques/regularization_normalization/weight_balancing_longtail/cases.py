"""Reference cases of weight balancing and the one-stage method, worked by hand, and medium-size random
cases computed by explicit loops."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from . import (
    additive_logit_adjustment,
    class_balanced_weights,
    feature_regularization,
    fisher_discriminant_ratio,
    maxnorm_project,
    maxnorm_threshold,
    multiplicative_logit_adjustment,
    simplex_etf,
)

_PKG = "refimpl.techniques.regularization_normalization.weight_balancing_longtail"


def _fdr_by_loops(h, y):
    """tr(S_W⁻¹ S_B) with the scatter matrices summed sample by sample (independent of the code under test):
    S_B = Σ_c n_c (μ_c − μ)(μ_c − μ)ᵀ, S_W = Σ_i (h_i − μ_{y_i})(h_i − μ_{y_i})ᵀ; the trace via an explicit inverse."""
    n, d = h.shape
    mu = [sum(h[i, a] for i in range(n)) / n for a in range(d)]
    s_b, s_w = np.zeros((d, d)), np.zeros((d, d))
    for c in sorted(set(int(v) for v in y)):
        rows = [i for i in range(n) if y[i] == c]
        mc = [sum(h[i, a] for i in rows) / len(rows) for a in range(d)]
        for a in range(d):
            for b in range(d):
                s_b[a, b] += len(rows) * (mc[a] - mu[a]) * (mc[b] - mu[b])
                s_w[a, b] += sum((h[i, a] - mc[a]) * (h[i, b] - mc[b]) for i in rows)
    return float(np.trace(np.linalg.inv(s_w) @ s_b))


def _maxnorm_by_loops(w, t):
    """δ = min ‖w_c‖ + t (max ‖w_c‖ − min ‖w_c‖) over the rows; rows longer than δ scaled to length δ."""
    norms = [float(np.sqrt(sum(v * v for v in row))) for row in w]
    delta = min(norms) + t * (max(norms) - min(norms))
    out = np.array([row * (delta / nrm) if nrm > delta else row for row, nrm in zip(w, norms)])
    return delta, out


def reference_cases() -> list:
    def fdr(h, y):
        return {"fdr": np.array(fisher_discriminant_ratio(np.asarray(h), np.asarray(y)))}

    def proj(w, t):
        w = np.asarray(w, dtype=np.float64).copy()
        d = maxnorm_threshold(w, t)
        return {"delta": np.array(d), "w": maxnorm_project(w, d)}

    def cbw(counts, beta):
        return {"w": class_balanced_weights(counts, beta)}

    def etf_gram(num_classes, dim, seed):
        m = simplex_etf(int(num_classes), int(dim), int(seed))
        return {"gram": m @ m.T}

    def la(z, counts, tau):
        z = np.asarray(z, dtype=np.float64)
        return {
            "multiplicative": multiplicative_logit_adjustment(z, counts, float(tau)),
            "additive": additive_logit_adjustment(z, counts, float(tau)),
        }

    def fr(h):
        from ....autograd.tensor import Tensor

        return {"fr": feature_regularization(Tensor(np.asarray(h, dtype=np.float64)))}

    rng = np.random.default_rng(2210)
    ry = np.repeat(np.arange(3), 8)  # 24 samples, 3 classes of 8
    rh = (
        rng.normal(0.0, 1.0, size=(24, 4)) + np.array([[0.0, 0, 0, 0], [1.5, 0, 0.5, 0], [0, 1.0, 0, -1]])[ry]
    )
    rwc = rng.normal(0.0, 1.0, size=(10, 8)) * rng.uniform(0.3, 2.0, size=(10, 1))  # rows of unequal norm
    delta, projected = _maxnorm_by_loops(rwc, 0.3)
    random_cases = [
        ReferenceCase(
            "random_fdr_24x4_three_classes",
            {"h": rh, "y": ry},
            {"fdr": np.array(_fdr_by_loops(rh, ry))},
            fdr,
            function=f"{_PKG}.fisher_discriminant_ratio",
            note="explicit loops: class means and S_B = Σ_c n_c (μ_c − μ)(μ_c − μ)ᵀ, S_W = Σ_i (h_i − μ_{y_i})(…)ᵀ "
            "summed element by element, FDR = tr(inv(S_W) S_B) (h ~ N(class offset, 1), seed 2210)",
            atol=1e-10,
            rtol=1e-10,
            atol32=1e-5,
            rtol32=1e-4,
        ),
        ReferenceCase(
            "random_maxnorm_10x8_t0.3",
            {"w": rwc, "t": 0.3},
            {"delta": np.array(delta), "w": projected},
            proj,
            function=f"{_PKG}.maxnorm_project",
            note="explicit loops: row norms, δ = min + 0.3 (max − min), rows longer than δ scaled by δ/‖w_c‖ "
            "(rows N(0, 1)·U(0.3, 2), seed 2210; no row norm within 1e-2 of δ)",
            atol=1e-12,
            rtol=1e-12,
            atol32=1e-6,
            rtol32=1e-5,
        ),
    ]
    return [
        ReferenceCase(
            "fdr_1d",
            {"h": [[0.0], [2.0], [4.0], [6.0]], "y": [0, 0, 1, 1]},
            {"fdr": np.array(4.0)},
            fdr,
            function=f"{_PKG}.fisher_discriminant_ratio",
            note="by hand: class means 1, 5, global 3; S_W = 1+1+1+1 = 4, S_B = 2·4 + 2·4 = 16 → 16/4",
            atol=1e-12,
        ),
        ReferenceCase(
            "fdr_2d_is_trace_of_sw_inverse_sb",
            {"h": [[0.0, 0.0], [2.0, 1.0], [0.0, 3.0], [2.0, 2.0]], "y": [0, 0, 1, 1]},
            {"fdr": np.array(4.0)},
            fdr,
            function=f"{_PKG}.fisher_discriminant_ratio",
            note="by hand: μ_0 = (1, .5), μ_1 = (1, 2.5), μ = (1, 1.5); S_B = diag(0, 4); S_W = [[2,1],[1,.5]] + "
            "[[2,−1],[−1,.5]] = diag(4, 1) → tr(S_W⁻¹S_B) = 4 (the trace ratio tr S_B / tr S_W would be 0.8)",
            atol=1e-12,
        ),
        ReferenceCase(
            "maxnorm",
            {"w": [[3.0, 4.0], [0.0, 1.0], [0.6, 0.8]], "t": 0.5},
            {"delta": np.array(3.0), "w": np.array([[1.8, 2.4], [0.0, 1.0], [0.6, 0.8]])},
            proj,
            function=f"{_PKG}.maxnorm_project",
            note="by hand: row norms 5, 1, 1 → δ = 1 + 0.5·4 = 3; only row 0 rescaled by 3/5",
            atol=1e-12,
        ),
        ReferenceCase(
            "cb_weights_beta0.5",
            {"counts": [1, 2], "beta": 0.5},
            {"w": np.array([1.2, 0.8])},
            cbw,
            function=f"{_PKG}.class_balanced_weights",
            note="by hand: (1−β)/(1−β^n) = 0.5/0.5 = 1 and 0.5/0.75 = 2/3 → normalised to sum 2: [1.2, 0.8]",
            atol=1e-12,
        ),
        ReferenceCase(
            "simplex_etf_gram",
            {"num_classes": 3, "dim": 5, "seed": 0},
            {"gram": np.array([[1.0, -0.5, -0.5], [-0.5, 1.0, -0.5], [-0.5, -0.5, 1.0]])},
            etf_gram,
            function=f"{_PKG}.simplex_etf",
            note="by hand: M Mᵀ = C/(C−1)·(I − 11ᵀ/C) for any orthonormal U: 1 on the diagonal, −1/(C−1) off it",
            atol=1e-12,
        ),
        ReferenceCase(
            "logit_adjustments",
            {"z": [[1.0, 1.0]], "counts": [3, 1], "tau": 1.0},
            {
                "multiplicative": np.array([[4 / 3, 4.0]]),
                "additive": np.array([[1 - np.log(0.75), 1 - np.log(0.25)]]),
            },
            la,
            function=f"{_PKG}.multiplicative_logit_adjustment",
            note="by hand: π = (3/4, 1/4); multiplicative z·π^(−1) = (4/3, 4); additive z − log π",
            atol=1e-12,
        ),
        ReferenceCase(
            "feature_regularization",
            {"h": [[3.0, 4.0], [0.0, 1.0]]},
            {"fr": np.array(6.5)},
            fr,
            function=f"{_PKG}.feature_regularization",
            note="by hand: ‖h‖² = 25 and 1 → mean 13 → /2 = 6.5",
            atol=1e-12,
        ),
    ] + random_cases
