r"""Variational continual learning of a binary-weight perceptron in field space: the weights' mean-field
distribution after one task is the prior for the next, so learning a new teacher is paid for in KL divergence from
what the old one required.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.

Field space
-----------
Binary weights :math:`w_i = \pm 1` are learned through a factorised distribution :math:`q_\theta(w) = \prod_i
(1 + m_i w_i)/2` with magnetisations :math:`m_i = \tanh\theta_i` (the fields θ are real and have gradients; the
weights do not).  For an input x the preactivation :math:`h = w^\top x/\sqrt N` is, over q, approximately Gaussian
(`preactivation_moments`):

.. math::

    \mu = \frac{m^\top x}{\sqrt N},\qquad s^2 = \frac{\sum_i (1 - m_i^2)\,x_i^2}{N},

so the probability that a weight drawn from q classifies (x, y) correctly is :math:`H(y\mu/s)`, H the standard
normal CDF (the paper writes the Gaussian tail, :math:`H_{\rm paper}(x) = \int_x^\infty Dt = H(-x)`).

The variational principle, task by task
---------------------------------------
Task t is learned by minimising the variational free energy with the previous task's distribution as the prior
(`free_energy`, `free_energy_gradient`):

.. math::

    F_t(\theta) = -\sum_{\nu} \log H\!\big(y_\nu \mu_\nu / s_\nu\big)
                 + \mathrm{KL}\big(q_\theta \,\|\, q_{t-1}\big),\qquad
    \mathrm{KL} = \sum_i \sum_{w=\pm1} \tfrac{1 + w m_i}{2}\log\frac{1 + w m_i}{1 + w m_i^{(t-1)}},

with :math:`q_0` uniform (m = 0).  The KL term charges every field that moves away from what the earlier tasks
needed, in proportion to how certain they were (|m| near 1 is expensive to flip): the weight uncertainty
"modulates synaptic resources among tasks".  Without it (the ablation) the new task simply overwrites the old.

A closed form for the teacher–student readout
---------------------------------------------
For Gaussian inputs a student with binary weights ŵ = sign(m) and a teacher t with normalised overlap
:math:`R = \hat w^\top t / N` disagree on a fraction :math:`\varepsilon = \arccos(R)/\pi` of inputs
(`generalization_error`; the angle between the two hyperplanes' normals) — the order parameter through which the
paper's mean-field theory predicts the learning curves.

The replica-symmetric prediction for the first task
---------------------------------------------------
The paper studies the first task as a Gibbs measure over the magnetisations m ∈ [−1, 1]^N (flat prior) at inverse
temperature β with energy −Σ_ν log H(y_ν μ_ν/s_ν), and predicts its order parameters — q (overlap of two
replicas' m), r (overlap with the teacher) and q* (the self-overlap Σm²/N) — from replica-symmetric saddle-point
equations (official code, ``Continual learning with binary perceptron/FirstTaskReplica.py``: ``partial_E``,
``partial_S``, ``beta_exp``).  With Dz the standard Gaussian measure and Φ the normal CDF, the energetic term is
(`replica_energy`)

.. math::

    G_E(q, r, q^*) = 2\int Dz\, \Phi\!\Big(\frac{-r z}{\sqrt{q - r^2}}\Big)
        \log \int Dx\, \Phi\!\Big(-\frac{\sqrt{q^* - q}\,x + \sqrt q\, z}{\sqrt{1 - q^*}}\Big)^{\beta},

the conjugates are :math:`\hat q = -2\alpha\,\partial_q G_E`, :math:`\hat r = \alpha\,\partial_r G_E`,
:math:`\hat q^* = \alpha\,\partial_{q^*} G_E` (α = P/N), and the entropic term is a single magnetisation in the
effective field (`replica_site`): :math:`p(m \mid z) \propto \exp\big((\hat q^* - \hat q/2)\,m^2 + (\sqrt{\hat q}\,z +
\hat r)\,m\big)` on [−1, 1], which gives back :math:`q = E_z\langle m\rangle^2`, :math:`r = E_z\langle m\rangle`,
:math:`q^* = E_z\langle m^2\rangle` (the code's derivatives of the entropic term, simplified by Stein's lemma).  The
equations are iterated with damping to a fixed point (`replica_first_task`), and the error of the clipped student
sign(m) is :math:`\varepsilon = \arccos\big(E_z\langle \mathrm{sign}\, m\rangle\big)/\pi` (the code's
``fig-2-a,b.py``, ``loss``).  The code's β = 20 is the default.  Our deviations: deterministic quadrature (a
uniform grid for the Gaussian integrals, Gauss–Legendre for m) instead of Monte Carlo, ∂G_E by central differences
instead of the code's analytic derivatives, one start (q, r, q*) = (0.3, 0.2, 0.6) and damping ½ instead of ten
random starts averaged and damping 0.9.  The simulation it is compared with is the code's: task 1 trained on the
energy alone (no KL), from fields θ ~ N(0, 1).

What is read and what is reconstructed
--------------------------------------
The arXiv id and abstract were confirmed; the full text was not reachable, the official code
(github.com/Chan-Li/VCL) was read.  From it: the energy −log H (its ``exp_grad``/``energy``), the KL gradient
(θ − θ_prev)(1 − m²) of the second task (its ``KL_grad``, the same as `free_energy_gradient`'s), and the first task's
replica equations above.  The Franz–Parisi computation of the *second* task (``SecondTaskReplica.py``) is not
reproduced.  Our task 1 in the continual-learning comparison carries the KL to the uniform distribution (the
official code trains task 1 without it); the sizes and the optimiser settings are ours.

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/theory-generalization/statmech-continual-binary.ipynb
"""

