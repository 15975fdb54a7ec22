"""The experiment: clustering the 8×8 digits (10 clusters) from an autoencoder's embedding.

Per seed a denoising autoencoder (64 → 128 → 10 → 128 → 64) is pretrained briefly on the training images (no
labels), and k-means on its embedding initialises the softmax layer (θ_k = μ_k, b_k = −‖μ_k‖²/2, so that the
first assignments are the nearest centroids).  Then four arms, from that same start:

* **k-means** — the initial assignments themselves (k-means on the pretrained embedding);
* **DEPICT** — alternating: the target Q from the clean pathway each epoch, then minibatches of
  cross-entropy to Q on noisy inputs plus the reconstruction loss;
* **hard self-training** — the same training with one-hot pseudo-labels, no frequency prior (the ablation
  lacking only the prior);
* **DEC target** — the same training with DEC's sharpened target p²/f (for comparison).

Each trained arm picks its learning rate and reconstruction weight on the validation split's NMI (labels of
the validation split are used for this choice only; the paper tunes nothing on labels).  The test split's
clustering accuracy (Hungarian matching) and NMI are reported.  Premise: without the prior, training lets
clusters merge — the largest cluster of hard self-training holds more than 15 % of the test points (10 % is
uniform).  Claims (margins 0): DEPICT's test NMI exceeds hard self-training's and k-means'.
"""

from __future__ import annotations

import functools

import numpy as np
from scipy.cluster.vq import kmeans2

from ....autograd.tensor import Tensor
from ....experiments import Claim, Method, Premise, compare, experiment, finish, tasks
from ....optim import Adam
from ..metrics import clustering_accuracy, nmi
from . import TARGETS, ClusteringAutoencoder, clustering_loss

SLUG = "depict"
K, HIDDEN, EMBED = 10, 128, 10
NOISE = 0.2  # std of the Gaussian corruption of the noisy pathway (pixels in [0, 1])
ARMS = {"DEPICT": "depict", "hard self-training": "hard", "DEC target": "dec"}
LRS = (1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2)
REC = (0.0, 0.1, 1.0)
BATCH = 64


def _epochs(quick):
    return {"pretrain": 20, "cluster": 10} if quick else {"pretrain": 60, "cluster": 40}


def _minibatches(n, rng):
    order = rng.permutation(n)
    return [order[i : i + BATCH] for i in range(0, n, BATCH)]


@functools.cache
def _pretrained(seed: int, epochs: int):
    """A denoising autoencoder pretrained on the training images, and k-means (k = 10) on its embedding:
    (state dict, centroids)."""
    x = tasks.digits().x_train
    model = ClusteringAutoencoder(64, HIDDEN, EMBED, K, seed)
    params = [p for name, p in model.named_parameters() if not name.startswith("head")]
    opt, rng = Adam(params, lr=1e-3), np.random.default_rng([seed, 7])
    for _ in range(epochs):
        for idx in _minibatches(len(x), rng):
            noisy = x[idx] + NOISE * rng.standard_normal(x[idx].shape).astype(np.float32)
            _, rec = model(Tensor(noisy))
            loss = ((rec - Tensor(x[idx])) ** 2).sum(axis=1).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    centroids, _ = kmeans2(model.embed(x).astype(np.float64), K, minit="++", seed=seed)
    state = {k: v.copy() for k, v in model.state_dict().items()}
    return state, centroids


def _start(seed: int, epochs: dict) -> ClusteringAutoencoder:
    state, centroids = _pretrained(seed, epochs["pretrain"])
    model = ClusteringAutoencoder(64, HIDDEN, EMBED, K, seed)
    state = dict(state)
    state["head.weight"] = centroids.astype(np.float32)  # (K, d): logits z·μ_k − ‖μ_k‖²/2
    state["head.bias"] = (-0.5 * (centroids**2).sum(1)).astype(np.float32)
    model.load_state_dict(state)
    return model


def _scores(model, task) -> dict:
    out = {}
    for split in ("val", "test"):
        x, y = getattr(task, f"x_{split}"), getattr(task, f"y_{split}")
        c = np.argmax(model.assignments(x), axis=1)
        out[f"{split}_nmi"] = nmi(y, c)
        out[f"{split}_accuracy"] = clustering_accuracy(y, c)
        out[f"{split}_largest_cluster"] = float(np.bincount(c, minlength=K).max() / len(c))
    return out


