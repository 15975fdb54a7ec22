r"""Grokking modular addition with corrupted labels: generalizing neurons are periodic (one Fourier frequency),
memorizing neurons are not; the inverse participation ratio (IPR) of a neuron's Fourier spectrum tells them apart,
weight decay moves the network towards periodic neurons, and pruning the low-IPR neurons removes memorization.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.

The task and the network
------------------------
All :math:`p^2` pairs (a, b) with label :math:`(a + b) \bmod p`; a training split in which a fraction ξ of the
labels is replaced by a different residue (`modular_addition_data`).  Input :math:`x = [e_a; e_b] \in \{0,1\}^{2p}`;
a two-layer network with quadratic activation and no biases (the solvable model of the paper's line of work),

.. math::

    f(x) = W_2\,\phi(W_1 x),\qquad \phi(h) = h^2,\qquad W_1 \in \mathbb R^{N\times 2p},\ W_2 \in \mathbb R^{p\times N},

trained on the softmax cross-entropy by full-batch Adam(W) (`forward`, `backward`: the gradient written by hand,
checked by finite differences in the tests).  A periodic neuron, :math:`W_1[n] \propto [\cos(2\pi k a/p + \varphi_1);
\cos(2\pi k b/p + \varphi_2)]`, computes a product of cosines whose square holds :math:`\cos(2\pi k(a+b)/p + \dots)`:
a population of them adds up to the rule.

The inverse participation ratio
-------------------------------
For each half of a neuron's input weights (the a-part and the b-part), take the power
:math:`P_k = |\hat w_k|^2` of its discrete Fourier transform at :math:`k = 1 \dots \lfloor p/2 \rfloor`; then
(`ipr`, with r = 2, averaged over the two halves)

.. math::

    \mathrm{IPR} = \frac{\sum_k P_k^{r}}{\big(\sum_k P_k\big)^{r}} \in \Big[\frac{1}{\lfloor p/2\rfloor}, 1\Big],

1 for a single frequency, :math:`1/\lfloor p/2\rfloor` for a flat spectrum.  For random Gaussian weights (odd p) the
powers are i.i.d. exponential, the normalised spectrum is Dirichlet(1, …, 1) and the expected IPR is exactly
:math:`2/(K+1)`, :math:`K = \lfloor p/2\rfloor` (`random_ipr`, derived here) — the reference for "not periodic".

What is reconstructed
---------------------
The task, the corruption, the IPR with r = 2 over k = 1 … ⌊p/2⌋, the coexistence of memorization and
generalization, weight decay's effect and the pruning of low-IPR neurons follow the paper's abstract and the
catalogue's summary; the paper's full text and code were not read.  The quadratic activation, the sizes (p = 31,
N = 256), the optimiser settings and the pruning fraction are ours (fixed before the first recording).

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/theory-dynamics/grok-corrupted-modular.ipynb
"""

from __future__ import annotations

import numpy as np

CATALOG_ENTRY = {
    "slug": "grok-corrupted-modular",
    "title": "To grok or not to grok: Disentangling generalization and memorization on corrupted algorithmic "
    "datasets",
    "authors": "Darshil Doshi, Aritra Das, Tianyu He, Andrey Gromov",
    "year": 2024,
    "arxiv": "2310.13061",
    "family": "theory-dynamics",
    "notebook": "notebooks/theory-dynamics/grok-corrupted-modular.ipynb",
    "verified": "reconstructed",
    "verification_note": "arXiv id confirmed (ICLR 2024).  From the abstract and the catalogue's summary: modular "
    "addition with a fraction ξ of corrupted training labels, periodic (generalizing) vs non-periodic (memorizing) "
    "neurons told apart by the IPR of their Fourier spectrum, weight decay pushing towards generalizing neurons, "
    "and pruning low-IPR neurons lowering the accuracy on corrupted data.  The full text and code were not read: "
    "the architecture details, sizes and optimiser are ours; the expected IPR of random weights is derived here.",
    "summary": "A network trained on modular addition with corrupted labels can memorize the corrupted examples and "
    "generalize at once; generalizing neurons are periodic (high IPR), memorizing ones are not, so pruning low-IPR "
    "neurons removes memorization, and weight decay drives the network towards periodic neurons.",
    "equations": [
        "f(x) = W₂ (W₁ x)²,  x = [e_a; e_b],  label (a + b) mod p   (quadratic-activation MLP)",
        "IPR = Σ_k P_k² / (Σ_k P_k)²,  P_k = |DFT(w)_k|², k = 1 … ⌊p/2⌋   (per input half, averaged)",
        "E[IPR] = 2/(K + 1),  K = ⌊p/2⌋, for i.i.d. Gaussian weights (odd p; derived here)",
        "prune: zero W₂[:, n] for the neurons with the lowest IPR",
    ],
}

