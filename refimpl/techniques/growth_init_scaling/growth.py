r"""Function-preserving growth of an MLP: widen a hidden layer, insert an identity-initialised layer.

Shared by the family's growth techniques (mixturegrowth, self-expanding-cnn, growing-transformers...).

**Widen** hidden layer ℓ from n to n' units (Net2WiderNet, Chen, Goodfellow & Shlens 2016, arXiv 1511.05641,
Sec. 2.2).  With $h = \phi(W_\ell x + b_\ell)$ and the next layer $W_{\ell+1} h$:

* ``mode="split"`` — a map $g:\{1..n'\}\to\{1..n\}$ is the identity on the old units and picks a random old
  unit for each new one; copy incoming rows $W'_\ell[j] = W_\ell[g(j)]$, $b'_\ell[j] = b_\ell[g(j)]$ and
  divide outgoing columns by the number of copies, $W'_{\ell+1}[:, j] = W_{\ell+1}[:, g(j)] / |g^{-1}(g(j))|$
  (Eq. 6 of
  Net2Net).  Each copy computes the same $h_{g(j)}$, and the copies' contributions sum back to the old one,
  for any elementwise $\phi$.
* ``mode="zero"`` — new units get fresh incoming weights (from the layer's init) and zero outgoing columns,
  so they contribute nothing until trained.

**Insert** a layer after hidden layer ℓ with $W = I$, $b = 0$: $\phi(I h + 0) = h$ because $h = \phi(\cdot)$
is already ≥ 0 for ReLU (and for no activation); Net2DeeperNet's condition $\phi(I\phi(v)) = \phi(v)$
(Sec. 2.3).
Other activations (tanh) are refused when the function must be preserved.

`preserve_function=False` grows with fresh random weights instead (split without dividing; new outgoing
columns and inserted layers from the parametrization's init): the plain "grow and re-initialise" baseline.

The array-level functions (`net2wider`, `zero_wider`) work on any (W, b, W_next); `widen` and `insert_layer`
apply them to a `WidthMLP` and keep its parametrization: they operate on the *effective* weights
(multiplier · w), recompute every layer's rule at the new widths and store w = W_eff / multiplier, so the
grown network is again a network of its parametrization at its new width.
"""

from __future__ import annotations

import copy

import numpy as np

from ...nn.layers.container import ModuleList
from ...nn.module import Parameter
from .parametrization import ScaledLinear, WidthMLP

__all__ = ["net2wider", "zero_wider", "widen", "insert_layer"]


def _as2d(name, a):
    a = np.asarray(a, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"`{name}` must be a 2-D (out, in) matrix, got shape {a.shape}")
    return a


def _check_widen(W, b, W_next, new_width):
    W, W_next = _as2d("W", W), _as2d("W_next", W_next)
    n = W.shape[0]
    if W_next.shape[1] != n:
        raise ValueError(f"`W_next` must take {n} inputs (W has {n} units), got shape {W_next.shape}")
    if b is not None and np.shape(b) != (n,):
        raise ValueError(f"`b` must have shape ({n},), got {np.shape(b)}")
    if not isinstance(new_width, (int, np.integer)) or new_width < n:
        raise ValueError(f"`new_width` must be an int ≥ the current width {n}, got {new_width!r}")
    return W, None if b is None else np.asarray(b, np.float64), W_next, n


def net2wider(W, b, W_next, new_width: int, *, rng=None, divide: bool = True):
    """Net2WiderNet (Eq. 6): returns (W', b', W_next', g) with g the unit map (identity on the old units,
    random old units for the new ones).  `divide=False` copies outgoing columns without dividing (the
    function is then *not* preserved)."""
    W, b, W_next, n = _check_widen(W, b, W_next, new_width)
    rng = rng if rng is not None else np.random.default_rng()
    g = np.concatenate([np.arange(n), rng.integers(0, n, size=new_width - n)])
    counts = np.bincount(g, minlength=n)
    W2 = W[g]
    b2 = None if b is None else b[g]
    Wn = W_next[:, g] / (counts[g] if divide else 1.0)
    return W2, b2, Wn, g


def zero_wider(W, b, W_next, new_width: int, new_rows):
    """Append `new_rows` ((new_width − n) × in) as incoming weights of the new units, zero bias and zero
    outgoing columns: returns (W', b', W_next')."""
    W, b, W_next, n = _check_widen(W, b, W_next, new_width)
    new_rows = np.asarray(new_rows, np.float64).reshape(new_width - n, W.shape[1])
    W2 = np.concatenate([W, new_rows])
    b2 = None if b is None else np.concatenate([b, np.zeros(new_width - n)])
    Wn = np.concatenate([W_next, np.zeros((W_next.shape[0], new_width - n))], axis=1)
    return W2, b2, Wn


