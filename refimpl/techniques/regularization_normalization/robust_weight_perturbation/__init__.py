r"""Robust Weight Perturbation (RWP): adversarial weight perturbation restricted by a loss-stationary condition.

Paper: *Robust Weight Perturbation for Adversarial Training* — Chaojian Yu, Bo Han, Mingming Gong, Li Shen,
Shiming Ge, Du Bo, Tongliang Liu, IJCAI 2022.
arXiv: 2205.14826
Official code: github.com/ChaojianYu/Robust-Weight-Perturbation (`AT_AWP_RWP/utils_rwp.py`:
`RobustWeightPerturb`, `add_into_diff`; `AT_AWP_RWP/train_cifar10.py`).

The idea
--------
PGD adversarial training (AT) overfits robustly: late in training, test robust accuracy falls while train
robust accuracy keeps rising.  Adversarial weight perturbation (AWP, Wu et al. 2020) trains at weights
w + v with v chosen to increase the adversarial loss; it narrows the robust generalization gap but also
costs robustness.  The paper's criterion, the **loss-stationary condition** (LSC), says the weight
perturbation is needed on adversarial examples with *small* classification loss (to stop robust
overfitting) and unnecessary, even harmful, on those with large loss.  RWP therefore lets only samples
whose adversarial loss is below c_min drive v:

$$ d^{(k+1)} = d^{(k)} + \eta\,\nabla_w \frac1n\sum_i \mathbb{1}\big[\ell_i(w + \gamma v^{(k)}) < c_{min}\big]\,
   \ell_i(w+\gamma v^{(k)}),\qquad v^{(k+1)} = \frac{\|w\|}{\|d^{(k+1)}\|}\,d^{(k+1)},\qquad
   \ell_i = \mathrm{CE}(f_w(x_i'), y_i) $$

for K = 10 steps from d⁽⁰⁾ = v⁽⁰⁾ = 0 (the norms run over all weight matrices together); then one SGD
step on the adversarial loss at w + γv, and the perturbation is removed: w ← (w + γv − lr ∇) − γv.
AWP instead takes one ascent step on the full loss, rescaled layer by layer (‖v_l‖ = ‖w_l‖).
c_min = 1.7, γ = 0.01, η = 0.01 in the official code (x' from PGD-10, ℓ∞).

What is simplified
------------------
A 64-256-256-10 ReLU MLP on the 8×8 digits (inputs in [0, 1]) instead of PreAct-ResNet18 on CIFAR-10;
ℓ∞ PGD with ε = 0.1, α = ε/4 (5 steps in quick mode, 10 otherwise) for training and 10 steps for
evaluation; SGD with momentum and a piecewise learning-rate drop (×0.1 at half of training), as the
official piecewise schedule; only Linear weight matrices are perturbed (the official code perturbs every
parameter with more than one dimension).

Verified: official-code — the loss-stationary indicator, 10 proxy steps with lr 0.01, the global
‖w‖/‖v‖ rescaling, perturb/step/restore order, c_min = 1.7 and γ = 0.01 read in ChaojianYu/Robust-Weight-
Perturbation; AWP's layer-wise rescaling as in its official code (the commented-out line in utils_rwp.py).

Notebook: notebooks/regularization-normalization/robust-weight-perturbation.ipynb
"""

from __future__ import annotations

import numpy as np

from ...autograd import ops
from ...autograd.tensor import Tensor
from ...catalog import ReferenceCase
from ...nn import functional as F
from ...nn.module import Module
from ._base import one_blas_thread, pgd, robust_accuracy, sgd_step

