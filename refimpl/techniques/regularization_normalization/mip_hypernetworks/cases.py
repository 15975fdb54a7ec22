"""Reference cases of MIP: the constant-norm encoding, θ = θ₀ when the residual branch is silenced, and the
toy's mixed loss for a network that outputs zero — each worked by hand."""

from __future__ import annotations

import math

import numpy as np

from ....autograd.tensor import Tensor, no_grad
from ....catalog import ReferenceCase
from . import N_PRIMARY, HyperNet, encode

_PKG = "refimpl.techniques.regularization_normalization.mip_hypernetworks"


def reference_cases() -> list:
    def enc(gamma):
        e = encode(np.asarray(gamma))
        return {"encoding": e, "norm": np.linalg.norm(e, axis=-1)}

    def zero_output(seed, gamma):
        net = HyperNet(encoding=True, residual=True, rng=int(seed))
        theta0 = net.layers[-1].bias.data.copy()
        net.layers[-1].weight.data[...] = 0.0  # the residual branch h(E(γ)) outputs zero
        with no_grad():
            return {"theta_minus_theta0": np.abs(net(float(gamma)).data - theta0).max()}

    def zero_network_loss(x, y, gamma):
        from .experiment import mixed_loss

        return {
            "loss": np.asarray(
                mixed_loss(Tensor(np.zeros(N_PRIMARY)), np.asarray(x), np.asarray(y), gamma).data
            )
        }

    r = math.sqrt(0.5)
    return [
        ReferenceCase(
            "encoding",
            {"gamma": [0.0, 0.5, 1.0]},
            {"encoding": np.array([[1.0, 0.0], [r, r], [0.0, 1.0]]), "norm": np.ones(3)},
            enc,
            function=f"{_PKG}.encode",
            note="by hand: cos/sin of 0, π/4, π/2",
            atol=1e-12,
        ),
        ReferenceCase(
            "zero_residual_returns_theta0",
            {"seed": 0, "gamma": 0.3},
            {"theta_minus_theta0": np.array(0.0)},
            zero_output,
            function=f"{_PKG}.HyperNet",
            note="with a zero output weight the MIP hypernetwork returns its output bias θ₀ exactly",
            atol=0.0,
        ),
        ReferenceCase(
            "mixed_loss_of_a_zero_network",
            {"x": [[0.0], [1.0]], "y": [[1.0], [3.0]], "gamma": 0.25},
            {"loss": np.array(0.75 * 5.0)},
            zero_network_loss,
            function=f"{_PKG}.experiment.mixed_loss",
            note="by hand: f ≡ 0, so MSE = (1 + 9)/2 = 5 and the smoothness term is 0; L = (1 − 0.25)·5",
            atol=1e-12,
        ),
    ]
