r"""Iterative Feature Merging (IFM): merge functionally equivalent neurons data-free.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.
Official code: none found (searched GitHub by title, method name and authors; Papers with Code lists no
implementation), so the rule below is **reconstructed** from the paper's abstract and its definitions as
summarised in the catalogue; the notebook lists every assumption.

The idea
--------
Two features (neurons) are *functionally equivalent* when one equals the other up to an invertible
transformation that the next layer can absorb.  For a ReLU layer $h = \mathrm{ReLU}(Wx + b)$ the simplest
such transformation is a positive scale: with $v_i = [w_i; b_i]$ the incoming weights and bias of unit i,

$$v_j = c\,v_i,\ c>0 \;\Rightarrow\; h_j = \mathrm{ReLU}(c\,(w_i^\top x + b_i)) = c\,h_i
\quad\text{(functional equivalence, Def. of the paper; ReLU is positively homogeneous)}$$

so unit j can be removed and its outgoing column folded into unit i's without changing the function:

$$W^{(l+1)}_{:,i} \leftarrow W^{(l+1)}_{:,i} + c\,W^{(l+1)}_{:,j},\qquad \text{drop unit } j
\quad\text{(merge step of IFM, Alg. 1)}$$

The *feature complexity* of a layer is the number of features left once every functionally equivalent
group has been merged into one (Sec. 4).  Trained networks are never exactly redundant, so IFM merges
*near*-equivalent units: on the unit-normalised vectors $u_i = v_i/\lVert v_i\rVert$ it repeatedly takes
the closest pair,

$$d_{ij} = \lVert u_i - u_j\rVert_2,\qquad (i^*, j^*) = \arg\min_{i\ne j} d_{ij}
\quad\text{(IFM, Alg. 1)}$$

merges it while $d_{i^*j^*} < \beta$ (the feature complexity at tolerance β), or — as a pruning method —
until a target number of units is left.  Layers are processed from the input to the output, because
merging in layer l changes the incoming weights of layer l+1.  The whole procedure reads only weights: it
needs no data and no fine-tuning.

What is implemented, and deviations (the equation numbers of the paper could not be read; lines cite
the definition / algorithm by name)
-----------------------------------------------------------------------------------------------------
* `merge_layer` / `merge_mlp` on arrays (PyTorch layout, W of shape (out, in)), `merge_units` on a
  refimpl MLP (in place, through the family's `Mask`: a merged unit's outgoing column is masked and its
  bias zeroed, so the network's shape is kept and the contract tests apply), `feature_complexity`.
* Assumed (reconstructed): the distance is Euclidean between unit-normalised [w; b]; the pair's larger-norm
  unit is kept as the representative; the fold coefficient is the norm ratio $c = \lVert v_j\rVert /
  \lVert v_i\rVert$ (`rule="norm"`, exact for $v_j = c v_i$) or the least-squares fit
  $c = \max(0, v_j^\top v_i / \lVert v_i\rVert^2)$ (`rule="proj"`, also exact then).  Greedy
  closest-pair merging, one pair at a time; distances within a layer do not change while it is merged.
* Baselines: `remove` is IFM's own pairing with the fold left out (the ablation); `prune_units_by_magnitude`
  removes the units of smallest ‖v_i‖ (or ‖v_i‖·‖W^{(l+1)}_{:,i}‖) — magnitude neuron pruning.
* Toy scale: an MLP on the 8×8 digits instead of VGG/ResNet on CIFAR; BatchNorm folding is not needed.

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/sparsity-pruning/iterative-feature-merging.ipynb
"""

from __future__ import annotations

import numpy as np

from ..masks import apply_masks, get_mask, latent_weight, prunable_layers

