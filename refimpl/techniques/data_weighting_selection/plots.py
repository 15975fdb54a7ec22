"""The family's learning-curve plot: a test metric against the kept fraction of the training data, one
line per selection method, with each point's 95 % t interval over seeds as a band."""

from __future__ import annotations

import numpy as np

from ...experiments.stats import mean_interval
from ...plotting import pyplot

__all__ = ["curve_points", "learning_curve"]


def curve_points(per_seed) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean, low, high) per column of `per_seed` (seeds × fractions), the t interval of each mean."""
    v = np.asarray(per_seed, dtype=np.float64)
    if v.ndim != 2:
        raise ValueError(f"curve_points: `per_seed` must be (seeds, fractions), got shape {v.shape}")
    ivs = [mean_interval(v[:, j]) for j in range(v.shape[1])]
    return tuple(np.array([getattr(i, k) for i in ivs]) for k in ("mean", "low", "high"))


def learning_curve(
    fractions,
    curves: dict,
    *,
    reference: dict | None = None,
    ylabel: str = "test accuracy",
    xlabel: str = "fraction of training data kept",
    title: str = "",
    ax=None,
):
    """`curves` maps a method's name to its per-seed values (seeds × len(fractions)); `reference` maps a
    name to per-seed values of one full-data number, drawn as a horizontal line with its band."""
    plt = pyplot()
    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=(5.8, 3.8))
    f = np.asarray(fractions, dtype=np.float64)
    for name, values in curves.items():
        mean, low, high = curve_points(values)
        if mean.shape != f.shape:
            raise ValueError(f"learning_curve: {name!r} has {mean.size} points for {f.size} fractions")
        (line,) = ax.plot(f, mean, marker="o", ms=3, label=name)
        if np.all(np.isfinite(low)):
            ax.fill_between(f, low, high, color=line.get_color(), alpha=0.2, lw=0)
    for name, values in (reference or {}).items():
        mean, low, high = curve_points(np.asarray(values, dtype=np.float64).reshape(-1, 1))
        line = ax.axhline(mean[0], ls="--", color="k", lw=1, label=name)
        if np.isfinite(low[0]):
            ax.axhspan(low[0], high[0], color="k", alpha=0.08, lw=0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if fig is not None:
        fig.tight_layout()
    return fig if fig is not None else ax.figure
