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

so the probability that a weight drawn from q classifies (x, y) correctly is :math:`H(-y\mu/s)`, H the standard
normal CDF.

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

What is reconstructed
---------------------
From the abstract: variational Bayesian continual learning of binary weights in field space, the previous task's
posterior as prior, the Gaussian approximation of preactivations, a teacher–student binary perceptron, and
predictions through mean-field order parameters.  The paper's Franz–Parisi potential (replica) computation is
**not** reproduced here; the overlap-to-error relation is the classical one.  The exact objective, the optimiser
and all sizes are ours.

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
    "verified": "reconstructed",
    "verification_note": "arXiv id confirmed (Phys. Rev. E 108, 014309).  From the abstract: variational continual "
    "learning of binary-weight networks in field space with the previous task's posterior as prior, Gaussian "
    "preactivations, and a teacher–student binary perceptron analysed by mean-field order parameters.  The full text "
    "was not read; the Franz–Parisi potential computation is not reproduced.  The objective's exact form, the "
    "optimiser and the sizes are ours; ε = arccos(R)/π is the classical teacher–student relation.",
    "summary": "Train binary weights through the fields of a mean-field distribution and make each task's "
    "distribution the prior of the next: the KL term protects the weights earlier tasks were sure about, so a "
    "binary perceptron learns a second teacher while forgetting less of the first.",
    "equations": [
        "q_θ(w) = Π_i (1 + m_i w_i)/2,  m_i = tanh θ_i   (field space)",
        "h = wᵀx/√N ~ N(μ, s²),  μ = mᵀx/√N,  s² = Σ_i (1 − m_i²) x_i² / N   (Gaussian preactivation)",
        "F_t(θ) = −Σ_ν log H(y_ν μ_ν / s_ν) + KL(q_θ ‖ q_{t−1})   (variational continual learning)",
        "ε = arccos(ŵᵀt / N) / π,  ŵ = sign(m)   (teacher–student error from the overlap)",
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
