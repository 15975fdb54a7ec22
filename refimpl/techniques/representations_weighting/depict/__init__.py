r"""DEPICT: deep clustering by a softmax layer on an autoencoder's embedding, trained towards a target
distribution whose cluster-frequency prior keeps the clusters balanced, jointly with a reconstruction loss.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.

The objective
-------------
An encoder maps x to an embedding z; a softmax layer gives soft cluster assignments
:math:`p_{ik} = \mathrm{softmax}_k(\theta_k^\top z_i + b_k)`.  DEPICT fits P to an auxiliary target Q chosen to
minimise the relative entropy to P *plus* the relative entropy of the cluster frequencies
:math:`f_k = \frac1N\sum_i q_{ik}` to a uniform prior u:

.. math::

    \min_Q\ \mathrm{KL}(Q\,\|\,P) + \mathrm{KL}(f\,\|\,u),

whose minimiser is (`depict_target`)

.. math::

    q_{ik} = \frac{p_{ik} / (\sum_{i'} p_{i'k})^{1/2}}{\sum_{k'} p_{ik'} / (\sum_{i'} p_{i'k'})^{1/2}} .

(Setting the derivative of the Lagrangian to zero gives :math:`\log(q_{ik}/p_{ik}) + \log(K f_k) + c_i = 0`, so
:math:`q_{ik}\propto p_{ik}/f_k`; with :math:`f_k\propto\sum_i q_{ik}\approx\sum_i p_{ik}/f_k` — row normalisation
ignored — :math:`f_k\propto(\sum_i p_{ik})^{1/2}`, the target above: a big cluster's targets are damped, a small
one's raised.)  With Q fixed, the network minimises the cross-entropy :math:`-\frac1N\sum_{i,k} q_{ik}\log\tilde p_{ik}`
where :math:`\tilde p` comes from a *corrupted* input (the noisy pathway) and Q from the clean one, plus the
autoencoder's reconstruction loss as a data-dependent regulariser; Q is re-estimated every epoch
(alternating optimisation).

Without the frequency prior the minimiser is Q = P and nothing is learned; the usual prior-free alternative is
self-training on hard pseudo-labels, :math:`q_{ik} = [k = \arg\max_{k'} p_{ik'}]` (`hard_target`), which lets large
clusters absorb small ones.  DEC's target (Xie et al. 2016, arXiv 1511.06335), :math:`q_{ik}\propto p_{ik}^2/\sum_i
p_{ik}`, is shown for comparison (`dec_target`).

What is read and what is reconstructed
--------------------------------------
Reconstructed: the arXiv id and abstract were confirmed (ICCV 2017); the full text and the official code
were not read here.  The target above, the clean/noisy pathways and the joint reconstruction loss follow the
abstract's description and general knowledge of the paper.  Ours: a fully connected autoencoder on 8×8 digits
(the paper's is convolutional, with a reconstruction loss at every layer; here only at the output), Gaussian
input noise, k-means initialisation of the softmax layer from a briefly pretrained autoencoder, and all sizes.

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/representations-weighting/depict.ipynb
"""

from __future__ import annotations

import numpy as np

from .... import nn
from ....autograd.tensor import Tensor

CATALOG_ENTRY = {
    "slug": "depict",
    "title": "Deep Clustering via Joint Convolutional Autoencoder Embedding and Relative Entropy Minimization",
    "authors": "Kamran Ghasedi Dizaji, Amirhossein Herandi, Cheng Deng, Weidong Cai, Heng Huang",
    "year": 2017,
    "arxiv": "1704.06327",
    "family": "representations-weighting",
    "notebook": "notebooks/representations-weighting/depict.ipynb",
    "verified": "reconstructed",
    "verification_note": (
        "arXiv id and abstract confirmed (ICCV 2017); the full text and the official code were not read here.  "
        "The frequency-regularised target q ∝ p/(Σ_i p)^{1/2}, the clean/noisy pathways and the joint "
        "reconstruction loss follow the abstract and general knowledge of the paper; the derivation of the "
        "target is written out in the docstring.  Ours: a fully connected autoencoder on 8×8 digits with an "
        "output reconstruction loss only, Gaussian input noise, k-means initialisation of the softmax layer."
    ),
    "summary": (
        "Deep clustering: a softmax layer on an autoencoder's embedding is trained towards a target "
        "distribution that divides each soft assignment by the square root of its cluster's total, a "
        "cluster-frequency prior that keeps clusters balanced, jointly with the reconstruction loss.  Compared "
        "with k-means on the autoencoder's features and with prior-free self-training on hard pseudo-labels."
    ),
    "equations": [
        "p_ik = softmax_k(θ_kᵀ z_i + b_k),  z = encoder(x)",
        "min_Q KL(Q ‖ P) + KL(f ‖ u),  f_k = (1/N) Σ_i q_ik",
        "q_ik = p_ik (Σ_i' p_i'k)^{-1/2} / Σ_k' p_ik' (Σ_i' p_i'k')^{-1/2}",
        "L = −(1/N) Σ_ik q_ik log p̃_ik + λ (1/N) Σ_i ‖x_i − x̂(x̃_i)‖²   (p̃, x̂ from the corrupted input x̃)",
    ],
}


