r"""Global Magnitude Pruning with a Minimum Threshold.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.
Official code: github.com/manasgupta-1/GlobalMP (`Global MP/prune.py`, `Global MP with MT/prune_withMT.py`).

The idea
--------
Rank *all* prunable weights of the network together by magnitude and remove the globally smallest ones
(Global MP), instead of removing the same fraction from every layer (uniform layer-wise MP).  Layers
whose weights are small in magnitude (wide fan-in, or a last layer that happens to be small) are then
pruned harder than others; at extreme sparsity a layer can lose (almost) all of its weights — *layer
collapse* — and the network is cut.  The Minimum Threshold (MT) keeps a fixed number of weights in
every layer.  No other hyperparameters; prune one-shot, then fine-tune with the mask fixed.

The rule (the paper states it in words, Sec. 3; there are no numbered equations, so formula lines cite
the section).  With all N prunable weights $w$ of the network and a target sparsity $s$:

$$\tau = |w|_{(k)},\quad k = \lfloor sN \rfloor,\qquad m_i = \mathbb 1[\,|w_i| \ge \tau\,] \quad\text{(Global MP, Sec. 3.1)}$$

$$\text{MT:}\quad \textstyle\sum_i m^{(l)}_i \;\ge\; \min(\mathrm{MT}, n_l)\ \text{for every layer } l \quad\text{(Sec. 3.2)}$$

with $|w|_{(k)}$ the k-th smallest magnitude.  Uniform layer-wise MP applies the same rule inside each
layer with $k_l = s\,n_l$.

What is implemented, and deviations
-----------------------------------
* `global_magnitude_masks(weights, s, min_keep=MT)` prunes exactly round(s·N)
  weights: the globally smallest, ties broken by position (the official code uses `|w| ≥ τ`, which can
  keep extra weights tied with τ).  With MT, each layer's min(MT, n_l) largest weights are protected and
  the budget goes to the globally smallest unprotected ones — the exact "global ranking subject to a
  per-layer floor".
* The official code reaches the floor differently (`step2` of `prune_withMT.py`, reproduced in
  `official_mt_sparsities`): take the per-layer sparsities of Global MP, set layers with fewer than MT
  weights to 0 sparsity, clamp every layer to at most 1 − MT/n_l and rescale the others
  proportionally until the total target is reached; each layer is then pruned by its own magnitude
  quantile.  The two agree whenever the floors bind in the same layers (they do in the reference case);
  in general the official route spreads the displaced budget proportionally rather than by magnitude.
  MT there is a percentage of all weights (`--min-threshold 0.05` → 0.05 %); `mt_count` converts it.
* Toy scale: a 64-256-256-10 MLP on the 8×8 digits instead of ResNets/WRNs on CIFAR/ImageNet; one-shot
  pruning then fine-tuning with Adam (the paper fine-tunes with SGD for many epochs); gradual pruning
  (the paper's other schedule) is available through `cubic_schedule` of the family's `masks` module
  but not part of the experiment.

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/sparsity-pruning/global-magnitude-pruning.ipynb
"""

from __future__ import annotations

import numpy as np

from ..masks import (
    apply_masks,
    as_weight_dict,
    bottom_k_mask,
    check_sparsity,
    get_mask,
    latent_weight,
    layerwise_magnitude_masks,
    n_pruned,
    pack_like,
    prunable_layers,
)

CATALOG_ENTRY = {
    "slug": "global-magnitude-pruning",
    "title": "Is Complexity Required for Neural Network Pruning? A Case Study on Global Magnitude Pruning",
    "authors": "Manas Gupta, Efe Camci, Vishandi Rudy Keneta, Abhishek Vaidyanathan, Ritwik Kanodia, "
    "Chuan-Sheng Foo, Wu Min, Lin Jie",
    "year": 2022,
    "arxiv": "2209.14624",
    "family": "sparsity-pruning",
    "notebook": "notebooks/sparsity-pruning/global-magnitude-pruning.ipynb",
    "verified": "official-code",
    "verification_note": (
        "Global threshold (kthvalue over all conv/linear |w|, keep |w| ≥ τ) and the Minimum-Threshold "
        "procedure (step2: zero sparsity for layers smaller than MT, clamp to 1 − MT/n_l, proportional "
        "rescaling to the target) read in manasgupta-1/GlobalMP prune_withMT.py; ours prunes exactly "
        "round(s·N) with a per-layer floor (official route also provided); hand case checked."
    ),
    "summary": (
        "Rank all weights of the network together by |w| and prune the globally smallest (one-shot, then "
        "fine-tune). A Minimum Threshold keeps a fixed number of weights in every layer so that no layer "
        "collapses at extreme sparsity. No other hyperparameters."
    ),
    "equations": [
        "τ = k-th smallest |w| over all N prunable weights, k = s·N;  m_i = 1[|w_i| ≥ τ]     (Sec. 3.1)",
        "uniform baseline: τ_l = (s·n_l)-th smallest |w| within layer l                       (Sec. 3.1)",
        "MT: Σ_i m_i^(l) ≥ min(MT, n_l) for every layer l                                    (Sec. 3.2)",
    ],
}

__all__ = [
    "global_magnitude_masks",
    "global_threshold",
    "layerwise_magnitude_masks",
    "mt_count",
    "official_mt_sparsities",
    "dead_units",
    "prune_model",
]


