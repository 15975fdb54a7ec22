r"""Self-expanding networks: grow when the natural expansion score gᵀF⁻¹g of the would-be model rises enough.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.
Basis: Mitchell, Menzenbach, Kersting & Mundt, "Self-Expanding Neural Networks" (SENN, arXiv 2307.04526);
official code github.com/ml-research/self-expanding-neural-networks (read at commit 3480be0).

The idea
--------
Start small; while training, ask whether adding capacity would let a natural-gradient step reduce the loss
markedly faster than the current model can.  The natural-gradient step $\Delta\theta = -F^{-1}g$ decreases
the loss at the rate

$$\eta = g^\top F^{-1} g \qquad (\text{Eq. 1, Sec. 2.1})$$

with $g$ the mean gradient and $F$ the Fisher information, here the *empirical* Fisher over $N$ examples,

$$F = \frac1N \sum_{i=1}^N \nabla_\theta \ell_i\, \nabla_\theta \ell_i^\top \qquad (\text{Eq. 2}).$$

A candidate expansion that preserves the function (new units with zero outgoing weights; an identity
layer) leaves every old gradient unchanged but adds new directions; its score $\eta'$ counts them too.
The network expands when the best candidate's score, optionally damped by the parameter cost
$\eta' e^{-\lambda_n \Delta p^2}$ (Eq. 3), exceeds the current score by the factor $\tau$ (Sec. 3.1: expand
if $\eta_l / \eta_c > \tau$ or $\eta_i / \eta_c > \tau$, $\tau = 2$).  Because growth preserves the
function, training simply continues.

Two facts the implementation relies on (both tested):

* **Empirical Fisher saturates.**  With $F = C + gg^\top$ ($C$ the per-example gradients' covariance),
  Sherman–Morrison gives $\eta = a/(1+a)$, $a = g^\top C^{-1} g$: the full empirical-Fisher score is below 1,
  and equals 1 exactly whenever the parameters outnumber the examples (per-example gradients then span
  every direction the mean lies in).  A whole-network score with the full matrix is therefore uninformative
  for any real network; the SECNN paper "focuses on the diagonal elements of the FIM" (Sec. 2.1), and SENN
  uses layer-local Kronecker factors.  We use the **diagonal** empirical Fisher for networks,
  $\eta_{\rm diag} = \sum_j \bar g_j^2 / \overline{g_j^2}$, a sum of per-parameter signal-to-noise ratios, each
  in $[0, 1]$; the full matrix form (with optional Tikhonov damping) is kept for small parameter blocks.
* **Invariance.**  $\eta$ (full) is invariant to any invertible linear reparametrization and
  $\eta_{\rm diag}$ to a per-coordinate rescaling, so it does not matter whether one differentiates the
  stored weights $w$ or the effective matrices $m\,w$ of a parametrized layer.

What is implemented, and deviations
-----------------------------------
* `empirical_fisher`, `natural_expansion_score` (Eqs. 1–2, full matrix, `damping` λ·I optional, a
  pseudo-inverse when undamped), `diagonal_expansion_score` (the diagonal form), `regularized_score` (Eq. 3),
  `expansion_decision` (Sec. 3.1's rule).
* `mlp_per_example_grads` and `mlp_gradient_moments`: per-example gradients of a ReLU MLP under softmax
  cross-entropy in closed form (∂ℓᵢ/∂W_l = δ_{l,i} a_{l−1,i}ᵀ), and their first and second moments
  without materialising them (the moments are all the diagonal score needs).  Tests check them against
  `refimpl.func.vmap(grad(...))`.
* `candidates` / `senn_expand`: the expansion step on a `WidthMLP`, with the family's function-preserving
  growth operators (`growth.widen(mode="zero")`: new units with fresh incoming weights and zero outgoing
  ones; `growth.insert_layer`: an identity layer).  SECNN initialises new channels with Gaussian noise of
  scale 1e-4 and new layers as identity plus noise (Sec. 2.1.1, 3.2), i.e. almost function-preserving; we
  preserve the function exactly.
* **An MLP, not a CNN.**  The toy is an MLP on the 8×8 digits: a NumPy CNN whose every candidate needs
  per-example gradients did not fit the time budget of this reference.  The score and the decision rule do
  not depend on the layer type (a conv layer's per-example gradient is a sum over positions of the same
  outer products); SECNN's CNN-specific parts (blocks, pooling, skip connection, batch norm) are not
  reproduced.
* SENN's own score is layer-local with Kronecker-factored Fisher blocks and an optimised proposal for the
  new unit's incoming weights, with an extra absolute threshold (official `senn_mlp/experiment1.py:1060`:
  ``best_local_ratio > thresh and best_raw/loss_sqnorm > abs_thresh``; `experiment1/default_config.yaml`:
  thresh 1, abs_thresh 2.5e-3).  We follow the SECNN variant (whole-model diagonal empirical Fisher, ratio
  to the current score, τ = 2, random Gaussian incoming weights); the SENN proposal optimisation is not
  implemented.
* λ_n of Eq. 3 is not reported in the paper; the experiment uses λ_n = 0 (no parameter cost) and caps the
  size instead (a maximum width and depth, as SECNN caps each block's capacity).

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/growth-init-scaling/self-expanding-cnn.ipynb
"""

