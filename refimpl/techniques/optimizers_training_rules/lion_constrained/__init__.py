r"""Lion with decoupled weight decay solves a box-constrained problem; Lion-𝒦 and its Lyapunov function.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.
Lion itself: Chen et al., *Symbolic Discovery of Optimization Algorithms*, arXiv 2302.06675; its
official code is google/automl ``lion/lion_pytorch.py`` (cited as "automl L<n>" on the lines below).

The idea
--------
Lion keeps one momentum m and moves every weight by ±η (the *sign* of an interpolation between
momentum and gradient) plus decoupled weight decay λ:

.. math::

    c_t &= \beta_1 m_{t-1} + (1-\beta_1)\, g_t                                  \\
    x_t &= x_{t-1} - \eta\,\big(\mathrm{sign}(c_t) + \lambda\, x_{t-1}\big)       \\
    m_t &= \beta_2 m_{t-1} + (1-\beta_2)\, g_t

Replace sign by the (sub)gradient ∇𝒦 of any convex 𝒦 and you get **Lion-𝒦**.  The paper's claim is
that Lion-𝒦 with weight decay λ minimises the composite objective

.. math:: F(x) = \alpha f(x) + \frac{\gamma}{\lambda}\,\mathcal K^*(\lambda x)

with 𝒦* the convex conjugate.  For Lion, 𝒦 = ‖·‖₁ and 𝒦* is the indicator of the unit ℓ∞ ball, so
Lion solves **min f(x) subject to ‖x‖∞ ≤ 1/λ**.  Other choices: 𝒦 = ‖·‖₂ (∇𝒦 = c/‖c‖) gives the ℓ₂
ball ‖x‖₂ ≤ 1/λ; 𝒦 = ½‖·‖² (∇𝒦 = identity: heavy-ball momentum with decoupled decay) gives the ridge
penalty (λ/2)‖x‖² (for α = γ).

Why the box (derived, discrete time)
------------------------------------
Per coordinate the step is x' = (1 − ηλ)x − η s with s ∈ {−1, 0, 1}, so for ηλ ≤ 1

.. math:: \lambda|x'| - 1 \le (1-\eta\lambda)\lambda|x| + \eta\lambda - 1 = (1-\eta\lambda)(\lambda|x| - 1).

The excess e = λ‖x‖∞ − 1 contracts by (1 − ηλ) every step while positive (phase 1: the box is
reached geometrically), and once e ≤ 0 it stays ≤ 0 (the box is invariant), whatever the gradients.
Inside the box a coordinate can rest only where the time-averaged sign equals −λx: an interior
coordinate needs the gradient to change sign there (∂f/∂x_i ≈ 0), a coordinate at +1/λ needs
sign(c) = −1 throughout (the gradient pushes outwards) — the KKT conditions of the box problem.
The same reading for 𝒦 = ½‖·‖² gives the fixed point ∇f(x) + λx = 0, the ridge minimiser.

The Lyapunov function (reconstructed; checked numerically)
----------------------------------------------------------
The analysis is through the continuous-time limit, with the paper's (negative-gradient) momentum
:math:`\tilde m = -m`:

.. math::

    \dot x = \nabla\mathcal K\big(\tilde m - \varepsilon(\alpha\nabla f(x) + \gamma \tilde m)\big) - \lambda x,
    \qquad \dot{\tilde m} = -\alpha\nabla f(x) - \gamma\tilde m

and the Lyapunov function

.. math::

    H(x, \tilde m) = \alpha f(x) + \frac{\gamma}{\lambda}\mathcal K^*(\lambda x)
        + \frac{1 - \varepsilon\lambda}{1 + \varepsilon\lambda}
          \Big(\mathcal K^*(\lambda x) + \mathcal K(\tilde m) - \lambda\, \tilde m^\top x\Big),

non-increasing along the ODE (the bracket is ≥ 0 by Fenchel–Young).  Discrete Lion is the Euler step
of this ODE with step η and α = γ = (1−β₂)/η, ε = η(1−β₁)/(1−β₂): matching the two updates term by
term, x + η(∇𝒦(m̃ − ε(α g + γ m̃)) − λx) with these constants is exactly Lion's step
(`ode_constants`; a test checks the identity).

What is simplified / deviations
-------------------------------
* The paper's experiments (ImageNet, GPT-2) become a linear regression whose unconstrained
  least-squares solution lies outside the box, and a digits MLP (`experiment.py`).
* The paper's full text and any code of the authors' Lion-𝒦 could not be read in this pass (only the
  abstract and summaries of it): the ODE, F(x) and H above are reconstructed from the paper's stated
  results.  H is **verified numerically** in the tests — it decreases monotonically along a fine RK4
  integration of the ODE for 𝒦 = ½‖·‖² and a smoothed ℓ₂ norm, and a wrong H (the (γ/λ)𝒦* term
  dropped) fails the same check.  The equation numbers of the paper are therefore not cited; formula
  lines cite the Lion update's official code or name the formula.
* Along *discrete* Lion iterates H is not exactly monotone (sign updates chatter at scale η).
* For 𝒦 = ‖·‖₂, ∇𝒦 acts on each parameter tensor as a whole (the ball is per tensor).

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/optimizers-training-rules/lion-constrained.ipynb
"""

