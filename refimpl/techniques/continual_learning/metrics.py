r"""Continual-learning metrics from the accuracy matrix R, R[i, j] = test accuracy on task j after training tasks
0..i (T tasks; entries above the diagonal are the accuracy on tasks not yet trained).

* average accuracy after the last task, :math:`A = \frac1T\sum_j R_{T-1, j}`;
* forgetting (Chaudhry et al., *Riemannian Walk*, arXiv 1801.10112): for each old task the drop from its best
  accuracy so far to its final one, averaged, :math:`F = \frac1{T-1}\sum_{j<T-1}\max_{i<T-1}(R_{i,j} - R_{T-1,j})`;
* backward transfer (Lopez-Paz & Ranzato, *GEM*, arXiv 1706.08840):
  :math:`\mathrm{BWT} = \frac1{T-1}\sum_{j<T-1}(R_{T-1,j} - R_{j,j})` (negative: forgetting);
* forward transfer (ibid.): :math:`\mathrm{FWT} = \frac1{T-1}\sum_{j>0}(R_{j-1,j} - b_j)`, b_j the accuracy of
  an untrained model on task j.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "average_accuracy",
    "forgetting",
    "backward_transfer",
    "forward_transfer",
    "summary",
    "plot_accuracy_matrix",
    "plot_accuracy_matrices",
]


def _matrix(R) -> np.ndarray:
    R = np.asarray(R, dtype=np.float64)
    if R.ndim != 2 or R.shape[0] != R.shape[1] or R.shape[0] < 1:
        raise ValueError(f"`R` must be a square T × T accuracy matrix, got shape {R.shape}")
    return R


def average_accuracy(R) -> float:
    return float(np.mean(_matrix(R)[-1]))


def forgetting(R) -> float:
    R = _matrix(R)
    T = R.shape[0]
    if T < 2:
        return 0.0
    return float(np.mean([np.max(R[j : T - 1, j]) - R[T - 1, j] for j in range(T - 1)]))


def backward_transfer(R) -> float:
    R = _matrix(R)
    T = R.shape[0]
    if T < 2:
        return 0.0
    return float(np.mean([R[T - 1, j] - R[j, j] for j in range(T - 1)]))


def forward_transfer(R, baseline) -> float:
    R, b = _matrix(R), np.asarray(baseline, dtype=np.float64)
    if b.shape != (R.shape[0],):
        raise ValueError(f"`baseline` must hold one accuracy per task ({R.shape[0]}), got shape {b.shape}")
    if R.shape[0] < 2:
        return 0.0
    return float(np.mean([R[j - 1, j] - b[j] for j in range(1, R.shape[0])]))


def summary(R) -> dict:
    """{"average_accuracy", "forgetting", "backward_transfer"} of R: what every technique of the family reports."""
    return {
        "average_accuracy": average_accuracy(R),
        "forgetting": forgetting(R),
        "backward_transfer": backward_transfer(R),
    }


def plot_accuracy_matrix(ax, R, title: str = "") -> None:
    """R as a heat map with its values written in (rows: after training task i; columns: task j)."""
    R = _matrix(R)
    ax.imshow(R, vmin=0, vmax=1, cmap="viridis")
    for i in range(R.shape[0]):
        for j in range(R.shape[1]):
            ax.text(
                j,
                i,
                f"{R[i, j]:.2f}",
                ha="center",
                va="center",
                fontsize=7,
                color="w" if R[i, j] < 0.6 else "k",
            )
    ax.set_xlabel("evaluated on task j")
    ax.set_ylabel("after training task i")
    ax.set_xticks(range(R.shape[1]))
    ax.set_yticks(range(R.shape[0]))
    if title:
        ax.set_title(title, fontsize=9)


def plot_accuracy_matrices(result, slug: str, width: float = 4.5) -> dict:
    """{slug: figure}: one heat map per arm of its accuracy matrix averaged over seeds — the family's recording
    layout, `result.notes["arms"]` naming the arms and `result.arrays["R_i"]` (seeds, T, T) holding arm i's."""
    from ...plotting import pyplot

    plt = pyplot()
    arms = result.notes["arms"]
    fig, axes = plt.subplots(1, len(arms), figsize=(width * len(arms), 4), squeeze=False)
    for i, (ax, name) in enumerate(zip(axes[0], arms)):
        plot_accuracy_matrix(ax, np.asarray(result.arrays[f"R_{i}"]).mean(0), f"{name} (mean over seeds)")
    fig.tight_layout()
    return {slug: fig}