CATALOG_ENTRY = {
    "slug": "iterative-feature-merging",
    "title": "Going Beyond Neural Network Feature Similarity: The Network Feature Complexity and Its "
    "Interpretation Using Category Theory",
    "authors": "Yiting Chen, Zhanpeng Zhou, Junchi Yan",
    "year": 2023,
    "arxiv": "2310.06756",
    "family": "sparsity-pruning",
    "notebook": "notebooks/sparsity-pruning/iterative-feature-merging.ipynb",
    "verified": "reconstructed",
    "verification_note": (
        "No official code found; the paper's full text could not be read here (abstract and summaries "
        "only). The merge rule — ReLU units whose incoming [w; b] are positively proportional are merged "
        "by folding the outgoing column with the scale — follows from the paper's definition of "
        "functionally equivalent features; greedy closest-pair order on unit-normalised weights, the "
        "representative and the fold coefficient are assumptions (listed in the notebook). The exact-merge "
        "case is checked by hand and against a forward pass."
    ),
    "summary": (
        "Features equal up to a transformation the next layer can absorb (for ReLU: a positive scale) are "
        "functionally equivalent. Iterative Feature Merging repeatedly merges the closest pair of "
        "unit-normalised neurons, folding the removed neuron's outgoing weights into the kept one; the "
        "number left at tolerance β is the layer's feature complexity, and merging to a target width "
        "prunes a network without data or fine-tuning."
    ),
    "equations": [
        "v_i = [w_i; b_i], u_i = v_i/‖v_i‖; v_j = c v_i, c>0 ⇒ ReLU(v_j·[x;1]) = c ReLU(v_i·[x;1])   (Def.)",
        "(i*, j*) = argmin_{i≠j} ‖u_i − u_j‖;  merge while the distance < β (or to a target width)  (Alg. 1)",
        "W⁽ˡ⁺¹⁾[:, i*] += c · W⁽ˡ⁺¹⁾[:, j*],  c = ‖v_j*‖/‖v_i*‖;  drop unit j*                    (Alg. 1)",
        "feature complexity of layer l = number of units left after merging at tolerance β      (Sec. 4)",
    ],
}

__all__ = [
    "unit_vectors",
    "equivalence_distances",
    "fold_coefficient",
    "merge_layer",
    "merge_mlp",
    "feature_complexity",
    "merge_units",
    "magnitude_unit_scores",
    "prune_units_by_magnitude",
    "alive_units",
    "compact_param_count",
]

RULES = ("norm", "proj")


def _incoming(W, b):
    W = np.asarray(W, dtype=np.float64)
    if W.ndim != 2:
        raise ValueError(f"expected a 2-D weight (out, in), got shape {W.shape}")
    if b is None:
        return W.copy()
    b = np.asarray(b, dtype=np.float64)
    if b.shape != (W.shape[0],):
        raise ValueError(f"bias must have shape ({W.shape[0]},), got {b.shape}")
    return np.concatenate([W, b[:, None]], axis=1)


def unit_vectors(W, b=None):
    """(V, norms, U): V[i] = [w_i; b_i] (Def.), their norms, and u_i = v_i/‖v_i‖ (a zero row stays 0)."""
    V = _incoming(W, b)
    norms = np.linalg.norm(V, axis=1)
    U = np.divide(V, norms[:, None], out=np.zeros_like(V), where=norms[:, None] > 0)
    return V, norms, U


def equivalence_distances(W, b=None) -> np.ndarray:
    """d_ij = ‖u_i − u_j‖ (Alg. 1): 0 for positively proportional units, 2 for opposite ones; ∞ on the
    diagonal.  (‖u_i − u_j‖² = 2 − 2 cos θ_ij.)"""
    _, _, U = unit_vectors(W, b)
    G = U @ U.T
    sq = np.sum(U * U, axis=1)
    D = np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2.0 * G, 0.0))
    np.fill_diagonal(D, np.inf)
    return D


def fold_coefficient(v_keep, v_drop, rule: str = "norm") -> float:
    """c with v_drop ≈ c·v_keep: the norm ratio (`"norm"`) or the least-squares fit clipped at 0
    (`"proj"`); both equal the true c when v_drop = c·v_keep, c > 0 (Alg. 1)."""
    v_keep, v_drop = np.asarray(v_keep, dtype=np.float64), np.asarray(v_drop, dtype=np.float64)
    nk = float(np.dot(v_keep, v_keep))
    if nk == 0.0:
        return 0.0
    if rule == "norm":
        return float(np.sqrt(np.dot(v_drop, v_drop) / nk))
    if rule == "proj":
        return max(0.0, float(np.dot(v_drop, v_keep)) / nk)
    raise ValueError(f"fold_coefficient: `rule` must be one of {RULES}, got {rule!r}")


