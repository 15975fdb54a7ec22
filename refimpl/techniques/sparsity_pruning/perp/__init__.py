r"""PERP: parameter-efficient retraining after pruning.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.
Official code: github.com/ZIB-IOL/PERP (`peft_methods.py` — `SelectivePEFT`, `FullFT`; `customLayers.py` —
`MaskLoRALayer`, `ScaleLoRALayer`, `PruneLoraLayer`).

The idea
--------
After one-shot magnitude pruning a network loses accuracy; the classic fix retrains *all* remaining
weights.  PERP shows that retraining a tiny, expressive subset recovers most of it: the biases and the
normalisation scales and shifts (well under 1 % of an LLM's parameters), optionally plus low-rank adapters
on the pruned weight matrices for the high-sparsity regime.  A standard LoRA update BA is dense, so merging
it back, W + s·BA, fills in every pruned entry and destroys the sparsity; masking BA only at merge time
(the official code's `lora_prune`, "LoRA-Prune") keeps the sparsity but throws away the part of the update
the training relied on.  PERP's two variants are sparsity-preserving *during* training:

$$W' = W + s\,(BA)\odot M \quad\text{(MaskLoRA)},\qquad W' = W\odot(BA) \quad\text{(ScaleLoRA)},
  \qquad M = \mathbb 1[W \neq 0],\ s = \alpha/r$$

Both keep every pruned entry exactly zero after merging.  The paper states these in Sec. 3 without
equation numbers we could confirm, so the formula lines cite the section and the official `customLayers.py`.

What is implemented, and deviations
-----------------------------------
* `lora_delta` / `LoRA` (standard LoRA, the control: merged, it is dense), `masked_lora_delta` / `MaskLoRA`
  (A initialised kaiming-uniform(a=√5) and B = 0 as HF PEFT, so both start as the identity),
  `ScaleLoRA` (A, B = 1/√r so BA = 1), all weight parametrizations stacking on the family's `Mask`;
  `select_peft_parameters` (freeze everything, then unfreeze biases / norm parameters / adapters — the
  official `SelectivePEFT`), `merge_adapters` (bake the adapters into the weight; `prune_lora=True` masks a
  plain LoRA update at merge time, the official `PruneLoraLayer.set_effective_weights`), `count_trainable`.
* Toy scale: an MLP with LayerNorm on the digits instead of OPT/LLaMA (see `experiment.py`); the classifier
  head is neither pruned nor adapted (only its bias is retrained), as the LM head in the paper.
  Reconstruction (the layer-wise L2 mode) is not implemented.

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/sparsity-pruning/perp.ipynb
"""

from __future__ import annotations

import math

import numpy as np

from ....autograd.tensor import Tensor, no_grad
from ....nn import init, parametrize
from ....nn.module import Module, Parameter

CATALOG_ENTRY = {
    "slug": "perp",
    "title": "PERP: Rethinking the Prune-Retrain Paradigm in the Era of LLMs",
    "authors": "Max Zimmer, Megi Andoni, Christoph Spiegel, Sebastian Pokutta",
    "year": 2023,
    "arxiv": "2312.15230",
    "family": "sparsity-pruning",
    "notebook": "notebooks/sparsity-pruning/perp.ipynb",
    "verified": "official-code",
    "verification_note": (
        "SelectivePEFT (only biases, LayerNorm parameters and optional LoRA trainable), MaskLoRA "
        "W + s·(BA ⊙ 1[W≠0]) with its merge, ScaleLoRA W ⊙ BA with A, B initialised to 1/√r, and the "
        "LoRA-Prune control (plain LoRA, BA masked only at merge) read in ZIB-IOL/PERP peft_methods.py and "
        "customLayers.py."
    ),
    "summary": (
        "After one-shot magnitude pruning, retrain only biases and normalisation parameters (optionally plus "
        "low-rank adapters masked by the sparsity pattern and merged back) instead of all weights; this "
        "recovers most of the accuracy of full retraining with a tiny fraction of trainable parameters."
    ),
    "equations": [
        "trainable set = {biases, norm scales γ and shifts β} (+ adapters)          (Sec. 3, SelectivePEFT)",
        "MaskLoRA: W' = W + (α/r)·(B A) ⊙ M,  M = 1[W ≠ 0]                            (customLayers.MaskLoRALayer)",
        "ScaleLoRA: W' = W ⊙ (B A),  A = B = 1/√r at init (BA = 1)                    (customLayers.ScaleLoRALayer)",
    ],
}

__all__ = [
    "lora_delta",
    "masked_lora_delta",
    "LoRA",
    "MaskLoRA",
    "ScaleLoRA",
    "select_peft_parameters",
    "merge_adapters",
    "count_trainable",
]


def _tensor(a):
    return a if isinstance(a, Tensor) else Tensor(np.asarray(a))


def lora_delta(A, B, scaling: float):
    """s · B A: the standard (dense) LoRA update (Tensors or arrays in, Tensor out)."""
    return (_tensor(B) @ _tensor(A)) * scaling  # W' = W + s·BA (LoRA; the official `lora` type)


def masked_lora_delta(A, B, mask, scaling: float):
    """s · (B A) ⊙ M: the MaskLoRA update (Tensors or arrays in, Tensor out)."""
    A, B = _tensor(A), _tensor(B)
    M = Tensor(np.asarray(getattr(mask, "data", mask), dtype=A.data.dtype))
    return (B @ A) * M * scaling  # W' = W + s·(BA) ⊙ M (Sec. 3, MaskLoRALayer)