CATALOG_ENTRY = {
    "slug": "robust-weight-perturbation",
    "title": "Robust Weight Perturbation for Adversarial Training",
    "authors": "Chaojian Yu, Bo Han, Mingming Gong, Li Shen, Shiming Ge, Du Bo, Tongliang Liu",
    "year": 2022,
    "arxiv": "2205.14826",
    "family": "regularization-normalization",
    "notebook": "notebooks/regularization-normalization/robust-weight-perturbation.ipynb",
    "verified": "official-code",
    "verification_note": (
        "RobustWeightPerturb.calc_awp (10 proxy SGD steps, lr 0.01, indicator loss < c_min = 1.7, global "
        "‖w‖/‖v‖ rescaling in add_into_diff), perturb/restore around the AT step and γ = 0.01 read in "
        "ChaojianYu/Robust-Weight-Perturbation (AT_AWP_RWP/utils_rwp.py, train_cifar10.py); AWP's one-step "
        "layer-wise version as in its official code. Abstract read (LSC: perturb with small-loss adversarial "
        "data); paper body not read, no equation numbers quoted."
    ),
    "summary": (
        "Adversarial weight perturbation helps against robust overfitting, but perturbing with small-loss "
        "adversarial examples is what hurts; RWP computes the weight perturbation only from examples whose "
        "adversarial loss is below a threshold (loss-stationary condition), then trains at the perturbed weights."
    ),
    "equations": [
        "x' = PGD_ε(x; w),  ℓ_i(w) = CE(f_w(x'_i), y_i)",
        "d ← d + η ∇_w (1/n) Σ_i 1[ℓ_i(w + γ v) < c_min] ℓ_i(w + γ v),  v = (‖w‖/‖d‖) d   (K = 10 times)",
        "AWP: v_l = (‖w_l‖/‖g_l‖) g_l,  g = η ∇_w (1/n) Σ_i ℓ_i(w)",
        "w ← w + γ v;  w ← w − lr ∇_w (1/n) Σ_i ℓ_i(w);  w ← w − γ v",
    ],
}

EPS = 1e-20


def perturbed_params(model) -> list:
    """The weight matrices the perturbation acts on: 2-D parameters named '*weight' (Linear layers)."""
    return [p for name, p in model.named_parameters() if name.endswith("weight") and p.data.ndim >= 2]


def _weight_grads(model, x_adv, y, lsc=None):
    """∇ of the mean (masked) per-sample adversarial CE with respect to the perturbed weights."""
    model.zero_grad()
    per = F.cross_entropy(model(Tensor(x_adv)), y, reduction="none")
    if lsc is not None:
        mask = (per.data < lsc).astype(per.data.dtype)  # loss-stationary condition
        per = per * mask
    ops.mean(per).backward()
    return [np.zeros_like(p.data) if p.grad is None else p.grad.copy() for p in perturbed_params(model)]


def awp_perturbation(model, x_adv, y, eta: float = 0.01) -> list:
    """AWP: one ascent step g = η ∇ℓ, rescaled per layer to ‖v_l‖ = ‖w_l‖."""
    ws = perturbed_params(model)
    grads = _weight_grads(model, x_adv, y)
    model.zero_grad()
    return [np.linalg.norm(w.data) / (np.linalg.norm(eta * g) + EPS) * (eta * g) for w, g in zip(ws, grads)]


def rwp_perturbation(
    model, x_adv, y, gamma: float = 0.01, lsc: float = 1.7, steps: int = 10, eta: float = 0.01
) -> list:
    """RWP: K ascent steps on the loss of the samples with ℓ_i < c_min, at w + γv, v rescaled globally to ‖w‖."""
    ws = perturbed_params(model)
    w0 = [w.data.copy() for w in ws]
    diff, scaled = None, [np.zeros_like(w) for w in w0]
    try:
        for _ in range(steps):
            for w, base, v in zip(ws, w0, scaled):
                w.data[...] = base + gamma * v  # the proxy: w + γ v
            step = [eta * g for g in _weight_grads(model, x_adv, y, lsc)]  # SGD step on −loss, lr η
            diff = step if diff is None else [d + s for d, s in zip(diff, step)]
            w_norm = np.sqrt(sum(float(np.sum(b**2)) for b in w0))
            d_norm = np.sqrt(sum(float(np.sum(d**2)) for d in diff))
            scaled = [w_norm / (d_norm + EPS) * d for d in diff]  # ‖v‖ = ‖w‖ over all layers together
    finally:
        for w, base in zip(ws, w0):
            w.data[...] = base
        model.zero_grad()
    return scaled


