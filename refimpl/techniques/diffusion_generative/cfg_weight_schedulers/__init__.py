r"""Classifier-free guidance with a guidance *schedule*: the weight w of the guidance term varies over the sampling
steps instead of being one constant, and simple monotonically increasing schedules — little guidance while the
sample is mostly noise, much guidance near the data — are the paper's recommendation.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.

Classifier-free guidance
------------------------
One network ε̂_θ(x_t, t, c) is trained with the label dropped to a null token ∅ part of the time, so it predicts
both the conditional noise ε_c = ε̂_θ(x_t, t, c) and the unconditional ε_u = ε̂_θ(x_t, t, ∅).  Sampling uses

.. math::

    \hat\varepsilon(x_t, t, c) = \varepsilon_u + w\,(\varepsilon_c - \varepsilon_u)
    \qquad (\text{CFG; the paper's Sec. 2, in the } w = 1 \text{ is conditional convention}),

which for exact predictors is the noise of the tilted density :math:`p_t(x)\,p_t(c\mid x)^w`: w > 1 sharpens
the class, w = 0 ignores it.

Weight schedulers
-----------------
Over S sampling steps s = 0 … S − 1 (s = 0 the noisiest; diffusion time t/T = 1 − s/(S − 1) runs from 1 to 0)
and one mean guidance w̄, the heuristic schedules compared are

.. math::

    \text{constant:}\ w_s = \bar w,\qquad
    \text{linear-increasing:}\ w_s = 2\bar w\,\frac{s}{S-1},\qquad
    \text{cosine-increasing:}\ w_s = \bar w\,\big(\cos(\pi t/T) + 1\big) = \bar w\,\big(1 - \cos\tfrac{\pi s}{S-1}\big),

and the mirror image linear-decreasing :math:`w_s = 2\bar w\,(1 - \tfrac{s}{S-1})`.  All four have mean exactly
w̄ over the S steps (Σ_s s = S(S − 1)/2; Σ_s cos(πs/(S − 1)) = 0 by the symmetry s ↔ S − 1 − s), so they differ
only in *when* the guidance is spent.

What is reconstructed
---------------------
The arXiv id (2404.13040, Wang, Dufour, Andreou, Cani, Fernández Abrevaya, Picard, Kalogeiton; TMLR) and the
abstract's claim — monotonically increasing schedules consistently improve on constant guidance — were
confirmed; the body of the paper (its numbered equations) and the official code were not reachable here.  The
schedule forms are those of the catalogue row, which match a third-party re-implementation found in the code
index (linear w̄·2s/(S − 1), cosine w̄(cos(π t_norm) + 1)); the CFG convention ε_u + w(ε_c − ε_u) is the
catalogue's.  So equation tags below name the *form* (CFG, linear, cosine), not the paper's numbers.  The toy,
network, metrics and selection criterion are ours (`experiment.py`).

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/diffusion-generative/cfg-weight-schedulers.ipynb
"""

from __future__ import annotations

import numpy as np

CATALOG_ENTRY = {
    "slug": "cfg-weight-schedulers",
    "title": "Analysis of Classifier-Free Guidance Weight Schedulers",
    "authors": "Xi Wang, Nicolas Dufour, Nefeli Andreou, Marie-Paule Cani, Victoria Fernández Abrevaya, "
    "David Picard, Vicky Kalogeiton",
    "year": 2024,
    "arxiv": "2404.13040",
    "family": "diffusion-generative",
    "notebook": "notebooks/diffusion-generative/cfg-weight-schedulers.ipynb",
    "verified": "reconstructed",
    "verification_note": "arXiv id, authors and the abstract's claim confirmed; the paper body and official code "
    "were not reachable.  The CFG combination ε_u + w(ε_c − ε_u) and the linear/cosine increasing forms with "
    "mean w̄ are from the catalogue row, matching a third-party re-implementation; the decreasing control, the "
    "toy, metrics and the validation criterion are ours.",
    "summary": "Classifier-free guidance with a weight that changes over the sampling steps: at the same mean "
    "guidance, monotonically increasing schedules (little guidance at high noise, much near the data) are "
    "claimed to give a better quality–diversity trade-off than a constant weight.",
    "equations": [
        "ε̂ = ε_u + w_s (ε_c − ε_u)   (classifier-free guidance, w = 1 conditional)",
        "constant: w_s = w̄;  linear-increasing: w_s = 2 w̄ s/(S − 1),  s = 0 … S − 1 (s = 0 noisiest)",
        "cosine-increasing: w_s = w̄ (cos(π t/T) + 1),  t/T = 1 − s/(S − 1)",
        "linear-decreasing (control): w_s = 2 w̄ (1 − s/(S − 1));  every schedule has mean w̄",
    ],
}