from __future__ import annotations

import numpy as np
from scipy import special

CATALOG_ENTRY = {
    "slug": "statmech-continual-binary",
    "title": "Statistical mechanics of continual learning: variational principle and mean-field potential",
    "authors": "Chan Li, Zhenye Huang, Wenxuan Zou, Haiping Huang",
    "year": 2023,
    "arxiv": "2212.02846",
    "family": "theory-generalization",
    "notebook": "notebooks/theory-generalization/statmech-continual-binary.ipynb",
    "verified": "official-code",
    "verification_note": "arXiv id confirmed (Phys. Rev. E 108, 014309); the full text was not reachable.  Checked "
    "against the official code (github.com/Chan-Li/VCL, 'Continual learning with binary perceptron'): the field-space "
    "energy −log H and its gradient, the KL gradient of the next task, and the first task's replica-symmetric "
    "saddle-point equations (FirstTaskReplica.py) with the error arccos(E⟨sign m⟩)/π (fig-2-a,b.py), solved here by "
    "quadrature instead of Monte Carlo.  Not reproduced: the second task's Franz–Parisi computation.  Our task 1 in "
    "the continual comparison carries a KL to the uniform distribution (the code's does not); sizes are ours.",
    "summary": "Train binary weights through the fields of a mean-field distribution and make each task's "
    "distribution the prior of the next: the KL term protects the weights earlier tasks were sure about, so a "
    "binary perceptron learns a second teacher while forgetting less of the first.",
    "equations": [
        "q_θ(w) = Π_i (1 + m_i w_i)/2,  m_i = tanh θ_i   (field space)",
        "h = wᵀx/√N ~ N(μ, s²),  μ = mᵀx/√N,  s² = Σ_i (1 − m_i²) x_i² / N   (Gaussian preactivation)",
        "F_t(θ) = −Σ_ν log H(y_ν μ_ν / s_ν) + KL(q_θ ‖ q_{t−1})   (variational continual learning)",
        "ε = arccos(ŵᵀt / N) / π,  ŵ = sign(m)   (teacher–student error from the overlap)",
        "G_E = 2∫Dz Φ(−rz/√(q−r²)) log ∫Dx Φ(−(√(q*−q)x + √q z)/√(1−q*))^β   (replica energy, FirstTaskReplica.py)",
        "q̂ = −2α∂_q G_E, r̂ = α∂_r G_E, q̂* = α∂_{q*} G_E;  p(m|z) ∝ exp((q̂* − q̂/2)m² + (√q̂ z + r̂)m) on [−1, 1]",
        "q = E_z⟨m⟩², r = E_z⟨m⟩, q* = E_z⟨m²⟩;  ε_RS = arccos(E_z⟨sign m⟩)/π",
    ],
}

__all__ = [
    "CATALOG_ENTRY",
    "preactivation_moments",
    "bernoulli_kl",
    "free_energy",
    "free_energy_gradient",
    "train_task",
    "generalization_error",
    "teacher_pair",
    "replica_energy",
    "replica_site",
    "replica_first_task",
]

_S2_FLOOR = 1e-6  # keeps s > 0 once every weight is certain (the likelihood becomes a step)


def _log_H(z):
    """log Φ(z), stable for large negative z."""
    return special.log_ndtr(z)


def preactivation_moments(m, X) -> tuple[np.ndarray, np.ndarray]:
    """(μ, s²) of h = wᵀx/√N over w ~ q: μ = Xm/√N, s² = X²(1 − m²)/N (+ a floor)."""
    m, X = np.asarray(m, dtype=np.float64), np.asarray(X, dtype=np.float64)
    N = m.size
    return X @ m / np.sqrt(N), (X**2) @ (1 - m**2) / N + _S2_FLOOR