def global_magnitude_masks(weights, sparsity: float, min_keep: int = 0):
    """Global magnitude pruning: prune the round(s·N) smallest |w| over all N weights of all layers.

    `min_keep` (the Minimum Threshold, MT) protects the min(min_keep, n_l) largest-|w| weights of every
    layer l from pruning; the pruning budget is then spent on the globally smallest unprotected weights,
    so the total stays exactly round(s·N).  Raises ValueError if the floors make the target unreachable.
    """
    items = as_weight_dict(weights, "global_magnitude_masks")
    s = check_sparsity(sparsity, "global_magnitude_masks")
    if isinstance(min_keep, bool) or not isinstance(min_keep, (int, np.integer)) or min_keep < 0:
        raise ValueError(f"global_magnitude_masks: `min_keep` must be an integer ≥ 0, got {min_keep!r}")
    sizes = [w.size for _, w in items]
    total = int(sum(sizes))
    k = n_pruned(total, s)
    scores = np.concatenate([np.abs(w).ravel().astype(np.float64) for _, w in items])
    candidate = np.ones(total, dtype=bool)
    if min_keep:
        start = 0
        for n in sizes:
            protect = min(int(min_keep), n)
            if protect:  # the layer's `protect` largest (ties: higher index is "larger", as in bottom_k)
                top = ~bottom_k_mask(scores[start : start + n], n - protect)
                candidate[start : start + n] &= ~top
            start += n
    n_cand = int(candidate.sum())
    if k > n_cand:
        raise ValueError(
            f"global_magnitude_masks: sparsity {s} needs {k} pruned weights but min_keep={min_keep} "
            f"leaves only {n_cand} prunable"
        )
    idx = np.flatnonzero(candidate)
    pruned = np.zeros(total, dtype=bool)
    pruned[idx[bottom_k_mask(scores[idx], k)]] = True
    masks, start = [], 0
    for (_, w), n in zip(items, sizes):
        masks.append(
            (~pruned[start : start + n])
            .reshape(w.shape)
            .astype(w.dtype if w.dtype.kind == "f" else np.float32)
        )
        start += n
    return pack_like(items, masks, weights)


def global_threshold(weights, sparsity: float) -> float:
    """The largest pruned |w| of global magnitude pruning (−inf when nothing is pruned)."""
    items = as_weight_dict(weights, "global_threshold")
    scores = np.concatenate([np.abs(w).ravel() for _, w in items])
    k = n_pruned(scores.size, sparsity)
    return float(np.sort(scores)[k - 1]) if k else float("-inf")


def mt_count(total_weights: int, min_threshold_percent: float) -> int:
    """MT as a weight count from the official percentage convention: int(N · mt / 100)."""
    if total_weights < 0 or min_threshold_percent < 0:
        raise ValueError(
            f"mt_count: expected non-negative arguments, got total_weights={total_weights}, "
            f"min_threshold_percent={min_threshold_percent}"
        )
    return int(total_weights * min_threshold_percent / 100)


def official_mt_sparsities(
    layer_sizes, global_sparsities, min_keep: int, target: float, max_iter: int = 1000
):
    """Per-layer sparsities of the official Minimum-Threshold procedure (`step2` of prune_withMT.py).

    `global_sparsities` are the per-layer sparsities Global MP produced; layers with fewer than
    `min_keep` weights are not pruned; layers left with fewer than `min_keep` weights are clamped to
    1 − min_keep/n_l and the others rescaled by target/total until the total reaches `target`."""
    n = np.asarray(layer_sizes, dtype=np.float64)
    s = np.array(global_sparsities, dtype=np.float64)
    if n.shape != s.shape or n.ndim != 1:
        raise ValueError(
            f"official_mt_sparsities: `layer_sizes` and `global_sparsities` must be 1-D of equal "
            f"length, got {n.shape} and {s.shape}"
        )
    s[n < min_keep] = 0.0
    total = float(np.sum(n * s) / n.sum())
    s = s / total * target
    total = float(np.sum(n * s) / n.sum())
    if np.any((1 - s) * n < min_keep):
        for _ in range(max_iter):
            low = ((1 - s) * n < min_keep) & (n > min_keep)
            s[low] = 1 - min_keep / n[low]
            total = float(np.sum(n * s) / n.sum())
            if total >= target - 1e-12:
                break
            s = s / total * target
    return s


def dead_units(mask) -> int:
    """Output units (rows) of a layer's mask with no incoming weight left — the symptom of layer collapse."""
    m = np.asarray(mask)
    return int(np.sum(m.reshape(m.shape[0], -1).sum(axis=1) == 0))


def prune_model(model, sparsity: float, scheme: str = "global", min_keep: int = 0):
    """Install magnitude masks on every prunable layer: scheme "uniform" (layer-wise) or "global"
    (optionally with the Minimum Threshold `min_keep`).  Returns the masks (name → array)."""
    layers = prunable_layers(model)
    weights = {}
    for name, mod in layers.items():
        w = latent_weight(mod).data
        mk = get_mask(mod)
        weights[name] = w * mk.mask if mk is not None else w
    if scheme == "uniform":
        masks = layerwise_magnitude_masks(weights, sparsity)
    elif scheme == "global":
        masks = global_magnitude_masks(weights, sparsity, min_keep=min_keep)
    else:
        raise ValueError(f"prune_model: `scheme` must be 'uniform' or 'global', got {scheme!r}")
    apply_masks(model, masks)
    return masks