from __future__ import annotations

import numpy as np

CATALOG_ENTRY = {
    "slug": "self-expanding-cnn",
    "title": "Self Expanding Convolutional Neural Networks",
    "authors": "Blaise Appolinary, Alex Deaconu, Sophia Yang, Qingze (Eric) Li",
    "year": 2024,
    "arxiv": "2401.05686",
    "family": "growth-init-scaling",
    "notebook": "notebooks/growth-init-scaling/self-expanding-cnn.ipynb",
    "verified": "paper",
    "verification_note": (
        "arXiv id and title confirmed (arXiv 2401.05686v2 page). The paper's Sec. 2.1 (η = gᵀF⁻¹g, the "
        "empirical Fisher, its diagonal, the regularised score of Eq. 3), Sec. 2.1.1 (identity layers) and "
        "Sec. 3.1-3.2 (expand when η_l/η_c or η_i/η_c exceeds τ = 2) were read in a text copy of the full "
        "paper; only Eq. 3 is numbered there, Eqs. 1-2 are our numbering of the two displays before it. No "
        "official SECNN code was found. The basis SENN (arXiv 2307.04526) was checked in its official code "
        "(ml-research/self-expanding-neural-networks, senn_mlp/experiment1.py:456-464 layer score, :1060 "
        "expansion test) but its paper body was not read. Toy deviation: an MLP on 8×8 digits, not a CNN "
        "on CIFAR-10; new units preserve the function exactly (zero outgoing weights) instead of 1e-4 noise."
    ),
    "summary": (
        "Start from a small network and, at regular checks during training, score candidate expansions "
        "(wider layers, an inserted identity layer) by the natural expansion score η = gᵀF⁻¹g with an "
        "empirical Fisher; expand the best candidate when its score exceeds the current model's by the "
        "factor τ. New capacity is added without changing the function, so training continues."
    ),
    "equations": [
        "η = gᵀ F⁻¹ g   (natural expansion score: loss decrease rate of a natural-gradient step)   (Eq. 1)",
        "F = (1/N) Σᵢ ∇ℓᵢ ∇ℓᵢᵀ   (empirical Fisher; diagonal: η = Σⱼ ḡⱼ² / mean(gᵢⱼ²))           (Eq. 2)",
        "η_reg = η · exp(−λ_n Δp²)   (Δp: parameters added by the candidate)                       (Eq. 3)",
        "expand the best candidate c when η_c' / η_current > τ, τ = 2                            (Sec. 3.1)",
        "new units: zero outgoing weights; new layer: identity — the function is preserved   (Sec. 2.1.1)",
    ],
}

