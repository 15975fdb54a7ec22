r"""Generalized equilibrium propagation (EP) without weight symmetry: the finite-nudge bias removed by a
Cauchy integral over complex nudges (holomorphic EP), and the remaining weight-asymmetry bias reduced by a
homeostatic penalty on the asymmetry of the fixed-point Jacobian.

The paper card is `CATALOG_ENTRY` below.  The equations were checked against the authors' code
(Laborieux-Axel/generalized-holo-ep, commit 30592f5: `models/vfs.py` `mlp_discrete_vf`, `models/dyn.py`
`fwd`, `du_dbeta`, `hep_vf`, `delta_rbp`, `vf_jac`, `jac_sym`, `homeo_loss`; `utils/funcs.py` `rotate`);
the paper's body text was not reachable here (only its abstract), so the section and equation references
below are the code's function names, and "Thm." / "Sec." numbers are not cited.

The network (the code's `mlp_discrete_vf`, one hidden layer)
------------------------------------------------------------
State :math:`u = (h, o)`, rates :math:`r = \sigma(u)` (logistic).  Input :math:`x` clamped, a softmax read-out
of the output rates, cross-entropy loss :math:`\ell`.  The vector field, nudged by :math:`\beta`:

.. math::

    F_h = W_1 x + b_1 + B\,\sigma(o) - h,\qquad
    F_o = W_2\,\sigma(h) + b_2 - o + \beta\,\partial\ell/\partial r_o,\qquad
    \ell = \mathrm{CE}(R\,\sigma(o) + c,\; y).

:math:`W_2` is the feedforward weight h → o, :math:`B` the feedback weight o → h; weight symmetry means
:math:`B = W_2^\top`.  Discrete dynamics :math:`u \leftarrow u + F(u)` (`fwd`), relaxed to the fixed point
:math:`u^*(\beta)`.  Asymmetry is set as in the code's `rotate`: :math:`B = \sin\alpha\,B_0 + \cos\alpha\,
W_2^\top` (α = 0 symmetric, α = 90° independent feedback).

Generalized EP and its two biases
---------------------------------
Write :math:`J_u = \partial F/\partial u = W D - I` with :math:`W = \begin{psmallmatrix}0&B\\W_2&0\end{psmallmatrix}`
and :math:`D = \mathrm{diag}\,\sigma'(u^*)`, and :math:`e = (0, \partial\ell/\partial r_o)`.  The true gradient
(implicit differentiation, the code's recurrent backprop `delta_rbp`) and the generalized-EP estimate
(`hep_vf`) share the factor :math:`\partial_\theta F` and differ in the neuronal error vector:

.. math::

    \frac{d\ell}{d\theta} = \partial_\theta F^\top \delta,\quad \delta = -J_u^{-\top} D e
    = -(D W^\top - I)^{-1} D e;\qquad
    \hat g = \partial_\theta F^\top \frac{d r^*}{d\beta},\quad \frac{d r^*}{d\beta} = -D J_u^{-1} e
    = -(D W - I)^{-1} D e,

plus the read-out's own gradient in both.  They coincide for every :math:`D` iff :math:`W = W^\top`
(:math:`B = W_2^\top`): the asymmetry bias.  The derivative :math:`dr^*/d\beta` is estimated from nudged
fixed points (`du_dbeta`):

* one-sided (N = 1): :math:`[r^*(\beta) - r^*(0)]/\beta` — bias O(β);
* symmetric (N = 2): :math:`[r^*(\beta) - r^*(-\beta)]/(2\beta)` — bias O(β²);
* holomorphic (N ≥ 3): :math:`\frac1N\sum_{k=0}^{N-1} r^*(\beta_k)/\beta_k`, :math:`\beta_k = \beta e^{2\pi i k/N}`,
  the trapezoid rule for the Cauchy integral :math:`\frac{1}{2\pi i}\oint r^*(z)\,z^{-2}dz = r^{*\prime}(0)`;
  its error is :math:`O(\beta^N)` (only Taylor terms of order ≡ 1 mod N alias), so the finite nudge no
  longer biases the estimate.  Complex fixed points are relaxed with the same dynamics (σ is holomorphic).

Jacobian homeostasis
--------------------
The code's Jacobian (`vf_jac`) is that of the un-activated field with respect to the rates,
:math:`J = \partial F/\partial r = W - I` here, and the homeostatic loss (`homeo_loss`) is a Hutchinson-type
estimate with :math:`\varepsilon \sim \mathcal N(0, I)`:

.. math::

    \mathcal L_{\text{homeo}} = \tfrac1n\big(\lVert J\varepsilon\rVert^2 - \varepsilon^\top J (J\varepsilon)\big),
    \qquad \mathbb E_\varepsilon\,\mathcal L_{\text{homeo}} = \tfrac{1}{2n}\lVert J - J^\top\rVert_F^2,

(since :math:`\lVert J - J^\top\rVert_F^2 = 2\lVert J\rVert_F^2 - 2\,\mathrm{tr}\,J^2`).  Its gradient with respect to
:math:`J` is :math:`\tfrac1n(2J\varepsilon\varepsilon^\top - \varepsilon(J\varepsilon)^\top - J^\top\varepsilon\varepsilon^\top)`, in
expectation :math:`\tfrac2n(J - J^\top)`; only the B and W₂ blocks of J are parameters.  It is added to the EP
gradient with a coefficient λ (`jac_reg_coef`), averaged over K draws of ε (the code draws 5).

Our deviations: one hidden layer (the code's MLP has two); the experiment relaxes with a half step
(u ← u + ½F, `relax(dt=0.5)`: the same fixed points, which are all the theory uses) because the code's full
step oscillates once homeostasis makes the coupling symmetric and strong; NumPy float64; the Jacobian penalty's gradient is
written out by hand (the code differentiates the estimator with JAX) and checked by finite differences.  In
this architecture J does not depend on the state, so the penalty is a penalty on :math:`B - W_2^\top`; the
paper's point that a symmetric Jacobian is more general than symmetric weights shows only in architectures
with state-dependent couplings (its CNN with pooling), which are not built here.

Notebook: notebooks/optimizers-training-rules/ep-jacobian-homeostasis.ipynb
"""

