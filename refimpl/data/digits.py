"""The 8x8 handwritten digits, bundled, plus the corruptions that experiments ask of them.

Source: the test set of the UCI "Optical Recognition of Handwritten Digits" data (E. Alpaydin and
C. Kaynak, 1998, https://doi.org/10.24432/C50P49), licensed CC BY 4.0: 1,797 images of 8x8 integer
pixels in 0..16 (counts of on-pixels in 4x4 blocks of 32x32 bitmaps), classes 0..9 with 174-183 images
each.  Extracted once from the copy bundled with scikit-learn (``sklearn.datasets.load_digits``) by
``tools/make_bundled_data.py`` into ``_files/digits.npz``; refimpl does not depend on scikit-learn.
"""

from __future__ import annotations

import functools
import importlib.resources
from collections.abc import Sequence

import numpy as np

from .loader import Split

__all__ = ["Split", "load_digits", "label_noise", "long_tailed", "upsample_28", "digits_subset"]

NUM_CLASSES = 10


@functools.cache
def _raw() -> tuple[np.ndarray, np.ndarray]:
    """The bundled images, uint8 (1797, 8, 8), and labels, uint8 (1797,); read-only, loaded once."""
    with importlib.resources.files(__package__).joinpath("_files/digits.npz").open("rb") as f:
        with np.load(f, allow_pickle=False) as npz:
            images, labels = npz["images"], npz["labels"]
    images.flags.writeable = labels.flags.writeable = False
    return images, labels


def _stratified_split(y: np.ndarray, test_fraction: float, rng: np.random.Generator):
    """Per class, round(test_fraction * n_c) indices go to test; both index sets are shuffled."""
    train, test = [], []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        n_test = int(round(test_fraction * len(idx)))
        test.append(idx[:n_test])
        train.append(idx[n_test:])
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))


def load_digits(
    *,
    test_fraction: float = 0.3,
    seed: int = 0,
    dtype=np.float32,
    flatten: bool = True,
    normalize: bool = True,
) -> Split:
    """The digits as a `Split`, stratified by class and fixed by ``seed``.

    x is (N, 64) if ``flatten`` else (N, 1, 8, 8), of ``dtype``, scaled to [0, 1] (x / 16) if
    ``normalize`` else the raw 0..16; y is int64.
    """
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    images, labels = _raw()
    x = images.astype(dtype)
    if normalize:
        x /= 16
    x = x.reshape(len(x), 64) if flatten else x[:, None]
    y = labels.astype(np.int64)
    train, test = _stratified_split(y, test_fraction, np.random.default_rng(seed))
    return Split(x[train], y[train], x[test], y[test])


def _check_labels(y, num_classes: int) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1 or y.dtype.kind not in "iu":
        raise ValueError(f"y must be a 1-D integer array, got shape {y.shape} and dtype {y.dtype}")
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(
            f"y must hold labels in [0, {num_classes}) (num_classes={num_classes}), "
            f"got values in [{y.min()}, {y.max()}]"
        )
    return y