def bernoulli_kl(m, m_prior) -> float:
    """Σ_i KL between the ±1 distributions with means m_i and m_prior_i."""
    m, mp = (
        np.clip(np.asarray(m, float), -1 + 1e-12, 1 - 1e-12),
        np.clip(np.asarray(m_prior, float), -1 + 1e-12, 1 - 1e-12),
    )
    p, pp = (1 + m) / 2, (1 + mp) / 2
    return float(np.sum(p * np.log(p / pp) + (1 - p) * np.log((1 - p) / (1 - pp))))


def free_energy(theta, X, y, m_prior, kl_weight: float = 1.0) -> float:
    """F = −Σ log H(y μ / s) + kl_weight · KL(q_θ ‖ q_prior)."""
    m = np.tanh(theta)
    mu, s2 = preactivation_moments(m, X)
    return float(-np.sum(_log_H(y * mu / np.sqrt(s2))) + kl_weight * bernoulli_kl(m, m_prior))


def free_energy_gradient(theta, X, y, m_prior, kl_weight: float = 1.0) -> np.ndarray:
    """∂F/∂θ (chain rule through m = tanh θ, μ and s; ∂KL/∂m_i = atanh m_i − atanh m_prior_i)."""
    m = np.tanh(theta)
    N = m.size
    mu, s2 = preactivation_moments(m, X)
    s = np.sqrt(s2)
    z = y * mu / s
    r = np.exp(-0.5 * z**2 - 0.5 * np.log(2 * np.pi) - _log_H(z))  # φ(z)/Φ(z), stable in log space
    dz_dmu = y / s
    dz_ds2 = -0.5 * y * mu / s**3
    # μ = X m / √N, s² = X² (1 − m²)/N
    dF_dm = -(X.T @ (r * dz_dmu)) / np.sqrt(N) - ((X**2).T @ (r * dz_ds2)) * (-2 * m) / N
    mc, mpc = np.clip(m, -1 + 1e-12, 1 - 1e-12), np.clip(np.asarray(m_prior, float), -1 + 1e-12, 1 - 1e-12)
    dF_dm = dF_dm + kl_weight * (np.arctanh(mc) - np.arctanh(mpc))
    return dF_dm * (1 - m**2)


def train_task(theta0, X, y, m_prior, kl_weight: float, lr: float, steps: int) -> np.ndarray:
    """Adam on the fields from θ₀; returns the final fields."""
    if lr <= 0 or steps < 1 or kl_weight < 0:
        raise ValueError(
            f"`lr` > 0, `steps` ≥ 1 and `kl_weight` ≥ 0 required, got {lr}, {steps}, {kl_weight}"
        )
    theta = np.array(theta0, dtype=np.float64)
    mom, vel = np.zeros_like(theta), np.zeros_like(theta)
    for t in range(1, steps + 1):
        g = free_energy_gradient(theta, X, y, m_prior, kl_weight)
        mom = 0.9 * mom + 0.1 * g
        vel = 0.999 * vel + 0.001 * g * g
        theta -= lr * (mom / (1 - 0.9**t)) / (np.sqrt(vel / (1 - 0.999**t)) + 1e-8)
    if not np.all(np.isfinite(theta)):
        raise FloatingPointError(f"train_task diverged at lr = {lr}")
    return theta


def generalization_error(w, teacher) -> float:
    """arccos(wᵀt / (‖w‖‖t‖)) / π: the disagreement rate of two sign perceptrons on Gaussian inputs."""
    w, t = np.asarray(w, float), np.asarray(teacher, float)
    if w.shape != t.shape:
        raise ValueError(f"`w` and `teacher` must have one shape, got {w.shape} and {t.shape}")
    return float(np.arccos(np.clip(w @ t / (np.linalg.norm(w) * np.linalg.norm(t)), -1, 1)) / np.pi)


def teacher_pair(N: int, flip_fraction: float, rng) -> tuple[np.ndarray, np.ndarray]:
    """Two ±1 teachers; the second is the first with exactly round(flip_fraction · N) signs flipped (overlap
    1 − 2 · flip_fraction)."""
    if not 0 <= flip_fraction <= 1:
        raise ValueError(f"`flip_fraction` must be in [0, 1], got {flip_fraction}")
    rng = np.random.default_rng(rng)
    t1 = rng.choice([-1.0, 1.0], N)
    t2 = t1.copy()
    t2[rng.choice(N, int(round(flip_fraction * N)), replace=False)] *= -1
    return t1, t2


# --- the replica-symmetric prediction for task 1 (official code: FirstTaskReplica.py, fig-2-a,b.py) -------------
def _gaussian_grid(n: int, limit: float = 8.0) -> tuple[np.ndarray, np.ndarray]:
    """Nodes on [−limit, limit] and weights summing to 1 for ∫Dz f(z)."""
    z = np.linspace(-limit, limit, n)
    w = np.exp(-0.5 * z**2)
    return z, w / w.sum()


