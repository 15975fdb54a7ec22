r"""Weight balancing on long-tailed data, explained — and the one-stage method it leads to.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.
Official code: github.com/HN410/Exploring-Weight-Balancing-on-Long-Tailed-Recognition-Problem
(`utils/regularizers.py`, `utils/model_units.py`, `utils/eval_funcs.py`, `jsons/*/first.json`,
`second.json`), built on the code of the analysed method, github.com/ShadeAlsha/LTR-weight-balancing
(`utils/regularizers.py`, `utils/trainval.py`, `demo2_second-stage-training.py`).  The paper's body was
not available to us: formula lines cite the code (file and function), not equation numbers.

The problem
-----------
Train on data whose classes have very different sizes $n_1 \ge \dots \ge n_C$, test on balanced data.
A classifier trained with cross-entropy (CE) learns the training prior: the head classes' weight vectors
$w_c$ grow larger than the tail's, and tail examples are pulled to head classes.

Weight balancing (WB, Alshammari et al. 2022) trains in two stages:

1. the whole network with CE and strong weight decay (WD, $\lambda_1\|\theta\|^2/2$ added to the loss);
2. the linear classifier alone on frozen features, with the class-balanced (CB) loss, WD $\lambda_2$ and a
   per-class MaxNorm constraint by projected gradient descent: after each epoch (`trainval.py`: `pgdFunc.PGD`
   once per training phase) $w_c \leftarrow w_c \min(1, \delta/\|w_c\|)$, the threshold
   $\delta = \min_c\|w_c\| + t(\max_c\|w_c\| - \min_c\|w_c\|)$ taken once from the stage-1 classifier
   (`MaxNorm_via_PGD.setPerLayerThresh`, $t = 0.1$; the bias is left unconstrained).

The CB loss (Cui et al. 2019; official "softmax" variant of `CB_loss`) weighs class $c$ by
$\omega_c \propto (1-\beta)/(1-\beta^{n_c})$, normalised to $\sum_c\omega_c = C$, and applies it to a
binary cross-entropy on the softmax probabilities, averaged over the N×C entries.

What Hasegawa & Sato find
-------------------------
*Stage 1.*  WD with CE raises the **Fisher discriminant ratio** of the features (`eval_funcs.calc_fdr`):

$$ \mathrm{FDR} = \mathrm{tr}\big(S_W^{-1}S_B\big),\quad S_B = \sum_c n_c(\mu_c-\mu)(\mu_c-\mu)^\top,\quad
   S_W = \sum_c\sum_{i:y_i=c}(h_i-\mu_c)(h_i-\mu_c)^\top $$

(features better separated relative to their spread; the official code also drops constant feature
dimensions first).  *Stage 2.*  WD with the CB loss acts as an implicit **logit adjustment**: it
reallocates the classifier's norms toward the tail classes.  Hence the one-stage method: train once with
WD, a **feature regulariser** (FR, `set_features_regularization`: $\lambda_F \frac1N\sum_i\|h_i\|^2/2$
added to the loss) and a **fixed simplex-ETF classifier** (`ETFClassifier`; only its bias is trained,
and WD skips it: `calc_decayed_labels`), then adjust the logits **multiplicatively** after training
(`LogitAdjuster` with `use_additive_logit_adjustment: false`, `second.json`):

$$ \mathcal L = \mathrm{CE}\big(M h(x) + b,\ y\big) + \frac{\lambda}{2}\|\theta\|^2 + \frac{\lambda_F}{2}\,
   \frac1N\sum_i\|h(x_i)\|^2,\qquad
   M = \sqrt{\tfrac{C}{C-1}}\,\big(U (I_C - \tfrac1C \mathbf 1\mathbf 1^\top)\big)^\top $$

$$ \hat z_c = z_c \cdot \pi_c^{-\tau},\qquad \pi_c = n_c/\textstyle\sum_k n_k. $$

$M$'s rows are unit vectors with pairwise cosine $-1/(C-1)$ (the configuration neural collapse converges
to), $U$ a random $d\times C$ matrix with orthonormal columns.  With equal row norms the classifier has no
head bias of its own; the adjustment then multiplies class $c$'s logit by $\pi_c^{-\tau}$, i.e. scales
its effective weight row (and bias) by $\pi_c^{-\tau}$ — the norm reallocation that WB's second stage
produced implicitly, now set by one number τ.

What is implemented, and deviations
-----------------------------------
* `class_balanced_weights`, `cb_softmax_loss`, `maxnorm_threshold`, `maxnorm_project` (WB);
  `fisher_discriminant_ratio` as the official tr(S_W⁻¹S_B) (the previous version of this module used
  tr(S_B)/tr(S_W), which is not the paper's FDR); `simplex_etf`, `ETFClassifier`,
  `feature_regularization`, `multiplicative_logit_adjustment` (and the additive one, for comparison).
* The official `LogitAdjuster` also multiplies the bias; so does ours (it scales the whole logit).
* Toy scale: an MLP feature extractor on long-tailed 8×8 digits instead of ResNet-34 on CIFAR-LT; see
  `experiment.py`.  The official τ is tuned per dataset (1.6 for CIFAR-10-LT, 0.65 for CIFAR-100-LT);
  ours is chosen on the validation split.

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/regularization-normalization/weight-balancing-longtail.ipynb
"""

