r"""ST-3: straight-through gradients, soft-thresholding and a progressive sparsity schedule.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.
Official code: github.com/vanderschuea/stthree (`stthree/models/layers/quantized.py` — `STEPrunedLayer`,
`StickyPrunedLayer`; `stthree/trainmodules/pruning.py` — `l1`, `l1std`, `RatioIncrease`;
`configs/cifar10.toml`).

The idea
--------
Keep dense latent weights w and let the forward pass use a *soft-thresholded* copy, while the backward
pass treats the thresholding as the identity (straight-through): every latent weight, including the
ones currently zeroed, keeps receiving the gradient of the loss, so weights can cross zero smoothly in
either direction.  The threshold τ is re-set after every step so that the fraction of zeroed weights
follows a cubic ramp up to the target.  Soft-thresholding (shrinking the survivors by τ) removes the jump
of size τ that *hard* thresholding makes when a weight enters or leaves the mask (the forward/backward
mismatch the paper sets out to reduce), and a per-output-channel rescaling gives back the mass the
shrinkage removes.

The paper's equations are not numbered in a form we could confirm, so each formula line cites the
official function it was read in.  Forward, per layer, with τ from the global threshold below
(`STEPrunedLayer.set_prune` and `get_quantized_weights`):

$$m = \mathbb 1[\,|w| > \tau\,],\qquad \hat w = \gamma \odot (w - \operatorname{sign}(w)\,\tau)\odot m
  \;=\; \gamma\odot\operatorname{sign}(w)\max(|w|-\tau,0)$$

with the per-output-channel rescaling γ, computed without gradient (`PrunedLayer.get_scale`):

$$\gamma_o = \frac{1.01}{\rho_o + 0.01},\qquad
  \rho_o = \frac{\operatorname{mean}_{i}(|w_{oi}|\,m_{oi}) + 10^{-6}}{\operatorname{mean}_i |w_{oi}| + 10^{-6}}$$

(γ_o grows to 101 as a channel loses all its weights: the few survivors of a nearly emptied channel are
scaled up strongly.)

Backward (straight-through, `STE.backward`):  $\partial L/\partial w := \partial L/\partial \hat w$.

Threshold (`l1`, `l1std`).  ST-3: τ = the r-quantile (linear interpolation) of |w| over all prunable
weights of the network, one τ for every layer.  ST-3σ: the quantile is taken of |w|/σ_l with the layer
scale σ_l = 1/√(Σ shape) (out + in for a Linear, out + in + kh + kw for a Conv2d) and each layer gets
τ_l = σ_l·τ — magnitudes are compared relative to the layer's Glorot-like scale, which the authors
describe as forcing the pruning to be more uniform across layers:

$$\tau = Q_r\big(\{|w|\}\big)\ \text{(ST-3)};\qquad
  \tau_l = \sigma_l\,Q_r\big(\{|w^{(l)}|/\sigma_l\}_l\big),\ \sigma_l = 1/\sqrt{\textstyle\sum \mathrm{shape}(w^{(l)})}
  \ \text{(ST-3σ)}$$

Schedule (`RatioIncrease.on_train_batch_end`, `power = 3`):
$r_t = r_{\max}\,(1 - (1 - t/T)^3)$ between the start and end steps, $r_{\max}$ after.

Ablations, all with the same threshold and schedule (the official layer types):

* STE-hard (`STEPrunedLayer(soft=False, rescale=False)`): straight-through, but the forward uses the hard
  mask ŵ = w ⊙ m — ST-3 without the soft-thresholding and its rescaling (`st3_forward(soft=False,
  rescale=False)`);
* GMP (`StickyPrunedLayer(soft=False)`, Zhu & Gupta's gradual magnitude pruning): a hard mask with masked
  gradients, and pruned latent weights set to zero, so a pruned weight never comes back (`GMPPruner`).

What is implemented, and deviations
-----------------------------------
* `soft_threshold`, `rescale_factor`, `st3_thresholds` (ST-3 and ST-3σ), `st3_forward` (the STE op),
  `SoftThreshold` (a weight parametrization holding τ), `ST3Pruner` (a `fit` callback that sets τ after
  each optimizer step following the schedule), `GMPPruner` (the sticky hard baseline).
* The official layer stores the mask and γ when τ is set (after the optimizer step) and applies them in
  the next forward; `st3_forward` recomputes both from the current weights and the stored τ in the
  forward.  The weights do not change in between, so the two agree.
* `GMPPruner` also zeroes the optimizer state (momentum) of pruned weights; the official sticky layer
  leaves it, but masks the forward and re-zeroes the weights at every threshold update, so a pruned
  weight stays pruned in both.
* The official code ends with a frozen fine-tuning phase (`fix_from`, `n_ft_epochs`) and uses a
  step learning-rate schedule; the experiment here keeps training at r_max to the end under a cosine
  decay (see `experiment.py` for the toy setup).

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/sparsity-pruning/st3-soft-threshold.ipynb
"""

