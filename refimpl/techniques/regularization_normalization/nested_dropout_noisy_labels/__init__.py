r"""Nested dropout on the feature layer against noisy labels, then co-teaching fine-tuning of two such
networks.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.  The
journal extension is "Compressing Features for Learning with Noisy Labels" (same authors with C. Ai,
IEEE TNNLS 2022, arXiv 2206.13140); both papers share one official repository,
github.com/yingyichen-cyy/Nested-Co-teaching (line numbers below are of its snapshot at commit 9a2fc40).
Only the abstract and the repository's README of the papers were available here, so the protocol below
follows the official code; the paper's own equation numbers could not be checked, and formula lines are
tagged with the file and line of the code they follow.

The idea
--------
A network memorises wrong labels after it has fitted the clean ones.  A *compression* bias delays that:
**nested dropout** (Rippel et al., 2014) on the D-dimensional feature vector h — the input of a linear,
bias-free classifier W (D → C) — keeps only the first K units, with one K drawn per minibatch,

$$ \tilde h = h \odot m_K,\quad m_K = (\underbrace{1,\dots,1}_{K},0,\dots,0),\qquad
   p(K = k) \propto \exp\!\big(-((k-\mu)/\sigma)^2\big),\ k = 1..D,\ \mu = 0 $$

(`GaussianDist`, nested/train_resnet.py l. 83–87; the draw and the mask without rescaling, l. 214–217).
Since the classifier is linear and bias-free, the logits of the first K units are a prefix sum,

$$ z^{(K)} = \sum_{j=1}^{K} h_j\, W_{:,j}, $$

so every K costs one cumulative sum, and the gradient of the loss reaches only the first K units and the
first K columns of W (∂z^{(K)}/∂h_j = W_{:,j}·[j ≤ K]).  Early units get gradient from every draw, late ones
only from the rare large K: the units are ordered by importance and a short prefix is a compressed
classifier.  At evaluation every K is tried on the validation split and the best (K, checkpoint) is
kept, ties to the smaller K (`TestNested`, l. 93–141; the −1e−5·index tie-break is l. 122).

**Stage two: co-teaching fine-tuning** (co_teaching_resnet/).  Two networks trained by stage one are
loaded (main.py l. 73–88) and fine-tuned together.  Each minibatch is cut into two halves (train.py
`groupClsData`, l. 18–28); with both networks in evaluation mode and their features cut at the validated
K (l. 131–137), network 1 ranks half 1 and network 2 ranks half 2 by per-sample cross-entropy, and each
keeps the fraction 1 − τ with the smallest loss (loss.py `SampleSelection`, l. 9–21).  Network 1 then
learns on the samples of half 2 that network 2 kept, and vice versa, with a fresh nested-dropout K drawn
for the step, shared by both (loss.py `Classification`, l. 25–45).  The forget rate τ is constant in this
stage (`--nGradual 0` in every fine-tuning command, co_teaching_resnet/run_*.sh; main.py l. 91–92 ramp it
linearly over the first nGradual epochs otherwise — the "co-teaching from scratch" runs use the default 5).
At inference the two networks' logits are averaged, (z₁ + z₂)/2, at every K, and the best K on validation
is kept (train.py `Evaluation`, l. 172–217; test.py l. 76–90).

What is implemented, and deviations
-----------------------------------
* `gaussian_truncation_dist` (and Rippel's geometric one for comparison), `nested_mask`, `nested_dropout`,
  `prefix_logits` (all K at once), `best_k`, `forget_rate_schedule`, `co_teaching_select`,
  `co_teaching_losses` (one stage-two step's two losses) and `averaged_logits`;
  `NestedNet`: an MLP feature extractor and a bias-free classifier whose forward draws K per call in
  training mode and cuts at its validated `k` in evaluation mode.
* The paper's ResNet-18 / VGG-19 on Clothing1M, ANIMAL-10N and CIFAR become an MLP on the 8×8 digits with
  symmetric label noise; Adam instead of SGD with momentum and weight decay; no learning-rate warm-up.  The
  official validation splits are clean; here the validation labels carry the same noise as the training
  labels (a practitioner's situation; `tasks.digits("label_noise")`).
* σ is tuned on validation (the official scripts fix it per data set: 10 or 100 for D = 512).

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/regularization-normalization/nested-dropout-noisy-labels.ipynb
"""

from __future__ import annotations

import numpy as np

from ....autograd import ops
from ....autograd.tensor import Tensor, no_grad
from ....nn import functional as F
from ....nn.layers.linear import Linear
from ....nn.module import Module

