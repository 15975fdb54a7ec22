r"""The ablation: forward-forward with label appending on the same GCN (the paper's Sec. 3.1 baseline,
"FF+LA"; official code nodeclass/gnn_ff_with_label_appending.py and forward_learning/loss.py).

No virtual nodes.  Each node's features get a C-vector appended: the one-hot label for training nodes,
the uniform 1/C for every other node (``GNNLabelAppender``, "uniform").  The positive input carries the
true labels; each of the C − 1 negative inputs gives every training node a different wrong label (a random
order of the wrong classes per node, drawn once).  Every layer — ReLU(GCN(n(detached input))), as in SF —
is trained on

.. math::  g(h) = \sum_k h_k^2 - \theta,\qquad
           \mathcal L^{(l)} = \mathrm{BCE}(g(h^+_i), 1) + \tfrac{1}{C-1}\sum_{m}\mathrm{BCE}(g(h^{-,m}_i), 0)

averaged over training nodes, θ = 2 (the code's default).  A node is classified by running the graph C
times, its own appended vector set to each class in turn (training nodes keep their labels, the other
nodes the uniform vector), and taking the class with the largest goodness summed over layers,
:math:`\sum_l \mathrm{mean}_k (h^{(l)}_k)^2 - \theta` (code: ``forward_predict``, ``eval_model``).

What it lacks is exactly the paper's idea: it needs negative inputs (C passes per step to train, C per
prediction) and reads the class off a scalar goodness instead of a similarity to class nodes."""

from __future__ import annotations

import numpy as np

from ....autograd.tensor import Tensor, no_grad
from ....nn import Module, ModuleList
from . import GCNLayer, l2_rows

__all__ = [
    "append_labels",
    "negative_labels",
    "goodness_loss",
    "FFLabelAppendingGNN",
    "train_ff",
    "ff_scores",
]

THETA = 2.0  # the code's --ff-theta default


def append_labels(x, labels, mask, n_classes: int) -> np.ndarray:
    """[x, e]: e_i = one-hot(labels_i) where `mask`, else the uniform vector 1/C (code: append_for_train
    and append_for_eval, "uniform" for unlabelled nodes)."""
    x = np.asarray(x)
    mask = np.asarray(mask, dtype=bool)
    e = np.full((x.shape[0], n_classes), 1.0 / n_classes, dtype=x.dtype)
    e[mask] = 0.0
    e[np.flatnonzero(mask), np.asarray(labels)[mask]] = 1.0
    return np.concatenate([x, e], axis=1)


def negative_labels(y, n_classes: int, rng) -> np.ndarray:
    """(C − 1, n): row m gives node i its m-th wrong class, the wrong classes in a random order per node."""
    y = np.asarray(y)
    r = rng.random((y.size, n_classes))
    r[np.arange(y.size), y] = np.inf  # the true class sorts last and is dropped
    return np.argsort(r, axis=1)[:, :-1].T


def goodness_loss(h: Tensor, rows, target: float, theta: float = THETA) -> Tensor:
    """mean over `rows` of BCE(Σ_k h_k² − θ, target) (code: forwardforward_loss_fn)."""
    from ....nn import functional as F

    g = (h[np.asarray(rows)] ** 2).sum(axis=-1) - theta
    return F.binary_cross_entropy_with_logits(g, np.full(g.shape, float(target), dtype=g.data.dtype))


class FFLabelAppendingGNN(Module):
    """L GCN layers (d_in + C) → d_1 → … → d_L, each ReLU(GCN(n(detached input))) on the real graph."""

    def __init__(self, sizes, n_classes: int, dtype=np.float32, rng=None, theta: float = THETA):
        super().__init__()
        from ....random import as_generator

        sizes = [int(s) for s in sizes]
        if len(sizes) < 2 or min(sizes) < 1:
            raise ValueError(
                f"sizes must be [d_in, d_1, ..., d_L] with L ≥ 1 and every size ≥ 1, got {sizes}"
            )
        rng = as_generator(rng)
        self.n_classes, self.theta = int(n_classes), float(theta)
        dims = [sizes[0] + self.n_classes, *sizes[1:]]
        self.layers = ModuleList([GCNLayer(a, b, dtype=dtype, rng=rng) for a, b in zip(dims[:-1], dims[1:])])

    def layer_forward(self, i: int, A_hat, h_prev) -> Tensor:
        return self.layers[i](A_hat, l2_rows(getattr(h_prev, "data", h_prev))).relu()


