r"""Loss-based sample reweighting: inside every step, weigh each example of the minibatch by a function of
its current (detached) loss, so that the step spends less of its budget on examples already learned.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.
Official code: github.com/sowmaster/Sample-Level-Loss-Reweighting-ICLR-2025, read at commit edd6f15
(src/trainer.py, and the stand-alone snippet in its README.md).

The idea
--------
A minibatch $B$ has per-example losses $\ell_1, \dots, \ell_{|B|}$.  Plain training minimises their mean.
The paper instead minimises $\sum_i w_i \ell_i$ with weights that depend on the losses themselves, read
off *before* the backward pass (no gradient flows through $w$):

1. map the losses linearly onto $[-\delta, \delta]$ (the smallest to $-\delta$, the largest to $+\delta$):
   $$h_i = \frac{2\ell_i - \ell_{\max} - \ell_{\min}}{\ell_{\max} - \ell_{\min}}\,\delta ;$$
2. apply a strategy $f$ (the shape of the reweighting):
   LinUpper $f(h) = \min(h + \delta, \delta)$ (rising with the loss, then flat: the low-loss half is
   down-weighted, the high-loss half shares the cap), Quadratic $f(h) = 1 - h^2/\delta^2$ (the middle
   losses first), Extremes $f(h) = |h|$ (both ends first);
3. normalise with a softmax of temperature $\tau$ (the KL-regularisation strength, `kl_reg` / `r` in the
   official code): $w_i = e^{f(h_i)/\tau} / \sum_j e^{f(h_j)/\tau}$, so $\sum_{i\in B} w_i = 1$ and
   uniform $w_i = 1/|B|$ gives back the mean loss.

The softmax is the closed-form maximiser of $\sum_i w_i f_i - \tau\,\mathrm{KL}(w\,\|\,\mathrm{uniform})$
over the simplex; a finite $\tau$ keeps every weight at most $e^{\max f/\tau}/\sum_j e^{f_j/\tau}$, the
bound on the largest weight that the paper's convergence analysis needs.  Because $h \in [-\delta, \delta]$,
LinUpper's and Extremes' $f/\tau$ depend only on $\delta/\tau$, and Quadratic's not on $\delta$ at all:
the official trainer fixes $\delta = 1$ and tunes $\tau$ only, and so does the experiment here.

Why down-weighting low losses can speed training up: when many examples are redundant (repeats of
what the model already fits), they fill most of every minibatch, their near-zero residuals contribute
little signal, yet (for SGD) they set the curvature that limits the learning rate.  Moving weight from
them to the informative (higher-loss) examples both raises the signal per step and lowers the curvature
of the redundant directions.

What is implemented, and deviations
-----------------------------------
* `normalized_losses` (h), `STRATEGIES` (f), `loss_weights` (the whole map, NumPy, float64) follow
  src/trainer.py:124-140 and 1213-1222 of the official code; `reweighted_loss` is the same map in
  Tensor ops on detached losses (so a compiled step stays compiled) times the attached losses;
  `make_loss` turns a base loss into a `loss_fn` for `refimpl.train.fit` / `experiments.train`.
* The official loss is `W · Σ_i w_i ℓ_i` over the batch gathered from W devices (trainer.py:1226; the
  len_norms × |B| factors cancel for equal-length sequences): on one device, `Σ_i w_i ℓ_i`.
* The guard $\max(\ell_{\max}-\ell_{\min}, 10^{-6})$ of trainer.py:125 is kept: a batch of equal losses
  gets $h = 0$ everywhere and so uniform weights.
* Not implemented: the warm-up ("burnout", trainer.py:1188: the first 1000 of 20 000 steps unweighted) —
  in the linear toy the losses are informative from the first step; the multi-device gather; the
  domain-level reweighting (DoGE/DoReMi) the paper combines it with.
* The paper's text was not read beyond its abstract and summaries (its PDF was not reachable here): the
  formulas are checked against the official code, cited by file:line instead of equation numbers.

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/data-weighting-selection/loss-based-reweighting.ipynb
"""

