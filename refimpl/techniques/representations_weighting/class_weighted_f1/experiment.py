"""The experiment: two classifiers of one long-tailed problem, scored on an equally long-tailed test set (as in
relation classification, where the test set keeps the training distribution), under every weighting scheme.

The toy: K = 8 classes, 2-D Gaussians of unit variance whose means sit on a circle of radius 2.5 (neighbours
overlap), class priors falling geometrically from the head (class 0) to the tail with head/tail ratio 50.  Per
seed a new draw of 2000 training, 2000 validation and 20 000 test points, all from these priors.

The models are multinomial logistic regressions (the Bayes rule of this toy is linear) trained by full-batch
gradient descent from zero for 150 steps, each choosing its learning rate on its own validation objective
from the same grid:

* **plain CE** — mean cross-entropy: it learns the priors, so it tends to the accuracy-optimal rule and
  sacrifices rare classes;
* **class-balanced CE** — cross-entropy with example weights ∝ 1/n_y (normalised to mean 1): it tends to the
  balanced-accuracy rule and sacrifices the head;
* **sqrt-balanced CE** — weights ∝ n_y^{−1/2}, in between (descriptive; no claim is made about it).

The paper's idea is the measure, not a model: its "ablation" is reporting micro-F1 alone.  Premises: the test
set is imbalanced (largest/smallest class support ≥ 10) and the two models trade head for tail (class-balanced
CE has the higher mean recall on the three rarest classes).  Claims, fixed before the run from the paper's
thesis that micro and macro can rank models differently on imbalanced data and that the new schemes are
intermediate (margins 0):

* micro-F1 ranks plain CE above class-balanced CE;
* macro-F1 ranks class-balanced CE above plain CE;
* for plain CE and for class-balanced CE, dodrans-F1 and entropy-F1 lie between macro-F1 and micro-F1 (the
  per-seed metric min(S − min(micro, macro), max(micro, macro) − S) is > 0).
"""

from __future__ import annotations

import numpy as np

from ....experiments import Claim, Method, Premise, compare, experiment, finish
from ..metrics import confusion_matrix
from . import SCHEMES, all_schemes, per_class_scores

SLUG = "class-weighted-f1"
K, RADIUS, IMBALANCE = 8, 2.5, 50.0
N_TRAIN, N_VAL, N_TEST = 2000, 2000, 20_000
STEPS = 150
LRS = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0)
QUICK_LRS = (1.0, 3.0)
ARMS = {"plain CE": 0.0, "sqrt-balanced CE": 0.5, "class-balanced CE": 1.0}  # weight ∝ n_y^(−β)
N_TAIL = 3


def priors() -> np.ndarray:
    """π_c ∝ IMBALANCE^(−c/(K−1)): geometric from the head (class 0) to the tail, head/tail = IMBALANCE."""
    p = IMBALANCE ** (-np.arange(K) / (K - 1))
    return p / p.sum()


def means() -> np.ndarray:
    a = 2 * np.pi * np.arange(K) / K
    return RADIUS * np.c_[np.cos(a), np.sin(a)]


def sample(n: int, rng) -> tuple[np.ndarray, np.ndarray]:
    y = rng.choice(K, size=n, p=priors())
    return means()[y] + rng.standard_normal((n, 2)), y.astype(np.int64)