def merge_layer(W, b, W_next, *, n_remove=None, beta=None, rule="norm", fold=True, alive=None):
    """Iterative Feature Merging in one hidden layer (Alg. 1).

    W (n, d), b (n,) are the layer's incoming weights and bias, W_next (m, n) the next layer's weights.
    Repeatedly merges the closest pair of alive units (distance on unit-normalised [w; b]) — until
    `n_remove` units are gone, or while the closest distance is < `beta` (give one of them).  The pair's
    larger-norm unit is kept and the other's outgoing column is folded into it with `fold_coefficient`
    (`fold=False`: the column is simply dropped — the remove-instead-of-merge ablation).

    Returns (W_next_new, alive, merges): the next layer's weights (dropped columns zeroed), the boolean
    mask of units left, and the list of (kept, dropped, c, distance)."""
    if (n_remove is None) == (beta is None):
        raise ValueError("merge_layer: give exactly one of `n_remove` and `beta`")
    V, norms, _ = unit_vectors(W, b)
    Wn = np.array(W_next, dtype=np.float64)
    if Wn.ndim != 2 or Wn.shape[1] != V.shape[0]:
        raise ValueError(f"merge_layer: W_next must be (m, {V.shape[0]}), got {Wn.shape}")
    alive = np.ones(V.shape[0], dtype=bool) if alive is None else np.array(alive, dtype=bool)
    if n_remove is not None and not 0 <= n_remove <= max(int(alive.sum()) - 1, 0):
        raise ValueError(f"merge_layer: `n_remove` must be in [0, alive − 1], got {n_remove}")
    D = equivalence_distances(W, b)  # fixed while this layer is merged: its incoming weights do not change
    D[~alive, :] = np.inf
    D[:, ~alive] = np.inf
    merges = []
    while (n_remove is not None and len(merges) < n_remove) or n_remove is None:
        flat = int(np.argmin(D))
        i, j = divmod(flat, D.shape[1])
        d = float(D[i, j])
        if not np.isfinite(d) or (beta is not None and d >= beta):
            break
        keep, drop = (i, j) if norms[i] >= norms[j] else (j, i)  # the larger-norm unit represents the pair
        c = fold_coefficient(V[keep], V[drop], rule)
        if fold:
            Wn[:, keep] += c * Wn[:, drop]  # W^{l+1}[:, i*] += c W^{l+1}[:, j*]   (Alg. 1)
        Wn[:, drop] = 0.0
        alive[drop] = False
        D[drop, :] = np.inf
        D[:, drop] = np.inf
        merges.append((int(keep), int(drop), c, d))
    return Wn, alive, merges


def merge_mlp(weights, biases, *, fraction=None, beta=None, rule="norm", fold=True):
    """IFM over every hidden layer of an MLP, input to output (Alg. 1).  `weights[l]` is (out, in) and
    `biases[l]` (out,) or None; hidden layers are all but the last.  `fraction`: remove round(f·n_l)
    units of each hidden layer; `beta`: merge every pair closer than β.  Returns (weights, biases,
    alive, merges) — new arrays (dropped units: bias 0, outgoing column 0), alive masks per hidden layer."""
    if (fraction is None) == (beta is None):
        raise ValueError("merge_mlp: give exactly one of `fraction` and `beta`")
    if fraction is not None and not 0.0 <= fraction < 1.0:
        raise ValueError(f"merge_mlp: `fraction` must be in [0, 1), got {fraction}")
    Ws = [np.array(w, dtype=np.float64) for w in weights]
    bs = [None if b is None else np.array(b, dtype=np.float64) for b in biases]
    alive_all, merges_all = [], []
    for li in range(len(Ws) - 1):
        n = Ws[li].shape[0]
        kw = {"n_remove": int(round(fraction * n))} if fraction is not None else {"beta": beta}
        Ws[li + 1], alive, merges = merge_layer(Ws[li], bs[li], Ws[li + 1], rule=rule, fold=fold, **kw)
        if bs[li] is not None:
            bs[li][~alive] = 0.0
        alive_all.append(alive)
        merges_all.append(merges)
    return Ws, bs, alive_all, merges_all


def feature_complexity(W, b=None, beta: float = 0.1) -> int:
    """The number of units of a layer left after merging every pair closer than β (Sec. 4)."""
    n = np.asarray(W).shape[0]
    _, alive, _ = merge_layer(W, b, np.zeros((1, n)), beta=beta)
    return int(alive.sum())


