r"""The toy fine-tuning sweep shared by `model-soups` and `model-stock` (cached within a run).

Pretraining: an MLP 64 → 128 → 10 on the clean 8×8 digits (the "pretrained model" θ_0).
Target task: the same digits rotated by 25° ± 10° (fixed direction), on which θ_0 is mediocre.
Fine-tunes start from θ_0 and differ in learning rate, weight decay, augmentation and seed (the
hyperparameter sweep of the soups paper, at toy scale); 20 % of the target training set is held out as
the validation set that greedy soups and model selection use.
Evaluation: in-distribution = rotated test digits (same distribution as fine-tuning); shifted =
test digits rotated by 40° ± 10° with Gaussian pixel noise (σ = 0.15) — the "distribution shift".
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ._base import TrainConfig, add_noise, rotate_images, train_mlp

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


def seed_pair(seed: int = 0, quick: bool = False, n: int = 2) -> list:
    """`n` fine-tunes with the same hyperparameters (the sweep's first setting) and different seeds — the
    Model Stock setting (two runs that differ only by the random seed)."""
    theta0, data = pretrained(seed, quick)
    base = finetune_configs(1, seed, quick)[0]
    cfgs = [dataclasses.replace(base, seed=base.seed + 7 * (j + 1)) for j in range(n)]
    return [train_mlp(SIZES, data["x_train"], data["y_train"], c, init_state=theta0) for c in cfgs]
