r"""Guidance: train an "untrainable" target network with its task loss plus a layer-wise representational
distance (1 − linear CKA) to a frozen guide network of another architecture, trained or untrained.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.
Official code: github.com/vsubramaniam851/untrainable-networks, read at commit e8368d4 (`rep_sim/`,
`imagenet-comparison/image_class.py`).  The paper's full text was not available here (only its abstract
and the start of its introduction), so formula lines cite the official code's file:line, not equation
numbers.

The idea
--------
A plain fully connected network (FCN) overfits on images where a CNN does not: the CNN's architecture is a
prior.  Guidance transfers (part of) that prior without changing the target's architecture.  The target
$f$ is trained on

$$\mathcal{L}(x, y) = \mathrm{CE}\big(f(x), y\big) + \alpha \sum_{(g, t) \in M}
  \Big(1 - \mathrm{CKA}\big(R^{f}_{t}(x),\ R^{g}_{g}(x)\big)\Big)
  \qquad (\texttt{image\_class.py:23-28},\ \texttt{rep\_sim\_loss.py:29-32})$$

where $R_\ell(x) \in \mathbb{R}^{n \times d_\ell}$ is the output of layer $\ell$ on the minibatch $x$
(flattened per example), the guide's representations $R^g$ come from a *frozen* guide (eval mode, no
gradient, `image_class.py:98-107`) and $M$ pairs guide layers with target layers.  Linear CKA on a batch of
$n$ examples (`rep_sims.py:18-38`), with $H = I - \tfrac1n \mathbf{1}\mathbf{1}^\top$ and Gram matrices
$K = XX^\top$, $L = YY^\top$:

$$\mathrm{HSIC}(K, L) = \sum_{ij} (HKH)_{ij}\,(HLH)_{ij},\qquad
  \mathrm{CKA}(X, Y) = \frac{\mathrm{HSIC}(K, L)}{\sqrt{\mathrm{HSIC}(K, K)\,\mathrm{HSIC}(L, L)}}.$$

(The usual $1/(n-1)^2$ of HSIC cancels in the ratio; the official code omits it.)  CKA compares the
*similarity structure* of the batch, not the units: it is invariant to orthogonal transforms and isotropic
scaling of either representation, and to a constant offset (the centring), so layers of different widths
— a conv feature map of 1024 numbers and a hidden layer of 256 — can be aligned.

Which layers: the official extractor (`layer_extract.py:17`) records the output of every Conv2d, Linear,
AdaptiveAvgPool2d, ... module, i.e. pre-activation outputs of the layers with parameters, the logit layer
included.  Which pairs: guide layer $i$ of $G$ goes to target layer $\mathrm{round}(i\,(T-1)/(G-1))$ of
$T$ (`layer_sim.py:19-28`, Python's round, half to even); the pairs are kept in a dict keyed by the
target layer (`layer_sim.py:66-78`), so when $G > T$ and several guide layers land on one target layer only
the last one counts.

Trained or untrained guide: a trained guide carries its architecture's prior and what it learned; an
untrained (randomly initialised) guide carries only the prior its architecture imposes on representations
(the official `--untrained` flag, `args.py:12`).

What is implemented, and deviations
-----------------------------------
* `linear_cka`, `cka_distance`, `layer_mapping`, `guidance_loss`: pure functions on Tensors / arrays, built
  from differentiable primitives (no custom backward; the tests check the gradient in float64 anyway).
* `linear_cka` centres the features and uses $HKH = X_cX_c^\top$ ($X_c$ the column-centred $X$), which is
  the same $n\times n$ matrix as the official $HKH$ without forming $H$.
* `FCN` is a target MLP whose forward keeps its layer outputs in `representations` (the official code
  uses forward hooks); `SmallCNN` is a guide for square images (side `side`) with `representations(x)`.
* The official code also offers RSA and a noise-input variant (`rep_sim_loss.py:7-27`); neither is used.
* Toy scale: digits pasted at a fixed random offset into a 12×12 canvas, 20 training examples per class,
  instead of ImageNet (on the centred 8×8 digits a small CNN is no better than the FCN: no prior to
  transfer); a 4-layer FCN guided by a 3-conv CNN, chosen by us.  Guide representations are computed once on the training set (the guide is
  frozen and the inputs are not augmented, so this equals recomputing them every step).

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/growth-init-scaling/guidance-representation-alignment.ipynb
"""

from __future__ import annotations

import numpy as np

from ....nn import Module