__all__ = [
    "empirical_fisher",
    "natural_expansion_score",
    "diagonal_expansion_score",
    "regularized_score",
    "expansion_decision",
    "mlp_forward",
    "mlp_per_example_grads",
    "mlp_gradient_moments",
    "mlp_arrays",
    "model_score",
    "param_count",
    "candidates",
    "senn_expand",
]


def _grads2d(G, name="G") -> np.ndarray:
    G = np.asarray(G, dtype=np.float64)
    if G.ndim != 2 or G.shape[0] < 1 or G.shape[1] < 1:
        raise ValueError(
            f"`{name}` must be a 2-D (examples, parameters) array of per-example gradients, got {G.shape}"
        )
    return G


# --- the score ---------------------------------------------------------------------------------------------
def empirical_fisher(G) -> np.ndarray:
    """F = (1/N) Σᵢ gᵢ gᵢᵀ for the per-example gradients `G` (N, P)  (Eq. 2)."""
    G = _grads2d(G)
    return G.T @ G / G.shape[0]  # Eq. 2


def natural_expansion_score(G, damping: float = 0.0) -> float:
    """η = ḡᵀ (F + damping·I)⁻¹ ḡ with ḡ the mean of the per-example gradients `G` (N, P) and F their
    empirical Fisher (Eqs. 1–2).  Undamped, F⁻¹ is the Moore–Penrose pseudo-inverse (ḡ always lies in F's
    range, so this is the minimum-norm natural gradient)."""
    G = _grads2d(G)
    if not np.isfinite(damping) or damping < 0:
        raise ValueError(f"natural_expansion_score: `damping` must be a finite number ≥ 0, got {damping!r}")
    g = G.mean(axis=0)
    F = empirical_fisher(G)  # Eq. 2
    if damping > 0:
        nat = np.linalg.solve(F + damping * np.eye(F.shape[0]), g)
    else:
        nat = np.linalg.pinv(F, rcond=1e-12, hermitian=True) @ g
    return float(g @ nat)  # Eq. 1: η = gᵀ F⁻¹ g


def diagonal_expansion_score(mean_grad, mean_sq_grad, eps: float = 1e-12) -> float:
    """η with the diagonal of the empirical Fisher: Σⱼ ḡⱼ² / F_jj, F_jj = mean over examples of gᵢⱼ²
    (Eqs. 1–2 with F → diag F, Sec. 2.1).  Coordinates with F_jj ≤ eps·max F (no gradient at all, e.g. the
    incoming weights of a unit whose outgoing weights are zero) contribute 0.  Accepts arrays or lists of
    arrays (one per parameter tensor)."""
    if isinstance(mean_grad, (list, tuple)) != isinstance(mean_sq_grad, (list, tuple)):
        raise ValueError(
            "diagonal_expansion_score: `mean_grad` and `mean_sq_grad` must both be arrays or lists"
        )
    if isinstance(mean_grad, (list, tuple)):
        if len(mean_grad) != len(mean_sq_grad):
            raise ValueError("diagonal_expansion_score: `mean_grad` and `mean_sq_grad` differ in length")
        g = np.concatenate([np.ravel(a) for a in mean_grad]).astype(np.float64)
        s = np.concatenate([np.ravel(a) for a in mean_sq_grad]).astype(np.float64)
    else:
        g, s = np.ravel(mean_grad).astype(np.float64), np.ravel(mean_sq_grad).astype(np.float64)
    if g.shape != s.shape:
        raise ValueError(f"diagonal_expansion_score: shapes differ, {g.shape} vs {s.shape}")
    if np.any(s < 0):
        raise ValueError("diagonal_expansion_score: `mean_sq_grad` must be ≥ 0 (a mean of squares)")
    if s.size == 0:
        return 0.0
    keep = s > eps * max(float(s.max()), np.finfo(np.float64).tiny)
    return float(np.sum(g[keep] ** 2 / s[keep]))  # Eq. 1 with diag F (Eq. 2)