from __future__ import annotations

import numpy as np

from ....autograd import ops
from ....autograd.tensor import Tensor
from ....nn import functional as F
from ....nn.module import Module, Parameter

CATALOG_ENTRY = {
    "slug": "weight-balancing-longtail",
    "title": "Exploring Weight Balancing on Long-Tailed Recognition Problem",
    "authors": "Naoya Hasegawa, Issei Sato",
    "year": 2024,
    "arxiv": "2305.16573",
    "family": "regularization-normalization",
    "notebook": "notebooks/regularization-normalization/weight-balancing-longtail.ipynb",
    "verified": "official-code",
    "verification_note": (
        "Read in HN410/Exploring-Weight-Balancing-on-Long-Tailed-Recognition-Problem: utils/regularizers.py "
        "(MaxNorm_via_PGD threshold min + t(max − min) of stage-1 row norms, bias unconstrained; WD as "
        "λ‖θ‖²/2 in the loss, skipping the ETF classifier's bias (calc_decayed_labels); FR as "
        "λ_F·mean‖h‖²/2), utils/model_units.py (ETFClassifier: √(C/(C−1))(I − 11ᵀ/C) rotated by a random "
        "orthonormal U, fixed; LogitAdjuster: multiplicative z·exp(−τ log π)), utils/eval_funcs.py "
        "(calc_fdr = tr(S_W⁻¹ S_B)), jsons/Cifar10/first.json and second.json (WD 5e-3, FR 1e-2, SGD lr "
        "0.01, cosine; post-hoc multiplicative LA τ = 1.6); WB's CB 'softmax' loss (β = 0.9999), stage-2 "
        "SGD (lr 0.01, WD 0.1, 10 epochs, cosine) and once-per-epoch MaxNorm in ShadeAlsha/"
        "LTR-weight-balancing (demo2_second-stage-training.py, utils/trainval.py). Paper: abstract read; "
        "the body was not available, so no equation numbers are quoted."
    ),
    "summary": (
        "Weight balancing (CE + weight decay, then a classifier retrained with a class-balanced loss, weight "
        "decay and MaxNorm) works on long-tailed data because weight decay raises the features' Fisher "
        "discriminant ratio and the second stage is an implicit logit adjustment. So one stage suffices: "
        "weight decay, a feature-norm regulariser and a fixed simplex-ETF classifier, then a multiplicative "
        "logit adjustment z_c·π_c^(−τ)."
    ),
    "equations": [
        "WB stage 1: min_θ CE(f_θ(x), y) + (λ₁/2)‖θ‖²                                 (regularizers.py)",
        "WB stage 2: min_W Σ ω_y BCE(softmax(W h), y) + (λ₂/2)‖W‖²,  w_c ← w_c·min(1, δ/‖w_c‖) per epoch",
        "δ = min_c ‖w_c‖ + t (max_c ‖w_c‖ − min_c ‖w_c‖),  ω_c ∝ (1 − β)/(1 − β^{n_c}), Σ_c ω_c = C",
        "FDR = tr(S_W⁻¹ S_B)                                                          (calc_fdr)",
        "one stage: min_θ CE(M h_θ(x) + b, y) + (λ/2)‖θ‖² + (λ_F/2)·mean_i ‖h_θ(x_i)‖²,  M a fixed simplex ETF",
        "M = √(C/(C−1)) (U (I − 11ᵀ/C))ᵀ,  UᵀU = I                                    (ETFClassifier)",
        "ẑ_c = z_c · π_c^(−τ),  π_c = n_c / Σ_k n_k                                   (LogitAdjuster)",
    ],
}

__all__ = [
    "class_balanced_weights",
    "cb_softmax_loss",
    "maxnorm_threshold",
    "maxnorm_project",
    "MaxNormPerEpoch",
    "fisher_discriminant_ratio",
    "simplex_etf",
    "feature_regularization",
    "multiplicative_logit_adjustment",
    "additive_logit_adjustment",
    "ETFClassifier",
    "LTNet",
]


