r"""Conditional flow matching with the independent coupling, and an ODE sampler.

A source sample x_0 ~ N(0, I) and a data sample x_1 are joined by the straight line
:math:`x_t = (1 - t)\,x_0 + t\,x_1`, whose velocity is :math:`u = x_1 - x_0`; regressing a network
:math:`v_\theta(x_t, t)` onto u over random pairs and times learns the marginal velocity field that carries the
source to the data (Lipman et al., *Flow Matching for Generative Modeling*, arXiv 2210.02747, Eq. 22–23 with
σ_min = 0; Tong et al., *Improving and Generalizing Flow-Based Generative Models with Minibatch Optimal
Transport*, arXiv 2302.00482, I-CFM).  Samples come from integrating dx/dt = v(x, t) from t = 0 to 1 (`euler`).

For data from a Gaussian mixture the marginal field is known in closed form (`exact_velocity`):
:math:`v(x, t) = (\mathbb E[x_1 \mid x_t = x] - x)/(1 - t)`, and given component k,
:math:`x_t \mid k \sim \mathcal N(t\mu_k, (t^2 s_k^2 + (1-t)^2) I)` with
:math:`\mathbb E[x_1 \mid x_t, k] = \mu_k + \frac{t s_k^2}{t^2 s_k^2 + (1-t)^2}(x - t\mu_k)`.
"""

from __future__ import annotations

import numpy as np

from .toys import GaussianMixture

__all__ = ["interpolate", "exact_velocity", "euler"]


def interpolate(x0, x1, t) -> tuple[np.ndarray, np.ndarray]:
    """(x_t, u): x_t = (1 − t) x_0 + t x_1 and the regression target u = x_1 − x_0; t has one entry per row."""
    x0, x1 = np.asarray(x0), np.asarray(x1)
    if x0.shape != x1.shape:
        raise ValueError(f"`x0` and `x1` must have one shape, got {x0.shape} and {x1.shape}")
    t = np.asarray(t, dtype=x0.dtype).reshape(-1, *([1] * (x0.ndim - 1)))
    return (1 - t) * x0 + t * x1, x1 - x0


def exact_velocity(mixture: GaussianMixture):
    """The marginal velocity v(x, t) of independent-coupling CFM from N(0, I) to `mixture` (t in [0, 1))."""

    def v(x, t):
        if not 0 <= t < 1:
            raise ValueError(f"`t` must be in [0, 1), got {t}")
        var = t**2 * mixture.stds**2 + (1 - t) ** 2  # per component
        marginal = GaussianMixture(t * mixture.means, np.sqrt(var), mixture.weights)
        r = marginal.responsibilities(x)  # (n, K)
        gain = t * mixture.stds**2 / var
        # E[x1 | x, k] = μ_k + gain_k (x − t μ_k), averaged over the components' responsibilities
        e_x1 = r @ (mixture.means * (1 - gain * t)[:, None]) + (r @ gain)[:, None] * x
        return (e_x1 - x) / (1 - t)

    return v


def euler(v_fn, x0, steps: int, *, t_end: float = 1.0, return_path: bool = False):
    """Integrate dx/dt = v(x, t) from t = 0 to `t_end` in `steps` equal Euler steps."""
    if steps < 1 or not 0 < t_end <= 1:
        raise ValueError(f"need steps ≥ 1 and t_end in (0, 1], got {steps}, {t_end}")
    x = np.array(x0, dtype=np.float64)
    h = t_end / steps
    path = [x.copy()] if return_path else None
    for i in range(steps):
        x = x + h * v_fn(x, i * h)
        if return_path:
            path.append(x.copy())
    return (x, np.stack(path)) if return_path else x
