r"""ForwardGNN, single-forward (SF) variant: every GCN layer is trained on its own, with one forward pass,
by a softmax over the similarities of each labelled node to C *virtual nodes* (one per class) that were
wired into the graph; no negative samples, no gradient between layers.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.  The
method section's equations were not reachable here (only the abstract and the caption of Fig. 1, which
names Sec. 3.1 forward-forward, Sec. 3.2 single forward, Sec. 3.3 top-down signals); the rule below was
checked line by line against the authors' code (facebookresearch/forwardgnn), so the level is
`official-code` and the formulas cite the paper's sections and the code's files, not equation numbers.
The top-down variants of Sec. 3.3 are not implemented.

The idea
--------
Forward-forward (FF, Hinton 2022) trains each layer to give high "goodness" :math:`\lVert h\rVert^2` on
positive inputs and low on negative ones; for classification the label is appended to the input and the
negatives are the same input with wrong labels, so one node costs C forward passes at test time.  SF
(Sec. 3.2) drops the negatives.  The graph is *augmented*: C virtual nodes :math:`v_1..v_C` with fixed
random features, and an edge (both directions) between every training node and the virtual node of its
class (code: ``GraphAugmenter.augment``).  Each layer's output then embeds the real nodes and the class
nodes in one space, and its local loss is a softmax cross-entropy over the node-to-class similarities,

.. math::

    H^{(l)} = \mathrm{ReLU}\!\big(\hat A\,\mathrm{n}(\bar H^{(l-1)})\,W^{(l)} + b^{(l)}\big),\qquad
    \hat A = D^{-1/2}(A_{\text{aug}} + I)D^{-1/2},

    s^{(l)}_{ic} = \langle h^{(l)}_i,\, h^{(l)}_{v_c}\rangle / \tau,\qquad
    \mathcal L^{(l)} = -\frac{1}{|V_{\text{train}}|}\sum_{i\in V_{\text{train}}}
        \log \frac{e^{s^{(l)}_{i y_i}}}{\sum_c e^{s^{(l)}_{ic}}},

with :math:`\bar H^{(l-1)}` the previous layer's output *detached* and :math:`\mathrm n` the row-wise L2
normalisation every layer applies to its input (code: ``LayerNormalization`` in nodeclass/common.py,
called first in ``GNNSingleForwardLayer.forward``).  The gradient of :math:`\mathcal L^{(l)}` reaches
:math:`W^{(l)}, b^{(l)}` through both :math:`h_i` and :math:`h_{v_c}` (the class nodes are graph nodes,
computed by the same layer).  Prediction sums the per-layer class probabilities,
:math:`\hat y_i = \arg\max_c \sum_l \mathrm{softmax}_c(s^{(l)}_{i\cdot})` (code: ``eval_model``), so test
nodes — never wired to a virtual node — are classified by their similarity to the class nodes.

Training is layer by layer (code: ``forward_train``): layer 1 for all its epochs, then its output on the
augmented graph is computed once, detached, and is the fixed input of layer 2, and so on.  Backward never
crosses a layer: the autograd graph of one step holds one layer's activations (measured by the
experiment as `graph_floats`).

What we chose (deviations from the code)
----------------------------------------
* Dense :math:`\hat A` on a small synthetic graph (the code uses PyG's sparse GCNConv, same formula with
  self-loops and symmetric normalisation; bias added after aggregation, as in GCNConv).
* A fixed number of full-batch Adam epochs per layer (the code: up to 1000 with early stopping on
  validation accuracy, patience 100); weight decay 5e-4 and τ = 1 as in the code's defaults.
* Virtual-node features :math:`\sim\mathcal N(0, 1)` drawn from the run's seed (the code: an
  ``nn.Embedding`` initialisation, also N(0, 1)).

The FF-with-label-appending ablation (`ff_label_appending.py`), the synthetic graph (`csbm.py`), the
experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/optimizers-training-rules/forward-gnn.ipynb
"""

from __future__ import annotations

import numpy as np

from ....autograd.tensor import Tensor, no_grad
from ....nn import Module, ModuleList, Parameter

