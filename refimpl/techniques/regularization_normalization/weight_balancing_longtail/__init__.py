r"""Weight balancing for long-tailed recognition: weight decay, MaxNorm and class-balanced classifier retraining.

Paper: *Exploring Weight Balancing on Long-Tailed Recognition Problem* — Naoya Hasegawa, Issei Sato,
ICLR 2024 (the analysis of Alshammari, Wang, Ramanan, Kong, *Long-Tailed Recognition via Weight
Balancing*, CVPR 2022).
arXiv: 2305.16573
Official code of the analysed method: github.com/ShadeAlsha/LTR-weight-balancing (`utils/regularizers.py`:
`MaxNorm_via_PGD`; `utils/class_balanced_loss.py`: `CB_loss`; `demo2_second-stage-training.py`).

The idea
--------
With long-tailed training data, a classifier's per-class weight vectors grow with the class frequency,
so head classes win.  Weight balancing (WB) trains in two stages:

1. the whole network with cross-entropy and (strong) weight decay;
2. only the linear classifier, features frozen, with a class-balanced loss, weight decay and a
   per-class **MaxNorm** constraint enforced by projected gradient descent:
   after each step, $w_c \leftarrow w_c\,\min(1, \delta/\|w_c\|_2)$, with the threshold
   $\delta = \min_c\|w_c\| + t\,(\max_c\|w_c\| - \min_c\|w_c\|)$ taken from the stage-1 classifier ($t = 0.1$).

The class-balanced loss (Cui et al., 2019) weights a sample of class c by
$\omega_c \propto (1-\beta)/(1-\beta^{n_c})$ (normalised to sum to C); the official code's "softmax" variant
applies it to a binary cross-entropy on the softmax probabilities.  Hasegawa & Sato explain WB: weight
decay with cross-entropy raises the Fisher discriminant ratio of the features,
$\mathrm{FDR} = \mathrm{tr}(S_B)/\mathrm{tr}(S_W)$ ($S_B$ between-class, $S_W$ within-class scatter), and weight
decay with the class-balanced loss in stage 2 acts as an implicit logit adjustment, balancing the
per-class classifier norms.

What is simplified
------------------
Long-tailed 8×8 digits (exponential profile, imbalance 20 — 122 head vs 6 tail images, close to
CIFAR-100-LT’s 500 vs 5 — class 0 the head) instead of CIFAR-LT/ImageNet-LT;
an MLP 64-128-64 feature extractor (ReLU) and a linear classifier; SGD with momentum.  Stage 1: CE without
(baseline) or with weight decay 5e-3 (the official demo's value); stage 2: the official settings (lr 0.01,
momentum 0.9, weight decay 0.1, cosine schedule, β = 0.9999, t = 0.1), for more epochs because our
dataset is tiny — except the stage-2 weight decay: the official demo's 0.1 (tuned for CIFAR-100-LT ResNet-34
features) shrinks our classifier to norm ≈ 0.2 and lowers tail accuracy, so the main setting uses the stage-1
value 5e-3 for stage 2 and the demo reports the 0.1 run beside it.  The paper's simplified one-stage method is
not implemented.

Verified: official-code — MaxNorm threshold and projection (`MaxNorm_via_PGD`), CB weights and the
"softmax" CB loss (`CB_loss`), stage-2 hyperparameters read in ShadeAlsha/LTR-weight-balancing; the FDR as
defined in the project catalogue (the analysis paper's body was not read: its equation numbers are not
quoted).

Notebook: notebooks/regularization-normalization/weight-balancing-longtail.ipynb
"""

from __future__ import annotations

import math

import numpy as np