SCHEDULES = ("constant", "linear-increasing", "cosine-increasing", "linear-decreasing")

__all__ = ["CATALOG_ENTRY", "SCHEDULES", "cfg_combine", "guidance_weights", "ddim_steps", "scheduled_cfg_eps"]


def cfg_combine(eps_u, eps_c, w) -> np.ndarray:
    """ε̂ = ε_u + w (ε_c − ε_u)."""
    eps_u, eps_c = np.asarray(eps_u, dtype=np.float64), np.asarray(eps_c, dtype=np.float64)
    if eps_u.shape != eps_c.shape:
        raise ValueError(f"`eps_u` and `eps_c` must have one shape, got {eps_u.shape} and {eps_c.shape}")
    return eps_u + w * (eps_c - eps_u)  # CFG


def guidance_weights(schedule: str, w_bar: float, S: int) -> np.ndarray:
    """w_0 … w_{S−1} of `schedule` with mean w̄ over S sampling steps (step 0 is the noisiest)."""
    if schedule not in SCHEDULES:
        raise ValueError(f"`schedule` must be one of {SCHEDULES}, got {schedule!r}")
    if int(S) != S or S < 2:
        raise ValueError(f"`S` must be an integer ≥ 2, got {S}")
    u = np.arange(S) / (S - 1)  # s/(S − 1) = 1 − t/T
    if schedule == "constant":
        return np.full(S, float(w_bar))
    if schedule == "linear-increasing":
        return 2 * w_bar * u  # linear: w_s = 2 w̄ s/(S − 1)
    if schedule == "cosine-increasing":
        return w_bar * (np.cos(np.pi * (1 - u)) + 1)  # cosine: w̄ (cos(π t/T) + 1)
    return 2 * w_bar * (1 - u)  # linear-decreasing (the mirror image; a control, not the paper's proposal)


def ddim_steps(T: int, S: int) -> np.ndarray:
    """The 0-based diffusion steps `samplers.ddim_sample` visits with `steps=S`, noisiest first (its own rule:
    S evenly spaced steps of 0 … T − 1, rounded)."""
    return np.unique(np.round(np.linspace(0, T - 1, S)).astype(int))[::-1]


def scheduled_cfg_eps(eps_cond, eps_uncond, weights, steps):
    """An ε function of (x, t) for the samplers: CFG with weight `weights[s]` at the s-th visited step
    `steps[s]` (e.g. `ddim_steps`); `eps_cond(x, t)` and `eps_uncond(x, t)` are the two predictions."""
    weights, steps = np.asarray(weights, dtype=np.float64), np.asarray(steps)
    if weights.shape != steps.shape:
        raise ValueError(f"one weight per visited step needed, got {weights.shape} and {steps.shape}")
    index = {int(t): s for s, t in enumerate(steps)}

    def eps(x, t):
        if int(t) not in index:
            raise KeyError(f"step {t} is not one of the scheduled steps")
        return cfg_combine(eps_uncond(x, t), eps_cond(x, t), weights[index[int(t)]])

    return eps