from __future__ import annotations

import numpy as np

from ....optim.optimizer import Optimizer, check_nonnegative, check_positive, check_unit_interval

CATALOG_ENTRY = {
    "slug": "lion-constrained",
    "title": "Lion Secretly Solves Constrained Optimization: As Lyapunov Predicts",
    "authors": "Lizhang Chen, Bo Liu, Kaizhao Liang, Qiang Liu",
    "year": 2023,
    "arxiv": "2310.05898",
    "family": "optimizers-training-rules",
    "notebook": "notebooks/optimizers-training-rules/lion-constrained.ipynb",
    "verified": "reconstructed",
    "verification_note": "The Lion step (K = ‖·‖₁) checked line by line against the Lion paper's official code, "
    "google/automl lion/lion_pytorch.py: decoupled decay x·(1 − ηλ) L66, c = β1 m + (1−β1) g L79, "
    "x −= η sign(c) L81, m = β2 m + (1−β2) g L84, defaults β = (0.9, 0.99) L23; the same order in "
    "co-author K. Liang's kyleliang919/distributed-lion-pytorch distributed_lion.py `update_fn`; plus a "
    "hand step and a float64 torch cross-check. No code of the Lion-K paper was found (no Lion-K "
    "repository of the authors in the index) and only its abstract and third-party summaries were "
    "readable: the Lion-K ODE, F(x) = αf + (γ/λ)K*(λx) and the Lyapunov function H are reconstructed "
    "from its stated results (equation numbers not confirmed). H's monotone decrease is verified "
    "numerically on an RK4 integration (with a wrong-H control); the constrained optima against "
    "independent projected-gradient / closed-form solvers.",
    "summary": "Lion (sign momentum + decoupled weight decay λ) minimises f subject to ‖x‖∞ ≤ 1/λ; replacing sign "
    "by ∇K of a convex K (Lion-K) minimises αf(x) + (γ/λ)K*(λx), e.g. an ℓ2-ball constraint for "
    "K = ‖·‖₂ or a ridge penalty for K = ½‖·‖²; a Lyapunov function certifies the dynamics.",
    "equations": [
        "c_t = β1 m_{t−1} + (1−β1) g_t;  x_t = x_{t−1} − η(∇K(c_t) + λ x_{t−1});  m_t = β2 m_{t−1} + (1−β2) g_t",
        "K = ‖·‖₁ (∇K = sign, Lion): min f(x) s.t. ‖x‖∞ ≤ 1/λ;  general: min αf(x) + (γ/λ) K*(λx)",
        "box: λ‖x_t‖∞ − 1 ≤ (1 − ηλ)(λ‖x_{t−1}‖∞ − 1)  (ηλ ≤ 1)",
        "H(x, m̃) = αf(x) + (γ/λ)K*(λx) + (1−ελ)/(1+ελ)·(K*(λx) + K(m̃) − λ m̃ᵀx),  m̃ = −m",
    ],
}

