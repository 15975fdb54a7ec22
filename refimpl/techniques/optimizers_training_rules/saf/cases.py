"""Reference cases of SAF (the KL, the trajectory loss and its gradient, the memory bank) and of the SAM
step it replaces, worked by hand."""

from __future__ import annotations

import numpy as np

from ....autograd.tensor import Tensor
from ....catalog import ReferenceCase
from . import LogitMemory, kl_divergence, sam_gradient, trajectory_loss

_PATH = "refimpl.techniques.optimizers_training_rules.saf"


def _kl(p, q):
    return {"kl": kl_divergence(p, q)}


def _trajectory(logits, past, tau):
    z = Tensor(np.asarray(logits, dtype=np.float64), requires_grad=True)
    loss = trajectory_loss(z, np.asarray(past, dtype=np.float64), tau)
    loss.backward()
    return {"loss": loss, "grad": z.grad}


def _memory(E, epochs, read_epoch):
    mem = LogitMemory(4, 2, E=int(E), dtype=np.float64)
    for e in range(int(epochs)):
        mem.record([1, 2], e, np.array([[e, -e], [10 + e, 0.0]], dtype=np.float64))
    return {"past": mem.past([1, 2], int(read_epoch))}


def _sam(w, curvature, rho):
    """L(w) = ½ Σ_k c_k w_k² (a diagonal quadratic), its SAM gradient at `w`."""
    from ....nn import Module, Parameter

    class _W(Module):
        def __init__(self):
            super().__init__()
            self.w = Parameter(np.asarray([w], dtype=np.float64))

        def forward(self, x):
            return self.w

    half_c = Tensor(0.5 * np.asarray([curvature], dtype=np.float64))

    def loss(out, y):
        return ((out * out) * half_c).sum()

    _, (g,) = sam_gradient(_W(), loss, np.zeros((1, 1)), None, rho=float(rho))
    return {"g_sam": g.ravel()}


def reference_cases() -> list:
    e = 0.5 / np.sqrt(17.0)
    return [
        ReferenceCase(
            "kl_hand",
            {"p": [0.5, 0.5], "q": [0.9, 0.1]},
            {"kl": 0.5 * np.log(0.5 / 0.9) + 0.5 * np.log(0.5 / 0.1)},
            _kl,
            function=f"{_PATH}.kl_divergence",
            note="By hand: 0.5 ln(0.5/0.9) + 0.5 ln(0.5/0.1) = 0.510826.",
            atol=1e-12,
        ),
        ReferenceCase(
            "trajectory_loss_and_gradient",
            {"logits": [[0.0, 0.0]], "past": [[2 * np.log(9.0), 0.0]], "tau": 2.0},
            {
                "loss": 4.0 * (0.9 * np.log(0.9 / 0.5) + 0.1 * np.log(0.1 / 0.5)),
                "grad": [[2.0 * (0.5 - 0.9), 2.0 * (0.5 - 0.1)]],
            },
            _trajectory,
            function=f"{_PATH}.trajectory_loss",
            note="p = softmax([2 ln 9, 0]/2) = [0.9, 0.1], q = softmax(0) = [0.5, 0.5]; loss = τ²·KL(p ‖ q) "
            "= 4 × 0.368064; gradient τ(q − p) = 2·[−0.4, 0.4] (batch of one).",
            atol=1e-12,
        ),
        ReferenceCase(
            "memory_returns_E_epochs_ago",
            {"E": 3, "epochs": 6, "read_epoch": 5},
            {"past": [[2.0, -2.0], [12.0, 0.0]]},
            _memory,
            function=f"{_PATH}.LogitMemory",
            note="Records at epochs 0..5 with logits [e, −e] / [10+e, 0]; at epoch 5 with E = 3 the bank returns "
            "epoch 2's logits (slot 2 = 2 mod 4, not yet overwritten).",
            atol=0,
        ),
        ReferenceCase(
            "sam_gradient_quadratic",
            {"w": [1.0, 1.0], "curvature": [1.0, 4.0], "rho": 0.5},
            {"g_sam": [1.0 + e, 4.0 * (1.0 + 4.0 * e)]},
            _sam,
            function=f"{_PATH}.sam_gradient",
            note="L = ½(w₁² + 4w₂²) at w = [1,1]: g = [1, 4], ‖g‖ = √17, ε̂ = 0.5[1,4]/√17; "
            "g_SAM = [w₁+ε₁, 4(w₂+ε₂)] = [1 + 0.5/√17, 4(1 + 2/√17)].",
            atol=1e-12,
        ),
    ]
