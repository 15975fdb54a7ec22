r"""Prune, Combine, Augment (PCA): compress a dataset to a storage budget of a few images per class with hard
labels only — keep easy real images, store several of them downscaled in one image slot, and train with a
constrained augmentation.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.

The idea
--------
Large-scale dataset distillation stores a handful of images per class (IPC) *plus* soft labels from a
teacher for every augmented view — labels that can take far more storage than the images, and with which
even a random subset of real images comes close to the distilled ones.  PCA drops the soft labels and spends
the budget on images:

1. **Prune** — rank each class's real images by a dataset-pruning score and keep the *easy* ones (a low
   EL2N, $\lVert \mathrm{softmax}(f(x)) - e_y\rVert_2$, from a briefly trained model): at a budget of one or a
   few images per class the prototypical images teach most.
2. **Combine** — downscale each kept image by a factor $s$ and tile $s^2$ of them (same class) into one image
   slot of the original size, so the same storage holds $s^2$ times as many images; at training time each
   slot is cut back into its $s^2$ tiles and each tile upsampled to the input size.
3. **Augment** — train on the decoded images with a mild ("constrained") augmentation; here random shifts of
   at most one pixel, drawn anew each epoch.

Labels stay hard (one class per slot: every tile of a slot has the slot's class).

The benchmark's soft labels, for contrast.  The mainstream large-scale setting the paper questions trains the
student on a teacher's temperature-softened predictions, $p = \mathrm{softmax}(z_{\text{teacher}}/T)$, with the
loss $\mathrm{KL}(p \,\Vert\, \mathrm{softmax}(z/T))$ (`soft_labels`, `kd_loss`; T = 20 in the released
benchmark).  Its finding — even a random subset is competitive there — is what PCA's hard labels answer.

What is implemented, and what was assumed
-----------------------------------------
Xiao, Liu, He, Wang (arXiv 2502.06434; v2 is retitled "Unifying Dataset Pruning and Distillation for
Efficient Large-scale Compression") — the abstract (v1 and v2) and summaries were read: P selects easy
samples by a dataset-pruning metric, C combines them, A is a constrained augmentation during training, hard
labels only.  The released package (github.com/ArmandXiao/Rethinking-Dataset-Compression, `rethinkdc` on
PyPI) holds the benchmark's evaluation code; its README lists PCA itself as not yet released.  From that code
we take only the soft-label evaluation: `rethinkdc/train_KD.py:261-270` (the teacher's logits on each batch,
both teacher and student divided by the temperature, softmax / log-softmax, `KLDivLoss(reduction="batchmean")`,
no T² factor) and `rethinkdc/dc_config/standard_soft_config.yaml` (temperature 20; the hard-label config is
the same without teacher and CutMix).  So this is **reconstructed**: the pruning score (EL2N, mean over two
short runs), the 2×2 tiling of 2× average-pooled images with nearest-neighbour upsampling at decode time,
and the shift augmentation are our choices for 8×8 digits; the paper works on ImageNet at 224 px.  The
distillation baseline of the experiment is our small distribution-matching distillation (`distribution_match`,
in the spirit of DM, Zhao & Bilen 2023), not one of the paper's large-scale methods.

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/data-weighting-selection/pca-dataset-compression.ipynb
"""

from __future__ import annotations

import numpy as np

