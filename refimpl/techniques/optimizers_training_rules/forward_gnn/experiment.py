"""The experiment: ForwardGNN-SF against forward-forward with label appending (FF+LA, the ablation with
negatives and without virtual nodes), end-to-end backprop on the same GCN (the reference) and backprop on
an MLP (the same network with Â = I: features only), on contextual-SBM graphs.

Setup.  One CSBM graph per seed (`csbm.contextual_sbm(seed)`: 4 classes × 100 nodes, 16 noisy Gaussian
features, p_in = 0.05, p_out = 0.006; 10 training, 20 validation and 70 test nodes per class); the seed
also draws the initialisation, so methods pair by seed.  Every method has three GCN layers of width
`HIDDEN` (backprop's last layer has width C and no ReLU: the logits) and is trained by full-batch Adam,
weight decay 5e-4, `EPOCHS` steps per layer for the layer-local rules and `EPOCHS` steps of the whole
network for backprop (the same number of layer-steps of compute):
  SF          the paper's single-forward rule on the graph augmented with C virtual nodes;
  FF+LA       forward-forward, labels appended, all C − 1 label negatives, goodness θ = 2 — the paper's
              Sec. 3.1 baseline, lacking its idea (scored in random groups of `FF_CHUNK` eval nodes);
  backprop    cross-entropy of the 3-layer GCN, gradients through every layer;
  MLP (BP)    the same with Â = I, for the premise.
Grids.  The learning rate, six values 0.001 to 0.3 (×3 steps) for every method, selected on validation
accuracy averaged over the first three seeds; then all 20 seeds (graphs) at the chosen rate.  (The first
recording used 6 seeds; both accuracy claims' intervals straddled their margins, and the runs are cheap, so
the seed count was raised to 20 before any margin or method was touched.)
Premise.  The graph carries information the features lack: backprop on the GCN beats backprop on the
MLP by more than two points (whole interval).
Claims (fixed before the first full run).  (1) SF is within three points of backprop (the paper: ForwardGNN
"performs on par with or outperforms BP").  (2) SF beats FF+LA (the paper's Tables: SF above FF with
label appending).  Diagnostic without premise: (3) one SF training step keeps fewer activation floats in
its autograd graph than one backprop step (`graph_floats`).
"""

from __future__ import annotations

import numpy as np

from ....experiments import Claim, Method, Premise, compare, experiment, finish
from . import (
    GCNLayer,
    SingleForwardGNN,
    augment_with_virtual_nodes,
    graph_floats,
    normalized_adjacency,
    sf_layer_loss,
    sf_predict_proba,
    train_sf,
)
from .csbm import contextual_sbm
from .ff_label_appending import FFLabelAppendingGNN, append_labels, ff_scores, goodness_loss, train_ff

SLUG = "forward-gnn"
HIDDEN, LAYERS = 32, 3
EPOCHS, QUICK_EPOCHS = 100, 30
LRS = [0.001, 0.003, 0.01, 0.03, 0.1, 0.3]
WEIGHT_DECAY = 5e-4
FF_CHUNK = 20
PREMISE_GAP = 0.02  # GCN − MLP (backprop), test accuracy
BP_MARGIN = -0.03  # "on par with BP": within three points
NAMES = ("SF", "FF+LA", "backprop", "MLP (BP)")


def task(seed):
    return contextual_sbm(seed)


def _acc(scores, g, idx) -> float:
    return float(np.mean(np.argmax(scores[idx], -1) == g.y[idx]))


def _run_sf(seed, lr, epochs):
    g = task(seed)
    train_mask = np.isin(np.arange(len(g.y)), g.train)
    A_hat = normalized_adjacency(augment_with_virtual_nodes(g.A, g.y, train_mask, g.n_classes))
    net = SingleForwardGNN([g.x.shape[1], *[HIDDEN] * LAYERS], g.n_classes, rng=seed)
    from ....autograd.tensor import Tensor

    A = Tensor(A_hat.astype(np.float32))
    h, floats = net.augmented_features(g.x), []
    for i in range(LAYERS):  # one step's graph, layer by layer, at initialisation (shapes decide it)
        out = net.layer_forward(i, A, h)
        floats.append(graph_floats(sf_layer_loss(out, g.y, g.train, len(g.y))))
        h = out.data
    train_sf(net, A_hat, g.x, g.y, g.train, epochs, lr=lr, weight_decay=WEIGHT_DECAY)
    P = sf_predict_proba(net, A_hat, g.x)
    return {
        **{f"{s}_accuracy": _acc(P, g, getattr(g, s)) for s in ("train", "val", "test")},
        "graph_floats": float(max(floats)),
    }


def _run_ff(seed, lr, epochs):
    g = task(seed)
    A_hat = normalized_adjacency(g.A)
    net = FFLabelAppendingGNN([g.x.shape[1], *[HIDDEN] * LAYERS], g.n_classes, rng=seed)
    from ....autograd.tensor import Tensor

    mask = np.isin(np.arange(len(g.y)), g.train)
    A = Tensor(A_hat.astype(np.float32))
    pos = append_labels(g.x, g.y, mask, g.n_classes)
    neg = append_labels(g.x, (g.y + 1) % g.n_classes, mask, g.n_classes)
    loss = goodness_loss(net.layer_forward(0, A, pos), g.train, 1.0)
    for _ in range(g.n_classes - 1):  # C − 1 negative passes, each its own graph in the same loss
        loss = loss + goodness_loss(net.layer_forward(0, A, neg), g.train, 0.0)
    floats = graph_floats(loss)
    train_ff(
        net,
        A_hat,
        g.x,
        g.y,
        g.train,
        epochs,
        lr=lr,
        rng=np.random.default_rng(seed),
        weight_decay=WEIGHT_DECAY,
    )
    out = {}
    for s in ("train", "val", "test"):
        idx = getattr(g, s)
        out[f"{s}_accuracy"] = float(
            np.mean(np.argmax(ff_scores(net, A_hat, g.x, g.y, g.train, idx, chunk=FF_CHUNK), -1) == g.y[idx])
        )
    return {**out, "graph_floats": float(floats)}


