"""The experiment: prune a digits MLP for a 'domain' (digits 0–4) by D-Pruner, magnitude, plain Taylor,
general-only importance and D-Pruner without its regulariser (λ = 0), at equal sparsity.

Setup.  A 64-128-128-10 MLP is pretrained on all ten digits (the `general` data, one model per seed).
The domain is the digits 0–4 (domain train images are the domain calibration data; all train images are
the general calibration data).  Every method prunes each layer one-shot, unstructured, to the same
sparsity, without fine-tuning; it is judged on the domain accuracy (test images of 0–4, 10-way
prediction) and the general accuracy (all test images).  Each arm tunes its own knob on the validation
score ½(domain + general accuracy): D-Pruner its regularisation weight λ, general-only its damping,
Taylor and the λ = 0 ablation the number of calibration batches, magnitude nothing.
Premise.  Domain and general importance disagree: pruning by domain-only importance (λ = 0) costs general
accuracy that general-only pruning keeps.
Claims.  (1) The dual regulariser keeps general accuracy over the λ = 0 ablation; (2) D-Pruner beats
general-only importance on domain accuracy; (3) it beats magnitude and (4) plain Taylor on domain accuracy.
"""

from __future__ import annotations

import functools

import numpy as np

from ....autograd.tensor import Tensor, no_grad
from ....experiments import Claim, Method, Premise, compare, experiment, finish, tasks, train
from ....nn import functional as F
from ..masks import prunable_layers
from . import dpruner_scores, general_importance, regularised_gradient, taylor_scores, unstructured_masks

SLUG = "d-pruner"
SIZES = [64, 128, 128, 10]
DOMAIN = (0, 1, 2, 3, 4)
SPARSITY = 0.8
BATCH = 64
LAMS = [0.001, 0.01, 0.1, 1.0, 10.0, 100.0]  # relative weights: λ / (mean G · mean|g|)
ARMS = ("d-pruner", "domain-only", "general-only", "taylor", "magnitude")


@functools.cache
def _dense(seed: int, epochs: int):
    from ....nn import MLP

    model = MLP(SIZES, rng=np.random.default_rng(seed))
    train(model, tasks.digits(), lr=2e-3, epochs=epochs, seed=seed)
    return model.state_dict()


def _model(seed, epochs):
    from ....nn import MLP

    model = MLP(SIZES, rng=np.random.default_rng(seed))
    model.load_state_dict(_dense(seed, epochs))
    return model


def _layer_inputs(model, x):
    """The input of every prunable Linear of the MLP on x (name → N × in)."""
    names, out, h = set(prunable_layers(model)), {}, Tensor(x)
    with no_grad():
        for name, child in model.named_children():
            if name in names:
                out[name] = np.asarray(h.data, dtype=np.float64)
            h = child(h)
    return out