CATALOG_ENTRY = {
    "slug": "forward-gnn",
    "title": "Forward Learning of Graph Neural Networks",
    "authors": "Namyong Park, Xing Wang, Antoine Simoulin, Shuai Yang, Grey Yang, Ryan Rossi, Puja Trivedi, "
    "Nesreen Ahmed",
    "year": 2024,
    "arxiv": "2403.11004",
    "family": "optimizers-training-rules",
    "notebook": "notebooks/optimizers-training-rules/forward-gnn.ipynb",
    "verified": "official-code",
    "verification_note": "arXiv 2403.11004 confirmed (ICLR 2024; Meta AI et al.; code "
    "github.com/facebookresearch/forwardgnn). The method section's equations were not reachable (abstract "
    "and Fig. 1's caption only: Sec. 3.1 FF, 3.2 single forward, 3.3 top-down), so no equation numbers are "
    "cited. The SF rule was checked against the official code: src/forward_learning/nodeclass/gnn_sf.py "
    "(GNNSingleForwardLayer.forward_train: detached input, row L2 norm, node·virtual-node logits, "
    "cross-entropy; GraphAugmenter.augment: one virtual node per class, bidirectional edges to training "
    "nodes; eval_model: sum of per-layer softmax), nodeclass/common.py (LayerNormalization), gnn/gnn_conv.py "
    "(GCNConv + ReLU). The FF ablation follows nodeclass/gnn_ff_with_label_appending.py and "
    "forward_learning/loss.py (goodness Σh² − θ, θ = 2, BCE; all C−1 label negatives). Dense Â, fixed "
    "epochs instead of early stopping, and the synthetic graph are ours; Sec. 3.3 is not implemented.",
    "summary": "Backprop-free GNN training without negative samples: the graph gains one virtual node per "
    "class, wired to the training nodes of that class, and each GCN layer is trained on its own detached "
    "input by a softmax over node-to-class-node similarities; predictions sum the layers' class "
    "probabilities.",
    "equations": [
        "Â = D^{-1/2}(A_aug + I)D^{-1/2},  A_aug = A + edges {i ↔ v_{y_i} : i ∈ train}   (Sec. 3.2; GraphAugmenter)",
        "H^(l) = ReLU(Â n(H̄^(l−1)) W^(l) + b^(l)),  n = row L2 norm,  H̄ = stop_gradient(H)   (layer-local forward)",
        "s_ic^(l) = ⟨h_i^(l), h_{v_c}^(l)⟩ / τ,  L^(l) = CE(softmax_c s_i·^(l), y_i) over train nodes   (SF loss, Sec. 3.2)",
        "ŷ_i = argmax_c Σ_l softmax_c(s_i·^(l))   (inference: layers' probabilities summed)",
        "FF ablation: g = Σ_k h_k² − θ,  L = BCE(g⁺, 1) + mean_neg BCE(g⁻, 0), labels appended   (Sec. 3.1)",
    ],
}

__all__ = [
    "normalized_adjacency",
    "augment_with_virtual_nodes",
    "l2_rows",
    "GCNLayer",
    "SingleForwardGNN",
    "sf_logits",
    "sf_layer_loss",
    "train_sf",
    "sf_predict_proba",
    "graph_floats",
]


def normalized_adjacency(A) -> np.ndarray:
    """Â = D^{-1/2}(A + I)D^{-1/2} with D the degree matrix of A + I (GCN, Kipf & Welling 2017; PyG's
    GCNConv with self-loops).  A: a symmetric (n, n) 0/1 (or weighted, non-negative) matrix."""
    A = np.asarray(A, dtype=np.float64)
    if A.ndim != 2 or A.shape[0] != A.shape[1]:
        raise ValueError(f"A must be a square (n, n) matrix, got shape {A.shape}")
    if np.any(A < 0) or not np.allclose(A, A.T):
        raise ValueError("A must be symmetric with non-negative entries")
    At = A + np.eye(A.shape[0])
    d = At.sum(1) ** -0.5
    return d[:, None] * At * d[None, :]