CATALOG_ENTRY = {
    "slug": "nested-dropout-noisy-labels",
    "title": "Boosting Co-teaching with Compression Regularization for Label Noise",
    "authors": "Yingyi Chen, Xi Shen, Shell Xu Hu, Johan A. K. Suykens",
    "year": 2021,
    "arxiv": "2104.13766",
    "family": "regularization-normalization",
    "notebook": "notebooks/regularization-normalization/nested-dropout-noisy-labels.ipynb",
    "verified": "official-code",
    "verification_note": (
        "Checked against yingyichen-cyy/Nested-Co-teaching (snapshot 9a2fc40): Gaussian truncation "
        "distribution (nested/train_resnet.py l. 83-87), one K per batch and unscaled first-K masks (l. 214-217, "
        "325-329), best K on validation with the -1e-5*index tie-break and best-checkpoint keeping (l. 93-141); "
        "stage two: batch halves (co_teaching_resnet/train.py l. 18-28), selection at the validated K in eval "
        "mode (l. 131-137), SampleSelection and cross-update (loss.py l. 9-45), constant forget rate "
        "(main.py l. 91-92 with --nGradual 0 in run_*.sh), two-network logit average over every K "
        "(train.py l. 172-217, test.py l. 76-90). Of the paper only the abstract and the repository README "
        "were read (equation numbers not checked)."
    ),
    "summary": (
        "Against noisy labels, compress the feature layer with nested dropout: keep only the first K feature "
        "units, K random per batch, so features are ordered by importance and a short prefix, chosen on "
        "validation, classifies; then fine-tune two such networks with co-teaching (each learns on the "
        "samples its peer finds easy, constant forget rate) and average their logits at inference."
    ),
    "equations": [
        "h̃ = h ⊙ m_K,  m_K = (1,…,1 [K times], 0,…,0),  p(K = k) ∝ exp(−((k − μ)/σ)²), μ = 0",
        "z⁽ᴷ⁾ = Σ_{j≤K} h_j W_{:,j};  K* = argmax_K val-acc(z⁽ᴷ⁾)",
        "co-teaching: net 1 learns on the (1 − τ) smallest-loss samples of net 2 and vice versa; τ constant",
        "inference: (z₁⁽ᴷ*⁾ + z₂⁽ᴷ*⁾)/2",
    ],
}


# --- the truncation distribution and the mask ------------------------------------------------------------
def gaussian_truncation_dist(mu: float, sigma: float, d: int) -> np.ndarray:
    """p(K = k) ∝ exp(−((k − μ)/σ)²) for k = 1..d (nested/train_resnet.py l. 83–87, `GaussianDist`)."""
    if sigma <= 0 or d < 1:
        raise ValueError(f"gaussian_truncation_dist: need sigma > 0 and d ≥ 1, got sigma={sigma}, d={d}")
    k = np.arange(1, d + 1)
    p = np.exp(-(((k - mu) / sigma) ** 2))  # train_resnet.py l. 85
    return p / p.sum()


def geometric_truncation_dist(p: float, d: int) -> np.ndarray:
    """p(K = k) = p(1 − p)^{k−1}, truncated to k = 1..d and renormalised (Rippel et al., 2014; for comparison)."""
    if not 0 < p <= 1:
        raise ValueError(f"geometric_truncation_dist: `p` must be in (0, 1], got {p}")
    k = np.arange(1, d + 1)
    q = p * (1 - p) ** (k - 1)
    return q / q.sum()


def nested_mask(k: int, d: int) -> np.ndarray:
    """m_K = (1,…,1, 0,…,0) with k ones (train_resnet.py l. 325–329)."""
    if not 1 <= k <= d:
        raise ValueError(f"nested_mask: `k` must be in [1, {d}], got {k}")
    m = np.zeros(d)
    m[:k] = 1.0
    return m


def nested_dropout(h, k: int):
    """h̃ = h ⊙ m_K: keep the first k feature units of h (…, D), no rescaling (train_resnet.py l. 216–217)."""
    return h * nested_mask(k, h.shape[-1]).astype(h.dtype)


def prefix_logits(h: np.ndarray, w: np.ndarray) -> np.ndarray:
    """z⁽ᴷ⁾ = Σ_{j≤K} h_j W_{:,j} for every K at once: (N, D) features, (C, D) bias-free classifier →
    (D, N, C), entry K−1 the logits of the first K units (what `TestNested` computes K by K, l. 110–112)."""
    return np.cumsum(h[:, :, None] * w.T[None, :, :], axis=1).transpose(1, 0, 2)


def best_k(acc_per_k) -> int:
    """K* = argmax_K (acc_K − 1e−5·(K−1)): the best K, ties to the smaller one (train_resnet.py l. 122)."""
    acc = np.asarray(acc_per_k, dtype=np.float64)
    return int(np.argmax(acc - 1e-5 * np.arange(len(acc)))) + 1


