"""Shared tasks with fixed train / validation / test splits, and weight generators of controlled shape.

Every task is fixed (its data seed does not change with the experiment's seed): seeds vary the model's
initialisation and the batch order, never the data, so a paired comparison across seeds compares
methods on the same data.  Validation is carved from the training part; the test split is touched once,
at the end, by `compare`'s caller.  Corruptions (label noise, a long tail) are applied to the training
and validation splits, which a practitioner would only have in corrupted form; the test split stays
clean and balanced.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from ..data import digits as _digits
from ..data import make_teacher_student

__all__ = [
    "Task",
    "digits",
    "digits_pretrain_finetune",
    "digits_continual",
    "teacher_student",
    "char_lm",
    "char_lm_sequences",
    "weight_matrix",
    "kurtosis",
    "outlier_ratio",
]

DATA_SEED = 0


@dataclasses.dataclass(frozen=True)
class Task:
    """A supervised task with three fixed splits; `meta` says how it was made (noise mask, counts...)."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int = 0  # 0 for regression
    meta: dict = dataclasses.field(default_factory=dict)

    @property
    def in_features(self) -> int:
        return int(np.prod(self.x_train.shape[1:]))

    def __repr__(self) -> str:
        return (
            f"Task({self.name!r}: train {self.x_train.shape}, val {self.x_val.shape}, "
            f"test {self.x_test.shape}, classes {self.num_classes})"
        )


def _stratified(y, fraction, rng):
    return _digits._stratified_split(y, fraction, rng)


def _readonly(*arrays):
    for a in arrays:
        a.flags.writeable = False
    return arrays


@functools.cache
def digits(
    variant: str = "plain",
    *,
    noise_rate: float = 0.4,
    imbalance: float = 50,
    size: int = 8,
    classes: tuple | None = None,
) -> Task:
    """The 8×8 digits: 50 % train, 20 % validation, 30 % test, stratified, fixed.

    variant "plain"; "label_noise" (`noise_rate` of train and validation labels flipped symmetrically,
    `meta["flipped_train"]` marks which); "long_tail" (train and validation subsampled to an exponential
    tail with head/tail ratio `imbalance`, class 0 the head; test balanced).  `size=28` upsamples the
    images to (1, 28, 28) by bilinear interpolation; otherwise x is (N, 64) in [0, 1].  `classes`
    keeps only these classes, relabelled 0..k−1 in the given order.
    """
    if variant not in ("plain", "label_noise", "long_tail"):
        raise ValueError(f"digits: `variant` must be 'plain', 'label_noise' or 'long_tail', got {variant!r}")
    if size not in (8, 28):
        raise ValueError(f"digits: `size` must be 8 or 28, got {size!r}")
    rng = np.random.default_rng(DATA_SEED)
    images, labels = _digits._raw()
    x = (images.astype(np.float32) / 16).reshape(len(images), 64)
    y = labels.astype(np.int64)
    num_classes = 10
    if classes is not None:
        classes = tuple(int(c) for c in classes)
        keep = np.isin(y, classes)
        lut = np.full(10, -1)
        lut[list(classes)] = np.arange(len(classes))
        x, y, num_classes = x[keep], lut[y[keep]], len(classes)
    rest, test = _stratified(y, 0.3, rng)
    train_i, val_i = _stratified(y[rest], 2 / 7, rng)  # 2/7 of 70 % = 20 % of all
    train, val = rest[train_i], rest[val_i]
    xtr, ytr, xva, yva, xte, yte = x[train], y[train], x[val], y[val], x[test], y[test]
    meta = {"variant": variant}
    if variant == "label_noise":
        ytr, flipped = _digits.label_noise(ytr, noise_rate, num_classes=num_classes, seed=DATA_SEED)
        yva, _ = _digits.label_noise(yva, noise_rate, num_classes=num_classes, seed=DATA_SEED + 1)
        meta.update(noise_rate=noise_rate, flipped_train=flipped)
    elif variant == "long_tail":
        xtr, ytr = _digits.long_tailed(xtr, ytr, imbalance=imbalance, num_classes=num_classes, seed=DATA_SEED)
        n_min = int(np.bincount(yva, minlength=num_classes).min())
        xva, yva = _digits.long_tailed(
            xva, yva, imbalance=min(imbalance, n_min), num_classes=num_classes, seed=DATA_SEED + 1
        )
        meta.update(imbalance=imbalance, train_counts=np.bincount(ytr, minlength=num_classes))
    if size == 28:
        xtr, xva, xte = (_digits.upsample_28(a.reshape(-1, 8, 8), dtype=np.float32) for a in (xtr, xva, xte))
    name = (
        f"digits-{variant}"
        + ("-28" if size == 28 else "")
        + (f"-{''.join(map(str, classes))}" if classes else "")
    )
    return Task(name, *_readonly(xtr, ytr, xva, yva, xte, yte), num_classes=num_classes, meta=meta)