class LoRA(Module):
    """Weight parametrization W' = W + s·BA (standard LoRA): the control whose merge is dense.

    A is initialised kaiming-uniform(a=√5), B = 0 (HF PEFT), so it starts as the identity; s = α/r."""

    def __init__(self, shape, rank: int = 4, alpha: float = 8.0, rng=None, dtype=np.float32):
        super().__init__()
        shape = tuple(int(d) for d in shape)
        if len(shape) != 2:
            raise ValueError(f"{type(self).__name__}: the weight must be 2-D (out, in), got shape {shape}")
        if rank < 1:
            raise ValueError(f"{type(self).__name__}: `rank` must be ≥ 1, got {rank}")
        out_f, in_f = shape
        self.rank, self.scaling = int(rank), float(alpha) / rank
        self.lora_A = Parameter(np.empty((rank, in_f), dtype=dtype))
        init.kaiming_uniform_(self.lora_A, a=math.sqrt(5), rng=rng)  # HF PEFT's default for A
        self.lora_B = Parameter(np.zeros((out_f, rank), dtype=dtype))  # B = 0: starts as the identity

    def delta(self):
        return lora_delta(self.lora_A, self.lora_B, self.scaling)

    def forward(self, w):
        return w + self.delta()

    def extra_repr(self):
        return f"rank={self.rank}, scaling={self.scaling}"


class MaskLoRA(LoRA):
    """Weight parametrization W' = W + s·(BA) ⊙ M with M fixed at registration (the pruning mask)."""

    def __init__(self, mask, rank: int = 4, alpha: float = 8.0, rng=None, dtype=np.float32):
        mask = np.asarray(mask)
        if mask.ndim != 2:
            raise ValueError(f"MaskLoRA: `mask` must be 2-D (out, in), got shape {mask.shape}")
        super().__init__(mask.shape, rank, alpha, rng, dtype)
        self.register_buffer("mask", (mask != 0).astype(dtype))

    def delta(self):
        return masked_lora_delta(self.lora_A, self.lora_B, self.mask, self.scaling)


class ScaleLoRA(Module):
    """Weight parametrization W' = W ⊙ (BA), A and B initialised to 1/√r (so BA = 1 at start)."""

    def __init__(self, shape, rank: int = 4, dtype=np.float32):
        super().__init__()
        out_f, in_f = shape
        if rank < 1:
            raise ValueError(f"ScaleLoRA: `rank` must be ≥ 1, got {rank}")
        self.rank = int(rank)
        self.lora_A = Parameter(
            np.full((rank, in_f), 1 / math.sqrt(rank), dtype=dtype)
        )  # ScaleLoRALayer init
        self.lora_B = Parameter(np.full((out_f, rank), 1 / math.sqrt(rank), dtype=dtype))

    def forward(self, w):
        return w * (self.lora_B @ self.lora_A)  # W' = W ⊙ BA (Sec. 3, ScaleLoRALayer)

    def extra_repr(self):
        return f"rank={self.rank}"


ADAPTERS = (LoRA, ScaleLoRA)  # MaskLoRA is a LoRA


def select_peft_parameters(model, biases: bool = True, norms: bool = True, adapters: bool = True) -> list:
    """Freeze every parameter, then unfreeze biases, the parameters of 1-D-weight layers (norms) and the
    adapters' A/B; returns the trainable list (SelectivePEFT)."""
    for p in model.parameters():
        p.requires_grad = False
    chosen = []
    for _, mod in model.named_modules():
        is_adapter = isinstance(mod, ADAPTERS)
        for pname, p in mod._parameters.items():
            if p is None:
                continue
            take = (
                (adapters and is_adapter)
                or (biases and pname == "bias" and not is_adapter)
                or (norms and pname == "weight" and p.data.ndim == 1)
            )
            if take and all(p is not q for q in chosen):
                p.requires_grad = True
                chosen.append(p)
    return chosen


def _weight_below_adapters(module) -> np.ndarray:
    """The weight the first adapter of `module.weight`'s parametrization chain receives (e.g. θ ⊙ m)."""
    plist = module.parametrizations.weight
    with no_grad():
        w = plist.original
        for i in range(len(plist)):
            if isinstance(plist[i], ADAPTERS):
                break
            w = plist[i](w)
    return np.asarray(w.data)


def merge_adapters(model, prune_lora: bool = False) -> None:
    """Bake every weight parametrization (masks and adapters) into plain weights.

    `prune_lora=True` is LoRA-Prune (the official `PruneLoraLayer.set_effective_weights`): the merged weight
    keeps only the entries where the weight below the adapters is nonzero, W' = W + s·(BA) ⊙ 1[W ≠ 0]."""
    for _, mod in list(model.named_modules()):
        if not parametrize.is_parametrized(mod, "weight"):
            continue
        keep = (_weight_below_adapters(mod) != 0) if prune_lora else None
        parametrize.remove_parametrizations(mod, "weight", bake=True)
        if keep is not None:
            mod.weight.data *= keep.astype(mod.weight.data.dtype)  # W + s·BA ⊙ 1[W≠0], since W ⊙ 1[W≠0] = W


def count_trainable(model) -> int:
    return int(sum(p.data.size for p in model.parameters() if p.requires_grad))