def augment_with_virtual_nodes(A, y, train_mask, n_classes: int) -> np.ndarray:
    """A_aug, (n + C, n + C): A plus one virtual node per class (indices n..n+C−1), with an edge in both
    directions between every training node i and virtual node n + y_i (Sec. 3.2; code:
    GraphAugmenter.augment, aug_edge_direction="bidirection").  Validation and test nodes get no such edge."""
    A = np.asarray(A, dtype=np.float64)
    y, train_mask = np.asarray(y), np.asarray(train_mask, dtype=bool)
    n = A.shape[0]
    if y.shape != (n,) or train_mask.shape != (n,):
        raise ValueError(f"y and train_mask must have shape ({n},), got {y.shape} and {train_mask.shape}")
    if y.min() < 0 or y.max() >= n_classes:
        raise ValueError(f"y must lie in [0, {n_classes}), got labels in [{y.min()}, {y.max()}]")
    out = np.zeros((n + n_classes, n + n_classes))
    out[:n, :n] = A
    idx = np.flatnonzero(train_mask)
    out[idx, n + y[idx]] = 1.0  # train node → its class node
    out[n + y[idx], idx] = 1.0  # and back (bidirectional)
    return out


def l2_rows(h) -> np.ndarray:
    """n(h) = h / (‖h‖₂ + 1e-8) row by row (code: LayerNormalization).  Applied to a layer's *detached*
    input, so it is plain NumPy: no gradient ever flows through it."""
    h = np.asarray(h)
    return h / (np.sqrt(np.sum(h * h, axis=-1, keepdims=True)) + 1e-8)


class GCNLayer(Module):
    """H' = Â H W + b (PyG's GCNConv: the bias is added after aggregation).  W: (d_in, d_out)."""

    def __init__(self, d_in: int, d_out: int, dtype=np.float32, rng=None):
        super().__init__()
        from ....random import as_generator

        rng = as_generator(rng)
        bound = np.sqrt(6.0 / (d_in + d_out))  # Glorot uniform, as GCNConv
        self.weight = Parameter(rng.uniform(-bound, bound, (d_in, d_out)).astype(dtype))
        self.bias = Parameter(np.zeros(d_out, dtype=dtype))

    def forward(self, A_hat, h):
        A_hat = A_hat if isinstance(A_hat, Tensor) else Tensor(np.asarray(A_hat, dtype=self.weight.dtype))
        h = h if isinstance(h, Tensor) else Tensor(np.asarray(h, dtype=self.weight.dtype))
        return A_hat @ (h @ self.weight) + self.bias


class SingleForwardGNN(Module):
    """L GCN layers d_in → d_1 → … → d_L, each ReLU(GCN(n(input))), plus the fixed N(0, 1) features of
    the C virtual nodes (not Parameters).  No classifier head: classes are read off the virtual nodes."""

    def __init__(self, sizes, n_classes: int, dtype=np.float32, rng=None, tau: float = 1.0):
        super().__init__()
        from ....random import as_generator

        sizes = [int(s) for s in sizes]
        if len(sizes) < 2 or min(sizes) < 1:
            raise ValueError(
                f"sizes must be [d_in, d_1, ..., d_L] with L ≥ 1 and every size ≥ 1, got {sizes}"
            )
        if int(n_classes) < 2:
            raise ValueError(f"n_classes must be ≥ 2, got {n_classes}")
        if not tau > 0:
            raise ValueError(f"tau must be > 0, got {tau}")
        rng = as_generator(rng)
        self.n_classes, self.tau = int(n_classes), float(tau)
        self.layers = ModuleList(
            [GCNLayer(a, b, dtype=dtype, rng=rng) for a, b in zip(sizes[:-1], sizes[1:])]
        )
        self.virtual_features = rng.normal(size=(self.n_classes, sizes[0])).astype(dtype)

    def augmented_features(self, x) -> np.ndarray:
        """[X; X_v]: the real nodes' features stacked over the virtual nodes' (code: aug_x)."""
        return np.concatenate([np.asarray(x, dtype=self.virtual_features.dtype), self.virtual_features])

    def layer_forward(self, i: int, A_hat, h_prev) -> Tensor:
        """H^(i) = ReLU(Â n(H̄^(i−1)) W + b) on the detached input (a Tensor with a graph to this layer only)."""
        h_in = getattr(h_prev, "data", h_prev)  # H̄: detached — no gradient reaches layer i − 1
        return self.layers[i](A_hat, l2_rows(h_in)).relu()

    def forward(self, A_hat, x_aug) -> list:
        """[H^(1), ..., H^(L)] on the augmented graph, every layer fed its predecessor's detached output."""
        hs, h = [], x_aug
        for i in range(len(self.layers)):
            h = self.layer_forward(i, A_hat, h)
            hs.append(h)
        return hs