def data(seed: int, quick: bool = False) -> dict:
    rng = np.random.default_rng([seed, 2205])
    split = {}
    for name, n in (("train", N_TRAIN), ("val", N_VAL), ("test", N_TEST // (4 if quick else 1))):
        split[name] = sample(n, rng)
    return split


def _log_softmax(Z):
    Z = Z - Z.max(axis=1, keepdims=True)
    return Z - np.log(np.exp(Z).sum(axis=1, keepdims=True))


def example_weights(y, counts, beta: float) -> np.ndarray:
    """w_i ∝ n_{y_i}^(−β), normalised to mean 1 over the training labels y."""
    w = np.maximum(counts, 1.0)[y] ** (-beta)
    return w / w.mean()


def weighted_ce(W, b, X, y, w) -> float:
    L = _log_softmax(X @ W + b)
    return float(-np.mean(w * L[np.arange(len(y)), y]))


def fit_softmax(X, y, w, lr: float, steps: int = STEPS):
    """Full-batch gradient descent from zero on the weighted mean cross-entropy of a linear softmax model."""
    W, b = np.zeros((X.shape[1], K)), np.zeros(K)
    Y = np.eye(K)[y]
    for _ in range(steps):
        G = (np.exp(_log_softmax(X @ W + b)) - Y) * w[:, None] / len(y)  # ∂/∂logits
        W -= lr * X.T @ G
        b -= lr * G.sum(axis=0)
    return W, b


def _arm(beta: float, quick: bool, keep: dict, name: str):
    def run(seed, lr):
        d = data(seed, quick)
        (X, y), (Xv, yv), (Xt, yt) = d["train"], d["val"], d["test"]
        counts = np.bincount(y, minlength=K).astype(float)
        W, b = fit_softmax(X, y, example_weights(y, counts, beta), lr)
        wv = np.maximum(counts, 1.0)[yv] ** (-beta)
        val_obj = weighted_ce(W, b, Xv, yv, wv / wv.mean())
        pred = np.argmax(Xt @ W + b, axis=1)
        C = confusion_matrix(yt, pred, K)
        f1 = all_schemes(C)
        s = per_class_scores(C)
        lo, hi = min(f1["micro"], f1["macro"]), max(f1["micro"], f1["macro"])
        keep[(name, seed, lr)] = {"per_class_f1": s["f1"], "schemes": [f1[k] for k in SCHEMES]}
        n_test = np.bincount(yt, minlength=K)
        return {
            "val_objective": val_obj if np.isfinite(val_obj) else 1e6,
            **{f"test_f1_{k}": f1[k] for k in SCHEMES},
            "test_accuracy": float(np.mean(pred == yt)),
            "tail_recall": float(s["recall"][-N_TAIL:].mean()),
            "head_f1": float(s["f1"][0]),
            "dodrans_inside": min(f1["dodrans"] - lo, hi - f1["dodrans"]),
            "entropy_inside": min(f1["entropy"] - lo, hi - f1["entropy"]),
            "test_imbalance": float(n_test.max() / max(n_test.min(), 1)),
        }

    return run


@experiment(SLUG, seeds=(0, 1, 2, 3, 4, 5, 6, 7, 8, 9), quick_seeds=(0, 1))
def run(quick, seeds, progress):
    keep: dict = {}
    methods = [
        Method(
            name, _arm(beta, quick, keep, name), grid={"lr": list(LRS)}, quick_grid={"lr": list(QUICK_LRS)}
        )
        for name, beta in ARMS.items()
    ]
    comparison = compare(
        methods, seeds, select="val_objective", maximize=False, quick=quick, progress=progress
    )
    P, B = "plain CE", "class-balanced CE"
    premises = [
        Premise(
            "the test set is imbalanced: its largest class has at least 10 times the support of its smallest",
            "test_imbalance",
            P,
            threshold=10.0,
        ),
        Premise(
            "the models trade head for tail: class-balanced CE recalls the three rarest classes better",
            "tail_recall",
            B,
            baseline=P,
            threshold=0.0,
            strict=True,
        ),
    ]
    claims = [
        Claim("micro-F1 ranks plain CE above class-balanced CE", "test_f1_micro", P, baseline=B),
        Claim("macro-F1 ranks class-balanced CE above plain CE", "test_f1_macro", B, baseline=P),
    ]
    for arm in (P, B):
        for scheme in ("dodrans", "entropy"):
            claims.append(
                Claim(
                    f"{scheme}-F1 of {arm} lies between its macro-F1 and its micro-F1",
                    f"{scheme}_inside",
                    arm,
                )
            )
    s = comparison.seeds
    chosen = {m: comparison.selected[m]["lr"] for m in ARMS}
    arrays = {
        "schemes": np.array([[keep[(m, k, chosen[m])]["schemes"] for k in s] for m in ARMS]),
        "per_class_f1": np.array([[keep[(m, k, chosen[m])]["per_class_f1"] for k in s] for m in ARMS]),
        "priors": priors(),
    }
    return finish(
        SLUG,
        comparison,
        premises=premises,
        claims=claims,
        quick=quick,
        smoke=quick,
        arrays=arrays,
        notes={"arms": list(ARMS), "schemes": list(SCHEMES), "lrs": list(QUICK_LRS if quick else LRS)},
        metrics=[f"test_f1_{k}" for k in SCHEMES] + ["tail_recall", "head_f1"],
    )


def plot(result) -> dict:
    from ....plotting import pyplot

    plt = pyplot()
    arms, schemes = result.notes["arms"], result.notes["schemes"]
    S, F = np.asarray(result.arrays["schemes"]), np.asarray(result.arrays["per_class_f1"])
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    x = np.arange(len(schemes))
    for i, a in enumerate(arms):
        axes[0].errorbar(x, S[i].mean(0), yerr=S[i].std(0), marker="o", capsize=3, label=a)
    axes[0].set_xticks(x, schemes)
    axes[0].set_xlabel("weighting scheme (frequency end → uniform end)")
    axes[0].set_ylabel("test F1 (mean ± std over seeds)")
    axes[0].set_title("the ranking of the models moves with the scheme")
    axes[0].legend(fontsize=8)
    c = np.arange(F.shape[2])
    for i, a in enumerate(arms):
        axes[1].plot(c, F[i].mean(0), marker="o", label=a)
    ax2 = axes[1].twinx()
    ax2.bar(c, np.asarray(result.arrays["priors"]), color="grey", alpha=0.25)
    ax2.set_ylabel("class prior")
    axes[1].set_xlabel("class (head → tail)")
    axes[1].set_ylabel("per-class test F1")
    axes[1].set_title("head vs tail")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    return {SLUG: fig}