__all__ = [
    "CATALOG_ENTRY",
    "modular_addition_data",
    "one_hot_pairs",
    "ipr",
    "random_ipr",
    "init_params",
    "forward",
    "backward",
    "accuracy",
    "train",
    "prune_lowest_ipr",
]


def modular_addition_data(p: int, train_fraction: float, val_fraction: float, xi: float, rng) -> dict:
    """Every pair (a, b) split at random into train / validation / test; exactly round(ξ · n_train) training labels
    replaced by a uniformly drawn *different* residue.  Returns index arrays, true and training labels, and the mask
    of corrupted training examples."""
    if p < 3:
        raise ValueError(f"`p` must be ≥ 3, got {p}")
    if not (0 < train_fraction and 0 <= val_fraction and train_fraction + val_fraction < 1):
        raise ValueError(
            f"`train_fraction` + `val_fraction` must be < 1, got {train_fraction} + {val_fraction}"
        )
    if not 0 <= xi < 1:
        raise ValueError(f"`xi` (the corrupted fraction) must be in [0, 1), got {xi}")
    rng = np.random.default_rng(rng)
    a, b = np.divmod(np.arange(p * p), p)
    y = (a + b) % p
    perm = rng.permutation(p * p)
    n_tr, n_val = int(round(train_fraction * p * p)), int(round(val_fraction * p * p))
    train, val, test = perm[:n_tr], perm[n_tr : n_tr + n_val], perm[n_tr + n_val :]
    corrupted = np.zeros(n_tr, dtype=bool)
    corrupted[rng.choice(n_tr, int(round(xi * n_tr)), replace=False)] = True
    y_train = y[train].copy()
    y_train[corrupted] = (y_train[corrupted] + rng.integers(1, p, corrupted.sum())) % p
    return {
        "p": p,
        "a": a,
        "b": b,
        "y": y,
        "train": train,
        "val": val,
        "test": test,
        "y_train": y_train,
        "corrupted": corrupted,
    }


def one_hot_pairs(a, b, p: int) -> np.ndarray:
    """x = [e_a; e_b] for each pair."""
    a, b = np.asarray(a), np.asarray(b)
    X = np.zeros((a.size, 2 * p))
    X[np.arange(a.size), a] = 1.0
    X[np.arange(a.size), p + b] = 1.0
    return X


