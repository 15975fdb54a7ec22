r"""Half Fine-Tuning (HFT): in every fine-tuning stage, train a random half of the parameters and freeze the
other half at their current values.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below.  Official code: none
found.

The idea
--------
Sequential fine-tuning (SFT → DPO → new tasks) overwrites what earlier stages learned.  The authors observe
that *resetting* half of a fine-tuned model's parameters to their previous values restores much of the old
knowledge while keeping most of the new ability.  HFT builds this in: at the start of each stage half of the
parameters are chosen at random and only they are updated; the other half keep their previous values.  As
masked optimisation with a mask $m\in\{0,1\}$ over parameter groups, redrawn every stage,

$$\theta^{(t+1)} = \theta^{(t)} - \eta\, m\odot \hat u^{(t)},$$

which the paper reads as a regulariser that keeps the frozen half at the previous stage's optimum.  With
Adam and a fresh optimizer per stage a frozen entry gets a zero gradient from the first step, so its moments
stay 0 and its update is exactly 0.

Granularity.  The paper selects "at the category level" *inside every transformer block* (half of the
attention matrices, half of the feed-forward matrices of each block): every block keeps half of its
parameters.  An MLP has no attention/FFN categories, so we split **inside every Linear layer**: half of its
output units (a row of the weight and its bias entry), drawn at random per layer and per stage
(`UnitHalves`).  Freezing whole layers instead (`LayerHalves`, half of the Linear layers) is the coarser
ablation: it leaves some layers entirely frozen and others entirely free.

Deviations: the paper's full text and code were not available; the mechanism is reconstructed from its
abstract, its Fig. 2 caption ("in each stage, we selectively freeze half of the parameters at the
category-level and update the other half") and public summaries.  The experiment (`experiment.py`) is ours.
"""

from __future__ import annotations

import numpy as np

CATALOG_ENTRY = {
    "slug": "half-fine-tuning",
    "title": "HFT: Half Fine-Tuning for Large Language Models",
    "authors": "Tingfeng Hui, Zhenyu Zhang, Shuohuan Wang, Weiran Xu, Yu Sun, Hua Wu",
    "year": 2025,
    "arxiv": "2404.18466",
    "family": "lowrank-peft-sharing",
    "notebook": "notebooks/lowrank-peft-sharing/half-fine-tuning.ipynb",
    "verified": "reconstructed",
    "verification_note": (
        "Reconstructed from the abstract, the Fig. 2 caption (half of the parameters frozen at the category "
        "level in each block, per stage) and public summaries; paper text and official code not available. "
        "The split inside each layer (half of its output units, per layer and stage) is our reading of "
        "'half of every block' for an MLP."
    ),
    "summary": (
        "At every fine-tuning stage pick half of the parameter groups at random and train only those; the "
        "other half keep their previous values exactly, which limits catastrophic forgetting of earlier "
        "stages."
    ),
    "equations": [
        "per layer ℓ: m_ℓ ~ uniform over {m ∈ {0,1}^{n_ℓ} : Σ_i m_i = ⌈n_ℓ/2⌉} (its output units), redrawn every stage",
        "θ ← θ − η · m ⊙ û   (frozen units keep their previous values)",
    ],
}


# --- the pieces, smallest first ---------------------------------------------------------------------
def select_half(n_groups: int, rng=None) -> np.ndarray:
    """Boolean mask over groups with exactly ⌈G/2⌉ True, uniformly at random."""
    if not isinstance(n_groups, (int, np.integer)) or n_groups < 1:
        raise ValueError(f"select_half: `n_groups` must be an int ≥ 1, got {n_groups!r}")
    rng = np.random.default_rng(rng)
    mask = np.zeros(n_groups, dtype=bool)
    mask[rng.permutation(n_groups)[: (n_groups + 1) // 2]] = True
    return mask


def linear_layers(model) -> list:
    """[(name, Linear)] of the model, in order (the layers HFT splits)."""
    from ....nn import Linear

    mods = [(n, m) for n, m in model.named_modules() if isinstance(m, Linear)]
    if not mods:
        raise ValueError("linear_layers: the model has no Linear layer")
    return mods


class UnitHalves:
    """HFT inside every layer: for each Linear layer, half of its output units (weight row + bias entry) are
    drawn at random per stage and only they train.  `new_stage()` redraws; the instance is a training
    callback that zeroes the frozen rows' gradients after every backward (Adam's moments for them stay 0
    and they do not move)."""

    def __init__(self, model, seed: int = 0):
        self.layers = [m for _, m in linear_layers(model)]
        self.rng = np.random.default_rng(seed)
        self.masks = [np.ones(layer.weight.shape[0], dtype=bool) for layer in self.layers]

    def new_stage(self) -> list:
        """Redraw ⌈n/2⌉ of the n output units of every layer (m_ℓ); returns the masks."""
        self.masks = [select_half(layer.weight.shape[0], self.rng) for layer in self.layers]
        return self.masks

    def after_backward(self, state) -> None:
        for layer, m in zip(self.layers, self.masks):  # θ ← θ − η m ⊙ û: the frozen rows get no gradient
            if layer.weight.grad is not None:
                layer.weight.grad[~m] = 0.0
            if layer.bias is not None and layer.bias.grad is not None:
                layer.bias.grad[~m] = 0.0

    def reset_frozen(self, previous: dict) -> None:
        """The paper's pilot "half reset": put the frozen units back to `previous` (a list of
        (weight, bias) arrays per layer, taken before the stage)."""
        for layer, m, (w, b) in zip(self.layers, self.masks, previous):
            layer.weight.data[~m] = w[~m]
            if layer.bias is not None:
                layer.bias.data[~m] = b[~m]

    def trainable_count(self) -> int:
        """Scalars that train in this stage: each chosen unit's weight row and bias entry."""
        return int(
            sum(
                m.sum() * (layer.weight.shape[1] + (layer.bias is not None))
                for layer, m in zip(self.layers, self.masks)
            )
        )


class LayerHalves:
    """The coarse ablation: half of the Linear layers train, the others are frozen whole (per stage)."""

    def __init__(self, model, seed: int = 0):
        self.layers = [m for _, m in linear_layers(model)]
        self.rng = np.random.default_rng(seed)
        self.mask = np.ones(len(self.layers), dtype=bool)

    def new_stage(self) -> np.ndarray:
        self.mask = select_half(len(self.layers), self.rng)
        return self.mask

    def after_backward(self, state) -> None:
        for layer, on in zip(self.layers, self.mask):
            if not on:
                for p in (layer.weight, layer.bias):
                    if p is not None and p.grad is not None:
                        p.grad[...] = 0.0