from ...autograd import ops
from ...autograd.tensor import Tensor, no_grad
from ...catalog import ReferenceCase
from ...nn import functional as F
from ...nn.module import Module
from ._base import one_blas_thread, sgd_step

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
        "The analysed method (two-stage weight balancing) checked against ShadeAlsha/LTR-weight-balancing: "
        "MaxNorm_via_PGD (threshold min + t(max − min) of stage-1 row norms, row rescaling), CB_loss 'softmax' "
        "variant with β = 0.9999, stage-2 SGD settings. FDR = tr(S_B)/tr(S_W) as in the project catalogue; "
        "the analysis paper's body and equation numbers were not read."
    ),
    "summary": (
        "Long-tailed data makes head-class classifier weights large. Weight balancing trains with cross-entropy "
        "and weight decay (which also raises the features' Fisher discriminant ratio), then retrains only the "
        "classifier with a class-balanced loss, weight decay and a per-class MaxNorm constraint, which balances "
        "the per-class weight norms and lifts tail-class accuracy."
    ),
    "equations": [
        "stage 1: min CE(f(x), y) + λ1 ‖θ‖²",
        "stage 2: min_W Σ ω_y ℓ(W h(x), y) + λ2 ‖W‖²  s.t. ‖w_c‖ ≤ δ  (PGD: w_c ← w_c min(1, δ/‖w_c‖))",
        "δ = min_c ‖w_c‖ + t (max_c ‖w_c‖ − min_c ‖w_c‖)",
        "ω_c ∝ (1 − β)/(1 − β^{n_c}), Σ_c ω_c = C",
        "FDR = tr(S_B)/tr(S_W)",
    ],
}


# --- pieces, smallest first ----------------------------------------------------------------------------
def class_balanced_weights(counts, beta: float = 0.9999) -> np.ndarray:
    """ω_c = (1 − β)/(1 − β^{n_c}), normalised so that Σ_c ω_c = C (Cui et al., 2019; official CB_loss)."""
    counts = np.asarray(counts, dtype=np.float64)
    if np.any(counts < 1) or not 0 <= beta < 1:
        raise ValueError(
            f"class_balanced_weights: need counts ≥ 1 and 0 ≤ beta < 1, got counts={counts}, beta={beta}"
        )
    w = (1.0 - beta) / (1.0 - np.power(beta, counts)) if beta > 0 else np.ones_like(counts)
    return w / w.sum() * len(counts)


def cb_softmax_loss(logits, y, weights):
    """The official 'softmax' CB loss: mean over N×C of ω_{y_i} · BCE(softmax(z_i), onehot(y_i)),
    with log clamped at −100 as torch's binary_cross_entropy."""
    y = np.asarray(y)
    c = logits.shape[1]
    t = F.one_hot(y, c, dtype=logits.dtype)
    p = ops.softmax(logits, -1)
    floor = np.asarray(-100.0, dtype=logits.dtype)
    logp = ops.maximum(ops.log(p), floor)
    log1mp = ops.maximum(ops.log(1.0 - p), floor)
    bce = -(logp * t + log1mp * (1.0 - t))
    w = np.asarray(weights, dtype=logits.dtype)[y][:, None]
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
    w[over] *= (threshold / n[over]).reshape((-1,) + (1,) * (w.ndim - 1))
    return w


def fisher_discriminant_ratio(features, labels) -> float:
    """tr(S_B)/tr(S_W) with S_W = (1/N) Σ_i ‖h_i − μ_{y_i}‖² and S_B = (1/N) Σ_c n_c ‖μ_c − μ‖²."""
    h, y = np.asarray(features, dtype=np.float64), np.asarray(labels)
    mu = h.mean(0)
    sw = sb = 0.0
    for c in np.unique(y):
        hc = h[y == c]
        mc = hc.mean(0)
        sw += float(np.sum((hc - mc) ** 2))
        sb += len(hc) * float(np.sum((mc - mu) ** 2))
    return sb / sw


class LTNet(Module):
    def __init__(self, hidden=128, feat=64, rng=None):
        super().__init__()
        from ...nn.layers.linear import Linear

        rng = np.random.default_rng(rng)
        self.fc1 = Linear(64, hidden, dtype=np.float64, rng=rng)
        self.fc2 = Linear(hidden, feat, dtype=np.float64, rng=rng)
        self.cls = Linear(feat, 10, dtype=np.float64, rng=rng)

    def features(self, x):
        return ops.relu(self.fc2(ops.relu(self.fc1(x))))

    def forward(self, x):
        return self.cls(self.features(x))


