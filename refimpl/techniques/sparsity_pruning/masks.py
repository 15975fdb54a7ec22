r"""Shared base of the sparsity-pruning family: masks, magnitude selection, schedules, reports.

Masks are a weight parametrization,  $W = \theta \odot m$  (`Mask`, registered with
`refimpl.nn.parametrize`), so they stack with any other weight transform and the optimizer updates θ.
With the default `Mask(dense_grad=False)` the chain rule gives  ∂L/∂θ = (∂L/∂W) ⊙ m: pruned entries
get no gradient, and whatever the optimizer state does to θ there, the weight the layer sees stays
exactly zero.  Dynamic-sparsity methods that *regrow* weights need the dense gradient ∂L/∂W at the
pruned entries (e.g. sparse momentum); `Mask(dense_grad=True)` passes it straight through to θ, and
`enforce_masks_(model, optimizer)` then zeroes θ and the optimizer's per-parameter state (momentum
buffers, Adam moments) at pruned entries after each step, so nothing is resurrected.

Selection.  "Prune the k smallest" is made exact and deterministic by ordering entries by
(score, flat index): ties go towards the lower index, as the first k of a stable ascending argsort
(`bottom_k_mask_by_sort`, the definition and the test oracle).  `bottom_k_mask` gets the same set in O(n)
with `np.partition`: everything below the k-th smallest value, then the lowest-indexed entries equal to
it.  (A Numba quickselect did this before; it was 6–8× slower than the partition at 3·10⁴–10⁶ entries,
so it was removed.)  Sparsity targets are met exactly: a layer of n weights at sparsity s
prunes round(s·n) weights (within half a weight of the target); a global target prunes round(s·N) of
all N weights together.

Schedules.  The gradual cubic schedule of Zhu & Gupta (2017),
$s_t = s_f + (s_i - s_f)\,(1 - \tfrac{t - t_0}{n\Delta t})^3$ for t_0 ≤ t ≤ t_0 + nΔt.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from ...autograd.function import straight_through
from ...autograd.tensor import Tensor
from ...nn import parametrize
from ...nn.module import Module

__all__ = [
    "bottom_k_mask",
    "bottom_k_mask_by_sort",
    "n_pruned",
    "check_sparsity",
    "as_weight_dict",
    "pack_like",
    "magnitude_mask",
    "layerwise_magnitude_masks",
    "cubic_schedule",
    "Mask",
    "prunable_layers",
    "latent_weight",
    "get_mask",
    "apply_masks",
    "current_masks",
    "remove_masks",
    "enforce_masks_",
    "mask_optimizer_state_",
    "MaskCallback",
    "sparsity_report",
    "total_sparsity",
]


# --- selection -------------------------------------------------------------------------------------------
def _check_scores(scores, k, fn):
    scores = np.asarray(scores)
    if scores.ndim != 1:
        raise ValueError(f"{fn}: `scores` must be 1-D, got shape {scores.shape}")
    if scores.dtype.kind not in "fiu":
        raise TypeError(f"{fn}: `scores` must be a real array, got dtype {scores.dtype}")
    if scores.dtype.kind == "f" and np.isnan(scores).any():
        raise ValueError(f"{fn}: `scores` contains NaN at index {int(np.flatnonzero(np.isnan(scores))[0])}")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 0 <= k <= scores.size:
        raise ValueError(f"{fn}: `k` must be an integer in [0, {scores.size}], got {k!r}")
    return scores, int(k)


def bottom_k_mask_by_sort(scores, k) -> np.ndarray:
    """Boolean mask of the k smallest of `scores` (1-D), ties towards the lower index: the first k of a
    stable ascending argsort (the definition; O(n log n))."""
    scores, k = _check_scores(scores, k, "bottom_k_mask_by_sort")
    out = np.zeros(scores.size, dtype=bool)
    out[np.argsort(scores, kind="stable")[:k]] = True
    return out


def bottom_k_mask(scores, k) -> np.ndarray:
    """Boolean mask of the k smallest of `scores` (1-D), ties towards the lower index, in O(n): the
    entries below the k-th smallest value v, then the lowest-indexed entries equal to v.  Equal to
    `bottom_k_mask_by_sort`."""
    scores, k = _check_scores(scores, k, "bottom_k_mask")
    out = np.zeros(scores.size, dtype=bool)
    if k == 0:
        return out
    v = np.partition(scores, k - 1)[k - 1]
    np.less(scores, v, out=out)
    missing = k - int(np.count_nonzero(out))  # the ties at v that complete the k, lowest indices first
    out[np.flatnonzero(scores == v)[:missing]] = True
    return out


# --- magnitude masks -----------------------------------------------------------------------------------
def check_sparsity(sparsity, fn):
    """`sparsity` as a float in [0, 1]; ValueError naming `fn` otherwise."""
    if (
        isinstance(sparsity, bool)
        or not isinstance(sparsity, (int, float, np.floating, np.integer))
        or not 0.0 <= float(sparsity) <= 1.0
    ):
        raise ValueError(f"{fn}: `sparsity` must be a number in [0, 1], got {sparsity!r}")
    return float(sparsity)


def n_pruned(n: int, sparsity: float) -> int:
    """Number of weights pruned from n at a target sparsity: round(s·n) (halves round to even)."""
    s = check_sparsity(sparsity, "n_pruned")
    return int(round(s * n))


def magnitude_mask(w, sparsity: float) -> np.ndarray:
    """Keep-mask (float, shape of w) pruning the round(s·n) smallest |w| of one layer."""
    w = np.asarray(getattr(w, "data", w))
    k = n_pruned(w.size, check_sparsity(sparsity, "magnitude_mask"))
    return (
        (~bottom_k_mask(np.abs(w).ravel(), k))
        .reshape(w.shape)
        .astype(w.dtype if w.dtype.kind == "f" else np.float32)
    )


def as_weight_dict(weights, fn):
    """[(name, array)] from a dict of arrays or a list of them (named 0, 1, …)."""
    if isinstance(weights, dict):
        items = list(weights.items())
    elif isinstance(weights, (list, tuple)):
        items = list(enumerate(weights))
    else:
        raise TypeError(f"{fn}: `weights` must be a dict or list of arrays, got {type(weights).__name__}")
    if not items:
        raise ValueError(f"{fn}: `weights` is empty")
    return [(k, np.asarray(getattr(v, "data", v))) for k, v in items]


def pack_like(items, masks, like):
    """`masks` in the container type of `like`: a dict by the names of `items`, else a list."""
    out = OrderedDict((name, m) for (name, _), m in zip(items, masks))
    return out if isinstance(like, dict) else list(out.values())


def layerwise_magnitude_masks(weights, sparsity: float):
    """Uniform layer-wise magnitude pruning: each layer at the same sparsity (dict or list in, alike out)."""
    items = as_weight_dict(weights, "layerwise_magnitude_masks")
    s = check_sparsity(sparsity, "layerwise_magnitude_masks")
    return pack_like(items, [magnitude_mask(w, s) for _, w in items], weights)


# --- schedules -----------------------------------------------------------------------------------------
def cubic_schedule(
    step: int, final_sparsity: float, start_step: int, end_step: int, initial_sparsity: float = 0.0
) -> float:
    """Gradual pruning of Zhu & Gupta (2017), Eq. 1: s_t = s_f + (s_i − s_f)(1 − (t − t_0)/(t_1 − t_0))³,
    held at s_i before t_0 and at s_f after t_1."""
    sf = check_sparsity(final_sparsity, "cubic_schedule")
    si = check_sparsity(initial_sparsity, "cubic_schedule")
    if end_step <= start_step:
        raise ValueError(f"cubic_schedule: `end_step` must be > `start_step`, got {end_step} ≤ {start_step}")
    if step <= start_step:
        return si
    if step >= end_step:
        return sf
    frac = (step - start_step) / (end_step - start_step)
    return sf + (si - sf) * (1.0 - frac) ** 3


# --- the mask parametrization --------------------------------------------------------------------------
class Mask(Module):
    """W = θ ⊙ m as a parametrization.  `mask` is a buffer (0/1, the weight's shape).

    dense_grad=False: ∂L/∂θ = ∂L/∂W ⊙ m (pruned entries get no gradient — the usual mask).
    dense_grad=True:  ∂L/∂θ = ∂L/∂W (straight-through; for methods that read the dense gradient or
    momentum at pruned entries, e.g. to regrow them).  The forward value is θ ⊙ m in both cases."""

    def __init__(self, mask, dense_grad: bool = False):
        super().__init__()
        mask = np.asarray(mask)
        if mask.dtype == bool:
            mask = mask.astype(np.float32)
        if mask.dtype.kind not in "fiu" or not np.all((mask == 0) | (mask == 1)):
            raise ValueError("Mask: `mask` must contain only 0 and 1")
        self.register_buffer("mask", mask.astype(mask.dtype if mask.dtype.kind == "f" else np.float32))
        self.dense_grad = bool(dense_grad)

    def set_mask(self, mask) -> None:
        mask = np.asarray(mask)
        if mask.shape != self.mask.shape:
            raise ValueError(f"Mask.set_mask: `mask` must have shape {self.mask.shape}, got {mask.shape}")
        if not np.all((mask == 0) | (mask == 1)):
            raise ValueError("Mask.set_mask: `mask` must contain only 0 and 1")
        self.register_buffer("mask", mask.astype(self.mask.dtype))

    def forward(self, theta):
        if theta.shape != self.mask.shape:
            raise ValueError(f"Mask: weight has shape {tuple(theta.shape)}, mask has {self.mask.shape}")
        m = self.mask.astype(theta.data.dtype, copy=False)
        if self.dense_grad:
            return straight_through(theta, theta.data * m)
        return theta * Tensor(m)

    def extra_repr(self):
        return f"shape={self.mask.shape}, density={float(self.mask.mean()):.4f}, dense_grad={self.dense_grad}"


def prunable_layers(model: Module, include=None) -> OrderedDict[str, Module]:
    """name → module for every submodule whose `weight` has ≥ 2 dims (Linear, Conv, …), in order.

    Embeddings and norm layers (1-D weights) are left out; `include(name, module) -> bool` filters more."""
    out = OrderedDict()
    for name, mod in model.named_modules():
        plist = mod._modules.get("parametrizations")
        if plist is not None and "weight" in plist._modules:
            w = plist._modules["weight"].original
        else:
            w = mod._parameters.get("weight")
        if w is None or w.data.ndim < 2:
            continue
        if include is not None and not include(name, mod):
            continue
        out[name] = mod
    return out


def latent_weight(module: Module):
    """θ: the Parameter the optimizer updates (the parametrization's `original`, or the weight itself)."""
    if parametrize.is_parametrized(module, "weight"):
        return module.parametrizations.weight.original
    return module._parameters["weight"]


def get_mask(module: Module):
    """The `Mask` transform on module.weight, or None."""
    if not parametrize.is_parametrized(module, "weight"):
        return None
    plist = module.parametrizations.weight
    for i in range(len(plist)):
        if isinstance(plist[i], Mask):
            return plist[i]
    return None


def apply_masks(model: Module, masks: dict, dense_grad: bool = False) -> Module:
    """Install or update a `Mask` on each named layer (names as in `prunable_layers`)."""
    layers = dict(model.named_modules())
    for name, m in masks.items():
        if name not in layers:
            raise KeyError(f"apply_masks: no submodule {name!r} (prunable: {list(prunable_layers(model))})")
        mod = layers[name]
        existing = get_mask(mod)
        if existing is not None:
            existing.set_mask(m)
            existing.dense_grad = bool(dense_grad)
        else:
            parametrize.register_parametrization(mod, "weight", Mask(m, dense_grad=dense_grad))
    return model


def current_masks(model: Module) -> OrderedDict[str, np.ndarray]:
    """name → mask array for every layer that carries a `Mask`."""
    return OrderedDict((n, get_mask(m).mask) for n, m in model.named_modules() if get_mask(m) is not None)


def remove_masks(model: Module, bake: bool = True) -> Module:
    """Bake (θ ⊙ m becomes the plain weight) or drop every weight parametrization carrying a Mask."""
    for _, mod in list(model.named_modules()):
        if get_mask(mod) is not None:
            parametrize.remove_parametrizations(mod, "weight", bake=bake)
    return model


def mask_optimizer_state_(optimizer, param, mask) -> None:
    """Zero every per-parameter state array of `param` (momentum buffer, Adam's m and v, …) where mask
    is 0.  Works with any optimizer that keeps `optimizer.state[param]` as a dict of arrays (PyTorch's
    layout); arrays of another shape (step counters) are left alone."""
    entry = getattr(optimizer, "state", {}).get(param) or {}
    mask = np.asarray(mask)
    for value in entry.values():
        arr = getattr(value, "data", value)
        if isinstance(arr, np.ndarray) and arr.shape == mask.shape:
            arr *= mask.astype(arr.dtype, copy=False)


def enforce_masks_(model: Module, optimizer=None) -> None:
    """θ ← θ ⊙ m and (if given) the optimizer's state of θ ← state ⊙ m, for every masked layer."""
    for _, mod in model.named_modules():
        mk = get_mask(mod)
        if mk is None:
            continue
        theta = latent_weight(mod)
        m = mk.mask.astype(theta.data.dtype, copy=False)
        if optimizer is not None and hasattr(optimizer, "mask_"):
            optimizer.mask_(theta, m)  # refimpl.optim: θ and every per-element state array
        else:
            theta.data *= m
            if optimizer is not None:
                mask_optimizer_state_(optimizer, theta, m)


class MaskCallback:
    """`refimpl.train.fit` callback: after every optimizer step, zero θ and its optimizer state at pruned
    entries (`enforce_masks_`)."""

    def __init__(self, model: Module, optimizer=None):
        self.model, self.optimizer = model, optimizer

    def on_step_end(self, state):
        enforce_masks_(self.model, self.optimizer if self.optimizer is not None else state.optimizer)


# --- reports -------------------------------------------------------------------------------------------
def _effective_weight(mod):
    from ...autograd.tensor import no_grad

    with no_grad():
        w = mod.weight
    return np.asarray(getattr(w, "data", w))


def sparsity_report(model: Module, layers=None) -> list:
    """One row per prunable layer — {"layer", "shape", "weights", "nonzero", "sparsity"} of the weight the
    layer actually uses — and a final "total" row."""
    layers = prunable_layers(model) if layers is None else layers
    rows, nz_total, n_total = [], 0, 0
    for name, mod in layers.items():
        w = _effective_weight(mod)
        nz = int(np.count_nonzero(w))
        rows.append(
            {
                "layer": name,
                "shape": tuple(w.shape),
                "weights": int(w.size),
                "nonzero": nz,
                "sparsity": 1.0 - nz / w.size,
            }
        )
        nz_total += nz
        n_total += w.size
    rows.append(
        {
            "layer": "total",
            "shape": (),
            "weights": n_total,
            "nonzero": nz_total,
            "sparsity": 1.0 - nz_total / n_total if n_total else 0.0,
        }
    )
    return rows


def total_sparsity(model: Module) -> float:
    return sparsity_report(model)[-1]["sparsity"]