from __future__ import annotations

import numpy as np

from ....autograd.function import straight_through
from ....nn import parametrize
from ....nn.module import Module
from ..masks import MaskCallback, apply_masks, cubic_schedule, latent_weight, prunable_layers

CATALOG_ENTRY = {
    "slug": "st3-soft-threshold",
    "title": "Are Straight-Through gradients and Soft-Thresholding all you need for Sparse Training?",
    "authors": "Antoine Vanderschueren, Christophe De Vleeschouwer",
    "year": 2023,
    "arxiv": "2212.01076",
    "family": "sparsity-pruning",
    "notebook": "notebooks/sparsity-pruning/st3-soft-threshold.ipynb",
    "verified": "official-code",
    "verification_note": (
        "Soft-thresholded forward (w − sign(w)τ)·1[|w|>τ], per-output-channel rescaling 1.01/(ρ+0.01), "
        "straight-through backward, global |w| quantile threshold (l1) and its σ-normalised variant (l1std, "
        "σ_l = 1/√Σshape, τ_l = σ_l·τ), the cubic ratio schedule and the sticky hard GMP baseline read in "
        "vanderschuea/stthree quantized.py and pruning.py; hand cases checked."
    ),
    "summary": (
        "Train dense latent weights; the forward pass uses soft-thresholded, rescaled weights with a global "
        "magnitude threshold set every step so sparsity follows a cubic ramp, and the backward pass is "
        "straight-through, so zeroed weights keep learning and can come back smoothly."
    ),
    "equations": [
        "m = 1[|w| > τ];  ŵ = γ ⊙ sign(w) ⊙ max(|w| − τ, 0)                        (official STEPrunedLayer)",
        "γ_o = 1.01 / (ρ_o + 0.01),  ρ_o = (mean_i |w_oi| m_oi + 1e−6) / (mean_i |w_oi| + 1e−6)",
        "∂L/∂w := ∂L/∂ŵ   (straight-through)",
        "τ = quantile_r(|w| over all layers) (ST-3);  τ_l = σ_l·quantile_r(|w|/σ_l), σ_l = 1/√Σshape (ST-3σ)",
        "r_t = r_max (1 − (1 − t/T)^3)                                                  (cubic schedule)",
    ],
}

__all__ = [
    "soft_threshold",
    "rescale_factor",
    "layer_scale",
    "st3_thresholds",
    "st3_forward",
    "SoftThreshold",
    "ST3Pruner",
    "GMPPruner",
]


# --- pure functions -----------------------------------------------------------------------------------
def soft_threshold(w, tau):
    """sign(w)·max(|w| − τ, 0) (array in, array out)."""
    w = np.asarray(w)
    return np.sign(w) * np.maximum(np.abs(w) - tau, 0.0)  # ŵ before rescaling (get_quantized_weights)


def rescale_factor(w, mask):
    """γ per output channel (axis 0), shape (out, 1, …): 1.01/(ρ + 0.01) with ρ the kept share of mean |w|."""
    w, mask = np.asarray(w), np.asarray(mask)
    axes = tuple(range(1, w.ndim))
    wabs = np.abs(w)
    rho = ((wabs * mask).mean(axis=axes, keepdims=True) + 1e-6) / (
        wabs.mean(axis=axes, keepdims=True) + 1e-6
    )  # ρ_o (get_scale)
    return 1.01 / (rho + 0.01)  # γ_o (get_scale)


def layer_scale(shape) -> float:
    """σ_l = 1/√(Σ shape) of ST-3σ (`l1std`): 1/√(out + in) for a Linear weight."""
    return float(1.0 / np.sqrt(np.sum(shape)))


def st3_thresholds(weights, ratio: float, sigma: bool = False):
    """Per-layer τ for pruning ratio r: the r-quantile (linear interpolation) of |w| over all layers
    (ST-3) or of |w|/σ_l, rescaled by σ_l (ST-3σ).  r = 0 → τ = −1 (nothing pruned), as the official code.
    `weights` is a dict (→ dict of τ) or a list (→ list of τ)."""
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"st3_thresholds: `ratio` must be in [0, 1], got {ratio}")
    items = list(weights.items()) if isinstance(weights, dict) else list(enumerate(weights))
    if not items:
        raise ValueError("st3_thresholds: `weights` is empty")
    if ratio == 0:
        taus = [-1.0] * len(items)
    else:
        std = [layer_scale(np.shape(w)) if sigma else 1.0 for _, w in items]  # σ_l (l1std) or 1 (l1)
        flat = np.concatenate([np.abs(np.asarray(w)).ravel() / s for (_, w), s in zip(items, std)])
        th = float(np.quantile(flat, ratio))  # τ = Q_r (l1: cpu_quantile, linear interpolation)
        taus = [th * s for s in std]  # τ_l = σ_l·τ (l1std)
    return {k: t for (k, _), t in zip(items, taus)} if isinstance(weights, dict) else taus