CATALOG_ENTRY = {
    "slug": "pca-dataset-compression",
    "title": "Rethinking Large-scale Dataset Compression: Shifting Focus From Labels to Images",
    "authors": "Lingao Xiao, Songhua Liu, Yang He, Xinchao Wang",
    "year": 2025,
    "arxiv": "2502.06434",
    "family": "data-weighting-selection",
    "notebook": "notebooks/data-weighting-selection/pca-dataset-compression.ipynb",
    "verified": "reconstructed",
    "verification_note": (
        "arXiv id, title and authors confirmed; only the abstracts (v1, v2) and summaries were read: P keeps "
        "easy samples by a pruning metric, C combines them, A is a constrained augmentation, hard labels only. "
        "The released package (rethinkdc) holds the benchmark's evaluation code, and its README marks PCA as "
        "not released; only its soft-label evaluation was checked (rethinkdc/train_KD.py:261-270, T = 20 in "
        "dc_config/standard_soft_config.yaml). The score (EL2N), the 2×2 tiling of 2×-downscaled images, "
        "nearest-neighbour decoding, the one-pixel shift augmentation and the distribution-matching baseline "
        "are ours. v2 of the paper is retitled 'Unifying Dataset Pruning and Distillation for Efficient "
        "Large-scale Compression'. Hand cases checked."
    ),
    "summary": (
        "At a storage budget of a few images per class with hard labels only: keep each class's easiest real "
        "images by a pruning score, store four 2×-downscaled images in each image slot, decode them back at "
        "training time, and train with a constrained augmentation — instead of distilled images with soft "
        "labels."
    ),
    "equations": [
        "prune: per class, the 4·IPC examples with the lowest EL2N = ‖softmax(f(x)) − e_y‖₂",
        "combine: slot = [[d(x₁), d(x₂)], [d(x₃), d(x₄)]],  d = 2×2 average pooling (same class)",
        "decode: xᵢ ≈ u(tileᵢ),  u = nearest-neighbour upsampling ×2",
        "augment: x ↦ shift(x, δ),  δ ∈ {−1, 0, 1}², drawn each epoch",
        "benchmark soft labels (contrast): p = softmax(z_teacher/T),  loss = KL(p ‖ softmax(z/T)),  T = 20",
    ],
}

__all__ = [
    "downscale",
    "upsample",
    "combine",
    "decode",
    "select_per_class",
    "shift_augment",
    "soft_labels",
    "kd_loss",
    "dm_loss_and_grad",
    "distribution_match",
]


def _images(x, fn):
    x = np.asarray(x)
    if x.ndim != 3 or x.shape[1] != x.shape[2]:
        raise ValueError(f"{fn}: `x` must be square images of shape (N, H, H), got shape {x.shape}")
    if x.dtype.kind != "f":
        raise ValueError(f"{fn}: `x` must be a float array, got dtype {x.dtype}")
    return x


