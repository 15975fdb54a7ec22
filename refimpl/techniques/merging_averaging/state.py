r"""Shared pieces of the merging-averaging family.

Everything here works on **state dicts**: ordered ``name → ndarray`` maps as returned by
``Module.state_dict()``.  Merging methods are arithmetic on them.

Parameter arithmetic
--------------------
* ``flatten_state`` / ``unflatten_state``: one vector θ ∈ R^P and back (a ``spec`` of names and shapes).
* ``interpolate(a, b, λ) = (1 − λ) θ_A + λ θ_B``;  ``average(sds, w) = Σ_i w_i θ_i`` (uniform by default).
* task vectors (Ilharco et al., 2023): ``task_vector(θ_ft, θ_0) = τ = θ_ft − θ_0``, and
  ``add_task_vectors(θ_0, [τ_k], λ) = θ_0 + Σ_k λ_k τ_k`` where λ_k is a scalar per task (task-wise) or
  a dict ``name → scalar`` per task (layer-wise).
* per-layer geometry: ``layer_cosines(a, b, anchor)`` = cos∠(a − anchor, b − anchor) for each tensor,
  ``layer_norms``, ``distance``.

Evaluation
----------
``mlp_forward(sd, x)`` runs the plain ReLU MLP a state dict of ``nn.MLP`` describes (Linear → ReLU → …
→ Linear, keys in order); it uses NumPy when given ndarrays (fast, for evaluation) and the autograd ops
when any parameter is a Tensor (so coefficients that build merged weights can be learned).
``evaluate_state`` gives cross-entropy and accuracy; ``ensemble_probs`` averages softmax outputs.
``interpolation_curve`` evaluates the straight path between two state dicts and ``loss_barrier`` reads
the barrier off it (Frankle et al., 2020; Entezari et al., 2022; Ainsworth et al., 2023):

$$ B(\theta_A, \theta_B) = \max_{\lambda\in[0,1]} \; \mathcal L((1-\lambda)\theta_A + \lambda\theta_B)
   - \big[(1-\lambda)\mathcal L(\theta_A) + \lambda \mathcal L(\theta_B)\big]. $$

Permutations of hidden units
----------------------------
``mlp_permutation_spec(sd)`` says which permutation acts on which axis of which tensor (hidden layer l
permutes the rows of W_l, b_l and the columns of W_{l+1}); ``permute_state`` applies one.  For a ReLU
MLP this leaves the function exactly unchanged (family contract), since ReLU commutes with permutations.

Fine-tuning pipeline (cached within a run)
------------------------------------------
``train_mlp(sizes, x, y, config, init_state=None, trainable=None)`` trains an ``nn.MLP`` with a short
loop (optionally from a given state, optionally only some parameters) and returns its state dict.
Results are cached in-process keyed by (sizes, config, a digest of the data and of the initial state),
so a notebook or a test that asks twice for the same fine-tune gets the first result back (copied).
``TrainConfig`` holds lr, epochs, batch size, weight decay, optimizer, seed and the augmentation
(``"none" | "noise" | "shift" | "rotate"``, applied per batch to 8×8 digit images).
``rotate_images`` (bilinear, zero fill), ``shift_images`` and ``add_noise`` are the digit transforms.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections import OrderedDict

import numpy as np

from ...autograd import ops
from ...autograd.tensor import Tensor

__all__ = [
    "check_state",
    "check_compatible",
    "flatten_state",
    "unflatten_state",
    "interpolate",
    "average",
    "task_vector",
    "add_task_vectors",
    "layer_cosines",
    "layer_norms",
    "distance",
    "linear_layers",
    "mlp_forward",
    "evaluate_state",
    "ensemble_probs",
    "softmax_np",
    "interpolation_curve",
    "loss_barrier",
    "mlp_permutation_spec",
    "permute_state",
    "random_permutations",
    "rotate_images",
    "shift_images",
    "add_noise",
    "TrainConfig",
    "train_mlp",
    "clear_cache",
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
def flatten_state(sd):
    """(θ, spec): all tensors concatenated in key order into one float vector, and the (name, shape,
    dtype) list that `unflatten_state` needs to undo it."""
    sd = check_state(sd, "sd")
    spec = [(k, v.shape, v.dtype) for k, v in sd.items()]
    vec = np.concatenate([v.reshape(-1).astype(np.float64) for v in sd.values()])
    return vec, spec


def unflatten_state(vec, spec) -> OrderedDict:
    """The inverse of `flatten_state` (each tensor cast back to its dtype)."""
    vec = np.asarray(vec)
    total = sum(int(np.prod(s)) for _, s, _ in spec)
    if vec.ndim != 1 or vec.size != total:
        raise ValueError(f"unflatten_state: `vec` must be 1-D with {total} entries, got shape {vec.shape}")
    out, i = OrderedDict(), 0
    for name, shape, dtype in spec:
        n = int(np.prod(shape))
        out[name] = vec[i : i + n].reshape(shape).astype(dtype)
        i += n
    return out


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


def task_vector(sd_ft, sd_base) -> OrderedDict:
    """τ = θ_ft − θ_0 (Ilharco et al., 2023: the task vector)."""
    ft, base = check_compatible([sd_ft, sd_base], "[sd_ft, sd_base]")
    return OrderedDict((k, ft[k] - base[k]) for k in ft)


def add_task_vectors(sd_base, task_vectors, coeffs) -> OrderedDict:
    """θ_0 + Σ_k λ_k τ_k.  `coeffs[k]` is a number (task-wise: one λ per task) or a dict name → number
    (layer-wise: one λ per task and tensor; missing names count as 0).  Works on arrays, and on Tensors
    for the coefficients (then the result holds Tensors, differentiable in the coefficients)."""
    base = check_state(sd_base, "sd_base")
    tvs = check_compatible(list(task_vectors), "task_vectors") if len(task_vectors) else []
    if tvs and list(tvs[0]) != list(base):
        raise ValueError(f"add_task_vectors: task vectors have keys {list(tvs[0])}, expected {list(base)}")
    if len(coeffs) != len(tvs):
        raise ValueError(
            f"add_task_vectors: `coeffs` must have one entry per task vector ({len(tvs)}), got {len(coeffs)}"
        )
    out = OrderedDict()
    for name, w0 in base.items():
        acc = w0
        for tau, lam in zip(tvs, coeffs):
            c = lam.get(name, 0.0) if isinstance(lam, dict) else lam
            acc = acc + c * tau[name]
        out[name] = acc if isinstance(acc, Tensor) else np.asarray(acc).astype(w0.dtype)
    return out


def layer_cosines(sd_a, sd_b, anchor=None) -> OrderedDict:
    """name → cos∠(θ_A − θ_anchor, θ_B − θ_anchor) per tensor (anchor = 0 if None).  A zero vector gives
    cos = 0 (no direction)."""
    if anchor is None:
        a, b = check_compatible([sd_a, sd_b], "[sd_a, sd_b]")
        anc = OrderedDict((k, np.zeros_like(v)) for k, v in a.items())
    else:
        a, b, anc = check_compatible([sd_a, sd_b, anchor], "[sd_a, sd_b, anchor]")
    out = OrderedDict()
    for k in a:
        da = (a[k] - anc[k]).astype(np.float64).ravel()
        db = (b[k] - anc[k]).astype(np.float64).ravel()
        den = np.linalg.norm(da) * np.linalg.norm(db)
        out[k] = float(da @ db / den) if den > 0 else 0.0
    return out


def layer_norms(sd) -> OrderedDict:
    """name → ‖θ[name]‖₂ (Frobenius norm of each tensor)."""
    return OrderedDict(
        (k, float(np.linalg.norm(v.astype(np.float64)))) for k, v in check_state(sd, "sd").items()
    )


def distance(sd_a, sd_b) -> float:
    """‖θ_A − θ_B‖₂ over all parameters."""
    a, b = check_compatible([sd_a, sd_b], "[sd_a, sd_b]")
    return float(np.sqrt(sum(np.sum((a[k].astype(np.float64) - b[k]) ** 2) for k in a)))


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


def mlp_forward(sd, x, return_features: bool = False):
    """Logits of the ReLU MLP `sd` describes (Linear → ReLU → … → Linear).  NumPy for arrays; autograd
    when any parameter is a Tensor.  With `return_features`, also the last hidden activations."""
    layers = linear_layers(sd)
    use_tensor = any(isinstance(v, Tensor) for v in sd.values())
    h = (
        Tensor(np.asarray(x))
        if use_tensor and not isinstance(x, Tensor)
        else (x if use_tensor else np.asarray(x))
    )
    feats = h
    for i, (wk, bk) in enumerate(layers):
        w, b = sd[wk], (sd[bk] if bk is not None else None)
        if use_tensor:
            h = ops.matmul(h, ops.transpose(w if isinstance(w, Tensor) else Tensor(w), 0, 1))
            if b is not None:
                h = h + b
        else:
            h = h @ np.asarray(w).T + (0.0 if b is None else np.asarray(b))
        if i < len(layers) - 1:
            h = ops.relu(h) if use_tensor else np.maximum(h, 0.0)
            feats = h
    return (h, feats) if return_features else h


def softmax_np(z, axis: int = -1):
    z = np.asarray(z, dtype=np.float64)
    z = z - z.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


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


def ensemble_probs(sds, x):
    """The output ensemble: mean over models of the softmax probabilities, (n, classes)."""
    sds = check_compatible(sds, "sds")
    return np.mean([softmax_np(mlp_forward(sd, x)) for sd in sds], axis=0)


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


# --- permutations ------------------------------------------------------------------------------------
def mlp_permutation_spec(sd) -> dict:
    """name → tuple of permutation names per axis (None = not permuted), git-re-basin style, for an
    ``nn.MLP`` state dict: hidden layer l's permutation "P_l" acts on axis 0 of W_l and b_l and on axis 1
    of W_{l+1}.  The input and output axes are never permuted."""
    layers = linear_layers(sd)
    spec = {}
    for i, (wk, bk) in enumerate(layers):
        p_out = f"P_{i}" if i < len(layers) - 1 else None
        p_in = f"P_{i - 1}" if i > 0 else None
        spec[wk] = (p_out, p_in)
        if bk is not None:
            spec[bk] = (p_out,)
    for k in sd:
        spec.setdefault(k, (None,) * _arr(sd[k]).ndim)
    return spec


def permute_state(sd, perms: dict, spec: dict | None = None) -> OrderedDict:
    """Apply permutations (name → index array; new[i] = old[perm[i]] on each axis the spec assigns)."""
    sd = check_state(sd, "sd")
    spec = mlp_permutation_spec(sd) if spec is None else spec
    out = OrderedDict()
    for k, v in sd.items():
        for axis, p in enumerate(spec.get(k, ())):
            if p is None:
                continue
            if p not in perms:
                raise ValueError(f"permute_state: `perms` lacks permutation '{p}' needed by '{k}'")
            idx = np.asarray(perms[p])
            if sorted(idx.tolist()) != list(range(v.shape[axis])):
                raise ValueError(
                    f"permute_state: perms['{p}'] must be a permutation of range({v.shape[axis]}), got {idx}"
                )
            v = np.take(v, idx, axis=axis)
        out[k] = v
    return out


def random_permutations(sd, seed=0) -> dict:
    """A random permutation for every hidden layer of the MLP `sd`."""
    rng = np.random.default_rng(seed)
    spec = mlp_permutation_spec(sd)
    sizes = {}
    for k, axes in spec.items():
        for axis, p in enumerate(axes):
            if p is not None:
                sizes[p] = _arr(sd[k]).shape[axis]
    return {p: rng.permutation(n) for p, n in sorted(sizes.items())}


# --- digit transforms --------------------------------------------------------------------------------
def _as_images(x, side: int = 8):
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[1] != side * side:
        raise ValueError(
            f"expected flattened {side}×{side} images of shape (n, {side * side}), got {x.shape}"
        )
    return x.reshape(-1, side, side)


def rotate_images(x, degrees) -> np.ndarray:
    """Rotate each 8×8 image (flattened rows) about its centre by `degrees` (scalar or one per image),
    bilinear interpolation, zero outside."""
    img = _as_images(x).astype(np.float64)
    n, s, _ = img.shape
    deg = np.broadcast_to(np.asarray(degrees, dtype=np.float64), (n,))
    c = (s - 1) / 2.0
    yy, xx = np.meshgrid(np.arange(s) - c, np.arange(s) - c, indexing="ij")
    th = np.deg2rad(deg)[:, None, None]
    # inverse map: the source of output pixel (y, x) is R(−θ)(y, x)
    sy = np.cos(th) * yy + np.sin(th) * xx + c
    sx = -np.sin(th) * yy + np.cos(th) * xx + c
    y0, x0 = np.floor(sy).astype(int), np.floor(sx).astype(int)
    out = np.zeros_like(img)
    for dy in (0, 1):
        for dx in (0, 1):
            yi, xi = y0 + dy, x0 + dx
            wy = 1 - np.abs(sy - yi)
            wx = 1 - np.abs(sx - xi)
            ok = (yi >= 0) & (yi < s) & (xi >= 0) & (xi < s)
            vals = img[np.arange(n)[:, None, None], np.clip(yi, 0, s - 1), np.clip(xi, 0, s - 1)]
            out += np.where(ok, wy * wx * vals, 0.0)
    return out.reshape(n, s * s).astype(np.asarray(x).dtype)


def shift_images(x, dy, dx) -> np.ndarray:
    """Translate each 8×8 image by integer (dy, dx) (scalars or one per image), zero fill."""
    img = _as_images(x)
    n, s, _ = img.shape
    dy = np.broadcast_to(np.asarray(dy, dtype=int), (n,))
    dx = np.broadcast_to(np.asarray(dx, dtype=int), (n,))
    out = np.zeros_like(img)
    for i in range(n):
        src = img[i]
        ys, xs = slice(max(0, -dy[i]), s - max(0, dy[i])), slice(max(0, -dx[i]), s - max(0, dx[i]))
        yd, xd = slice(max(0, dy[i]), s - max(0, -dy[i])), slice(max(0, dx[i]), s - max(0, -dx[i]))
        out[i][yd, xd] = src[ys, xs]
    return out.reshape(n, s * s)


def add_noise(x, std: float, rng) -> np.ndarray:
    x = np.asarray(x)
    return (x + std * rng.standard_normal(x.shape)).astype(x.dtype)


def _augment(x, kind: str, rng):
    if kind == "none":
        return x
    if kind == "noise":
        return add_noise(x, 0.1, rng)
    if kind == "shift":
        return shift_images(x, rng.integers(-1, 2, len(x)), rng.integers(-1, 2, len(x)))
    if kind == "rotate":
        return rotate_images(x, rng.uniform(-10, 10, len(x)))
    raise ValueError(f"TrainConfig.augment must be one of 'none', 'noise', 'shift', 'rotate', got {kind!r}")


# --- the cached training pipeline --------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """One training run: optimizer ("adam" | "sgd"), lr, epochs, batch size, weight decay (L2, as
    torch's `weight_decay`), momentum (SGD), the per-batch augmentation and the seed (init + order)."""

    lr: float = 1e-3
    epochs: int = 5
    batch_size: int = 64
    weight_decay: float = 0.0
    optimizer: str = "adam"
    momentum: float = 0.9
    augment: str = "none"
    seed: int = 0


_CACHE: dict = {}


def clear_cache() -> None:
    """Forget every cached training run."""
    _CACHE.clear()


def _digest(*arrays) -> str:
    h = hashlib.sha1()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str((a.shape, a.dtype.str)).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def train_mlp(
    sizes, x, y, config: TrainConfig, init_state=None, trainable=None, dtype=np.float32, model_factory=None
) -> OrderedDict:
    """Train ``nn.MLP(sizes)`` on (x, y) with cross-entropy and return its state dict.

    `init_state` (optional) is loaded first (fine-tuning); `trainable` (optional) lists the parameter
    names the optimizer updates (the rest stay fixed, e.g. a frozen head).  `model_factory(sizes, rng,
    dtype) -> Module` (optional, a module-level function) replaces ``nn.MLP``.  Runs are cached in-process.
    """
    from ... import nn, optim
    from ...data import batches
    from ...nn import functional as F
    from ...train import train_step

    if not isinstance(config, TrainConfig):
        raise TypeError(f"train_mlp: `config` must be a TrainConfig, got {type(config).__name__}")
    x, y = np.asarray(x, dtype=dtype), np.asarray(y)
    init_key = "none" if init_state is None else _digest(*check_state(init_state, "init_state").values())
    key = (
        tuple(int(s) for s in sizes),
        config,
        _digest(x, y),
        init_key,
        None if trainable is None else tuple(sorted(trainable)),
        np.dtype(dtype).str,
        None if model_factory is None else f"{model_factory.__module__}.{model_factory.__qualname__}",
    )
    if key in _CACHE:
        return OrderedDict((k, v.copy()) for k, v in _CACHE[key].items())
    if model_factory is None:
        model = nn.MLP(list(sizes), rng=np.random.default_rng(config.seed), dtype=dtype)
    else:
        model = model_factory(list(sizes), np.random.default_rng(config.seed), dtype)
    if init_state is not None:
        model.load_state_dict(init_state)
    named = dict(model.named_parameters())
    if trainable is not None:
        unknown = [n for n in trainable if n not in named]
        if unknown:
            raise ValueError(
                f"train_mlp: `trainable` names {unknown} are not parameters of the model ({list(named)})"
            )
        params = [named[n] for n in trainable]
    else:
        params = list(named.values())
    if config.optimizer == "adam":
        opt = optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    elif config.optimizer == "sgd":
        opt = optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    else:
        raise ValueError(f"TrainConfig.optimizer must be 'adam' or 'sgd', got {config.optimizer!r}")
    rng = np.random.default_rng([config.seed, 7919])
    model.train()
    for epoch in range(config.epochs):
        for xb, yb in batches(
            x, y, batch_size=config.batch_size, shuffle=True, seed=config.seed, epoch=epoch
        ):
            xb = _augment(xb, config.augment, rng)
            train_step(model, F.cross_entropy, xb, yb, opt)
    sd = model.state_dict()
    _CACHE[key] = OrderedDict((k, v.copy()) for k, v in sd.items())
    return sd
