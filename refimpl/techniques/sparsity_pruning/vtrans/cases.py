"""Reference cases of VTrans's VIB masks: the KL term and α by hand, its gradient in closed form, the
reparametrised gate by hand and its sample mean / variance against the Gaussian's moments, and the
budget pruning step by hand."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from . import VIBGate, budget_prune_mask, sample_gates, snr, vib_kl

FN = "refimpl.techniques.sparsity_pruning.vtrans"


def _kl(mu, log_sigma2):
    return {"alpha": snr(mu, log_sigma2), "kl": np.array(vib_kl(mu, log_sigma2))}


def _kl_grad(mu, log_sigma2):
    g = VIBGate(len(mu), dtype=np.float64)
    g.mu.data = np.asarray(mu, dtype=np.float64)
    g.log_sigma2.data = np.asarray(log_sigma2, dtype=np.float64)
    k = g.kl()
    k.backward()
    return {"kl": np.array(k.data), "grad_mu": g.mu.grad, "grad_log_sigma2": g.log_sigma2.grad}


def _gate_eval(h, mu, mask):
    from ....autograd.tensor import Tensor

    g = VIBGate(len(mu), dtype=np.float64)
    g.mu.data = np.asarray(mu, dtype=np.float64)
    g.mask = np.asarray(mask, dtype=np.float64)
    g.eval()
    return {"out": g(Tensor(np.asarray(h, dtype=np.float64))).data}


def _moments(mu, log_sigma2, n, seed):
    eps = np.random.default_rng(seed).standard_normal((int(n), len(mu)))
    z = sample_gates(mu, log_sigma2, eps)
    return {"mean": z.mean(axis=0), "var": z.var(axis=0)}


def reference_cases() -> list:
    ln4 = float(np.log(4.0))
    # μ = (1, 2, 0), σ² = (1, 4, 1): α = (1, 1, 0), KL = ln 2 + ln 2 + ln 1 = ln 4
    mu, ls = [1.0, 2.0, 0.0], [0.0, ln4, 0.0]
    return [
        ReferenceCase(
            "alpha_and_kl_by_hand",
            {"mu": mu, "log_sigma2": ls},
            {"alpha": np.array([1.0, 1.0, 0.0]), "kl": np.array(ln4)},
            _kl,
            function=f"{FN}.vib_kl",
            note="by hand: α = μ²/σ² = (1/1, 4/4, 0/1); Σ log(1 + α) = 2 ln 2 = ln 4",
            atol=1e-12,
        ),
        ReferenceCase(
            "kl_gradient_closed_form",
            {"mu": [1.0, 2.0], "log_sigma2": [0.0, ln4]},
            {
                "kl": np.array(ln4),
                "grad_mu": np.array([1.0, 0.5]),
                "grad_log_sigma2": np.array([-0.5, -0.5]),
            },
            _kl_grad,
            function=f"{FN}.VIBGate",
            note="closed form: ∂/∂μ log(1 + μ²e^{−s}) = 2μe^{−s}/(1 + α) = (2·1·1/2, 2·2·¼/2); "
            "∂/∂s = −α/(1 + α) = −½ for α = 1",
            atol=1e-12,
        ),
        ReferenceCase(
            "gate_sample_by_hand",
            {"mu": [1.0, 0.5], "log_sigma2": [0.0, ln4], "eps": [[0.5, -1.0], [2.0, 0.25]]},
            {"z": np.array([[1.5, -1.5], [3.0, 1.0]])},
            lambda mu, log_sigma2, eps: {"z": sample_gates(mu, log_sigma2, eps)},
            function=f"{FN}.sample_gates",
            note="by hand: σ = (1, 2); z = μ + σε = (1 + 0.5, 0.5 − 2), (1 + 2, 0.5 + 0.5)",
            atol=1e-12,
        ),
        ReferenceCase(
            "gate_sample_moments",
            {"mu": [1.0, -0.5, 0.0], "log_sigma2": [np.log(0.04), 0.0, np.log(9.0)], "n": 200000, "seed": 7},
            {"mean": np.array([1.0, -0.5, 0.0]), "var": np.array([0.04, 1.0, 9.0])},
            _moments,
            function=f"{FN}.sample_gates",
            note="closed form: z ~ N(μ, σ²); 200 000 samples, tolerance ≈ 5 standard errors (σ²·√(2/n)·5 ≤ 0.15)",
            atol=0.15,
            rtol=0.0,
            atol32=0.15,
            rtol32=0.0,
        ),
        ReferenceCase(
            "gate_eval_is_mu_times_mask",
            {"h": [[1.0, 2.0, 3.0], [-1.0, 0.5, 4.0]], "mu": [0.5, 2.0, 1.0], "mask": [1.0, 1.0, 0.0]},
            {"out": np.array([[0.5, 4.0, 0.0], [-0.5, 1.0, 0.0]])},
            _gate_eval,
            function=f"{FN}.VIBGate",
            note="by hand: at evaluation z = μ, pruned structure (mask 0) outputs 0",
            atol=1e-12,
        ),
        ReferenceCase(
            "budget_prune_by_hand",
            {"alpha": [5.0, 0.1, 3.0, 0.2, 9.0], "alive": [1, 1, 0, 1, 1], "n_prune": 3},
            {"pruned": np.array([0.0, 1.0, 1.0, 1.0, 0.0])},
            lambda alpha, alive, n_prune: {"pruned": budget_prune_mask(alpha, alive, n_prune).astype(float)},
            function=f"{FN}.budget_prune_mask",
            note="by hand: index 2 already pruned; 2 more = the two smallest alive α (0.1 at 1, 0.2 at 3)",
            atol=0.0,
            conventions={"ranking": "global over all gated structures, ties by index; pruned stay pruned"},
        ),
    ]
