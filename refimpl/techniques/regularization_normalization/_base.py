r"""Shared pieces of the regularization-normalization family.

Structural reparameterization (used by `convbn-tune-mode`, `dilated-reparam-block`, `slab-prepbn`)
-------------------------------------------------------------------------------------------------
An eval-mode BatchNorm after a Linear/Conv with weight W (out channel first) and bias b is an affine
map per output channel, so it folds into the layer:

$$ s = \frac{\gamma}{\sqrt{\sigma^2_{run} + \epsilon}},\qquad W' = s \odot W,\qquad
   b' = \beta + s\,(b - \mu_{run}) $$

(`fold_bn`).  A per-feature affine map a ⊙ x + c *before* a Linear (W, b) folds into it as
W' = W diag(a), b' = W c + b (`fold_affine_into_next_linear`).  Parallel depthwise conv branches with
the same output size add up to one conv: a kernel of size k with dilation r is the kernel of size
r(k − 1) + 1 with r − 1 zeros inserted between its taps (`dilate_kernel`), and a smaller centred kernel
is the larger one zero-padded on every side (`pad_kernel_to`); so Σ_i conv(x, K_i, r_i) + b_i =
conv(x, Σ_i pad(dilate(K_i, r_i)), Σ_i b_i) (`merge_parallel_kernels`).  All of these are exact:
the family contract checks deploy form = training form to 1e-10 in float64.

Memory (`saved_tensor_bytes`)
-----------------------------
The reverse-mode engine keeps, on each node's `ctx`, the arrays its backward needs.  Walking the graph
from an output and adding up the distinct arrays on the contexts measures what a training step holds
in memory for backward — the quantity `convbn-tune-mode` compares between modes.

Adversarial helpers (used by `robust-weight-perturbation`)
----------------------------------------------------------
FGSM (Goodfellow et al., 2015): x' = x + ε sign(∇ₓL).  PGD (Madry et al., 2018): from a random start in
the ε-ball, repeat x ← Π_ball(x + α · step(∇ₓL)), with step = sign(·) for ℓ∞ and ∇/‖∇‖₂ for ℓ2, and the
projection a clip to [x₀ − ε, x₀ + ε] (ℓ∞) or a rescale of δ to norm ≤ ε (ℓ2); optionally clipped to
the data range.  `robust_accuracy` is the accuracy on the attacked inputs.
"""

from __future__ import annotations

import numpy as np

from ...autograd import ops
from ...autograd.tensor import Tensor, no_grad
from ...random import as_generator
from ...threads import one_blas_thread  # noqa: F401  (re-exported for the family's demos)

__all__ = [
    "fold_bn",
    "fold_bn_into",
    "fold_affine_into_next_linear",
    "dilate_kernel",
    "pad_kernel_to",
    "merge_parallel_kernels",
    "saved_tensor_bytes",
    "input_gradient",
    "fgsm",
    "pgd",
    "robust_accuracy",
    "sgd_step",
    "one_blas_thread",
]


def _arr(x):
    return x.data if isinstance(x, Tensor) else np.asarray(x)


def _reshape(x, shape):
    return ops.reshape(x, shape) if isinstance(x, Tensor) else np.reshape(x, shape)


# --- folding ---------------------------------------------------------------------------------------
def fold_bn(weight, bias, bn_weight, bn_bias, running_mean, running_var, eps: float = 1e-5):
    """W' = s ⊙ W (per output channel, axis 0), b' = β + s (b − μ), s = γ/√(σ² + ε).

    `weight` (out, …) and `bias` (out,) or None, `bn_weight`/`bn_bias` (out,) or None (γ = 1, β = 0).
    Works on ndarrays (deploy: fold once) and on Tensors (Tune mode: fold on the fly, differentiably
    with respect to W, b, γ, β; the running statistics are constants).
    """
    rv, rm = np.asarray(running_var), np.asarray(running_mean)
    out = _arr(weight).shape[0]
    if rv.shape != (out,) or rm.shape != (out,):
        raise ValueError(
            f"fold_bn: running_mean/running_var must have shape ({out},) for weight "
            f"{_arr(weight).shape}, got {rm.shape} and {rv.shape}"
        )
    dtype = _arr(weight).dtype
    rstd = (1.0 / np.sqrt(rv.astype(np.float64) + eps)).astype(dtype)
    scale = rstd if bn_weight is None else bn_weight * rstd  # s = γ/√(σ² + ε)
    shape = (out,) + (1,) * (_arr(weight).ndim - 1)
    w_folded = weight * _reshape(scale, shape)  # W' = s ⊙ W
    b = -rm.astype(dtype) if bias is None else bias - rm.astype(dtype)
    b_folded = scale * b  # s (b − μ)
    if bn_bias is not None:
        b_folded = b_folded + bn_bias  # + β
    return w_folded, b_folded