__all__ = [
    "K_FUNCTIONS",
    "grad_K",
    "K_value",
    "K_conjugate",
    "lion_step",
    "box_excess",
    "Lion",
    "LionK",
    "ode_constants",
    "lyapunov",
]


# --- the convex functions 𝒦 ------------------------------------------------------------------------
def _sign(m):
    return np.sign(m)


def _normalise(m):
    n = np.linalg.norm(m)
    return m / n if n > 0 else np.zeros_like(m)


K_FUNCTIONS = {
    # name: (K(m), ∇K(m), K*(y)) ; K*(y) = sup_m <m, y> − K(m)
    "l1": (
        lambda m: float(np.abs(m).sum()),
        _sign,
        lambda y: 0.0 if np.abs(y).max(initial=0.0) <= 1 + 1e-12 else np.inf,
    ),  # ‖y‖∞ ≤ 1
    "l2": (
        lambda m: float(np.linalg.norm(m)),
        _normalise,
        lambda y: 0.0 if np.linalg.norm(y) <= 1 + 1e-12 else np.inf,
    ),  # ‖y‖₂ ≤ 1
    "quadratic": (
        lambda m: 0.5 * float(np.sum(m * m)),
        lambda m: np.array(m, copy=True),
        lambda y: 0.5 * float(np.sum(y * y)),
    ),  # ½‖y‖²
}


def _check_K(K):
    if K not in K_FUNCTIONS:
        raise ValueError(f"K must be one of {sorted(K_FUNCTIONS)}, got {K!r}")
    return K


def grad_K(m, K: str = "l1"):
    """∇𝒦(m) for 𝒦 ∈ {"l1": sign, "l2": m/‖m‖ (0 at 0), "quadratic": m}."""
    return K_FUNCTIONS[_check_K(K)][1](
        np.asarray(m, dtype=np.float64) if np.asarray(m).dtype.kind != "f" else np.asarray(m)
    )


def K_value(m, K: str = "l1") -> float:
    return K_FUNCTIONS[_check_K(K)][0](np.asarray(m, dtype=np.float64))


def K_conjugate(y, K: str = "l1") -> float:
    """𝒦*(y): the indicator of the unit ℓ∞ / ℓ₂ ball (0 or inf) or ½‖y‖²."""
    return K_FUNCTIONS[_check_K(K)][2](np.asarray(y, dtype=np.float64))


def lion_step(x, m, g, lr: float, betas=(0.9, 0.99), weight_decay: float = 0.0, K: str = "l1"):
    """One Lion-𝒦 step on arrays; returns (x_new, m_new).  K="l1" is Lion."""
    beta1, beta2 = betas
    x, m, g = (np.asarray(a, dtype=np.float64) for a in (x, m, g))
    c = beta1 * m + (1 - beta1) * g  # c_t = β1 m + (1−β1) g  (automl L79)
    x_new = x - lr * (grad_K(c, K) + weight_decay * x)  # x_t = x − η(∇K(c) + λx)  (automl L66, L81)
    m_new = beta2 * m + (1 - beta2) * g  # m_t = β2 m + (1−β2) g  (automl L84)
    return x_new, m_new


def box_excess(arrays, lam: float) -> float:
    """λ·max|x| − 1 over all `arrays` (Parameters or arrays): ≤ 0 inside the box ‖x‖∞ ≤ 1/λ."""
    if not lam > 0:
        raise ValueError(f"lam must be > 0 (the weight decay), got {lam}")
    return float(lam * max(np.abs(getattr(a, "data", a)).max(initial=0.0) for a in arrays) - 1.0)


