r"""Debiased loss weighting for ε-prediction diffusion: weight the noise-regression loss at step t by
λ(t) = 1/√SNR(t), so that high-noise steps — where an ε error becomes a large x₀ error — are not under-weighted.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.

Why constant weighting is "biased" for x₀
-----------------------------------------
A DDPM network predicts the noise ε̂_θ(x_t, t) of :math:`x_t = \sqrt{\bar\alpha_t}x_0 + \sqrt{1-\bar\alpha_t}\,\varepsilon`
and is trained with DDPM's L_simple, the *constant*-weight loss :math:`\mathbb E_t\,\lVert\varepsilon -
\hat\varepsilon_\theta\rVert^2` (Ho et al., arXiv 2006.11239, Eq. 14).  The clean point it implies is

.. math::

    \hat x_0 = \frac{x_t - \sqrt{1-\bar\alpha_t}\,\hat\varepsilon_\theta}{\sqrt{\bar\alpha_t}}, \qquad
    \lVert x_0 - \hat x_0\rVert^2 = \frac{1}{\mathrm{SNR}(t)}\,\lVert\varepsilon - \hat\varepsilon_\theta\rVert^2,
    \qquad \mathrm{SNR}(t) = \frac{\bar\alpha_t}{1-\bar\alpha_t},

so an ε error of a given size costs 1/SNR(t) times as much in x₀ — hugely more at the noisy end.  Under the
constant weight the network spends its capacity evenly in ε, which the paper calls a biased estimate of x₀.  Its
remedy (the weighted objective of the method section, "Debias (Ours)" in the official code) is

.. math::

    \mathcal L_{\rm debias} = \sum_t \mathbb E_{x_0,\varepsilon}\,\frac{1}{\sqrt{\mathrm{SNR}(t)}}\,
    \lVert\varepsilon - \hat\varepsilon_\theta(x_t, t)\rVert^2 ,

half-way (in log weight) between L_simple (λ = 1, ε-error) and the x₀ loss (λ = 1/SNR).  Baselines of the same
form: Min-SNR-γ in its ε form, :math:`\lambda(t) = \min(\gamma/\mathrm{SNR}(t), 1)` (Hang et al., arXiv 2303.09556;
the official code's ``noise_MinSNR`` with γ = 5), and P2, :math:`\lambda(t) = (k + \mathrm{SNR}(t))^{-\gamma}`
(Choi et al., arXiv 2204.00227; the official code's P2 branch).

Note that every weighting has the same minimiser when the network can represent ε* = E[ε | x_t] exactly:
the weights only decide where a *finite* network and a *finite* budget put their error.  The claim is therefore
an empirical one about training, and the experiment measures it against the exact E[x₀ | x_t] of a mixture.

Source and what is reconstructed
--------------------------------
The weight is taken from the official code, ``guided_diffusion/gaussian_diffusion.py``
(``GaussianDiffusion.training_losses``: ``weight = 1 / sqrt_snr`` on the ε-MSE, with the P2, Min-SNR and 1/SNR
alternatives commented beside it; ``__init__`` defines ``snr = 1/(1 − ᾱ) − 1`` and ``noise_MinSNR``).  The
paper's text was only reachable as its abstract and summaries, so its equation numbers are not cited here; the
loss is the one stated above.  Weights are used as they are (the code does not normalise them); with Adam a
constant rescaling of the loss hardly matters.  The toy (a 2-D mixture), the network, T and all sizes are ours.

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/diffusion-generative/debiased-diffusion-weighting.ipynb
"""

from __future__ import annotations

import numpy as np

from ..schedules import snr