def apply_perturbation(model, v: list, coeff: float) -> None:
    for w, d in zip(perturbed_params(model), v):
        w.data += (coeff * d).astype(w.data.dtype)


class MLP(Module):
    def __init__(self, hidden=256, rng=None):
        super().__init__()
        from ...nn.layers.linear import Linear

        rng = np.random.default_rng(rng)
        self.fc1 = Linear(64, hidden, dtype=np.float64, rng=rng)
        self.fc2 = Linear(hidden, hidden, dtype=np.float64, rng=rng)
        self.fc3 = Linear(hidden, 10, dtype=np.float64, rng=rng)

    def forward(self, x):
        return self.fc3(ops.relu(self.fc2(ops.relu(self.fc1(x)))))


# --- the toy experiment -----------------------------------------------------------------------------------
def adversarial_train(
    method,
    split,
    epochs,
    seed,
    eps=0.1,
    train_steps=10,
    eval_steps=10,
    lr=0.05,
    gamma=0.01,
    lsc=1.7,
    batch_size=64,
    eval_n=None,
):
    """PGD-AT with method ∈ {"AT", "AWP", "RWP"}; per epoch: train/test robust accuracy (PGD-`eval_steps`)."""
    from ...data import batches

    model = MLP(rng=seed)
    params, buf = list(model.parameters()), {}
    rng = np.random.default_rng(seed + 99)
    hist = {"train_robust": [], "test_robust": [], "test_clean": []}
    xe, ye = (
        (split.x_test, split.y_test) if eval_n is None else (split.x_test[:eval_n], split.y_test[:eval_n])
    )
    xtr, ytr = (
        (split.x_train, split.y_train) if eval_n is None else (split.x_train[:eval_n], split.y_train[:eval_n])
    )
    attack = dict(eps=eps, alpha=eps / 4, steps=eval_steps, clip=(0.0, 1.0))
    for epoch in range(epochs):
        lr_e = lr if epoch < epochs // 2 else lr / 10  # piecewise drop, as the official schedule
        model.train()
        for xb, yb in batches(split.x_train, split.y_train, batch_size=batch_size, seed=seed, epoch=epoch):
            x_adv = pgd(model, xb, yb, eps=eps, alpha=eps / 4, steps=train_steps, clip=(0.0, 1.0), rng=rng)
            v = None
            if method == "AWP":
                v = awp_perturbation(model, x_adv, yb)
            elif method == "RWP":
                v = rwp_perturbation(model, x_adv, yb, gamma=gamma, lsc=lsc)
            if v is not None:
                apply_perturbation(model, v, gamma)  # w + γ v
            model.zero_grad()
            F.cross_entropy(model(Tensor(x_adv)), yb).backward()
            sgd_step(params, lr_e, 0.9, buf, weight_decay=5e-4)
            if v is not None:
                apply_perturbation(model, v, -gamma)  # restore
        hist["test_robust"].append(robust_accuracy(model, xe, ye, attack="pgd", rng=seed, **attack))
        hist["train_robust"].append(robust_accuracy(model, xtr, ytr, attack="pgd", rng=seed, **attack))
        hist["test_clean"].append(robust_accuracy(model, xe, ye, attack="clean"))
    return hist


METHODS = ("AT", "AWP", "RWP")