# --- co-teaching (stage two) ------------------------------------------------------------------------------
def forget_rate_schedule(epochs: int, tau: float, n_gradual: int = 0) -> np.ndarray:
    """τ per epoch: constant τ, after a linear ramp 0 → τ over the first `n_gradual` epochs
    (co_teaching_resnet/main.py l. 91–92; the fine-tuning stage uses n_gradual = 0)."""
    if not 0 <= tau < 1:
        raise ValueError(f"forget_rate_schedule: `tau` must be in [0, 1), got {tau}")
    rate = np.full(epochs, float(tau))  # main.py l. 91
    n = min(n_gradual, epochs)
    rate[:n] = np.linspace(0.0, tau, n_gradual)[:n]  # main.py l. 92
    return rate


def co_teaching_select(loss1, loss2, rate: float):
    """Indices of the ⌊(1 − rate)·n⌋ smallest losses of each network, in increasing order of loss (loss.py
    `SampleSelection`, l. 9–21): network 1 then learns on its peer's `idx2`, network 2 on `idx1`."""
    loss1, loss2 = np.asarray(loss1), np.asarray(loss2)
    n_keep = int((1 - rate) * len(loss1))  # loss.py l. 15–16
    return np.argsort(loss1, kind="stable")[:n_keep], np.argsort(loss2, kind="stable")[:n_keep]


def co_teaching_losses(net1, net2, x1, y1, x2, y2, rate: float, k_train: int | None):
    """One stage-two step's losses (train.py l. 129–143, loss.py l. 9–45).  Network 1 ranks its half
    (x1, y1) and network 2 ranks (x2, y2), in evaluation mode at their validated K without gradient; then,
    in training mode with the shared nested-dropout size `k_train` (None: full features), network 1's loss
    is on the samples of half 2 that network 2 kept, network 2's on those of half 1 that network 1 kept."""
    with no_grad():
        net1.eval(), net2.eval()
        l1 = F.cross_entropy(net1(Tensor(x1)), y1, reduction="none").data  # train.py l. 133–137
        l2 = F.cross_entropy(net2(Tensor(x2)), y2, reduction="none").data
    i1, i2 = co_teaching_select(l1, l2, rate)
    net1.train(), net2.train()
    loss1 = F.cross_entropy(net1.logits(Tensor(x2[i2]), k_train), y2[i2])  # loss.py l. 27, 42
    loss2 = F.cross_entropy(net2.logits(Tensor(x1[i1]), k_train), y1[i1])  # loss.py l. 28, 43
    return loss1, loss2


def averaged_logits(net1, net2, x: np.ndarray) -> np.ndarray:
    """(z₁⁽ᴷ⁾ + z₂⁽ᴷ⁾)/2 for every K: (D, N, C) (train.py l. 189–193; test.py l. 90)."""
    return 0.5 * (net1.all_k_logits(x) + net2.all_k_logits(x))


# --- the network ------------------------------------------------------------------------------------------
class NestedNet(Module):
    """Features h = ReLU MLP (in → hidden → D) and a bias-free linear classifier D → C (the official
    `NetClassifier`).  `sigma` > 0 turns nested dropout on: in training mode each call draws one K from
    p(K) (its own generator); in evaluation mode the features are cut at `self.k` (the validated K;
    default D).  `sigma=None` is the plain network."""

    def __init__(self, d_in=64, hidden=128, d=32, classes=10, sigma=None, rng=None, dtype=np.float32):
        super().__init__()
        rng = np.random.default_rng(rng)
        self.d, self.sigma, self.k = d, sigma, d
        self.fc1 = Linear(d_in, hidden, dtype=dtype, rng=rng)
        self.fc2 = Linear(hidden, d, dtype=dtype, rng=rng)
        self.cls = Linear(d, classes, bias=False, dtype=dtype, rng=rng)
        self.dist = None if sigma is None else gaussian_truncation_dist(0.0, sigma, d)
        self._draws = np.random.default_rng(rng.integers(2**32))

    def features(self, x):
        return ops.relu(self.fc2(ops.relu(self.fc1(x))))

    def sample_k(self) -> int | None:
        """One K ~ p(K) (train_resnet.py l. 215), or None for the plain network."""
        return None if self.dist is None else int(self._draws.choice(self.d, p=self.dist)) + 1

    def logits(self, x, k: int | None):
        h = self.features(x)
        return self.cls(h if k is None or k == self.d else nested_dropout(h, k))

    def forward(self, x):
        return self.logits(x, self.sample_k() if self.training else self.k)

    def all_k_logits(self, x: np.ndarray) -> np.ndarray:
        """(D, N, C): the logits of the first K features for every K (no gradient)."""
        with no_grad():
            h = self.features(Tensor(x)).data
        return prefix_logits(h, self.cls.weight.data)