# --- optimizers ------------------------------------------------------------------------------------
class LionK(Optimizer):
    """LionK(params, lr=1e-4, betas=(0.9, 0.99), weight_decay=0, K="l2").

    Per parameter tensor p: c = β1 m + (1−β1) g; p ← p(1 − lr·λ) − lr·∇𝒦(c); m ← β2 m + (1−β2) g.
    ∇𝒦 acts on the whole tensor (for "l2" the tensor's norm).  State: ``exp_avg`` (m).
    """

    def __init__(self, params, lr: float = 1e-4, betas=(0.9, 0.99), weight_decay: float = 0.0, K: str = "l2"):
        super().__init__(params, dict(lr=lr, betas=betas, weight_decay=weight_decay, K=K))

    def _check_group(self, group: dict) -> None:
        group["lr"] = check_positive("lr", group["lr"])
        betas = group["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise TypeError(f"betas must be a pair (beta1, beta2), got {betas!r}")
        group["betas"] = (
            check_unit_interval("betas[0]", betas[0]),
            check_unit_interval("betas[1]", betas[1]),
        )
        group["weight_decay"] = check_nonnegative("weight_decay", group["weight_decay"])
        group["K"] = _check_K(group["K"])

    def _update(self, group: dict) -> None:
        lr, (beta1, beta2), wd, K = group["lr"], group["betas"], group["weight_decay"], group["K"]
        gradK = K_FUNCTIONS[K][1]
        for p, g, x in self._with_grads(group):
            st = self.state.get(p)
            if st is None:
                st = self.state[p] = {"exp_avg": np.zeros_like(x)}
            m = st["exp_avg"]
            c = beta1 * m + (1 - beta1) * g  # c_t = β1 m + (1−β1) g  (automl L79)
            if wd != 0:
                x *= 1 - lr * wd  # decoupled decay: x − ηλx  (automl L66)
            x -= lr * gradK(c)  # − η ∇K(c_t)  (automl L81 for K = ‖·‖₁)
            m *= beta2
            m += (1 - beta2) * g  # m_t = β2 m + (1−β2) g  (automl L84)


class Lion(LionK):
    """Lion(params, lr=1e-4, betas=(0.9, 0.99), weight_decay=0): Lion-𝒦 with 𝒦 = ‖·‖₁ (∇𝒦 = sign)."""

    def __init__(self, params, lr: float = 1e-4, betas=(0.9, 0.99), weight_decay: float = 0.0):
        super().__init__(params, lr=lr, betas=betas, weight_decay=weight_decay, K="l1")


# --- the Lyapunov function -------------------------------------------------------------------------
def ode_constants(lr: float, betas=(0.9, 0.99)) -> dict:
    """The ODE whose Euler step (size lr) is discrete Lion-𝒦: α = γ = (1−β₂)/lr, ε = lr(1−β₁)/(1−β₂)."""
    beta1, beta2 = betas
    gamma = (1 - beta2) / lr  # α = γ = (1−β₂)/η  (derived: Euler step = Lion step)
    return {"alpha": gamma, "gamma": gamma, "eps": lr * (1 - beta1) / (1 - beta2)}  # ε = η(1−β₁)/(1−β₂)


def lyapunov(x, m_tilde, f_value: float, lam: float, alpha: float, gamma: float, eps: float, K: str = "l1"):
    r"""H(x, m̃) = αf + (γ/λ)𝒦*(λx) + (1−ελ)/(1+ελ)(𝒦*(λx) + 𝒦(m̃) − λ m̃ᵀx).  m̃ is the paper's
    momentum (= −Lion's exp_avg).  inf outside dom 𝒦*(λ·) (before the box is reached)."""
    if not lam > 0:
        raise ValueError(f"lam must be > 0 (the weight decay), got {lam}")
    x = np.asarray(x, dtype=np.float64)
    m_tilde = np.asarray(m_tilde, dtype=np.float64)
    ks = K_conjugate(lam * x, K)
    if not np.isfinite(ks):
        return np.inf
    c = (1 - eps * lam) / (1 + eps * lam)  # (1−ελ)/(1+ελ)  (H)
    fenchel = ks + K_value(m_tilde, K) - lam * float(m_tilde.ravel() @ x.ravel())  # ≥ 0 (Fenchel–Young)
    return float(alpha * f_value + gamma / lam * ks + c * fenchel)  # H(x, m̃)
