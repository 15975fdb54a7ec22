"""Reference cases of loss-based reweighting, worked by hand from the official trainer's formulas: the
CATALOGUE's LinUpper case, Quadratic and Extremes on the same losses, a batch of equal losses (the 1e-6
guard: uniform weights), and the gradient of the reweighted loss of a scalar model."""

from __future__ import annotations

import numpy as np

from . import loss_weights, reweighted_loss

_MOD = "refimpl.techniques.data_weighting_selection.loss_based_reweighting"
E = np.e


def reference_cases() -> list:
    from ....autograd.tensor import Tensor
    from ....catalog import ReferenceCase

    def weights_case(losses, strategy, delta, tau):
        return {"w": loss_weights(np.asarray(losses), strategy, delta, tau)}

    def grad_case(theta, x, y, strategy, delta, tau):
        t = Tensor(np.array(theta, dtype=np.float64), requires_grad=True)
        per = (t * Tensor(np.asarray(x, np.float64)) - Tensor(np.asarray(y, np.float64))) ** 2
        loss = reweighted_loss(per, strategy, delta, tau)
        loss.backward()
        return {"loss": loss.data, "grad": t.grad}

    conv = {"scheme": "h = δ(2ℓ − ℓmax − ℓmin)/max(ℓmax − ℓmin, 1e-6); w = softmax(f(h)/τ) over the batch"}
    return [
        ReferenceCase(
            "linupper_1_2_3",
            {"losses": np.array([1.0, 2.0, 3.0]), "strategy": "linupper", "delta": 1.0, "tau": 1.0},
            {"w": np.array([1.0, E, E]) / (1.0 + 2.0 * E)},
            weights_case,
            note="h = (−1, 0, 1); f = min(h+1, 1) = (0, 1, 1); w = (1, e, e)/(1 + 2e) = (0.155362, 0.422319, "
            "0.422319)",
            function=f"{_MOD}.loss_weights",
            conventions=conv,
        ),
        ReferenceCase(
            "quadratic_1_2_3_tau_half",
            {"losses": np.array([1.0, 2.0, 3.0]), "strategy": "quadratic", "delta": 1.0, "tau": 0.5},
            {"w": np.array([1.0, E**2, 1.0]) / (2.0 + E**2)},
            weights_case,
            note="h = (−1, 0, 1); f = 1 − h² = (0, 1, 0); f/τ = (0, 2, 0); w = (1, e², 1)/(2 + e²)",
            function=f"{_MOD}.loss_weights",
            conventions=conv,
        ),
        ReferenceCase(
            "extremes_0_1_4_delta_2",
            {"losses": np.array([0.0, 1.0, 4.0]), "strategy": "extremes", "delta": 2.0, "tau": 1.0},
            {"w": np.array([E**2, E**1, E**2]) / (2.0 * E**2 + E)},
            weights_case,
            note="h = 2·(2ℓ − 4)/4 = (−2, −1, 2); f = |h| = (2, 1, 2); w = (e², e, e²)/(2e² + e)",
            function=f"{_MOD}.loss_weights",
            conventions=conv,
        ),
        ReferenceCase(
            "linupper_equal_losses",
            {"losses": np.array([0.7, 0.7, 0.7, 0.7]), "strategy": "linupper", "delta": 1.0, "tau": 0.5},
            {"w": np.full(4, 0.25)},
            weights_case,
            note="ℓmax − ℓmin = 0 → guard 1e-6, h = 0 for all: f equal, w uniform = 1/4",
            function=f"{_MOD}.loss_weights",
            conventions=conv,
        ),
        ReferenceCase(
            "reweighted_loss_grad_scalar_model",
            {
                "theta": 0.0,
                "x": np.array([1.0, 2.0]),
                "y": np.array([1.0, 3.0]),
                "strategy": "linupper",
                "delta": 1.0,
                "tau": 1.0,
            },
            {
                "loss": np.array((1.0 + 9.0 * E) / (1.0 + E)),
                "grad": np.array((-2.0 - 12.0 * E) / (1.0 + E)),
            },
            grad_case,
            note="ℓᵢ = (θxᵢ − yᵢ)² at θ = 0: ℓ = (1, 9), h = (−1, 1), f = (0, 1), w = (1, e)/(1 + e) (detached); "
            "loss = (1 + 9e)/(1 + e) = 6.849; ∂ℓᵢ/∂θ = 2xᵢ(θxᵢ − yᵢ) = (−2, −12) → grad = (−2 − 12e)/(1 + e) "
            "= −9.311 (no term from ∂w/∂θ)",
            function=f"{_MOD}.reweighted_loss",
            conventions={**conv, "gradient": "weights detached: ∇ Σ wᵢℓᵢ = Σ wᵢ ∇ℓᵢ"},
        ),
    ]