from __future__ import annotations

import numpy as np

CATALOG_ENTRY = {
    "slug": "ep-jacobian-homeostasis",
    "title": "Improving equilibrium propagation without weight symmetry through Jacobian homeostasis",
    "authors": "Axel Laborieux, Friedemann Zenke",
    "year": 2024,
    "arxiv": "2309.02214",
    "family": "optimizers-training-rules",
    "notebook": "notebooks/optimizers-training-rules/ep-jacobian-homeostasis.ipynb",
    "verified": "official-code",
    "verification_note": "Checked against the authors' code (github.com/Laborieux-Axel/generalized-holo-ep, "
    "commit 30592f5): the discrete vector field and nudge (models/vfs.py mlp_discrete_vf: new_u['out'] += "
    "beta*dLdu), the relaxation u ← u + F(u) (models/dyn.py fwd), the one-sided / symmetric / complex-circle "
    "estimates of dσ(u*)/dβ (dyn.py du_dbeta), the EP gradient ∂_θFᵀ dσ(u*)/dβ plus the read-out gradient "
    "(hep_vf), the exact gradient by recurrent backprop (delta_rbp; here a linear solve), the Jacobian of the "
    "un-activated field w.r.t. the rates (vf_jac), the symmetry index s/(s+a) (jac_sym), the homeostatic loss "
    "(‖Jε‖² − εᵀJ²ε)/n (homeo_loss) and the feedback rotation B = sin α B₀ + cos α W₂ᵀ (utils/funcs.py rotate). "
    "The paper's body was not reachable (abstract and the authors' blog only), so equation numbers are not "
    "cited; one hidden layer, float64 NumPy, SGD with momentum and hand-written gradients are our choices.",
    "summary": "Equilibrium propagation for networks whose feedback weights are not the transpose of the "
    "feedforward ones: the gradient is estimated from nudged fixed points, the finite-nudge bias is removed by "
    "averaging complex nudges βe^{2πik/N} (a Cauchy integral), and a homeostatic loss penalising ‖J − Jᵀ‖ of "
    "the fixed-point Jacobian reduces the bias that weight asymmetry leaves.",
    "equations": [
        "u ← u + F(u, β),  F_h = W₁x + b₁ + Bσ(o) − h,  F_o = W₂σ(h) + b₂ − o + β ∂ℓ/∂σ(o)   (vfs.py, dyn.py fwd)",
        "ĝ = ∂_θF(u*)ᵀ dσ(u*)/dβ + ∂ℓ/∂θ_readout   (generalized EP; dyn.py hep_vf)",
        "dσ(u*)/dβ ≈ (1/N) Σ_k σ(u*(β_k))/β_k,  β_k = β e^{2πik/N}   (holomorphic EP; N=1: one-sided, N=2: ±β)",
        "dℓ/dθ = ∂_θFᵀ δ,  δ = −J_u^{−ᵀ} D e  vs  dσ(u*)/dβ = −D J_u^{−1} e   (equal iff J symmetric; delta_rbp)",
        "L_homeo = (‖Jε‖² − εᵀJ(Jε))/n,  E_ε L_homeo = ‖J − Jᵀ‖²_F/(2n),  J = ∂F/∂σ(u)   (dyn.py homeo_loss)",
    ],
}