# --- the toy experiment -------------------------------------------------------------------------------------
def stage1(x, y, weight_decay, epochs, seed, lr=0.05):
    from ...data import batches

    net = LTNet(rng=seed)
    params, buf = list(net.parameters()), {}
    for epoch in range(epochs):
        for xb, yb in batches(x, y, batch_size=32, seed=seed, epoch=epoch):
            net.zero_grad()
            F.cross_entropy(net(Tensor(xb)), yb).backward()
            sgd_step(params, lr, 0.9, buf, weight_decay=weight_decay)
    return net


def stage2(net, x, y, epochs, seed, lr=0.01, weight_decay=0.1, beta=0.9999, t=0.1, counts=None):
    """Retrain the classifier only (features frozen): CB loss + weight decay + MaxNorm (PGD), cosine lr."""
    import copy

    from ...data import batches

    net = copy.deepcopy(net)
    with no_grad():
        h_all = net.features(Tensor(x)).data  # frozen features
    counts = np.bincount(y, minlength=10) if counts is None else counts
    w_cb = class_balanced_weights(np.maximum(counts, 1), beta)
    delta = maxnorm_threshold(net.cls.weight.data, t)
    params, buf = [net.cls.weight, net.cls.bias], {}
    for epoch in range(epochs):
        lr_e = 0.5 * lr * (1 + math.cos(math.pi * epoch / epochs))  # cosine annealing per epoch
        for hb, yb in batches(h_all, y, batch_size=32, seed=seed + 1, epoch=epoch):
            for p in params:
                p.grad = None
            cb_softmax_loss(net.cls(Tensor(hb)), yb, w_cb).backward()
            sgd_step(params, lr_e, 0.9, buf, weight_decay=weight_decay)
            maxnorm_project(net.cls.weight.data, delta)  # projected gradient descent
    return net


def per_class_accuracy(net, x, y) -> np.ndarray:
    with no_grad():
        pred = net(Tensor(x)).data.argmax(1)
    return np.array([float(np.mean(pred[y == c] == c)) for c in range(10)])


@one_blas_thread
def demo(seed: int = 0, quick: bool = False, progress: bool = True) -> dict:
    """Long-tailed digits (imbalance 20): CE, CE + WD, and WB (CE + WD, then CB + WD + MaxNorm classifier)."""
    from ...data import load_digits, long_tailed

    split = load_digits(seed=seed, dtype=np.float64)
    x, y = long_tailed(split.x_train, split.y_train, imbalance=20, seed=seed)
    counts = np.bincount(y, minlength=10)
    e1, e2 = (40, 30) if quick else (100, 60)
    models = {"CE": stage1(x, y, 0.0, e1, seed), "CE+WD": stage1(x, y, 5e-3, e1, seed)}
    # stage 2 with the stage-1 weight decay (our main setting) and with the official demo's 0.1 (tuned for
    # CIFAR-100-LT ResNet features; at our feature scale it shrinks the whole classifier — reported, not hidden)
    models["WB (CE+WD → CB+WD+MaxNorm)"] = stage2(
        models["CE+WD"], x, y, e2, seed, counts=counts, weight_decay=5e-3
    )
    models["WB, stage-2 WD 0.1 (official demo)"] = stage2(
        models["CE+WD"], x, y, e2, seed, counts=counts, weight_decay=0.1
    )
    rows, per_class, norms = [], {}, {}
    for name, net in models.items():
        acc = per_class_accuracy(net, split.x_test, split.y_test)
        with no_grad():
            feats = net.features(Tensor(split.x_test)).data
        nrm = np.linalg.norm(net.cls.weight.data, axis=1)
        per_class[name], norms[name] = acc, nrm
        rows.append(
            {
                "model": name,
                "test_acc": float(acc.mean()),
                "head_acc(0-2)": float(acc[:3].mean()),
                "tail_acc(7-9)": float(acc[7:].mean()),
                "fdr_test_features": fisher_discriminant_ratio(feats, split.y_test),
                "norm_ratio_head/tail": float(nrm[:3].mean() / nrm[7:].mean()),
            }
        )
    r = {row["model"]: row for row in rows}
    wb = r["WB (CE+WD → CB+WD+MaxNorm)"]
    metrics = {
        "test_acc_ce": r["CE"]["test_acc"],
        "test_acc_ce_wd": r["CE+WD"]["test_acc"],
        "test_acc_wb": wb["test_acc"],
        "tail_acc_ce": r["CE"]["tail_acc(7-9)"],
        "tail_acc_ce_wd": r["CE+WD"]["tail_acc(7-9)"],
        "tail_acc_wb": wb["tail_acc(7-9)"],
        "fdr_ce": r["CE"]["fdr_test_features"],
        "fdr_ce_wd": r["CE+WD"]["fdr_test_features"],
        "norm_ratio_ce_wd": r["CE+WD"]["norm_ratio_head/tail"],
        "norm_ratio_wb": wb["norm_ratio_head/tail"],
        "train_count_head": float(counts[0]),
        "test_acc_wb_wd0.1": r["WB, stage-2 WD 0.1 (official demo)"]["test_acc"],
        "tail_acc_wb_wd0.1": r["WB, stage-2 WD 0.1 (official demo)"]["tail_acc(7-9)"],
        "train_count_tail": float(counts[-1]),
    }
    wd_fdr = metrics["fdr_ce_wd"] > metrics["fdr_ce"]
    tail_up = metrics["tail_acc_wb"] > metrics["tail_acc_ce_wd"]
    balanced = abs(math.log(metrics["norm_ratio_wb"])) < abs(math.log(metrics["norm_ratio_ce_wd"]))
    return {
        "metrics": metrics,
        "table": rows,
        "per_class_acc": per_class,
        "class_norms": norms,
        "counts": counts,
        "checks": {"wd_raises_fdr": wd_fdr, "stage2_lifts_tail": tail_up, "stage2_balances_norms": balanced},
        "claim": {
            "statement": "Weight decay raises the features' Fisher discriminant ratio; the second stage (CB loss + "
            "WD + MaxNorm on the classifier) balances the per-class weight norms and lifts tail-class "
            "accuracy.",
            "holds": bool(wd_fdr and tail_up and balanced),
        },
    }


