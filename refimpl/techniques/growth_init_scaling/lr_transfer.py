r"""Learning-rate transfer across widths (μTransfer, Tensor Programs V, arXiv 2203.03466, Sec. 3 and Fig. 1):
sweep the base learning rate at each width and several seeds, find the optimum per (width, seed) and ask how
far it moves with width.

* `lr_sweep(run, widths, lrs, seeds)` evaluates ``run(width, lr, seed) -> loss`` (a validation loss; ∞ or NaN
  for a diverged run) on the whole grid → `LRSweep`.
* `refined_log2_argmin` places the optimum between grid points: a parabola through the best grid point and
  its two neighbours in log₂ lr (the usual reading of a loss-vs-log-lr curve), clipped to the neighbours; at
  the edge of the grid, or next to a diverged point, the grid point itself.
* `LRSweep.optimum()` — log₂ lr* for every (width, seed); `spread()` — per seed, max − min of log₂ lr* over
  widths (octaves the optimum moves); `slope()` — per seed, the least-squares slope of log₂ lr* against log₂
  width (−1 means lr* ∝ 1/width); `interval(width)` — the 95 % t interval of log₂ lr* over seeds;
  `transfer_regret(base, target)` — per seed, the loss at `target` width with the lr that was best at the
  `base` width, minus the best loss at `target` (what tuning on the small model costs the large one).
* `plot_loss_vs_lr(ax, lrs, widths, curves)` and `plot_optimum_vs_width(ax, widths, names, log2_opt)` — the
  two panels every transfer experiment shows: one loss-vs-lr curve per width, and where the optimum sits.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np

from ...experiments.stats import mean_interval

__all__ = ["LRSweep", "lr_sweep", "refined_log2_argmin", "plot_loss_vs_lr", "plot_optimum_vs_width"]


def refined_log2_argmin(lrs, losses) -> float:
    """log₂ of the loss-minimising lr, refined by a parabola in log₂ lr through the best grid point and its
    neighbours (clipped to them); non-finite losses count as +∞.  `lrs` ascending, > 0."""
    lrs, losses = np.asarray(lrs, np.float64), np.asarray(losses, np.float64)
    if lrs.ndim != 1 or lrs.shape != losses.shape or lrs.size < 1:
        raise ValueError(
            f"refined_log2_argmin: `lrs` and `losses` must be 1-D of equal length, "
            f"got {lrs.shape}, {losses.shape}"
        )
    if np.any(lrs <= 0) or np.any(np.diff(lrs) <= 0):
        raise ValueError(f"refined_log2_argmin: `lrs` must be positive and ascending, got {lrs}")
    z = np.log2(lrs)
    f = np.where(np.isfinite(losses), losses, np.inf)
    if not np.isfinite(f).any():
        raise ValueError("refined_log2_argmin: every run diverged (no finite loss)")
    i = int(np.argmin(f))
    if i == 0 or i == len(f) - 1 or not (np.isfinite(f[i - 1]) and np.isfinite(f[i + 1])):
        return float(z[i])
    (z0, z1, z2), (f0, f1, f2) = z[i - 1 : i + 2], f[i - 1 : i + 2]
    denom = (z0 - z1) * (z0 - z2) * (z1 - z2)
    a = (z2 * (f1 - f0) + z1 * (f0 - f2) + z0 * (f2 - f1)) / denom
    b = (z2**2 * (f0 - f1) + z1**2 * (f2 - f0) + z0**2 * (f1 - f2)) / denom
    if a <= 0:
        return float(z1)
    return float(np.clip(-b / (2 * a), z0, z2))


@dataclasses.dataclass
class LRSweep:
    """losses[w, l, s] for widths w, learning rates l (ascending) and seeds s."""

    widths: list
    lrs: list
    seeds: list
    losses: np.ndarray

    def optimum(self) -> np.ndarray:
        """log₂ lr* of shape (widths, seeds)."""
        W, _, S = self.losses.shape
        return np.array(
            [[refined_log2_argmin(self.lrs, self.losses[w, :, s]) for s in range(S)] for w in range(W)]
        )

    def spread(self) -> np.ndarray:
        """Per seed: max − min over widths of log₂ lr* (octaves)."""
        opt = self.optimum()
        return opt.max(axis=0) - opt.min(axis=0)

    def slope(self) -> np.ndarray:
        """Per seed: slope of log₂ lr* against log₂ width."""
        z = np.log2(np.asarray(self.widths, np.float64))
        return np.array([np.polyfit(z, col, 1)[0] for col in self.optimum().T])

    def interval(self, width: int):
        """The 95 % t interval over seeds of log₂ lr* at `width`."""
        return mean_interval(self.optimum()[self._index(width)])

    def _index(self, width):
        if width not in self.widths:
            raise ValueError(f"LRSweep: `width` {width!r} is not one of the swept widths {self.widths}")
        return self.widths.index(width)

    def best_index(self, width: int) -> np.ndarray:
        """Per seed, the grid index of the best lr at `width`."""
        f = self.losses[self._index(width)]
        return np.argmin(np.where(np.isfinite(f), f, np.inf), axis=0)

    def transfer_regret(self, base: int, target: int) -> np.ndarray:
        """Per seed: loss at `target` with the grid lr best at `base`, minus the best loss at `target`
        (∞ when the transferred lr diverges at `target`)."""
        f = np.where(np.isfinite(self.losses), self.losses, np.inf)[self._index(target)]
        pick = self.best_index(base)
        return np.array([f[pick[s], s] - f[:, s].min() for s in range(f.shape[1])])


def lr_sweep(run: Callable, widths: Sequence[int], lrs: Sequence[float], seeds: Sequence[int]) -> LRSweep:
    """Evaluate ``run(width, lr, seed) -> loss`` on every (width, lr, seed)."""
    widths, lrs, seeds = [int(w) for w in widths], [float(v) for v in lrs], [int(s) for s in seeds]
    if not widths or not lrs or not seeds:
        raise ValueError(
            f"lr_sweep: `widths`, `lrs` and `seeds` must be non-empty, got {widths}, {lrs}, {seeds}"
        )
    if any(v <= 0 for v in lrs) or any(b <= a for a, b in zip(lrs, lrs[1:])):
        raise ValueError(f"lr_sweep: `lrs` must be positive and ascending, got {lrs}")
    losses = np.array([[[float(run(w, lr, s)) for s in seeds] for lr in lrs] for w in widths])
    return LRSweep(widths, lrs, seeds, losses)


def plot_loss_vs_lr(ax, lrs, widths, curves, cmap) -> None:
    """One validation-loss-vs-log₂-lr curve per width (`curves[i]` for `widths[i]`), coloured by width."""
    for i, w in enumerate(widths):
        ax.plot(
            np.log2(lrs), curves[i], "o-", ms=3, color=cmap(i / max(len(widths) - 1, 1)), label=f"n={int(w)}"
        )
    ax.set_xlabel("log₂ base learning rate")


def plot_optimum_vs_width(ax, widths, names, log2_opt) -> None:
    """log₂ lr* against log₂ width for each arm (`log2_opt[a]`: seeds × widths), with 95 % intervals."""
    for a, name in enumerate(names):
        m = log2_opt[a].mean(axis=0)
        n = log2_opt.shape[1]
        half = 1.96 * log2_opt[a].std(axis=0, ddof=1) / np.sqrt(n) if n > 1 else 0 * m
        ax.errorbar(np.log2(widths) + 0.05 * (a - 1), m, yerr=half, fmt="o-", capsize=3, label=name)
    ax.set_xlabel("log₂ width")
    ax.set_ylabel("log₂ optimal lr (95 % interval)")
    ax.set_title("where the optimum sits", fontsize=9)
    ax.legend(fontsize=7)
