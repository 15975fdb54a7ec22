r"""Equiangular Basis Vectors (EBVs): a classifier whose k class vectors are fixed before training — unit
vectors in the embedding space that are pairwise as near orthogonal as the dimension allows — so that only
the embedding network is learned, and a prediction is the nearest class vector.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.

The method
----------
**Generating the EBVs (Sec. 3 of the paper; official `Generate_EBV/Generate_EBV.py`).**  Draw k Gaussian
vectors in :math:`\mathbb{R}^d` and normalise them to the sphere.  With a threshold α on the absolute cosine,
minimise the hinge on every ordered pair above it,

.. math::

    \mathcal{L}_{\mathrm{gen}}(W) = \sum_{i\neq j} \max\bigl(0,\ |w_i^\top w_j| - \alpha\bigr),
    \qquad \|w_i\| = 1,

by plain gradient descent, projecting back to the sphere (renormalising each row) before every step, and stop
as soon as :math:`\max_{i\neq j}|w_i^\top w_j| \le \alpha` (+10⁻⁴, as the official code does).  Its gradient is
:math:`\partial\mathcal{L}/\partial W = 2SW` with :math:`S_{ij} = \mathrm{sign}(w_i^\top w_j)\,
[|w_i^\top w_j| > \alpha]` for i ≠ j (`generation_gradient`; a test checks it by finite differences).  For
k ≤ d the orthonormal set reaches α = 0; for k > d the bound cannot be zero — the frame potential gives
:math:`\sum_{i\neq j}(w_i^\top w_j)^2 \ge k^2/d - k`, so :math:`\max|\cos| \ge \sqrt{(k-d)/(d(k-1))}`
(Welch) — and the generator spreads the vectors until the largest cosine is at the threshold (or stalls
above it).  The loss sees only pairs above α, so the vectors are "equiangular" in the sense of a common
*bound* on the angle, not an equal angle.

**Training (Sec. 3, the classification objective; official `ImageNet_Validation_Experiment/EBV_ImageNet.py`).**
The network's output f(x) ∈ ℝ^d is normalised, :math:`z = f(x)/\|f(x)\|`, the logits are the cosines to the
fixed EBVs divided by a temperature, and the loss is their softmax cross-entropy:

.. math::

    \mathcal{L}(x, y) = -\log \frac{\exp(z^\top w_y/\tau)}{\sum_{c=1}^{k} \exp(z^\top w_c/\tau)} ,

(τ = 0.07 in the official ImageNet run).  Inference picks :math:`\hat y = \arg\max_c z^\top w_c`, the EBV at
the smallest spherical distance.  The head has no parameters: its size does not grow with k.

Compared heads (all in `FixedHeadClassifier` except the learned FC head): the EBVs; **random** fixed unit
vectors (the same head without the equiangular optimisation — `random_unit_vectors`); and, where k ≤ d + 1, the
**simplex ETF** (`simplex_etf`, cos = −1/(k−1) for every pair, the fixed classifier of neural-collapse work).

What is read and what is ours
-----------------------------
The generator and the training objective were checked against the official code (the two files named above):
the hinge on |cos| − α summed over ordered pairs, renormalisation before each SGD step, the stopping rule, the
normalised embedding and the cosine/τ logits.  The paper's method section itself was not available here, so
formulas are cited by section and code file, not by equation number.  Ours: NumPy gradient descent with a
step size scaled for small k, a step budget, and the choice of α per setting (see `experiment.py`).

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/representations-weighting/equiangular-basis-vectors.ipynb
"""

from __future__ import annotations

import numpy as np

from .... import nn
from ....autograd.tensor import Tensor