def digits_pretrain_finetune() -> tuple[Task, Task]:
    """A pretraining task (digits 0–4) and a shifted fine-tuning task (digits 5–9), each with its splits."""
    return digits(classes=(0, 1, 2, 3, 4)), digits(classes=(5, 6, 7, 8, 9))


def digits_continual(n_tasks: int = 5) -> list[Task]:
    """Class-incremental digits: task i holds classes 2i and 2i+1 (labels kept as 0..9)."""
    if not 1 <= n_tasks <= 5:
        raise ValueError(f"digits_continual: `n_tasks` must be in 1..5, got {n_tasks}")
    full = digits()
    out = []
    for i in range(n_tasks):
        pair = (2 * i, 2 * i + 1)
        pick = [np.isin(y, pair) for y in (full.y_train, full.y_val, full.y_test)]
        out.append(
            Task(
                f"digits-{pair[0]}{pair[1]}",
                full.x_train[pick[0]],
                full.y_train[pick[0]],
                full.x_val[pick[1]],
                full.y_val[pick[1]],
                full.x_test[pick[2]],
                full.y_test[pick[2]],
                num_classes=10,
                meta={"classes": pair},
            )
        )
    return out


@functools.cache
def teacher_student(
    n_train: int = 256,
    n_val: int = 256,
    n_test: int = 1024,
    d_in: int = 16,
    *,
    teacher: str = "mlp",
    noise: float = 0.1,
) -> Task:
    """Regression labelled by a fixed random teacher (see `refimpl.data.make_teacher_student`); the
    noise is on train and validation targets only; test targets are the clean teacher outputs."""
    n = n_train + n_val + n_test
    x, y_clean, params = make_teacher_student(n, d_in, 1, teacher=teacher, noise=0.0, seed=DATA_SEED)
    rng = np.random.default_rng(DATA_SEED + 1)
    y = y_clean + (noise * rng.standard_normal(y_clean.shape)).astype(y_clean.dtype)
    a, b = n_train, n_train + n_val
    return Task(
        f"teacher-student-{teacher}",
        *_readonly(x[:a], y[:a], x[a:b], y[a:b], x[b:], y_clean[b:]),
        meta={"teacher": teacher, "noise": noise, "params": params},
    )


@functools.cache
def char_lm(context: int = 8, n_train: int = 20000, n_val: int = 4000, n_test: int = 4000) -> Task:
    """Next-character prediction on the bundled Shakespeare: x = the `context` previous character ids
    (int64), y = the next id.  Train, validation and test are consecutive, disjoint stretches of text."""
    from ..data import CharTokenizer, load_text

    text = load_text()
    tok = CharTokenizer(text)
    ids = tok.encode(text)
    need = n_train + n_val + n_test + context
    if need > len(ids):
        raise ValueError(f"char_lm: asks for {need} characters, the text has {len(ids)}")
    windows = np.lib.stride_tricks.sliding_window_view(ids[:need], context + 1)
    x, y = windows[:, :context].astype(np.int64), windows[:, context].astype(np.int64)
    a, b = n_train, n_train + n_val
    return Task(
        f"char-lm-{context}",
        *_readonly(x[:a], y[:a], x[a:b], y[a:b], x[b:], y[b:]),
        num_classes=tok.vocab_size,
        meta={"tokenizer": tok},
    )