def ipr(W1, p: int, r: int = 2) -> np.ndarray:
    """Per neuron: Σ_k P_k^r / (Σ_k P_k)^r over k = 1 … ⌊p/2⌋ of each input half's Fourier power, averaged."""
    W1 = np.asarray(W1, dtype=np.float64)
    if W1.ndim != 2 or W1.shape[1] != 2 * p:
        raise ValueError(f"`W1` must have shape (neurons, 2p = {2 * p}), got {W1.shape}")
    halves = []
    for part in (W1[:, :p], W1[:, p:]):
        P = np.abs(np.fft.rfft(part, axis=1))[:, 1 : p // 2 + 1] ** 2
        total = P.sum(1)
        if np.any(total <= 1e-12 * np.maximum((part**2).sum(1), 1e-300)):
            raise ValueError(
                "`W1`: a neuron's weights have no power at k = 1 … ⌊p/2⌋ (constant or zero); IPR undefined"
            )
        halves.append((P**r).sum(1) / total**r)
    return (halves[0] + halves[1]) / 2


def random_ipr(p: int) -> float:
    """E[IPR] (r = 2) of i.i.d. Gaussian weights, odd p: 2/(K + 1), K = ⌊p/2⌋ (Dirichlet(1, …, 1) power shares)."""
    if p % 2 == 0:
        raise ValueError(f"`p` must be odd (the Nyquist bin of even p is not exponential), got {p}")
    return 2 / (p // 2 + 1)


def init_params(p: int, width: int, rng) -> dict:
    rng = np.random.default_rng(rng)
    return {
        "W1": rng.normal(size=(width, 2 * p)) / np.sqrt(2 * p),
        "W2": rng.normal(size=(p, width)) / np.sqrt(width),
    }


def forward(params, X) -> tuple[np.ndarray, dict]:
    """Logits W₂ (W₁ x)² and the cache for `backward`."""
    h = X @ params["W1"].T
    z = h * h
    return z @ params["W2"].T, {"X": X, "h": h, "z": z}


def backward(params, cache, logits, y) -> tuple[float, dict]:
    """Mean softmax cross-entropy and its gradient: ∂W₂ = gᵀz, ∂W₁ = (2h ⊙ gW₂)ᵀX with g = (softmax − onehot)/n."""
    n = logits.shape[0]
    shifted = logits - logits.max(1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(1, keepdims=True))
    loss = float(-logp[np.arange(n), y].mean())
    g = np.exp(logp)
    g[np.arange(n), y] -= 1.0
    g /= n
    gz = g @ params["W2"]
    return loss, {"W2": g.T @ cache["z"], "W1": (2 * cache["h"] * gz).T @ cache["X"]}


def accuracy(params, X, y, keep=None) -> float:
    """Accuracy of the argmax logit; `keep` (per neuron, 0/1) zeroes pruned neurons' read-out."""
    W2 = params["W2"] if keep is None else params["W2"] * keep
    return float(np.mean(np.argmax(((X @ params["W1"].T) ** 2) @ W2.T, 1) == y))


def train(params, X, y, steps: int, lr: float, weight_decay: float, betas=(0.9, 0.98), eps=1e-8) -> dict:
    """Full-batch Adam with decoupled weight decay (AdamW; λ = 0 is Adam), in place on a copy; returns it."""
    if lr <= 0 or weight_decay < 0:
        raise ValueError(f"`lr` must be > 0 and `weight_decay` ≥ 0, got {lr}, {weight_decay}")
    params = {k: v.copy() for k, v in params.items()}
    m = {k: np.zeros_like(v) for k, v in params.items()}
    v = {k: np.zeros_like(w) for k, w in params.items()}
    b1, b2 = betas
    for t in range(1, steps + 1):
        logits, cache = forward(params, X)
        _, grads = backward(params, cache, logits, y)
        for k in params:
            m[k] = b1 * m[k] + (1 - b1) * grads[k]
            v[k] = b2 * v[k] + (1 - b2) * grads[k] ** 2
            params[k] -= lr * (
                (m[k] / (1 - b1**t)) / (np.sqrt(v[k] / (1 - b2**t)) + eps) + weight_decay * params[k]
            )
    if not all(np.all(np.isfinite(w)) for w in params.values()):
        raise FloatingPointError(f"train diverged (lr = {lr}, weight_decay = {weight_decay})")
    return params


def prune_lowest_ipr(params, p: int, fraction: float) -> np.ndarray:
    """The keep mask (1 = kept) that removes the `fraction` of neurons with the lowest IPR."""
    if not 0 <= fraction < 1:
        raise ValueError(f"`fraction` must be in [0, 1), got {fraction}")
    scores = ipr(params["W1"], p)
    keep = np.ones(scores.size)
    keep[np.argsort(scores)[: int(round(fraction * scores.size))]] = 0.0
    return keep
