r"""Power laws and their uncertainty, shared by the family's scaling and learning-curve techniques.

A learning curve or a scaling law is written here in one form,

.. math::

    y(x) = a\,x^{-\alpha} + e,\qquad a \ge 0,\ \alpha \ge 0,\ e \ge 0,

(x a data size, a parameter count or a compute budget; e the irreducible floor).  Each technique renames the
three constants to its paper's symbols.  `fit_power_law` fits it by nonlinear least squares (several starts; x is
rescaled by its geometric mean inside the fit so the amplitude is well conditioned), either on y itself or on
log y (relative residuals, the usual choice when y spans decades), or without the floor (a line in log–log).
`bootstrap_fit` gives a fit's uncertainty from repeated curves (one per seed): resample the curves with
replacement, average, refit, and take percentile intervals of every constant and of the prediction.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.optimize import OptimizeWarning, curve_fit

__all__ = ["power_law", "fit_power_law", "bootstrap_fit"]


def power_law(x, a: float, alpha: float, e: float) -> np.ndarray:
    """y = a·x^(−α) + e."""
    return a * np.asarray(x, dtype=np.float64) ** (-alpha) + e


def _points(x, y):
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1 or x.size < 2:
        raise ValueError(
            f"`x` and `y` must be matching 1-d arrays of ≥ 2 points, got {x.shape} and {y.shape}"
        )
    if np.any(x <= 0) or np.any(y <= 0) or not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError("`x` and `y` must be positive and finite")
    return x, y


def _result(a, alpha, e, sse):
    return {
        "a": float(a),
        "alpha": float(alpha),
        "e": float(e),
        "sse": float(sse),
        "predict": lambda xx: power_law(xx, a, alpha, e),
    }


def fit_power_law(x, y, *, floor: bool = True, log_residuals: bool = False, alpha_max: float = 10.0) -> dict:
    """Least-squares fit of y = a·x^(−α) + e; {"a", "alpha", "e", "sse", "predict"}.

    floor=False fits the pure law y = a·x^(−α) (e = 0) exactly, as a line in log–log.  With the floor, the residuals
    are y − ŷ, or log y − log ŷ when `log_residuals` (then e is kept below min y so every log is defined); the
    floor needs ≥ 3 points.  α is bounded to [0, alpha_max]."""
    x, y = _points(x, y)
    if alpha_max <= 0:
        raise ValueError(f"`alpha_max` must be > 0, got {alpha_max}")
    slope, intercept = np.polyfit(np.log(x), np.log(y), 1)  # log y = log a − α log x
    if not floor:
        a, alpha = np.exp(intercept), -slope
        return _result(a, alpha, 0.0, np.sum((np.log(y) - np.log(power_law(x, a, alpha, 0.0))) ** 2))
    if x.size < 3:
        raise ValueError("fit_power_law: a law with a floor has three constants and needs ≥ 3 points")
    scale = np.exp(np.mean(np.log(x)))
    u = np.log(x / scale)
    e_max = 0.999 * y.min() if log_residuals else np.inf
    target = np.log(y) if log_residuals else y

    def model(u, log_a, alpha, e):
        yhat = np.exp(log_a - alpha * u) + e
        return np.log(yhat) if log_residuals else yhat

    starts = {float(np.clip(-slope, 1e-3, alpha_max)), 0.2, 0.5, 1.0, 2.0}
    best = None
    for alpha0 in sorted(starts):
        alpha0 = min(alpha0, alpha_max)
        e0 = 0.0 if log_residuals else max(y.min() - 0.1 * np.ptp(y), 0.0)
        p0 = (np.log(max(np.exp(intercept) * scale**slope, 1e-12)), alpha0, e0)
        try:
            with warnings.catch_warnings():  # three points fit exactly: no covariance, which is not used
                warnings.simplefilter("ignore", OptimizeWarning)
                popt, _ = curve_fit(
                    model,
                    u,
                    target,
                    p0=p0,
                    bounds=([-50.0, 0.0, 0.0], [50.0, alpha_max, e_max]),
                    maxfev=20000,
                )
        except (RuntimeError, ValueError):
            continue
        sse = float(np.sum((model(u, *popt) - target) ** 2))
        if best is None or sse < best[0]:
            best = (sse, popt)
    if best is None:
        raise RuntimeError("fit_power_law: no start converged")
    sse, (log_a, alpha, e) = best
    return _result(np.exp(log_a) * scale**alpha, alpha, e, sse)  # a·(x/s)^(−α) = (a·s^α)·x^(−α)


def bootstrap_fit(fit, x, curves, *, n_boot: int = 200, level: float = 0.9, seed=0, at=None) -> dict:
    """Percentile intervals of a fit from repeated curves (rows of `curves`, e.g. one per seed).

    Each of `n_boot` resamples draws the rows with replacement, averages them and calls fit(x, mean curve) (any
    function returning a dict of numbers, plus an optional "predict").  Returns {"point": the fit of the mean of
    all rows, name: (lo, hi) for every numeric constant, "predict": (lo, hi) arrays at `at` when given}."""
    curves = np.asarray(curves, dtype=np.float64)
    if curves.ndim != 2 or curves.shape[1] != np.size(x):
        raise ValueError(f"`curves` must have shape (repeats, {np.size(x)}), got {curves.shape}")
    if curves.shape[0] < 2:
        raise ValueError("`curves`: a bootstrap over repeats needs ≥ 2 rows")
    if n_boot < 10 or not 0 < level < 1:
        raise ValueError(f"need n_boot ≥ 10 and level in (0, 1), got {n_boot} and {level}")
    rng = np.random.default_rng(seed)
    point = fit(x, curves.mean(0))
    names = [k for k, v in point.items() if isinstance(v, (int, float))]
    draws = {k: [] for k in names}
    preds = []
    for _ in range(n_boot):
        f = fit(x, curves[rng.integers(0, curves.shape[0], curves.shape[0])].mean(0))
        for k in names:
            draws[k].append(f[k])
        if at is not None:
            preds.append(f["predict"](at))
    q = (100 * (1 - level) / 2, 100 * (1 + level) / 2)
    out = {"point": point, **{k: tuple(float(v) for v in np.percentile(draws[k], q)) for k in names}}
    if at is not None:
        lo, hi = np.percentile(np.asarray(preds), q, axis=0)
        out["predict"] = (lo, hi)
    return out
