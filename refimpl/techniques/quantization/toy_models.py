"""The family's toy networks: normally initialised MLPs trained on the 8×8 digits.

The first pass used uniformly initialised, briefly trained MLPs, whose weights are flat-tailed (kurtosis
2.3–3.0): non-uniform grids, rotations and FP formats have nothing to gain on them (issue 16).  These are
Kaiming-normal and trained for tens of epochs; each experiment measures the weight or activation statistic
its technique relies on (kurtosis, outlier ratio) as its premise.
"""

from __future__ import annotations

import functools

import numpy as np

__all__ = ["digits_mlp", "trained_digits_mlp_state"]


def digits_mlp(seed: int, hidden=(128, 128), *, layer_norm: bool = False):
    """64 → hidden… → 10: Linear layers with a ReLU (then a LayerNorm, if `layer_norm`) between them;
    Kaiming-normal weights and zero biases, drawn from ``default_rng(seed)`` layer by layer."""
    from ...nn import LayerNorm, Linear, ReLU, Sequential, init

    rng = np.random.default_rng(seed)
    sizes = [64, *hidden, 10]
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        if i > 0:
            layers += [ReLU(), LayerNorm(a)] if layer_norm else [ReLU()]
        lin = Linear(a, b, rng=rng)
        init.kaiming_normal_(lin.weight, nonlinearity="relu", rng=rng)
        init.zeros_(lin.bias)
        layers.append(lin)
    return Sequential(*layers)


@functools.cache
def trained_digits_mlp_state(seed: int, epochs: int, hidden=(128, 128), *, layer_norm: bool = False) -> dict:
    """The state dict of `digits_mlp(seed, hidden, layer_norm=...)` after `epochs` epochs of Adam (lr 3e-3)
    on the digits' training split, cached per arguments (`load_state_dict` copies, so sharing it is safe)."""
    from ...experiments import tasks, train

    model = digits_mlp(seed, hidden, layer_norm=layer_norm)
    train(model, tasks.digits(), lr=3e-3, epochs=epochs, seed=seed)
    return model.state_dict()