# --- weight balancing (the analysed method) ---------------------------------------------------------------
def class_balanced_weights(counts, beta: float = 0.9999) -> np.ndarray:
    """ω_c = (1 − β)/(1 − β^{n_c}), normalised so that Σ_c ω_c = C (Cui et al., 2019; official CB_loss)."""
    counts = np.asarray(counts, dtype=np.float64)
    if np.any(counts < 1) or not 0 <= beta < 1:
        raise ValueError(
            f"class_balanced_weights: need counts ≥ 1 and 0 ≤ beta < 1, got counts={counts}, beta={beta}"
        )
    # (1 − β)/(1 − β^{n_c}): the inverse of the "effective number" of examples of class c
    w = (1.0 - beta) / (1.0 - np.power(beta, counts)) if beta > 0 else np.ones_like(counts)
    return w / w.sum() * len(counts)  # Σ_c ω_c = C


def cb_softmax_loss(logits, y, weights):
    """The official 'softmax' CB loss: mean over N×C of ω_{y_i} · BCE(softmax(z_i), onehot(y_i)),
    with log clamped at −100 as torch's binary_cross_entropy.  A probability that underflows to 0 (or a
    1 − p that does) is first raised to the dtype's smallest normal number, so that the gradient stays
    finite (torch's backward divides by max(p(1 − p), 1e-12) for the same reason)."""
    y = np.asarray(y)
    c = logits.shape[1]
    t = F.one_hot(y, c, dtype=logits.dtype)
    p = ops.softmax(logits, -1)
    floor = np.asarray(-100.0, dtype=logits.dtype)
    tiny = np.asarray(np.finfo(logits.dtype).tiny, dtype=logits.dtype)  # keeps 1/p finite where p underflows
    logp = ops.maximum(ops.log(ops.maximum(p, tiny)), floor)  # max(log p, −100), as torch's BCE
    log1mp = ops.maximum(ops.log(ops.maximum(1.0 - p, tiny)), floor)
    bce = -(logp * t + log1mp * (1.0 - t))  # BCE(p, onehot)
    w = np.asarray(weights, dtype=logits.dtype)[y][:, None]  # ω_{y_i}, broadcast over the C entries
    return ops.mean(bce * w)


def maxnorm_threshold(weight, t: float = 0.1) -> float:
    """δ = min_c ‖w_c‖ + t (max_c ‖w_c‖ − min_c ‖w_c‖) over the rows of the stage-1 classifier."""
    n = np.linalg.norm(np.asarray(weight).reshape(len(weight), -1), axis=1)
    return float(n.min() + t * (n.max() - n.min()))


def maxnorm_project(weight, threshold: float) -> np.ndarray:
    """Rows with ‖w_c‖ > δ are rescaled to norm δ; the others are unchanged (in place, returned)."""
    w = np.asarray(weight)
    n = np.linalg.norm(w.reshape(len(w), -1), axis=1)
    over = n > threshold
    w[over] *= (threshold / n[over]).reshape((-1,) + (1,) * (w.ndim - 1))  # w_c ← w_c · δ/‖w_c‖
    return w


class MaxNormPerEpoch:
    """`fit` callback: project the classifier's rows onto ‖w_c‖ ≤ δ after every epoch (official
    `pgdFunc.PGD(model)` once per training phase), δ from the weights at the start of training."""

    def __init__(self, layer, t: float = 0.1):
        self.layer, self.delta = layer, maxnorm_threshold(layer.weight.data, t)

    def on_epoch_end(self, state):
        maxnorm_project(self.layer.weight.data, self.delta)


# --- the analysis -----------------------------------------------------------------------------------------
def fisher_discriminant_ratio(features, labels) -> float:
    """FDR = tr(S_W⁻¹ S_B) (official calc_fdr) with S_B = Σ_c n_c (μ_c − μ)(μ_c − μ)ᵀ and
    S_W = Σ_i (h_i − μ_{y_i})(h_i − μ_{y_i})ᵀ; feature dimensions constant over all samples are dropped."""
    h, y = np.asarray(features, dtype=np.float64), np.asarray(labels)
    h = h[:, np.ptp(h, axis=0) > 0]  # drop constant dimensions (dead units)
    mu = h.mean(0)
    d = h.shape[1]
    s_b, s_w = np.zeros((d, d)), np.zeros((d, d))
    for c in np.unique(y):
        hc = h[y == c]
        mc = hc.mean(0)
        s_b += len(hc) * np.outer(mc - mu, mc - mu)  # between-class scatter
        s_w += (hc - mc).T @ (hc - mc)  # within-class scatter
    return float(np.trace(np.linalg.solve(s_w, s_b)))  # tr(S_W⁻¹ S_B)