def sf_logits(h, n_real: int, rows, tau: float = 1.0):
    """s_ic = ⟨h_i, h_{v_c}⟩ / τ for the real nodes `rows` (indices) against the virtual nodes, which are
    the last rows of h after the first `n_real` (code: torch.mm(train_node_emb, virtual_node_emb.t()))."""
    rows = np.asarray(rows)
    if isinstance(h, Tensor):
        return (h[rows] @ h[n_real:].transpose(0, 1)) * (1.0 / tau)
    h = np.asarray(h)
    return h[rows] @ h[n_real:].T / tau


def sf_layer_loss(h: Tensor, y, train_idx, n_real: int, tau: float = 1.0) -> Tensor:
    """L^(l) = mean over train nodes of CE(softmax_c s_ic, y_i) (SF local loss, Sec. 3.2)."""
    from ....nn import functional as F

    train_idx = np.asarray(train_idx)
    return F.cross_entropy(sf_logits(h, n_real, train_idx, tau), np.asarray(y)[train_idx])


def train_sf(
    net: SingleForwardGNN, A_hat, x, y, train_idx, epochs: int, *, lr: float, weight_decay: float = 5e-4
) -> dict:
    """Layer by layer (code: GNNSingleForward.forward_train): `epochs` full-batch Adam steps on
    L^(1), then H^(1) is computed once and detached as layer 2's input, and so on.  A_hat is Â of the
    augmented graph, x the real nodes' features.  Returns {"loss": (L, epochs) per-step local losses}."""
    from .... import optim

    if int(epochs) < 1:
        raise ValueError(f"epochs must be ≥ 1, got {epochs}")
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr}")
    n = np.asarray(x).shape[0]
    A = Tensor(np.asarray(A_hat, dtype=net.virtual_features.dtype))
    h = net.augmented_features(x)
    hist = []
    for i, layer in enumerate(net.layers):
        opt = optim.Adam(layer.parameters(), lr=lr, weight_decay=weight_decay)  # one optimizer per layer
        losses = []
        for _ in range(int(epochs)):
            opt.zero_grad()
            loss = sf_layer_loss(net.layer_forward(i, A, h), y, train_idx, n, net.tau)
            loss.backward()
            opt.step()
            losses.append(float(loss.data))
        hist.append(losses)
        with no_grad():
            h = net.layer_forward(i, A, h).data  # the next layer's fixed input
    return {"loss": np.array(hist)}


def sf_predict_proba(net: SingleForwardGNN, A_hat, x) -> np.ndarray:
    """Σ_l softmax_c(s^(l)_{i·}) for every real node i: (n, C) (code: eval_model, probabilities of all
    layers summed).  Argmax is the prediction; divide by L for a distribution."""
    n = np.asarray(x).shape[0]
    with no_grad():
        hs = net(Tensor(np.asarray(A_hat, dtype=net.virtual_features.dtype)), net.augmented_features(x))
    total = 0.0
    for h in hs:
        s = sf_logits(h.data, n, np.arange(n), net.tau)
        p = np.exp(s - s.max(1, keepdims=True))
        total = total + p / p.sum(1, keepdims=True)
    return total


def graph_floats(loss: Tensor) -> int:
    """The number of floats the autograd graph of `loss` holds for its backward pass (the outputs of every
    recorded op): the activation memory one training step keeps alive."""
    from ....autograd.tensor import graph_nodes

    return int(sum(t.data.size for t in graph_nodes(loss)))