def _check_overlaps(q, r, q_star):
    if not (0 < q < q_star < 1 and r * r < q):
        raise ValueError(f"need 0 < q < q* < 1 and r² < q, got q={q:g}, r={r:g}, q*={q_star:g}")


def replica_energy(q: float, r: float, q_star: float, beta: float, n_z: int = 401, n_x: int = 601) -> float:
    """G_E(q, r, q*) = 2∫Dz Φ(−rz/√(q − r²)) log ∫Dx Φ(−g)^β, g = (√(q* − q)x + √q z)/√(1 − q*)."""
    _check_overlaps(q, r, q_star)
    z, wz = _gaussian_grid(n_z)
    x, wx = _gaussian_grid(n_x)
    g = (np.sqrt(q_star - q) * x[None, :] + np.sqrt(q) * z[:, None]) / np.sqrt(1 - q_star)
    log_D = special.logsumexp(beta * special.log_ndtr(-g) + np.log(wx)[None, :], axis=1)
    return float(2 * np.sum(wz * special.ndtr(-r * z / np.sqrt(q - r * r)) * log_D))


def replica_site(q_hat: float, r_hat: float, q_star_hat: float, n_z: int = 401, n_m: int = 400) -> dict:
    """Moments of p(m | z) ∝ exp((q̂* − q̂/2)m² + (√q̂ z + r̂)m) on [−1, 1], averaged over z ~ N(0, 1):
    {"q": E⟨m⟩², "r": E⟨m⟩, "q_star": E⟨m²⟩, "sign_overlap": E⟨sign m⟩}."""
    if q_hat < 0:
        raise ValueError(f"`q_hat` must be ≥ 0, got {q_hat}")
    z, wz = _gaussian_grid(n_z)
    m, wm = np.polynomial.legendre.leggauss(n_m)
    log_p = (q_star_hat - q_hat / 2) * m[None, :] ** 2 + (np.sqrt(q_hat) * z[:, None] + r_hat) * m[None, :]
    log_p = log_p + np.log(wm)[None, :]
    p = np.exp(log_p - log_p.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    mean = p @ m
    return {
        "q": float(wz @ mean**2),
        "r": float(wz @ mean),
        "q_star": float(wz @ (p @ m**2)),
        "sign_overlap": float(wz @ (p @ np.sign(m))),
    }


def _conjugates(q, r, q_star, alpha, beta, n_z, n_x, h=1e-6) -> tuple[float, float, float]:
    """(q̂, r̂, q̂*) = (−2α ∂_q, α ∂_r, α ∂_q*) G_E, by central differences (the code differentiates analytically)."""

    def d(dq, dr, dqs):
        plus = replica_energy(q + dq, r + dr, q_star + dqs, beta, n_z, n_x)
        minus = replica_energy(q - dq, r - dr, q_star - dqs, beta, n_z, n_x)
        return (plus - minus) / (2 * h)

    return -2 * alpha * d(h, 0, 0), alpha * d(0, h, 0), alpha * d(0, 0, h)


def replica_first_task(
    alpha: float,
    beta: float = 20.0,
    *,
    n_z: int = 401,
    n_x: int = 601,
    n_m: int = 400,
    damping: float = 0.5,
    max_iter: int = 300,
    tol: float = 1e-10,
    start=(0.3, 0.2, 0.6),
) -> dict:
    """Iterate the replica-symmetric saddle point of task 1 at load α = P/N to a fixed point; returns the order
    parameters, their conjugates, the predicted error ε_RS = arccos(E⟨sign m⟩)/π and the iterations used."""
    if alpha <= 0 or beta <= 0 or not 0 < damping <= 1:
        raise ValueError(f"need alpha > 0, beta > 0 and damping in (0, 1], got {alpha}, {beta}, {damping}")
    q, r, q_star = start
    for iterations in range(1, max_iter + 1):  # noqa: B007 (reported after the loop)
        q_hat, r_hat, q_star_hat = _conjugates(q, r, q_star, alpha, beta, n_z, n_x)
        site = replica_site(q_hat, r_hat, q_star_hat, n_z, n_m)
        step = (site["q"] - q, site["r"] - r, site["q_star"] - q_star)
        q, r, q_star = q + damping * step[0], r + damping * step[1], q_star + damping * step[2]
        if sum(d * d for d in step) < tol:
            break
    else:
        raise RuntimeError(f"replica_first_task: no fixed point in {max_iter} iterations at alpha = {alpha}")
    return {
        "q": q,
        "r": r,
        "q_star": q_star,
        "q_hat": q_hat,
        "r_hat": r_hat,
        "q_star_hat": q_star_hat,
        "error": float(np.arccos(np.clip(site["sign_overlap"], -1, 1)) / np.pi),
        "iterations": iterations,
    }
