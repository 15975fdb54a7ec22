"""Plot helpers for notebooks and the CLI (matplotlib, imported lazily; headless-safe)."""

from __future__ import annotations

import os

import numpy as np

__all__ = ["pyplot", "curves", "weight_histogram", "save"]


def pyplot():
    """matplotlib.pyplot, with the Agg backend when there is no display and no notebook."""
    import sys

    import matplotlib

    if "ipykernel" not in sys.modules and not os.environ.get("DISPLAY") and not os.environ.get("MPLBACKEND"):
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def curves(
    series: dict,
    xlabel: str = "epoch",
    ylabel: str = "",
    title: str = "",
    x=None,
    logy: bool = False,
    ax=None,
):
    """One line per label; `series` maps label → sequence (or (x, y) pair)."""
    plt = pyplot()
    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for label, ys in series.items():
        if isinstance(ys, tuple) and len(ys) == 2:
            ax.plot(np.asarray(ys[0]), np.asarray(ys[1]), label=label)
        else:
            ys = np.asarray(ys)
            ax.plot(np.arange(len(ys)) if x is None else x, ys, label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    if logy:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if fig is not None:
        fig.tight_layout()
    return fig if fig is not None else ax.figure


def weight_histogram(arrays: dict, bins: int = 60, log: bool = False, title: str = "weights", ax=None):
    """Overlaid histograms of the values in each array (e.g. weights before/after a technique)."""
    plt = pyplot()
    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=(5.5, 3.6))
    allv = np.concatenate([np.ravel(a) for a in arrays.values()])
    edges = np.linspace(allv.min(), allv.max(), bins + 1) if allv.size else bins
    for label, a in arrays.items():
        ax.hist(np.ravel(a), bins=edges, alpha=0.5, label=label, log=log)
    ax.set_xlabel("value")
    ax.set_ylabel("count")
    ax.set_title(title)
    ax.legend(fontsize=8)
    if fig is not None:
        fig.tight_layout()
    return fig if fig is not None else ax.figure


def save(fig, path, dpi: int = 110) -> str:
    """Write `fig` (PNG, SVG or PDF, from the suffix), creating the folder, and close it; returns the path."""
    path = os.fspath(path)
    if dpi <= 0:
        raise ValueError(f"save: `dpi` must be > 0, got {dpi}")
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fig.savefig(path, dpi=dpi)
    pyplot().close(fig)
    return path