def label_noise(
    y, rate: float, *, num_classes: int = NUM_CLASSES, kind: str = "symmetric", seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Flip exactly ``round(rate * N)`` labels, chosen uniformly at random; return ``(y_noisy, flipped)``.

    ``kind="symmetric"``: a flipped label becomes a uniformly chosen *different* class.
    ``kind="asymmetric"``: class c becomes (c + 1) mod num_classes, a fixed class-dependent confusion
    (a simplified stand-in for hand-picked pairs such as 7->1 in Patrini et al., 2017).
    Every flipped label differs from its original, so the realised flip rate is the requested one
    rounded to the nearest multiple of 1/N.
    """
    if kind not in ("symmetric", "asymmetric"):
        raise ValueError(f"kind must be 'symmetric' or 'asymmetric', got {kind!r}")
    if not 0 <= rate <= 1:
        raise ValueError(f"rate must be in [0, 1], got {rate!r}")
    if num_classes < 2:
        raise ValueError(f"num_classes must be >= 2, got {num_classes!r}")
    y = _check_labels(y, num_classes).astype(np.int64)
    rng = np.random.default_rng(seed)
    flip = rng.choice(len(y), size=int(round(rate * len(y))), replace=False)
    shift = rng.integers(1, num_classes, size=len(flip)) if kind == "symmetric" else 1
    y_noisy = y.copy()
    y_noisy[flip] = (y[flip] + shift) % num_classes
    flipped = np.zeros(len(y), dtype=bool)
    flipped[flip] = True
    return y_noisy, flipped


def long_tailed(
    x, y, *, imbalance: float = 100, num_classes: int = NUM_CLASSES, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Subsample to an exponential long tail, class 0 the head (Cui et al., 2019, CIFAR-LT profile).

    n_c = floor(n_max * imbalance^(-c / (C - 1))), where n_max is the smallest class count in ``y``
    (so every class can supply its quota).  Integer counts make n_0 / n_{C-1} = n_max /
    floor(n_max / imbalance), which equals ``imbalance`` only when it divides n_max; ``imbalance``
    may not exceed n_max (the tail class would be empty).  Rows keep their labels; order is shuffled.
    """
    x = np.asarray(x)
    y = _check_labels(y, num_classes)
    if len(x) != len(y):
        raise ValueError(f"x and y must have the same length, got {len(x)} and {len(y)}")
    if num_classes < 2:
        raise ValueError(f"num_classes must be >= 2, got {num_classes!r}")
    counts = np.bincount(y, minlength=num_classes)
    n_max = int(counts.min())
    if not 1 <= imbalance <= n_max:
        raise ValueError(f"imbalance must be in [1, {n_max}] (the smallest class count), got {imbalance!r}")
    c = np.arange(num_classes)
    n_c = np.floor(n_max * float(imbalance) ** (-c / (num_classes - 1)) + 1e-9).astype(int)
    rng = np.random.default_rng(seed)
    keep = np.concatenate([rng.choice(np.flatnonzero(y == k), size=n_c[k], replace=False) for k in c])
    keep = rng.permutation(keep)
    return x[keep], y[keep]


def _interp_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) linear-interpolation weights, corners aligned: output i samples i*(n_in-1)/(n_out-1)."""
    pos = np.arange(n_out) * (n_in - 1) / (n_out - 1)
    lo = np.minimum(np.floor(pos).astype(int), n_in - 2)
    frac = pos - lo
    a = np.zeros((n_out, n_in))
    a[np.arange(n_out), lo] = 1 - frac
    a[np.arange(n_out), lo + 1] = frac
    return a


def upsample_28(x, dtype=None) -> np.ndarray:
    """Bilinear (corner-aligned) upsampling of 8x8 digits to (N, 1, 28, 28), MNIST-sized.

    Accepts (N, 64), (N, 8, 8) or (N, 1, 8, 8).  Separable: out = A @ img @ A^T with A the (28, 8)
    interpolation matrix, so it equals ``scipy.ndimage.zoom(img, 3.5, order=1)``.  The result has
    ``dtype``, by default the input's float dtype (float32 for integer input).
    """
    x = np.asarray(x)
    if x.ndim < 2 or x.shape[1:] not in ((64,), (8, 8), (1, 8, 8)):
        raise ValueError(f"x must have shape (N, 64), (N, 8, 8) or (N, 1, 8, 8), got {x.shape}")
    if dtype is None:
        dtype = x.dtype if x.dtype.kind == "f" else np.float32
    a = _interp_matrix(8, 28)
    out = np.einsum("ih,nhw,jw->nij", a, x.reshape(len(x), 8, 8).astype(np.float64), a, optimize=True)
    return out[:, None].astype(dtype)


def digits_subset(split: Split, classes: Sequence[int], *, relabel: bool = True) -> Split:
    """Keep only the rows whose label is in ``classes``; with ``relabel``, ``classes[i]`` becomes i.

    E.g. ``digits_subset(s, range(5))`` and ``digits_subset(s, range(5, 10))`` for pretrain-on-0-4 /
    adapt-on-5-9 experiments (both then labelled 0..4).
    """
    classes = np.asarray(list(classes), dtype=np.int64)
    if classes.ndim != 1 or classes.size == 0 or len(np.unique(classes)) != classes.size or classes.min() < 0:
        raise ValueError(f"classes must be non-empty, distinct labels >= 0, got {classes.tolist()}")
    lut = np.full(max(int(classes.max()), int(split.y_train.max()), int(split.y_test.max())) + 1, -1)
    lut[classes] = np.arange(classes.size) if relabel else classes

    def pick(x, y):
        keep = np.isin(y, classes)
        return x[keep], lut[y[keep]].astype(np.int64)

    return Split(*pick(split.x_train, split.y_train), *pick(split.x_test, split.y_test))