def downscale(x, factor: int = 2) -> np.ndarray:
    """Average-pool (N, H, H) images by `factor` (H divisible by it) to (N, H/f, H/f)."""
    x = _images(x, "downscale")
    n, h, _ = x.shape
    if factor < 1 or h % factor:
        raise ValueError(f"downscale: `factor` must divide the image size {h}, got {factor}")
    return x.reshape(n, h // factor, factor, h // factor, factor).mean(axis=(2, 4))


def upsample(x, factor: int = 2) -> np.ndarray:
    """Nearest-neighbour upsampling of (N, h, h) images to (N, h·f, h·f)."""
    x = _images(x, "upsample")
    if factor < 1:
        raise ValueError(f"upsample: `factor` must be ≥ 1, got {factor}")
    return np.repeat(np.repeat(x, factor, axis=1), factor, axis=2)


def combine(small, factor: int = 2) -> np.ndarray:
    """Tile groups of factor² small (N, h, h) images, row-major, into (N/f², h·f, h·f) slots."""
    small = _images(small, "combine")
    n, h, _ = small.shape
    k = factor * factor
    if n % k:
        raise ValueError(f"combine: the number of images ({n}) must be a multiple of factor² = {k}")
    g = small.reshape(n // k, factor, factor, h, h)  # slot, tile row, tile column, pixel row, pixel column
    return g.transpose(0, 1, 3, 2, 4).reshape(n // k, factor * h, factor * h)


def decode(slots, factor: int = 2) -> np.ndarray:
    """Cut (M, H, H) slots into their factor² tiles (row-major) and upsample each back to H × H: (M·f², H, H)."""
    slots = _images(slots, "decode")
    m, h, _ = slots.shape
    if factor < 1 or h % factor:
        raise ValueError(f"decode: `factor` must divide the slot size {h}, got {factor}")
    t = h // factor
    tiles = slots.reshape(m, factor, t, factor, t).transpose(0, 1, 3, 2, 4).reshape(m * factor * factor, t, t)
    return upsample(tiles, factor)


def select_per_class(scores, y, per_class: int, *, easy: bool = True) -> np.ndarray:
    """Sorted indices of `per_class` examples of every class: the lowest scores if `easy`, else the highest
    (ties: the lower index first)."""
    s, y = np.asarray(scores, dtype=np.float64), np.asarray(y)
    if s.shape != y.shape or s.ndim != 1:
        raise ValueError(
            f"select_per_class: `scores` and `y` must be 1-D of one length, got {s.shape}, {y.shape}"
        )
    keep = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        if per_class > len(idx) or per_class < 1:
            raise ValueError(
                f"select_per_class: `per_class` must be in [1, {len(idx)}] for class {c}, got {per_class}"
            )
        order = np.argsort(s[idx] if easy else -s[idx], kind="stable")
        keep.append(idx[order[:per_class]])
    return np.sort(np.concatenate(keep))


def shift_augment(x, rng, max_shift: int = 1) -> np.ndarray:
    """Each (H, H) image shifted by its own random (dy, dx) ∈ {−m … m}², zeros shifted in."""
    x = _images(x, "shift_augment")
    n, h, _ = x.shape
    pad = np.pad(x, ((0, 0), (max_shift, max_shift), (max_shift, max_shift)))
    d = rng.integers(-max_shift, max_shift + 1, size=(n, 2))
    out = np.empty_like(x)
    for i, (dy, dx) in enumerate(d):
        out[i] = pad[i, max_shift - dy : max_shift - dy + h, max_shift - dx : max_shift - dx + h]
    return out


def soft_labels(logits, temperature: float) -> np.ndarray:
    """The benchmark's soft labels: p = softmax(z/T) of a teacher's (N, C) logits, row by row
    (rethinkdc/train_KD.py:262-265)."""
    z = np.asarray(logits, dtype=np.float64)
    if z.ndim != 2:
        raise ValueError(f"soft_labels: `logits` must be (N, C), got shape {z.shape}")
    if not temperature > 0:
        raise ValueError(f"soft_labels: `temperature` must be > 0, got {temperature}")
    z = z / temperature
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def kd_loss(output, target, temperature: float):
    """Mean over the batch of the cross-entropy between soft labels `target` (N, C) and softmax(output/T):
    KL(p ‖ softmax(z/T)) plus the labels' own entropy, which does not depend on the student — the same
    gradient as the benchmark's `KLDivLoss(batchmean)` (rethinkdc/train_KD.py:264-270, no T² factor)."""
    from ....nn import functional as F

    if not temperature > 0:
        raise ValueError(f"kd_loss: `temperature` must be > 0, got {temperature}")
    return F.cross_entropy(output * (1.0 / temperature), target)


def dm_loss_and_grad(syn, labels, x, y, w, b):
    """L = ½ Σ_c ‖mean_{s∈c} relu(s W + b) − mean_{x∈c} relu(x W + b)‖² and ∂L/∂syn (by hand: for a synthetic
    image i of class c, (1/n_c) ([sᵢW + b > 0] ⊙ (m_syn,c − m_real,c)) Wᵀ)."""
    loss, grad = 0.0, np.zeros_like(syn)
    for c in np.unique(labels):
        s = labels == c
        pre = syn[s] @ w + b
        diff = np.maximum(pre, 0).mean(0) - np.maximum(x[y == c] @ w + b, 0).mean(0)
        loss += 0.5 * float(diff @ diff)
        grad[s] = ((pre > 0) * diff) @ w.T / s.sum()
    return loss, grad


def distribution_match(x, y, per_class: int, *, steps: int, lr: float, width: int = 64, seed: int = 0):
    """Distribution-matching distillation (DM-style): `per_class` synthetic images per class, initialised from
    random real ones, moved by plain gradient steps on `dm_loss_and_grad` under a freshly drawn random ReLU
    layer each step (pixels clipped to [0, 1]).  `x` flattened (N, D); returns (synthetic, labels)."""
    if steps < 0 or not lr > 0:
        raise ValueError(f"distribution_match: `steps` must be ≥ 0 and `lr` > 0, got {steps}, {lr}")
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y)
    rng = np.random.default_rng(seed)
    classes = np.unique(y)
    init = np.concatenate([rng.choice(np.flatnonzero(y == c), per_class, replace=False) for c in classes])
    syn, labels = x[init].copy(), y[init].copy()
    d = x.shape[1]
    for _ in range(steps):
        w = rng.normal(0.0, 1.0 / np.sqrt(d), size=(d, width))
        b = rng.normal(0.0, 0.1, size=width)
        _, grad = dm_loss_and_grad(syn, labels, x, y, w, b)
        syn = np.clip(syn - lr * grad, 0.0, 1.0)
    return syn.astype(np.float32), labels