class _GCN:
    """Backprop's network: GCN layers d → HIDDEN → HIDDEN → C, ReLU between, logits out (PyG's GCN)."""

    def __init__(self, d_in, n_classes, seed):
        from ....random import as_generator

        rng = as_generator(seed)
        dims = [d_in, *[HIDDEN] * (LAYERS - 1), n_classes]
        self.layers = [GCNLayer(a, b, rng=rng) for a, b in zip(dims[:-1], dims[1:])]

    def parameters(self):
        return [p for layer in self.layers for p in layer.parameters()]

    def __call__(self, A, x):
        h = x
        for i, layer in enumerate(self.layers):
            h = layer(A, h)
            if i < len(self.layers) - 1:
                h = h.relu()
        return h


def _run_bp(seed, lr, epochs, graph=True):
    from .... import optim
    from ....autograd.tensor import Tensor, no_grad
    from ....nn import functional as F

    g = task(seed)
    A = Tensor((normalized_adjacency(g.A) if graph else np.eye(len(g.y))).astype(np.float32))
    net = _GCN(g.x.shape[1], g.n_classes, seed)
    opt = optim.Adam(net.parameters(), lr=lr, weight_decay=WEIGHT_DECAY)
    floats = None
    for _ in range(int(epochs)):
        opt.zero_grad()
        loss = F.cross_entropy(net(A, Tensor(g.x))[g.train], g.y[g.train])
        floats = graph_floats(loss) if floats is None else floats
        loss.backward()
        opt.step()
    with no_grad():
        logits = net(A, Tensor(g.x)).data
    return {
        **{f"{s}_accuracy": _acc(logits, g, getattr(g, s)) for s in ("train", "val", "test")},
        "graph_floats": float(floats),
    }


RUNS = {
    "SF": _run_sf,
    "FF+LA": _run_ff,
    "backprop": _run_bp,
    "MLP (BP)": lambda seed, lr, epochs: _run_bp(seed, lr, epochs, graph=False),
}


def _method(name: str, quick: bool) -> Method:
    epochs = QUICK_EPOCHS if quick else EPOCHS

    def run(seed, lr):
        return RUNS[name](seed, lr, epochs)

    return Method(name, run, grid={"lr": LRS}, quick_grid={"lr": [0.03]})


@experiment(SLUG, seeds=range(20), quick_seeds=(0, 1))
def run(quick, seeds, progress):
    methods = [_method(n, quick) for n in NAMES]
    comparison = compare(
        methods,
        seeds,
        select="val_accuracy",
        quick=quick,
        selection_seeds=None if quick else (0, 1, 2),
        progress=progress,
    )
    premise = Premise(
        f"the graph helps here: backprop on the GCN beats backprop on the MLP (features only) by more than "
        f"{PREMISE_GAP:.0%} (test accuracy, whole interval)",
        "test_accuracy",
        "backprop",
        threshold=PREMISE_GAP,
        baseline="MLP (BP)",
        strict=True,
    )
    claims = [
        Claim(
            "SF, trained layer by layer without backprop, is within three points of backprop's test accuracy",
            "test_accuracy",
            "SF",
            "backprop",
            margin=BP_MARGIN,
        ),
        Claim(
            "SF beats forward-forward with label appending (negative samples, no virtual nodes)",
            "test_accuracy",
            "SF",
            "FF+LA",
        ),
        Claim(
            "one SF training step keeps fewer activation floats in its autograd graph than one backprop step",
            "graph_floats",
            "SF",
            "backprop",
            direction="less",
            premises=(),
        ),
    ]
    return finish(
        SLUG,
        comparison,
        premises=[premise],
        claims=claims,
        quick=quick,
        smoke=quick,
        arrays={
            "test_accuracy": np.array([comparison.values(n, "test_accuracy") for n in NAMES]),
            "graph_floats": np.array([comparison.values(n, "graph_floats") for n in NAMES]),
        },
        notes={
            "methods": list(NAMES),
            "epochs": QUICK_EPOCHS if quick else EPOCHS,
            "hidden": HIDDEN,
            "layers": LAYERS,
        },
        metrics=["test_accuracy", "val_accuracy", "train_accuracy", "graph_floats"],
    )


def plot(result) -> dict:
    from ....plotting import pyplot

    plt = pyplot()
    names = result.notes["methods"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    vals = result.arrays["test_accuracy"]
    for i, row in enumerate(vals):
        axes[0].plot(np.full(len(row), i), row, "o", color="0.6", ms=3)
        axes[0].plot([i], [np.mean(row)], "D", color=f"C{i}", ms=8)
    axes[0].set_xticks(range(len(names)), names, fontsize=8)
    axes[0].set_title("test accuracy (dots: seeds, diamonds: means)", fontsize=9)
    floats = result.arrays["graph_floats"][:, 0]
    axes[1].bar(range(len(names)), floats / 1e3, color=[f"C{i}" for i in range(len(names))])
    axes[1].set_xticks(range(len(names)), names, fontsize=8)
    axes[1].set_title("floats kept for one training step's backward (thousands)", fontsize=9)
    fig.suptitle(
        f"contextual SBM, {result.notes['layers']} GCN layers of {result.notes['hidden']}, "
        f"{result.notes['epochs']} Adam steps per layer",
        fontsize=9,
    )
    fig.tight_layout()
    return {SLUG: fig}