@one_blas_thread
def demo(seed: int = 0, quick: bool = False, progress: bool = True) -> dict:
    """AT vs AWP vs RWP on the digits: robust accuracy per epoch, best vs final (robust overfitting)."""
    from ...data import load_digits
    from ...data.digits import Split

    split = load_digits(seed=seed, dtype=np.float64)
    if quick:  # a 384-sample training subset, 6 epochs, PGD-5 in training: seconds instead of minutes
        split = Split(split.x_train[:384], split.y_train[:384], split.x_test, split.y_test)
        epochs, train_steps, eval_n = 6, 5, 256
    else:
        epochs, train_steps, eval_n = 20, 10, 540  # robust accuracies on 540 test / 540 train images
    hists = {
        m: adversarial_train(m, split, epochs, seed, train_steps=train_steps, eval_n=eval_n) for m in METHODS
    }
    rows = []
    for m, h in hists.items():
        best = int(np.argmax(h["test_robust"]))
        rows.append(
            {
                "method": m,
                "final_test_robust": h["test_robust"][-1],
                "best_test_robust": h["test_robust"][best],
                "best_epoch": best,
                "robust_overfitting_gap": h["test_robust"][best] - h["test_robust"][-1],
                "final_train_robust": h["train_robust"][-1],
                "final_test_clean": h["test_clean"][-1],
                "generalization_gap": h["train_robust"][-1] - h["test_robust"][-1],
            }
        )
    r = {row["method"]: row for row in rows}
    metrics = {}
    for m in METHODS:
        for k in (
            "final_test_robust",
            "best_test_robust",
            "robust_overfitting_gap",
            "final_test_clean",
            "generalization_gap",
        ):
            metrics[f"{k}_{m}"] = float(r[m][k])
    rwp_best = r["RWP"]["final_test_robust"] >= max(
        r["AT"]["final_test_robust"], r["AWP"]["final_test_robust"]
    )
    rwp_vs_at = r["RWP"]["final_test_robust"] > r["AT"]["final_test_robust"]
    return {
        "metrics": metrics,
        "table": rows,
        "history": hists,
        "checks": {"rwp_beats_at": rwp_vs_at, "rwp_best_final_robust": rwp_best},
        "claim": {
            "statement": "RWP ends with a higher PGD test robust accuracy than plain AT and than AWP.",
            "holds": bool(rwp_vs_at and rwp_best),
        },
    }


def plot(result) -> dict:
    from ...plotting import pyplot

    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    for m, h in result["history"].items():
        axes[0].plot(h["test_robust"], label=f"{m} test")
        axes[0].plot(h["train_robust"], "--", label=f"{m} train")
        axes[1].plot(h["test_clean"], label=m)
    axes[0].set_title("PGD robust accuracy")
    axes[1].set_title("clean test accuracy")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return {"robust-weight-perturbation": fig}


def reference_cases() -> list:
    def one_layer(w, x, y, lsc):
        from ...nn.layers.linear import Linear

        lin = Linear(2, 2, bias=False, dtype=np.float64)
        lin.weight.data[...] = np.asarray(w)
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y)
        return {
            "rwp": rwp_perturbation(lin, x, y, gamma=0.01, lsc=lsc, steps=1)[0],
            "awp": awp_perturbation(lin, x, y)[0],
        }

    e = np.e
    return [
        ReferenceCase(
            "all_samples_pass",
            {"w": np.eye(2), "x": [[1.0, 0.0]], "y": [0], "lsc": 10.0},
            {"rwp": np.array([[-1.0, 0.0], [1.0, 0.0]]), "awp": np.array([[-1.0, 0.0], [1.0, 0.0]])},
            one_layer,
            note="by hand: logits [1, 0], p = [e, 1]/(e+1); ∇_W CE = (p − e_0) xᵀ = [[−a, 0], [a, 0]] with "
            "a = 1/(e+1); rescaled to ‖W‖ = √2 → [[−1, 0], [1, 0]] (one layer: RWP = AWP)",
            atol=1e-12,
        ),
        ReferenceCase(
            "loss_above_cmin_is_masked",
            {"w": np.eye(2), "x": [[1.0, 0.0]], "y": [0], "lsc": 0.1},
            {"rwp": np.zeros((2, 2)), "awp": np.array([[-1.0, 0.0], [1.0, 0.0]])},
            one_layer,
            note=f"by hand: the sample's loss −log(e/(e+1)) = {np.log((e + 1) / e):.4f} ≥ c_min = 0.1, so RWP's "
            "masked loss has zero gradient and v = 0; AWP still perturbs",
            atol=1e-12,
        ),
    ]