def train_ff(
    net: FFLabelAppendingGNN,
    A_hat,
    x,
    y,
    train_idx,
    epochs: int,
    *,
    lr: float,
    rng,
    weight_decay: float = 5e-4,
) -> dict:
    """Layer by layer, `epochs` full-batch Adam steps on the FF loss with all C − 1 label negatives (the
    code's run script: --num-negs 100 "to use all negatives"); then positive and negative outputs are
    detached and passed on.  Returns {"loss": (L, epochs)}."""
    from .... import optim

    if int(epochs) < 1:
        raise ValueError(f"epochs must be ≥ 1, got {epochs}")
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr}")
    x, y = np.asarray(x), np.asarray(y)
    mask = np.zeros(len(y), dtype=bool)
    mask[np.asarray(train_idx)] = True
    A = Tensor(np.asarray(A_hat, dtype=x.dtype))
    pos = append_labels(x, y, mask, net.n_classes)
    negs = [append_labels(x, wrong, mask, net.n_classes) for wrong in negative_labels(y, net.n_classes, rng)]
    hist = []
    for i, layer in enumerate(net.layers):
        opt = optim.Adam(layer.parameters(), lr=lr, weight_decay=weight_decay)
        losses = []
        for _ in range(int(epochs)):
            opt.zero_grad()
            loss = goodness_loss(net.layer_forward(i, A, pos), train_idx, 1.0, net.theta)
            neg = [goodness_loss(net.layer_forward(i, A, h), train_idx, 0.0, net.theta) for h in negs]
            loss = loss + sum(neg[1:], neg[0]) * (1.0 / len(neg))
            loss.backward()
            opt.step()
            losses.append(float(loss.data))
        hist.append(losses)
        with no_grad():
            pos = net.layer_forward(i, A, pos).data
            negs = [net.layer_forward(i, A, h).data for h in negs]
    return {"loss": np.array(hist)}


def ff_scores(
    net: FFLabelAppendingGNN, A_hat, x, y, train_idx, eval_idx, chunk: int | None = None
) -> np.ndarray:
    """(len(eval_idx), C): Σ_l mean_k (h_k^(l))² − θ with the eval nodes' appended vector set to each class
    in turn; training nodes carry their labels, all other nodes the uniform vector (code: eval_model).

    The code sets *all* eval nodes to class c at once, so an eval node's score also depends on its eval
    neighbours being told "c" — a shift that grows with the eval set.  `chunk` (ours) scores the eval nodes
    in fixed random groups of that size, the rest uniform, so validation and test are scored alike."""
    x, y = np.asarray(x), np.asarray(y)
    eval_idx = np.asarray(eval_idx)
    A = Tensor(np.asarray(A_hat, dtype=x.dtype))
    out = np.zeros((eval_idx.size, net.n_classes))
    order = np.random.default_rng(0).permutation(eval_idx.size)
    size = eval_idx.size if chunk is None else int(chunk)
    for start in range(0, eval_idx.size, size):
        pos = order[start : start + size]
        group = eval_idx[pos]
        known = np.zeros(len(y), dtype=bool)
        known[np.asarray(train_idx)] = True
        known[group] = True
        for c in range(net.n_classes):
            labels = y.copy()
            labels[group] = c
            h = append_labels(x, labels, known, net.n_classes)
            with no_grad():
                for i in range(len(net.layers)):
                    h = net.layer_forward(i, A, h).data
                    out[pos, c] += np.mean(h[group] ** 2, axis=1) - net.theta
    return out
