r"""Ghost Batch Normalization, √batch learning-rate scaling and regime adaptation.

The paper card (title, authors, arXiv id, verified level, key equations) is `CATALOG_ENTRY` below.
Official code: github.com/eladhoffer/bigBatch (`main_gbn.py`, `main_normal.py`, `run_experiments.sh`).

The idea
--------
Large-batch SGD generalises worse than small-batch SGD *trained for the same number of epochs*.  The
paper argues the gap comes from making too few updates: the weights move away from their initialisation
ultra-slowly, ‖w_t − w_0‖ ~ log t ("random walk on a random landscape", Sec. 3), so a large-batch run
that takes |B_L|/|B_S| times fewer steps has not travelled as far.  Three changes (Sec. 4–5; the
section and algorithm numbers follow the paper as cited by the first pass, the computations were
checked line by line against the official code, see `verification_note`):

1. **Learning rate ∝ √batch** (Sec. 4.1).  An SGD step is −η ĝ with ĝ the mean of |B| per-sample
   gradients; with sampling noise of covariance Σ per sample, cov(η ĝ) ≈ η² Σ / |B|.  Keeping the
   covariance of the increments of the small-batch run therefore needs η_L² / |B_L| = η_S² / |B_S|:

       η_L = η_S · √(|B_L| / |B_S|)                                           (Sec. 4.1)

   (`main_gbn.py` L168–169 multiply every rate of the regime by (batch / mini-batch)^0.5.)
2. **Ghost Batch Normalization** (Sec. 4.2, Alg. 1).  Batch norm behaves differently in its two modes,
   and GBN changes only the first:

   * *train mode* (forward during training): the large batch B_L is cut into k = |B_L|/|B_S| consecutive
     ghost batches X¹ … X^k; ghost batch l is normalised with its **own** mean and biased variance,

         μ^l = (1/|B_S|) Σ_{i∈l} x_i,   σ^{l 2} = (1/|B_S|) Σ_{i∈l} (x_i − μ^l)²,
         x̂_i = (x_i − μ^l) / √(σ^{l 2} + ε),   y_i = γ x̂_i + β                   (Alg. 1, training)

     so every sample sees the statistic noise of a small batch while the gradient still averages all
     |B_L| samples.  Because the ghost batches share no statistic, the loss is a sum of per-ghost terms
     and the gradient of the mean loss equals the mean of the per-ghost-batch gradients — exactly what
     `main_gbn.py` computes by running each chunk through the model, back-propagating each chunk's mean
     loss and dividing the summed gradients by the number of chunks (L298–318).
     The running statistics are updated in train mode too, one exponential-moving-average step per
     ghost batch, in order (each chunk passes through an ordinary PyTorch BatchNorm in the official
     code): with momentum m and k ghost batches in a step,

         μ_run ← (1 − m)^k μ_run + Σ_{l=1}^{k} m (1 − m)^{k−l} μ^l               (Alg. 1, running stats)

     and the same for the variance, which (as PyTorch's BatchNorm does) takes the *unbiased* ghost
     variance σ^{l 2}·n_l/(n_l − 1).  A train-mode step thus takes k EMA steps where plain BN takes one:
     after T updates the initial statistics keep the weight (1 − m)^{kT} instead of (1 − m)^T, so a
     large-batch run that makes few updates still leaves eval mode well-estimated running statistics.
   * *eval mode* (inference, validation, test): no ghost batches and no batch statistic at all — every
     sample is normalised with the running statistics, ŷ = γ (x − μ_run)/√(σ²_run + ε) + β, exactly as
     plain batch norm in eval mode (`main_gbn.py` L353, `model.eval()` for validation).  The ghost
     batch size has no effect in eval mode except through the running statistics it produced.
3. **Regime adaptation** (Sec. 5): make as many updates as the small-batch run, i.e. multiply the epochs
   (and every epoch at which the schedule changes) by ⌈|B_L| / |B_S|⌉ (`regime_bb_fix`, `main_gbn.py`
   L89–90 and L170–171).

Deviations from the official code
---------------------------------
* (Train mode only.) A batch whose size is not a multiple of the ghost size: `ghost_chunks` cuts consecutive ghost batches of
  `ghost_batch_size` samples and a smaller last one; `main_gbn.py` L298 instead splits *every* batch into
  |B_L| // |B_S| chunks with `torch.chunk`, so a short last batch of an epoch gets smaller ghost batches.
  The two agree whenever the batch is a whole number of ghost batches.
* The gradient-norm clipping at 5 of both official scripts (`main_gbn.py` L319, `main_normal.py` L285) is
  left to the caller (the experiment applies it to every arm).

Notebook: notebooks/regularization-normalization/ghost-batchnorm.ipynb
"""

from __future__ import annotations

import math

import numpy as np

from ....autograd import ops
from ....autograd.ops.nnops import Normalize
from ....nn.module import Module, Parameter