CATALOG_ENTRY = {
    "slug": "guidance-representation-alignment",
    "title": "Training the Untrainable: Introducing Inductive Bias via Representational Alignment",
    "authors": "Vighnesh Subramaniam, David Mayo, Colin Conwell, Tomaso Poggio, Boris Katz, Brian Cheung, "
    "Andrei Barbu",
    "year": 2024,
    "arxiv": "2410.20035",
    "family": "growth-init-scaling",
    "notebook": "notebooks/growth-init-scaling/guidance-representation-alignment.ipynb",
    "verified": "official-code",
    "verification_note": (
        "Checked against vsubramaniam851/untrainable-networks at commit e8368d4: linear CKA "
        "rep_sim/rep_sims.py:18-38 (HKH Gram centring, HSIC = Σ HKH⊙HLH, no 1/(n−1)² factor); the "
        "per-layer distance 1 − CKA on per-example-flattened outputs rep_sim/layer_sim.py:71-75, summed "
        "over the mapped layers rep_sim/rep_sim_loss.py:29-32; the total CE + α·distance "
        "imagenet-comparison/image_class.py:23-28 with a frozen eval-mode guide (:98-107); the layer "
        "mapping round(i·(T−1)/(G−1)) rep_sim/layer_sim.py:19-28; layers = outputs of Conv2d/Linear/... "
        "modules rep_sim/layer_extract.py:17. The paper's text beyond the abstract was not available, so "
        "formula lines cite code lines, not equation numbers. Hand cases checked; the toy experiment "
        "(digits, FCN guided by a small CNN) is ours."
    ),
    "summary": (
        "Train a target network (e.g. a plain fully connected net that overfits on images) on its task loss "
        "plus, for each pair of mapped layers, one minus the linear CKA between its batch representations "
        "and those of a frozen guide network of another architecture (e.g. a CNN). A trained guide transfers "
        "its architecture's prior and its knowledge; an untrained guide only the prior."
    ),
    "equations": [
        "L = CE(f(x), y) + α Σ_{(g,t)∈M} (1 − CKA(R_t^f(x), R_g^guide(x)))   (image_class.py:23-28)",
        "CKA(X, Y) = HSIC(K, L) / √(HSIC(K, K) HSIC(L, L)), K = XXᵀ, L = YYᵀ   (rep_sims.py:31-38)",
        "HSIC(K, L) = Σ_ij (HKH)_ij (HLH)_ij, H = I − 11ᵀ/n                   (rep_sims.py:18-29)",
        "M: guide layer i ↦ target layer round(i (T−1)/(G−1)), last wins      (layer_sim.py:19-28)",
        "R_ℓ = output of a Conv2d/Linear layer, flattened per example; guide frozen (layer_sim.py:71-75)",
    ],
}

__all__ = [
    "linear_cka",
    "cka_distance",
    "layer_mapping",
    "guidance_loss",
    "guided_loss",
    "FCN",
    "SmallCNN",
]


def _as_tensor(x, name: str, what: str):
    from ....autograd import Tensor

    t = x if isinstance(x, Tensor) else Tensor(np.asarray(x))
    if t.ndim < 2:
        raise ValueError(f"{what}: `{name}` must have a batch axis and features, got shape {t.shape}")
    if t.data.dtype.kind != "f":
        raise ValueError(f"{what}: `{name}` must be floating point, got dtype {t.data.dtype}")
    return t.reshape(t.shape[0], -1) if t.ndim > 2 else t  # flattened per example (layer_sim.py:72-74)


# --- the representational similarity -------------------------------------------------------------------
def linear_cka(X, Y):
    """Linear CKA between two batch representations X (n, p) and Y (n, q) — arrays or Tensors, more than
    two axes are flattened per example; differentiable in both (rep_sims.py:18-38)."""
    X, Y = _as_tensor(X, "X", "linear_cka"), _as_tensor(Y, "Y", "linear_cka")
    if X.shape[0] != Y.shape[0]:
        raise ValueError(f"linear_cka: `X` and `Y` must hold the same examples, got {X.shape} and {Y.shape}")
    if X.shape[0] < 2:
        raise ValueError(f"linear_cka: needs at least 2 examples, got {X.shape[0]}")
    Xc = X - X.mean(axis=0, keepdims=True)  # H X: centring the features centres the Gram matrix
    Yc = Y - Y.mean(axis=0, keepdims=True)
    K, L = Xc @ Xc.T, Yc @ Yc.T  # HKH = (HX)(HX)ᵀ,  HLH = (HY)(HY)ᵀ       (rep_sims.py:18-27)
    hsic_kl = (K * L).sum()  # HSIC(K, L) = Σ_ij (HKH)_ij (HLH)_ij            (rep_sims.py:29)
    hsic_kk, hsic_ll = (K * K).sum(), (L * L).sum()
    return hsic_kl / (hsic_kk.sqrt() * hsic_ll.sqrt())  # CKA                  (rep_sims.py:31-38)


def cka_distance(X, Y):
    """1 − CKA(X, Y), the per-layer guidance distance (layer_sim.py:75)."""
    return 1.0 - linear_cka(X, Y)


