"""Short seeded training runs that show the layers learn: an MLP (≥ 95 %) and a small CNN (≥ 97 %)
on the bundled digits, and a tiny CharTransformerLM on the bundled text (the loss falls)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import refimpl
from refimpl import nn
from refimpl.data import batches, char_dataset, load_digits, random_windows
from refimpl.nn import functional as F
from refimpl.optim import Adam


def fit_digits(model, data, epochs, lr, seed, batch_size=32):
    """Adam with a cosine-decayed learning rate; returns the test accuracy (eval mode)."""
    opt = Adam(model.parameters(), lr=lr)
    steps = epochs * math.ceil(len(data.x_train) / batch_size)
    k = 0
    model.train()
    for epoch in range(epochs):
        for xb, yb in batches(data.x_train, data.y_train, batch_size=batch_size, seed=seed, epoch=epoch):
            for group in opt.param_groups:
                group["lr"] = lr * 0.5 * (1 + math.cos(math.pi * k / steps))
            k += 1
            loss = F.cross_entropy(model(refimpl.tensor(xb)), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    with refimpl.no_grad():
        return float((model(refimpl.tensor(data.x_test)).data.argmax(1) == data.y_test).mean())


@pytest.mark.parametrize("seed", [0, 1])
def test_mlp_learns_digits(seed):
    data = load_digits(seed=0, flatten=True)
    model = nn.MLP([64, 128, 10], norm="batch", rng=seed)
    assert fit_digits(model, data, epochs=20, lr=3e-3, seed=seed) >= 0.95


def test_small_cnn_learns_digits():
    data = load_digits(seed=0, flatten=False)
    rng = np.random.default_rng(0)
    model = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1, rng=rng),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.MaxPool2d(2),  # 8×8 → 4×4
        nn.Conv2d(16, 32, 3, padding=1, rng=rng),
        nn.BatchNorm2d(32),
        nn.ReLU(),
        nn.MaxPool2d(2),  # → 2×2
        nn.Flatten(),
        nn.Linear(32 * 2 * 2, 10, rng=rng),
    )
    assert fit_digits(model, data, epochs=15, lr=3e-3, seed=0) >= 0.97


def test_char_lm_loss_falls_on_the_bundled_text():
    block = 16
    train_ids, val_ids, tok = char_dataset(block_size=block)
    lm = nn.CharTransformerLM(tok.vocab_size, block, d_model=32, n_layers=1, n_heads=4, rng=0)
    xv, yv = next(random_windows(val_ids, block, 64, rng=123))

    def val_loss():
        with refimpl.no_grad():
            return lm.loss(xv, yv).item()

    before = val_loss()
    assert abs(before - math.log(tok.vocab_size)) < 0.5  # starts near uniform guessing
    opt = Adam(lm.parameters(), lr=3e-3)
    for xb, yb in random_windows(train_ids, block, 16, rng=0, num_batches=80):
        loss = lm.loss(xb, yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = val_loss()
    assert after < before - 0.8, (before, after)
    text = tok.decode(lm.generate(tok.encode("ROMEO:"), 20, rng=0))
    assert text.startswith("ROMEO:") and len(text) == 26