CATALOG_ENTRY = {
    "slug": "ghost-batchnorm",
    "title": "Train longer, generalize better: closing the generalization gap in large batch training of neural networks",
    "authors": "Elad Hoffer, Itay Hubara, Daniel Soudry",
    "year": 2017,
    "arxiv": "1705.08741",
    "family": "regularization-normalization",
    "notebook": "notebooks/regularization-normalization/ghost-batchnorm.ipynb",
    "verified": "official-code",
    "verification_note": (
        "Checked against eladhoffer/bigBatch (commit 0c69f28): main_gbn.py L298-299 (each large batch "
        "chunked into batch//mini-batch ghost batches, each run through ordinary BatchNorm in train mode, "
        "so the running statistics take one EMA step per chunk, in order), L318 (summed per-chunk "
        "gradients divided by the number of chunks = gradient of the mean loss), L319 (grad-norm clip 5), "
        "L353 (eval mode: running statistics), L168-169 (lr × (batch/mini-batch)^0.5), L89-90 and L170-171 "
        "(epochs and schedule epochs × ceil(batch/mini-batch)); main_normal.py L165-167 (the same rules "
        "against a reference batch of 256); models/mnist_f1.py (an MLP with BatchNorm1d, SGD momentum 0.9, "
        "wd 1e-4). The paper's full text was not available to this pass: Algorithm 1 and Sec. 4.1/5 are "
        "taken as the official code computes them, the abstract's claims from the NeurIPS abstract page."
    ),
    "summary": (
        "The large-batch generalization gap is due to too few updates (weights travel ~log t from their "
        "initialisation). Scale the learning rate with √batch, normalise over small 'ghost' batches inside "
        "the large batch in train mode (eval mode uses the running statistics, which GBN updates once per "
        "ghost batch), and train for as many iterations as the small-batch run."
    ),
    "equations": [
        "η_L = η_S · sqrt(|B_L| / |B_S|)                                        (Sec. 4.1)",
        "train mode: x̂_i = (x_i − μ^l) / sqrt(σ^l² + ε), i in ghost batch l     (Alg. 1)",
        "train mode: μ_run ← (1 − m) μ_run + m μ^l, once per ghost batch l, in order (Alg. 1)",
        "eval mode:  x̂ = (x − μ_run) / sqrt(σ²_run + ε)                         (Alg. 1)",
        "epochs_L = epochs_S · ⌈|B_L| / |B_S|⌉                                   (Sec. 5)",
        "‖w_t − w_0‖ ~ log t                                                     (Sec. 3)",
    ],
}


# --- the two schedule rules ------------------------------------------------------------------------------
def sqrt_lr_scaling(lr_small: float, batch_large: int, batch_small: int) -> float:
    """The large-batch learning rate η_L = η_S √(|B_L|/|B_S|) that keeps the covariance of the weight
    increments of the small-batch run (Sec. 4.1; `main_gbn.py` L168–169)."""
    if lr_small <= 0:
        raise ValueError(f"lr_small must be > 0, got {lr_small}")
    if batch_small < 1 or batch_large < 1:
        raise ValueError(f"batch sizes must be ≥ 1, got batch_large={batch_large}, batch_small={batch_small}")
    return lr_small * math.sqrt(batch_large / batch_small)  # Sec. 4.1


def regime_adaptation(epochs_small: int, batch_large: int, batch_small: int) -> int:
    """Epochs for the large batch so that it makes as many updates as the small batch:
    e · ⌈|B_L|/|B_S|⌉ (Sec. 5; `main_gbn.py` L89–90).  Epochs at which a schedule changes scale alike."""
    if epochs_small < 0:
        raise ValueError(f"epochs_small must be ≥ 0, got {epochs_small}")
    return epochs_small * math.ceil(batch_large / batch_small)  # Sec. 5


# --- ghost batch normalization ----------------------------------------------------------------------------
def ghost_chunks(n: int, ghost_batch_size: int) -> list:
    """Slices cutting a batch of n samples into consecutive ghost batches of `ghost_batch_size` samples, the
    last one smaller when n is not a multiple (train mode only; see the module docstring for how the
    official `torch.chunk` split differs on such a batch)."""
    if ghost_batch_size < 1:
        raise ValueError(f"ghost_batch_size must be ≥ 1, got {ghost_batch_size}")
    return [slice(i, min(i + ghost_batch_size, n)) for i in range(0, n, ghost_batch_size)]


def update_running_stats(x: np.ndarray, chunks, running_mean, running_var, momentum: float) -> None:
    """Train mode only: one exponential-moving-average step of the running statistics (in place) per ghost
    batch, in order — μ_run ← (1 − m) μ_run + m μ^l and σ²_run ← (1 − m) σ²_run + m σ^l² n_l/(n_l − 1),
    the unbiased ghost variance as PyTorch's BatchNorm keeps it (Alg. 1, running statistics)."""
    c = x.shape[1]
    axes = (0,) + tuple(range(2, x.ndim))
    for s in chunks:
        part = x[s]
        n_l = part.size // c  # values per channel in this ghost batch
        running_mean *= 1 - momentum
        running_mean += momentum * part.mean(axis=axes)  # Alg. 1: μ_run
        running_var *= 1 - momentum
        running_var += momentum * part.var(axis=axes) * n_l / max(n_l - 1, 1)  # Alg. 1: σ²_run