@functools.cache
def char_lm_sequences(
    block: int, n_train: int = 20000, n_val: int = 8000, n_test: int = 8000, train_stride: int = 2
) -> Task:
    """`char_lm` windows of `block` characters with the next character at every position: x, y (N, block) int64
    (y is x shifted left by one, ending with the window's next character) — the data of a small causal LM.
    Training windows overlap (every `train_stride`-th window); validation and test windows do not."""
    base = char_lm(context=block, n_train=n_train, n_val=n_val, n_test=n_test)

    def seq(x, y, stride):
        return x[::stride], np.concatenate([x[:, 1:], y[:, None]], axis=1)[::stride]

    xt, yt = seq(base.x_train, base.y_train, train_stride)
    xv, yv = seq(base.x_val, base.y_val, block)
    xs, ys = seq(base.x_test, base.y_test, block)
    return Task(f"char-lm-seq-{block}", xt, yt, xv, yv, xs, ys, num_classes=base.num_classes)


# --- weights of controlled shape (for quantizers and pruning criteria) ------------------------------------
def weight_matrix(
    shape=(64, 64),
    kind: str = "gaussian",
    *,
    seed: int = 0,
    outlier_channels: int = 4,
    outlier_scale: float = 20.0,
    dof: float = 3.0,
    dtype=np.float32,
) -> np.ndarray:
    """A weight matrix (out, in) with a chosen distribution, scaled to std 1/√fan_in.

    kind "gaussian"; "laplace" (excess kurtosis 3); "student_t" (heavy tails, `dof` degrees of freedom);
    "outlier_channels" (Gaussian with `outlier_channels` input channels scaled by `outlier_scale`, the
    pattern of LLM activations/weights that outlier-aware quantizers target)."""
    rng = np.random.default_rng(seed)
    out_f, in_f = shape
    if kind == "gaussian":
        w = rng.standard_normal(shape)
    elif kind == "laplace":
        w = rng.laplace(size=shape) / np.sqrt(2)
    elif kind == "student_t":
        if dof <= 2:
            raise ValueError(f"weight_matrix: `dof` must be > 2 for a finite variance, got {dof}")
        w = rng.standard_t(dof, size=shape) / np.sqrt(dof / (dof - 2))
    elif kind == "outlier_channels":
        if not 0 <= outlier_channels <= in_f:
            raise ValueError(
                f"weight_matrix: `outlier_channels` must be in 0..{in_f}, got {outlier_channels}"
            )
        w = rng.standard_normal(shape)
        w[:, rng.choice(in_f, size=outlier_channels, replace=False)] *= outlier_scale
    else:
        raise ValueError(
            f"weight_matrix: unknown `kind` {kind!r}; expected gaussian, laplace, student_t or outlier_channels"
        )
    return (w / np.sqrt(in_f)).astype(dtype)


def kurtosis(w) -> float:
    """Pearson kurtosis E[(w−μ)⁴]/σ⁴ of all entries (3 for a Gaussian, 6 for a Laplace)."""
    w = np.asarray(w, dtype=np.float64).ravel()
    c = w - w.mean()
    var = np.mean(c * c)
    if var == 0:
        raise ValueError("kurtosis: all entries are equal")
    return float(np.mean(c**4) / var**2)


def outlier_ratio(w, axis: int = 0) -> float:
    """max over channels of the channel's max |w| divided by the median channel's max |w| (channels along
    the axis that is *not* `axis`): ≈ 1–2 for i.i.d. weights, large with outlier channels."""
    m = np.max(np.abs(np.asarray(w, dtype=np.float64)), axis=axis)
    return float(m.max() / np.median(m))