def _batch_grads(model, x, y, n_batches, seed):
    """Per-batch weight gradients of the domain loss (name → list of arrays)."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(x))
    layers = prunable_layers(model)
    grads = {n: [] for n in layers}
    for b in range(n_batches):
        idx = order[(b * BATCH) % len(x) :][:BATCH]
        model.zero_grad()
        F.cross_entropy(model(Tensor(x[idx])), y[idx]).backward()
        for n, mod in layers.items():
            grads[n].append(np.asarray(mod.weight.grad, dtype=np.float64).copy())
    return grads


def _general(model, task, percdamp):
    ins = _layer_inputs(model, task.x_train)
    return {n: general_importance(m.weight.data, ins[n], percdamp) for n, m in prunable_layers(model).items()}


def _scores(arm, model, task, dom, seed, lam=0.0, percdamp=0.01, n_batches=8):
    layers = prunable_layers(model)
    w = {n: np.asarray(m.weight.data, dtype=np.float64) for n, m in layers.items()}
    if arm == "magnitude":
        return {n: np.abs(v) for n, v in w.items()}
    if arm == "general-only":
        return _general(model, task, percdamp)
    grads = _batch_grads(model, dom[0], dom[1], n_batches, seed)
    if arm == "taylor":
        return {n: sum(taylor_scores(g, w[n]) for g in grads[n]) for n in layers}
    G = _general(model, task, 0.01) if lam > 0 else {n: np.zeros_like(v) for n, v in w.items()}
    out = {}
    for n in layers:
        scale = np.mean(G[n]) * np.mean([np.mean(np.abs(g)) for g in grads[n]]) if lam > 0 else 1.0
        out[n] = sum(
            dpruner_scores(regularised_gradient(g, G[n], lam / max(scale, 1e-30)), w[n]) for g in grads[n]
        )
    return out


def _accuracy(model, x, y):
    with no_grad():
        return float(np.mean(np.argmax(model(Tensor(x)).data, axis=1) == y))


def _arm(arm, quick):
    epochs = 10 if quick else 25

    def run(seed, lam=0.0, percdamp=0.01, n_batches=8):
        task = tasks.digits()
        dm = {s: np.isin(getattr(task, f"y_{s}"), DOMAIN) for s in ("train", "val", "test")}
        dom = (task.x_train[dm["train"]], task.y_train[dm["train"]])
        model = _model(seed, epochs)
        dense = {
            "dense_test_domain_accuracy": _accuracy(model, task.x_test[dm["test"]], task.y_test[dm["test"]]),
            "dense_test_general_accuracy": _accuracy(model, task.x_test, task.y_test),
        }
        scores = _scores(arm, model, task, dom, seed, lam, percdamp, n_batches)
        masks = unstructured_masks(scores, SPARSITY)
        for n, m in prunable_layers(model).items():
            m.weight.data *= masks[n]
        out = dict(dense)
        for s in ("val", "test"):
            x, y = getattr(task, f"x_{s}"), getattr(task, f"y_{s}")
            out[f"{s}_domain_accuracy"] = _accuracy(model, x[dm[s]], y[dm[s]])
            out[f"{s}_general_accuracy"] = _accuracy(model, x, y)
            out[f"{s}_score"] = 0.5 * (out[f"{s}_domain_accuracy"] + out[f"{s}_general_accuracy"])
        out["general_drop"] = dense["dense_test_general_accuracy"] - out["test_general_accuracy"]
        out["achieved_sparsity"] = float(1 - np.mean(np.concatenate([m.ravel() for m in masks.values()])))
        return out

    nb = {"n_batches": [2, 8, 32, 128, 512]}
    grids = {
        "d-pruner": (
            {"lam": LAMS},
            {"lam": [1.0, 100.0]},
            {"lam": ("lower", "λ → 0 is the domain-only ablation, run as its own arm")},
        ),
        "domain-only": (nb, {"n_batches": [8]}, {}),
        "taylor": (nb, {"n_batches": [8]}, {}),
        "general-only": ({"percdamp": [0.001, 0.01, 0.1]}, {"percdamp": [0.01]}, {}),
        "magnitude": ({}, {}, {}),
    }
    grid, quick_grid, limits = grids[arm]
    if arm == "d-pruner":
        return Method(arm, run, grid=grid, quick_grid=quick_grid, fixed={"n_batches": 8}, limits=limits)
    return Method(arm, run, grid=grid, quick_grid=quick_grid, limits=limits)


@experiment(SLUG, seeds=(0, 1, 2, 3, 4), quick_seeds=(0, 1))
def run(quick, seeds, progress):
    methods = [_arm(a, quick) for a in ARMS]
    comparison = compare(methods, seeds, select="val_score", quick=quick, progress=progress)
    premise = Premise(
        "domain-only importance (λ = 0) costs general accuracy that general-only importance keeps (> 2 points)",
        metric="test_general_accuracy",
        method="general-only",
        baseline="domain-only",
        threshold=0.02,
    )
    claims = [
        Claim(
            "the dual regulariser keeps general accuracy over domain-only importance (λ = 0)",
            metric="test_general_accuracy",
            method="d-pruner",
            baseline="domain-only",
        ),
        Claim(
            "D-Pruner beats general-only importance on domain accuracy",
            metric="test_domain_accuracy",
            method="d-pruner",
            baseline="general-only",
            premises=(),
        ),
        Claim(
            "D-Pruner beats magnitude pruning on domain accuracy",
            metric="test_domain_accuracy",
            method="d-pruner",
            baseline="magnitude",
            premises=(),
        ),
        Claim(
            "D-Pruner beats plain Taylor |g·w| on domain accuracy",
            metric="test_domain_accuracy",
            method="d-pruner",
            baseline="taylor",
            premises=(),
        ),
    ]
    acc = np.array(
        [
            [np.mean(comparison.values(a, m)) for m in ("test_domain_accuracy", "test_general_accuracy")]
            for a in ARMS
        ]
    )
    return finish(
        SLUG,
        comparison,
        premises=[premise],
        claims=claims,
        quick=quick,
        smoke=quick,
        arrays={"accuracy": acc},
        notes={"arms": list(ARMS), "sparsity": SPARSITY, "domain": list(DOMAIN)},
        metrics=[
            "test_domain_accuracy",
            "test_general_accuracy",
            "val_score",
            "general_drop",
            "dense_test_domain_accuracy",
            "achieved_sparsity",
        ],
    )


def plot(result) -> dict:
    from ....plotting import pyplot

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.6))
    acc = result.arrays["accuracy"]
    for i, arm in enumerate(result.notes["arms"]):
        ax.scatter(acc[i, 1], acc[i, 0], s=50, label=arm)
    ax.set_xlabel("general test accuracy (all digits)")
    ax.set_ylabel("domain test accuracy (digits 0–4)")
    ax.set_title(f"one-shot pruning at {100 * result.notes['sparsity']:.0f} % sparsity (mean over seeds)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return {SLUG: fig}