def regularized_score(eta: float, delta_p: float, lam: float) -> float:
    """η · exp(−λ_n Δp²), the parameter-cost damped score (Eq. 3)."""
    if lam < 0 or delta_p < 0:
        raise ValueError(f"regularized_score: `lam` and `delta_p` must be ≥ 0, got {lam!r}, {delta_p!r}")
    return float(eta * np.exp(-lam * float(delta_p) ** 2))  # Eq. 3


def expansion_decision(eta_current: float, scores: dict, tau: float = 2.0):
    """Sec. 3.1: the candidate with the highest score expands the network if score / η_current > τ.
    Returns (name or None, best ratio)."""
    if tau <= 0:
        raise ValueError(f"expansion_decision: `tau` must be > 0, got {tau!r}")
    if eta_current < 0:
        raise ValueError(f"expansion_decision: `eta_current` must be ≥ 0, got {eta_current!r}")
    if not scores:
        return None, 0.0
    best = max(scores, key=lambda k: scores[k])
    ratio = float(scores[best]) / eta_current if eta_current > 0 else float("inf")
    return (best if ratio > tau else None), ratio  # Sec. 3.1: η_best / η_c > τ


# --- per-example gradients of a ReLU MLP under softmax cross-entropy, in closed form ----------------------
def _check_mlp(weights, biases, x, y):
    weights = [np.asarray(W, dtype=np.float64) for W in weights]
    biases = [
        np.zeros(W.shape[0]) if b is None else np.asarray(b, dtype=np.float64)
        for W, b in zip(weights, biases)
    ]
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y)
    if len(weights) < 1 or len(weights) != len(biases):
        raise ValueError("mlp: `weights` and `biases` must be non-empty lists of equal length")
    if x.ndim != 2 or x.shape[1] != weights[0].shape[1]:
        raise ValueError(f"mlp: `x` must be (N, {weights[0].shape[1]}), got {x.shape}")
    for i, (W, b) in enumerate(zip(weights, biases)):
        if W.ndim != 2 or b.shape != (W.shape[0],) or (i and W.shape[1] != weights[i - 1].shape[0]):
            raise ValueError(f"mlp: layer {i} has inconsistent shapes W {W.shape}, b {b.shape}")
    k = weights[-1].shape[0]
    if y.shape != (x.shape[0],) or y.dtype.kind not in "iu" or (y.size and (y.min() < 0 or y.max() >= k)):
        raise ValueError(
            f"mlp: `y` must be ({x.shape[0]},) integer labels in [0, {k}), got {y.shape} {y.dtype}"
        )
    return weights, biases, x, y


def mlp_forward(weights, biases, x):
    """Layer inputs a₀ = x, a_l = relu(W_l a_{l−1} + b_l), and the logits; returns (inputs, logits)."""
    a, inputs = np.asarray(x, dtype=np.float64), []
    for i, (W, b) in enumerate(zip(weights, biases)):
        inputs.append(a)
        z = a @ W.T + b
        a = z if i == len(weights) - 1 else np.maximum(z, 0.0)
    return inputs, a


def _deltas(weights, biases, x, y):
    """Per-example ∂ℓᵢ/∂z_l for every layer (ℓᵢ the example's cross-entropy), and the layer inputs."""
    inputs, z = mlp_forward(weights, biases, x)
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    delta = p.copy()
    delta[np.arange(len(y)), y] -= 1.0  # ∂ℓ/∂z = softmax(z) − onehot(y)
    deltas = [delta]
    for l in range(len(weights) - 1, 0, -1):
        delta = (delta @ weights[l]) * (inputs[l] > 0)  # relu'(z) = 1[z > 0], relu'(0) = 0
        deltas.insert(0, delta)
    return inputs, deltas


