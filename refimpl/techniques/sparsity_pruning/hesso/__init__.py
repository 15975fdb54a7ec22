r"""HESSO: Hybrid Efficient Structured Sparse Optimizer (Only-Train-Once family).

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.
Official code: github.com/tianyic/only_train_once (mirrored as microsoft/only_train_once),
`only_train_once/optimizer/hesso.py` (class `HESSO`) and `only_train_once/optimizer/importance_score/`
(`magnitude.py`, `cosine_similarity.py`, `taylor.py`).  Formula lines below cite the official code
(function names in `hesso.py` / `importance_score/`); the paper's text beyond its abstract could not be
read here, so no equation or algorithm number is quoted: every formula line cites the official
function it follows.

The idea
--------
Partition the trainable variables into *zero-invariant groups* (ZIGs): sets of parameters that, when all
zero, make a structure's output zero, so the structure can be removed without changing the network.
For an MLP the ZIG of hidden unit j of layer l is its incoming row $W_l[j,:]$ and bias $b_l[j]$:
when both are zero the unit outputs ReLU(0) = 0 whatever the input, so the unit (and the column
$W_{l+1}[:,j]$ that reads it) can be removed without changing the function.  The groups are disjoint;
the consumer's column is not part of the group, as in OTO (it is erased only when the sub-network is
built; `install_group_masks` does that here).

HESSO trains with an ordinary optimizer (SGD/Adam/AdamW) and, after a warm-up of $T_w$ steps, spends
$K$ steps in $P$ pruning periods of $T = \lfloor K/P \rfloor$ steps.  At the start of period p it

1. scores every group that is not yet pruned by a *saliency* mixing five proxies, each normalised by
   its L2 norm over all groups and weighted 0.2 (`compute_importance_scores`):
   $$s_g = \sum_c w_c\,\frac{\phi_c(x_g, d_g)}{\lVert \phi_c(x, d)\rVert_2},\qquad
   \phi \in \{\lVert x_g\rVert,\ \lVert x_g\rVert/n_g,\ \cos(x_g, d_g) + 1,\ |x_g^\top d_g|,\
   \tfrac12 (x_g^\top d_g)^2\}$$
   with $x_g$ the group's variables and $d_g$ the optimizer's update direction (the raw gradient for
   SGD, $\hat m/(\sqrt{\hat v}+\epsilon)$ for Adam) (`importance_score/*.py`);
2. marks the $k_p$ lowest-scored groups as *redundant* ($k_p = \lfloor G s/P \rfloor$, the last period
   takes the remainder, $G$ groups, $s$ the target group sparsity) (`identify_redundant_groups`);

and at every step t = 0..T−1 of the period it takes the optimizer's step on all variables and then
*projects* the redundant groups towards zero (the hybrid step, `step`):
$$x_g \leftarrow \frac{T - t - 1}{T - t}\, x_g \qquad (g \text{ redundant}),$$
so that without gradients $x_g$ shrinks linearly, $x_g^{(t)} = \frac{T-t-1}{T}\,x_g^{(0)}$, and is
exactly zero at the period's last step, where the redundant groups are committed as pruned and are
held at zero from then on (`commit_redundant_idxes`).  The important groups keep training throughout,
so the network adapts while the redundant structures fade ("knowledge transfer").

What is implemented, and deviations
-----------------------------------
* `saliency_scores` (the five proxies, normalised and weighted), `redundant_counts` (the per-period
  budget), `select_redundant`, `forget_factor` and the `HESSO` driver, a `refimpl.train.fit` callback
  that acts after each optimizer step (the official optimizer takes its own step and then projects;
  acting after our Adam/SGD step is the same order of operations).
* In-period indexing: the official counter starts a period at t = 1 (its first projection factor is
  (T−2)/(T−1)); ours starts at t = 0 so that the period's T steps all shrink the group.  Both reach
  exactly zero at the period's last step.
* The official `identify_redundant_groups` takes the |pruned|+k lowest scores and removes already
  pruned groups with `np.setdiff1d`, which sorts by index; when a pruned group is not among those
  lowest scores it keeps the k *smallest indices*.  We take the k lowest-scored unpruned groups, the
  rule the paper states.  `group_divisible` (rounding kept groups to a multiple) is 1 here, as in the
  official default.
* The official default `target_num_redundant_groups = int(G · min(s, 0.999))` is kept.
* No layer loses its last group.  The official code (with its default `group_divisible = 1`) keeps one
  group in a layer that would be emptied and lowers the total budget by as much; we keep it too but give
  the budget to the next-lowest group elsewhere, so the target is reached exactly.
* Adam direction for the saliency: read from the optimizer's state after its step (it already holds
  the current gradient, as the official `compute_grad_variant` does before its step).
* CRIC (the Corrective Redundant Identification Cycle: re-checking removed groups by a second score and
  restoring those that hurt) is *not* implemented; the official repository has no CRIC optimizer.
* Toy scale: an MLP on the bundled 8×8 digits, neuron groups of its hidden layers.

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/sparsity-pruning/hesso.ipynb
"""