__all__ = [
    "sigmoid",
    "init_params",
    "rotate_feedback",
    "feedback_angle",
    "readout",
    "vector_field",
    "relax",
    "nudge_derivative",
    "param_grad",
    "ep_gradient",
    "true_gradient",
    "ep_error_exact",
    "fixed_point_jacobian",
    "jacobian_asymmetry",
    "symmetry_index",
    "homeostatic_loss",
    "homeostatic_grad",
    "cosine",
    "PARAM_NAMES",
]

PARAM_NAMES = ("W1", "b1", "B", "W2", "b2", "R", "c")


def sigmoid(z):
    """σ(z) = 1/(1 + e^{−z}); holomorphic, so it takes complex states (the code's `act=sigmoid`)."""
    return 1.0 / (1.0 + np.exp(-z))


def _dsigmoid(z):
    s = sigmoid(z)
    return s * (1.0 - s)


def init_params(n_in: int, n_h: int, n_o: int, n_cls: int, *, angle: float = 90.0, rng=None) -> dict:
    """Weights ~ N(0, 1/fan_in) (Flax's lecun_normal, untruncated), biases 0; the feedback B is drawn
    independently and then rotated towards W₂ᵀ by `angle` degrees (`rotate_feedback`)."""
    from ....random import as_generator

    if min(n_in, n_h, n_o, n_cls) < 1:
        raise ValueError(f"every size must be ≥ 1, got {(n_in, n_h, n_o, n_cls)}")
    rng = as_generator(rng)

    def w(a, b):
        return rng.normal(0.0, 1.0 / np.sqrt(b), (a, b))

    p = {
        "W1": w(n_h, n_in),
        "b1": np.zeros(n_h),
        "B": w(n_h, n_o),
        "W2": w(n_o, n_h),
        "b2": np.zeros(n_o),
        "R": w(n_cls, n_o),
        "c": np.zeros(n_cls),
    }
    return rotate_feedback(p, angle)


def rotate_feedback(p: dict, angle: float) -> dict:
    """B ← sin(α) B + cos(α) W₂ᵀ, α in degrees (utils/funcs.py `rotate`): α = 0 ties B to W₂ᵀ, α = 90 keeps B."""
    if not 0.0 <= angle <= 90.0:
        raise ValueError(f"angle must lie in [0, 90] degrees, got {angle}")
    a = np.pi * angle / 180.0
    q = dict(p)
    q["B"] = np.sin(a) * p["B"] + np.cos(a) * p["W2"].T
    return q


def feedback_angle(p: dict) -> float:
    """The angle (degrees) between B and W₂ᵀ, flattened (utils/funcs.py `angle`)."""
    return float(np.degrees(np.arccos(np.clip(cosine(p["B"], p["W2"].T), -1.0, 1.0))))


def readout(p: dict, r_o, y):
    """logits = R r_o + c, ℓ = Σ_b CE (summed over the batch), and ∂ℓ/∂r_o = Rᵀ(softmax − y*) per example.
    y: integer labels.  Works for complex r_o (softmax is holomorphic)."""
    logits = r_o @ p["R"].T + p["c"]
    z = logits - logits.real.max(-1, keepdims=True)
    e = np.exp(z)
    prob = e / e.sum(-1, keepdims=True)
    onehot = np.eye(p["R"].shape[0])[np.asarray(y)]
    loss = -np.sum(onehot * (z - np.log(e.sum(-1, keepdims=True))))
    return loss, logits, (prob - onehot) @ p["R"]


def vector_field(p: dict, h, o, x, y, beta):
    """(F_h, F_o) at state (h, o): the un-activated sums minus the state, the output nudged by β ∂ℓ/∂r_o
    (vfs.py `mlp_discrete_vf`; β may be complex)."""
    r_h, r_o = sigmoid(h), sigmoid(o)
    F_h = x @ p["W1"].T + p["b1"] + r_o @ p["B"].T - h
    F_o = r_h @ p["W2"].T + p["b2"] - o
    if beta != 0:
        F_o = F_o + beta * readout(p, r_o, y)[2]  # the nudge
    return F_h, F_o