CATALOG_ENTRY = {
    "slug": "debiased-diffusion-weighting",
    "title": "Unmasking Bias in Diffusion Model Training (first version: Debias the Training of Diffusion Models)",
    "authors": "Hu Yu, Li Shen, Jie Huang, Hongsheng Li, Feng Zhao",
    "year": 2023,
    "arxiv": "2310.08442",
    "family": "diffusion-generative",
    "notebook": "notebooks/diffusion-generative/debiased-diffusion-weighting.ipynb",
    "verified": "official-code",
    "verification_note": "arXiv id confirmed (v1 'Debias the Training of Diffusion Models', ICLR 2024 submission "
    "withdrawn; v3 retitled 'Unmasking Bias in Diffusion Model Training').  The weight λ(t) = 1/√SNR(t) on the "
    "ε-MSE is read from the official code (yuhuUSTC/Debias, guided_diffusion/gaussian_diffusion.py, "
    "training_losses; Min-SNR-5 and P2 from the same file).  The paper's full text was not reachable, so no "
    "equation numbers are cited.  The toy, network and sizes are ours.",
    "summary": "Weight DDPM's ε-prediction loss by 1/√SNR(t) instead of a constant: since an ε error becomes "
    "a 1/SNR-times larger x₀ error, constant weighting neglects the high-noise steps where x₀ is hardest.",
    "equations": [
        "x̂₀ = (x_t − √(1−ᾱ_t) ε̂)/√ᾱ_t,   ‖x₀ − x̂₀‖² = ‖ε − ε̂‖²/SNR(t),   SNR(t) = ᾱ_t/(1 − ᾱ_t)",
        "L_simple = E_t ‖ε − ε̂_θ(x_t, t)‖²   (constant weight; Ho et al. Eq. 14)",
        "L_debias = Σ_t E 1/√SNR(t) · ‖ε − ε̂_θ(x_t, t)‖²   (official code: weight = 1/sqrt_snr)",
        "Min-SNR-γ (ε form): λ(t) = min(γ/SNR(t), 1);   P2: λ(t) = (k + SNR(t))^(−γ)",
    ],
}

__all__ = [
    "CATALOG_ENTRY",
    "constant_weights",
    "debiased_weights",
    "min_snr_weights",
    "p2_weights",
    "x0_from_eps",
    "x0_error_per_step",
]


def _abar(alpha_bar) -> np.ndarray:
    a = np.asarray(alpha_bar, dtype=np.float64)
    if a.ndim != 1 or np.any(a <= 0) or np.any(a >= 1):
        raise ValueError("`alpha_bar` must be a 1-d array of values in (0, 1)")
    return a


def constant_weights(alpha_bar) -> np.ndarray:
    """λ(t) = 1: DDPM's L_simple (the ablation without the paper's idea)."""
    return np.ones_like(_abar(alpha_bar))


def debiased_weights(alpha_bar) -> np.ndarray:
    """λ(t) = 1/√SNR(t) = √((1 − ᾱ_t)/ᾱ_t)   (the paper's weight; official code ``1 / sqrt_snr``)."""
    return 1.0 / np.sqrt(snr(_abar(alpha_bar)))


def min_snr_weights(alpha_bar, gamma: float = 5.0) -> np.ndarray:
    """λ(t) = min(γ/SNR(t), 1)   (Min-SNR-γ for ε-prediction, Hang et al. 2023; code ``noise_MinSNR``)."""
    if gamma <= 0:
        raise ValueError(f"`gamma` must be > 0, got {gamma}")
    return np.minimum(gamma / snr(_abar(alpha_bar)), 1.0)


def p2_weights(alpha_bar, gamma: float = 1.0, k: float = 1.0) -> np.ndarray:
    """λ(t) = 1/(k + SNR(t))^γ   (P2 weighting, Choi et al. 2022; the official code's P2 branch)."""
    if gamma < 0 or k <= 0:
        raise ValueError(f"need gamma ≥ 0 and k > 0, got {gamma}, {k}")
    return 1.0 / (k + snr(_abar(alpha_bar))) ** gamma


def x0_from_eps(x_t, eps, alpha_bar_t) -> np.ndarray:
    """x̂₀ = (x_t − √(1 − ᾱ_t) ε̂)/√ᾱ_t   (the clean point an ε-prediction implies)."""
    a = np.asarray(alpha_bar_t, dtype=np.float64)
    return (np.asarray(x_t, dtype=np.float64) - np.sqrt(1 - a) * np.asarray(eps, dtype=np.float64)) / np.sqrt(
        a
    )


def x0_error_per_step(eps_fn, exact_eps_fn, x0, alpha_bar, rng, steps=None) -> np.ndarray:
    """Mean squared distance (per dimension) between the x̂₀ of `eps_fn` and that of the exact predictor
    `exact_eps_fn` (which gives E[x₀ | x_t] by Tweedie) at each step in `steps` (default all), on
    x_t = √ᾱ_t x₀ + √(1 − ᾱ_t) ε with fresh noise from `rng`."""
    alpha_bar = _abar(alpha_bar)
    x0 = np.asarray(x0, dtype=np.float64)
    rng = np.random.default_rng(rng)
    steps = range(len(alpha_bar)) if steps is None else steps
    out = []
    for t in steps:
        a = alpha_bar[t]
        xt = np.sqrt(a) * x0 + np.sqrt(1 - a) * rng.standard_normal(x0.shape)
        learned = x0_from_eps(xt, eps_fn(xt, t), a)
        best = x0_from_eps(xt, exact_eps_fn(xt, t), a)
        out.append(np.mean((learned - best) ** 2))
    return np.array(out)