from __future__ import annotations

import numpy as np

from ..masks import apply_masks, prunable_layers

CATALOG_ENTRY = {
    "slug": "hesso",
    "title": "HESSO: Towards Automatic Efficient and User Friendly Any Neural Network Training and Pruning",
    "authors": "Tianyi Chen, Xiaoyi Qu, David Aponte, Colby Banbury, Jongwoo Ko, Tianyu Ding, Yong Ma, "
    "Vladimir Lyapunov, Ilya Zharkov, Luming Liang",
    "year": 2024,
    "arxiv": "2409.09085",
    "family": "sparsity-pruning",
    "notebook": "notebooks/sparsity-pruning/hesso.ipynb",
    "verified": "official-code",
    "verification_note": (
        "Schedule (warm-up, P pruning periods, per-period budget int(G·s)/P with the remainder last), the "
        "five-proxy saliency (magnitude, average magnitude, cosine+1, |first-order Taylor|, second-order "
        "Taylor; each L2-normalised over groups, weight 0.2) and the projection factor (T−t−1)/(T−t) read "
        "in tianyic/only_train_once optimizer/hesso.py and importance_score/*.py; paper equation numbers "
        "not read (abstract only); in-period counter starts at 0 (official: 1); CRIC not implemented."
    ),
    "summary": (
        "Train with a standard optimizer; after a warm-up, in P periods score every zero-invariant group "
        "by a mix of saliency proxies, mark the lowest-scored as redundant and shrink them linearly to "
        "exactly zero over the period while the rest keep training; pruned groups stay zero. Reaches a "
        "target group sparsity in one run with almost no tuning."
    ),
    "equations": [
        "s_g = Σ_c 0.2 · φ_c(x_g, d_g)/‖φ_c‖₂,  φ ∈ {‖x_g‖, ‖x_g‖/n_g, cos(x_g,d_g)+1, |x_gᵀd_g|, "
        "½(x_gᵀd_g)²}   (compute_importance_scores)",
        "period p: redundant = the k_p lowest s_g among unpruned groups, k_p = ⌊G·s⌋/P   (identify_redundant_groups)",
        "step t of T in the period: x ← x − η·d;  x_g ← (T−t−1)/(T−t) · x_g for redundant g  (HESSO.step)",
    ],
}

__all__ = [
    "DEFAULT_CRITERIA",
    "HESSO",
    "forget_factor",
    "group_norms",
    "install_group_masks",
    "redundant_counts",
    "saliency_scores",
    "select_redundant",
    "unit_groups",
    "zero_groups",
]

DEFAULT_CRITERIA = {
    "magnitude": 0.2,
    "avg_magnitude": 0.2,
    "cosine_similarity": 0.2,
    "taylor_first_order": 0.2,
    "taylor_second_order": 0.2,
}
SAFE_GUARD = 1e-8  # the official `safe_guard`


