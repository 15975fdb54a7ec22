r"""PAC-Bayes and Occam bound calculators shared by the family.

For a hypothesis h chosen after seeing n i.i.d. examples, with prior mass P(h) fixed before them, with
probability ≥ 1 − δ simultaneously for every h (the Occam / PAC-Bayes bound with a point posterior),

.. math::

    \mathrm{kl}\big(\hat R(h)\,\big\|\,R(h)\big) \le \frac{\log\frac{1}{P(h)} + \log\frac{2\sqrt n}{\delta}}{n},

kl the Bernoulli relative entropy.  `kl_bound` inverts it (the largest R allowed, by bisection); `mcallester_bound`
is its Pinsker relaxation R ≤ R̂ + √(complexity/2), looser but in closed form.
"""

from __future__ import annotations

import numpy as np

__all__ = ["kl_bernoulli", "kl_inverse_upper", "kl_bound", "mcallester_bound"]


def _check_rate(r, name):
    r = float(r)
    if not 0 <= r <= 1:
        raise ValueError(f"`{name}` must be an error rate in [0, 1], got {r}")
    return r


def kl_bernoulli(q, p) -> float:
    """kl(q ‖ p) = q log(q/p) + (1 − q) log((1 − q)/(1 − p)) between Bernoulli rates (0 log 0 = 0)."""
    q, p = _check_rate(q, "q"), _check_rate(p, "p")
    out = 0.0
    for a, b in ((q, p), (1 - q, 1 - p)):
        if a > 0:
            out += np.inf if b == 0 else a * np.log(a / b)
    return float(out)


def kl_inverse_upper(q, c):
    """The largest p ≥ q with kl(q ‖ p) ≤ c, elementwise over arrays (bisection, 60 halvings: error < 1e-15)."""
    q, c = np.broadcast_arrays(np.asarray(q, dtype=np.float64), np.asarray(c, dtype=np.float64))
    if np.any((q < 0) | (q > 1)):
        raise ValueError("`q` must hold error rates in [0, 1]")
    if np.any(c < 0):
        raise ValueError("`c` (the complexity budget) must be ≥ 0")
    lo, hi = q.copy(), np.ones_like(q)
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        with np.errstate(divide="ignore", invalid="ignore"):
            kl = np.where(q > 0, q * np.log(q / mid), 0.0) + np.where(
                q < 1, (1 - q) * np.log((1 - q) / (1 - mid)), 0.0
            )
        ok = kl <= c
        lo, hi = np.where(ok, mid, lo), np.where(ok, hi, mid)
    out = np.where(q >= 1, 1.0, lo)
    return float(out) if out.ndim == 0 else out


def _complexity(log_p, n, delta):
    if n < 1:
        raise ValueError(f"`n` must be ≥ 1, got {n}")
    if not 0 < delta < 1:
        raise ValueError(f"`delta` must be in (0, 1), got {delta}")
    if np.any(np.asarray(log_p) > 0):
        raise ValueError(f"`log_p` is a log-probability and must be ≤ 0, got {log_p}")
    return (-np.asarray(log_p, dtype=np.float64) + np.log(2 * np.sqrt(n) / delta)) / n


def kl_bound(train_error, log_p, n, delta=0.05):
    """R ≤ kl⁻¹(R̂, [log 1/P + log(2√n/δ)]/n) (elementwise over arrays of errors and log priors)."""
    return kl_inverse_upper(train_error, _complexity(log_p, n, delta))


def mcallester_bound(train_error, log_p, n, delta=0.05) -> float:
    """R ≤ R̂ + √([log 1/P + log(2√n/δ)]/(2n)) (capped at 1)."""
    return float(
        min(1.0, _check_rate(train_error, "train_error") + np.sqrt(_complexity(log_p, n, delta) / 2))
    )
