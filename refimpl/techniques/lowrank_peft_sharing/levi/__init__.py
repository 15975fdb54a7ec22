r"""LEVI — a frozen pre-trained model and a small model trained from scratch, joined layer by layer through
trainable adapting layers whose predictions are ensembled.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below.

The idea
--------
Fine-tuning a large pre-trained model $f$ on a downstream task inherits two kinds of problems: features the
pre-training data taught it that do not suit the new (sub)domain, and spurious features of the fine-tuning
data that full fine-tuning is free to latch onto.  LEVI keeps $f$ fixed and adds a *different view*: a small
task-specific model $g$ initialised at random and trained from scratch on the downstream data.  The two are
combined layer-wise: for each chosen layer $l$ of $f$ (its intermediate representation $f_l(x)$) an adapting
layer $a_l$ reads the concatenation of that representation and the small model's output,

$$ z_l(x) = a_l\big([\,f_l(x)\,;\,g(x)\,]\big) = W_l^{f} f_l(x) + W_l^{g} g(x) + b_l ,$$

and the prediction ensembles the adapting layers,

$$ \hat y(x) = \frac1{|\mathcal L|}\sum_{l\in\mathcal L} z_l(x),\qquad
   \min_{g,\;\{a_l\}}\ \mathbb E_{(x,y)}\ \ell\big(\hat y(x),\,y\big),$$

with $f$ frozen: only $g$ and the adapting layers train (so training and inference cost little beyond one
forward pass of $f$).  Each adapting layer can weigh, per class, how much it trusts the pre-trained layer's
view and the from-scratch view — that is the "adaptive" part of the ensemble.

What was read, and what is assumed (``verified = "reconstructed"``)
------------------------------------------------------------------
Only the abstract and third-party summaries of the paper (arXiv 2402.04644v2) were available here, not its
method section, and no official code was found — so there are **no equation numbers**.  The summaries
state: the pre-trained model is kept fixed; a small randomly initialised task-specific model is trained from
scratch; the two are connected by *adapting layers* whose input *concatenates intermediate outputs of the
pre-trained model with the small model's output*; one shared loss is optimised over the several intermediate
representations.  Assumed by us: (1) each adapting layer is a single Linear map to the logits; (2) the
ensemble is the plain mean of the adapting layers' logits, trained with one cross-entropy on that mean (not
a sum of per-layer losses); (3) the chosen layers are the post-ReLU outputs of every hidden layer of the
pre-trained MLP; (4) $g$ is a one-hidden-layer MLP on the raw input.

This is not a zero-initialised adapter on a frozen base (it is a new predictor built beside $f$), so it
declares no ``ADAPTER_FACTORIES``; the family contract lists it as exempt.
"""

from __future__ import annotations

import numpy as np

import refimpl as rf

from ....nn import Linear, ReLU, Sequential
from ....nn.module import Module

CATALOG_ENTRY = {
    "slug": "levi",
    "title": "LEVI: Generalizable Fine-tuning via Layer-wise Ensemble of Different Views",
    "authors": (
        "Yuji Roh, Qingyun Liu, Huan Gui, Zhe Yuan, Yujin Tang, Steven Euijong Whang, Liang Liu, Shuchao Bi, "
        "Lichan Hong, Ed H. Chi, Zhe Zhao"
    ),
    "year": 2024,
    "arxiv": "2402.04644",
    "family": "lowrank-peft-sharing",
    "notebook": "notebooks/lowrank-peft-sharing/levi.ipynb",
    "verified": "reconstructed",
    "verification_note": (
        "Only the abstract (arXiv 2402.04644v2) and third-party summaries were readable here; no official "
        "code found. Stated there: frozen pre-trained model, small task-specific model trained from scratch, "
        "adapting layers on the concatenation of the pre-trained model's intermediate outputs and the small "
        "model's output, one loss over the layers. Assumed: Linear adapting layers, mean of their logits, one "
        "cross-entropy on the mean, every hidden layer of the MLP tapped. No equation numbers."
    ),
    "summary": (
        "Keeps the pre-trained model frozen and trains, from scratch, a small task-specific model beside it; "
        "adapting layers read each chosen intermediate layer of the pre-trained model concatenated with the "
        "small model's output, and their predictions are averaged — a layer-wise ensemble of two views meant "
        "to resist both the pre-trained features' and the fine-tuning data's spurious features (OOD "
        "robustness)."
    ),
    "equations": [
        "z_l(x) = a_l([f_l(x); g(x)]) = W_l^f f_l(x) + W_l^g g(x) + b_l   (adapting layer on layer l)",
        "ŷ(x) = (1/|L|) Σ_{l∈L} z_l(x)   (layer-wise ensemble)",
        "min over g and {a_l} of E ℓ(ŷ(x), y), f frozen",
    ],
}


