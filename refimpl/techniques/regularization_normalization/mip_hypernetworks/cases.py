"""Reference cases of MIP: the constant-norm encoding, θ = θ₀ when the residual branch is silenced, and the
toy's mixed loss for a network that outputs zero — each worked by hand; and medium-size random cases (the
hypernetwork's forward pass with explicit weights, the mixed loss of a random primary network) computed by
explicit loops."""

from __future__ import annotations

import math

import numpy as np

from ....autograd.tensor import Tensor, no_grad
from ....catalog import ReferenceCase
from . import N_PRIMARY, HyperNet, encode

_PKG = "refimpl.techniques.regularization_normalization.mip_hypernetworks"


def _leaky(v):
    return v if v > 0 else 0.01 * v


def _hypernet_by_loops(gamma, w0, b0, w1, b1, w2, b2):
    """θ(γ) = W₂ h₂ + b₂, h₂ = LeakyReLU₀.₀₁(W₁ h₁ + b₁), h₁ = LeakyReLU₀.₀₁(W₀ E(γ) + b₀), E(γ) = [cos πγ/2,
    sin πγ/2], every product summed term by term (independent of the code under test)."""
    e = [np.cos(np.pi * gamma / 2), np.sin(np.pi * gamma / 2)]
    h = e
    for w, b in ((w0, b0), (w1, b1)):
        h = [_leaky(b[o] + sum(w[o, i] * h[i] for i in range(len(h)))) for o in range(w.shape[0])]
    return np.array([b2[o] + sum(w2[o, i] * h[i] for i in range(len(h))) for o in range(w2.shape[0])])


def _mixed_loss_by_loops(theta, x, y, gamma):
    """(1 − γ)·mean((f − y)²) + γ·mean(((f_{k+1} − f_k)/Δx)²) for the 1-16-16-1 tanh MLP whose flat θ is
    w1 (16, 1), b1 (16), w2 (16, 16), b2 (16), w3 (1, 16), b3 (1), in that order, each row-major."""
    w1, b1 = theta[0:16].reshape(16, 1), theta[16:32]
    w2, b2 = theta[32:288].reshape(16, 16), theta[288:304]
    w3, b3 = theta[304:320].reshape(1, 16), theta[320:321]
    f = []
    for xi in x[:, 0]:
        h1 = [np.tanh(w1[o, 0] * xi + b1[o]) for o in range(16)]
        h2 = [np.tanh(sum(w2[o, i] * h1[i] for i in range(16)) + b2[o]) for o in range(16)]
        f.append(sum(w3[0, i] * h2[i] for i in range(16)) + b3[0])
    n, dx = len(f), x[1, 0] - x[0, 0]
    mse = sum((f[i] - y[i, 0]) ** 2 for i in range(n)) / n
    smooth = sum(((f[i + 1] - f[i]) / dx) ** 2 for i in range(n - 1)) / (n - 1)
    return (1 - gamma) * mse + gamma * smooth


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

    def forward(gamma, w0, b0, w1, b1, w2, b2):
        ws = [np.asarray(a, dtype=np.float64) for a in (w0, b0, w1, b1, w2, b2)]
        net = HyperNet(encoding=True, residual=True, hidden=(ws[0].shape[0], ws[2].shape[0]), rng=0)
        for lin, w, b in zip(net.layers, ws[0::2], ws[1::2]):
            lin.weight.data[...], lin.bias.data[...] = w, b
        with no_grad():
            return {"theta": net(float(gamma)).data}

    def random_loss(theta, x, y, gamma):
        from .experiment import mixed_loss

        loss = mixed_loss(
            Tensor(np.asarray(theta, dtype=np.float64)), np.asarray(x), np.asarray(y), float(gamma)
        )
        return {"loss": np.asarray(loss.data)}

    rng = np.random.default_rng(2212)
    net_w = {
        "w0": rng.normal(0.0, 1.0, size=(16, 2)),
        "b0": rng.normal(0.0, 0.1, size=16),
        "w1": rng.normal(0.0, 0.35, size=(16, 16)),
        "b1": rng.normal(0.0, 0.1, size=16),
        "w2": rng.normal(0.0, 0.25, size=(N_PRIMARY, 16)),
        "b2": rng.normal(0.0, 0.5, size=N_PRIMARY),  # θ₀, the residual's base weights
    }
    theta = rng.normal(0.0, 0.5, size=N_PRIMARY)
    xg = np.linspace(-1.0, 1.0, 12).reshape(12, 1)
    yg = np.sin(2.0 * xg) + rng.normal(0.0, 0.1, size=(12, 1))
    random_cases = [
        ReferenceCase(
            f"random_hypernet_forward_gamma{g}",
            {"gamma": g, **net_w},
            {"theta": _hypernet_by_loops(g, **net_w)},
            forward,
            function=f"{_PKG}.HyperNet",
            note="explicit loops: E(γ) = [cos πγ/2, sin πγ/2] → 16 → 16 (LeakyReLU slope 0.01) → 321 outputs, "
            "θ = W₂h₂ + b₂ (MIP: b₂ is θ₀); layer weights in PyTorch layout (out, in), all given as inputs "
            "(random normal, seed 2212)",
            atol=1e-10,
            rtol=1e-10,
            atol32=1e-5,
            rtol32=1e-4,
        )
        for g in (0.3, 0.85)
    ] + [
        ReferenceCase(
            "random_primary_mixed_loss_12_points",
            {"theta": theta, "x": xg, "y": yg, "gamma": 0.4},
            {"loss": np.array(_mixed_loss_by_loops(theta, xg, yg, 0.4))},
            random_loss,
            function=f"{_PKG}.experiment.mixed_loss",
            note="explicit loops: the primary 1-16-16-1 tanh MLP unpacked from θ (w1, b1, w2, b2, w3, b3, row-major), "
            "f at 12 grid points x ∈ [−1, 1], L = (1 − 0.4)·mean((f − y)²) + 0.4·mean((Δf/Δx)²) over the 11 "
            "forward differences (θ ~ N(0, 0.5²), y = sin 2x + noise, seed 2212)",
            atol=1e-10,
            rtol=1e-10,
            atol32=1e-5,
            rtol32=1e-4,
        ),
    ]
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
    ] + random_cases