# --- the one-stage method ---------------------------------------------------------------------------------
def simplex_etf(num_classes: int, dim: int, rng=None) -> np.ndarray:
    """M (C × d): √(C/(C−1)) (U (I − 11ᵀ/C))ᵀ with U (d × C) orthonormal columns (official get_general_etf).
    Rows have unit norm and pairwise inner product −1/(C−1)."""
    if dim < num_classes:
        raise ValueError(f"simplex_etf: needs dim ≥ num_classes, got dim={dim}, num_classes={num_classes}")
    rng = np.random.default_rng(rng)
    u, _ = np.linalg.qr(rng.standard_normal((dim, num_classes)))  # U: orthonormal columns
    c = num_classes
    standard = (np.eye(c) - np.ones((c, c)) / c) * np.sqrt(c / (c - 1))  # the standard simplex ETF
    return (u @ standard).T


def feature_regularization(h):
    """(1/N) Σ_i ‖h_i‖² / 2 (official set_features_regularization, before the λ_F factor)."""
    return ops.mean(ops.sum(h * h, axis=1)) * 0.5


def multiplicative_logit_adjustment(logits, counts, tau: float):
    """ẑ_c = z_c · π_c^(−τ) = z_c · exp(−τ log π_c), π the training prior (official LogitAdjuster,
    multiplicative).  Works on arrays and Tensors."""
    counts = np.asarray(counts, dtype=np.float64)
    scale = np.exp(-tau * np.log(counts / counts.sum()))  # π_c^(−τ)
    data = getattr(logits, "data", logits)
    return logits * scale.astype(np.asarray(data).dtype)


def additive_logit_adjustment(logits, counts, tau: float):
    """ẑ_c = z_c − τ log π_c (Menon et al.; the official LogitAdjuster's additive, post-hoc form)."""
    counts = np.asarray(counts, dtype=np.float64)
    shift = tau * np.log(counts / counts.sum())
    data = getattr(logits, "data", logits)
    return logits - shift.astype(np.asarray(data).dtype)


class ETFClassifier(Module):
    """z = h Mᵀ + b with M a fixed simplex ETF (a constant, not a Parameter) and a trainable bias
    (official ETFClassifier with `train_etf_norm: false`: weight_norm fixed at 1)."""

    def __init__(self, in_features: int, num_classes: int, rng=None, dtype=np.float64):
        super().__init__()
        rng = np.random.default_rng(rng)
        self.M = simplex_etf(num_classes, in_features, rng).astype(dtype)
        self.bias = Parameter(rng.uniform(-1 / in_features, 1 / in_features, num_classes).astype(dtype))

    @property
    def weight_matrix(self) -> np.ndarray:
        return self.M

    def forward(self, h):
        return ops.matmul(h, Tensor(self.M.T)) + self.bias


class LTNet(Module):
    """A feature extractor h(x) = Linear(relu(Linear(relu(Linear(x))))) — no ReLU on h, as the official
    models (`last_relu: false`) — and a classifier (a Linear, or an `ETFClassifier` with `etf=True`).
    `forward` keeps h in `self.h` so a loss can regularise it."""

    def __init__(self, sizes=(64, 128, 128, 64), num_classes=10, etf=False, rng=None, dtype=np.float64):
        super().__init__()
        from ....nn.layers.linear import Linear

        rng = np.random.default_rng(rng)
        self.fc1 = Linear(sizes[0], sizes[1], dtype=dtype, rng=rng)
        self.fc2 = Linear(sizes[1], sizes[2], dtype=dtype, rng=rng)
        self.fc3 = Linear(sizes[2], sizes[3], dtype=dtype, rng=rng)
        self.cls = (
            ETFClassifier(sizes[3], num_classes, rng=rng, dtype=dtype)
            if etf
            else Linear(sizes[3], num_classes, dtype=dtype, rng=rng)
        )
        self.h = None

    def features(self, x):
        return self.fc3(ops.relu(self.fc2(ops.relu(self.fc1(x)))))

    def forward(self, x):
        self.h = self.features(x)
        return self.cls(self.h)

    def classifier_rows(self) -> np.ndarray:
        """The classifier's weight rows w_c (C × d)."""
        return self.cls.M if isinstance(self.cls, ETFClassifier) else self.cls.weight.data
