"""The family's post-training-quantization pipeline: trained toy models, calibration data, per-layer input
capture, weight substitution and evaluation.

The model (trained once per process and cached by its arguments; training is seeded, so deterministic):

* `trained_digits_mlp(seed, hidden)` — an MLP 64 → hidden… → 10 (ReLU) trained with Adam on the 8×8
  digits; returns (model, split).  Calibration data: `calibration_split(split, n, seed)`.

Pieces:

* `linear_layers(model)` — [(name, Linear)] in forward order; `weight_sites(model)` adds the packed
  attention projection `in_proj_weight` of each `MultiHeadAttention`.
* `capture_inputs(model, run, names)` — run `run()` once and record the input of each named Linear (and,
  for "…self_attn.in_proj", the input of the attention block, i.e. its pre-norm output), as (N, d) arrays.
* `substituted(model, {site: W})` — a context manager that swaps weights in and restores them.
* `reconstruction_error(W, W_hat, X)` = ‖X Wᵀ − X Ŵᵀ‖² / ‖X Wᵀ‖²; `accuracy(model, x, y)`.
"""

from __future__ import annotations

import contextlib

import numpy as np

from ...autograd.tensor import Tensor, no_grad

__all__ = [
    "trained_digits_mlp",
    "calibration_split",
    "linear_layers",
    "weight_sites",
    "get_weight",
    "capture_inputs",
    "substituted",
    "reconstruction_error",
    "accuracy",
]

_CACHE: dict = {}


def _fresh_copy(model_cls_args, state):
    model = model_cls_args()
    model.load_state_dict(state)
    return model


def trained_digits_mlp(
    seed: int = 0, hidden=(64, 64), epochs: int = 30, lr: float = 3e-3, prenorm: bool = False
):
    """(model, split): a ReLU MLP trained with Adam (batch 64) on the digits split of `seed`.  Every call
    returns a fresh copy of the cached trained weights, so callers may modify it.

    prenorm=True puts a LayerNorm *before* every Linear but the first (Linear, ReLU, LayerNorm, Linear, …),
    so the inputs of the later Linears are signed and channel-scaled by the LayerNorm gains, as the
    inputs of a transformer's projections are."""
    from ...data import batches, load_digits
    from ...nn import MLP, LayerNorm, Linear, ReLU, Sequential
    from ...nn import functional as F
    from ...optim import Adam

    key = ("mlp", seed, tuple(hidden), epochs, lr, prenorm)
    split = load_digits(seed=seed)
    sizes = [64, *hidden, 10]

    def make():
        if not prenorm:
            return MLP(sizes, activation="relu", rng=np.random.default_rng(seed))
        rng = np.random.default_rng(seed)
        layers = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            if i > 0:
                layers.append(LayerNorm(a))
            layers.append(Linear(a, b, rng=rng))
            if i < len(sizes) - 2:
                layers.append(ReLU())
        return Sequential(*layers)

    if key not in _CACHE:
        model = make()
        opt = Adam(model.parameters(), lr=lr)
        for epoch in range(epochs):
            for xb, yb in batches(split.x_train, split.y_train, batch_size=64, seed=seed, epoch=epoch):
                opt.zero_grad()
                F.cross_entropy(model(Tensor(xb)), yb).backward()
                opt.step()
        _CACHE[key] = model.state_dict()
    model = _fresh_copy(make, _CACHE[key])
    model.eval()
    return model, split


def calibration_split(split, n: int = 128, seed: int = 0) -> np.ndarray:
    """n training inputs drawn without replacement (the calibration set)."""
    rng = np.random.default_rng(seed + 1000)
    idx = rng.choice(len(split.x_train), size=min(n, len(split.x_train)), replace=False)
    return split.x_train[np.sort(idx)]


def linear_layers(model) -> list:
    """[(name, Linear)] for every Linear in the model, in registration (= forward, for our models) order."""
    from ...nn import Linear

    return [(n, m) for n, m in model.named_modules() if isinstance(m, Linear)]


def weight_sites(model) -> list:
    """Names of every quantizable weight: each Linear ("name"), and each MultiHeadAttention's packed
    input projection ("…self_attn.in_proj")."""
    from ...nn import Linear, MultiHeadAttention

    sites = []
    for n, m in model.named_modules():
        if isinstance(m, MultiHeadAttention):
            sites.append(f"{n}.in_proj")
        elif isinstance(m, Linear):
            sites.append(n)
    return sites


def _site(model, name):
    if name.endswith(".in_proj"):
        return model.get_submodule(name[: -len(".in_proj")]), "in_proj_weight"
    return model.get_submodule(name), "weight"


def get_weight(model, name) -> np.ndarray:
    mod, attr = _site(model, name)
    return getattr(mod, attr).data


@contextlib.contextmanager
def substituted(model, weights: dict):
    """Temporarily replace the weights of the named sites (values: arrays of the same shape)."""
    saved = {}
    try:
        for name, w in weights.items():
            mod, attr = _site(model, name)
            p = getattr(mod, attr)
            if np.shape(w) != p.data.shape:
                raise ValueError(
                    f"substituted: weight for {name!r} must have shape {p.data.shape}, got {np.shape(w)}"
                )
            saved[name] = p.data
            p.data = np.asarray(w, dtype=p.data.dtype)
        yield model
    finally:
        for name, old in saved.items():
            mod, attr = _site(model, name)
            getattr(mod, attr).data = old


def capture_inputs(model, run, names) -> dict:
    """Run `run()` once and return {name: (N, d) input of that weight site} (all calls concatenated)."""
    records = {n: [] for n in names}
    patched = []
    for name in names:
        if name.endswith(".in_proj"):
            mha = model.get_submodule(name[: -len(".in_proj")])
            target, which = mha, "query"
        else:
            target, which = model.get_submodule(name), "x"

        def recorder(*args, _orig=target.forward, _name=name, _which=which, **kw):
            x = args[0] if args else kw[_which if _which in kw else "query"]
            records[_name].append(np.asarray(x.data).reshape(-1, x.shape[-1]).copy())
            return _orig(*args, **kw)

        object.__setattr__(target, "forward", recorder)
        patched.append(target)
    try:
        with no_grad():
            run()
    finally:
        for t in patched:
            object.__delattr__(t, "forward")
    return {n: np.concatenate(v, axis=0) for n, v in records.items()}


def reconstruction_error(W, W_hat, X) -> float:
    """Relative layer-output error ‖X Wᵀ − X Ŵᵀ‖²_F / ‖X Wᵀ‖²_F."""
    X = np.asarray(X, dtype=np.float64)
    ref = X @ np.asarray(W, dtype=np.float64).T
    return float(np.sum((ref - X @ np.asarray(W_hat, dtype=np.float64).T) ** 2) / max(np.sum(ref**2), 1e-300))


def accuracy(model, x, y) -> float:
    from ...train import evaluate

    return float(evaluate(model, x, y)["accuracy"])