def ghost_batch_norm(
    x,
    ghost_batch_size: int | None,
    weight=None,
    bias=None,
    running_mean=None,
    running_var=None,
    training: bool = True,
    momentum: float = 0.1,
    eps: float = 1e-5,
):
    """Batch norm of x (N, C, …) in the mode `training` selects (Alg. 1).

    Train mode (`training=True`): each consecutive ghost batch of `ghost_batch_size` samples is normalised
    with its own mean and biased variance (`None`, or a size ≥ N, is ordinary batch norm over the whole
    batch); if running statistics (ndarrays) are given they take one EMA step per ghost batch, in order.
    Eval mode (`training=False`): no batch statistic is computed — every sample is normalised with
    `running_mean` and `running_var`, and `ghost_batch_size` is ignored.
    """
    if not 0.0 <= momentum <= 1.0:
        raise ValueError(f"momentum must be in [0, 1], got {momentum}")
    c = x.shape[1]
    shape = (1, c) + (1,) * (x.ndim - 2)
    if not training:  # eval mode: the running statistics, the same for every sample
        if running_mean is None or running_var is None:
            raise ValueError("ghost_batch_norm: eval mode needs running_mean and running_var")
        rstd = (1.0 / np.sqrt(running_var + eps)).astype(x.dtype)
        y = (x - running_mean.reshape(shape).astype(x.dtype)) * rstd.reshape(shape)  # Alg. 1, test
    else:  # train mode: the statistics of each ghost batch
        n = x.shape[0]
        g = n if ghost_batch_size is None else min(ghost_batch_size, n)
        axes = (0,) + tuple(range(2, x.ndim))
        chunks = ghost_chunks(n, g)
        if any(s.stop - s.start < 2 and x.ndim == 2 for s in chunks):
            raise ValueError(
                f"ghost_batch_norm: a ghost batch of one sample has no variance (N={n}, ghost={g})"
            )
        if n % g == 0:  # Alg. 1: x̂ = (x − μ^l)/√(σ^l² + ε), one fused op over a (N/g, g, C, …) view
            grouped = ops.reshape(x, (n // g, g) + tuple(x.shape[1:]))
            y = ops.reshape(Normalize.apply(grouped, axes=tuple(a + 1 for a in axes), eps=eps), x.shape)
        else:  # Alg. 1, the same per ghost batch when the last one is shorter
            y = ops.concatenate([Normalize.apply(x[s], axes=axes, eps=eps) for s in chunks], axis=0)
        if running_mean is not None:
            update_running_stats(x.data, chunks, running_mean, running_var, momentum)
    if weight is not None:
        y = y * ops.reshape(weight, shape)  # Alg. 1: y = γ x̂ + β
    if bias is not None:
        y = y + ops.reshape(bias, shape)
    return y


class GhostBatchNorm(Module):
    """A BatchNorm1d/2d whose train-mode statistics come from ghost batches of `ghost_batch_size` samples
    and whose running statistics take one EMA step per ghost batch; in eval mode it is plain batch norm
    with those running statistics (Alg. 1).  `ghost_batch_size=None` is ordinary batch norm."""

    def __init__(
        self,
        num_features: int,
        ghost_batch_size: int | None = 32,
        momentum: float = 0.1,
        eps: float = 1e-5,
        dtype=np.float32,
    ):
        super().__init__()
        if ghost_batch_size is not None and ghost_batch_size < 2:
            raise ValueError(
                f"ghost_batch_size must be ≥ 2 (or None for plain batch norm), got {ghost_batch_size}"
            )
        self.num_features, self.ghost_batch_size, self.momentum, self.eps = (
            num_features,
            ghost_batch_size,
            momentum,
            eps,
        )
        self.weight = Parameter(np.ones(num_features, dtype=dtype))
        self.bias = Parameter(np.zeros(num_features, dtype=dtype))
        self.register_buffer("running_mean", np.zeros(num_features, dtype=dtype))
        self.register_buffer("running_var", np.ones(num_features, dtype=dtype))

    def forward(self, x):
        if x.ndim < 2 or x.shape[1] != self.num_features:
            raise ValueError(
                f"GhostBatchNorm: expected input (N, {self.num_features}, …), got shape {tuple(x.shape)}"
            )
        return ghost_batch_norm(
            x,
            self.ghost_batch_size,
            self.weight,
            self.bias,
            self.running_mean,
            self.running_var,
            self.training,
            self.momentum,
            self.eps,
        )

    def extra_repr(self):
        return f"{self.num_features}, ghost_batch_size={self.ghost_batch_size}"


def weight_distance(params, initial) -> float:
    """‖w − w_0‖ over all parameters (the quantity of Sec. 3 that grows like log t)."""
    return float(math.sqrt(sum(float(np.sum((p.data - p0) ** 2)) for p, p0 in zip(params, initial))))