# --- the pieces, smallest first ---------------------------------------------------------------------
def levi_logits(features, g_out, weights, biases) -> np.ndarray:
    """ŷ = mean_l (W_l [f_l; g] + b_l) on arrays: `features` a list of (N, d_l) layer outputs f_l(x), `g_out`
    the (N, d_g) small-model output, `weights[l]` (C, d_l + d_g) and `biases[l]` (C,)."""
    features = [np.asarray(f, dtype=np.float64) for f in features]
    g_out = np.asarray(g_out, dtype=np.float64)
    if not features:
        raise ValueError("levi_logits: `features` must hold at least one layer output, got none")
    if len(weights) != len(features) or len(biases) != len(features):
        raise ValueError(
            f"levi_logits: need one weight and bias per layer ({len(features)}), "
            f"got {len(weights)} weights and {len(biases)} biases"
        )
    n = g_out.shape[0]
    z = []
    for f, W, b in zip(features, weights, biases):
        if f.ndim != 2 or f.shape[0] != n:
            raise ValueError(f"levi_logits: each feature must be (N={n}, d), got {f.shape}")
        h = np.concatenate([f, g_out], axis=1)  # [f_l(x); g(x)]
        z.append(h @ np.asarray(W, dtype=np.float64).T + np.asarray(b, dtype=np.float64))  # z_l = a_l(·)
    return np.mean(z, axis=0)  # ŷ = mean_l z_l


def layer_outputs(backbone: Sequential, x, taps) -> list:
    """f_l(x) for l in `taps`: the outputs of backbone[l] (indices into the Sequential), in order."""
    taps = sorted(int(t) for t in taps)
    if not taps or taps[0] < 0 or taps[-1] >= len(backbone):
        raise ValueError(f"layer_outputs: `taps` must be indices in 0..{len(backbone) - 1}, got {taps}")
    out, h = [], x
    for i, m in enumerate(backbone):
        if i > taps[-1]:
            break
        h = m(h)
        if i in taps:
            out.append(h)
    return out


def small_model(d_in: int, width: int, *, seed: int = 0, dtype=np.float32) -> Sequential:
    """g: a one-hidden-layer MLP (Linear–ReLU) trained from scratch; its output has `width` features."""
    if width < 1:
        raise ValueError(f"small_model: `width` must be ≥ 1, got {width!r}")
    return Sequential(Linear(d_in, width, dtype=dtype, rng=np.random.default_rng(seed)), ReLU())


class LEVI(Module):
    """A frozen pre-trained `backbone` (a Sequential), a trainable small model `small` with `small_dim`
    output features, and one Linear adapting layer per tapped layer of the backbone; the forward pass
    averages the adapting layers' logits.  `taps` are Sequential indices; `tap_dims` their widths."""

    def __init__(self, backbone, small, small_dim, taps, tap_dims, num_classes, *, seed=0, dtype=np.float32):
        super().__init__()
        taps, tap_dims = list(taps), list(tap_dims)
        if len(taps) != len(tap_dims) or not taps:
            raise ValueError(
                f"LEVI: `taps` and `tap_dims` must be non-empty and of equal length, got {taps}, {tap_dims}"
            )
        if num_classes < 1:
            raise ValueError(f"LEVI: `num_classes` must be ≥ 1, got {num_classes!r}")
        for p in backbone.parameters():  # f stays fixed
            p.requires_grad = False
        self.backbone, self.small, self.taps = backbone, small, taps
        rng = np.random.default_rng(seed)
        self.n_heads = len(taps)
        for k, d in enumerate(tap_dims):  # a_l: [f_l; g] → logits
            setattr(self, f"adapt{k}", Linear(d + small_dim, num_classes, dtype=dtype, rng=rng))

    def heads(self) -> list:
        return [getattr(self, f"adapt{k}") for k in range(self.n_heads)]

    def head_logits(self, x) -> list:
        feats = layer_outputs(self.backbone, x, self.taps)  # f_l(x), frozen
        g = self.small(x)  # g(x), from scratch
        return [a(rf.cat([f, g], axis=1)) for f, a in zip(feats, self.heads())]  # z_l

    def forward(self, x):
        z = self.head_logits(x)
        return rf.stack(z, axis=0).mean(axis=0)  # ŷ = (1/|L|) Σ_l z_l