def st3_forward(w, tau: float, rescale: bool = True, soft: bool = True):
    """ŵ (Tensor) from the latent w (Tensor) with an identity (straight-through) gradient.

    soft=True: ŵ = γ ⊙ sign(w) max(|w| − τ, 0) (ST-3; γ = 1 without `rescale`); soft=False: ŵ = w ⊙ m
    (the STE-hard ablation, optionally rescaled).  τ ≤ 0 leaves the weight untouched, as the official code."""
    if tau <= 0:
        return w
    mask = (np.abs(w.data) > tau).astype(w.data.dtype)  # m = 1[|w| > τ] (set_prune)
    q = (w.data - np.sign(w.data) * tau) * mask if soft else w.data * mask  # (get_quantized_weights)
    if rescale:
        q = rescale_factor(w.data, mask).astype(w.data.dtype) * q  # ŵ = γ ⊙ …
    return straight_through(w, q)  # ∂L/∂w := ∂L/∂ŵ (STE.backward)


# --- the parametrization and the training callbacks ---------------------------------------------------
class SoftThreshold(Module):
    """Weight parametrization ŵ = st3_forward(θ, τ); τ is a plain attribute set by `ST3Pruner`."""

    def __init__(self, tau: float = -1.0, rescale: bool = True, soft: bool = True):
        super().__init__()
        self.tau, self.rescale, self.soft = float(tau), bool(rescale), bool(soft)

    def forward(self, theta):
        return st3_forward(theta, self.tau, self.rescale, self.soft)

    def extra_repr(self):
        return f"tau={self.tau:.4g}, rescale={self.rescale}, soft={self.soft}"


def _soft(mod):
    plist = mod.parametrizations.weight
    return next(plist[i] for i in range(len(plist)) if isinstance(plist[i], SoftThreshold))


class ST3Pruner:
    """Installs `SoftThreshold` on every prunable layer and, after each optimizer step (a `fit`
    callback), sets τ so that the ratio follows r_max·(1 − (1 − t/T)³) from `start_step` to `end_step`.

    sigma=True gives ST-3σ (`l1std`); soft=False, rescale=False gives the STE-hard ablation."""

    def __init__(
        self,
        model,
        final_sparsity: float,
        start_step: int,
        end_step: int,
        sigma: bool = False,
        rescale: bool = True,
        soft: bool = True,
    ):
        self.model, self.final, self.start, self.end = model, final_sparsity, start_step, end_step
        self.sigma = bool(sigma)
        self.layers = prunable_layers(model)
        for mod in self.layers.values():
            parametrize.register_parametrization(mod, "weight", SoftThreshold(-1.0, rescale, soft))
        self.step = 0

    def ratio(self, step):
        return cubic_schedule(step, self.final, self.start, self.end)  # r_t = r_max(1 − (1 − t/T)³)

    def update(self, ratio):
        w = {n: latent_weight(m).data for n, m in self.layers.items()}
        for n, tau in st3_thresholds(w, ratio, self.sigma).items():
            _soft(self.layers[n]).tau = tau

    def on_step_end(self, state):
        self.step += 1
        self.update(self.ratio(self.step))


class GMPPruner:
    """Gradual magnitude pruning with a hard, sticky mask: the same global |w| quantile and cubic schedule,
    masked gradients (`Mask`), and pruned latent weights (and their optimizer state) set to zero."""

    def __init__(self, model, final_sparsity: float, start_step: int, end_step: int, sigma: bool = False):
        self.model, self.final, self.start, self.end = model, final_sparsity, start_step, end_step
        self.sigma = bool(sigma)
        self.layers = prunable_layers(model)
        apply_masks(model, {n: np.ones_like(latent_weight(m).data) for n, m in self.layers.items()})
        self.step = 0

    def on_step_end(self, state):
        self.step += 1
        ratio = cubic_schedule(self.step, self.final, self.start, self.end)
        w = {n: latent_weight(m).data for n, m in self.layers.items()}
        taus = st3_thresholds(w, ratio, self.sigma)
        # |w| > τ; pruned latent weights are exactly 0, so they stay pruned (sticky); τ = −1 keeps all
        masks = {n: (np.abs(w[n]) > taus[n]).astype(w[n].dtype) for n in w}
        apply_masks(self.model, masks)
        MaskCallback(self.model).on_step_end(state)