def mlp_per_example_grads(weights, biases, x, y) -> np.ndarray:
    """G (N, P): row i is ∇θ ℓᵢ, the per-example cross-entropy gradient of a ReLU MLP (logits
    z = W_L relu(… relu(W_1 x + b_1) …) + b_L), parameters ordered W_1, b_1, …, W_L, b_L (row-major)."""
    weights, biases, x, y = _check_mlp(weights, biases, x, y)
    inputs, deltas = _deltas(weights, biases, x, y)
    cols = []
    for a, d in zip(inputs, deltas):
        cols.append(np.einsum("no,ni->noi", d, a).reshape(len(x), -1))  # ∂ℓᵢ/∂W = δᵢ aᵢᵀ
        cols.append(d)  # ∂ℓᵢ/∂b = δᵢ
    return np.concatenate(cols, axis=1)


def mlp_gradient_moments(weights, biases, x, y):
    """(mean gradient, mean squared gradient) over the examples, one array per parameter tensor in the order
    W_1, b_1, …, W_L, b_L, without forming the per-example gradients: ḡ_W = δᵀa/N, mean g_W² = (δ²)ᵀ(a²)/N."""
    weights, biases, x, y = _check_mlp(weights, biases, x, y)
    inputs, deltas = _deltas(weights, biases, x, y)
    n = len(x)
    means, squares = [], []
    for a, d in zip(inputs, deltas):
        means += [d.T @ a / n, d.mean(axis=0)]
        squares += [(d * d).T @ (a * a) / n, (d * d).mean(axis=0)]
    return means, squares


# --- the expansion step on a WidthMLP ----------------------------------------------------------------------
def mlp_arrays(model):
    """(effective weights, biases) of a `WidthMLP` (or any model whose `layers` are ScaledLinear)."""
    layers = list(model.layers)
    return [m.effective_weight() for m in layers], [
        None if m.bias is None else m.bias.data.astype(np.float64) for m in layers
    ]


def model_score(model, x, y, eps: float = 1e-12) -> float:
    """The diagonal natural expansion score of every parameter of `model` on (x, y)."""
    weights, biases = mlp_arrays(model)
    means, squares = mlp_gradient_moments(weights, biases, x, y)
    return diagonal_expansion_score(means, squares, eps)


def param_count(model) -> int:
    return int(sum(p.data.size for p in model.parameters()))


def candidates(model, *, width_step: int, max_width: int, max_depth: int, rng=None) -> dict:
    """Function-preserving expansions of a `WidthMLP`: "widen ℓ" adds `width_step` units to hidden layer ℓ
    (fresh incoming weights, zero outgoing ones; not past `max_width`), "deepen" inserts an identity layer
    after the last hidden layer (while the depth is below `max_depth`)."""
    from ..growth import insert_layer, widen

    for name, v in (("width_step", width_step), ("max_width", max_width), ("max_depth", max_depth)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"candidates: `{name}` must be an integer ≥ 1, got {v!r}")
    rng = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
    widths = [m.out_features for m in list(model.layers)[:-1]]
    out = {}
    for l, w in enumerate(widths):
        if w + width_step <= max_width:
            out[f"widen {l}"] = widen(model, l, w + width_step, mode="zero", rng=rng)
    if len(widths) < max_depth:
        out["deepen"] = insert_layer(model, len(widths) - 1, rng=rng)
    return out


def senn_expand(
    model,
    x,
    y,
    *,
    tau: float = 2.0,
    lam: float = 0.0,
    width_step: int,
    max_width: int,
    max_depth: int,
    rng=None,
):
    """One SECNN decision (Sec. 3.1): score the current model (η_c) and every candidate (η', damped by Eq. 3),
    expand to the best candidate if η'/η_c > τ.  Returns (model, info) with info = {"choice": name or None,
    "ratio", "eta_current", "scores"}; the returned model is the grown one or `model` itself."""
    eta_c = model_score(model, x, y)
    cands = candidates(model, width_step=width_step, max_width=max_width, max_depth=max_depth, rng=rng)
    p0 = param_count(model)
    scores = {k: regularized_score(model_score(m, x, y), param_count(m) - p0, lam) for k, m in cands.items()}
    choice, ratio = expansion_decision(eta_c, scores, tau)
    info = {"choice": choice, "ratio": ratio, "eta_current": eta_c, "scores": scores}
    return (cands[choice] if choice is not None else model), info