def cluster(model, target: str, lr: float, reconstruction_weight: float, epochs: int, seed: int) -> list:
    """Alternate: Q from the clean pathway over the training set, then one epoch of minibatches on noisy
    inputs.  Returns the training cluster sizes after each epoch."""
    x = tasks.digits().x_train
    opt, rng = Adam(model.parameters(), lr=lr), np.random.default_rng([seed, 11])
    sizes = []
    for _ in range(epochs):
        Q = TARGETS[target](model.assignments(x))
        for idx in _minibatches(len(x), rng):
            noisy = x[idx] + NOISE * rng.standard_normal(x[idx].shape).astype(np.float32)
            logits, rec = model(Tensor(noisy))
            loss = clustering_loss(logits, Q[idx], rec, x[idx], reconstruction_weight)
            opt.zero_grad()
            loss.backward()
            opt.step()
        sizes.append(np.bincount(np.argmax(model.assignments(x), 1), minlength=K))
    return sizes


def _arm(target: str | None, quick: bool, keep: dict):
    ep = _epochs(quick)

    def run(seed, lr=0.0, reconstruction_weight=0.0):
        task = tasks.digits()
        model = _start(seed, ep)
        if target is not None:
            keep[(target, seed, lr, reconstruction_weight)] = cluster(
                model, target, lr, reconstruction_weight, ep["cluster"], seed
            )
        return _scores(model, task)

    return run


@experiment(SLUG, seeds=tuple(range(10)), quick_seeds=(0, 1))
def run(quick, seeds, progress):
    keep: dict = {}
    grid = {"lr": list(LRS), "reconstruction_weight": list(REC)}
    quick_grid = {"lr": [1e-3], "reconstruction_weight": [1.0]}
    limits = {"reconstruction_weight": ("lower", "0 drops the reconstruction loss")}
    methods = [Method("k-means", _arm(None, quick, keep))] + [
        Method(name, _arm(t, quick, keep), grid=grid, quick_grid=quick_grid, limits=limits)
        for name, t in ARMS.items()
    ]
    comparison = compare(methods, seeds, select="val_nmi", maximize=True, quick=quick, progress=progress)
    premise = Premise(
        "without a frequency prior the clusters merge: hard self-training's largest test cluster holds over 15 %",
        "test_largest_cluster",
        "hard self-training",
        threshold=0.15,
        strict=True,
    )
    claims = [
        Claim(
            "DEPICT's test NMI is higher than hard self-training's (the same training without the prior)",
            "test_nmi",
            "DEPICT",
            baseline="hard self-training",
        ),
        Claim(
            "DEPICT's test NMI is higher than k-means on the pretrained embedding",
            "test_nmi",
            "DEPICT",
            baseline="k-means",
            premises=(),
        ),
    ]
    s = comparison.seeds
    names = ["k-means", *ARMS]
    sizes = {}
    for name, t in ARMS.items():
        sel = comparison.selected[name]
        sizes[name] = np.array([keep[(t, k, sel["lr"], sel["reconstruction_weight"])] for k in s])
    arrays = {
        "test_nmi": np.array([comparison.values(n, "test_nmi") for n in names]),
        "largest_cluster": np.array([comparison.values(n, "test_largest_cluster") for n in names]),
        **{f"sizes_{i}": sizes[n] for i, n in enumerate(ARMS)},
    }
    return finish(
        SLUG,
        comparison,
        premises=[premise],
        claims=claims,
        quick=quick,
        smoke=quick,
        arrays=arrays,
        notes={"methods": names, "trained": list(ARMS), "noise": NOISE, "epochs": _epochs(quick)},
        metrics=["test_nmi", "test_accuracy", "test_largest_cluster", "val_nmi"],
    )


def plot(result) -> dict:
    from ....plotting import pyplot

    plt = pyplot()
    names = result.notes["methods"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    v = result.arrays["test_nmi"]
    for i in range(len(names)):
        axes[0].plot(np.full(v.shape[1], i), v[i], "o", alpha=0.6)
        axes[0].plot([i - 0.2, i + 0.2], [v[i].mean()] * 2, "k-")
    axes[0].set_xticks(range(len(names)), names, rotation=15)
    axes[0].set_ylabel("test NMI (per seed, mean)")
    for i, n in enumerate(result.notes["trained"]):
        sz = result.arrays[f"sizes_{i}"]  # (seeds, epochs, K)
        largest = sz.max(axis=2) / sz.sum(axis=2)
        axes[1].plot(np.arange(1, largest.shape[1] + 1), largest.mean(0), label=n)
    axes[1].axhline(0.1, color="grey", ls=":", label="uniform")
    axes[1].set_xlabel("clustering epoch")
    axes[1].set_ylabel("largest training cluster (share)")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    return {SLUG: fig}