CATALOG_ENTRY = {
    "slug": "equiangular-basis-vectors",
    "title": "Equiangular Basis Vectors",
    "authors": "Yang Shen, Xuhao Sun, Xiu-Shen Wei",
    "year": 2023,
    "arxiv": "2303.11637",
    "family": "representations-weighting",
    "notebook": "notebooks/representations-weighting/equiangular-basis-vectors.ipynb",
    "verified": "official-code",
    "verification_note": (
        "Checked against the official code (NJUST-VIPGroup/Equiangular-Basis-Vectors): "
        "Generate_EBV/Generate_EBV.py (hinge on |cos| − α over ordered pairs, SGD with renormalisation, stop at "
        "max|cos| ≤ α + 1e-4) and ImageNet_Validation_Experiment/EBV_ImageNet.py (normalised embedding, logits "
        "z·Wᵀ/τ, cross-entropy, argmax prediction).  The paper's abstract was read; its method section was not "
        "available, so formulas are cited by section and code file.  Ours: NumPy generator with a step budget, "
        "small MLP embeddings, the 8×8 digits and a synthetic 100-class Gaussian task."
    ),
    "summary": (
        "Replace the learned k-way classifier by k fixed unit vectors whose pairwise |cos| is pushed below a "
        "threshold α by gradient descent on the sphere (possible even when k > d); train a normalised "
        "embedding with softmax cross-entropy over its cosines to them divided by τ; predict the nearest "
        "vector.  Compared with a learned FC head, fixed random unit vectors and (k ≤ d+1) a simplex ETF."
    ),
    "equations": [
        "L_gen(W) = Σ_{i≠j} max(0, |w_iᵀw_j| − α),  ‖w_i‖ = 1 (renormalised each step)",
        "stop when max_{i≠j} |w_iᵀw_j| ≤ α",
        "z = f(x)/‖f(x)‖,  L = −log softmax_y(z Wᵀ / τ)",
        "ŷ = argmax_c z·w_c",
    ],
}


def _unit_rows(W, name: str, fn: str) -> np.ndarray:
    W = np.asarray(W, dtype=np.float64)
    if W.ndim != 2 or W.shape[0] < 2:
        raise ValueError(f"{fn}: `{name}` must be a (k, d) array with k ≥ 2 rows, got shape {W.shape}")
    n = np.linalg.norm(W, axis=1)
    if np.any(n == 0) or not np.all(np.isfinite(W)):
        raise ValueError(f"{fn}: every row of `{name}` must be finite and nonzero")
    return W / n[:, None]


def _check_kd(k, d, fn):
    if int(k) != k or k < 2:
        raise ValueError(f"{fn}: `k` must be an integer ≥ 2, got {k!r}")
    if int(d) != d or d < 1:
        raise ValueError(f"{fn}: `d` must be an integer ≥ 1, got {d!r}")


def cosine_matrix(W) -> np.ndarray:
    """The (k, k) Gram matrix of the rows of W after normalising them."""
    W = _unit_rows(W, "W", "cosine_matrix")
    return W @ W.T


def max_abs_cos(W) -> float:
    """max_{i≠j} |cos(w_i, w_j)|: the quantity the generator drives below α."""
    G = np.abs(cosine_matrix(W))
    np.fill_diagonal(G, -np.inf)
    return float(G.max())


def welch_bound(k: int, d: int) -> float:
    """A lower bound on max|cos| of any k unit vectors in ℝ^d: √((k − d)/(d(k − 1))) for k > d, else 0."""
    _check_kd(k, d, "welch_bound")
    return float(np.sqrt((k - d) / (d * (k - 1)))) if k > d else 0.0


def random_unit_vectors(k: int, d: int, rng) -> np.ndarray:
    """k Gaussian vectors normalised to the unit sphere of ℝ^d (the generator's start; the random head)."""
    _check_kd(k, d, "random_unit_vectors")
    W = np.random.default_rng(rng).standard_normal((k, d))
    return W / np.linalg.norm(W, axis=1, keepdims=True)


def simplex_etf(k: int, d: int) -> np.ndarray:
    """The simplex equiangular tight frame: k unit vectors with cos = −1/(k−1) for every pair, in the first
    k − 1 coordinates of ℝ^d (needs k ≤ d + 1).  Built as the centred one-hot vectors expressed in an
    orthonormal (Helmert) basis of the plane Σ x = 0."""
    _check_kd(k, d, "simplex_etf")
    if k > d + 1:
        raise ValueError(f"simplex_etf: needs k ≤ d + 1, got k = {k}, d = {d}")
    C = np.eye(k) - 1.0 / k  # centred one-hot vectors (rows)
    H = np.zeros((k, k - 1))  # Helmert basis of {x : Σ x = 0}
    for j in range(1, k):
        H[:j, j - 1] = 1.0
        H[j, j - 1] = -j
        H[:, j - 1] /= np.sqrt(j * (j + 1))
    M = C @ H
    M /= np.linalg.norm(M, axis=1, keepdims=True)
    return np.pad(M, ((0, 0), (0, d - (k - 1))))