# --- on a refimpl MLP (in place) ------------------------------------------------------------------------
def _arrays(model):
    layers = list(prunable_layers(model).items())
    Ws, bs = [], []
    for _, mod in layers:
        w = latent_weight(mod).data
        mk = get_mask(mod)
        Ws.append(w * mk.mask if mk is not None else w)
        bs.append(None if mod.bias is None else mod.bias.data)
    return layers, Ws, bs


def _install(layers, Ws, bs, alive):
    """Write the new weights back and mask the outgoing columns (zero the bias) of removed units."""
    masks = {}
    for li, keep in enumerate(alive):
        name_next, mod_next = layers[li + 1]
        theta = latent_weight(mod_next)
        theta.data[...] = Ws[li + 1].astype(theta.data.dtype)
        mk = get_mask(mod_next)
        m = np.ones_like(theta.data) if mk is None else mk.mask.copy()
        m[:, ~keep] = 0.0
        masks[name_next] = m
        bias = layers[li][1].bias
        if bias is not None:
            bias.data[...] = bs[li].astype(bias.data.dtype)
    return masks


def alive_units(model) -> list:
    """Per hidden layer: the units that still have an outgoing weight (the effective width)."""
    layers, Ws, _ = _arrays(model)
    return [np.any(Ws[li + 1] != 0, axis=0) for li in range(len(layers) - 1)]


def merge_units(model, fraction: float, rule: str = "norm", fold: bool = True) -> int:
    """IFM in place on an MLP: remove round(fraction·n_l) units of every hidden layer by merging (Alg. 1),
    as masks on the outgoing columns (family `Mask`).  Returns the number of units removed."""
    layers, Ws, bs = _arrays(model)
    Ws, bs, alive, _ = merge_mlp(Ws, bs, fraction=fraction, rule=rule, fold=fold)
    apply_masks(model, _install(layers, Ws, bs, alive))
    return int(sum(int((~a).sum()) for a in alive))


# --- the baseline: magnitude neuron pruning -------------------------------------------------------------
def magnitude_unit_scores(W, b, W_next, score: str = "in") -> np.ndarray:
    """‖v_i‖ (`"in"`) or ‖v_i‖·‖W^{(l+1)}_{:,i}‖ (`"in_out"`) for every unit of a hidden layer."""
    _, norms, _ = unit_vectors(W, b)
    if score == "in":
        return norms
    if score == "in_out":
        return norms * np.linalg.norm(np.asarray(W_next, dtype=np.float64), axis=0)
    raise ValueError(f"magnitude_unit_scores: `score` must be 'in' or 'in_out', got {score!r}")


def prune_units_by_magnitude(model, fraction: float, score: str = "in") -> int:
    """Magnitude neuron pruning in place: remove the round(fraction·n_l) lowest-scoring units of every
    hidden layer (input to output; outgoing columns masked, bias zeroed).  Returns the count."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"prune_units_by_magnitude: `fraction` must be in [0, 1), got {fraction}")
    layers, Ws, bs = _arrays(model)
    Ws = [np.array(w, dtype=np.float64) for w in Ws]
    bs = [None if b is None else np.array(b, dtype=np.float64) for b in bs]
    alive = []
    for li in range(len(layers) - 1):
        s = magnitude_unit_scores(Ws[li], bs[li], Ws[li + 1], score)
        k = int(round(fraction * s.size))
        keep = np.ones(s.size, dtype=bool)
        keep[np.argsort(s, kind="stable")[:k]] = False
        Ws[li + 1][:, ~keep] = 0.0
        if bs[li] is not None:
            bs[li][~keep] = 0.0
        alive.append(keep)
    apply_masks(model, _install(layers, Ws, bs, alive))
    return int(sum(int((~a).sum()) for a in alive))


def compact_param_count(model) -> int:
    """Parameters of the network with removed units cut out (weights and biases of the units left)."""
    layers, _, _ = _arrays(model)
    widths = [layers[0][1].weight.shape[1]] + [int(a.sum()) for a in alive_units(model)]
    widths.append(layers[-1][1].weight.shape[0])
    total = 0
    for li, (_, mod) in enumerate(layers):
        total += widths[li] * widths[li + 1] + (widths[li + 1] if mod.bias is not None else 0)
    return int(total)
