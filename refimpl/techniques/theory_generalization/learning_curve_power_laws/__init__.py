r"""Learning curves are predictable: test error falls as a power law in the number of training examples
towards an irreducible floor, ε(m) ≈ α m^β + γ, so small-data runs forecast large-data ones; and the best model
size grows more slowly than the data.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.

The law
-------
Hestness et al. train models of several sizes on shards of growing size m, keep the best model at each m (its
size tuned), and find across domains

.. math::

    \varepsilon(m) \approx \alpha\,m^{\beta} + \gamma,\qquad \beta < 0,

a "power-law region" between a small-data region (best-guess error) and an irreducible-error floor γ.  The
exponent is what the domain decides; the fit on small m extrapolates (`fit_power_law`, nonlinear least squares on
the log errors through the family's shared `fitting` module; `fit_pure_power_law` is the same without the floor —
the ablation).  The best model size grows sub-linearly, :math:`s^\ast(m) \propto m^{\delta}` with δ < 1
(`growth_exponent`).

What is reconstructed
---------------------
The law and the procedure follow the catalogue's summary of the paper; the full text was not read.  The toy is
ours: one-hidden-layer MLPs on the 8×8 digits, m from 25 to all 899 training images, width and learning rate
chosen on the validation split at each m.

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/theory-generalization/learning-curve-power-laws.ipynb
"""

from __future__ import annotations

import numpy as np

from .. import fitting

CATALOG_ENTRY = {
    "slug": "learning-curve-power-laws",
    "title": "Deep Learning Scaling is Predictable, Empirically",
    "authors": "Joel Hestness, Sharan Narang, Newsha Ardalani, Gregory Diamos, Heewoo Jun, Hassan Kianinejad, "
    "Md. Mostofa Ali Patwary, Yang Yang, Yanqi Zhou",
    "year": 2017,
    "arxiv": "1712.00409",
    "family": "theory-generalization",
    "notebook": "notebooks/theory-generalization/learning-curve-power-laws.ipynb",
    "verified": "reconstructed",
    "verification_note": "arXiv id marked unconfirmed in the catalogue; confirmed here from the title and "
    "abstract.  The full text was not read: the law ε(m) ≈ αm^β + γ, the best-model-per-size procedure and the "
    "sub-linear growth of the best model size follow the catalogue's summary; the digits MLPs, the fitting "
    "method (least squares on log error) and the grids are ours.",
    "summary": "Test error falls as a power law in the training-set size towards an irreducible floor, "
    "ε(m) ≈ αm^β + γ, when the model size is tuned at every size; fits on small data forecast large-data error, "
    "and the best model size grows sub-linearly with the data.",
    "equations": [
        "ε(m) ≈ α m^β + γ,  β < 0   (power-law learning curve with an irreducible floor)",
        "s*(m) ∝ m^δ,  δ < 1   (the best model size grows sub-linearly)",
    ],
}

__all__ = ["CATALOG_ENTRY", "fit_power_law", "fit_pure_power_law", "growth_exponent"]


def _check(m, err):
    m, err = np.asarray(m, dtype=np.float64), np.asarray(err, dtype=np.float64)
    if m.shape != err.shape or m.ndim != 1 or len(m) < 2:
        raise ValueError(
            f"`m` and `err` must be matching 1-d arrays of ≥ 2 points, got {m.shape} and {err.shape}"
        )
    if np.any(m <= 0) or np.any(err <= 0):
        raise ValueError("`m` and `err` must be positive")
    return m, err


def _in_paper_symbols(fit) -> dict:
    """The family's y = a·x^(−α) + e renamed to the paper's ε = α m^β + γ (β = −α of the shared fit)."""
    return {"alpha": fit["a"], "beta": -fit["alpha"], "gamma": fit["e"], "predict": fit["predict"]}


def fit_power_law(m, err) -> dict:
    """ε(m) = α m^β + γ by least squares on log ε (α > 0, −10 ≤ β ≤ 0, 0 ≤ γ < min ε); {"alpha", "beta", "gamma",
    "predict"}.  Needs ≥ 3 points."""
    m, err = _check(m, err)
    if len(m) < 3:
        raise ValueError("fit_power_law: three parameters need at least 3 points")
    return _in_paper_symbols(fitting.fit_power_law(m, err, log_residuals=True, alpha_max=10.0))


def fit_pure_power_law(m, err) -> dict:
    """ε(m) = α m^β (a line in log–log): the fit without the floor."""
    m, err = _check(m, err)
    return _in_paper_symbols(fitting.fit_power_law(m, err, floor=False))


def growth_exponent(m, best_size) -> float:
    """δ in s*(m) ∝ m^δ: the log–log slope of the best model size against the data size."""
    m, s = _check(m, best_size)
    return float(np.polyfit(np.log(m), np.log(s), 1)[0])