def relax(p: dict, x, y, beta=0.0, T: int = 100, u0=None, dt: float = 1.0):
    """T steps of u ← u + dt·F(u, β) from u0 (default zeros).  dt = 1 is the code's discrete dynamics (dyn.py
    `fwd`); dt < 1 (an Euler step of du/dt = F) has the same fixed points and converges where dt = 1
    oscillates (an eigenvalue of WD below −1)."""
    x = np.asarray(x, dtype=np.float64)
    n_h, n_o = p["W1"].shape[0], p["W2"].shape[0]
    dtype = np.complex128 if np.iscomplexobj(beta) else np.float64
    if u0 is None:
        h, o = np.zeros((len(x), n_h), dtype), np.zeros((len(x), n_o), dtype)
    else:
        h, o = (np.asarray(a, dtype=dtype) for a in u0)
    for _ in range(int(T)):
        F_h, F_o = vector_field(p, h, o, x, y, beta)
        h, o = h + dt * F_h, o + dt * F_o
    return h, o


def nudge_derivative(p: dict, u_free, x, y, beta: float, N: int, T: int = 30, dt: float = 1.0):
    """Estimate dσ(u*)/dβ at β = 0 from nudged fixed points, each relaxed for T steps from the free one
    (dyn.py `du_dbeta`).  N = 1: one-sided difference; N = 2: symmetric ±β; N ≥ 3: the mean of
    σ(u*(β_k))/β_k over β_k = β e^{2πik/N} (the Cauchy integral by the trapezoid rule; real part).
    Returns (dr_h, dr_o)."""
    if int(N) < 1:
        raise ValueError(f"N must be ≥ 1, got {N}")
    if not beta > 0:
        raise ValueError(f"beta must be > 0, got {beta}")
    N = int(N)
    if N == 1:
        h, o = relax(p, x, y, beta, T, u_free, dt)
        return (sigmoid(h) - sigmoid(u_free[0])) / beta, (sigmoid(o) - sigmoid(u_free[1])) / beta
    # β_k and β_{N−k} are conjugate and the parameters real, so r*(β_{N−k}) = conj r*(β_k): each pair is
    # relaxed once and counted as 2 Re (the code's du_dbeta does the same); β_0 = β and, for even N,
    # β_{N/2} = −β are real nudges
    acc_h = acc_o = 0.0
    for k in range(N // 2 + 1):
        bk = beta * np.exp(2j * np.pi * k / N)
        real = k == 0 or 2 * k == N
        h, o = relax(p, x, y, float(np.real(bk)) if real else bk, T, u_free, dt)
        w = 1.0 if real else 2.0
        acc_h = acc_h + w * np.real(sigmoid(h) / bk)
        acc_o = acc_o + w * np.real(sigmoid(o) / bk)
    return acc_h / N, acc_o / N


def param_grad(p: dict, u_free, x, y, d_h, d_o) -> dict:
    """∂_θF(u*)ᵀ (d_h, d_o) / batch for the dynamics' parameters, plus the read-out's gradient (dyn.py
    `hep_vf` / `rbp`: the same contraction for EP and for the exact error vector)."""
    x = np.asarray(x, dtype=np.float64)
    nb = len(x)
    r_h, r_o = sigmoid(u_free[0]), sigmoid(u_free[1])
    loss, logits, _ = readout(p, r_o, y)
    prob = np.exp(logits - logits.max(-1, keepdims=True))
    prob /= prob.sum(-1, keepdims=True)
    err = prob - np.eye(p["R"].shape[0])[np.asarray(y)]
    return {
        "W1": d_h.T @ x / nb,  # ∂F_h/∂W1 = x
        "b1": d_h.mean(0),
        "B": d_h.T @ r_o / nb,  # ∂F_h/∂B = σ(o)
        "W2": d_o.T @ r_h / nb,  # ∂F_o/∂W2 = σ(h)
        "b2": d_o.mean(0),
        "R": err.T @ r_o / nb,  # read-out: plain cross-entropy gradient at the free fixed point
        "c": err.mean(0),
    }


def ep_gradient(p: dict, u_free, x, y, beta: float, N: int, T: int = 30, dt: float = 1.0) -> dict:
    """The generalized-EP gradient estimate ĝ = ∂_θFᵀ dσ(u*)/dβ (+ read-out gradient), batch mean."""
    d_h, d_o = nudge_derivative(p, u_free, x, y, beta, N, T, dt)
    return param_grad(p, u_free, x, y, d_h, d_o)


def _blocks(p: dict, u_free, y):
    """Per-example J_u = W D − I (batch, n, n), D = σ'(u*) (batch, n) and e = (0, ∂ℓ/∂r_o) (batch, n)."""
    n_h, n_o = p["W1"].shape[0], p["W2"].shape[0]
    W = np.zeros((n_h + n_o, n_h + n_o))
    W[:n_h, n_h:] = p["B"]
    W[n_h:, :n_h] = p["W2"]
    D = np.concatenate([_dsigmoid(u_free[0]), _dsigmoid(u_free[1])], -1)
    J_u = W[None] * D[:, None, :] - np.eye(n_h + n_o)[None]
    e = np.concatenate([np.zeros((len(D), n_h)), readout(p, sigmoid(u_free[1]), y)[2]], -1)
    return J_u, D, e, n_h


def true_gradient(p: dict, u_free, x, y) -> dict:
    """dℓ/dθ (batch mean) at the fixed point by implicit differentiation: δ = −J_u^{−ᵀ} D e, solved exactly
    (the code's recurrent backprop `delta_rbp` iterates to the same δ)."""
    J_u, D, e, n_h = _blocks(p, u_free, y)
    delta = -np.linalg.solve(np.transpose(J_u, (0, 2, 1)), (D * e)[..., None])[..., 0]
    return param_grad(p, u_free, x, y, delta[:, :n_h], delta[:, n_h:])


def ep_error_exact(p: dict, u_free, y):
    """The β → 0 limit of dσ(u*)/dβ, −D J_u^{−1} e, exactly (the code's N = 0 `du_dbeta_autodiff`)."""
    J_u, D, e, n_h = _blocks(p, u_free, y)
    d = -D * np.linalg.solve(J_u, e[..., None])[..., 0]
    return d[:, :n_h], d[:, n_h:]


def fixed_point_jacobian(p: dict) -> np.ndarray:
    """J = ∂F/∂σ(u) of the un-activated field (dyn.py `vf_jac`): [[−I, B], [W₂, −I]].  It does not depend
    on the state in this architecture."""
    n_h, n_o = p["W1"].shape[0], p["W2"].shape[0]
    J = -np.eye(n_h + n_o)
    J[:n_h, n_h:] += p["B"]
    J[n_h:, :n_h] += p["W2"]
    return J


def jacobian_asymmetry(J) -> float:
    """‖J − Jᵀ‖²_F / (2n): the expectation of `homeostatic_loss`."""
    J = np.asarray(J, dtype=np.float64)
    A = J - J.T
    return float(np.sum(A * A) / (2 * J.shape[0]))


def symmetry_index(J) -> float:
    """s/(s + a), s = ‖(J + Jᵀ)/2‖_F, a = ‖(J − Jᵀ)/2‖_F (dyn.py `jac_sym`): 1 symmetric, ½ for ‖sym‖ = ‖anti‖."""
    J = np.asarray(J, dtype=np.float64)
    s, a = np.linalg.norm(0.5 * (J + J.T)), np.linalg.norm(0.5 * (J - J.T))
    return float(s / (s + a))


def homeostatic_loss(J, eps) -> float:
    """(‖Jε‖² − εᵀJ(Jε))/n averaged over the rows of eps (K, n) (dyn.py `homeo_loss`)."""
    J, eps = np.asarray(J, dtype=np.float64), np.atleast_2d(np.asarray(eps, dtype=np.float64))
    Je = eps @ J.T
    JJe = Je @ J.T
    return float(np.mean(np.sum(Je * Je, -1) - np.sum(eps * JJe, -1)) / J.shape[0])


def homeostatic_grad(p: dict, eps) -> dict:
    """∂ homeostatic_loss / ∂θ for θ ∈ {B, W₂} (zero for the others): per draw, ∂/∂J =
    (2 Jε εᵀ − ε (Jε)ᵀ − Jᵀε εᵀ)/n, read off in J's B and W₂ blocks; averaged over the draws."""
    J = fixed_point_jacobian(p)
    eps = np.atleast_2d(np.asarray(eps, dtype=np.float64))
    n = J.shape[0]
    Je, JTe = eps @ J.T, eps @ J
    G = (2 * Je.T @ eps - eps.T @ Je - JTe.T @ eps) / (n * len(eps))
    n_h = p["W1"].shape[0]
    g = {k: np.zeros_like(v) for k, v in p.items()}
    g["B"] = G[:n_h, n_h:]
    g["W2"] = G[n_h:, :n_h]
    return g


def cosine(a, b) -> float:
    """cos∠(a, b) of two arrays or two gradient dicts (flattened over PARAM_NAMES present in both)."""
    if isinstance(a, dict):
        keys = [k for k in PARAM_NAMES if k in a and k in b]
        a = np.concatenate([np.ravel(a[k]) for k in keys])
        b = np.concatenate([np.ravel(b[k]) for k in keys])
    a, b = np.ravel(a), np.ravel(b)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-300))