def fold_bn_into(layer, bn):
    """A new Linear/Conv1d/Conv2d equal to `bn(layer(x))` in eval mode (BN folded into the layer)."""
    import copy

    from ...nn.module import Parameter

    if getattr(bn, "running_mean", None) is None:
        raise ValueError("fold_bn_into: `bn` must track running statistics (track_running_stats=True)")
    w, b = fold_bn(
        layer.weight.data,
        None if layer.bias is None else layer.bias.data,
        None if bn.weight is None else bn.weight.data,
        None if bn.bias is None else bn.bias.data,
        bn.running_mean,
        bn.running_var,
        bn.eps,
    )
    new = copy.deepcopy(layer)
    new.weight = Parameter(np.asarray(w, dtype=layer.weight.data.dtype))
    new.bias = Parameter(np.asarray(b, dtype=layer.weight.data.dtype))
    return new


def fold_affine_into_next_linear(scale, shift, weight, bias=None):
    """Linear(a ⊙ x + c) = W' x + b' with W' = W diag(a), b' = W c + b.  `weight` is (out, in)."""
    scale, shift, weight = np.asarray(scale), np.asarray(shift), np.asarray(weight)
    if weight.ndim != 2 or scale.shape != (weight.shape[1],) or shift.shape != (weight.shape[1],):
        raise ValueError(
            f"fold_affine_into_next_linear: expected weight (out, in) and scale/shift (in,), got "
            f"weight {weight.shape}, scale {scale.shape}, shift {shift.shape}"
        )
    w_new = weight * scale[None, :]
    b_new = weight @ shift + (0.0 if bias is None else np.asarray(bias))
    return w_new, b_new


def dilate_kernel(kernel, dilation: int):
    """Insert dilation − 1 zeros between the taps of the spatial axes (all axes after the first two):
    a (O, I, k[, k]) kernel becomes (O, I, r(k−1)+1[, …]) and conv with it equals the dilated conv."""
    kernel = np.asarray(kernel)
    r = int(dilation)
    if r < 1:
        raise ValueError(f"dilate_kernel: `dilation` must be an int ≥ 1, got {dilation}")
    if kernel.ndim < 3:
        raise ValueError(f"dilate_kernel: `kernel` must be (O, I, k, …), got shape {kernel.shape}")
    if r == 1:
        return kernel.copy()
    spatial = kernel.shape[2:]
    out = np.zeros(kernel.shape[:2] + tuple(r * (k - 1) + 1 for k in spatial), dtype=kernel.dtype)
    out[(slice(None), slice(None)) + tuple(slice(None, None, r) for _ in spatial)] = kernel
    return out