from __future__ import annotations

import numpy as np

from ....autograd.tensor import Tensor

CATALOG_ENTRY = {
    "slug": "loss-based-reweighting",
    "title": "Dynamic Loss-Based Sample Reweighting for Improved Large Language Model Pretraining",
    "authors": "Daouda Sow, Herbert Woisetschläger, Saikiran Bulusu, Shiqiang Wang, Hans-Arno Jacobsen, "
    "Yingbin Liang",
    "year": 2025,
    "arxiv": "2502.06733",
    "family": "data-weighting-selection",
    "notebook": "notebooks/data-weighting-selection/loss-based-reweighting.ipynb",
    "verified": "official-code",
    "verification_note": (
        "Checked against sowmaster/Sample-Level-Loss-Reweighting-ICLR-2025 (commit edd6f15): h_func "
        "(src/trainer.py:124-125, with the 1e-6 guard), the strategies mid/linupper/extremes "
        "(trainer.py:127-140; 'mid' is the README's 'quadratic'), the softmax of f/kl_reg with the max "
        "subtracted (trainer.py:1213-1222, g_func at 121-122), δ = 1 fixed and the loss W·Σ wᵢℓᵢ "
        "(trainer.py:1219-1226), README.md's stand-alone snippet (same map). The paper itself was read "
        "only through its abstract and summaries: equation numbers are not cited (formulas carry the "
        "code's file:line). The linear-regression toy is our reconstruction. Hand cases checked."
    ),
    "summary": (
        "In every minibatch, map the current per-example losses linearly onto [−δ, δ], pass them through a "
        "strategy f (LinUpper: min(h+δ, δ), down-weighting the low-loss, redundant examples and capping the "
        "high-loss ones; Quadratic: 1−h²/δ²; Extremes: |h|), take a softmax of f/τ over the batch as "
        "weights (no gradient through them) and minimise Σ wᵢℓᵢ."
    ),
    "equations": [
        "hᵢ = δ · (2ℓᵢ − ℓ_max − ℓ_min) / max(ℓ_max − ℓ_min, 1e−6)   (trainer.py:124-125)",
        "LinUpper f(h) = min(h + δ, δ);  Quadratic f(h) = 1 − h²/δ²;  Extremes f(h) = |h|   (trainer.py:127-140)",
        "wᵢ = exp(f(hᵢ)/τ) / Σⱼ exp(f(hⱼ)/τ)   (trainer.py:1219-1222, τ = kl_reg)",
        "loss = Σ_{i∈B} wᵢ ℓᵢ with w detached   (trainer.py:1226, one device)",
    ],
}

__all__ = [
    "STRATEGIES",
    "normalized_losses",
    "loss_weights",
    "reweighted_loss",
    "make_loss",
    "example_weights",
]

EPS = 1e-6  # the floor on ℓ_max − ℓ_min (trainer.py:125)


def _check(strategy, delta, tau, where):
    if strategy not in STRATEGIES:
        raise ValueError(f"{where}: `strategy` must be one of {sorted(STRATEGIES)}, got {strategy!r}")
    if not (np.isfinite(delta) and delta > 0):
        raise ValueError(f"{where}: `delta` must be a finite number > 0, got {delta!r}")
    if not (np.isfinite(tau) and tau > 0):
        raise ValueError(f"{where}: `tau` must be a finite number > 0, got {tau!r}")


def normalized_losses(losses, delta: float = 1.0) -> np.ndarray:
    """h: the batch's losses mapped linearly onto [−δ, δ] (min → −δ, max → +δ; all equal → 0)."""
    ell = np.asarray(losses, dtype=np.float64)
    if ell.ndim != 1 or len(ell) == 0:
        raise ValueError(f"normalized_losses: `losses` must be a non-empty 1-d array, got shape {ell.shape}")
    lo, hi = ell.min(), ell.max()
    return delta * (2.0 * ell - hi - lo) / max(hi - lo, EPS)  # trainer.py:124-125