# --- pure functions on arrays ----------------------------------------------------------------------------
def group_norms(X) -> np.ndarray:
    """‖x_g‖₂ for the rows x_g of X (G, n): one group per row."""
    X = np.asarray(X, dtype=np.float64)
    return np.sqrt(np.sum(X * X, axis=1))


def _raw_criteria(X, D) -> dict:
    """The five proxies of one layer's groups (rows of X) with update directions D (importance_score/*.py)."""
    X = np.asarray(X, dtype=np.float64)
    D = np.asarray(D, dtype=np.float64)
    norm_x = group_norms(X)
    norm_d = group_norms(D)
    inner = np.sum(X * D, axis=1)
    return {
        "magnitude": norm_x,  # magnitude.py: ‖x_g‖
        "avg_magnitude": norm_x / (X.shape[1] + 1e-6),  # magnitude.py: ‖x_g‖ / n_g
        "cosine_similarity": inner / (norm_x + 1e-8) / (norm_d + 1e-8) + 1.0,  # cosine_similarity.py
        "taylor_first_order": np.abs(inner),  # taylor.py: |x_gᵀ d_g|
        "taylor_second_order": 0.5 * inner**2,  # taylor.py: ½ (x_gᵀ d_g)²
    }


def saliency_scores(Xs, Ds, criteria=None) -> np.ndarray:
    """Overall saliency of every group, concatenated over layers (`compute_importance_scores`).

    `Xs`, `Ds`: lists with one (G_l, n_l) array per layer (groups as rows; a layer's groups share a size).
    Each proxy c is divided by (sqrt(Σ_g φ_c(g)² + 1e-8) + 1e-8) over *all* groups, then weighted."""
    criteria = DEFAULT_CRITERIA if criteria is None else criteria
    unknown = set(criteria) - set(DEFAULT_CRITERIA)
    if unknown:
        raise ValueError(
            f"saliency_scores: unknown criteria {sorted(unknown)}; known {list(DEFAULT_CRITERIA)}"
        )
    if len(Xs) != len(Ds):
        raise ValueError(f"saliency_scores: {len(Xs)} parameter blocks but {len(Ds)} direction blocks")
    raw = [_raw_criteria(X, D) for X, D in zip(Xs, Ds)]
    total = None
    for name, weight in criteria.items():
        phi = np.concatenate([r[name] for r in raw])
        denom = np.sqrt(np.sum(phi**2) + SAFE_GUARD) + SAFE_GUARD  # L2 normalisation over all groups
        term = weight * phi / denom
        total = term if total is None else total + term
    return total