def _rebuild(model: WidthMLP, eff: list, biases: list, rng) -> WidthMLP:
    """A copy of `model` whose layers apply the effective matrices `eff` (and `biases`), with every rule
    recomputed at the new widths."""
    new = copy.deepcopy(model)
    n_layers = len(eff)
    layers = []
    for i, (W, b) in enumerate(zip(eff, biases)):
        fo, fi = W.shape
        rule = new.rule_for(i, fi, fo)
        layer = ScaledLinear(
            fi, fo, rule, WidthMLP.role_of(i, n_layers), bias=b is not None, dtype=model.dtype, rng=rng
        )
        layer.weight = Parameter((W / rule.multiplier).astype(model.dtype))
        if b is not None:
            layer.bias = Parameter(np.asarray(b).astype(model.dtype))
        layers.append(layer)
    new.layers = ModuleList(layers)
    return new


def _layers(model):
    if not isinstance(model, WidthMLP):
        raise TypeError(f"`model` must be a WidthMLP, got {type(model).__name__}")
    layers = list(model.layers)
    return (
        layers,
        [layer.effective_weight() for layer in layers],
        [None if layer.bias is None else layer.bias.data.astype(np.float64) for layer in layers],
    )


def widen(
    model: WidthMLP,
    layer: int,
    new_width: int,
    *,
    mode: str = "split",
    preserve_function: bool = True,
    rng=None,
) -> WidthMLP:
    """A new WidthMLP with hidden layer `layer` (0-based among hidden layers) widened to `new_width` units;
    `model` is left unchanged.  mode "split" (Net2Net) or "zero" (new units with zero outgoing weights)."""
    layers, eff, biases = _layers(model)
    if not isinstance(layer, (int, np.integer)) or not 0 <= layer < len(layers) - 1:
        raise ValueError(
            f"widen: `layer` must be a hidden layer index in 0..{len(layers) - 2}, got {layer!r}"
        )
    if mode not in ("split", "zero"):
        raise ValueError(f"widen: `mode` must be 'split' or 'zero', got {mode!r}")
    rng = rng if rng is not None else np.random.default_rng()
    n = eff[layer].shape[0]
    if mode == "split":
        W, b, Wn, _ = net2wider(
            eff[layer], biases[layer], eff[layer + 1], new_width, rng=rng, divide=preserve_function
        )
    else:
        # fresh incoming rows from the layer's init at the new width (effective scale = multiplier · std)
        rule = model.rule_for(layer, eff[layer].shape[1], new_width)
        rows = rng.standard_normal((new_width - n, eff[layer].shape[1])) * rule.init_std * rule.multiplier
        W, b, Wn = zero_wider(eff[layer], biases[layer], eff[layer + 1], new_width, rows)
        if not preserve_function:
            nxt = model.rule_for(layer + 1, new_width, eff[layer + 1].shape[0])
            Wn[:, n:] = rng.standard_normal((Wn.shape[0], new_width - n)) * nxt.init_std * nxt.multiplier
    eff[layer], biases[layer], eff[layer + 1] = W, b, Wn
    return _rebuild(model, eff, biases, rng)


def insert_layer(model: WidthMLP, after: int, *, preserve_function: bool = True, rng=None) -> WidthMLP:
    """A new WidthMLP with one more hidden layer after hidden layer `after` (0-based), identity-initialised
    (W = I, b = 0) when `preserve_function`, else from the parametrization's init; the new layer's base width
    is that of the layer it copies."""
    layers, eff, biases = _layers(model)
    if not isinstance(after, (int, np.integer)) or not 0 <= after < len(layers) - 1:
        raise ValueError(
            f"insert_layer: `after` must be a hidden layer index in 0..{len(layers) - 2}, got {after!r}"
        )
    if preserve_function and model.activation not in ("relu", "linear"):
        raise ValueError(
            f"insert_layer: an identity layer preserves the function only for relu or linear activations, "
            f"not {model.activation!r}; pass preserve_function=False"
        )
    rng = rng if rng is not None else np.random.default_rng()
    n = eff[after].shape[0]
    grown = copy.deepcopy(model)
    grown.base_widths = [
        *model.base_widths[: after + 1],
        model.base_widths[after],
        *model.base_widths[after + 1 :],
    ]
    rule = grown.rule_for(after + 1, n, n)
    W = np.eye(n) if preserve_function else rng.standard_normal((n, n)) * rule.init_std * rule.multiplier
    b = None if biases[after] is None else np.zeros(n)
    eff.insert(after + 1, W)
    biases.insert(after + 1, b)
    return _rebuild(grown, eff, biases, rng)
