"""Reference cases of Jacobian homeostasis and generalized EP: the asymmetry penalty, its one-draw estimator
and the symmetry index of a 2×2 Jacobian by hand; and, on a 3-3-2-2 network, the EP estimates and the
implicit-differentiation gradient against central finite differences of the relaxed loss, computed with a
fixed-point loop written out in this file (not the library's)."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from . import ep_gradient, homeostatic_loss, jacobian_asymmetry, relax, symmetry_index, true_gradient

_PATH = "refimpl.techniques.optimizers_training_rules.ep_jacobian_homeostasis"

_J = [[-1.0, 0.5], [-0.3, -1.0]]
_EPS = [[1.0, 2.0]]

# a 3-input, 3-hidden, 2-output-state, 2-class network; B = W2ᵀ (symmetric) or an independent B
_W1 = [[0.5, -0.3, 0.2], [0.1, 0.4, -0.6], [-0.2, 0.3, 0.1]]
_B1 = [0.1, -0.1, 0.05]
_W2 = [[0.7, -0.5, 0.3], [-0.4, 0.6, 0.8]]
_B_ASYM = [[-0.6, 0.2], [0.5, 0.3], [0.1, -0.7]]
_B2 = [0.0, 0.2]
_R = [[1.0, -0.5], [-0.8, 0.9]]
_C = [0.1, -0.1]
_X = [[1.0, 0.0, 0.5], [0.2, 0.9, 0.4]]
_Y = [1, 0]


def _params(B):
    p = {"W1": _W1, "b1": _B1, "B": B, "W2": _W2, "b2": _B2, "R": _R, "c": _C}
    return {k: np.array(v, dtype=np.float64) for k, v in p.items()}


def _fd_gradient(p, x, y, h=1e-6):
    """Central differences of ℓ(θ) = mean CE at the fixed point, from a loop written out here: h ← W1 x + b1
    + B σ(o), o ← W2 σ(h) + b2 (600 steps), logits = R σ(o) + c."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y)

    def loss(q):
        s = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
        hh, oo = np.zeros((len(x), 3)), np.zeros((len(x), 2))
        for _ in range(600):
            hh, oo = x @ q["W1"].T + q["b1"] + s(oo) @ q["B"].T, s(hh) @ q["W2"].T + q["b2"]
        z = s(oo) @ q["R"].T + q["c"]
        z = z - z.max(1, keepdims=True)
        return float(np.mean(np.log(np.exp(z).sum(1)) - z[np.arange(len(y)), y]))

    out = {}
    for k, v in p.items():
        g = np.zeros_like(v)
        for i in np.ndindex(v.shape):
            q = {kk: vv.copy() for kk, vv in p.items()}
            q[k][i] += h
            a = loss(q)
            q[k][i] -= 2 * h
            g[i] = (a - loss(q)) / (2 * h)
        out[k] = g
    return out


def _penalty(J, eps):
    return {
        "asymmetry": jacobian_asymmetry(J),
        "one_draw": homeostatic_loss(J, eps),
        "symmetry_index": symmetry_index(J),
    }


def _ep(params, x, y, beta, N):
    p = {k: np.array(v, dtype=np.float64) for k, v in params.items()}
    x = np.asarray(x, dtype=np.float64)
    u = relax(p, x, np.asarray(y), 0.0, 400)
    if N == 0:
        return true_gradient(p, u, x, np.asarray(y))
    return ep_gradient(p, u, x, np.asarray(y), beta, N, 400)


def reference_cases() -> list:
    sym = {k: v.tolist() for k, v in _params(np.array(_W2).T).items()}
    asym = {k: v.tolist() for k, v in _params(_B_ASYM).items()}
    fd_sym = _fd_gradient(_params(np.array(_W2).T), _X, _Y)
    fd_asym = _fd_gradient(_params(_B_ASYM), _X, _Y)
    conv = {
        "dynamics": "u ← u + F(u): h = W1 x + b1 + B σ(o), o = W2 σ(h) + b2 (+ β ∂ℓ/∂σ(o)); σ logistic",
        "loss": "softmax cross-entropy of R σ(o) + c, mean over the batch; gradient = batch mean",
        "nudge": "β added to the output field times ∂ℓ/∂σ(o) (the official code's sign)",
    }
    return [
        ReferenceCase(
            name="homeostasis_penalty_2x2",
            inputs={"J": _J, "eps": _EPS},
            expected={
                "asymmetry": 0.32,
                "one_draw": 0.92,
                "symmetry_index": np.sqrt(2.02) / (np.sqrt(2.02) + np.sqrt(0.32)),
            },
            compute=_penalty,
            function=f"{_PATH}.homeostatic_loss",
            note="J − Jᵀ = [[0, 0.8], [−0.8, 0]]: ‖J − Jᵀ‖²/(2n) = 1.28/4 = 0.32.  One draw ε = (1, 2): Jε = "
            "(0, −2.3), ‖Jε‖² = 5.29, J(Jε) = (−1.15, 2.3), εᵀJ²ε = 3.45, (5.29 − 3.45)/2 = 0.92.  Symmetric "
            "part [[−1, 0.1], [0.1, −1]] (norm √2.02), antisymmetric [[0, 0.4], [−0.4, 0]] (norm √0.32).",
            atol=1e-12,
            conventions={"normalisation": "divided by n = 2 (the state size), as homeo_loss does"},
        ),
        ReferenceCase(
            name="holomorphic_ep_equals_gradient_symmetric",
            inputs={"params": sym, "x": _X, "y": _Y, "beta": 0.1, "N": 4},
            expected=fd_sym,
            compute=_ep,
            function=f"{_PATH}.ep_gradient",
            note="B = W2ᵀ: with a symmetric Jacobian generalized EP is the gradient; N = 4 complex nudges of "
            "modulus 0.1 leave an O(β⁴) error (~1e-6 here).  Expected: central differences (h = 1e-6) of the relaxed loss.",
            atol=2e-6,
            conventions=conv,
        ),
        ReferenceCase(
            name="implicit_gradient_asymmetric",
            inputs={"params": asym, "x": _X, "y": _Y, "beta": 0.0, "N": 0},
            expected=fd_asym,
            compute=_ep,
            function=f"{_PATH}.true_gradient",
            note="Independent feedback B: the implicit-differentiation gradient δ = −J_u^{−ᵀ} D e (N = 0 "
            "selects it) against central differences of the relaxed loss.",
            atol=1e-7,
            conventions=conv,
        ),
    ]
