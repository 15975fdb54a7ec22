"""Small float64 causal LMs for the tests of techniques that cut or merge transformer sublayers (finercut,
llm-drop-attention): a 6-token, 11-symbol CharTransformerLM with non-trivial norms and biases, token batches, and
a helper that zeroes a Linear (so a sublayer's output vanishes)."""

import numpy as np

from refimpl.nn import CharTransformerLM


def tiny_lm(seed=0, n_layers=3):
    model = CharTransformerLM(
        11, 6, d_model=8, n_layers=n_layers, n_heads=2, d_ff=16, dtype=np.float64, rng=seed
    )
    for p in model.parameters():  # non-trivial norms and biases
        if p.data.ndim == 1:
            p.data += 0.1 * np.random.default_rng(seed + 1).normal(size=p.data.shape)
    model.eval()
    return model


def token_ids(seed=3, n=5):
    return np.random.default_rng(seed).integers(0, 11, size=(n, 6))


def zero_linear(linear):
    linear.weight.data[:] = 0.0
    if linear.bias is not None:
        linear.bias.data[:] = 0.0