def pad_kernel_to(kernel, size):
    """Zero-pad the spatial axes of an odd-sized kernel symmetrically to `size` (int or tuple, odd)."""
    kernel = np.asarray(kernel)
    spatial = kernel.shape[2:]
    size = (int(size),) * len(spatial) if np.isscalar(size) else tuple(int(s) for s in size)
    if len(size) != len(spatial) or any(s < k or (s - k) % 2 for s, k in zip(size, spatial)):
        raise ValueError(
            f"pad_kernel_to: cannot centre a kernel of spatial size {spatial} in {size} "
            "(each target must be ≥ the kernel and differ from it by an even number)"
        )
    pads = [(0, 0), (0, 0)] + [((s - k) // 2, (s - k) // 2) for s, k in zip(size, spatial)]
    return np.pad(kernel, pads)


def merge_parallel_kernels(branches, size):
    """Σ_i conv(x, K_i, dilation r_i) + b_i as one conv (kernel of spatial `size`, dilation 1, 'same'
    padding): returns (Σ_i pad(dilate(K_i, r_i)), Σ_i b_i).  `branches` = [(K_i, b_i or None, r_i)]."""
    if not branches:
        raise ValueError(
            "merge_parallel_kernels: `branches` must be a non-empty list of (kernel, bias, dilation)"
        )
    kernel, bias = None, None
    for k, b, r in branches:
        kk = pad_kernel_to(dilate_kernel(k, r), size)
        kernel = kk if kernel is None else kernel + kk
        if b is not None:
            bias = np.asarray(b).copy() if bias is None else bias + np.asarray(b)
    if bias is None:
        bias = np.zeros(kernel.shape[0], dtype=kernel.dtype)
    return kernel, bias


# --- memory held for backward ----------------------------------------------------------------------
def saved_tensor_bytes(output: Tensor, min_size: int = 1) -> dict:
    """Arrays kept on the graph's contexts for backward, reachable from `output` (call before backward).

    Returns {"count": number of distinct saved arrays with ≥ `min_size` elements, "bytes": their total
    size}.  Views count with their base array (deduplicated by the memory they own)."""
    seen_nodes, seen_arrays = set(), set()
    count, nbytes = 0, 0
    stack = [output]
    while stack:
        t = stack.pop()
        ctx = getattr(t, "_ctx", None)
        if ctx is None or id(ctx) in seen_nodes:
            continue
        seen_nodes.add(id(ctx))
        for key, val in vars(ctx).items():
            if key in ("parents", "needs_input_grad"):
                continue
            vals = val if isinstance(val, (tuple, list)) else (val,)
            for a in vals:
                if isinstance(a, np.ndarray) and a.size >= min_size:
                    owner = a if a.base is None else a.base
                    if id(owner) not in seen_arrays:
                        seen_arrays.add(id(owner))
                        count += 1
                        nbytes += owner.nbytes
        for p in getattr(ctx, "parents", ()):
            if p is not None:
                stack.append(p)
    return {"count": count, "bytes": nbytes}


# --- adversarial helpers ---------------------------------------------------------------------------
def _ce(logits, y):
    from ...nn import functional as F

    return F.cross_entropy(logits, y)


def input_gradient(model, x, y, loss_fn=None) -> np.ndarray:
    """∇ₓ loss_fn(model(x), y) as an ndarray; the parameters' .grad are left as they were."""
    loss_fn = _ce if loss_fn is None else loss_fn
    params = list(model.parameters()) if hasattr(model, "parameters") else []
    saved = [p.grad for p in params]
    xt = Tensor(np.asarray(x), requires_grad=True)
    loss = loss_fn(model(xt), y)
    loss.backward()
    for p, g in zip(params, saved):
        p.grad = g
    return xt.grad


def _check_attack(eps, norm):
    if not eps >= 0:
        raise ValueError(f"`eps` must be ≥ 0, got {eps}")
    if norm not in ("linf", "l2"):
        raise ValueError(f"`norm` must be 'linf' or 'l2', got {norm!r}")


def _flat_norm(a):
    return np.sqrt(np.sum(a.reshape(len(a), -1) ** 2, axis=1)).reshape((len(a),) + (1,) * (a.ndim - 1))


def _project(delta, eps, norm):
    if norm == "linf":
        return np.clip(delta, -eps, eps)
    n = _flat_norm(delta)
    return delta * np.minimum(1.0, eps / np.maximum(n, 1e-12))


def _clip_range(x, clip):
    return x if clip is None else np.clip(x, clip[0], clip[1])


def fgsm(model, x, y, eps: float, *, loss_fn=None, clip=None) -> np.ndarray:
    """x' = clip(x + ε sign(∇ₓL(x, y)))  (Goodfellow et al., 2015)."""
    _check_attack(eps, "linf")
    x = np.asarray(x)
    g = input_gradient(model, x, y, loss_fn)
    return _clip_range(x + eps * np.sign(g), clip).astype(x.dtype)


def pgd(
    model,
    x,
    y,
    eps: float,
    alpha: float,
    steps: int,
    *,
    norm: str = "linf",
    random_start: bool = True,
    loss_fn=None,
    clip=None,
    rng=None,
) -> np.ndarray:
    """Projected gradient ascent on the loss inside the ε-ball around x (Madry et al., 2018).

    ℓ∞: x ← Π(x + α sign(∇));  ℓ2: x ← Π(x + α ∇/‖∇‖₂) per sample;  Π projects δ = x − x₀ onto the
    ε-ball and then clips to the data range `clip` = (lo, hi) if given."""
    _check_attack(eps, norm)
    if steps < 0 or alpha < 0:
        raise ValueError(f"`steps` and `alpha` must be ≥ 0, got steps={steps}, alpha={alpha}")
    x0 = np.asarray(x)
    rng = as_generator(rng)
    delta = np.zeros_like(x0)
    if random_start and eps > 0:
        if norm == "linf":
            delta = rng.uniform(-eps, eps, size=x0.shape).astype(x0.dtype)
        else:  # uniform in the ℓ2 ball: a random direction, radius ε u^{1/d}
            d = int(np.prod(x0.shape[1:]))
            z = rng.standard_normal(x0.shape)
            r = eps * rng.random((len(x0),) + (1,) * (x0.ndim - 1)) ** (1.0 / d)
            delta = (z / np.maximum(_flat_norm(z), 1e-12) * r).astype(x0.dtype)
    xa = _clip_range(x0 + delta, clip)
    for _ in range(int(steps)):
        g = input_gradient(model, xa, y, loss_fn)
        step = np.sign(g) if norm == "linf" else g / np.maximum(_flat_norm(g), 1e-12)
        xa = x0 + _project(xa + alpha * step - x0, eps, norm)
        xa = _clip_range(xa, clip).astype(x0.dtype)
    return xa.astype(x0.dtype)


def robust_accuracy(model, x, y, attack: str = "pgd", batch_size: int = 512, **kwargs) -> float:
    """Accuracy of `model` (put in eval mode, restored after) on inputs attacked by `attack`
    ("clean", "fgsm" or "pgd"; keyword arguments go to the attack)."""
    if attack not in ("clean", "fgsm", "pgd"):
        raise ValueError(f"`attack` must be 'clean', 'fgsm' or 'pgd', got {attack!r}")
    was = getattr(model, "training", False)
    if hasattr(model, "eval"):
        model.eval()
    try:
        correct = 0
        x, y = np.asarray(x), np.asarray(y)
        for i in range(0, len(x), batch_size):
            xb, yb = x[i : i + batch_size], y[i : i + batch_size]
            if attack == "fgsm":
                xb = fgsm(model, xb, yb, **kwargs)
            elif attack == "pgd":
                xb = pgd(model, xb, yb, **kwargs)
            with no_grad():
                pred = model(Tensor(xb)).data.argmax(axis=1)
            correct += int(np.sum(pred == yb))
        return correct / max(len(x), 1)
    finally:
        if hasattr(model, "train"):
            model.train(was)


# --- a minimal optimiser step for the family's own short loops ------------------------------------
def sgd_step(
    params, lr: float, momentum: float = 0.0, buffers: dict | None = None, weight_decay: float = 0.0
) -> None:
    """p ← p − lr · v with v = μ v + (∇p + λ p) (PyTorch's SGD convention; v = ∇p + λ p on the first
    step).  `buffers` (a dict, keyed by id(p)) keeps the momentum between calls; params without a
    gradient are skipped.  The family's demos use it so that their loops read in one screen."""
    for p in params:
        if p.grad is None:
            continue
        g = p.grad + weight_decay * p.data if weight_decay else p.grad
        if momentum:
            if buffers is None:
                raise ValueError("sgd_step: `buffers` (a dict) is needed when momentum > 0")
            v = buffers.get(id(p))
            v = g.copy() if v is None else momentum * v + g
            buffers[id(p)] = v
            g = v
        p.data -= (lr * g).astype(p.data.dtype)