STRATEGIES = {  # f(h, δ), trainer.py:127-140 (README names: linupper, quadratic, extremes)
    "uniform": lambda h, delta: 0.0 * h,  # the ablation: every f equal → w = 1/|B|, the mean loss
    "linupper": lambda h, delta: np.minimum(h + delta, delta),
    "quadratic": lambda h, delta: 1.0 - h**2 / delta**2,
    "extremes": lambda h, delta: np.abs(h),
}


def loss_weights(losses, strategy: str = "linupper", delta: float = 1.0, tau: float = 1.0) -> np.ndarray:
    """The batch weights w = softmax(f(h(ℓ))/τ) (sum 1) of the per-example losses `losses`."""
    _check(strategy, delta, tau, "loss_weights")
    f = STRATEGIES[strategy](normalized_losses(losses, delta), delta)
    e = np.exp((f - f.max()) / tau)  # g_func(f − max f, kl_reg), trainer.py:1221
    return e / e.sum()  # trainer.py:1222


def _weights_tensor(per: Tensor, strategy: str, delta: float, tau: float) -> Tensor:
    """`loss_weights` in Tensor ops on the detached losses (float dtype of `per`), for a compiled step."""
    ell = per.detach()
    lo, hi = ell.min(), ell.max()
    h = (ell * 2.0 - hi - lo) * delta / (hi - lo).clamp(EPS, None)
    if strategy == "uniform":
        f = h * 0.0
    elif strategy == "linupper":
        f = (h * -1.0).relu() * -1.0 + delta  # min(h + δ, δ) = δ − relu(−h)
    elif strategy == "quadratic":
        f = (h * h) * (-1.0 / delta**2) + 1.0
    else:  # extremes
        f = h.abs()
    return (f * (1.0 / tau)).softmax(dim=0).detach()


def reweighted_loss(per_example: Tensor, strategy: str = "linupper", delta: float = 1.0, tau: float = 1.0):
    """Σᵢ wᵢ ℓᵢ for a (B,) Tensor of per-example losses, w = `loss_weights` of their detached values:
    the gradient is Σᵢ wᵢ ∇ℓᵢ (trainer.py:1226)."""
    _check(strategy, delta, tau, "reweighted_loss")
    if not isinstance(per_example, Tensor) or per_example.ndim != 1:
        raise ValueError("reweighted_loss: `per_example` must be a 1-d Tensor of per-example losses")
    return (per_example * _weights_tensor(per_example, strategy, delta, tau)).sum()


def make_loss(base_loss, strategy: str = "linupper", delta: float = 1.0, tau: float = 1.0):
    """A `loss_fn(output, target)` for `fit`: `reweighted_loss` of base_loss(output, target,
    reduction="none") (averaged over trailing axes, e.g. a regression output of shape (B, 1))."""
    _check(strategy, delta, tau, "make_loss")
    if not callable(base_loss):
        raise TypeError(f"make_loss: `base_loss` must be callable, got {type(base_loss).__name__}")

    def loss_fn(output, target):
        per = base_loss(output, target, reduction="none")
        if per.ndim > 1:
            per = per.reshape((per.shape[0], -1)).mean(axis=1)
        return reweighted_loss(per, strategy, delta, tau)

    loss_fn.__name__ = f"loss_based_{strategy}"
    return loss_fn


def example_weights(model, x, y, strategy: str = "linupper", delta: float = 1.0, tau: float = 1.0):
    """The weights `loss_weights` gives the examples (x, y) taken as one batch, from the cross-entropy of
    `model` (eval mode): what the next step would weigh them by (sum 1)."""
    from ....nn import functional as F
    from ....train import predict

    _check(strategy, delta, tau, "example_weights")
    per = F.cross_entropy(Tensor(predict(model, x)), np.asarray(y), reduction="none")
    return loss_weights(per.data, strategy, delta, tau)
