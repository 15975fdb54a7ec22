"""Reference cases of the growing-transformers pieces, worked by hand or from the closed forms: sinusoidal
positions, the binary-code substrate, the logit-averaging merge, and the readout of a zero-block model on a
frozen table (LayerNorm written out in NumPy)."""

from __future__ import annotations

import math

import numpy as np

from ....catalog import ReferenceCase
from . import GrowingTransformer, TokenSubstrate, binary_substrate, merge_logits, sinusoidal_positions

_MOD = "refimpl.techniques.growth_init_scaling.growing_transformers"
_EXACT = dict(atol=0.0, rtol=0.0, atol32=0.0, rtol32=0.0)


def _readout_by_hand(E, W, b, idx, eps=1e-5):
    """z = W LN(E[x_T] + P[T−1]) + b at the last position, LayerNorm with unit gain and zero shift."""
    d = E.shape[1]
    t = idx.shape[1] - 1
    p = [
        math.sin(t / 10000 ** (2 * (i // 2) / d)) if i % 2 == 0 else math.cos(t / 10000 ** (2 * (i // 2) / d))
        for i in range(d)
    ]
    h = E[idx[:, -1]] + np.array(p)
    mu = h.mean(axis=1, keepdims=True)
    var = ((h - mu) ** 2).mean(axis=1, keepdims=True)
    return ((h - mu) / np.sqrt(var + eps)) @ W.T + b


def reference_cases() -> list:
    def positions(length, d_model):
        return {"P": sinusoidal_positions(int(length), int(d_model), dtype=np.float64)}

    def binary(vocab_size, d_model):
        return {"E": binary_substrate(int(vocab_size), int(d_model), dtype=np.float64)}

    def merge(z1, z2):
        return {"z": merge_logits([np.asarray(z1), np.asarray(z2)])}

    def readout(E, W, b, idx):
        E = np.asarray(E)
        model = GrowingTransformer(
            TokenSubstrate(E, np.asarray(idx).shape[1]), W.shape[0], n_layers=0, n_heads=1, dtype=E.dtype
        )
        model.head.weight.data[...] = W
        model.head.bias.data[...] = b
        return {"z": model(np.asarray(idx))}

    s1, c1, s2, c2 = math.sin(1.0), math.cos(1.0), math.sin(2.0), math.cos(2.0)
    E = np.array([[1.0, 0.0, 0.0, 0.0], [0.0, 2.0, -1.0, 0.0], [0.5, -0.5, 1.5, -2.0]])
    W = np.array([[1.0, -1.0, 0.5, 0.0], [0.0, 2.0, 0.0, -1.0]])
    b = np.array([0.25, -0.5])
    idx = np.array([[0, 2], [2, 1]])
    return [
        ReferenceCase(
            "sinusoidal_positions_3x4",
            {"length": 3, "d_model": 4},
            {
                "P": np.array(
                    [
                        [0.0, 1.0, 0.0, 1.0],
                        [s1, c1, math.sin(0.01), math.cos(0.01)],
                        [s2, c2, math.sin(0.02), math.cos(0.02)],
                    ]
                )
            },
            positions,
            function=f"{_MOD}.sinusoidal_positions",
            note="closed form: columns (2i, 2i+1) = (sin, cos)(t / 10000^{2i/d}); d = 4 gives frequencies 1 and "
            "10000^{-1/2} = 0.01",
            conventions={"scheme": "interleaved sin/cos (Vaswani et al.), not the paper's rotary embeddings"},
            atol=1e-12,
            rtol=1e-12,
        ),
        ReferenceCase(
            "binary_substrate_5x4",
            {"vocab_size": 5, "d_model": 4},
            {
                "E": np.array(
                    [
                        [-1.0, -1.0, -1.0, 0.0],
                        [1.0, -1.0, -1.0, 0.0],
                        [-1.0, 1.0, -1.0, 0.0],
                        [1.0, 1.0, -1.0, 0.0],
                        [-1.0, -1.0, 1.0, 0.0],
                    ]
                )
            },
            binary,
            function=f"{_MOD}.binary_substrate",
            note="by hand: ⌈log₂ 5⌉ = 3 bits of each id, least significant first, 0 → −1 and 1 → +1, one zero "
            "column of padding",
            conventions={"scheme": "bit order: least significant bit in column 0; bits ±1, padding 0"},
            **_EXACT,
        ),
        ReferenceCase(
            "merge_logits_two_models",
            {"z1": np.array([[1.0, 2.0], [3.0, 4.0]]), "z2": np.array([[3.0, 0.0], [1.0, -2.0]])},
            {"z": np.array([[2.0, 1.0], [2.0, 1.0]])},
            merge,
            function=f"{_MOD}.merge_logits",
            note="by hand: the elementwise mean of the two logit arrays (no softmax, no weights)",
            atol=1e-12,
            rtol=1e-12,
        ),
        ReferenceCase(
            "zero_block_readout_on_frozen_table",
            {"E": E, "W": W, "b": b, "idx": idx},
            {"z": _readout_by_hand(E, W, b, idx)},
            readout,
            function=f"{_MOD}.GrowingTransformer",
            note="a GrowingTransformer with no blocks: z = W LN(E[x_T] + P[T−1]) + b, LayerNorm (eps 1e-5, unit "
            "gain, zero shift) and the sinusoid written out in NumPy; the last position only",
            conventions={"scheme": "LayerNorm eps 1e-5, biased variance; logits at the last position"},
            atol=1e-10,
            rtol=1e-10,
            atol32=1e-5,
            rtol32=1e-5,
        ),
    ]