def generation_loss(W, alpha: float) -> float:
    """Σ_{i≠j} max(0, |w_iᵀ w_j| − α) over ordered pairs (rows of W taken as they are)."""
    W = np.asarray(W, np.float64)
    M = np.abs(W @ W.T)
    np.fill_diagonal(M, 0.0)
    return float(np.maximum(M - alpha, 0.0)[~np.eye(len(W), dtype=bool)].sum())


def generation_gradient(W, alpha: float) -> np.ndarray:
    """∂L_gen/∂W = 2 S W with S_ij = sign(w_iᵀ w_j)·[|w_iᵀ w_j| > α] (i ≠ j), S symmetric."""
    W = np.asarray(W, np.float64)
    G = W @ W.T
    S = np.sign(G) * (np.abs(G) > alpha)
    np.fill_diagonal(S, 0.0)
    return 2.0 * S @ W


def generate_ebv(
    k: int, d: int, alpha: float, *, lr: float = 1e-3, steps: int = 5000, seed: int = 0, tol: float = 1e-4
) -> tuple[np.ndarray, dict]:
    """Generate k EBVs in ℝ^d: gradient descent on L_gen with renormalisation before each step, stopping at
    max|cos| ≤ α + tol.  Returns (W (k, d) with unit rows, info {"max_abs_cos", "steps", "reached"})."""
    _check_kd(k, d, "generate_ebv")
    if not 0.0 <= alpha < 1.0:
        raise ValueError(f"generate_ebv: `alpha` must be in [0, 1), got {alpha!r}")
    if lr <= 0 or steps < 1:
        raise ValueError(f"generate_ebv: `lr` must be > 0 and `steps` ≥ 1, got lr={lr!r}, steps={steps!r}")
    W = random_unit_vectors(k, d, seed)
    best, best_mx = W, np.inf
    for step in range(steps):
        W = W / np.linalg.norm(W, axis=1, keepdims=True)  # back to the sphere
        mx = max_abs_cos(W)
        if mx < best_mx:
            best, best_mx = W.copy(), mx
        if mx <= alpha + tol:  # the official stopping rule
            return W, {"max_abs_cos": mx, "steps": step, "reached": True}
        W = W - lr * generation_gradient(W, alpha)
    return best, {"max_abs_cos": best_mx, "steps": steps, "reached": False}


def ebv_logits(z, W, tau: float):
    """Cosines of the embeddings to the fixed class vectors, over τ: normalise(z) Wᵀ / τ (a Tensor op)."""
    if tau <= 0:
        raise ValueError(f"ebv_logits: `tau` must be > 0, got {tau!r}")
    W = _unit_rows(W, "W", "ebv_logits")
    z = z if isinstance(z, Tensor) else Tensor(np.asarray(z, np.float64))
    zn = z / (((z * z).sum(axis=1, keepdims=True) + 1e-12) ** 0.5)
    return zn @ Tensor(W.T.astype(z.data.dtype)) * (1.0 / tau)


def ebv_loss(z, y, W, tau: float):
    """The EBV training loss: mean over the batch of −log softmax_y(normalise(z) Wᵀ / τ)."""
    from ....nn import functional as F

    return F.cross_entropy(ebv_logits(z, W, tau), np.asarray(y))


def ebv_predict(z, W) -> np.ndarray:
    """argmax_c cos(z, w_c): the nearest class vector on the sphere."""
    z = np.asarray(z, np.float64)
    return np.argmax(z @ _unit_rows(W, "W", "ebv_predict").T, axis=1)


class FixedHeadClassifier(nn.Module):
    """A learned embedding f (any Module) followed by fixed unit class vectors W: forward returns the logits
    normalise(f(x)) Wᵀ / τ, so the ordinary cross-entropy is the EBV loss and argmax is the EBV prediction."""

    def __init__(self, embed: nn.Module, W, tau: float):
        super().__init__()
        if tau <= 0:
            raise ValueError(f"FixedHeadClassifier: `tau` must be > 0, got {tau!r}")
        self.embed = embed
        self.W = _unit_rows(W, "W", "FixedHeadClassifier").astype(np.float32)
        self.tau = float(tau)

    def forward(self, x):
        return ebv_logits(self.embed(x), self.W, self.tau)
