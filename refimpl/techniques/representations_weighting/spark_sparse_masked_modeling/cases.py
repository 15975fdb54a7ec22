"""Reference cases of SparK: the patch-mask upsampling and the mask-token densify by hand, and the sparse encoder
against a brute-force submanifold sparse convolution (explicit loops that visit only the visible sites and read
only visible neighbours — the definition the re-masking emulates)."""

from __future__ import annotations

import numpy as np

from ....autograd.tensor import Tensor
from ....catalog import ReferenceCase
from . import SparseEncoder, densify, upsample_mask

_P = "refimpl.techniques.representations_weighting.spark_sparse_masked_modeling."


def _sparse_conv_loops(h, active_in, active_out, w, b, stride):
    """Submanifold sparse 3×3 conv (pad 1) of one-channel maps by loops: out[i, j] is computed only where
    active_out is 1 and sums w[di, dj]·h over in-bounds input sites that are active_in; then ReLU."""
    n_out = active_out.shape[0]
    out = np.zeros((n_out, n_out))
    for i in range(n_out):
        for j in range(n_out):
            if not active_out[i, j]:
                continue
            acc = b
            for di in range(3):
                for dj in range(3):
                    r, c = stride * i + di - 1, stride * j + dj - 1
                    if 0 <= r < h.shape[0] and 0 <= c < h.shape[1] and active_in[r, c]:
                        acc += w[di, dj] * h[r, c]
            out[i, j] = max(acc, 0.0)
    return out


def _brute_force_encoder(x, a, ws, bs):
    A8 = np.kron(a, np.ones((2, 2)))  # each patch 2×2 at side 8
    s1 = _sparse_conv_loops(x * A8, A8, A8, ws[0], bs[0], 1)
    h2 = _sparse_conv_loops(s1, A8, a, ws[1], bs[1], 2)  # stride 2: output site (i, j) is patch (i, j)
    s2 = _sparse_conv_loops(h2, a, a, ws[2], bs[2], 1)
    return s1, s2


def _encode(x, a, w1, b1, w2, b2, w3, b3):
    enc = SparseEncoder(sparse=True, widths=(1, 1), dtype=np.float64)
    for name, v in (("w1", w1), ("w2", w2), ("w3", w3)):
        getattr(enc, name).data = np.asarray(v, dtype=np.float64).reshape(1, 1, 3, 3)
    for name, v in (("b1", b1), ("b2", b2), ("b3", b3)):
        getattr(enc, name).data = np.array([v], dtype=np.float64)
    s1, s2 = enc(Tensor(np.asarray(x, dtype=np.float64).reshape(1, 1, 8, 8)), np.asarray(a)[None])
    return {"S1": s1.data[0, 0], "S2": s2.data[0, 0]}


def reference_cases() -> list:
    rng = np.random.default_rng(2301)
    x = rng.random((8, 8)).round(2)
    a = np.array([[1, 0, 0, 1], [0, 1, 0, 0], [1, 1, 0, 0], [0, 0, 0, 1]], dtype=float)  # 6 of 16 kept
    ws = [rng.normal(0, 0.6, (3, 3)).round(2) for _ in range(3)]
    bs = [0.1, -0.05, 0.2]
    s1, s2 = _brute_force_encoder(x, a, ws, bs)
    enc_inputs = {"x": x, "a": a}
    for k in range(3):
        enc_inputs[f"w{k + 1}"], enc_inputs[f"b{k + 1}"] = ws[k], bs[k]
    return [
        ReferenceCase(
            "upsample_mask_hand",
            {"a": np.array([[[1.0, 0.0], [0.0, 1.0]]]), "side": 4},
            {
                "A": np.array(
                    [[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 1], [0, 0, 1, 1]],
                    dtype=float,
                )
            },
            lambda a, side: {"A": upsample_mask(a, side)[0, 0]},
            function=_P + "upsample_mask",
            note="by hand: each patch bit repeated into a 2×2 block (official repeat_interleave by H/f)",
            atol=0.0,
        ),
        ReferenceCase(
            "densify_hand",
            {"s": np.array([[1.0, 2.0], [3.0, 4.0]]), "A": np.array([[1.0, 0.0], [0.0, 1.0]]), "token": 9.0},
            {"D": np.array([[1.0, 9.0], [9.0, 4.0]])},
            lambda s, A, token: {
                "D": densify(
                    Tensor(np.asarray(s)[None, None]),
                    np.asarray(A)[None, None],
                    Tensor(np.full((1, 1, 1, 1), token)),
                ).data[0, 0]
            },
            function=_P + "densify",
            note="by hand: visible sites keep their feature, masked sites take the mask token",
            atol=0.0,
        ),
        ReferenceCase(
            "sparse_encoder_equals_brute_force_submanifold_conv",
            enc_inputs,
            {"S1": s1, "S2": s2},
            _encode,
            function=_P + "SparseEncoder",
            note="brute force: loops over visible sites only, each reading only visible in-bounds neighbours "
            "(submanifold sparse conv), three layers with one channel: 8×8, stride 2 to 4×4, 4×4; masked "
            "outputs are exactly 0",
            atol=1e-12,
            conventions={"padding": "zero padding 1; stride-2 output site (i, j) is patch (i, j)"},
        ),
    ]
