"""Reference cases of ForwardGNN-SF: the GCN normalisation on a 3-node path and the virtual-node
augmentation, written out by hand; the SF local loss on two nodes and two class nodes, and the FF
goodness loss of the ablation, in closed form; one SF layer's forward on the path, from the formula in
NumPy."""

from __future__ import annotations

import math

import numpy as np

from ....autograd.tensor import Tensor
from ....catalog import ReferenceCase
from . import GCNLayer, SingleForwardGNN, augment_with_virtual_nodes, normalized_adjacency, sf_layer_loss
from .ff_label_appending import goodness_loss

_PATH = "refimpl.techniques.optimizers_training_rules.forward_gnn"
_A3 = [[0.0, 1.0, 0.0], [1.0, 0.0, 1.0], [0.0, 1.0, 0.0]]  # the path 0 — 1 — 2
_S6 = 1.0 / math.sqrt(6.0)


def _norm_adj(A):
    return {"A_hat": normalized_adjacency(np.asarray(A))}


def _augment(A, y, train_mask, n_classes):
    return {
        "A_aug": augment_with_virtual_nodes(np.asarray(A), np.asarray(y), np.asarray(train_mask), n_classes)
    }


def _sf_loss(H, y, train_idx, n_real, tau):
    return {"loss": sf_layer_loss(Tensor(np.asarray(H, dtype=np.float64)), y, train_idx, n_real, tau)}


def _ff_loss(H, rows, target, theta):
    return {"loss": goodness_loss(Tensor(np.asarray(H, dtype=np.float64)), rows, target, theta)}


def _layer_forward(A, X_aug, W, b):
    net = SingleForwardGNN([2, 2], 2, dtype=np.float64, rng=0)
    layer: GCNLayer = net.layers[0]
    layer.weight.data[...] = np.asarray(W)
    layer.bias.data[...] = np.asarray(b)
    return {
        "H": net.layer_forward(0, normalized_adjacency(np.asarray(A)), np.asarray(X_aug, dtype=np.float64))
    }


def _layer_by_hand(A, X_aug, W, b):
    """ReLU(Â n(X) W + b) from the formulas: Â = D^{-1/2}(A+I)D^{-1/2} with D from the row sums of A+I,
    n(X) = X divided row-wise by its Euclidean norm."""
    At = np.asarray(A) + np.eye(len(A))
    d = 1.0 / np.sqrt(At.sum(1))
    X = np.asarray(X_aug)
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    return np.maximum(np.diag(d) @ At @ np.diag(d) @ Xn @ np.asarray(W) + np.asarray(b), 0.0)


# path 0 — 1 — 2 with labels (0, 1, 0), nodes 0 and 2 training: virtual nodes 3 (class 0) and 4 (class 1)
_A_AUG = [
    [0.0, 1.0, 0.0, 1.0, 0.0],
    [1.0, 0.0, 1.0, 0.0, 0.0],
    [0.0, 1.0, 0.0, 1.0, 0.0],
    [1.0, 0.0, 1.0, 0.0, 0.0],
    [0.0, 0.0, 0.0, 0.0, 0.0],
]
_X_AUG = [[1.0, 0.0], [3.0, 4.0], [0.0, -2.0], [1.0, 1.0], [-1.0, 2.0]]
_W = [[0.5, -1.0], [2.0, 0.25]]
_B = [0.1, -0.1]


def reference_cases() -> list:
    return [
        ReferenceCase(
            name="normalized_adjacency_path3",
            inputs={"A": _A3},
            expected={"A_hat": [[0.5, _S6, 0.0], [_S6, 1.0 / 3.0, _S6], [0.0, _S6, 0.5]]},
            compute=_norm_adj,
            function=f"{_PATH}.normalized_adjacency",
            note="By hand: A + I has degrees (2, 3, 2); Â_ij = 1/√(d_i d_j) on the edges and the diagonal: "
            "1/2, 1/3, 1/2 on the diagonal, 1/√6 between neighbours, 0 between the ends.",
            atol=1e-15,
            conventions={"scheme": "self-loops added before the symmetric normalisation (Kipf & Welling)"},
        ),
        ReferenceCase(
            name="virtual_node_augmentation_path3",
            inputs={"A": _A3, "y": [0, 1, 0], "train_mask": [True, False, True], "n_classes": 2},
            expected={"A_aug": _A_AUG},
            compute=_augment,
            function=f"{_PATH}.augment_with_virtual_nodes",
            note="By hand: class nodes are 3 (class 0) and 4 (class 1); training nodes 0 and 2 (class 0) get "
            "an edge to node 3 in both directions; node 1 (not training) and class node 4 get none.",
            atol=0.0,
            rtol=0.0,
            conventions={"scheme": "bidirectional edges, training nodes only (code: aug_edge_direction)"},
        ),
        ReferenceCase(
            name="sf_loss_two_nodes",
            inputs={
                "H": [[1.0, 0.0], [0.0, 2.0], [1.0, 1.0], [0.0, 1.0]],
                "y": [0, 1],
                "train_idx": [0, 1],
                "n_real": 2,
                "tau": 1.0,
            },
            expected={"loss": 0.5 * (math.log1p(math.exp(-1.0)) + math.log(2.0))},
            compute=_sf_loss,
            function=f"{_PATH}.sf_layer_loss",
            note="Closed form: class nodes v_0 = (1, 1), v_1 = (0, 1); node 0 = (1, 0) scores (1, 0), label 0: "
            "CE = log(1 + e^{−1}); node 1 = (0, 2) scores (2, 2), label 1: CE = log 2; mean of the two.",
            atol=1e-14,
            conventions={"scheme": "dot-product logits / τ, softmax cross-entropy, mean over train nodes"},
        ),
        ReferenceCase(
            name="ff_goodness_loss_two_nodes",
            inputs={"H": [[1.0, 1.0], [2.0, 0.0]], "rows": [0, 1], "target": 1.0, "theta": 2.0},
            expected={"loss": 0.5 * (math.log(2.0) + math.log1p(math.exp(-2.0)))},
            compute=_ff_loss,
            function=f"{_PATH}.ff_label_appending.goodness_loss",
            note="Closed form: goodness Σh² − θ is 0 and 2; BCE with target 1 is log(1 + e^{−g}): log 2 and "
            "log(1 + e^{−2}); mean of the two.",
            atol=1e-14,
            conventions={"scheme": "goodness = sum of squares minus θ (not the mean), BCE with logits"},
        ),
        ReferenceCase(
            name="sf_layer_forward_path3_augmented",
            inputs={"A": _A_AUG, "X_aug": _X_AUG, "W": _W, "b": _B},
            expected={"H": _layer_by_hand(_A_AUG, _X_AUG, _W, _B)},
            compute=_layer_forward,
            function=f"{_PATH}.SingleForwardGNN",  # its layer_forward(0, Â, X_aug)
            note="ReLU(Â n(X) W + b) on the augmented path written out in NumPy (np.linalg.norm for n, explicit "
            "D^{-1/2}(A+I)D^{-1/2}), not the library's functions.",
            atol=1e-14,
            conventions={"scheme": "row L2 norm of the input, bias after aggregation, ReLU"},
        ),
    ]