def _probabilities(P, fn):
    P = np.asarray(P, dtype=np.float64)
    if P.ndim != 2 or P.shape[1] < 2:
        raise ValueError(f"{fn}: `P` must be (n, k) soft assignments with k ≥ 2, got shape {P.shape}")
    if np.any(P < 0) or not np.allclose(P.sum(1), 1.0, atol=1e-6):
        raise ValueError(f"{fn}: every row of `P` must be a probability vector")
    return P


def depict_target(P) -> np.ndarray:
    """q_ik ∝ p_ik / (Σ_i p_ik)^{1/2}, rows normalised: the frequency-regularised target."""
    P = _probabilities(P, "depict_target")
    Q = P / np.sqrt(P.sum(0, keepdims=True))
    return Q / Q.sum(1, keepdims=True)


def dec_target(P) -> np.ndarray:
    """DEC's target q_ik ∝ p_ik² / Σ_i p_ik, rows normalised (for comparison)."""
    P = _probabilities(P, "dec_target")
    Q = P**2 / P.sum(0, keepdims=True)
    return Q / Q.sum(1, keepdims=True)


def hard_target(P) -> np.ndarray:
    """One-hot argmax of P: self-training on hard pseudo-labels, with no frequency prior."""
    P = _probabilities(P, "hard_target")
    Q = np.zeros_like(P)
    Q[np.arange(len(P)), np.argmax(P, axis=1)] = 1.0
    return Q


TARGETS = {"depict": depict_target, "dec": dec_target, "hard": hard_target}


def target_objective(Q, P) -> float:
    """KL(Q ‖ P) summed over points, plus N·KL(f ‖ u) with f_k = (1/N) Σ_i q_ik (the quantity the DEPICT
    target minimises; rows of Q and P are probability vectors)."""
    Q, P = np.asarray(Q, np.float64), np.asarray(P, np.float64)
    n, k = Q.shape
    f = Q.mean(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        kl_qp = np.where(Q > 0, Q * np.log(Q / P), 0.0).sum()
        kl_fu = np.where(f > 0, f * np.log(f * k), 0.0).sum()
    return float(kl_qp + n * kl_fu)


class ClusteringAutoencoder(nn.Module):
    """Encoder 64 → h → d, decoder d → h → 64, and a softmax (linear) clustering layer d → k."""

    def __init__(self, d_in: int, hidden: int, d_embed: int, k: int, seed: int):
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Linear(d_in, hidden, rng=[seed, 1]), nn.ReLU(), nn.Linear(hidden, d_embed, rng=[seed, 2])
        )
        self.decoder = nn.Sequential(
            nn.Linear(d_embed, hidden, rng=[seed, 3]), nn.ReLU(), nn.Linear(hidden, d_in, rng=[seed, 4])
        )
        self.head = nn.Linear(d_embed, k, rng=[seed, 5])

    def forward(self, x):
        z = self.encoder(x)
        return self.head(z), self.decoder(z)

    def embed(self, x) -> np.ndarray:
        from ....autograd.tensor import no_grad

        with no_grad():
            return self.encoder(Tensor(np.asarray(x, np.float32))).data

    def assignments(self, x) -> np.ndarray:
        """P (n, k): the clean pathway's soft assignments."""
        from ....autograd.tensor import no_grad

        with no_grad():
            logits, _ = self(Tensor(np.asarray(x, np.float32)))
            return logits.softmax(-1).data.astype(np.float64)


def clustering_loss(logits, Q, reconstruction, x_clean, reconstruction_weight: float):
    """−(1/N) Σ q_ik log p̃_ik + λ (1/N) Σ ‖x − x̂‖² on a minibatch (logits and x̂ from the noisy pathway)."""
    ce = -(Tensor(np.asarray(Q, np.float32)) * logits.log_softmax(-1)).sum(axis=1).mean()
    rec = ((reconstruction - Tensor(np.asarray(x_clean, np.float32))) ** 2).sum(axis=1).mean()
    return ce + reconstruction_weight * rec
