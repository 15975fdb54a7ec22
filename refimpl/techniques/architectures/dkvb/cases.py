"""Reference cases of the DKVB: the nearest-key lookup and the retrieved value by hand, the average over two
heads and its gradient (exactly zero on every value not selected), k-means on two separated clusters and one
EMA key step, all computed by hand."""

from __future__ import annotations

import numpy as np

from ....autograd.tensor import Tensor
from ....catalog import ReferenceCase
from . import DiscreteKeyValueBottleneck, ema_key_update, kmeans, nearest_keys

_P = "refimpl.techniques.architectures.dkvb."


def _layer(P, keys, values, z, g):
    """Output and ∂⟨output, g⟩/∂values of the bottleneck with the given (fixed) values, in float64."""
    layer = DiscreteKeyValueBottleneck(P, keys, values.shape[2], dtype=np.float64)
    layer.values.data[...] = values
    out = layer(Tensor(np.asarray(z, np.float64)))
    (out * Tensor(np.asarray(g, np.float64))).sum().backward()
    return {"out": out.data, "grad_values": layer.values.grad}


def reference_cases() -> list:
    eye = np.eye(2)[None]  # one head, P = identity
    two_heads_P = np.array([[[1.0, 0.0]], [[0.0, 1.0]]])  # head 0 reads z[0], head 1 reads z[1]
    return [
        ReferenceCase(
            "nearest_key_by_hand",
            {"h": np.array([[[0.9, 0.8]]]), "keys": np.array([[[0.0, 0.0], [1.0, 1.0]]])},
            {"j": np.array([[1]])},
            lambda h, keys: {"j": nearest_keys(h, keys)},
            function=_P + "nearest_keys",
            note="by hand: ‖(0.9, 0.8) − (0, 0)‖² = 1.45, ‖(0.9, 0.8) − (1, 1)‖² = 0.05 → key 1",
            atol=0.0,
            conventions={"distance": "squared Euclidean", "ties": "lowest index"},
        ),
        ReferenceCase(
            "one_head_output_is_v1_and_v0_gets_no_gradient",
            {
                "P": eye,
                "keys": np.array([[[0.0, 0.0], [1.0, 1.0]]]),
                "values": np.array([[[1.0, 2.0], [3.0, -1.0]]]),
                "z": np.array([[0.9, 0.8]]),
                "g": np.array([[1.0, 1.0]]),
            },
            {"out": np.array([[3.0, -1.0]]), "grad_values": np.array([[[0.0, 0.0], [1.0, 1.0]]])},
            _layer,
            function=_P + "DiscreteKeyValueBottleneck",
            note="by hand: key 1 is nearest, so the output is v1 = (3, −1); with upstream gradient (1, 1) the "
            "gradient is (1, 1) on v1 and exactly zero on v0",
            atol=0.0,
            conventions={"decoder": "average of the C retrieved values (non-parametric)", "keys": "frozen"},
        ),
        ReferenceCase(
            "two_heads_average_and_sparse_gradient",
            {
                "P": two_heads_P,
                "keys": np.array([[[0.0], [1.0]], [[0.0], [1.0]]]),
                "values": np.array([[[1.0, 0.0], [5.0, 5.0]], [[9.0, 9.0], [0.0, 4.0]]]),
                "z": np.array([[0.2, 0.7]]),
                "g": np.array([[1.0, 1.0]]),
            },
            {
                "out": np.array([[0.5, 2.0]]),
                "grad_values": np.array([[[0.5, 0.5], [0.0, 0.0]], [[0.0, 0.0], [0.5, 0.5]]]),
            },
            _layer,
            function=_P + "DiscreteKeyValueBottleneck",
            note="by hand: head 0 sees 0.2 → key 0, value (1, 0); head 1 sees 0.7 → key 1, value (0, 4); "
            "average (0.5, 2); each selected value gets 1/C = 1/2 of the upstream gradient, the others 0",
            atol=1e-15,
            conventions={"decoder": "average over heads (1/C)"},
        ),
        ReferenceCase(
            "kmeans_two_separated_clusters",
            {"X": np.array([[0.0], [0.2], [10.0], [10.4]]), "M": 2},
            {"sorted_centres": np.array([0.1, 10.2])},
            lambda X, M: {"sorted_centres": np.sort(kmeans(X, M, seed=0)[:, 0])},
            function=_P + "kmeans",
            note="by hand: the optimal 2-means split is {0, 0.2} | {10, 10.4}, centres their means",
            atol=1e-12,
        ),
        ReferenceCase(
            "ema_key_step_by_hand",
            {
                "keys": np.array([[[0.0, 0.0], [5.0, 5.0]]]),
                "h": np.array([[[1.0, 1.0]], [[3.0, 3.0]]]),
                "j": np.array([[0], [0]]),
                "decay": 0.5,
            },
            {"keys_new": np.array([[[1.0, 1.0], [5.0, 5.0]]])},
            lambda keys, h, j, decay: {"keys_new": ema_key_update(keys, h, j, decay)},
            function=_P + "ema_key_update",
            note="by hand: key 0 ← 0.5·(0, 0) + 0.5·mean((1, 1), (3, 3)) = (1, 1); key 1 was not selected",
            atol=1e-15,
        ),
    ]
