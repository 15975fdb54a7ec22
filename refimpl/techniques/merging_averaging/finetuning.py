r"""The fine-tuning runs of the merging-averaging family: a cached MLP trainer with digit augmentations, and
the toy fine-tuning sweep shared by `model-soups` and `model-stock`.

Training (cached within a run)
------------------------------
``train_mlp(sizes, x, y, config, init_state=None, trainable=None)`` trains an ``nn.MLP`` with a short
loop (optionally from a given state, optionally only some parameters) and returns its state dict.
Results are cached in-process keyed by (sizes, config, a digest of the data and of the initial state),
so a notebook or a test that asks twice for the same fine-tune gets the first result back (copied).
``TrainConfig`` holds lr, epochs, batch size, weight decay, optimizer, seed and the augmentation
(``"none" | "noise" | "shift" | "rotate"``, applied per batch to 8×8 digit images).
``rotate_images`` (bilinear, zero fill), ``shift_images`` and ``add_noise`` are the digit transforms.

The sweep
---------
Pretraining: an MLP 64 → 128 → 10 on the clean 8×8 digits (the "pretrained model" θ_0).
Target task: the same digits rotated by 25° ± 10° (fixed direction), on which θ_0 is mediocre.
Fine-tunes start from θ_0 and differ in learning rate, weight decay, augmentation and seed (the
hyperparameter sweep of the soups paper, at toy scale); 20 % of the target training set is held out as
the validation set that greedy soups and model selection use.
Evaluation: in-distribution = rotated test digits (same distribution as fine-tuning); shifted =
test digits rotated by 40° ± 10° with Gaussian pixel noise (σ = 0.15) — the "distribution shift".

The harness setup (model-soups and model-stock on `refimpl.experiments`)
------------------------------------------------------------------------
``few_shot_target(n)`` is digits 5–9 of `tasks.digits_pretrain_finetune` with n training examples per
class and the rest held out; ``pretrained_probe(hidden, seed)`` is θ_0, pretrained on digits 0–4 and
linearly probed on the target; ``finetune(hidden, seed, lr=, seed=, noise=)`` fine-tunes θ_0 end to end
through `refimpl.experiments.train` with the per-batch ``InputNoise`` augmentation (cached).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
from collections import OrderedDict

import numpy as np

from .state import check_state

__all__ = [
    "rotate_images",
    "shift_images",
    "add_noise",
    "TrainConfig",
    "train_mlp",
    "SIZES",
    "target_data",
    "pretrained",
    "finetune_configs",
    "finetunes",
    "few_shot_target",
    "InputNoise",
    "pretrained_probe",
    "finetune",
]


# --- digit transforms --------------------------------------------------------------------------------
def _as_images(x, side: int = 8):
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[1] != side * side:
        raise ValueError(
            f"expected flattened {side}×{side} images of shape (n, {side * side}), got {x.shape}"
        )
    return x.reshape(-1, side, side)


def rotate_images(x, degrees) -> np.ndarray:
    """Rotate each 8×8 image (flattened rows) about its centre by `degrees` (scalar or one per image),
    bilinear interpolation, zero outside."""
    img = _as_images(x).astype(np.float64)
    n, s, _ = img.shape
    deg = np.broadcast_to(np.asarray(degrees, dtype=np.float64), (n,))
    c = (s - 1) / 2.0
    yy, xx = np.meshgrid(np.arange(s) - c, np.arange(s) - c, indexing="ij")
    th = np.deg2rad(deg)[:, None, None]
    # inverse map: the source of output pixel (y, x) is R(−θ)(y, x)
    sy = np.cos(th) * yy + np.sin(th) * xx + c
    sx = -np.sin(th) * yy + np.cos(th) * xx + c
    y0, x0 = np.floor(sy).astype(int), np.floor(sx).astype(int)
    out = np.zeros_like(img)
    for dy in (0, 1):
        for dx in (0, 1):
            yi, xi = y0 + dy, x0 + dx
            wy = 1 - np.abs(sy - yi)
            wx = 1 - np.abs(sx - xi)
            ok = (yi >= 0) & (yi < s) & (xi >= 0) & (xi < s)
            vals = img[np.arange(n)[:, None, None], np.clip(yi, 0, s - 1), np.clip(xi, 0, s - 1)]
            out += np.where(ok, wy * wx * vals, 0.0)
    return out.reshape(n, s * s).astype(np.asarray(x).dtype)


def shift_images(x, dy, dx) -> np.ndarray:
    """Translate each 8×8 image by integer (dy, dx) (scalars or one per image), zero fill."""
    img = _as_images(x)
    n, s, _ = img.shape
    dy = np.broadcast_to(np.asarray(dy, dtype=int), (n,))
    dx = np.broadcast_to(np.asarray(dx, dtype=int), (n,))
    out = np.zeros_like(img)
    for i in range(n):
        src = img[i]
        ys, xs = slice(max(0, -dy[i]), s - max(0, dy[i])), slice(max(0, -dx[i]), s - max(0, dx[i]))
        yd, xd = slice(max(0, dy[i]), s - max(0, -dy[i])), slice(max(0, dx[i]), s - max(0, -dx[i]))
        out[i][yd, xd] = src[ys, xs]
    return out.reshape(n, s * s)


def add_noise(x, std: float, rng) -> np.ndarray:
    x = np.asarray(x)
    return (x + std * rng.standard_normal(x.shape)).astype(x.dtype)


def _augment(x, kind: str, rng):
    if kind == "none":
        return x
    if kind == "noise":
        return add_noise(x, 0.1, rng)
    if kind == "shift":
        return shift_images(x, rng.integers(-1, 2, len(x)), rng.integers(-1, 2, len(x)))
    if kind == "rotate":
        return rotate_images(x, rng.uniform(-10, 10, len(x)))
    raise ValueError(f"TrainConfig.augment must be one of 'none', 'noise', 'shift', 'rotate', got {kind!r}")


# --- the cached training pipeline --------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """One training run: optimizer ("adam" | "sgd"), lr, epochs, batch size, weight decay (L2, as
    torch's `weight_decay`), momentum (SGD), the per-batch augmentation and the seed (init + order)."""

    lr: float = 1e-3
    epochs: int = 5
    batch_size: int = 64
    weight_decay: float = 0.0
    optimizer: str = "adam"
    momentum: float = 0.9
    augment: str = "none"
    seed: int = 0


_CACHE: dict = {}


def _digest(*arrays) -> str:
    h = hashlib.sha1()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str((a.shape, a.dtype.str)).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def train_mlp(
    sizes, x, y, config: TrainConfig, init_state=None, trainable=None, dtype=np.float32, model_factory=None
) -> OrderedDict:
    """Train ``nn.MLP(sizes)`` on (x, y) with cross-entropy and return its state dict.

    `init_state` (optional) is loaded first (fine-tuning); `trainable` (optional) lists the parameter
    names the optimizer updates (the rest stay fixed, e.g. a frozen head).  `model_factory(sizes, rng,
    dtype) -> Module` (optional, a module-level function) replaces ``nn.MLP``.  Runs are cached in-process.
    """
    from ... import nn, optim
    from ...data import batches
    from ...nn import functional as F
    from ...train import train_step

    if not isinstance(config, TrainConfig):
        raise TypeError(f"train_mlp: `config` must be a TrainConfig, got {type(config).__name__}")
    x, y = np.asarray(x, dtype=dtype), np.asarray(y)
    init_key = "none" if init_state is None else _digest(*check_state(init_state, "init_state").values())
    key = (
        tuple(int(s) for s in sizes),
        config,
        _digest(x, y),
        init_key,
        None if trainable is None else tuple(sorted(trainable)),
        np.dtype(dtype).str,
        None if model_factory is None else f"{model_factory.__module__}.{model_factory.__qualname__}",
    )
    if key in _CACHE:
        return OrderedDict((k, v.copy()) for k, v in _CACHE[key].items())
    if model_factory is None:
        model = nn.MLP(list(sizes), rng=np.random.default_rng(config.seed), dtype=dtype)
    else:
        model = model_factory(list(sizes), np.random.default_rng(config.seed), dtype)
    if init_state is not None:
        model.load_state_dict(init_state)
    named = dict(model.named_parameters())
    if trainable is not None:
        unknown = [n for n in trainable if n not in named]
        if unknown:
            raise ValueError(
                f"train_mlp: `trainable` names {unknown} are not parameters of the model ({list(named)})"
            )
        params = [named[n] for n in trainable]
    else:
        params = list(named.values())
    if config.optimizer == "adam":
        opt = optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    elif config.optimizer == "sgd":
        opt = optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    else:
        raise ValueError(f"TrainConfig.optimizer must be 'adam' or 'sgd', got {config.optimizer!r}")
    rng = np.random.default_rng([config.seed, 7919])
    model.train()
    for epoch in range(config.epochs):
        for xb, yb in batches(
            x, y, batch_size=config.batch_size, shuffle=True, seed=config.seed, epoch=epoch
        ):
            xb = _augment(xb, config.augment, rng)
            train_step(model, F.cross_entropy, xb, yb, opt)
    sd = model.state_dict()
    _CACHE[key] = OrderedDict((k, v.copy()) for k, v in sd.items())
    return sd


# --- the sweep shared by model-soups and model-stock -------------------------------------------------
SIZES = (64, 128, 10)

# the sweep: (lr, weight decay, augmentation); seeds vary per run
_GRID = [
    (3e-3, 0.0, "noise"),
    (2e-3, 0.0, "rotate"),
    (5e-3, 1e-4, "none"),
    (3e-3, 1e-4, "shift"),
    (2e-3, 1e-4, "noise"),
    (5e-3, 0.0, "rotate"),
    (3e-3, 0.0, "none"),
    (2e-3, 0.0, "shift"),
]


def target_data(seed: int = 0) -> dict:
    """The rotated-digits task: train / val / test (ID) / shifted test (OOD), and the clean pretrain set."""
    from ...data import load_digits

    split = load_digits(seed=seed)
    rng = np.random.default_rng([seed, 11])
    n = len(split.x_train)
    rot_train = rotate_images(split.x_train, 25 + rng.uniform(-10, 10, n))
    order = rng.permutation(n)
    n_val = n // 5
    val, tr = order[:n_val], order[n_val:]
    m = len(split.x_test)
    x_id = rotate_images(split.x_test, 25 + rng.uniform(-10, 10, m))
    x_ood = add_noise(rotate_images(split.x_test, 40 + rng.uniform(-10, 10, m)), 0.15, rng)
    return {
        "x_pre": split.x_train,
        "y_pre": split.y_train,
        "x_train": rot_train[tr],
        "y_train": split.y_train[tr],
        "x_val": rot_train[val],
        "y_val": split.y_train[val],
        "x_test": x_id,
        "y_test": split.y_test,
        "x_shift": x_ood,
        "y_shift": split.y_test,
    }


def pretrained(seed: int = 0, quick: bool = False) -> tuple:
    """(θ_0, data): the MLP pretrained on clean digits."""
    data = target_data(seed)
    cfg = TrainConfig(lr=2e-3, epochs=6 if quick else 15, batch_size=64, seed=1000 + seed)
    return train_mlp(SIZES, data["x_pre"], data["y_pre"], cfg), data


def finetune_configs(n_models: int, seed: int = 0, quick: bool = False) -> list:
    epochs, batch = (5, 64) if quick else (12, 32)
    return [
        TrainConfig(lr=lr, epochs=epochs, batch_size=batch, weight_decay=wd, augment=aug, seed=100 * seed + i)
        for i, (lr, wd, aug) in enumerate((_GRID * (n_models // len(_GRID) + 1))[:n_models])
    ]


def finetunes(n_models: int, seed: int = 0, quick: bool = False) -> tuple:
    """(θ_0, [θ_i], configs, data): `n_models` fine-tunes of the pretrained MLP on rotated digits."""
    theta0, data = pretrained(seed, quick)
    cfgs = finetune_configs(n_models, seed, quick)
    sds = [train_mlp(SIZES, data["x_train"], data["y_train"], c, init_state=theta0) for c in cfgs]
    return theta0, sds, cfgs, data


# --- the harness setup of model-soups and model-stock (refimpl.experiments) -------------------------
# Added for the second pass; the functions above are unchanged.  A few-shot target with a large held-out
# split, a pretrained-and-linear-probed anchor θ_0 (the "LP initialisation" the soups paper fine-tunes
# from), and cached fine-tunes through `refimpl.experiments.train` with per-batch input noise.
def few_shot_target(n_per_class: int = 10):
    """The fine-tuning task of `tasks.digits_pretrain_finetune` (digits 5–9, labels 0–4) keeping only
    `n_per_class` training examples per class (fixed, drawn with the tasks' data seed); the rest of its
    training split joins the validation split, so the held-out set that selects ingredients is large (the
    soups paper holds out 2 % of ImageNet train).  The test split is unchanged."""
    from ...experiments import tasks

    return _few_shot_target(int(n_per_class), tasks.DATA_SEED)


@functools.cache
def _few_shot_target(n_per_class: int, data_seed: int):
    from ...experiments import tasks

    _, full = tasks.digits_pretrain_finetune()
    counts = np.bincount(full.y_train, minlength=full.num_classes)
    if not 1 <= n_per_class < counts.min():
        raise ValueError(
            f"few_shot_target: `n_per_class` must be in 1..{counts.min() - 1}, got {n_per_class}"
        )
    rng = np.random.default_rng(data_seed)
    keep = np.sort(
        np.concatenate(
            [rng.choice(np.flatnonzero(full.y_train == c), n_per_class, replace=False) for c in range(5)]
        )
    )
    rest = np.setdiff1d(np.arange(len(full.y_train)), keep)
    arrays = (
        full.x_train[keep],
        full.y_train[keep],
        np.concatenate([full.x_val, full.x_train[rest]]),
        np.concatenate([full.y_val, full.y_train[rest]]),
        full.x_test,
        full.y_test,
    )
    for a in arrays:
        a.flags.writeable = False
    return tasks.Task(
        f"{full.name}-{n_per_class}shot",
        *arrays,
        num_classes=full.num_classes,
        meta={"n_per_class": n_per_class},
    )


class InputNoise:
    """A `fit` callback adding Gaussian noise of std `std` to each training batch's inputs (an augmentation:
    fresh noise every batch, from its own generator).  It writes into the batch array `fit` is about to
    train on (`state.x`, a fresh copy made by the minibatch indexing)."""

    def __init__(self, std: float, seed: int):
        if std < 0:
            raise ValueError(f"InputNoise: `std` must be ≥ 0, got {std}")
        self.std, self.rng = float(std), np.random.default_rng([int(seed), 31337])

    def on_batch_begin(self, state):
        if self.std > 0:
            state.x += (self.std * self.rng.standard_normal(state.x.shape)).astype(state.x.dtype)


@functools.cache
def _pretrained_probe(hidden: int, seed: int, n_per_class: int):
    from ...experiments import tasks, train
    from ...nn import MLP

    source, _ = tasks.digits_pretrain_finetune()
    model = MLP([64, hidden, 5], rng=np.random.default_rng(seed))
    train(model, source, lr=2e-3, epochs=30, seed=seed)
    head = [p for name, p in model.named_parameters() if name.startswith("2.")]
    train(model, few_shot_target(n_per_class), lr=1e-2, epochs=30, seed=seed, params=head)
    return model.state_dict()


def pretrained_probe(hidden: int, seed: int, n_per_class: int = 10) -> OrderedDict:
    """θ_0: an MLP 64 → `hidden` → 5 pretrained on digits 0–4 (Adam 2e-3, 30 epochs), then its last layer
    refit on the few-shot target with the body frozen (a linear probe: Adam 1e-2, 30 epochs).  Cached."""
    return OrderedDict(
        (k, v.copy()) for k, v in _pretrained_probe(int(hidden), int(seed), int(n_per_class)).items()
    )


@functools.cache
def _finetune(hidden, pre_seed, n_per_class, lr, seed, noise, epochs, batch_size):
    from ...experiments import train
    from ...nn import MLP

    model = MLP([64, hidden, 5], rng=np.random.default_rng(seed))
    model.load_state_dict(pretrained_probe(hidden, pre_seed, n_per_class))
    train(
        model,
        few_shot_target(n_per_class),
        lr=lr,
        epochs=epochs,
        seed=seed,
        batch_size=batch_size,
        callbacks=[InputNoise(noise, seed)],
    )
    return model.state_dict()


def finetune(
    hidden: int,
    pre_seed: int,
    *,
    lr: float,
    seed: int,
    noise: float = 0.0,
    epochs: int = 10,
    batch_size: int = 16,
    n_per_class: int = 10,
) -> OrderedDict:
    """One end-to-end fine-tune of `pretrained_probe(hidden, pre_seed)` on the few-shot target with
    `refimpl.experiments.train` (Adam at a constant `lr`; `seed` sets the batch order and the input noise
    of std `noise`).  Cached in-process by its arguments; returns a copy."""
    sd = _finetune(
        int(hidden),
        int(pre_seed),
        int(n_per_class),
        float(lr),
        int(seed),
        float(noise),
        int(epochs),
        int(batch_size),
    )
    return OrderedDict((k, v.copy()) for k, v in sd.items())
