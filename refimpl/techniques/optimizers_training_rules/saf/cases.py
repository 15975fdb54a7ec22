"""Reference cases of SAF (the KL, the trajectory loss and its gradient, the memory bank) and of the SAM
step it replaces, worked by hand; medium-size random cases computed by explicit loops and closed forms."""

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


def _softmax_rows(z):
    out = []
    for row in z:
        top = max(row)
        e = [np.exp(v - top) for v in row]
        out.append([v / sum(e) for v in e])
    return np.array(out)


def _kl_rows(p, q):
    return np.array([sum(pc * np.log(pc / qc) for pc, qc in zip(pr, qr) if pc > 0) for pr, qr in zip(p, q)])


def reference_cases() -> list:
    e = 0.5 / np.sqrt(17.0)
    rng = np.random.default_rng(2214)
    rp = _softmax_rows(rng.normal(0.0, 1.5, size=(12, 10)))
    rq = _softmax_rows(rng.normal(0.0, 1.5, size=(12, 10)))
    logits = rng.normal(0.0, 2.0, size=(12, 10))
    past = logits + rng.normal(0.0, 1.0, size=(12, 10))  # the logits of E epochs ago, nearby
    p_old, q_now = _softmax_rows(past / 2.0), _softmax_rows(logits / 2.0)
    sw, sc = rng.normal(0.0, 1.0, size=16), rng.uniform(0.1, 3.0, size=16)
    sg = sc * sw
    random_cases = [
        ReferenceCase(
            "random_kl_12x10",
            {"p": rp, "q": rq},
            {"kl": _kl_rows(rp, rq)},
            _kl,
            function=f"{_PATH}.kl_divergence",
            note="explicit sums per row: KL = Σ_c p_c ln(p_c/q_c); p, q softmax of N(0, 1.5²) logits (seed 2214)",
            atol=1e-12,
            rtol=1e-10,
            atol32=1e-5,
            rtol32=1e-4,
        ),
        ReferenceCase(
            "random_trajectory_loss_12x10_tau2",
            {"logits": logits, "past": past, "tau": 2.0},
            {"loss": 4.0 * float(np.mean(_kl_rows(p_old, q_now))), "grad": 2.0 * (q_now - p_old) / 12},
            _trajectory,
            function=f"{_PATH}.trajectory_loss",
            note="closed form: p = softmax(past/τ), q = softmax(logits/τ) row by row; loss = τ²·mean_i KL(p_i ‖ q_i); "
            "gradient w.r.t. the logits τ(q − p)/N (N = 12, τ = 2) (logits ~ N(0, 2²), past = logits + N(0, 1), "
            "seed 2214)",
            atol=1e-12,
            rtol=1e-10,
            atol32=1e-5,
            rtol32=1e-4,
        ),
        ReferenceCase(
            "random_sam_gradient_diagonal_quadratic_16",
            {"w": sw, "curvature": sc, "rho": 0.05},
            {"g_sam": sc * (sw + 0.05 * sg / np.sqrt(np.sum(sg**2)))},
            _sam,
            function=f"{_PATH}.sam_gradient",
            note="closed form for L = ½ Σ_k c_k w_k²: g = c ⊙ w, ε̂ = ρ g/‖g‖, g_SAM = c ⊙ (w + ε̂) (ρ = 0.05; w ~ N(0, 1), "
            "c ~ U(0.1, 3), seed 2214)",
            atol=1e-12,
            rtol=1e-10,
            atol32=1e-5,
            rtol32=1e-4,
        ),
    ]
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
    ] + random_cases
