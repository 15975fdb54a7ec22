r"""Shared pieces of the merging-averaging family: arithmetic on **state dicts** and their evaluation.

A state dict is an ordered ``name → ndarray`` map as returned by ``Module.state_dict()``; merging methods
are arithmetic on them.

Parameter arithmetic
--------------------
* ``check_state`` / ``check_compatible``: validate one state dict / a list of them with the same keys and
  shapes (Tensors are read as their arrays).
* ``interpolate(a, b, λ) = (1 − λ) θ_A + λ θ_B``;  ``average(sds, w) = Σ_i w_i θ_i`` (uniform by default).

Evaluation
----------
``linear_layers(sd)`` lists the (weight, bias) pairs of the plain ReLU MLP a state dict of ``nn.MLP``
describes (Linear → ReLU → … → Linear, keys in order); ``mlp_forward(sd, x)`` runs it in NumPy.
``evaluate_state`` gives cross-entropy and accuracy.  ``interpolation_curve`` evaluates the straight path
between two state dicts and ``loss_barrier`` reads the barrier off it (Frankle et al., 2020; Entezari et
al., 2022; Ainsworth et al., 2023):

$$ B(\theta_A, \theta_B) = \max_{\lambda\in[0,1]} \; \mathcal L((1-\lambda)\theta_A + \lambda\theta_B)
   - \big[(1-\lambda)\mathcal L(\theta_A) + \lambda \mathcal L(\theta_B)\big]. $$

The fine-tuning runs that produce the state dicts are `finetuning.py`.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from ...autograd.tensor import Tensor

__all__ = [
    "check_state",
    "check_compatible",
    "interpolate",
    "average",
    "linear_layers",
    "mlp_forward",
    "evaluate_state",
    "interpolation_curve",
    "loss_barrier",
]


# --- validation --------------------------------------------------------------------------------------
def _arr(v):
    return v.data if isinstance(v, Tensor) else np.asarray(v)


def check_state(sd, argname: str = "state") -> OrderedDict:
    """An OrderedDict name → ndarray copy-free view of `sd` (a dict of arrays/Tensors); else TypeError."""
    if not isinstance(sd, dict):
        raise TypeError(f"`{argname}` must be a state dict (dict name → array), got {type(sd).__name__}")
    if not sd:
        raise ValueError(f"`{argname}` must be a non-empty state dict, got an empty dict")
    return OrderedDict((k, _arr(v)) for k, v in sd.items())


def check_compatible(sds, argname: str = "states") -> list:
    """Validate a non-empty list of state dicts with the same keys (same order) and shapes."""
    if isinstance(sds, dict) or not hasattr(sds, "__len__"):
        raise TypeError(f"`{argname}` must be a list of state dicts, got {type(sds).__name__}")
    if len(sds) == 0:
        raise ValueError(f"`{argname}` must hold at least one state dict, got an empty list")
    out = [check_state(sd, f"{argname}[{i}]") for i, sd in enumerate(sds)]
    ref = out[0]
    for i, sd in enumerate(out[1:], 1):
        if list(sd) != list(ref):
            raise ValueError(
                f"`{argname}[{i}]` has keys {list(sd)}, expected the keys of `{argname}[0]` {list(ref)}"
            )
        for k in ref:
            if sd[k].shape != ref[k].shape:
                raise ValueError(f"`{argname}[{i}]['{k}']` has shape {sd[k].shape}, expected {ref[k].shape}")
    return out


# --- parameter arithmetic ----------------------------------------------------------------------------
def interpolate(sd_a, sd_b, lam: float) -> OrderedDict:
    """(1 − λ) θ_A + λ θ_B, tensor by tensor (λ = 0 gives θ_A, λ = 1 gives θ_B)."""
    a, b = check_compatible([sd_a, sd_b], "[sd_a, sd_b]")
    lam = float(lam)
    return OrderedDict((k, ((1.0 - lam) * a[k] + lam * b[k]).astype(a[k].dtype)) for k in a)


def average(sds, weights=None) -> OrderedDict:
    """Σ_i w_i θ_i (uniform w_i = 1/n by default) — a uniform soup.  Weights need not sum to one."""
    sds = check_compatible(sds, "sds")
    n = len(sds)
    if weights is None:
        w = np.full(n, 1.0 / n)
    else:
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != (n,):
            raise ValueError(f"average: `weights` must have shape ({n},) for {n} state dicts, got {w.shape}")
    out = OrderedDict()
    for k in sds[0]:
        acc = sum(wi * sd[k].astype(np.float64) for wi, sd in zip(w, sds))
        out[k] = np.asarray(acc).astype(sds[0][k].dtype)
    return out


# --- the functional MLP and evaluation ---------------------------------------------------------------
def linear_layers(sd) -> list:
    """[(weight_name, bias_name | None), …] of the Linear layers of an ``nn.MLP`` state dict, in order:
    every 2-D tensor is a weight (out, in); a following 1-D tensor with the same prefix is its bias."""
    keys = list(sd)
    layers = []
    for k in keys:
        if _arr(sd[k]).ndim == 2:
            prefix = k.rsplit(".", 1)[0] if "." in k else ""
            bias = None
            cand = (prefix + ".bias") if prefix else "bias"
            if cand in sd:
                bias = cand
            layers.append((k, bias))
    if not layers:
        raise ValueError(f"linear_layers: the state dict has no 2-D weight, keys {keys}")
    for (w1, _), (w2, _) in zip(layers[:-1], layers[1:]):
        if _arr(sd[w1]).shape[0] != _arr(sd[w2]).shape[1]:
            raise ValueError(
                f"linear_layers: '{w1}' {_arr(sd[w1]).shape} does not feed '{w2}' {_arr(sd[w2]).shape}"
            )
    return layers


def mlp_forward(sd, x) -> np.ndarray:
    """Logits of the ReLU MLP `sd` describes (Linear → ReLU → … → Linear), in NumPy."""
    layers = linear_layers(sd)
    h = np.asarray(x)
    for i, (wk, bk) in enumerate(layers):
        h = h @ _arr(sd[wk]).T + (0.0 if bk is None else _arr(sd[bk]))
        if i < len(layers) - 1:
            h = np.maximum(h, 0.0)
    return h


def evaluate_state(sd, x, y) -> dict:
    """{"loss": mean cross-entropy, "accuracy"} of the MLP `sd` on (x, y) (NumPy, float64 softmax)."""
    logits = np.asarray(mlp_forward(check_state(sd, "sd"), x), dtype=np.float64)
    y = np.asarray(y)
    z = logits - logits.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return {
        "loss": float(-logp[np.arange(len(y)), y].mean()),
        "accuracy": float(np.mean(logits.argmax(1) == y)),
    }


def interpolation_curve(sd_a, sd_b, x, y, num: int = 11) -> dict:
    """Loss and accuracy of (1 − λ)θ_A + λθ_B for `num` evenly spaced λ ∈ [0, 1]."""
    if int(num) < 2:
        raise ValueError(f"interpolation_curve: `num` must be ≥ 2, got {num}")
    lams = np.linspace(0.0, 1.0, int(num))
    res = [evaluate_state(interpolate(sd_a, sd_b, lam), x, y) for lam in lams]
    return {
        "lambdas": lams,
        "loss": np.array([r["loss"] for r in res]),
        "accuracy": np.array([r["accuracy"] for r in res]),
    }


def loss_barrier(losses, lambdas=None) -> float:
    """max_λ L(θ_λ) − [(1 − λ)L(θ_0) + λL(θ_1)] along a curve whose ends are λ = 0 and 1."""
    losses = np.asarray(losses, dtype=np.float64)
    if losses.ndim != 1 or losses.size < 2:
        raise ValueError(f"loss_barrier: `losses` must be 1-D with ≥ 2 points, got shape {losses.shape}")
    lams = np.linspace(0.0, 1.0, losses.size) if lambdas is None else np.asarray(lambdas, dtype=np.float64)
    if lams.shape != losses.shape:
        raise ValueError(f"loss_barrier: `lambdas` must have shape {losses.shape}, got {lams.shape}")
    chord = (1.0 - lams) * losses[0] + lams * losses[-1]
    return float(np.max(losses - chord))