def redundant_counts(n_groups: int, target: float, periods: int) -> list:
    """Groups to mark redundant in each period: int(G · min(s, 0.999)) split evenly, remainder last."""
    if not 0.0 <= target <= 1.0:
        raise ValueError(f"redundant_counts: `target` must be in [0, 1], got {target}")
    if periods < 1:
        raise ValueError(f"redundant_counts: `periods` must be ≥ 1, got {periods}")
    total = int(n_groups * min(target, 0.999))
    per = [total // periods] * (periods - 1)
    return per + [total - sum(per)]


def select_redundant(scores, pruned, k: int, sizes=None) -> np.ndarray:
    """The k lowest-scored groups not already pruned (ties: lower index first), sorted by index.

    With `sizes` (groups per layer, in the order of `scores`), no layer loses its last group: a group
    whose removal would empty its layer is skipped and the budget goes to the next-lowest elsewhere."""
    scores = np.asarray(scores, dtype=np.float64)
    pruned = np.asarray(list(pruned), dtype=np.int64)
    candidates = np.setdiff1d(np.arange(scores.size), pruned)
    if k > candidates.size:
        raise ValueError(f"select_redundant: asked for {k} groups but only {candidates.size} are unpruned")
    order = candidates[np.argsort(scores[candidates], kind="stable")]
    if sizes is None:
        return np.sort(order[:k])
    layer_of = np.repeat(np.arange(len(sizes)), sizes)
    if layer_of.size != scores.size:
        raise ValueError(
            f"select_redundant: sizes sum to {layer_of.size}, but there are {scores.size} scores"
        )
    alive = np.asarray(sizes) - np.bincount(layer_of[pruned], minlength=len(sizes))
    chosen = []
    for g in order:
        if len(chosen) == k:
            break
        if alive[layer_of[g]] > 1:  # keep at least one group per layer (official: group_divisible ≥ 1)
            alive[layer_of[g]] -= 1
            chosen.append(g)
    if len(chosen) < k:
        raise ValueError(f"select_redundant: only {len(chosen)} of {k} groups can go with one kept per layer")
    return np.sort(np.array(chosen, dtype=np.int64))


def forget_factor(t: int, T: int) -> float:
    """The projection factor (T − t − 1)/(T − t) at in-period step t of T (`step` in hesso.py)."""
    if not 0 <= t < T:
        raise ValueError(f"forget_factor: need 0 ≤ t < T, got t={t}, T={T}")
    return (T - t - 1.0) / (T - t)


# --- groups of an MLP --------------------------------------------------------------------------------------
def unit_groups(model) -> list:
    """[(layer, next_layer)] for every hidden Linear of an MLP: group j of a pair is row j and bias j of
    `layer` (its zero-invariant group); `next_layer` is the consumer whose column j reads the unit."""
    layers = list(prunable_layers(model).values())
    return [(layers[i], layers[i + 1]) for i in range(len(layers) - 1)]


def _param(mod, name):
    from ..masks import latent_weight

    return latent_weight(mod) if name == "weight" else getattr(mod, name)


def _group_matrix(arrays) -> np.ndarray:
    """Rows = groups: [W_l[j, :], b_l[j]] from the arrays (W_l, b_l)."""
    w, b = arrays
    return np.concatenate([w, b[:, None]], axis=1)


class HESSO:
    """The HESSO schedule on the neuron groups of an MLP, as a `refimpl.train.fit` callback.

    After `start_step` optimizer steps (the warm-up), `pruning_steps` steps are split in
    `pruning_periods` periods of T = pruning_steps // pruning_periods steps; call `step(optimizer)` after
    every optimizer step (or pass the object to `fit`/`train` as a callback)."""

    def __init__(
        self,
        model,
        target_group_sparsity: float,
        start_step: int,
        pruning_steps: int,
        pruning_periods: int = 1,
        criteria=None,
    ):
        self.pairs = unit_groups(model)
        if not self.pairs:
            raise ValueError("HESSO: the model has no hidden Linear layer to group")
        if pruning_steps < pruning_periods or pruning_periods < 1:
            raise ValueError(
                f"HESSO: need pruning_steps ≥ pruning_periods ≥ 1, got {pruning_steps}, {pruning_periods}"
            )
        self.sizes = [a.out_features for a, _ in self.pairs]
        self.n_groups = int(sum(self.sizes))
        self.start_step = int(start_step)
        self.periods = int(pruning_periods)
        self.T = int(pruning_steps) // self.periods
        self.counts = redundant_counts(self.n_groups, target_group_sparsity, self.periods)
        self.criteria = criteria
        self.num_steps = 0
        self.pruned = np.zeros(0, dtype=np.int64)  # global group indices
        self.active = np.zeros(0, dtype=np.int64)

    # the two parameter blocks of each layer's groups
    def _blocks(self):
        return [(_param(a, "weight"), a.bias) for a, _ in self.pairs]

    def _local(self, idx):
        """Global group indices → per-layer local index arrays."""
        out, start = [], 0
        for n in self.sizes:
            sel = idx[(idx >= start) & (idx < start + n)] - start
            out.append(sel)
            start += n
        return out

    def _direction(self, optimizer, p):
        """The optimizer's update direction d of parameter p (Adam: m̂/(√v̂+ε); else the gradient)."""
        st = getattr(optimizer, "state", {}).get(p) if optimizer is not None else None
        if st and "exp_avg" in st:
            group = next(g for g in optimizer.param_groups if any(q is p for q in g["params"]))
            b1, b2 = group["betas"]
            t = st["step"]
            m_hat = st["exp_avg"] / (1 - b1**t)
            v_hat = st["exp_avg_sq"] / (1 - b2**t)
            return m_hat / (np.sqrt(v_hat) + group["eps"])
        if p.grad is not None:
            return np.asarray(getattr(p.grad, "data", p.grad))
        return np.zeros_like(p.data)

    def scores(self, optimizer=None) -> np.ndarray:
        """Saliency of every group (global order: layer by layer, unit by unit)."""
        Xs, Ds = [], []
        for blk in self._blocks():
            Xs.append(_group_matrix([p.data for p in blk]))
            Ds.append(_group_matrix([self._direction(optimizer, p) for p in blk]))
        return saliency_scores(Xs, Ds, self.criteria)

    def _scale(self, idx, factor: float) -> None:
        for (w, b), sel in zip(self._blocks(), self._local(idx)):
            if sel.size:
                w.data[sel, :] *= factor
                b.data[sel] *= factor

    def step(self, optimizer=None) -> None:
        """Act after one optimizer step: start a period (score, select), project, commit, zero the pruned."""
        n = self.num_steps - self.start_step
        self.num_steps += 1
        if 0 <= n < self.periods * self.T:
            p, t = divmod(n, self.T)
            if t == 0:  # a new period: identify its redundant groups (`identify_redundant_groups`)
                s = self.scores(optimizer)
                self.active = select_redundant(s, self.pruned, self.counts[p], self.sizes)
            self._scale(self.active, forget_factor(t, self.T))  # x_g ← (T−t−1)/(T−t) x_g   (HESSO.step)
            if t == self.T - 1:  # exactly zero now: commit (`commit_redundant_idxes`)
                self.pruned = np.union1d(self.pruned, self.active)
                self.active = np.zeros(0, dtype=np.int64)
        self._scale(self.pruned, 0.0)  # pruned groups are held at zero

    def on_step_end(self, state) -> None:
        self.step(state.optimizer)

    @property
    def done(self) -> bool:
        return self.num_steps >= self.start_step + self.periods * self.T


def install_group_masks(model, pruned) -> dict:
    """Freeze a set of pruned groups as `Mask`s (rows of layer l, columns of layer l+1) and zero their biases;
    keep them with `masks.enforce_masks_` after each step.  Returns the masks (name → array)."""
    names = list(prunable_layers(model))
    layers = prunable_layers(model)
    masks = {n: np.ones_like(np.asarray(_param(layers[n], "weight").data)) for n in names}
    pruned = np.asarray(pruned, dtype=np.int64)
    start = 0
    for i, n in enumerate(names[:-1]):
        size = layers[n].out_features
        sel = pruned[(pruned >= start) & (pruned < start + size)] - start
        masks[n][sel, :] = 0
        masks[names[i + 1]][:, sel] = 0
        layers[n].bias.data[sel] = 0
        start += size
    apply_masks(model, masks)
    return masks


def zero_groups(model) -> int:
    """Hidden units whose group (incoming row and bias) is exactly zero."""
    from ....autograd.tensor import no_grad

    def _effective_weight(mod):  # the weight the layer uses (a Mask applied)
        with no_grad():
            return np.asarray(mod.weight.data)

    layers = list(prunable_layers(model).values())
    dead = 0
    for a in layers[:-1]:
        w, b = _effective_weight(a), np.asarray(a.bias.data)
        dead += int(np.sum(np.all(w == 0, axis=1) & (b == 0)))
    return dead