def layer_mapping(n_guide: int, n_target: int) -> list:
    """Pairs (guide layer, target layer) of the official rule (layer_sim.py:19-28): guide layer i goes to
    target layer min(round(i (T−1)/(G−1)), T−1), Python's round (half to even); one pair per target layer,
    the last guide layer landing on it winning (the official dict is keyed by the target layer)."""
    for name, v in (("n_guide", n_guide), ("n_target", n_target)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"layer_mapping: `{name}` must be an integer ≥ 1, got {v!r}")
    step = (n_target - 1) / (n_guide - 1) if n_guide > 1 else 1
    by_target = {}
    for i in range(n_guide):
        by_target[min(round(i * step), n_target - 1)] = i
    return [(g, t) for t, g in sorted(by_target.items())]


def guidance_loss(target_reps, guide_reps, mapping=None):
    """Σ over mapped pairs (g, t) of 1 − CKA(target_reps[t], guide_reps[g]) (rep_sim_loss.py:29-32).
    `mapping` defaults to `layer_mapping(len(guide_reps), len(target_reps))`."""
    target_reps, guide_reps = list(target_reps), list(guide_reps)
    if not target_reps or not guide_reps:
        raise ValueError("guidance_loss: `target_reps` and `guide_reps` must each hold at least one layer")
    if mapping is None:
        mapping = layer_mapping(len(guide_reps), len(target_reps))
    mapping = [(int(g), int(t)) for g, t in mapping]
    for g, t in mapping:
        if not (0 <= g < len(guide_reps) and 0 <= t < len(target_reps)):
            raise ValueError(
                f"guidance_loss: `mapping` pair ({g}, {t}) is out of range for {len(guide_reps)} guide and "
                f"{len(target_reps)} target layers"
            )
    total = None
    for g, t in mapping:
        d = cka_distance(target_reps[t], guide_reps[g])
        total = d if total is None else total + d
    return total


def guided_loss(logits, y, target_reps, guide_reps, alpha: float, mapping=None):
    """CE(logits, y) + α · guidance_loss (image_class.py:23-28); α = 0 is the unguided ablation."""
    from ....nn import functional as F

    if not np.isfinite(alpha) or alpha < 0:
        raise ValueError(f"guided_loss: `alpha` must be a finite number ≥ 0, got {alpha!r}")
    ce = F.cross_entropy(logits, y)
    if alpha == 0:
        return ce
    return ce + float(alpha) * guidance_loss(target_reps, guide_reps, mapping)


# --- a target and a guide ------------------------------------------------------------------------------
class FCN(Module):
    """A plain fully connected ReLU network (the target).  `forward` keeps the output of every Linear layer
    (pre-activation, the logits last) in `self.representations`, as the official forward hooks do."""

    def __init__(self, sizes, dtype=np.float32, rng=None):
        from ....nn import Linear, ModuleList

        super().__init__()
        sizes = [int(s) for s in sizes]
        if len(sizes) < 2 or min(sizes) < 1:
            raise ValueError(f"FCN: `sizes` must list ≥ 2 positive widths, got {sizes}")
        self.layers = ModuleList([Linear(a, b, dtype=dtype, rng=rng) for a, b in zip(sizes[:-1], sizes[1:])])
        self.representations = []

    def forward(self, x):
        reps, h = [], x.reshape(x.shape[0], -1) if x.ndim > 2 else x  # images are flattened
        for i, layer in enumerate(self.layers):
            h = layer(h)
            reps.append(h)
            if i < len(self.layers) - 1:
                h = h.relu()
        self.representations = reps
        return h


class SmallCNN(Module):
    """A small CNN for (n, side²) images (the guide): 3×3 convolutions with padding 1 and ReLU, a 2×2 max
    pool after the second, a global average pool, a Linear head.  `representations(x)` returns the output
    of every Conv2d and of the Linear layer, as the official extractor records them."""

    def __init__(self, channels=(16, 32, 32), n_classes: int = 10, side: int = 8, dtype=np.float32, rng=None):
        from ....nn import Conv2d, Linear, ModuleList

        super().__init__()
        channels = [int(c) for c in channels]
        if len(channels) < 2 or min(channels) < 1:
            raise ValueError(f"SmallCNN: `channels` must list ≥ 2 positive widths, got {channels}")
        if side < 2 or side % 2:
            raise ValueError(f"SmallCNN: `side` must be an even integer ≥ 2, got {side}")
        self.side = int(side)
        ins = [1] + channels[:-1]
        self.convs = ModuleList(
            [Conv2d(a, b, 3, padding=1, dtype=dtype, rng=rng) for a, b in zip(ins, channels)]
        )
        self.head = Linear(channels[-1], int(n_classes), dtype=dtype, rng=rng)

    def _run(self, x):
        from ....nn import functional as F

        h = x.reshape(x.shape[0], 1, self.side, self.side)
        reps = []
        for i, conv in enumerate(self.convs):
            h = conv(h)
            reps.append(h)
            h = h.relu()
            if i == 1:
                h = F.max_pool2d(h, 2)
        z = self.head(h.mean(axis=(2, 3)))  # global average pool, then the classifier
        reps.append(z)
        return z, reps

    def forward(self, x):
        return self._run(x)[0]

    def representations(self, x) -> list:
        return self._run(x)[1]