def plot(result) -> dict:
    from ...plotting import pyplot

    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.6))
    axes[0].bar(range(10), result["counts"], color="tab:gray")
    axes[0].set_title("training examples per class")
    for name, acc in result["per_class_acc"].items():
        axes[1].plot(range(10), acc, "o-", label=name)
    for name, n in result["class_norms"].items():
        axes[2].plot(range(10), n, "o-", label=name)
    axes[1].set_title("per-class test accuracy")
    axes[2].set_title("classifier weight norm per class")
    for ax in axes:
        ax.set_xlabel("class (0 = head)")
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    return {"weight-balancing-longtail": fig}


def reference_cases() -> list:
    def fdr(h, y):
        return {"fdr": np.array(fisher_discriminant_ratio(np.asarray(h), np.asarray(y)))}

    def proj(w, t):
        w = np.asarray(w, dtype=np.float64).copy()
        d = maxnorm_threshold(w, t)
        return {"delta": np.array(d), "w": maxnorm_project(w, d)}

    def cbw(counts, beta):
        return {"w": class_balanced_weights(counts, beta)}

    return [
        ReferenceCase(
            "fdr_1d",
            {"h": [[0.0], [2.0], [4.0], [6.0]], "y": [0, 0, 1, 1]},
            {"fdr": np.array(4.0)},
            fdr,
            note="by hand: class means 1, 5, global 3; S_W = 4·1/4 = 1, S_B = (2·4 + 2·4)/4 = 4",
            atol=1e-12,
        ),
        ReferenceCase(
            "maxnorm",
            {"w": [[3.0, 4.0], [0.0, 1.0], [0.6, 0.8]], "t": 0.5},
            {"delta": np.array(3.0), "w": np.array([[1.8, 2.4], [0.0, 1.0], [0.6, 0.8]])},
            proj,
            note="by hand: row norms 5, 1, 1 → δ = 1 + 0.5·4 = 3; only row 0 rescaled by 3/5",
            atol=1e-12,
        ),
        ReferenceCase(
            "cb_weights_beta0.5",
            {"counts": [1, 2], "beta": 0.5},
            {"w": np.array([1.2, 0.8])},
            cbw,
            note="by hand: (1−β)/(1−β^n) = 0.5/0.5 = 1 and 0.5/0.75 = 2/3 → normalised to sum 2: [1.2, 0.8]",
            atol=1e-12,
        ),
    ]
